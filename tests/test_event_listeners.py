"""Audit events reach jupyter_events listeners (what JupyterLab's event websocket
registers) from every path, including work done in worker threads: a blocked save, a
secret write, a bypass. Without a listener the emit is synchronous; with one, jupyter_events
schedules it on the running loop, which a worker thread does not have."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from conftest import code, notebook
from tornado.httpclient import HTTPClientError

from jupyter_qsecure import events


@pytest.fixture
def listened(jp_serverapp: Any) -> Any:
    """Every qsecure event a listener of the server's event logger received."""
    received: list[tuple[str, dict[str, Any]]] = []

    async def listener(logger: Any, schema_id: str, data: dict[str, Any]) -> None:
        received.append((schema_id, data))

    jp_serverapp.event_logger.add_listener(listener=listener)
    yield received
    jp_serverapp.event_logger.remove_listener(listener=listener)


async def test_a_blocked_save_reaches_listeners(
    jp_fetch: Any, listened: list[tuple[str, dict[str, Any]]], github_token: str
) -> None:
    model = {
        "type": "notebook",
        "format": "json",
        "content": notebook(code(f"t = '{github_token}'")),
    }
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("api", "contents", "leak.ipynb", method="PUT", body=json.dumps(model))
    assert caught.value.code == 422  # not 500: the event was emitted from a worker thread
    for _ in range(50):  # listeners run as tasks of the loop
        if listened:
            break
        await asyncio.sleep(0.01)
    [data] = [d for s, d in listened if s == events.SAVE_BLOCKED]
    assert data["path"] == "leak.ipynb"
    assert github_token not in json.dumps(listened)


async def test_a_secret_write_reaches_listeners(
    jp_fetch: Any, listened: list[tuple[str, dict[str, Any]]], keyring_env: dict[str, str]
) -> None:
    value = "calibration-" + "k" * 24
    response = await jp_fetch(
        "qsecure", "secrets", "LAB_TOKEN", method="PUT", body=json.dumps({"value": value})
    )
    assert response.code == 200
    for _ in range(50):
        if any(schema_id == events.SECRET_CHANGED for schema_id, _ in listened):
            break
        await asyncio.sleep(0.01)
    assert [d["name"] for s, d in listened if s == events.SECRET_CHANGED] == ["LAB_TOKEN"]
    assert value not in json.dumps(listened)
