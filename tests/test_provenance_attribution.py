"""Which cell an event belongs to, with real kernels started by a real server: the
recorder's own work (hashing the last cell's files, the environment fingerprint) is never
a cell's, user threads count for the cell running when they act, display updates and
nested ``run_cell`` are recorded as JupyterLab shows them."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from kernel_client import (
    execute,
    save_notebook,
    saved_content,
    start_session,
    wait_for_records,
    wait_until,
)
from qsecure_cli import run_qsecure

from jupyter_qsecure.signing.canonical import outputs_digest, source_digest

#: Longer than the writer's delay after a cell (recorder.WRITE_DELAY) plus its hashing: the
#: next cell is still running while the writer works on the one before.
BUSY = "import time\ntime.sleep(0.6)"


def paths(record: dict[str, Any], kind: str) -> list[str]:
    return [entry["path"] for entry in record["files"][kind]]


@pytest.mark.slow
async def test_files_of_a_cell_are_not_the_next_cells(
    store_with_secret: Path, jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path
) -> None:
    """The writer hashes cell N's files while cell N+1 runs: those opens are its own."""
    (jp_root_dir / "counts.csv").write_text("shots,counts\n1024,512\n")
    _, _, client = await start_session(jp_fetch, jp_serverapp, "attr.ipynb")
    try:
        # Right after the start: the environment collectors (git, files) are still at work.
        await execute(client, BUSY, "first")
        await execute(client, "rows = open('counts.csv').read().splitlines()", "load")
        await execute(client, BUSY, "fit")
        await execute(client, "open('model.txt', 'w').write('fitted')", "save")
        await execute(client, BUSY, "plot")
    finally:
        client.stop_channels()
    by_cell = {r["cell_id"]: r for r in wait_for_records(store_with_secret, 5)}
    assert paths(by_cell["load"], "read") == ["counts.csv"]
    assert paths(by_cell["save"], "written") == ["model.txt"]
    for quiet in ("first", "fit", "plot"):
        record = by_cell[quiet]
        assert record["files"] == {"read": [], "written": []}, (quiet, record["files"])
        assert record["subprocesses"] == [] and record["network"] == [], quiet


COLLECTOR = """
import os, subprocess, sys, time
from datetime import datetime, timezone


def collect(context):
    # It acts while the first cell runs: that cell makes the folder cell-running and ends
    # only once this makes collector-done (folders are not recorded). The wait stays
    # within collect_environment's 10 s, so that a late cell shows as no 'at'.
    deadline = time.monotonic() + 9
    while not (context.notebook_dir / "cell-running").is_dir():
        if time.monotonic() > deadline:
            return {"late": "the first cell did not start within 9 s"}
        time.sleep(0.02)
    with open(context.notebook_dir / "probe.txt") as file:
        file.read()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    at = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    os.mkdir(context.notebook_dir / "collector-done")
    return {"at": at}
"""

#: The first cell: running until the collector has acted (60 s at most).
FIRST_CELL = (
    "import os, time\n"
    "os.mkdir('cell-running')\n"
    "deadline = time.monotonic() + 60\n"
    "while not os.path.isdir('collector-done') and time.monotonic() < deadline:\n"
    "    time.sleep(0.02)"
)


@pytest.mark.slow
async def test_environment_collectors_are_no_cells(
    store_with_secret: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    jp_fetch: Any,
    jp_serverapp: Any,
    jp_root_dir: Path,
) -> None:
    """The environment fingerprint runs in threads while the first cells run; a collector
    plug-in that opens a file and starts a subprocess is not counted as the cell's. The
    collector and the cell wait for each other's sign: a collector timed by a sleep acted
    before the cell began when the kernel was slow to be asked for it."""
    plugins = tmp_path / "plugins"
    info = plugins / "slow_collector-1.0.dist-info"
    info.mkdir(parents=True)
    (plugins / "slow_collector.py").write_text(COLLECTOR)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: slow-collector\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[jupyter_qsecure.collectors]\nslow = slow_collector:collect\n"
    )
    (jp_root_dir / "probe.txt").write_text("probe")
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, (str(plugins), os.environ.get("PYTHONPATH"))))
    )
    _, _, client = await start_session(jp_fetch, jp_serverapp, "collect.ipynb")
    try:
        await execute(client, FIRST_CELL, "first")
    finally:
        client.stop_channels()
    [record] = wait_for_records(store_with_secret, 1)
    [environment] = wait_for_records(store_with_secret, 1, kind="environment")
    slow = environment["environment"]["slow"]
    assert "at" in slow, slow
    assert record["started"] < slow["at"] < record["ended"]
    assert record["files"] == {"read": [], "written": []}
    assert record["subprocesses"] == []


