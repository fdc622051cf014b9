"""The save barrier, on a real server and real kernels: a save made right after a run
carries the record of every execution that finished before it, and a kernel that cannot
answer (dead, or without a recorder) holds no save."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import as_notebook, code_cell
from kernel_client import TIMEOUT, execute, save_notebook, saved_content, start_session

from jupyter_qsecure.provenance import barrier as barrier_module
from jupyter_qsecure.provenance import judge
from jupyter_qsecure.provenance.barrier import RETRY_TIMEOUT, SaveBarrier, flush_kernel


def _records(saved: dict[str, Any]) -> list[dict[str, Any] | None]:
    return [cell["metadata"].get("qsecure", {}).get("execution") for cell in saved["cells"]]


@pytest.mark.slow
async def test_fifty_run_then_save_cycles_every_cell_carries_its_record(
    store_path: Path, jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path
) -> None:
    """Shift+Enter then Ctrl+S, 50 times, no delay: every saved cell has the record of the
    run the editor shows (its count), and the verdict passes."""
    _, _, client = await start_session(jp_fetch, jp_serverapp, "race.ipynb")
    cells: list[dict[str, Any]] = []
    try:
        for cycle in range(50):
            source = f"value_{cycle} = {cycle}\nprint(value_{cycle})"
            outputs = await execute(client, source, f"c{cycle}")
            cells.append(code_cell(f"c{cycle}", source, outputs, cycle + 1))
            await save_notebook(jp_fetch, "race.ipynb", as_notebook(*cells))
            saved = await saved_content(jp_fetch, "race.ipynb")
            records = _records(saved)
            missing = [cells[i]["id"] for i, record in enumerate(records) if record is None]
            assert not missing, f"cycle {cycle}: saved without the record of {missing}"
            assert [r["execution_count"] for r in records if r] == list(range(1, cycle + 2))
    finally:
        client.stop_channels()
    verdict = judge(saved, jp_root_dir)
    assert verdict.ok, verdict.to_json()


async def test_a_long_cell_does_not_hold_the_save(
    store_path: Path,
    jp_fetch: Any,
    jp_serverapp: Any,
    qsecure_app: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The flush is answered on the control channel while a cell runs: the save carries
    the finished cell's record and does not wait for the running one. The barrier's bound
    and the cell are both a minute here, so that a save that waited (for the bound or the
    cell; the request then times out) is told from one that did not by far more than a
    loaded machine's delays."""
    monkeypatch.setattr(qsecure_app.provenance.barrier, "timeout", 60.0)
    _, kernel_id, client = await start_session(jp_fetch, jp_serverapp, "long.ipynb")
    try:
        done = await execute(client, "print('done')", "done")
        message = client.session.msg(
            "execute_request",
            {"code": "import time\ntime.sleep(60)", "silent": False},
            metadata={"cellId": "sleeper"},
        )
        client.shell_channel.send(message)
        while True:  # the sleeper runs once the kernel announces its input
            reply = await client.get_iopub_msg(timeout=TIMEOUT)
            if (
                reply["msg_type"] == "execute_input"
                and reply["parent_header"].get("msg_id") == message["header"]["msg_id"]
            ):
                break
        started = time.monotonic()
        notebook = as_notebook(
            code_cell("done", "print('done')", done, 1), code_cell("sleeper", "import time")
        )
        await save_notebook(jp_fetch, "long.ipynb", notebook)
        elapsed = time.monotonic() - started
        saved = await saved_content(jp_fetch, "long.ipynb")
        assert _records(saved)[0] is not None and _records(saved)[1] is None
        assert elapsed < 30, f"the save waited {elapsed:.1f} s for a running cell"
    finally:
        await jp_serverapp.kernel_manager.interrupt_kernel(kernel_id)
        client.stop_channels()


async def test_a_dead_kernel_holds_no_save(
    store_path: Path, jp_fetch: Any, jp_serverapp: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dead kernel is not asked for its records (timing the save instead failed when a
    loaded machine was slower than the bound of that timing)."""
    asked: list[float] = []

    def flush(info: dict[str, Any], timeout: float) -> dict[str, Any] | None:
        asked.append(timeout)
        return flush_kernel(info, timeout)

    monkeypatch.setattr(barrier_module, "flush_kernel", flush)
    _, kernel_id, client = await start_session(jp_fetch, jp_serverapp, "dead.ipynb")
    client.stop_channels()
    manager = jp_serverapp.kernel_manager.get_kernel(kernel_id)
    await manager.provisioner.kill()
    await manager.provisioner.wait()
    await save_notebook(jp_fetch, "dead.ipynb", as_notebook(code_cell("a", "1")))
    assert asked == []


async def test_a_kernel_that_does_not_answer_is_waited_for_once(
    store_path: Path, jp_fetch: Any, jp_serverapp: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kernel without the recorder (here: its control handler removed) costs the first
    save the barrier's bound and later saves RETRY_TIMEOUT only."""
    _, kernel_id, client = await start_session(jp_fetch, jp_serverapp, "plain.ipynb")
    try:
        await execute(
            client,
            "get_ipython().kernel.control_handlers.pop('qsecure_flush_request')",
            "strip",
        )
    finally:
        client.stop_channels()
    # The bound each wait gave the kernel, as the barrier asked for it: timing the second
    # wait against RETRY_TIMEOUT * 3 left half a second for a thread and a socket to start.
    bounds: list[float] = []

    def bounded_flush(info: dict[str, Any], timeout: float) -> dict[str, Any] | None:
        bounds.append(timeout)
        return flush_kernel(info, timeout)

    monkeypatch.setattr(barrier_module, "flush_kernel", bounded_flush)
    barrier = SaveBarrier(
        jp_serverapp.kernel_manager, jp_serverapp.session_manager, timeout=RETRY_TIMEOUT * 4
    )
    started = time.monotonic()
    assert await barrier.wait("plain.ipynb") == {kernel_id: None}
    first = time.monotonic() - started
    assert await barrier.wait("plain.ipynb") == {kernel_id: None}
    assert first >= RETRY_TIMEOUT * 4
    assert bounds == [RETRY_TIMEOUT * 4, RETRY_TIMEOUT]


async def test_flush_answers_with_the_counts(
    store_path: Path, jp_fetch: Any, jp_serverapp: Any
) -> None:
    _, kernel_id, client = await start_session(jp_fetch, jp_serverapp, "counts.ipynb")
    try:
        for n in range(3):
            await execute(client, f"{n}", f"n{n}")
    finally:
        client.stop_channels()
    info = jp_serverapp.kernel_manager.get_kernel(kernel_id).get_connection_info()
    answer = await asyncio.to_thread(flush_kernel, info, 5.0)
    assert answer is not None
    assert answer["complete"] and answer["finished"] == answer["stored"] == 3
    # A wrong key: the kernel drops the request, the caller is told nothing came.
    forged = dict(info, key=b"not-the-key")
    assert await asyncio.to_thread(flush_kernel, forged, 0.3) is None
