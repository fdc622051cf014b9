"""Collaboration mode (jupyter-collaboration): the real server saves the shared document,
real pycrdt clients edit it over the room's websocket. A refused save reaches every
collaborator as an awareness notice, nothing leaks to disk (the Y store included), and the
fix is saved and compacted out of the store's history."""

from __future__ import annotations

import asyncio
import json
import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest
from traitlets.config import Config

pytest.importorskip("jupyter_server_ydoc")

from jupyter_ydoc import YNotebook
from kernel_client import execute, start_session, wait_for_records
from pycrdt import (
    Awareness,
    Map,
    Provider,
    Text,
    YMessageType,
    create_awareness_message,
    read_message,
)
from tornado.httpclient import HTTPClientError
from tornado.websocket import WebSocketClientConnection, websocket_connect

from jupyter_qsecure.guard.collaboration import (
    NOTICE_FIELD,
    YSTORE_FILENAME,
    blocked_notice,
    embedded_provenance,
    private_store_path,
    share_provenance,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def jp_server_config(jp_server_config: Config) -> Config:
    """The suite's server, with jupyter-collaboration on and a short autosave delay."""
    config = Config(jp_server_config)
    config.ServerApp.jpserver_extensions = {
        **jp_server_config.ServerApp.jpserver_extensions,
        "jupyter_server_ydoc": True,
        "jupyter_server_fileid": True,
    }
    config.YDocExtension.document_save_delay = 0.2
    config.YDocExtension.file_poll_interval = 0.2
    config.YDocExtension.document_cleanup_delay = 0.5
    return config


class AwareChannel:
    """A pycrdt provider's channel over a websocket, which also decodes the room's
    awareness updates (the provider itself ignores them)."""

    def __init__(self, websocket: WebSocketClientConnection, path: str, ydoc: Any) -> None:
        self.websocket = websocket
        self._path = path
        self.awareness = Awareness(ydoc)

    @property
    def path(self) -> str:
        return self._path

    def __aiter__(self) -> AwareChannel:
        return self

    async def __anext__(self) -> bytes:
        while True:
            message = await self.websocket.read_message()
            if message is None:
                raise StopAsyncIteration
            assert isinstance(message, bytes)
            if message[0] != YMessageType.AWARENESS:
                return message
            self.awareness.apply_awareness_update(read_message(message[1:]), "remote")

    async def send(self, message: bytes) -> None:
        await self.websocket.write_message(message, binary=True)

    async def recv(self) -> bytes:
        return await self.__anext__()

    def notices(self) -> list[Any]:
        return [
            state[NOTICE_FIELD]
            for state in self.awareness.states.values()
            if state and state.get(NOTICE_FIELD)
        ]


async def open_room(jp_fetch: Any, serverapp: Any, path: str) -> tuple[Any, str]:
    response = await jp_fetch(
        "api",
        "collaboration",
        "session",
        path,
        method="PUT",
        body=json.dumps({"format": "json", "type": "notebook"}),
    )
    session = json.loads(response.body)
    room = f"json:notebook:{session['fileId']}"
    token = serverapp.identity_provider.token
    url = (
        f"ws://127.0.0.1:{serverapp.port}{serverapp.base_url}api/collaboration/room/{room}"
        f"?sessionId={session['sessionId']}&token={token}"
    )
    return await websocket_connect(url), room


async def until(predicate: Callable[[], Any], timeout: float = 15.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError("timed out waiting for the condition")


def every_file_under(*folders: Path) -> list[Path]:
    return [p for folder in folders for p in folder.rglob("*") if p.is_file()]


def holding(value: str, *folders: Path) -> list[Path]:
    """The files under ``folders`` holding ``value`` (a file that vanished meanwhile, such
    as SQLite's journal, holds nothing)."""
    needle = value.encode()
    found = []
    for path in every_file_under(*folders):
        try:
            if needle in path.read_bytes():
                found.append(path)
        except FileNotFoundError:
            continue
    return found


async def test_two_collaborators_see_the_refusal_and_the_fix_leaves_nothing_on_disk(
    jp_fetch: Any,
    jp_serverapp: Any,
    jp_root_dir: Path,
    jp_data_dir: Path,
    github_token: str,
) -> None:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import qiskit")])
    (jp_root_dir / "shared.ipynb").write_text(nbformat.writes(notebook), encoding="utf-8")
    good = (jp_root_dir / "shared.ipynb").read_bytes()

    (jp_root_dir / "other.ipynb").write_text(nbformat.writes(notebook), encoding="utf-8")

    first, second, bystander = YNotebook(), YNotebook(), YNotebook()
    ws_a, room = await open_room(jp_fetch, jp_serverapp, "shared.ipynb")
    ws_b, _ = await open_room(jp_fetch, jp_serverapp, "shared.ipynb")
    ws_c, other_room = await open_room(jp_fetch, jp_serverapp, "other.ipynb")
    try:
        channel_a = AwareChannel(ws_a, room, first.ydoc)
        channel_b = AwareChannel(ws_b, room, second.ydoc)
        channel_c = AwareChannel(ws_c, other_room, bystander.ydoc)
        async with (
            Provider(first.ydoc, channel_a),
            Provider(second.ydoc, channel_b),
            Provider(bystander.ydoc, channel_c),
        ):
            await until(lambda: first.ycells.to_py() and second.ycells.to_py())
            await until(lambda: bystander.ycells.to_py())
            cell = first.ycells[0]["source"]
            cell += f'\ntoken = "{github_token}"'
            await until(lambda: github_token in str(second.ycells[0]["source"]))

            # (2) both collaborators are told which finding blocked it and how to fix it.
            [notice_a] = await until(channel_a.notices)
            [notice_b] = await until(channel_b.notices)
            assert notice_a == notice_b
            assert notice_a["path"] == "shared.ipynb"
            assert "GitHub token in cell 1, line 2" in notice_a["message"]
            assert any("Secrets panel" in fix for fix in notice_a["fixes"])
            assert github_token not in json.dumps(notice_a)
            # Only the document's collaborators are told: not someone in another document.
            assert channel_c.notices() == []
            # (1) refused: the file keeps its last good version.
            assert (jp_root_dir / "shared.ipynb").read_bytes() == good

            # (3) the Y store holding it is private and outside the served folder.
            store = jp_data_dir / "qsecure" / YSTORE_FILENAME
            assert store.exists()
            assert stat.S_IMODE(store.stat().st_mode) == 0o600
            assert stat.S_IMODE(store.parent.stat().st_mode) & 0o077 == 0
            assert not (jp_root_dir / ".jupyter_ystore.db").exists()
            assert holding(github_token, jp_root_dir) == []
            # It is there while the document holds it (so the check after the fix can fail).
            await until(lambda: store in holding(github_token, jp_data_dir))

            # The fix: the value removed, the save goes through, the notice goes away.
            text = str(cell)
            start = text.index("\ntoken")
            del cell[start : len(text)]
            await until(lambda: b"token" not in (jp_root_dir / "shared.ipynb").read_bytes())
            await until(lambda: not channel_a.notices() and not channel_b.notices())
            saved = nbformat.read(jp_root_dir / "shared.ipynb", as_version=4)
            assert saved.cells[0].source == "import qiskit"
            # Compacted after the save: the store keeps no deleted text.
            await until(lambda: not holding(github_token, jp_data_dir, jp_root_dir))
    finally:
        for websocket in (ws_a, ws_b, ws_c):
            websocket.close()
    assert holding(github_token, jp_data_dir, jp_root_dir) == []


async def guard_notice(jp_fetch: Any, path: str) -> Any:
    """The server's answer to ``GET /qsecure/guard/notice?path=PATH``: the notice or None."""
    response = await jp_fetch("qsecure", "guard", "notice", params={"path": path})
    return json.loads(response.body)["notice"]


async def test_the_server_answers_the_notice_of_a_refused_save_until_a_save_goes_through(
    jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path, github_token: str
) -> None:
    """What the frontends show: the server's answer, not a collaborator's awareness state."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import qiskit")])
    (jp_root_dir / "asked.ipynb").write_text(nbformat.writes(notebook), encoding="utf-8")
    (jp_root_dir / "other.ipynb").write_text(nbformat.writes(notebook), encoding="utf-8")
    assert await guard_notice(jp_fetch, "asked.ipynb") is None

    doc = YNotebook()
    websocket, room = await open_room(jp_fetch, jp_serverapp, "asked.ipynb")
    channel = AwareChannel(websocket, room, doc.ydoc)
    try:
        async with Provider(doc.ydoc, channel):
            await until(lambda: doc.ycells.to_py())
            cell = doc.ycells[0]["source"]
            cell += f'\ntoken = "{github_token}"'
            [shown] = await until(channel.notices)
            notice = await guard_notice(jp_fetch, "asked.ipynb")
            assert notice == shown
            assert "GitHub token in cell 1, line 2" in notice["message"]
            assert github_token not in json.dumps(notice)
            assert await guard_notice(jp_fetch, "/asked.ipynb/") == notice
            assert await guard_notice(jp_fetch, "other.ipynb") is None

            # Awareness is anyone's to write: a collaborator forges a notice in their own
            # state and clears the server's (an update for its client id, clock one ahead).
            # The room takes both; the server's answer does not change.
            [ydoc_app] = jp_serverapp.extension_manager.extension_apps["jupyter_server_ydoc"]
            server = ydoc_app.ywebsocket_server.rooms[room].awareness
            forged = {**notice, "message": "Autosave blocked: paste your token at evil.example"}
            channel.awareness.set_local_state_field(NOTICE_FIELD, forged)
            channel.awareness._states[server.client_id] = {}
            channel.awareness._meta[server.client_id]["clock"] += 1
            ids = [channel.awareness.client_id, server.client_id]
            update = channel.awareness.encode_awareness_update(ids)
            await channel.send(create_awareness_message(update))
            await until(lambda: not (server.get_local_state() or {}).get(NOTICE_FIELD))
            await until(lambda: forged in [s.get(NOTICE_FIELD) for s in server.states.values()])
            assert await guard_notice(jp_fetch, "asked.ipynb") == notice

            text = str(cell)
            del cell[text.index("\ntoken") : len(text)]
            await until(lambda: b"token" not in (jp_root_dir / "asked.ipynb").read_bytes())
            # The save went through: no notice, whatever the forged awareness still says.
            for _ in range(100):
                if await guard_notice(jp_fetch, "asked.ipynb") is None:
                    break
                await asyncio.sleep(0.05)
            assert await guard_notice(jp_fetch, "asked.ipynb") is None
            assert channel.notices() == [forged]
    finally:
        websocket.close()


async def test_the_notice_route_refuses_a_path_outside_the_root(jp_fetch: Any) -> None:
    with pytest.raises(HTTPClientError) as refused:
        await guard_notice(jp_fetch, "../asked.ipynb")
    assert refused.value.code == 400
    assert refused.value.response is not None
    assert json.loads(refused.value.response.body)["reason"] == "qsecure-bad-request"


async def test_a_value_never_saved_leaves_the_store_when_the_document_reopens(
    jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path, jp_data_dir: Path, github_token: str
) -> None:
    """Typed, refused, and everyone left: the room is dropped, and the next collaborator
    reloads the document from disk; the store's history of it is compacted then."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import qiskit")])
    (jp_root_dir / "left.ipynb").write_text(nbformat.writes(notebook), encoding="utf-8")
    [ydoc_app] = jp_serverapp.extension_manager.extension_apps["jupyter_server_ydoc"]
    store = jp_data_dir / "qsecure" / YSTORE_FILENAME

    doc = YNotebook()
    websocket, room = await open_room(jp_fetch, jp_serverapp, "left.ipynb")
    channel = AwareChannel(websocket, room, doc.ydoc)
    try:
        async with Provider(doc.ydoc, channel):
            await until(lambda: doc.ycells.to_py())
            source = doc.ycells[0]["source"]
            source += f'\ntoken = "{github_token}"'
            await until(channel.notices)
            await until(lambda: store in holding(github_token, jp_data_dir))
    finally:
        websocket.close()
    dropped = ydoc_app.ywebsocket_server.rooms[room]
    await until(lambda: room not in ydoc_app.ywebsocket_server.rooms)
    assert dropped._update_send_stream._closed  # the conftest's mend of pycrdt-websocket

    again = YNotebook()
    websocket, room = await open_room(jp_fetch, jp_serverapp, "left.ipynb")
    try:
        async with Provider(again.ydoc, AwareChannel(websocket, room, again.ydoc)):
            await until(lambda: again.ycells.to_py())
            assert github_token not in json.dumps(again.ycells.to_py())
            await until(lambda: not holding(github_token, jp_data_dir, jp_root_dir))
    finally:
        websocket.close()


async def test_plain_servers_of_this_module_load_collaboration(jp_serverapp: Any) -> None:
    """The override above is what turns it on (the rest of the suite runs without it)."""
    apps = jp_serverapp.extension_manager.extension_apps
    assert "jupyter_server_ydoc" in apps
    [ydoc_app] = apps["jupyter_server_ydoc"]
    assert getattr(ydoc_app.ystore_class, "compact", None) is not None


def test_a_store_path_inside_the_served_folder_is_moved_out(tmp_path: Path) -> None:
    root, data = tmp_path / "root", tmp_path / "data"
    root.mkdir()

    class Log:
        warnings: list[str] = []

        def warning(self, message: str, *args: Any) -> None:
            self.warnings.append(message % args)

    log = Log()
    assert private_store_path(".jupyter_ystore.db", root, data, log) == data / YSTORE_FILENAME
    inside = str(root / "sub" / "y.db")
    assert private_store_path(inside, root, data, log) == data / YSTORE_FILENAME
    assert "inside the served folder" in log.warnings[0]
    outside = str(tmp_path / "elsewhere" / "y.db")
    assert private_store_path(outside, root, data, log) == Path(outside)


def test_the_notice_names_places_and_fixes_never_values() -> None:
    data = {
        "path": "a.ipynb",
        "user": "ada",
        "outcome": "blocked",
        "findings": [
            {
                "rule": "github-token",
                "kind": "GitHub token",
                "fingerprint": "f",
                "cell_index": 0,
                "line": 2,
            }
        ]
        * 7,
    }
    notice = blocked_notice(data)
    assert notice["message"].startswith("Autosave blocked: this document holds a credential")
    assert "GitHub token in cell 1, line 2" in notice["message"]
    assert "and 2 more" in notice["message"]
    error = blocked_notice({"path": "a.ipynb", "outcome": "scan-error", "error": "too large"})
    assert "could not scan" in error["message"] and "too large" in error["message"]


@pytest.fixture
def signing_policy(tmp_path: Path, provenance_policy: Callable[[str], Path]) -> Path:
    """Provenance on and a server signing key (real ssh-keygen) trusted as author; the
    provenance store's path."""
    if shutil.which("ssh-keygen") is None:
        pytest.skip("needs ssh-keygen")
    key = tmp_path / "server-signer"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, timeout=60
    )
    public = key.with_suffix(".pub").read_text().split()
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"lab-server@lab.example {public[0]} {public[1]}\n")
    return provenance_policy(
        f'[signing]\nkey = "{key}"\nprincipal = "lab-server@lab.example"\n'
        f'allowed_signers = "{allowed}"\n'
    )


