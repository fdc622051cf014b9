"""A notebook's identity in a store shared by every project of one user: two projects
that both have ``analysis.ipynb`` do not share records (the absolute path tells them
apart), and rows written before it was recorded are still found by the path alone."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from conftest import as_notebook, code_cell
from kernel_client import execute, save_notebook, saved_content, start_session

from jupyter_qsecure.provenance import ProvenanceStore, judge


def row(session: str, cell: str, absolute: str | None, kernel: str = "k") -> dict[str, Any]:
    return {
        "kind": "execution",
        "record_id": str(uuid.uuid4()),
        "kernel_session": session,
        "kernel_id": kernel,
        "notebook": "analysis.ipynb",
        "notebook_path": absolute,
        "cell_id": cell,
        "execution_count": 1,
    }


def test_two_projects_with_one_name(tmp_path: Path) -> None:
    store = ProvenanceStore(tmp_path / "p.sqlite")
    store.append(row("sa", "a", "/projects/a/analysis.ipynb", "ka"))
    store.append(row("sb", "b", "/projects/b/analysis.ipynb", "kb"))
    store.append(row("old", "legacy", None, "kold"))  # written before the absolute path
    mine = store.for_notebook("analysis.ipynb", "/projects/a/analysis.ipynb")
    assert [r.record["cell_id"] for r in mine] == ["a", "legacy"]
    theirs = store.for_notebook("analysis.ipynb", "/projects/b/analysis.ipynb")
    assert [r.record["cell_id"] for r in theirs] == ["b", "legacy"]
    # A rename in project A moves A's kernel only.
    store.alias("ka", "final.ipynb", "analysis.ipynb", absolute="/projects/a/final.ipynb")
    assert [
        r.record["cell_id"] for r in store.for_notebook("final.ipynb", "/projects/a/final.ipynb")
    ] == ["a"]
    assert [
        r.record["cell_id"] for r in store.for_notebook("final.ipynb", "/projects/b/final.ipynb")
    ] == []
    assert [
        r.record["cell_id"]
        for r in store.for_notebook("analysis.ipynb", "/projects/b/analysis.ipynb")
    ] == ["b", "legacy"]


async def test_another_projects_notebook_of_the_same_name_is_not_mixed_in(
    store_path: Path, jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path
) -> None:
    _, _, client = await start_session(jp_fetch, jp_serverapp, "analysis.ipynb")
    try:
        outputs = await execute(client, "print('a')", "mine")
    finally:
        client.stop_channels()
    # Another project's kernel, same user and store, same relative name, ran later.
    ProvenanceStore(store_path).append(
        dict(row("other-session", "theirs", "/elsewhere/analysis.ipynb", "kother"))
    )
    await save_notebook(
        jp_fetch, "analysis.ipynb", as_notebook(code_cell("mine", "print('a')", outputs, 1))
    )
    saved = await saved_content(jp_fetch, "analysis.ipynb")
    provenance = saved["metadata"]["qsecure"]["provenance"]
    assert "other-session" not in provenance["sessions"]
    assert {e["cell_id"] for e in provenance["timeline"]} == {"mine"}
    records = [r.record for r in ProvenanceStore(store_path).records()]
    [ours] = [r for r in records if r.get("cell_id") == "mine"]
    assert ours["notebook_path"] == str(jp_root_dir.resolve() / "analysis.ipynb")
    verdict = judge(saved, jp_root_dir)
    assert verdict.ok and verdict.hidden_state == [], verdict.to_json()