async def test_user_threads_count_for_the_cell_running_when_they_act(
    store_with_secret: Path, jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path
) -> None:
    for name in ("early.txt", "late.txt", "between.txt"):
        (jp_root_dir / name).write_text(name)
    start = (
        "import os, threading\n"
        "started, go, done, ended = (threading.Event() for _ in range(4))\n"
        "def work():\n"
        "    open('early.txt').read()\n"
        "    started.set()\n"
        "    go.wait()\n"
        "    open('late.txt').read()\n"
        "    done.set()\n"
        "    ended.wait()\n"
        "    open('between.txt').read()\n"
        "    os.mkdir('between-read')\n"  # a sign for the test; folders are not recorded
        "threading.Thread(target=work, name='loader').start()\n"
        "started.wait(10)"
    )
    # The thread reads between.txt once 'later' has ended: a post_run_cell callback it
    # registers runs after the recorder's, which ends the record (a sleep instead was
    # outlasted by the end of the cell when the kernel was descheduled).
    later = (
        "get_ipython().events.register('post_run_cell', lambda result: ended.set())\n"
        "go.set()\n"
        "done.wait(10)"
    )
    _, _, client = await start_session(jp_fetch, jp_serverapp, "threads.ipynb")
    try:
        await execute(client, start, "start")
        await execute(client, later, "later")
        # The thread opens between.txt while no cell runs.
        await wait_until(lambda: (jp_root_dir / "between-read").is_dir(), "the thread's read")
        await execute(client, "pass", "last")
    finally:
        client.stop_channels()
    by_cell = {r["cell_id"]: r for r in wait_for_records(store_with_secret, 3)}
    assert paths(by_cell["start"], "read") == ["early.txt"]
    assert paths(by_cell["later"], "read") == ["late.txt"]
    assert paths(by_cell["last"], "read") == []


def saved_outputs(*outputs: dict[str, Any]) -> list[dict[str, Any]]:
    """Outputs as nbformat (and JupyterLab) save them."""
    return list(outputs)


def text(value: str) -> dict[str, Any]:
    return {"output_type": "display_data", "data": {"text/plain": value}, "metadata": {}}


def stream(value: str) -> dict[str, Any]:
    return {"output_type": "stream", "name": "stdout", "text": value}


async def test_display_updates_and_delayed_clears_as_jupyterlab_shows_them(
    store_with_secret: Path, jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path
) -> None:
    cells = {
        "update": (
            "from IPython.display import display, clear_output\n"
            "progress = display('0 %', display_id=True)\n"
            "print('fitting')\n"
            "progress.update('100 %')"
        ),
        "wait": "print('kept')\nclear_output(wait=True)",
        "replace": "print('old')\nclear_output(wait=True)\nprint('new')",
    }
    # What JupyterLab's output area holds (and saves) after each of them.
    shown = {
        "update": saved_outputs(text("'100 %'"), stream("fitting\n")),
        "wait": saved_outputs(stream("kept\n")),
        "replace": saved_outputs(stream("new\n")),
    }
    _, _, client = await start_session(jp_fetch, jp_serverapp, "display.ipynb")
    try:
        for cell_id, source in cells.items():
            await execute(client, source, cell_id)
    finally:
        client.stop_channels()
    by_cell = {r["cell_id"]: r for r in wait_for_records(store_with_secret, len(cells))}
    for cell_id in cells:
        assert by_cell[cell_id]["outputs_digest"] == outputs_digest(shown[cell_id]), cell_id

    notebook = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [
            {
                "cell_type": "code",
                "id": cell_id,
                "metadata": {},
                "source": source,
                "outputs": shown[cell_id],
                "execution_count": index + 1,
            }
            for index, (cell_id, source) in enumerate(cells.items())
        ],
    }
    (jp_root_dir / "display.ipynb").write_text(json.dumps(notebook))
    # Saved as it is on disk, through the server (the save hook embeds provenance).
    await save_notebook(jp_fetch, "display.ipynb", await saved_content(jp_fetch, "display.ipynb"))
    result = verdict(jp_root_dir / "display.ipynb")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "cell 1 (update): executed as shown" in result.stdout


async def test_nested_run_cell_is_part_of_the_cell(
    store_with_secret: Path, jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path
) -> None:
    (jp_root_dir / "outer.txt").write_text("outer")
    (jp_root_dir / "inner.txt").write_text("inner")
    source = (
        "open('outer.txt').read()\n"
        "get_ipython().run_cell('')\n"  # IPython ends an empty cell it never started
        "get_ipython().run_cell(\"value = open('inner.txt').read()\\nprint(value)\")\n"
        "print('outer done')\n"
        "with open('after.txt', 'w') as file:\n"
        "    file.write('x')"
    )
    _, _, client = await start_session(jp_fetch, jp_serverapp, "nested.ipynb")
    try:
        outputs = await execute(client, source, "outer")
        await execute(client, "pass", "next")
    finally:
        client.stop_channels()
    records = wait_for_records(store_with_secret, 2)
    assert [r["cell_id"] for r in records] == ["outer", "next"]
    record = records[0]
    assert record["code_sha256"] == source_digest(source)
    assert record["execution_count"] == 1 and records[1]["execution_count"] == 2
    assert sorted(paths(record, "read")) == ["inner.txt", "outer.txt"]
    assert paths(record, "written") == ["after.txt"]
    assert outputs == saved_outputs(stream("inner\nouter done\n"))
    assert record["outputs_digest"] == outputs_digest(outputs)


def verdict(path: Path) -> subprocess.CompletedProcess[str]:
    """``jupyter qsecure provenance PATH``, in process."""
    return run_qsecure("provenance", str(path), cwd=path.parent)
