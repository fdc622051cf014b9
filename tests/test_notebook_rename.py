"""A notebook renamed while its kernel runs (JupyterLab's Untitled.ipynb, renamed by the
user) keeps its kernel's secrets and provenance under the new name, and an unrelated
notebook that takes the old name later inherits nothing. Real server, real kernels."""

from __future__ import annotations

import asyncio
import json
import secrets
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import as_notebook, code_cell
from kernel_client import (
    call,
    connect,
    execute,
    save_notebook,
    start_session,
    unsaved_provenance,
    wait_for_records,
)

from jupyter_qsecure.provenance import ProvenanceStore
from jupyter_qsecure.provenance.store import GENESIS, SCHEMA_VERSION, chain_hash, record_body

JUPYTER = str(Path(sys.executable).parent / "jupyter")
MINE = "MY_TOKEN"


# Personal grants keep their values in the keyring: the embedded encrypted-file one.
pytestmark = pytest.mark.usefixtures("keyring_env")


@pytest.fixture
def value() -> str:
    return f"qsv-{secrets.token_hex(12)}"


def executions(store: Path) -> list[dict[str, Any]]:
    return [r.record for r in ProvenanceStore(store).records() if r.record["kind"] == "execution"]


def cell_ids(store: Path, notebook: str) -> list[str]:
    return [
        r.record["cell_id"]
        for r in ProvenanceStore(store).for_notebook(notebook)
        if r.record["kind"] == "execution"
    ]


