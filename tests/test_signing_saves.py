"""Saving a notebook whose content did not change never changes its signed view: a real
server, a real kernel, provenance embedding on. Sign, start a kernel on the notebook (a new
environment record, a new chain head), let the language patch version and the kernelspec's
display name drift as another machine would write them, save the unchanged notebook through
the contents API: still "signed and valid". Running a cell afterwards does break it."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest
from kernel_client import (
    execute,
    save_notebook,
    saved_content,
    start_session,
    wait_for_records,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen"),
]


@pytest.fixture
def signing_store(tmp_path: Path, provenance_policy: Callable[[str], Path]) -> Path:
    """Provenance on, a server key trusted as author; the store's path."""
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


async def status(jp_fetch: Any, path: str) -> dict[str, Any]:
    response = await jp_fetch("qsecure", "signature", params={"path": path})
    return dict(json.loads(response.body))


async def test_kernel_start_and_unchanged_saves_keep_the_signature(
    signing_store: Path, jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path
) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 6 * 7\nx", id="a")])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, jp_root_dir / "run.ipynb")

    # The author runs the cell and saves: provenance is embedded.
    session = await start_session(jp_fetch, jp_serverapp, "run.ipynb")
    try:
        outputs = await execute(session.client, "x = 6 * 7\nx", "a")
    finally:
        session.client.stop_channels()
    wait_for_records(signing_store, 1)
    content = await saved_content(jp_fetch, "run.ipynb")
    content["cells"][0].update(outputs=outputs, execution_count=1)
    content["metadata"]["language_info"] = {"name": "python", "version": "3.11.2"}
    await save_notebook(jp_fetch, "run.ipynb", content)
    await jp_fetch("api", "sessions", session.session_id, method="DELETE")

    response = await jp_fetch(
        "qsecure", "sign", method="POST", body=json.dumps({"path": "run.ipynb"})
    )
    assert json.loads(response.body)["status"] == "signed and valid"
    signed = await saved_content(jp_fetch, "run.ipynb")
    head = signed["metadata"]["qsecure"]["provenance"]["chain_head"]

    # The reviewer opens it: a new kernel starts (a new environment record and chain head).
    session = await start_session(jp_fetch, jp_serverapp, "run.ipynb")
    session.client.stop_channels()
    wait_for_records(signing_store, 2, kind="environment")
    reopened = await saved_content(jp_fetch, "run.ipynb")
    reopened["metadata"]["language_info"]["version"] = "3.11.9"  # another patch version
    reopened["metadata"]["language_info"]["pygments_lexer"] = "ipython3"
    reopened["metadata"]["kernelspec"]["display_name"] = "Python 3 (ipykernel)"
    await save_notebook(jp_fetch, "run.ipynb", reopened)
    resaved = await saved_content(jp_fetch, "run.ipynb")
    assert resaved["metadata"]["language_info"]["version"] == "3.11.9"
    answer = await status(jp_fetch, "run.ipynb")
    assert answer["status"] == "signed and valid" and answer["meets_policy"], answer
    # a second unchanged save changes nothing either
    await save_notebook(jp_fetch, "run.ipynb", resaved)
    assert (await status(jp_fetch, "run.ipynb"))["status"] == "signed and valid"
    # the save did rewrite the chain head (the kernel start's record): it is not signed
    provenance = (await saved_content(jp_fetch, "run.ipynb"))["metadata"]["qsecure"]["provenance"]
    assert provenance["chain_head"] != head

    # A change of what a reader sees (a cell's count) breaks it, naming the cell.
    await jp_fetch("api", "sessions", session.session_id, method="DELETE")
    changed = await saved_content(jp_fetch, "run.ipynb")
    changed["cells"][0]["execution_count"] = 2
    await save_notebook(jp_fetch, "run.ipynb", changed)
    answer = await status(jp_fetch, "run.ipynb")
    assert answer["status"] == "modified since signing"
    assert answer["signatures"][0]["changed_cells"] == ["a"]
