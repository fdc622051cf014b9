"""Driving a real server's sessions and kernels in tests the way JupyterLab does, and
waiting for their provenance records."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import nbformat

from jupyter_qsecure.provenance import ProvenanceStore

TIMEOUT = 60


class KernelSession(NamedTuple):
    """A session the server started for a notebook, and a client on its kernel."""

    session_id: str
    kernel_id: str
    client: Any


async def open_session(jp_fetch: Any, path: str, name: str | None = None) -> dict[str, Any]:
    """``POST /api/sessions`` for the notebook ``path``; the session's model. Its name is
    ``name``, by default the file's name, as JupyterLab names it."""
    body = {
        "path": path,
        "type": "notebook",
        "name": path.rsplit("/", 1)[-1] if name is None else name,
        "kernel": {"name": "python3"},
    }
    response = await jp_fetch("api", "sessions", method="POST", body=json.dumps(body))
    return dict(json.loads(response.body))


async def connect(jp_serverapp: Any, kernel_id: str) -> Any:
    """A client on a kernel the server runs, its channels started and the kernel ready."""
    client = jp_serverapp.kernel_manager.get_kernel(kernel_id).client()
    client.start_channels()
    await client.wait_for_ready(timeout=TIMEOUT)
    return client


async def start_session(jp_fetch: Any, jp_serverapp: Any, path: str) -> KernelSession:
    """A session as JupyterLab opens the notebook ``path``, and a ready client on its kernel
    (the caller stops its channels)."""
    session = await open_session(jp_fetch, path)
    kernel_id = str(session["kernel"]["id"])
    return KernelSession(str(session["id"]), kernel_id, await connect(jp_serverapp, kernel_id))


async def save_notebook(jp_fetch: Any, path: str, content: dict[str, Any]) -> None:
    """Save notebook ``content`` at ``path`` through the contents API (the save hook runs)."""
    await jp_fetch(
        "api",
        "contents",
        path,
        method="PUT",
        body=json.dumps({"type": "notebook", "content": content}),
    )


async def saved_content(jp_fetch: Any, path: str) -> dict[str, Any]:
    """The notebook at ``path`` as the contents API answers it."""
    response = await jp_fetch("api", "contents", path)
    return dict(json.loads(response.body)["content"])


async def unsaved_provenance(jp_fetch: Any, path: str, notebook: dict[str, Any]) -> dict[str, Any]:
    """``POST /qsecure/provenance``: the report on the editor's unsaved ``notebook``."""
    response = await jp_fetch(
        "qsecure",
        "provenance",
        method="POST",
        body=json.dumps({"path": path, "notebook": notebook}),
    )
    return dict(json.loads(response.body))


async def execute(client: Any, source: str, cell_id: str) -> list[dict[str, Any]]:
    """Run a cell as JupyterLab does (cell id in the request's metadata); return its
    outputs as JupyterLab would save them (consecutive streams merged)."""
    content = {
        "code": source,
        "silent": False,
        "store_history": True,
        "user_expressions": {},
        "allow_stdin": False,
    }
    message = client.session.msg("execute_request", content, metadata={"cellId": cell_id})
    client.shell_channel.send(message)
    outputs: list[dict[str, Any]] = []
    while True:
        reply = await client.get_iopub_msg(timeout=TIMEOUT)
        if reply["parent_header"].get("msg_id") != message["header"]["msg_id"]:
            continue
        kind = reply["msg_type"]
        if kind == "status" and reply["content"]["execution_state"] == "idle":
            break
        if kind in ("stream", "display_data", "execute_result", "error"):
            output = nbformat.v4.output_from_msg(reply)
            previous = outputs[-1] if outputs else None
            if (
                kind == "stream"
                and previous
                and previous.get("output_type") == "stream"
                and previous["name"] == output["name"]
            ):
                previous["text"] += output["text"]
            else:
                outputs.append(output)
    while True:
        reply = await client.get_shell_msg(timeout=TIMEOUT)
        if reply["parent_header"].get("msg_id") == message["header"]["msg_id"]:
            return outputs