def assert_chain_intact(store: Path) -> None:
    assert ProvenanceStore(store).verify() == []
    result = subprocess.run(
        [JUPYTER, "qsecure", "provenance", "log", "--verify", "--store", str(store)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "chain intact" in result.stderr


async def test_session_renamed_from_untitled(
    store_path: Path,
    value: str,
    jp_fetch: Any,
    jp_serverapp: Any,
    jp_root_dir: Path,
    qsecure_app: Any,
) -> None:
    source = "x = 6 * 7\nprint(x)"
    session_id, kernel_id, client = await start_session(jp_fetch, jp_serverapp, "Untitled.ipynb")
    try:
        outputs = await execute(client, source, "a")
        [record] = wait_for_records(store_path, 1)
        assert record["notebook"] == "Untitled.ipynb" and record["kernel_id"] == kernel_id
        assert qsecure_app.registry.get(kernel_id).notebook == "Untitled.ipynb"

        # The user renames it: JupyterLab moves the session to the new path.
        await call(
            jp_fetch, "api", "sessions", session_id, method="PATCH", body={"path": "analysis.ipynb"}
        )
        assert qsecure_app.registry.get(kernel_id).notebook == "analysis.ipynb"
        assert cell_ids(store_path, "analysis.ipynb") == ["a"]
        assert cell_ids(store_path, "Untitled.ipynb") == []

        # The editor's content, not saved yet: the cell shows as executed.
        editor = as_notebook(code_cell("a", source, outputs, None))
        report = await unsaved_provenance(jp_fetch, "analysis.ipynb", editor)
        assert [c["badge"] for c in report["cells"]] == ["executed"]
        assert report["cells"][0]["execution"]["record_id"] == record["record_id"]
        assert [e["cell_id"] for e in report["timeline"]] == ["a"]

        # Saving it embeds the provenance.
        await save_notebook(jp_fetch, "analysis.ipynb", editor)
        saved = json.loads((jp_root_dir / "analysis.ipynb").read_text())
        embedded = saved["metadata"]["qsecure"]["provenance"]
        assert embedded["kernel_session"] == record["kernel_session"]
        execution = saved["cells"][0]["metadata"]["qsecure"]["execution"]
        assert execution["record_id"] == record["record_id"]
        report = await call(jp_fetch, "qsecure", "provenance", path="analysis.ipynb")
        assert report["ok"] and [c["badge"] for c in report["cells"]] == ["executed"]

        # A personal grant to the new name reaches the running kernel on refresh.
        await call(jp_fetch, "qsecure", "secrets", MINE, method="PUT", body={"value": value})
        await call(
            jp_fetch, "qsecure", "grants", MINE, method="PUT", body={"notebook": "analysis.ipynb"}
        )
        rows = {
            r["name"]: r
            for r in (await call(jp_fetch, "qsecure", "secrets", path="analysis.ipynb"))["secrets"]
        }
        assert rows[MINE]["granted"] and not rows[MINE]["in_kernel"]
        refreshed = await execute(
            client,
            "import os, jupyter_qsecure\n"
            "print(jupyter_qsecure.refresh())\n"
            f"print('same', os.environ.get('{MINE}') == {value!r})",
            "b",
        )
        text = json.dumps(refreshed)
        assert f"['{MINE}']" in text and "same True" in text and value not in text
        rows = {
            r["name"]: r
            for r in (await call(jp_fetch, "qsecure", "secrets", path="analysis.ipynb"))["secrets"]
        }
        assert rows[MINE]["in_kernel"] and rows[MINE]["problem"] is None
        old = await call(jp_fetch, "qsecure", "secrets", path="Untitled.ipynb")
        assert not any(r["in_kernel"] for r in old["secrets"])

        # Records written after the rename still carry the path the kernel started with,
        # and belong to the new name.
        later = wait_for_records(store_path, 2)
        assert later[-1]["notebook"] == "Untitled.ipynb"
        assert cell_ids(store_path, "analysis.ipynb") == ["a", "b"]
    finally:
        client.stop_channels()
        await jp_fetch("api", "sessions", session_id, method="DELETE")

    # A new, unrelated Untitled.ipynb inherits none of it.
    session_id, new_kernel, client = await start_session(jp_fetch, jp_serverapp, "Untitled.ipynb")
    try:
        outputs = await execute(client, "y = 1", "c")
        wait_for_records(store_path, 3)
    finally:
        client.stop_channels()
        await jp_fetch("api", "sessions", session_id, method="DELETE")
    assert new_kernel != kernel_id
    assert cell_ids(store_path, "Untitled.ipynb") == ["c"]
    assert cell_ids(store_path, "analysis.ipynb") == ["a", "b"]
    fresh = as_notebook(code_cell("a", source, [], None), code_cell("c", "y = 1", outputs, None))
    report = await unsaved_provenance(jp_fetch, "Untitled.ipynb", fresh)
    assert [c["badge"] for c in report["cells"]] == ["never-executed", "executed"]
    assert [e["cell_id"] for e in report["timeline"]] == ["c"]
    assert_chain_intact(store_path)


async def wait_for(condition: Callable[[], bool]) -> None:
    for _ in range(300):
        if condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("timed out")


async def test_file_renamed_and_kernel_restarted(
    store_path: Path, jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path, qsecure_app: Any
) -> None:
    """A rename through the contents API moves the kernel without a session update; a
    restart then starts it for the new path; JupyterLab's session updates change nothing."""
    (jp_root_dir / "moved").mkdir()
    await save_notebook(jp_fetch, "Untitled.ipynb", as_notebook())
    session_id, kernel_id, client = await start_session(jp_fetch, jp_serverapp, "Untitled.ipynb")
    try:
        await execute(client, "a = 1", "a")
        wait_for_records(store_path, 1)
        await call(
            jp_fetch,
            "api",
            "contents",
            "Untitled.ipynb",
            method="PATCH",
            body={"path": "moved/analysis.ipynb"},
        )
        await wait_for(
            lambda: qsecure_app.registry.get(kernel_id).notebook == "moved/analysis.ipynb"
        )
        await wait_for(lambda: cell_ids(store_path, "moved/analysis.ipynb") == ["a"])
        assert cell_ids(store_path, "Untitled.ipynb") == []
    finally:
        client.stop_channels()

    # The session still says Untitled.ipynb; the restarted kernel runs for the new path.
    await call(jp_fetch, "api", "kernels", kernel_id, "restart", method="POST", body={})
    assert qsecure_app.registry.get(kernel_id).notebook == "moved/analysis.ipynb"
    client = await connect(jp_serverapp, kernel_id)
    try:
        await execute(client, "b = 2", "b")
        records = wait_for_records(store_path, 2)
        for change in ({"name": "analysis.ipynb"}, {"path": "moved/analysis.ipynb"}):
            await call(jp_fetch, "api", "sessions", session_id, method="PATCH", body=change)
        assert qsecure_app.registry.get(kernel_id).notebook == "moved/analysis.ipynb"
    finally:
        client.stop_channels()
        await jp_fetch("api", "sessions", session_id, method="DELETE")
    assert records[-1]["notebook"] == "moved/analysis.ipynb"
    assert records[-1]["kernel_session"] != records[0]["kernel_session"]
    assert cell_ids(store_path, "moved/analysis.ipynb") == ["a", "b"]
    assert cell_ids(store_path, "Untitled.ipynb") == []
    assert_chain_intact(store_path)


async def test_a_session_update_that_arrives_after_the_rename_it_follows(
    store_path: Path, jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path, qsecure_app: Any
) -> None:
    """JupyterLab starts a new notebook's kernel under a random path, then renames the file
    and only after that moves its session to Untitled.ipynb, a name already gone: the
    kernel follows the file to where the rename took it. A file that takes the old name
    again is not followed."""
    await save_notebook(jp_fetch, "Untitled.ipynb", as_notebook())
    session_id, kernel_id, client = await start_session(
        jp_fetch, jp_serverapp, f"{uuid.uuid4()}.ipynb"
    )
    client.stop_channels()
    try:
        await call(
            jp_fetch,
            "api",
            "contents",
            "Untitled.ipynb",
            method="PATCH",
            body={"path": "move.ipynb"},
        )
        await call(
            jp_fetch, "api", "sessions", session_id, method="PATCH", body={"path": "Untitled.ipynb"}
        )
        assert qsecure_app.registry.get(kernel_id).notebook == "move.ipynb"

    finally:
        await jp_fetch("api", "sessions", session_id, method="DELETE")

    # A new Untitled.ipynb (the rename is still remembered): a kernel moved there stays.
    await save_notebook(jp_fetch, "Untitled.ipynb", as_notebook())
    session_id, kernel_id, client = await start_session(
        jp_fetch, jp_serverapp, f"{uuid.uuid4()}.ipynb"
    )
    client.stop_channels()
    try:
        await call(
            jp_fetch, "api", "sessions", session_id, method="PATCH", body={"path": "Untitled.ipynb"}
        )
        assert qsecure_app.registry.get(kernel_id).notebook == "Untitled.ipynb"
    finally:
        await jp_fetch("api", "sessions", session_id, method="DELETE")


async def test_a_console_sharing_the_kernel_does_not_move_it(
    store_path: Path, jp_fetch: Any, jp_serverapp: Any, qsecure_app: Any
) -> None:
    session_id, kernel_id, client = await start_session(jp_fetch, jp_serverapp, "nb.ipynb")
    client.stop_channels()
    console = await call(
        jp_fetch,
        "api",
        "sessions",
        method="POST",
        body={"path": "console-1", "name": "", "type": "console", "kernel": {"id": kernel_id}},
    )
    try:
        await call(
            jp_fetch, "api", "sessions", console["id"], method="PATCH", body={"path": "console-2"}
        )
        assert qsecure_app.registry.get(kernel_id).notebook == "nb.ipynb"
    finally:
        await jp_fetch("api", "sessions", session_id, method="DELETE")


# The store: aliases, and files written before them ---------------------------------------

OLD_SCHEMA = """
CREATE TABLE records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    record_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    kernel_session TEXT NOT NULL,
    notebook TEXT,
    cell_id TEXT,
    body TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX records_by_notebook ON records (notebook, seq);
"""


def record(kernel_id: str | None, session: str, notebook: str, cell: str) -> dict[str, Any]:
    return {
        "kind": "execution",
        "record_id": str(uuid.uuid4()),
        "kernel_session": session,
        "kernel_id": kernel_id,
        "notebook": notebook,
        "cell_id": cell,
        "status": "ok",
    }


def write_old_rows(connection: sqlite3.Connection, records: list[dict[str, Any]]) -> None:
    """Rows as the previous version of the store wrote them (no kernel_id column)."""
    row = connection.execute("SELECT hash FROM records ORDER BY seq DESC LIMIT 1").fetchone()
    previous = row[0] if row else GENESIS
    for entry in records:
        body = record_body(entry)
        digest = chain_hash(previous, body)
        connection.execute(
            "INSERT INTO records (record_id, kind, kernel_session, notebook, cell_id, body,"
            " prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                entry["record_id"],
                entry["kind"],
                entry["kernel_session"],
                entry["notebook"],
                entry["cell_id"],
                body,
                previous,
                digest,
            ),
        )
        previous = digest


def test_an_old_store_is_migrated_and_its_chain_kept(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as connection:
        connection.executescript(OLD_SCHEMA)
        write_old_rows(
            connection,
            [
                record("k1", "s1", "Untitled.ipynb", "a"),
                record(None, "s0", "Untitled.ipynb", "x"),  # `jupyter execute`: no kernel id
                record("k9", "s9", "damaged.ipynb", "z"),
            ],
        )
        # A damaged row does not stop the migration; verify reports it, as before.
        connection.execute("UPDATE records SET body = '{not json' WHERE cell_id = 'z'")
    store = ProvenanceStore(path)
    assert [p.seq for p in store.verify()] == [3, 3]  # edited, and no JSON record
    with sqlite3.connect(path) as connection:
        connection.execute("DELETE FROM records WHERE cell_id = 'z'")
    assert [r.record["cell_id"] for r in store.for_notebook("Untitled.ipynb")] == ["a", "x"]
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert connection.execute("SELECT kernel_id FROM records ORDER BY seq").fetchall() == [
            ("k1",),
            ("",),
        ]

    store.alias("k1", "analysis.ipynb", "Untitled.ipynb")
    store.append(record("k1", "s2", "Untitled.ipynb", "b"))  # after a restart
    store.append(record("k2", "s3", "Untitled.ipynb", "c"))  # a new Untitled.ipynb
    assert [r.record["cell_id"] for r in store.for_notebook("analysis.ipynb")] == ["a", "b"]
    assert [r.record["cell_id"] for r in store.for_notebook("Untitled.ipynb")] == ["x", "c"]
    assert store.aliases() == {"k1": "analysis.ipynb"}

    # A kernel still running the previous code writes rows without the column: the next
    # alias indexes them.
    with sqlite3.connect(path) as connection:
        write_old_rows(connection, [record("k2", "s3", "Untitled.ipynb", "d")])
    store.alias("k2", "second.ipynb", "Untitled.ipynb")
    assert [r.record["cell_id"] for r in store.for_notebook("second.ipynb")] == ["c", "d"]
    assert [r.record["cell_id"] for r in store.for_notebook("Untitled.ipynb")] == ["x"]

    # Renamed back: its records come back to the old name.
    store.alias("k1", "Untitled.ipynb", "analysis.ipynb")
    assert [r.record["cell_id"] for r in store.for_notebook("Untitled.ipynb")] == ["a", "x", "b"]
    assert store.for_notebook("analysis.ipynb") == []
    assert_chain_intact(path)


def test_a_read_only_old_store_is_still_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reviewer's read-only copy of an older store: read and verified, not migrated."""
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.executescript(OLD_SCHEMA)
        write_old_rows(connection, [record("k1", "s1", "a.ipynb", "a")])
    connect = sqlite3.connect

    def read_only(database: Path, **options: Any) -> sqlite3.Connection:
        return connect(f"file:{database}?mode=ro", uri=True, **options)

    monkeypatch.setattr(sqlite3, "connect", read_only)
    store = ProvenanceStore(path)
    assert [r.record["cell_id"] for r in store.for_notebook("a.ipynb")] == ["a"]
    assert store.aliases() == {} and store.verify() == []
    with pytest.raises(PermissionError, match="read-only store of an older version"):
        store.alias("k1", "b.ipynb")
    monkeypatch.undo()
    with connect(path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == 0
