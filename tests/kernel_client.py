"""Driving real kernels in tests the way JupyterLab does, and waiting for their records."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import nbformat

from jupyter_qsecure.provenance import ProvenanceStore

TIMEOUT = 60


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
