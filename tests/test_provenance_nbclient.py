"""Provenance with real kernels outside a server (`jupyter execute`, nbclient) and the
hidden-state verdict after a real restart through the server's REST API."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import nbformat
import pytest
from kernel_client import connect, execute, start_session, wait_for_records
from qsecure_cli import run_qsecure

from jupyter_qsecure.provenance import ProvenanceStore
from jupyter_qsecure.signing.canonical import source_digest

JUPYTER = str(Path(sys.executable).parent / "jupyter")
TIMEOUT = 60  # seconds: any one kernel start, cell or command

pytestmark = pytest.mark.slow  # real kernels, each test several seconds


def headless_env(tmp_path: Path, store: Path) -> dict[str, str]:
    """The environment of a run outside a server: the provisioner selected, a policy that
    names the store (and grants no secret), the notebook named."""
    policy = tmp_path / "policy" / "qsecure.toml"
    policy.parent.mkdir(exist_ok=True)
    policy.write_text(f"[provenance]\nstore = {json.dumps(str(store))}\n", encoding="utf-8")
    return {
        **os.environ,
        "QSECURE_CONFIG": str(policy),
        "JUPYTER_DEFAULT_PROVISIONER_NAME": "qsecure-provisioner",
        "QSECURE_NOTEBOOK": "experiments/run.ipynb",
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
    }


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


SOURCES = [
    "rows = open('input.csv').read().splitlines()\nprint(len(rows))",
    "with open('out/counts.txt', 'w') as f:\n    f.write('00: 512\\n11: 512\\n')",
    "1 / 0",
    "import random\nrandom.seed(7)\nprint('after the error')",
]


def write_project(root: Path) -> Path:
    """``experiments/run.ipynb`` (3 ok cells, one error, a markdown cell) and its input."""
    folder = root / "experiments"
    (folder / "out").mkdir(parents=True)
    (folder / "input.csv").write_text("shots,counts\n1024,512\n", encoding="utf-8")
    cells = [nbformat.v4.new_markdown_cell("# Bell state")]
    cells += [nbformat.v4.new_code_cell(source) for source in SOURCES]
    path = folder / "run.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    return path


def check_records(root: Path, store: Path) -> list[dict[str, Any]]:
    """One record per code cell, in order, with statuses, files and hashes right."""
    folder = root / "experiments"
    records = wait_for_records(store, len(SOURCES))
    assert len(records) == len(SOURCES)
    assert [r["code_sha256"] for r in records] == [source_digest(s) for s in SOURCES]
    assert [r["status"] for r in records] == ["ok", "ok", "error", "ok"]
    assert [r["execution_count"] for r in records] == [1, 2, 3, 4]
    assert records[2]["ename"] == "ZeroDivisionError"
    assert {r["notebook"] for r in records} == {"experiments/run.ipynb"}
    assert len({r["kernel_session"] for r in records}) == 1
    # Paths are relative to the kernel's folder, the notebook's (nbclient starts it there).
    [read] = records[0]["files"]["read"]
    assert read == {
        "path": "input.csv",
        "size": (folder / "input.csv").stat().st_size,
        "sha256": sha256(folder / "input.csv"),
    }
    [written] = records[1]["files"]["written"]
    assert written["path"] == os.path.join("out", "counts.txt")
    assert written["sha256"] == sha256(folder / "out" / "counts.txt")
    assert written["sha256"] == hashlib.sha256(b"00: 512\n11: 512\n").hexdigest()
    assert records[1]["files"]["read"] == []
    assert records[3]["seeds"] == [{"source": "random.seed", "value": "7"}]
    for record in records:
        assert record["outputs_digest"].startswith("sha256:")
        assert record["ended"] >= record["started"]
    [environment] = wait_for_records(store, 1, kind="environment")
    assert environment["kernel_session"] == records[0]["kernel_session"]
    assert environment["environment"]["digest"].startswith("sha256:")
    assert ProvenanceStore(store).verify() == []
    return records


def test_jupyter_execute_records_every_cell(tmp_path: Path) -> None:
    root = tmp_path / "project"
    write_project(root)
    store = tmp_path / "store" / "provenance.sqlite"
    result = subprocess.run(
        [
            JUPYTER,
            "execute",
            "--allow-errors",
            "--inplace",
            f"--timeout={TIMEOUT}",
            f"--startup_timeout={TIMEOUT}",
            "experiments/run.ipynb",
        ],
        cwd=root,
        env=headless_env(tmp_path, store),
        capture_output=True,
        text=True,
        timeout=4 * TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    executed = nbformat.read(root / "experiments" / "run.ipynb", as_version=4)
    assert executed.cells[3].outputs[0]["ename"] == "ZeroDivisionError"
    assert executed.cells[4].outputs[0]["text"] == "after the error\n"
    check_records(root, store)

    log = run_qsecure("provenance", "log", "--verify", "--store", str(store), cwd=root)
    assert log.returncode == 0, log.stderr
    assert "chain intact" in log.stderr
    assert log.stdout.count("experiments/run.ipynb") == len(SOURCES) + 1  # + environment
    assert "] error" in log.stdout


def test_nbclient_records_every_cell(tmp_path: Path) -> None:
    """nbclient's API, as papermill and CI scripts use it (in its own process: the
    provisioner's settings are per process)."""
    root = tmp_path / "project"
    write_project(root)
    store = tmp_path / "store" / "provenance.sqlite"
    script = textwrap.dedent(
        f"""
        import nbformat
        from nbclient import NotebookClient

        nb = nbformat.read("experiments/run.ipynb", as_version=4)
        NotebookClient(
            nb,
            kernel_name="python3",
            allow_errors=True,
            timeout={TIMEOUT},
            startup_timeout={TIMEOUT},
            resources={{"metadata": {{"path": "experiments"}}}},
        ).execute()
        print(nb.cells[3].outputs[0]["ename"])
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=root,
        env=headless_env(tmp_path, store),
        capture_output=True,
        text=True,
        timeout=4 * TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ZeroDivisionError"
    check_records(root, store)


# -- hidden state after a restart, through a real server ---------------------------------------


async def test_restart_between_cells_is_hidden_state(
    store_path: Path, jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path
) -> None:
    _, kernel_id, client = await start_session(jp_fetch, jp_serverapp, "restart.ipynb")
    try:
        first = await execute(client, "x = 21\nprint(x)", "cell-a")
    finally:
        client.stop_channels()
    await asyncio.to_thread(wait_for_records, store_path, 1)

    await asyncio.wait_for(
        jp_fetch("api", "kernels", kernel_id, "restart", method="POST", body="{}"), TIMEOUT
    )
    client = await connect(jp_serverapp, kernel_id)
    try:
        second = await execute(client, "y = 2\nprint(y)", "cell-b")
    finally:
        client.stop_channels()
    records = await asyncio.to_thread(wait_for_records, store_path, 2)
    by_cell = {r["cell_id"]: r for r in records}
    assert by_cell["cell-a"]["kernel_id"] == by_cell["cell-b"]["kernel_id"] == kernel_id
    assert by_cell["cell-a"]["kernel_session"] != by_cell["cell-b"]["kernel_session"]
    assert by_cell["cell-a"]["execution_count"] == by_cell["cell-b"]["execution_count"] == 1

    # A's outputs from the first session, B's from the second, as JupyterLab keeps them.
    cells = [
        nbformat.v4.new_code_cell("x = 21\nprint(x)", id="cell-a", execution_count=1),
        nbformat.v4.new_code_cell("y = 2\nprint(y)", id="cell-b", execution_count=1),
    ]
    cells[0].outputs, cells[1].outputs = first, second
    notebook = nbformat.v4.new_notebook(cells=cells)
    await jp_fetch(
        "api",
        "contents",
        "restart.ipynb",
        method="PUT",
        body=json.dumps({"type": "notebook", "content": notebook}),
    )
    saved = json.loads((jp_root_dir / "restart.ipynb").read_text(encoding="utf-8"))
    provenance = saved["metadata"]["qsecure"]["provenance"]
    assert provenance["kernel_session"] == by_cell["cell-b"]["kernel_session"]
    assert [c["metadata"]["qsecure"]["execution"]["kernel_session"] for c in saved["cells"]] == [
        by_cell["cell-a"]["kernel_session"],
        by_cell["cell-b"]["kernel_session"],
    ]

    expected = (
        "cell 2 ran in the latest kernel session, after cell 1 last ran in an earlier one "
        "(a restart): it may rely on state that session no longer had"
    )
    result = run_qsecure("provenance", str(jp_root_dir / "restart.ipynb"), cwd=jp_root_dir)
    assert "cell 1 (cell-a): executed as shown" in result.stdout, result.stdout + result.stderr
    assert "cell 2 (cell-b): executed as shown" in result.stdout
    assert f"hidden state: {expected}" in result.stdout.splitlines()
    # Hidden state is a finding, not a cell verdict: every cell is still executed as shown.
    assert result.returncode == 0
    report = run_qsecure(
        "provenance", str(jp_root_dir / "restart.ipynb"), "--format=json", cwd=jp_root_dir
    )
    assert json.loads(report.stdout)["hidden_state"] == [expected]
