"""Hidden state, each case on a real server with a real kernel: what the user saved is
judged by ``jupyter qsecure provenance`` and by the panel's endpoint."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import as_notebook, code_cell
from kernel_client import (
    TIMEOUT,
    connect,
    execute,
    save_notebook,
    saved_content,
    start_session,
)
from qsecure_cli import run_qsecure

from jupyter_qsecure.provenance import ProvenanceStore


async def console_execute(client: Any, source: str) -> None:
    """Run code as ``jupyter console --existing`` does: no cell id in the request."""
    message = client.session.msg(
        "execute_request", {"code": source, "silent": False, "store_history": True}
    )
    client.shell_channel.send(message)
    while True:
        reply = await client.get_shell_msg(timeout=TIMEOUT)
        if reply["parent_header"].get("msg_id") == message["header"]["msg_id"]:
            return


def judged(root: Path, name: str, *args: str) -> tuple[int, dict[str, Any]]:
    result = run_qsecure("provenance", str(root / name), "--format=json", *args, cwd=root)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout)


async def test_a_cell_run_twice_is_hidden_state(
    store_path: Path, jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path
) -> None:
    _, _, client = await start_session(jp_fetch, jp_serverapp, "twice.ipynb")
    try:
        await execute(client, "n = 0", "init")
        await execute(client, "n += 1", "bump")
        bumped = await execute(client, "n += 1", "bump")
        shown = await execute(client, "print(n)", "show")
    finally:
        client.stop_channels()
    assert shown[0]["text"] == "2\n"
    notebook = as_notebook(
        code_cell("init", "n = 0", [], 1),
        code_cell("bump", "n += 1", bumped, 3),
        code_cell("show", "print(n)", shown, 4),
    )
    await save_notebook(jp_fetch, "twice.ipynb", notebook)
    code, report = judged(jp_root_dir, "twice.ipynb")
    assert code == 0 and report["ok"]
    assert report["hidden_state"] == [
        "cell 2 ran 2 times in this session (counts 2, 3): what its earlier runs changed is"
        " still in the state later cells saw"
    ]
    code, _ = judged(jp_root_dir, "twice.ipynb", "--strict")
    assert code == 1


@pytest.mark.slow
async def test_a_restart_then_only_the_first_cells_rerun(
    store_path: Path, jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path
) -> None:
    _, kernel_id, client = await start_session(jp_fetch, jp_serverapp, "restart.ipynb")
    try:
        await execute(client, "x = 1", "a")
        old = await execute(client, "print(x * 10)", "b")
    finally:
        client.stop_channels()
    await asyncio.wait_for(
        jp_fetch("api", "kernels", kernel_id, "restart", method="POST", body="{}"), TIMEOUT
    )
    client = await connect(jp_serverapp, kernel_id)
    try:
        await execute(client, "x = 1", "a")
    finally:
        client.stop_channels()
    notebook = as_notebook(code_cell("a", "x = 1", [], 1), code_cell("b", "print(x * 10)", old, 2))
    await save_notebook(jp_fetch, "restart.ipynb", notebook)
    code, report = judged(jp_root_dir, "restart.ipynb")
    assert code == 0
    assert [c["verdict"] for c in report["cells"]] == ["executed as shown"] * 2
    assert report["hidden_state"] == [
        "cell 2 show outputs of an earlier kernel session (before a restart) while cells"
        " above were re-run since: those outputs may not follow from the cells above as"
        " they ran last"
    ]


async def test_a_console_without_cell_ids_changes_state(
    store_path: Path, jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path
) -> None:
    _, _, client = await start_session(jp_fetch, jp_serverapp, "console.ipynb")
    try:
        await execute(client, "x = 1", "a")
        await console_execute(client, "x = 41")
        shown = await execute(client, "print(x + 1)", "b")
    finally:
        client.stop_channels()
    notebook = as_notebook(code_cell("a", "x = 1", [], 1), code_cell("b", "print(x + 1)", shown, 3))
    await save_notebook(jp_fetch, "console.ipynb", notebook)
    code, report = judged(jp_root_dir, "console.ipynb")
    assert code == 0
    assert report["hidden_state"] == [
        "an execution with no cell (count 2, from a client that sends no cell id, such as a"
        " console) ran in this session: later cells may rely on what it did"
    ]


async def test_a_cell_pasted_from_another_executed_notebook(
    store_path: Path, jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path
) -> None:
    _, _, other = await start_session(jp_fetch, jp_serverapp, "other.ipynb")
    try:
        result = await execute(other, "print('from elsewhere')", "elsewhere")
    finally:
        other.stop_channels()
    await save_notebook(
        jp_fetch,
        "other.ipynb",
        as_notebook(code_cell("elsewhere", "print('from elsewhere')", result, 1)),
    )
    pasted = (await saved_content(jp_fetch, "other.ipynb"))["cells"][0]
    _, _, client = await start_session(jp_fetch, jp_serverapp, "mine.ipynb")
    try:
        mine = await execute(client, "print('mine')", "mine")
    finally:
        client.stop_channels()
    await save_notebook(
        jp_fetch, "mine.ipynb", as_notebook(code_cell("mine", "print('mine')", mine, 1), pasted)
    )
    code, report = judged(jp_root_dir, "mine.ipynb")
    assert code == 1
    assert [c["verdict"] for c in report["cells"]] == [
        "executed as shown",
        "never executed in a recorded session",
    ]
    assert "a kernel session this notebook never ran in" in report["cells"][1]["detail"]


async def test_shown_count_is_not_the_records(
    store_path: Path, jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path
) -> None:
    _, _, client = await start_session(jp_fetch, jp_serverapp, "count.ipynb")
    try:
        outputs = await execute(client, "print(7)", "a")
    finally:
        client.stop_channels()
    await save_notebook(
        jp_fetch, "count.ipynb", as_notebook(code_cell("a", "print(7)", outputs, 5))
    )
    _, report = judged(jp_root_dir, "count.ipynb")
    assert report["hidden_state"] == [
        "cell 1 shows In [5] but its record is of run [1]: its outputs may come from another run"
    ]


async def test_numpy_scalars_and_dates_digest_as_saved(
    store_path: Path, jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path
) -> None:
    source = (
        "import datetime, numpy as np\n"
        "from IPython.display import display\n"
        "display({'application/json': {'n': np.int64(3), 'f': np.float32(0.5),"
        " 'day': datetime.date(2026, 1, 2)}, 'text/plain': 'x'}, raw=True,"
        " metadata={'when': datetime.date(2026, 1, 2), 'k': np.int64(1)})"
    )
    _, _, client = await start_session(jp_fetch, jp_serverapp, "numpy.ipynb")
    try:
        outputs = await execute(client, source, "np")
    finally:
        client.stop_channels()
    assert outputs[0]["data"]["application/json"] == {"n": 3, "f": 0.5, "day": "2026-01-02"}
    await save_notebook(jp_fetch, "numpy.ipynb", as_notebook(code_cell("np", source, outputs, 1)))
    code, report = judged(jp_root_dir, "numpy.ipynb")
    assert code == 0, report
    assert report["cells"][0]["verdict"] == "executed as shown"


async def test_the_evidence_of_each_cell(
    store_path: Path, jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path
) -> None:
    (jp_root_dir / "in.csv").write_text("1,2\n")
    source = (
        "import random, subprocess\n"
        "random.seed(99)\n"
        "data = open('in.csv').read()\n"
        "open('out.txt', 'w').write(data)\n"
        "subprocess.run(['true'])"
    )
    _, _, client = await start_session(jp_fetch, jp_serverapp, "evidence.ipynb")
    try:
        outputs = await execute(client, source, "e")
    finally:
        client.stop_channels()
    await save_notebook(jp_fetch, "evidence.ipynb", as_notebook(code_cell("e", source, outputs, 1)))
    response = await jp_fetch("qsecure", "provenance", params={"path": "evidence.ipynb"})
    cell = json.loads(response.body)["cells"][0]
    evidence = cell["evidence"]
    assert [(f["path"], f["changed"]) for f in evidence["files_read"]] == [("in.csv", False)]
    assert [f["path"] for f in evidence["files_written"]] == ["out.txt"]
    assert evidence["seeds"] == [{"source": "random.seed", "value": "99"}]
    assert evidence["subprocesses"][0]["executable"].endswith("true")
    (jp_root_dir / "in.csv").write_text("changed\n")
    code, report = judged(jp_root_dir, "evidence.ipynb")
    assert code == 0  # every cell as shown; the changed file is a finding
    assert report["cells"][0]["evidence"]["files_read"][0]["changed"] is True
    assert report["files_changed"] == ["in.csv: changed since the run read it"]


async def test_a_recorded_fifo_does_not_hang_the_server(
    store_path: Path, jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path
) -> None:
    """A cell that read a FIFO (a writer fed it); the panel's report later does not wait
    on it, nor does any report after it."""
    os.mkfifo(jp_root_dir / "pipe")
    source = (
        "import threading\n"
        "threading.Thread(target=lambda: open('pipe', 'w').write('hi')).start()\n"
        "print(open('pipe').read())"
    )
    _, _, client = await start_session(jp_fetch, jp_serverapp, "fifo.ipynb")
    try:
        outputs = await execute(client, source, "f")
    finally:
        client.stop_channels()
    await save_notebook(jp_fetch, "fifo.ipynb", as_notebook(code_cell("f", source, outputs, 1)))
    saved = await saved_content(jp_fetch, "fifo.ipynb")
    [entry] = saved["cells"][0]["metadata"]["qsecure"]["execution"]["files"]["read"]
    assert entry == {"path": "pipe", "error": "not a regular file"}
    for _ in range(2):
        started = time.monotonic()
        response = await jp_fetch("qsecure", "provenance", params={"path": "fifo.ipynb"})
        assert time.monotonic() - started < 5
        assert json.loads(response.body)["cells"][0]["verdict"] == "executed as shown"


async def silent_execute(
    client: Any, source: str, expressions: dict[str, str] | None = None
) -> None:
    """Run code as a client that shows nothing does (``silent``: no count, no outputs),
    with ``user_expressions`` evaluated after it."""
    message = client.session.msg(
        "execute_request",
        {
            "code": source,
            "silent": True,
            "store_history": False,
            "user_expressions": expressions or {},
        },
    )
    client.shell_channel.send(message)
    while True:
        reply = await client.get_shell_msg(timeout=TIMEOUT)
        if reply["parent_header"].get("msg_id") == message["header"]["msg_id"]:
            return


async def test_a_silent_execution_changes_state(
    store_path: Path, jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path
) -> None:
    _, _, client = await start_session(jp_fetch, jp_serverapp, "silent.ipynb")
    try:
        await execute(client, "x = 1", "a")
        await silent_execute(client, "x = 41")
        shown = await execute(client, "print(x + 1)", "b")
    finally:
        client.stop_channels()
    assert shown[0]["text"] == "42\n"
    notebook = as_notebook(code_cell("a", "x = 1", [], 1), code_cell("b", "print(x + 1)", shown, 2))
    await save_notebook(jp_fetch, "silent.ipynb", notebook)
    code, report = judged(jp_root_dir, "silent.ipynb")
    assert code == 0
    assert [c["verdict"] for c in report["cells"]] == ["executed as shown"] * 2
    assert report["hidden_state"] == [
        "an execution with no cell and no count (a silent one, or one that stores no history:"
        " code a client or an extension ran without showing it) ran in this session: later"
        " cells may rely on what it did"
    ]
    records = [r.record for r in ProvenanceStore(store_path).for_notebook("silent.ipynb")]
    silent = [r for r in records if r.get("silent")]
    assert len(silent) == 1 and silent[0]["execution_count"] is None
    assert silent[0]["first_line"] == "x = 41" and silent[0]["cell_id"] is None


def _frontend_refresh(name: str) -> str:
    """The code JupyterLab's secrets panel and blocked-save dialog send, silently, to
    refresh one secret in the notebook's kernel (read from the extension's source)."""
    source = (Path(__file__).parent.parent / "labextension/src/guard/flow.tsx").read_text()
    template = source.split("const code = `", 1)[1].split("`;", 1)[0]
    return template.replace("${JSON.stringify(name)}", json.dumps(name)).replace("\\n", "\n")


async def test_jupyterlabs_secret_refresh_is_not_hidden_state(
    store_path: Path, jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path
) -> None:
    """Storing or granting a secret in the secrets panel refreshes it in the open
    notebook's kernel with one silent request of fixed code: like the injection at the
    kernel's start, not hidden state (the demo's first step made every later verdict
    report a silent execution). The same code with anything added is recorded."""
    refresh = _frontend_refresh("LAB_TOKEN")
    assert refresh.startswith("import jupyter_qsecure as _qsecure\n_qsecure.refresh(")
    _, _, client = await start_session(jp_fetch, jp_serverapp, "refresh.ipynb")
    try:
        await execute(client, "x = 1", "a")
        await silent_execute(client, refresh)
        await silent_execute(client, refresh + "\nx = 41")
        await silent_execute(client, refresh.replace("LAB_TOKEN", 'X"); x = ("'))
        shown = await execute(client, "print(x + 1)", "b")
    finally:
        client.stop_channels()
    notebook = as_notebook(code_cell("a", "x = 1", [], 1), code_cell("b", "print(x + 1)", shown, 2))
    await save_notebook(jp_fetch, "refresh.ipynb", notebook)
    _, report = judged(jp_root_dir, "refresh.ipynb")
    assert [c["verdict"] for c in report["cells"]] == ["executed as shown"] * 2
    records = [r.record for r in ProvenanceStore(store_path).for_notebook("refresh.ipynb")]
    silent = [r for r in records if r.get("silent")]
    assert len(silent) == 2, silent  # the two requests that do more than refresh
    assert len(report["hidden_state"]) == 2  # each of them, nothing for the refresh


async def test_a_cell_copied_in_the_same_notebook_did_not_run(
    store_path: Path, jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path
) -> None:
    """JupyterLab's copy and paste (and Duplicate) copy a cell's metadata and outputs under
    a new id: the copy carried its original's record, and the save kept it (a cell with no
    record of its own keeps what it carries), so a cell that never ran was judged
    'executed as shown'."""
    _, _, client = await start_session(jp_fetch, jp_serverapp, "copied.ipynb")
    try:
        shown = await execute(client, "n = 1\nprint(n)", "a")
    finally:
        client.stop_channels()
    await save_notebook(
        jp_fetch, "copied.ipynb", as_notebook(code_cell("a", "n = 1\nprint(n)", shown, 1))
    )
    saved = await saved_content(jp_fetch, "copied.ipynb")
    copy = json.loads(json.dumps(saved["cells"][0]))
    copy["id"] = "b"
    saved["cells"].append(copy)
    await save_notebook(jp_fetch, "copied.ipynb", saved)
    code, report = judged(jp_root_dir, "copied.ipynb")
    assert code == 1
    first, second = report["cells"]
    assert first["verdict"] == "executed as shown"
    assert second["verdict"] == "never executed in a recorded session"
    assert "is the record of another cell (id a): a copy of that cell?" in second["detail"]
    # Without the timeline's cell ids (a truncated timeline), one record in two cells.
    path = jp_root_dir / "copied.ipynb"
    notebook = json.loads(path.read_text())
    for entry in notebook["metadata"]["qsecure"]["provenance"]["timeline"]:
        entry["cell_id"] = None
    path.write_text(json.dumps(notebook))
    _, report = judged(jp_root_dir, "copied.ipynb")
    assert report["cells"][1]["verdict"] == "never executed in a recorded session"
    assert "is cell 1's record too: a copy of that cell?" in report["cells"][1]["detail"]


async def test_startup_code_changes_state(
    store_path: Path,
    jp_fetch: Any,
    jp_serverapp: Any,
    jp_root_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """An IPython startup file (or the user's PYTHONSTARTUP) runs in every kernel before
    its first cell, in no cell: it changed what sum() returns, and the verdict had nothing
    to say. The provisioner's own PYTHONSTARTUP is not the user's startup code."""
    mine = tmp_path / "mine.py"
    mine.write_text("STARTED = True\n")
    monkeypatch.setenv("PYTHONSTARTUP", str(mine))
    startup = Path(os.environ["IPYTHONDIR"]) / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-tweak.py").write_text(
        "import builtins\n_sum = builtins.sum\n"
        "builtins.sum = lambda items, start=0: _sum(items, start) + 1\n"
    )
    _, _, client = await start_session(jp_fetch, jp_serverapp, "startup.ipynb")
    try:
        shown = await execute(client, "print(sum([1, 2]))", "a")
    finally:
        client.stop_channels()
    assert shown[0]["text"] == "4\n"
    notebook = as_notebook(code_cell("a", "print(sum([1, 2]))", shown, 1))
    await save_notebook(jp_fetch, "startup.ipynb", notebook)
    code, report = judged(jp_root_dir, "startup.ipynb")
    assert code == 0 and report["ok"]
    assert report["hidden_state"] == [
        "the kernel ran code at its start, outside any cell (# kernel startup: mine.py,"
        " 00-tweak.py):"
        " startup files, PYTHONSTARTUP or extensions; the cells may rely on what it did"
    ]
    records = [r.record for r in ProvenanceStore(store_path).for_notebook("startup.ipynb")]
    (started,) = [r for r in records if r.get("startup")]
    assert [entry["path"].rsplit("/", 1)[-1] for entry in started["files"]["read"]] == [
        "mine.py",
        "00-tweak.py",
    ]
    assert all(entry["sha256"] for entry in started["files"]["read"])


async def test_user_expressions_change_state(
    store_path: Path, jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path
) -> None:
    """An execute_request's user_expressions are evaluated in the user's namespace after
    its code, outside any cell (and with no code, no execution starts at all): an
    expression that set x left no record."""
    _, _, client = await start_session(jp_fetch, jp_serverapp, "expressions.ipynb")
    try:
        await execute(client, "x = 1", "a")
        await silent_execute(client, "", {"v": "globals().update(x=41)"})
        shown = await execute(client, "print(x + 1)", "b")
    finally:
        client.stop_channels()
    assert shown[0]["text"] == "42\n"
    notebook = as_notebook(code_cell("a", "x = 1", [], 1), code_cell("b", "print(x + 1)", shown, 2))
    await save_notebook(jp_fetch, "expressions.ipynb", notebook)
    code, report = judged(jp_root_dir, "expressions.ipynb")
    assert code == 0 and report["ok"]
    assert report["hidden_state"] == [
        "an execution with no cell and no count (a silent one, or one that stores no history:"
        " code a client or an extension ran without showing it) ran in this session: later"
        " cells may rely on what it did"
    ]
    records = [r.record for r in ProvenanceStore(store_path).for_notebook("expressions.ipynb")]
    (evaluated,) = [r for r in records if r.get("silent")]
    assert evaluated["first_line"] == "globals().update(x=41)"
    assert [r.get("cell_id") for r in records if r.get("kind") == "execution"] == ["a", None, "b"]
