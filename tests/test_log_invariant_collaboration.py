"""The log sweep (see test_log_invariant) with jupyter-collaboration and file ids on: their
routes with a granted secret or a credential-shaped token in each field, and a shared
document typed with both (its autosave refused, then fixed); no value in any form in the
whole log text, every logger at DEBUG (the collaboration, file id and pycrdt loggers
included)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest

pytest.importorskip("jupyter_server_ydoc")

from conftest import code, notebook
from jupyter_ydoc import YNotebook
from kernel_client import start_session
from pycrdt import Provider
from test_collaboration import AwareChannel, jp_server_config, open_room, until
from test_log_invariant import answered, granted_secret, spelled, websocket, whole_log

pytestmark = pytest.mark.slow

#: Fixtures this module takes from its neighbours (the collaboration server, the sweep's).
__all__ = ["granted_secret", "jp_server_config", "whole_log"]


async def test_no_value_in_any_form_in_the_collaboration_logs(
    granted_secret: str,
    jp_fetch: Any,
    jp_ws_fetch: Any,
    jp_serverapp: Any,
    jp_root_dir: Path,
    github_token: str,
    whole_log: Callable[[], str],
) -> None:
    values = {"secret": granted_secret, "token": github_token}
    (jp_root_dir / "n.ipynb").write_text(json.dumps(notebook(code("x = 1"))))
    session = await start_session(jp_fetch, jp_serverapp, "n.ipynb")
    shared = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import qiskit")])
    (jp_root_dir / "shared.ipynb").write_text(nbformat.writes(shared), encoding="utf-8")
    try:
        body = json.dumps({"format": "json", "type": "notebook"})
        for value in values.values():
            for parts in (
                ("api", "collaboration", "session", f"{value}.ipynb"),
                ("api", "collaboration", "timeline", f"json:notebook:{value}"),
                ("api", "collaboration", "undo_redo", f"json:notebook:{value}"),
                ("api", "collaboration", "fork", f"json:notebook:{value}"),
            ):
                for method in ("GET", "PUT"):
                    await answered(
                        jp_fetch(
                            *parts,
                            method=method,
                            body=body if method == "PUT" else None,
                            params={"path": value, "sessionId": value},
                        )
                    )
            await websocket(
                jp_ws_fetch, ("api", "collaboration", "room", f"json:notebook:{value}"), value
            )
        ydoc = YNotebook()
        ws, room = await open_room(jp_fetch, jp_serverapp, "shared.ipynb")
        try:
            channel = AwareChannel(ws, room, ydoc.ydoc)
            async with Provider(ydoc.ydoc, channel):
                await until(lambda: ydoc.ycells.to_py())
                cell = ydoc.ycells[0]["source"]
                cell += f'\ntoken = "{github_token}"\nother = {json.dumps(granted_secret)}'
                await until(channel.notices)
                text = str(cell)
                del cell[text.index("\ntoken") : len(text)]
                await until(lambda: not channel.notices())
        finally:
            ws.close()
    finally:
        session.client.stop_channels()
        await answered(jp_fetch("api", "sessions", session.session_id, method="DELETE"))
    text = whole_log()
    assert "YDocExtension" in text or "jupyter_server_ydoc" in text, text[-3000:]
    assert spelled(text, values) == []