async def wait_until(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    """Return as soon as ``condition()`` holds (checked every 20 ms, the event loop running
    meanwhile); fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


def wait_for_records(store: Path, count: int, kind: str = "execution") -> list[dict[str, Any]]:
    """The records of ``kind`` once there are ``count`` (kernels store them from a
    background thread, which may still be at work when a run ends)."""
    deadline = time.monotonic() + 30
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        if store.exists():
            found = [
                row.record for row in ProvenanceStore(store).records() if row.record["kind"] == kind
            ]
            if len(found) >= count:
                return found
        time.sleep(0.1)
    raise AssertionError(f"{len(found)} {kind} records after 30 s, expected {count}")


def _websocket_request(session: str, msg_type: str, content: dict[str, Any]) -> dict[str, Any]:
    return {
        "header": {
            "msg_id": uuid.uuid4().hex,
            "msg_type": msg_type,
            "session": session,
            "username": "test",
            "version": "5.3",
            "date": "",
        },
        "parent_header": {},
        "metadata": {},
        "content": content,
        "channel": "shell",
        "buffers": [],
    }


async def _frames_until_idle(ws: Any, msg_id: str, frames: list[Any]) -> None:
    """Read frames into ``frames`` until the kernel's idle status for ``msg_id``."""
    while True:
        frame = await ws.read_message()
        assert frame is not None, "the websocket closed"
        frames.append(frame)
        if isinstance(frame, str):
            msg = json.loads(frame)
            if (
                msg.get("parent_header", {}).get("msg_id") == msg_id
                and msg["msg_type"] == "status"
                and msg["content"]["execution_state"] == "idle"
            ):
                return


async def wait_for_iopub(ws: Any, session: str, timeout: float = TIMEOUT) -> None:
    """Return once the kernel's output channel reaches this websocket: after a restart the
    server's subscription to the new kernel takes a moment to connect, and what the kernel
    publishes meanwhile is lost (ZeroMQ's slow joiner). Like the server's own nudge at
    connect time, ask for kernel info until its status messages arrive."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        request = _websocket_request(session, "kernel_info_request", {})
        await ws.write_message(json.dumps(request))
        try:
            await asyncio.wait_for(_frames_until_idle(ws, request["header"]["msg_id"], []), 1)
            return
        except asyncio.TimeoutError:
            continue
    raise AssertionError(f"the kernel's output did not reach the websocket in {timeout:g} s")


async def execute_over_websocket(
    ws: Any, session: str, code: str, timeout: float = TIMEOUT
) -> list[Any]:
    """Run ``code`` over a kernel's websocket as a browser does (JSON frames); every frame
    received until the kernel is idle after it."""
    content = {"code": code, "silent": False, "store_history": True, "allow_stdin": False}
    request = _websocket_request(session, "execute_request", content)
    await ws.write_message(json.dumps(request))
    frames: list[Any] = []
    try:
        await asyncio.wait_for(_frames_until_idle(ws, request["header"]["msg_id"], frames), timeout)
    except asyncio.TimeoutError:
        raise AssertionError(f"no answer to {code!r} within {timeout:g} s") from None
    return frames


def policy_granting(values: dict[str, str], monkeypatch: Any) -> str:
    """Policy tables granting each of ``values`` to every notebook, each read from the
    server's environment (``SRC_NAME``, set here), ``allow_short`` for a short one."""
    from jupyter_qsecure.secrets.forms import MIN_SECRET_LENGTH

    tables = []
    for name, value in values.items():
        monkeypatch.setenv(f"SRC_{name}", value)
        tables.append(
            f'[secrets.{name}]\nsource = "env://SRC_{name}"\nnotebooks = ["**/*.ipynb"]\n'
            + ("allow_short = true\n" if len(value) < MIN_SECRET_LENGTH else "")
        )
    return "\n".join(tables)


async def call(
    jp_fetch: Any, *parts: str, method: str = "GET", body: Any = None, **params: str
) -> Any:
    """A request to the server as JupyterLab makes it (a JSON body, query parameters);
    the answer's JSON, or None for an empty one."""
    response = await jp_fetch(
        *parts,
        method=method,
        body=None if body is None else json.dumps(body),
        params=params or None,
    )
    return json.loads(response.body) if response.body else None
