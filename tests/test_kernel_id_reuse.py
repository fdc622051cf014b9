"""A kernel id the server no longer runs grants nothing to whoever reuses it.

``POST /api/kernels`` takes a ``kernel_id`` from its body. When a kernel dies and the
server gives up restarting it, jupyter_server drops it from its map without shutting it
down, so no provisioner cleans up after it. A new kernel started under that id has no
notebook: it must get no secret, and its start is no restart (the audit trail must not
record it as an automatic restart that names no one).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
from typing import Any

import pytest
from traitlets.config import Config

pytestmark = pytest.mark.slow  # real kernels


@pytest.fixture
def jp_server_config(jp_server_config: Config) -> Config:
    # The server gives up on a kernel that dies at once (as after its restarts failed).
    jp_server_config.KernelRestarter.restart_limit = 0
    return jp_server_config


@pytest.fixture
def lab_grant(policy: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """LAB_TOKEN granted to every notebook (before the server starts)."""
    from conftest import LAB_TOKEN_GRANT

    monkeypatch.setenv("LAB_TOKEN_SOURCE", f"lab-{secrets.token_hex(16)}")
    policy(LAB_TOKEN_GRANT)


def _injected(audit_events: Any) -> list[dict[str, Any]]:
    return [e for e in audit_events() if e["__schema__"].endswith("secret-injected/v1")]


async def test_a_dead_kernels_id_started_again_through_api_kernels_gets_no_secret(
    lab_grant: None, jp_fetch: Any, jp_serverapp: Any, qsecure_app: Any, audit_events: Any
) -> None:
    from kernel_client import open_session

    session = await open_session(jp_fetch, "a.ipynb")
    kernel_id = session["kernel"]["id"]
    km = jp_serverapp.kernel_manager
    dead = asyncio.Event()
    km.get_kernel(kernel_id).add_restart_callback(dead.set, "dead")
    os.kill(km.get_kernel(kernel_id).provisioner.process.pid, signal.SIGKILL)
    await asyncio.wait_for(dead.wait(), 60)  # the restarter polls every 3 s
    assert kernel_id not in km
    assert [e["names"] for e in _injected(audit_events)] == [["LAB_TOKEN"]]

    started = await jp_fetch(
        "api",
        "kernels",
        method="POST",
        body=json.dumps({"name": "python3", "kernel_id": kernel_id}),
    )
    try:
        assert json.loads(started.body)["id"] == kernel_id
        record = qsecure_app.registry.get(kernel_id)
        assert record is not None and record.notebook is None
        assert record.values == {}
        assert [e["names"] for e in _injected(audit_events)] == [["LAB_TOKEN"]]
    finally:
        await jp_fetch("api", "kernels", kernel_id, method="DELETE")
        await jp_fetch("api", "sessions", session["id"], method="DELETE", raise_error=False)