def on_disk(path: Path) -> dict[str, Any]:
    """The notebook at ``path``."""
    return dict(json.loads(path.read_text(encoding="utf-8")))


def saved_when(path: Path, test: Callable[[dict[str, Any]], Any]) -> Callable[[], Any]:
    """For :func:`until`: the notebook at ``path`` once ``test`` holds for it (None while
    the server is still writing it: jupyter_server writes in place, behind a backup)."""

    def check() -> dict[str, Any] | None:
        try:
            notebook = on_disk(path)
        except json.JSONDecodeError:
            return None
        return notebook if test(notebook) else None

    return check


async def signature_status(jp_fetch: Any, path: str) -> dict[str, Any]:
    response = await jp_fetch("qsecure", "signature", params={"path": path})
    return dict(json.loads(response.body))


def youtputs(outputs: list[dict[str, Any]]) -> list[Map]:
    """Outputs as JupyterLab puts them into the shared document (stream text as Y text)."""
    shared = []
    for output in outputs:
        output = dict(output)
        if output.get("output_type") == "stream":
            output["text"] = Text("".join(output["text"]))
        shared.append(Map(output))
    return shared


def shared_provenance(doc: YNotebook) -> tuple[dict[str, Any], dict[str, Any]]:
    """What a collaborator's copy of the shared document says of its provenance: the
    notebook's ``qsecure.provenance`` and the first cell's ``qsecure.execution``."""
    metadata = doc._ymeta.to_py().get("metadata", {})
    cells = doc.ycells.to_py()
    cell = cells[0].get("metadata", {}) if cells else {}
    return (
        metadata.get("qsecure", {}).get("provenance", {}),
        cell.get("qsecure", {}).get("execution", {}),
    )


