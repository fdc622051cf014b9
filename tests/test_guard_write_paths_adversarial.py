"""Write paths an adversary with a browser session (or a careless researcher) tries next,
through a real server: what the server writes is what the guard scanned, a refusal keeps
what was on disk, and its answer never spells the value."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError
from traitlets.config import Config


def holding(root: Path, value: str) -> list[str]:
    """The files under ``root`` whose bytes hold ``value``."""
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and value.encode() in p.read_bytes()
    )


async def refused(coroutine: Any, value: str, status: int = 422) -> dict[str, Any]:
    """The JSON body of a refused request, which never spells ``value``."""
    with pytest.raises(HTTPClientError) as caught:
        await coroutine
    assert caught.value.code == status
    assert caught.value.response is not None
    body = caught.value.response.body.decode()
    assert value not in body
    return dict(json.loads(body))


# Checkpoints: what a checkpoint keeps is the file's bytes ---------------------------------


def _repeated_key(token: str) -> str:
    # json.loads keeps the last of a repeated key: the parsed notebook has empty metadata,
    # the bytes on disk (and a copy of them) the credential.
    hidden = json.dumps({"note": f"token = '{token}'"})
    return (
        '{"cells": [], "metadata": ' + hidden + ', "metadata": {}, '
        '"nbformat": 4, "nbformat_minor": 5}'
    )


def _nbformat3(token: str) -> str:
    # nbformat's upgrade to version 4 drops a worksheet's metadata.
    worksheet = {"cells": [], "metadata": {"note": f"token = '{token}'"}}
    return json.dumps(
        {"nbformat": 3, "nbformat_minor": 0, "metadata": {"name": ""}, "worksheets": [worksheet]}
    )


@pytest.mark.parametrize("written", [_repeated_key, _nbformat3], ids=["repeated key", "nbformat 3"])
async def test_a_checkpoint_of_a_notebook_scans_the_bytes_it_copies(
    jp_fetch: Any, jp_root_dir: Path, github_token: str, audit_events: Any, written: Any
) -> None:
    """The contents manager reads a notebook parsed (a repeated key once, nbformat 3
    upgraded), and the checkpoint copies its bytes: what the parse drops must not reach
    the checkpoint unscanned."""
    (jp_root_dir / "pulled.ipynb").write_text(written(github_token))
    body = await refused(
        jp_fetch("api", "contents", "pulled.ipynb", "checkpoints", method="POST", body=""),
        github_token,
    )
    assert body["reason"] == "qsecure-leak"
    assert body["message"].startswith("Checkpoint refused:")
    assert holding(jp_root_dir, github_token) == ["pulled.ipynb"]
    events = [e for e in audit_events() if e["__schema__"].endswith("save-blocked/v1")]
    assert events and events[-1]["write"] == "checkpoint"


async def test_a_checkpoint_of_a_clean_notebook_is_made(jp_fetch: Any, jp_root_dir: Path) -> None:
    notebook = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (jp_root_dir / "clean.ipynb").write_text(json.dumps(notebook))
    created = await jp_fetch(
        "api", "contents", "clean.ipynb", "checkpoints", method="POST", body=""
    )
    assert created.code == 201
    assert (jp_root_dir / ".ipynb_checkpoints" / "clean-checkpoint.ipynb").exists()


# jupyter-lsp: the documents it hands a language server -----------------------------------

#: A language server that reads what it is sent and answers nothing.
_SILENT_SERVER = "import sys\nwhile sys.stdin.buffer.read(1):\n    pass\n"


@pytest.fixture
def lsp_server_config(jp_server_config: Config, tmp_path: Path) -> Config:
    """jupyter-lsp loaded, with a language server that wants documents on disk (as
    python-lsp-server does): jupyter-lsp writes each document it is sent there."""
    pytest.importorskip("jupyter_lsp")
    jp_server_config.ServerApp.jpserver_extensions["jupyter_lsp"] = True
    # jupyter_server refuses to load jupyter-lsp otherwise: its websocket handler lacks the
    # decorator that check looks for (it authenticates its requests in pre_get).
    jp_server_config.ServerApp.allow_unauthenticated_access = True
    jp_server_config.LanguageServerManager.autodetect = False
    jp_server_config.LanguageServerManager.language_servers = {
        "silent": {
            "argv": [sys.executable, "-c", _SILENT_SERVER],
            "languages": ["python"],
            "version": 2,
            "display_name": "silent",
            "mime_types": ["text/x-python"],
            "requires_documents_on_disk": True,
        }
    }
    return jp_server_config


def _lsp_frame(message: dict[str, Any]) -> str:
    body = json.dumps(message)
    return f"Content-Length: {len(body.encode())}\r\n\r\n{body}"


async def _open_document(jp_serverapp: Any, jp_ws_fetch: Any, source: str) -> Path:
    """Send a notebook's code to the language server as JupyterLab does; the path
    jupyter-lsp writes it to."""
    from jupyter_lsp.paths import file_uri_to_path

    manager = jp_serverapp.language_server_manager
    await asyncio.wait_for(manager.ready(), timeout=30)
    documents = jp_serverapp.web_app.settings["page_config_data"]["virtualDocumentsUri"]
    uri = documents.rstrip("/") + "/analysis.ipynb.py"
    socket = await jp_ws_fetch("lsp", "ws", "silent")
    document = {"uri": uri, "languageId": "python", "version": 1, "text": source}
    params = {"textDocument": document}
    socket.write_message(
        json.dumps({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": params})
    )
    written = Path(file_uri_to_path(uri))
    try:
        for _ in range(100):
            if written.exists():
                break
            await asyncio.sleep(0.05)
    finally:
        socket.close()
        for session in manager.sessions.values():
            if session.process is not None:
                process = session.process
                session.stop()
                process.wait(timeout=10)
    return written


#: jupyter-lsp loads through the older extension entry point, which jupyter_server warns of.
_OLD_ENTRY_POINT = "ignore:A `_load_jupyter_server_extension` function was not found"


@pytest.mark.filterwarnings(_OLD_ENTRY_POINT)
async def test_language_server_documents_stay_out_of_the_served_folder(
    lsp_server_config: Config,
    jp_serverapp: Any,
    jp_ws_fetch: Any,
    jp_root_dir: Path,
    github_token: str,
    qsecure_app: Any,
) -> None:
    """A notebook's code reaches the language server on every edit, before any save and
    whatever the guard refuses: jupyter-lsp keeps it as a file (.virtual_documents in the
    served folder by default), out of every scan. It goes to jupyter-qsecure's private
    folder instead."""
    written = await _open_document(jp_serverapp, jp_ws_fetch, f"token = '{github_token}'\n")
    assert written.exists()  # the language server got its document
    assert jp_root_dir not in written.parents
    assert holding(jp_root_dir, github_token) == []
    # in the state folder, which only its owner may enter
    assert written.parent.parent == qsecure_app._state_dir()
    assert written.parent.parent.stat().st_mode & 0o077 == 0


def test_a_virtual_documents_folder_outside_the_served_one_is_kept(tmp_path: Path) -> None:
    from jupyter_qsecure.guard.lsp import FOLDER_NAME, private_virtual_documents

    root, state, log = tmp_path / "root", tmp_path / "state", logging.getLogger("test")
    root.mkdir()
    outside = tmp_path / "elsewhere"
    assert private_virtual_documents(str(outside), root, state, log) is None
    for inside in (".virtual_documents", "docs/.lsp", str(root / "x"), "../root/y"):
        assert private_virtual_documents(inside, root, state, log) == state / FOLDER_NAME
    assert state.stat().st_mode & 0o077 == 0
