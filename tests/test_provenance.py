"""Provenance with real kernels started by a real server: records, the notebook carrying
them, the reviewer's verdict, the chain, concurrency, crashes, and no secret anywhere."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import nbformat
import pytest
from conftest import as_notebook, code_cell
from kernel_client import (
    execute,
    save_notebook,
    saved_content,
    start_session,
    wait_for_records,
    wait_until,
)
from qsecure_cli import run_qsecure

JUPYTER = str(Path(sys.executable).parent / "jupyter")


async def save(jp_fetch: Any, path: str, notebook: dict[str, Any]) -> dict[str, Any]:
    """Save ``notebook`` through the server; the content the server answers afterwards."""
    await save_notebook(jp_fetch, path, notebook)
    return await saved_content(jp_fetch, path)


def verdict(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``jupyter qsecure provenance PATH ARGS``, in process."""
    return run_qsecure("provenance", str(path), *args, cwd=path.parent)


async def test_records_embedding_and_verdict(
    store_with_secret: Path, jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path
) -> None:
    (jp_root_dir / "input.csv").write_text("shots,counts\n1024,512\n")
    _, _, client = await start_session(jp_fetch, jp_serverapp, "run.ipynb")
    sources = {
        "a": "import random\nrandom.seed(1234)\nrows = open('input.csv').read().splitlines()\nprint(len(rows))",
        "b": "with open('result.txt', 'w') as f:\n    f.write('bell state ok')\n'done'",
        "c": "1 / 0",
    }
    try:
        outputs = {
            cell_id: await execute(client, source, cell_id) for cell_id, source in sources.items()
        }
    finally:
        client.stop_channels()
    records = wait_for_records(store_with_secret, 3)
    by_cell = {r["cell_id"]: r for r in records}
    assert (
        by_cell["a"]["status"] == "ok"
        and by_cell["c"]["status"] == "error"
        and by_cell["c"]["ename"] == "ZeroDivisionError"
    )
    assert by_cell["a"]["seeds"] == [{"source": "random.seed", "value": "1234"}]
    [read] = by_cell["a"]["files"]["read"]
    assert (
        read["path"] == "input.csv"
        and read["sha256"] == hashlib.sha256((jp_root_dir / "input.csv").read_bytes()).hexdigest()
    )
    [written] = by_cell["b"]["files"]["written"]
    assert (
        written["path"] == "result.txt"
        and written["sha256"] == hashlib.sha256(b"bell state ok").hexdigest()
    )
    assert {r["notebook"] for r in records} == {"run.ipynb"}

    notebook = as_notebook(
        *(code_cell(cid, sources[cid], outputs[cid], i + 1) for i, cid in enumerate(sources))
    )
    saved = await save(jp_fetch, "run.ipynb", notebook)
    assert saved["metadata"]["qsecure"]["provenance"]["chain_head"].startswith("sha256:")
    assert [c["metadata"]["qsecure"]["execution"]["record_id"] for c in saved["cells"]] == [
        by_cell[c]["record_id"] for c in sources
    ]
    path = jp_root_dir / "run.ipynb"
    result = verdict(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "cell 1 (a): executed as shown" in result.stdout

    data = json.loads(path.read_text())
    data["cells"][1]["outputs"][0]["data"]["text/plain"] = ["'edited'"]
    data["cells"][0]["source"] = (
        data["cells"][0]["source"] + ["  # tweaked"]
        if isinstance(data["cells"][0]["source"], list)
        else data["cells"][0]["source"] + "  # tweaked"
    )
    path.write_text(json.dumps(data))
    (jp_root_dir / "input.csv").write_text("changed\n")
    result = verdict(path, "--format", "json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert [c["verdict"] for c in report["cells"]] == [
        "source edited after execution",
        "outputs changed after execution",
        "executed as shown",
    ]
    assert report["files_changed"] == ["input.csv: changed since the run read it"]

    refused = run_qsecure("attest", str(jp_root_dir / "run.ipynb"), cwd=jp_root_dir)
    assert refused.returncode == 1 and "provenance verdict is not clean" in refused.stderr
    statement = run_qsecure(
        "attest", str(jp_root_dir / "run.ipynb"), "--allow-failing", cwd=jp_root_dir
    )
    attestation = json.loads(statement.stdout)
    assert attestation["_type"] == "https://in-toto.io/Statement/v1"
    assert attestation["predicateType"] == "https://slsa.dev/provenance/v1"
    assert {"name": "result.txt", "digest": {"sha256": written["sha256"]}} in attestation["subject"]


async def test_out_of_order_and_deleted_cells(
    store_with_secret: Path, jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path
) -> None:
    _, _, client = await start_session(jp_fetch, jp_serverapp, "order.ipynb")
    try:
        second = await execute(client, "x = 2", "second")
        helper = await execute(client, "y = 40", "helper")
        first = await execute(client, "x = 1\nprint(x + y)", "first")
    finally:
        client.stop_channels()
    wait_for_records(store_with_secret, 3)
    assert helper == [] and second == []
    notebook = as_notebook(
        code_cell("first", "x = 1\nprint(x + y)", first, 3), code_cell("second", "x = 2", second, 1)
    )
    await save(jp_fetch, "order.ipynb", notebook)
    report = json.loads(verdict(jp_root_dir / "order.ipynb", "--format=json").stdout)
    assert report["out_of_order"] == ["cell 2 ran (count 1) before the cell above it (count 3)"]
    assert report["hidden_state"] == [
        'a cell ("y = 40", id helper) ran in this session and was deleted: later cells may'
        " rely on what it did"
    ]


async def test_no_secret_in_any_record(
    store_with_secret: Path,
    jp_fetch: Any,
    jp_serverapp: Any,
    jp_root_dir: Path,
) -> None:
    # The fixture's value, set before the server started: the server reads env://
    # sources ahead at its start, so a value set here would not be the kernel's.
    token = os.environ["LAB_TOKEN_SOURCE"]
    _, _, client = await start_session(jp_fetch, jp_serverapp, "secret.ipynb")
    source = (
        "import os, subprocess, jupyter_qsecure\n"
        "t = os.environ['LAB_TOKEN']\n"
        "print(t)\n"
        "open(f'out-{t}.txt', 'w').write('x')\n"
        "subprocess.run(['echo', t], capture_output=True)\n"
        "jupyter_qsecure.note(calibration=t)\n"
        "t"
    )
    try:
        outputs = await execute(client, source, "s")
    finally:
        client.stop_channels()
    wait_for_records(store_with_secret, 1)
    wait_for_records(store_with_secret, 1, kind="environment")
    assert "[secret:LAB_TOKEN]" in json.dumps(outputs)
    dump = store_with_secret.read_bytes() + b"".join(
        p.read_bytes() for p in store_with_secret.parent.glob("provenance.sqlite-*")
    )
    assert token.encode() not in dump
    saved = await save(jp_fetch, "secret.ipynb", as_notebook(code_cell("s", source, outputs, 1)))
    assert token not in json.dumps(saved)
    record = saved["cells"][0]["metadata"]["qsecure"]["execution"]
    assert "out-[secret:LAB_TOKEN].txt" in [entry["path"] for entry in record["files"]["written"]]
    assert record["notes"] == {"calibration": "[secret:LAB_TOKEN]"}


@pytest.mark.slow
async def test_two_kernels_at_once_keep_one_chain(
    store_with_secret: Path, jp_fetch: Any, jp_serverapp: Any
) -> None:
    clients = [
        (await start_session(jp_fetch, jp_serverapp, f"k{n}.ipynb")).client for n in range(2)
    ]

    async def run_cells(n: int, client: Any) -> None:
        for i in range(15):
            await execute(client, f"{n} + {i}", f"c{n}-{i}")

    try:
        await asyncio.gather(*(run_cells(n, client) for n, client in enumerate(clients)))
    finally:
        for client in clients:
            client.stop_channels()
    wait_for_records(store_with_secret, 30)
    result = run_qsecure(
        "provenance",
        "log",
        "--verify",
        "--store",
        str(store_with_secret),
        cwd=store_with_secret.parent,
    )
    assert result.returncode == 0, result.stderr
    assert "chain intact" in result.stderr


async def test_crash_mid_cell_leaves_a_valid_chain(
    store_with_secret: Path, jp_fetch: Any, jp_serverapp: Any
) -> None:
    _, kernel_id, client = await start_session(jp_fetch, jp_serverapp, "crash.ipynb")
    process = jp_serverapp.kernel_manager.get_kernel(kernel_id).provisioner.process
    try:
        await execute(client, "a = 1", "before")
        wait_for_records(store_with_secret, 1)
        content = {"code": "import os; os._exit(1)", "silent": False}
        client.shell_channel.send(
            client.session.msg("execute_request", content, metadata={"cellId": "crash"})
        )
        await wait_until(lambda: process.poll() is not None, "the kernel to exit mid-cell")
    finally:
        client.stop_channels()
    from jupyter_qsecure.provenance import ProvenanceStore

    store = ProvenanceStore(store_with_secret)
    assert store.verify() == []
    assert [r.record["cell_id"] for r in store.records() if r.record["kind"] == "execution"] == [
        "before"
    ]


def test_tampering_is_reported_by_position(tmp_path: Path) -> None:
    from jupyter_qsecure.provenance import ProvenanceStore

    store = ProvenanceStore(tmp_path / "p.sqlite")
    for index in range(5):
        store.append(
            {
                "kind": "execution",
                "record_id": str(uuid.uuid4()),
                "kernel_session": "s",
                "cell_id": f"c{index}",
                "status": "ok",
            }
        )
    assert store.verify() == []
    with sqlite3.connect(store.path) as connection:
        connection.execute(
            "UPDATE records SET body = replace(body, '\"ok\"', '\"error\"') WHERE seq = 2"
        )
    result = run_qsecure(
        "provenance", "log", "--verify", "--store", str(store.path), cwd=store.path.parent
    )
    assert result.returncode == 1
    assert "row 2 (seq 2) was edited after it was written" in result.stderr
    with sqlite3.connect(store.path) as connection:
        connection.execute("DELETE FROM records WHERE seq = 4")
    problems = store.verify()
    assert [(p.position, p.problem.split(" (")[0]) for p in problems] == [
        (2, "was edited after it was written"),
        (4, "does not follow the row before it"),
    ]


def test_verdict_bad_input(tmp_path: Path) -> None:
    (tmp_path / "bad.ipynb").write_text("{nope")
    result = verdict(tmp_path / "bad.ipynb")
    assert (
        result.returncode == 2
        and "bad.ipynb: not a notebook" in result.stderr
        and "Traceback" not in result.stderr
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    nbformat.write(nb, tmp_path / "plain.ipynb")
    result = verdict(tmp_path / "plain.ipynb")
    assert (
        result.returncode == 1
        and "cell 1" in result.stdout
        and "never executed in a recorded session" in result.stdout
    )


@pytest.mark.slow
def test_load_ext_by_hand_records_later_cells(tmp_path: Path) -> None:
    """`%load_ext jupyter_qsecure` in a kernel started without the provisioner."""
    store = tmp_path / "by-hand.sqlite"
    cells = [
        nbformat.v4.new_code_cell("%load_ext jupyter_qsecure", id="load"),
        nbformat.v4.new_code_cell("print(6 * 7)", id="answer"),
    ]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), tmp_path / "hand.ipynb")
    env = {
        k: v for k, v in __import__("os").environ.items() if k != "JUPYTER_DEFAULT_PROVISIONER_NAME"
    }
    env["QSECURE_PROVENANCE_STORE"] = str(store)
    result = subprocess.run(
        [JUPYTER, "execute", "--inplace", "hand.ipynb"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    [record] = wait_for_records(store, 1)
    assert record["status"] == "ok"  # nbclient sends no cell ids: JupyterLab does
    saved = nbformat.read(tmp_path / "hand.ipynb", as_version=4)
    from jupyter_qsecure.signing.canonical import outputs_digest

    assert record["outputs_digest"] == outputs_digest(saved.cells[1].outputs)


async def test_a_file_written_twice_is_attested_as_last_written(
    store_with_secret: Path, jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path
) -> None:
    """The statement's subject for a file two cells wrote is the content the run left
    (the later write), not the first cell's in notebook order: a draft the first cell
    wrote was attested as the run's product, and the file the run left was not."""
    _, _, client = await start_session(jp_fetch, jp_serverapp, "twice.ipynb")
    draft = "open('result.txt', 'w').write('draft')"
    final = "import time\ntime.sleep(0.5)\nopen('result.txt', 'w').write('final')"
    try:
        outputs = [await execute(client, draft, "draft"), await execute(client, final, "final")]
    finally:
        client.stop_channels()
    await save(
        jp_fetch,
        "twice.ipynb",
        as_notebook(
            code_cell("draft", draft, outputs[0], 1), code_cell("final", final, outputs[1], 2)
        ),
    )
    saved = json.loads((jp_root_dir / "twice.ipynb").read_text())
    written = [c["metadata"]["qsecure"]["execution"]["files"]["written"][0] for c in saved["cells"]]
    assert written[0]["sha256"] == hashlib.sha256(b"draft").hexdigest()  # hashed before
    statement = run_qsecure("attest", str(jp_root_dir / "twice.ipynb"), cwd=jp_root_dir)
    assert statement.returncode == 0, statement.stderr
    subjects = json.loads(statement.stdout)["subject"]
    assert [s for s in subjects if s["name"] == "result.txt"] == [
        {"name": "result.txt", "digest": {"sha256": hashlib.sha256(b"final").hexdigest()}}
    ]
    # A clock set back between the cells (the later one ended "earlier") changes nothing.
    records = [c["metadata"]["qsecure"]["execution"] for c in saved["cells"]]
    records[0]["ended"], records[1]["ended"] = records[1]["ended"], records[0]["ended"]
    (jp_root_dir / "twice.ipynb").write_text(json.dumps(saved))
    statement = run_qsecure("attest", str(jp_root_dir / "twice.ipynb"), cwd=jp_root_dir)
    subjects = json.loads(statement.stdout)["subject"]
    assert [s["digest"]["sha256"] for s in subjects if s["name"] == "result.txt"] == [
        hashlib.sha256(b"final").hexdigest()
    ]


async def test_a_module_imported_from_its_bytecode_cache_names_its_source(
    store_with_secret: Path, jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path
) -> None:
    """Python imports a module whose ``__pycache__`` is current from the cache alone: the
    record named only ``__pycache__/helpers.cpython-*.pyc``, and a helpers.py edited
    since (the code a reviewer reads) was judged unchanged."""
    import py_compile

    (jp_root_dir / "helpers.py").write_text("def answer():\n    return 1\n")
    py_compile.compile(str(jp_root_dir / "helpers.py"), doraise=True)
    _, _, client = await start_session(jp_fetch, jp_serverapp, "imports.ipynb")
    source = "import helpers\nprint(helpers.answer())"
    try:
        shown = await execute(client, source, "a")
    finally:
        client.stop_channels()
    assert shown[0]["text"] == "1\n"
    saved = await save(jp_fetch, "imports.ipynb", as_notebook(code_cell("a", source, shown, 1)))
    read = saved["cells"][0]["metadata"]["qsecure"]["execution"]["files"]["read"]
    assert [entry["path"] for entry in read] == ["helpers.py"]
    assert read[0]["sha256"] == hashlib.sha256(b"def answer():\n    return 1\n").hexdigest()
    (jp_root_dir / "helpers.py").write_text("def answer():\n    return 2\n")
    report = json.loads(verdict(jp_root_dir / "imports.ipynb", "--format", "json").stdout)
    assert report["files_changed"] == ["helpers.py: changed since the run read it"]


async def test_a_sqlite_database_a_cell_queries_is_a_file_read(
    store_with_secret: Path, jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path
) -> None:
    """SQLite opens its database file in C, with no ``open`` audit event: a cell's query
    of data.db left no file read, and a database changed since was judged unchanged."""
    with sqlite3.connect(jp_root_dir / "data.db") as connection:
        connection.execute("CREATE TABLE shots (counts INTEGER)")
        connection.execute("INSERT INTO shots VALUES (512)")
    connection.close()
    _, _, client = await start_session(jp_fetch, jp_serverapp, "query.ipynb")
    source = (
        "import sqlite3\n"
        "db = sqlite3.connect('data.db')\n"
        "print(db.execute('SELECT counts FROM shots').fetchone()[0])\n"
        "db.close()\n"
        "sqlite3.connect(':memory:').close()"
    )
    try:
        shown = await execute(client, source, "a")
    finally:
        client.stop_channels()
    assert shown[0]["text"] == "512\n"
    saved = await save(jp_fetch, "query.ipynb", as_notebook(code_cell("a", source, shown, 1)))
    read = saved["cells"][0]["metadata"]["qsecure"]["execution"]["files"]["read"]
    assert [entry["path"] for entry in read] == ["data.db"]
    assert read[0]["sha256"] == hashlib.sha256((jp_root_dir / "data.db").read_bytes()).hexdigest()
    with sqlite3.connect(jp_root_dir / "data.db") as connection:
        connection.execute("UPDATE shots SET counts = 1024")
    connection.close()
    report = json.loads(verdict(jp_root_dir / "query.ipynb", "--format", "json").stdout)
    assert report["files_changed"] == ["data.db: changed since the run read it"]
