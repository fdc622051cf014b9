"""What provenance embeds into a save comes after the guard's scan, so it must never carry
a credential: a cell that reads a token from a file and passes it on (an environment
assignment in ``os.system``, a file named after it) leaves a notebook that, saved through
a real server with a real kernel, holds no trace of the token, nor does the provenance
panel's answer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import as_notebook, code_cell
from kernel_client import (
    execute,
    save_notebook,
    start_session,
    unsaved_provenance,
    wait_for_records,
)

#: Cells passing on a token read from a file, by what provenance records of them.
PASSED_ON = {
    "environment assignment": "os.system(f'GH_TOKEN={token} GIT_ASKPASS=true true')",
    "env program": "os.system(f'env GH_TOKEN={token} true')",
    "file named after it": "open(f'cache-{token}.json', 'w').write('{}')",
}
#: Recorded as they are, in the store (outside the served tree): only what is embedded
#: into the notebook is masked.
STORED_AS_RECORDED = {"file named after it"}
LOAD = "import os\ntoken = open('.token').read()"


@pytest.mark.slow
@pytest.mark.parametrize("case", list(PASSED_ON))
async def test_no_credential_is_embedded_with_provenance(
    store_path: Path,
    jp_fetch: Any,
    jp_serverapp: Any,
    jp_root_dir: Path,
    github_token: str,
    case: str,
) -> None:
    (jp_root_dir / ".token").write_text(github_token)
    _, _, client = await start_session(jp_fetch, jp_serverapp, "deploy.ipynb")
    try:
        await execute(client, LOAD, "load")
        await execute(client, PASSED_ON[case], "run")
    finally:
        client.stop_channels()
    wait_for_records(store_path, 2)
    cells = [code_cell("load", LOAD, [], 1), code_cell("run", PASSED_ON[case], [], 2)]
    # the provenance panel embeds the same records into the editor's copy
    panel = await unsaved_provenance(jp_fetch, "deploy.ipynb", as_notebook(*cells))
    assert panel and github_token not in json.dumps(panel)
    await save_notebook(jp_fetch, "deploy.ipynb", as_notebook(*cells))
    saved = (jp_root_dir / "deploy.ipynb").read_text()
    assert "qsecure" in json.loads(saved)["cells"][1]["metadata"]  # provenance embedded
    assert github_token not in saved
    stored = [p for p in store_path.parent.glob(store_path.name + "*") if p.is_file()]
    holding = [p for p in stored if github_token.encode() in p.read_bytes()]
    assert stored and bool(holding) == (case in STORED_AS_RECORDED)


@pytest.mark.slow
async def test_a_deleted_cells_first_line_is_embedded_masked(
    store_path: Path, jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path, github_token: str
) -> None:
    """A cell run with a token in it and then deleted: the guard scans the notebook as
    saved (no such cell); the timeline embedded after the scan names the deleted cell by
    its first line, masked."""
    leaking = f"token = '{github_token}'"
    _, _, client = await start_session(jp_fetch, jp_serverapp, "cleaned.ipynb")
    try:
        await execute(client, leaking, "leak")
        await execute(client, "x = 1", "kept")
    finally:
        client.stop_channels()
    wait_for_records(store_path, 2)
    await save_notebook(jp_fetch, "cleaned.ipynb", as_notebook(code_cell("kept", "x = 1", [], 2)))
    saved = (jp_root_dir / "cleaned.ipynb").read_text()
    timeline = json.loads(saved)["metadata"]["qsecure"]["provenance"]["timeline"]
    assert any(entry.get("cell_id") == "leak" for entry in timeline)
    assert github_token not in saved
