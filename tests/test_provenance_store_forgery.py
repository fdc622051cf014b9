"""``jupyter qsecure provenance NB --store STORE`` against an honest store and a notebook
whose provenance was edited to hide what the store recorded: the timeline of a session
with an entry removed and the counts renumbered (a cell run twice, an execution from a
console), a cell's record without its count (an out-of-order run), the chain head moved
back. The verdict alone trusts the file and passes each; the store check must not. Last,
the same through a real server: its saved notebook passes, the edited copy does not."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from conftest import as_notebook, code_cell
from kernel_client import execute, save_notebook, start_session
from qsecure_cli import run_qsecure
from test_provenance_hidden_state import console_execute

from jupyter_qsecure.provenance import ProvenanceStore, embed_provenance
from jupyter_qsecure.signing.canonical import outputs_digest, source_digest

#: (cell id or None for a console, source): run in this order in one kernel session.
Run = tuple[str | None, str]


def _outputs(source: str) -> list[dict[str, Any]]:
    return [{"output_type": "stream", "name": "stdout", "text": f"{source}\n"}]


def recorded(tmp_path: Path, runs: list[Run], cells: list[tuple[str, str]]) -> tuple[Path, dict]:
    """A store holding ``runs`` (session s1 of nb.ipynb) and the notebook of ``cells``
    (id, source) saved after them, its provenance embedded as a save embeds it."""
    store = ProvenanceStore(tmp_path / "p.sqlite")
    shown: dict[str, int] = {}
    for count, (cell_id, source) in enumerate(runs, 1):
        store.append(
            {
                "kind": "execution",
                "record_id": str(uuid.uuid4()),
                "kernel_session": "s1",
                "notebook": "nb.ipynb",
                "cell_id": cell_id,
                "execution_count": count,
                "code_sha256": source_digest(source),
                "outputs_digest": outputs_digest(_outputs(source)),
                "status": "ok",
            }
        )
        if cell_id:
            shown[cell_id] = count
    notebook: dict[str, Any] = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [
            {
                "cell_type": "code",
                "id": cell_id,
                "metadata": {},
                "source": source,
                "outputs": _outputs(source),
                "execution_count": shown.get(cell_id),
            }
            for cell_id, source in cells
        ],
    }
    embed_provenance(notebook, store.for_notebook("nb.ipynb"))
    return store.path, notebook


def judged(tmp_path: Path, store: Path, notebook: dict[str, Any]) -> tuple[Any, Any]:
    """The verdict from the file alone (JSON), and the run with ``--store``."""
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(notebook))
    alone = run_qsecure("provenance", str(path), "--format", "json", cwd=tmp_path)
    return json.loads(alone.stdout), run_qsecure(
        "provenance", str(path), "--store", str(store), cwd=tmp_path
    )


def provenance(notebook: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = notebook["metadata"]["qsecure"]["provenance"]
    return result


def renumber(notebook: dict[str, Any], drop: int) -> None:
    """Remove timeline entry ``drop`` and number the rest 1, 2, ... (no count gap)."""
    timeline = provenance(notebook)["timeline"]
    del timeline[drop]
    for count, entry in enumerate(timeline, 1):
        entry["execution_count"] = count


def test_an_honest_notebook_passes(tmp_path: Path) -> None:
    store, notebook = recorded(tmp_path, [("a", "1"), ("b", "2")], [("a", "1"), ("b", "2")])
    verdict, result = judged(tmp_path, store, notebook)
    assert verdict["ok"] and not verdict["hidden_state"]
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_second_run_removed_from_the_timeline(tmp_path: Path) -> None:
    store, notebook = recorded(
        tmp_path, [("a", "x += 1"), ("a", "x += 1"), ("b", "x")], [("a", "x += 1"), ("b", "x")]
    )
    verdict, _ = judged(tmp_path, store, notebook)
    assert any("ran 2 times" in finding for finding in verdict["hidden_state"])
    renumber(notebook, 0)
    verdict, result = judged(tmp_path, store, notebook)
    assert verdict["ok"] and not verdict["hidden_state"]  # the file alone cannot tell
    assert result.returncode == 1, result.stdout
    assert "missing from the notebook's timeline" in result.stdout
    assert "differs from the store's (execution_count)" in result.stdout


def test_a_console_execution_removed_from_the_timeline(tmp_path: Path) -> None:
    store, notebook = recorded(
        tmp_path, [("a", "x = 1"), (None, "x = 2"), ("b", "x")], [("a", "x = 1"), ("b", "x")]
    )
    verdict, _ = judged(tmp_path, store, notebook)
    assert any("with no cell" in finding for finding in verdict["hidden_state"])
    renumber(notebook, 1)  # cell b still shows In [3], as its record says
    verdict, result = judged(tmp_path, store, notebook)
    assert verdict["ok"] and not verdict["hidden_state"]
    assert result.returncode == 1, result.stdout
    assert "missing from the notebook's timeline" in result.stdout


def test_a_count_removed_from_a_cell_record(tmp_path: Path) -> None:
    store, notebook = recorded(
        tmp_path, [("b", "y = 1"), ("a", "x = 1")], [("a", "x = 1"), ("b", "y = 1")]
    )
    verdict, _ = judged(tmp_path, store, notebook)
    assert verdict["out_of_order"]
    for cell in notebook["cells"]:
        del cell["metadata"]["qsecure"]["execution"]["execution_count"]
    verdict, result = judged(tmp_path, store, notebook)
    assert verdict["ok"] and not verdict["out_of_order"]
    assert result.returncode == 1, result.stdout
    assert "differs from the store's (execution_count)" in result.stdout


def test_the_chain_head_moved_back(tmp_path: Path) -> None:
    runs: list[Run] = [("a", "1"), ("b", "2"), ("a", "3")]
    store, notebook = recorded(tmp_path, runs, [("a", "3"), ("b", "2")])
    rows = list(ProvenanceStore(store).records())
    provenance(notebook)["chain_head"] = rows[1].hash
    _, result = judged(tmp_path, store, notebook)
    assert result.returncode == 1, result.stdout
    assert "after the notebook's chain head" in result.stdout


def test_runs_after_the_save_are_not_missing(tmp_path: Path) -> None:
    store, notebook = recorded(tmp_path, [("a", "1"), ("b", "2")], [("a", "1"), ("b", "2")])
    ProvenanceStore(store).append(
        {
            "kind": "execution",
            "record_id": str(uuid.uuid4()),
            "kernel_session": "s1",
            "notebook": "nb.ipynb",
            "cell_id": "a",
            "execution_count": 3,
            "code_sha256": source_digest("1"),
            "outputs_digest": outputs_digest(_outputs("1")),
            "status": "ok",
        }
    )
    _, result = judged(tmp_path, store, notebook)
    assert result.returncode == 0, result.stdout


async def test_a_saved_notebook_passes_and_its_edited_copy_does_not(
    store_path: Path, jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path
) -> None:
    _, _, client = await start_session(jp_fetch, jp_serverapp, "real.ipynb")
    try:
        await execute(client, "n = 0", "init")
        await execute(client, "n += 1", "bump")
        await console_execute(client, "n += 40")
        bumped = await execute(client, "n += 1", "bump")
        shown = await execute(client, "print(n)", "show")
    finally:
        client.stop_channels()
    notebook = as_notebook(
        code_cell("init", "n = 0", [], 1),
        code_cell("bump", "n += 1", bumped, 4),
        code_cell("show", "print(n)", shown, 5),
    )
    await save_notebook(jp_fetch, "real.ipynb", notebook)
    path = jp_root_dir / "real.ipynb"
    saved = json.loads(path.read_text())
    honest = run_qsecure("provenance", str(path), "--store", str(store_path), cwd=jp_root_dir)
    assert honest.returncode == 0, honest.stdout + honest.stderr
    assert "store: every record and the chain head are in" in honest.stdout
    # hide the first run of "bump" and the console's execution; count the rest 1, 2, 3 ...
    timeline = provenance(saved)["timeline"]
    del timeline[1:3]
    for cell, count in zip(saved["cells"], (1, 2, 3), strict=True):
        cell["execution_count"] = count
        del cell["metadata"]["qsecure"]["execution"]["execution_count"]
    for entry, count in zip(timeline, (1, 2, 3), strict=True):
        entry["execution_count"] = count
    path.write_text(json.dumps(saved))
    verdict, result = judged(jp_root_dir, store_path, saved)
    assert verdict["ok"] and not verdict["hidden_state"] and not verdict["out_of_order"]
    assert result.returncode == 1, result.stdout
    assert "executions missing from the notebook's timeline" in result.stdout


def _limit_policy(tmp_path: Path, limit: int) -> dict[str, str]:
    """The environment naming a trusted policy whose timeline keeps ``limit`` entries."""
    policy = tmp_path / "qsecure.toml"
    policy.write_text(f"[provenance]\ntimeline_limit = {limit}\n")
    policy.chmod(0o600)
    return {"QSECURE_CONFIG": str(policy)}


def test_a_timeline_truncated_by_its_limit_passes(tmp_path: Path) -> None:
    runs: list[Run] = [("a", "1"), ("b", "2"), ("a", "3"), ("b", "4"), ("a", "5")]
    store, notebook = recorded(tmp_path, runs, [("a", "5"), ("b", "4")])
    records = ProvenanceStore(store).for_notebook("nb.ipynb")
    notebook["metadata"] = {}
    embed_provenance(notebook, records, timeline_limit=3)
    assert provenance(notebook)["timeline_truncated"] is True
    assert len(provenance(notebook)["timeline"]) == 3
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(notebook))
    env = _limit_policy(tmp_path, 3)
    result = run_qsecure("provenance", str(path), "--store", str(store), cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_first_runs_removed_and_the_timeline_marked_truncated(tmp_path: Path) -> None:
    """Removing the first runs and setting ``timeline_truncated`` excused their absence
    from the store check: a truncated timeline keeps the limit's number of entries."""
    store, notebook = recorded(
        tmp_path, [("a", "x = 1"), ("a", "x = 2"), ("b", "x")], [("a", "x = 2"), ("b", "x")]
    )
    verdict, _ = judged(tmp_path, store, notebook)
    assert any("ran 2 times" in finding for finding in verdict["hidden_state"])
    del provenance(notebook)["timeline"][0]
    provenance(notebook)["timeline_truncated"] = True
    verdict, result = judged(tmp_path, store, notebook)
    assert verdict["ok"] and not verdict["hidden_state"]  # the file alone cannot tell
    assert result.returncode == 1, result.stdout
    assert "marked truncated but holds 2 entries, fewer than the limit of 500" in result.stdout
    assert "the store holds 1 earlier executions" in result.stdout
    # The same with the policy's own limit.
    path = tmp_path / "nb.ipynb"
    env = _limit_policy(tmp_path, 2)
    result = run_qsecure("provenance", str(path), "--store", str(store), cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout  # 2 entries is what a limit of 2 keeps


async def test_a_file_hash_rewritten_in_the_notebook_differs_from_the_store(
    store_path: Path, jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path
) -> None:
    """The data a cell read changed after the run; whoever changed it wrote the new hash
    into the cell's record in the notebook, and the verdict said nothing changed. The
    store holds the hash the run recorded: --store compared the counts and digests of
    a cell's record, not its files, and passed."""
    import hashlib

    (jp_root_dir / "counts.csv").write_text("shots,counts\n1024,512\n")
    source = "print(open('counts.csv').read().splitlines()[1])"
    _, _, client = await start_session(jp_fetch, jp_serverapp, "files.ipynb")
    try:
        shown = await execute(client, source, "a")
    finally:
        client.stop_channels()
    await save_notebook(jp_fetch, "files.ipynb", as_notebook(code_cell("a", source, shown, 1)))
    path = jp_root_dir / "files.ipynb"
    honest = run_qsecure("provenance", str(path), "--store", str(store_path), cwd=jp_root_dir)
    assert honest.returncode == 0, honest.stdout + honest.stderr
    (jp_root_dir / "counts.csv").write_text("shots,counts\n1024,1000\n")
    saved = json.loads(path.read_text())
    (read,) = saved["cells"][0]["metadata"]["qsecure"]["execution"]["files"]["read"]
    read["sha256"] = hashlib.sha256((jp_root_dir / "counts.csv").read_bytes()).hexdigest()
    verdict, result = judged(jp_root_dir, store_path, saved)
    assert verdict["ok"] and not verdict["files_changed"]  # the file alone cannot tell
    assert result.returncode == 1, result.stdout
    assert "differs from the store's (files)" in result.stdout