async def test_a_run_saved_by_the_collaboration_server_carries_its_provenance(
    signing_policy: Path, jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path
) -> None:
    """A cell run in a real kernel, its outputs put into the shared document as JupyterLab
    does, the collaboration server saves: the file holds the record of that run, and every
    collaborator's shared document gets it too, without reloading (other qsecure metadata
    kept); sharing it schedules no save of its own."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 6 * 7\nx", id="a")])
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    file = jp_root_dir / "run.ipynb"
    nbformat.write(notebook, file)

    doc = YNotebook()
    other = YNotebook()  # a second collaborator, who only watches
    websocket, room = await open_room(jp_fetch, jp_serverapp, "run.ipynb")
    watching, _ = await open_room(jp_fetch, jp_serverapp, "run.ipynb")
    session = await start_session(jp_fetch, jp_serverapp, "run.ipynb")
    try:
        async with (
            Provider(doc.ydoc, AwareChannel(websocket, room, doc.ydoc)),
            Provider(other.ydoc, AwareChannel(watching, room, other.ydoc)),
        ):
            await until(lambda: doc.ycells.to_py() and other.ycells.to_py())
            # Other qsecure metadata the document holds stays as it is.
            doc._ymeta["metadata"]["qsecure"] = {"note": "kept"}
            outputs = await execute(session.client, "x = 6 * 7\nx", "a")
            # Straight after the run, as JupyterLab does (the kernel may not have stored
            # the record yet: the save waits for it).
            cell = doc.ycells[0]
            with doc.ydoc.transaction():
                cell["execution_count"] = 1
                cell["outputs"].extend(youtputs(outputs))
            saved = await until(saved_when(file, lambda nb: nb["cells"][0]["outputs"]))
            [record] = wait_for_records(signing_policy, 1)
            # Both collaborators' documents get what the file holds, live.
            for copy in (doc, other):
                shared, cell_record = await until(
                    lambda copy=copy: all(shared_provenance(copy)) and shared_provenance(copy)
                )
                assert cell_record == saved["cells"][0]["metadata"]["qsecure"]["execution"]
                assert shared["timeline"] == saved["metadata"]["qsecure"]["provenance"]["timeline"]
                assert (
                    shared["chain_head"] == saved["metadata"]["qsecure"]["provenance"]["chain_head"]
                )
            assert doc._ymeta.to_py()["metadata"]["qsecure"]["note"] == "kept"
            # Sharing it is no change of the document to save: the file stays as written.
            written = file.stat().st_mtime_ns
            await asyncio.sleep(1.0)  # five autosave delays
            assert file.stat().st_mtime_ns == written
    finally:
        session.client.stop_channels()
        websocket.close()
        watching.close()
    execution = saved["cells"][0]["metadata"]["qsecure"]["execution"]
    assert execution["record_id"] == record["record_id"]
    provenance = saved["metadata"]["qsecure"]["provenance"]
    assert [entry["record_id"] for entry in provenance["timeline"]] == [record["record_id"]]
    assert provenance["checkpoint"]["note"]
    answer = await signature_status(jp_fetch, "run.ipynb")
    assert answer["status"] == "unsigned", answer


def test_sharing_provenance_touches_only_what_the_save_embedded() -> None:
    """Written into a shared document: the notebook's provenance and each run cell's record,
    by cell id; signatures and other keys kept; a cell gone meanwhile skipped; nothing
    sent again when only the checkpoint (new at every save) differs."""
    shared = YNotebook()
    shared.set(
        {
            "nbformat": 4,
            "nbformat_minor": 5,
            "metadata": {"qsecure": {"signatures": [{"principal": "a@lab.example"}]}},
            "cells": [
                {"cell_type": "code", "id": "a", "source": "x = 1", "metadata": {}, "outputs": []},
                {"cell_type": "markdown", "id": "b", "source": "text", "metadata": {"k": 1}},
            ],
        }
    )
    provenance = {"version": 1, "chain_head": "h1", "timeline": [{"record_id": "r1"}]}
    saved = {
        "metadata": {"qsecure": {"provenance": {**provenance, "checkpoint": {"note": "n1"}}}},
        "cells": [
            {"id": "a", "metadata": {"qsecure": {"execution": {"record_id": "r1"}}}},
            {"id": "gone", "metadata": {"qsecure": {"execution": {"record_id": "r0"}}}},
        ],
    }
    embedded = embedded_provenance(saved)
    assert share_provenance(shared.ydoc, embedded)
    now = shared.get()
    assert now["metadata"]["qsecure"]["signatures"] == [{"principal": "a@lab.example"}]
    assert now["metadata"]["qsecure"]["provenance"]["checkpoint"] == {"note": "n1"}
    assert now["cells"][0]["metadata"]["qsecure"]["execution"] == {"record_id": "r1"}
    assert now["cells"][1]["metadata"] == {"k": 1}
    assert not share_provenance(shared.ydoc, embedded)  # the same again: nothing to send
    saved["metadata"]["qsecure"]["provenance"]["checkpoint"] = {"note": "n2"}
    assert not share_provenance(shared.ydoc, embedded_provenance(saved))
    saved["metadata"]["qsecure"]["provenance"]["chain_head"] = "h2"  # a new run
    assert share_provenance(shared.ydoc, embedded_provenance(saved))
    assert shared.get()["metadata"]["qsecure"]["provenance"]["chain_head"] == "h2"
    assert not embedded_provenance({"metadata": {}, "cells": [{"id": "a", "metadata": {}}]})


async def test_a_signed_notebook_saved_by_the_collaboration_server_stays_signed(
    signing_policy: Path, jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path
) -> None:
    """Run and saved in a shared session, signed while the room is open (the room reloads
    the signed file), then opened again with a new kernel, nothing run, a view-only change
    (outputs collapsed) saved by the collaboration server: still signed and valid, its
    provenance kept. A change a reader sees, saved the same way, breaks it."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 6 * 7\nx", id="a")])
    notebook.cells.append(nbformat.v4.new_markdown_cell("ratio 0.5", id="b"))
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    file = jp_root_dir / "signed.ipynb"
    nbformat.write(notebook, file)

    doc = YNotebook()
    websocket, room = await open_room(jp_fetch, jp_serverapp, "signed.ipynb")
    try:
        async with Provider(doc.ydoc, AwareChannel(websocket, room, doc.ydoc)):
            await until(lambda: doc.ycells.to_py())
            session = await start_session(jp_fetch, jp_serverapp, "signed.ipynb")
            try:
                outputs = await execute(session.client, "x = 6 * 7\nx", "a")
            finally:
                session.client.stop_channels()
            [record] = wait_for_records(signing_policy, 1)
            with doc.ydoc.transaction():
                doc.ycells[0]["execution_count"] = 1
                doc.ycells[0]["outputs"].extend(youtputs(outputs))
            await until(saved_when(file, lambda nb: "qsecure" in nb["cells"][0]["metadata"]))
            await jp_fetch("api", "sessions", session.session_id, method="DELETE")

            response = await jp_fetch(
                "qsecure", "sign", method="POST", body=json.dumps({"path": "signed.ipynb"})
            )
            assert json.loads(response.body)["status"] == "signed and valid"
            signed = on_disk(file)
            # The room takes the signed file in (an out-of-band change of its file).
            await until(lambda: "signatures" in doc._ymeta.to_py()["metadata"].get("qsecure", {}))

            # Opened again: a new kernel (its environment record, a new chain head).
            session = await start_session(jp_fetch, jp_serverapp, "signed.ipynb")
            session.client.stop_channels()
            wait_for_records(signing_policy, 2, kind="environment")
            doc.ycells[0]["metadata"]["collapsed"] = True
            resaved = await until(
                saved_when(file, lambda nb: nb["cells"][0]["metadata"].get("collapsed"))
            )
            answer = await signature_status(jp_fetch, "signed.ipynb")
            assert answer["status"] == "signed and valid", answer
            assert (
                resaved["metadata"]["qsecure"]["signatures"]
                == signed["metadata"]["qsecure"]["signatures"]
            )
            execution = resaved["cells"][0]["metadata"]["qsecure"]["execution"]
            assert execution["record_id"] == record["record_id"]

            # What a reader sees changed, saved by the collaboration server: not valid.
            markdown = doc.ycells[1]["source"]
            markdown += " (rounded)"
            await until(saved_when(file, lambda nb: "rounded" in "".join(nb["cells"][1]["source"])))
            answer = await signature_status(jp_fetch, "signed.ipynb")
            assert answer["status"] == "modified since signing", answer
            assert answer["signatures"][0]["changed_cells"] == ["b"]
            await jp_fetch("api", "sessions", session.session_id, method="DELETE")
    finally:
        websocket.close()


