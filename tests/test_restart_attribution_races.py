"""Two users restart the same kernel at once: the restarts take turns, each is recorded as
asked for by its user, no kernel process is left behind, and no later restart the server
makes by itself is put on either of them."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
from typing import Any

import pytest
from header_identity import USER_HEADER, header_identity
from traitlets.config import Config

pytestmark = [
    pytest.mark.slow,  # real kernels
    # Were the restarts to run at once again, the process jupyter_client loses track of
    # (stopped at the end) is reported by the assertion, not as a warning at collection.
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture
def jp_server_config(jp_server_config: Config) -> Config:
    jp_server_config.ServerApp.identity_provider_class = header_identity("carol")
    return jp_server_config


@pytest.fixture
def lab_grant(policy: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import LAB_TOKEN_GRANT

    monkeypatch.setenv("LAB_TOKEN_SOURCE", f"lab-{secrets.token_hex(16)}")
    policy(LAB_TOKEN_GRANT)


def _injections(audit_events: Any) -> list[tuple[str, str | None]]:
    return [
        (e["user"], e.get("restart"))
        for e in audit_events()
        if e["__schema__"].endswith("secret-injected/v1")
    ]


async def test_two_users_restarting_at_once_are_each_named_once(
    lab_grant: None, jp_fetch: Any, jp_serverapp: Any, audit_events: Any
) -> None:
    from kernel_client import open_session

    from jupyter_qsecure.events import SECRET_INJECTED

    session = await open_session(jp_fetch, "a.ipynb")
    kernel_id = session["kernel"]["id"]
    km = jp_serverapp.kernel_manager
    try:

        async def restart(user: str) -> int:
            response = await jp_fetch(
                "api",
                "kernels",
                kernel_id,
                "restart",
                method="POST",
                body="{}",
                headers={USER_HEADER: user},
                raise_error=False,
            )
            return int(response.code)

        codes = await asyncio.gather(restart("alice"), restart("bob"))
        # The restarts take turns: both answer 200, each start names who asked for it,
        # and no kernel process is left running beside the kernel's own.
        assert codes == [200, 200]
        injected = _injections(audit_events)
        assert injected[0] == ("carol", None)
        assert sorted(injected[1:]) == [("alice", "requested"), ("bob", "requested")]
        assert _kernel_processes(kernel_id) == [km.get_kernel(kernel_id).provisioner.process.pid]

        # The kernel then dies: the server's own restart names no one.
        injected_now: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        async def listener(logger: Any, schema_id: str, data: dict[str, Any]) -> None:
            injected_now.put_nowait(data)

        events = jp_serverapp.event_logger
        events.add_listener(schema_id=SECRET_INJECTED, listener=listener)
        try:
            os.kill(km.get_kernel(kernel_id).provisioner.process.pid, signal.SIGKILL)
            automatic = await asyncio.wait_for(injected_now.get(), 60)  # polled every 3 s
        finally:
            events.remove_listener(listener=listener)
        assert (automatic["user"], automatic.get("restart")) == ("", "automatic")
        assert _injections(audit_events)[len(injected) :] == [("", "automatic")]
        assert json.loads((await jp_fetch("api", "kernels", kernel_id)).body)["id"] == kernel_id
    finally:
        await jp_fetch("api", "sessions", session["id"], method="DELETE", raise_error=False)
        _stop_orphans(kernel_id)


def _kernel_processes(kernel_id: str) -> list[int]:
    """The running processes of kernel ``kernel_id`` (its connection file in their command)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                if f"kernel-{kernel_id}.json".encode() in cmdline.read():
                    found.append(int(entry))
        except OSError:
            continue
    return found


def _stop_orphans(kernel_id: str) -> None:
    """Stop what a failed test left of kernel ``kernel_id``'s processes."""
    for pid in _kernel_processes(kernel_id):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            continue