def checkpoint_of(notebook: dict[str, Any]) -> str:
    """The note of the signed checkpoint a notebook carries ("" without one)."""
    provenance = notebook.get("metadata", {}).get("qsecure", {}).get("provenance", {})
    return str(provenance.get("checkpoint", {}).get("note", ""))


async def test_a_room_autosave_never_writes_an_older_checkpoint_back(
    signing_policy: Path, jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path
) -> None:
    """When the store's chain grew (another notebook's kernel) and nothing of this
    notebook's own provenance changed, a save changes only its signed checkpoint: the
    shared document keeps the one it has (by design), and a checkpoint signed on demand
    touches no notebook. A later autosave from the room, by the collaborator whose document
    holds the oldest checkpoint, writes the newest one the server signed, never the
    document's: every save signs the chain anew over whatever checkpoint it is given."""
    from jupyter_qsecure.provenance.checkpoint import key_paths, parse_checkpoint

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 6 * 7\nx", id="a")])
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    file = jp_root_dir / "run.ipynb"
    nbformat.write(notebook, file)
    nbformat.write(nbformat.v4.new_notebook(), jp_root_dir / "elsewhere.ipynb")
    checkpoints = key_paths(signing_policy)[1]

    def newest() -> str:
        return str(json.loads(checkpoints.read_text().splitlines()[-1])["note"])

    def size(note: str) -> int:
        return parse_checkpoint(note).size

    doc, other = YNotebook(), YNotebook()
    websocket, room = await open_room(jp_fetch, jp_serverapp, "run.ipynb")
    watching, _ = await open_room(jp_fetch, jp_serverapp, "run.ipynb")
    session = await start_session(jp_fetch, jp_serverapp, "run.ipynb")
    elsewhere = None
    try:
        async with (
            Provider(doc.ydoc, AwareChannel(websocket, room, doc.ydoc)),
            Provider(other.ydoc, AwareChannel(watching, room, other.ydoc)),
        ):
            await until(lambda: doc.ycells.to_py() and other.ycells.to_py())
            outputs = await execute(session.client, "x = 6 * 7\nx", "a")
            with doc.ydoc.transaction():
                doc.ycells[0]["execution_count"] = 1
                doc.ycells[0]["outputs"].extend(youtputs(outputs))
            first = checkpoint_of(await until(saved_when(file, checkpoint_of)))
            # The run's provenance reaches both documents, with that save's checkpoint.
            await until(lambda: checkpoint_of(other.get()) == first)

            # Another notebook's kernel starts: the chain grows, this notebook's records not.
            elsewhere = await start_session(jp_fetch, jp_serverapp, "elsewhere.ipynb")
            wait_for_records(signing_policy, 2, kind="environment")
            doc.ycells[0]["metadata"]["collapsed"] = True  # a change only a view shows
            second = checkpoint_of(
                await until(
                    saved_when(file, lambda nb: nb["cells"][0]["metadata"].get("collapsed"))
                )
            )
            assert second == newest() and size(second) > size(first)
            assert checkpoint_of(other.get()) == first  # only the checkpoint changed

            # One signed on demand: appended beside the store, no notebook rewritten.
            written = file.stat().st_mtime_ns
            response = await jp_fetch(
                "qsecure", "provenance", "checkpoint", method="POST", body="{}"
            )
            assert json.loads(response.body)["note"] == newest()
            assert file.stat().st_mtime_ns == written

            # The chain grows again; the collaborator holding the oldest checkpoint changes
            # a view: the save carries the newest checkpoint, not the document's.
            await execute(elsewhere.client, "y = 1", "b")
            wait_for_records(signing_policy, 2)
            other.ycells[0]["metadata"]["scrolled"] = True
            third = checkpoint_of(
                await until(saved_when(file, lambda nb: nb["cells"][0]["metadata"].get("scrolled")))
            )
            assert third == newest() and size(third) > size(second)
            assert checkpoint_of(other.get()) == first
    finally:
        session.client.stop_channels()
        if elsewhere is not None:
            elsewhere.client.stop_channels()
        websocket.close()
        watching.close()
