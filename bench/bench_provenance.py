"""Provenance cost, against kernels without jupyter-qsecure in the same run.

(a) Per-cell overhead: an empty cell (``pass``) executed 1,000 times in a kernel started
    by ``qsecure-provisioner`` (provenance on, the store in a temporary folder named by a
    policy ``[provenance] store = ...`` through ``$QSECURE_CONFIG``, no secrets) and 1,000
    times in a kernel started by ``local-provisioner`` (no extension). Executions
    alternate between the kernels in batches, so both share the machine's noise; each
    request carries ``cellId`` in its metadata as JupyterLab sends it. Time is from
    sending the execute request until both its reply and the kernel's idle status are
    received. Target: at most 1 ms added at p50. Afterwards the store must hold the 1,000
    execution records (and the kernel's environment record) and an intact chain.
(b) File I/O: a cell opening and reading 1,000 small files (created in the kernels'
    working folder beforehand), p50 of 5 runs in each kernel, alternating. Target: ratio
    at most 1.10. For information, the time from the cell's reply until its record (1,000
    files hashed) is in the store, waited for after each run.

For the diagnosis it also prints how long the read loop took inside each kernel (the cell
times itself: the difference is the audit hook's cost per ``open``) and what one
``ProvenanceStore.append`` costs the background worker, as it is and with another
connection holding the database open (then the last close does not checkpoint the WAL).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kernels import NOTEBOOK, configure_provisioner_context, p50_ms, start_kernel, stop_kernel

CELLS = 1000
BATCH = 50
WARMUP = 20
FILES = 1000
FILE_SIZE = 512
RUNS = 5
READ_CELL = (
    "import time as _time\n"
    "_begin = _time.perf_counter()\n"
    f"for _i in range({FILES}):\n"
    "    with open(f'inputs/f{_i:04d}.dat', 'rb') as _f:\n"
    "        _f.read()\n"
    "_bench_loop = _time.perf_counter() - _begin"
)
PLAIN, QSECURE = "local-provisioner", "qsecure-provisioner"


async def execute(
    client: Any,
    code: str,
    cell_id: str | None = None,
    silent: bool = False,
    expressions: dict[str, str] | None = None,
) -> tuple[float, dict[str, Any]]:
    """Send an execute request as JupyterLab does; return the seconds until both the reply
    and the idle status are in, and the reply."""
    content = {
        "code": code,
        "silent": silent,
        "store_history": not silent,
        "user_expressions": expressions or {},
        "allow_stdin": False,
        "stop_on_error": True,
    }
    message = client.session.msg(
        "execute_request", content, metadata={"cellId": cell_id} if cell_id else {}
    )
    msg_id = message["header"]["msg_id"]
    begin = time.perf_counter()
    client.shell_channel.send(message)
    while True:
        status = await client.get_iopub_msg(timeout=120)
        if (
            status["parent_header"].get("msg_id") == msg_id
            and status["msg_type"] == "status"
            and status["content"]["execution_state"] == "idle"
        ):
            break
    while True:
        reply = await client.get_shell_msg(timeout=120)
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    seconds = time.perf_counter() - begin
    assert reply["content"]["status"] == "ok", reply["content"]
    return seconds, reply


def count_records(store: Path, kind: str = "execution") -> int:
    """Records of ``kind`` in the store; of executions, those of cells (silent ones, such
    as the warm-up and the loop timings, are recorded too, without a cell)."""
    if not store.exists():
        return 0
    connection = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=30)
    try:
        (count,) = connection.execute(
            "SELECT count(*) FROM records WHERE kind = ? AND (kind != 'execution' OR cell_id"
            " IS NOT NULL)",
            (kind,),
        ).fetchone()
    finally:
        connection.close()
    return int(count)


def wait_for_records(
    store: Path, count: int, kind: str = "execution", timeout: float = 120
) -> float:
    """Seconds until the store holds ``count`` records of ``kind`` (polled every 2 ms)."""
    begin = time.perf_counter()
    while count_records(store, kind) < count:
        if time.perf_counter() - begin > timeout:
            raise AssertionError(f"fewer than {count} {kind} records after {timeout:g} s")
        time.sleep(0.002)
    return time.perf_counter() - begin


def configure(root: Path, store: Path) -> None:
    """A policy with only ``[provenance] store``, and the provisioner set up as the server
    extension sets it up (policy, provenance policy, root)."""
    policy = root / "qsecure.toml"
    policy.write_text(f"[provenance]\nstore = {str(store)!r}\n", encoding="utf-8")
    os.environ["QSECURE_CONFIG"] = str(policy)
    from jupyter_qsecure.config import load_policy

    loaded = load_policy()
    assert loaded.provenance.store == store.resolve(), loaded.provenance
    assert not loaded.secrets.grants
    configure_provisioner_context(root)


async def per_cell(kernels: dict[str, Any], store: Path) -> dict[str, list[float]]:
    """(a): 1,000 ``pass`` executions in each kernel, in alternating batches."""
    times: dict[str, list[float]] = {name: [] for name in kernels}
    for client in kernels.values():
        for _ in range(WARMUP):
            await execute(client, "pass", silent=True)  # silent: recorded as silent
    order = list(kernels)
    for batch in range(CELLS // BATCH):
        for name in order if batch % 2 == 0 else order[::-1]:
            client = kernels[name]
            for index in range(batch * BATCH, (batch + 1) * BATCH):
                seconds, _ = await execute(client, "pass", cell_id=f"bench-{index:04d}")
                times[name].append(seconds)
    return times


def check_store(store: Path) -> float:
    """The 1,000 records of (a) with their cell ids, one environment record, an intact
    chain; returns the seconds waited for the background worker to store them."""
    from jupyter_qsecure.provenance import ProvenanceStore

    waited = wait_for_records(store, CELLS)
    provenance = ProvenanceStore(store)
    records = [row.record for row in provenance.records()]
    executions = [r for r in records if r["kind"] == "execution" and not r.get("silent")]
    silent = [r for r in records if r["kind"] == "execution" and r.get("silent")]
    environments = [r for r in records if r["kind"] == "environment"]
    assert len(executions) == CELLS, len(executions)
    # Silent executions are recorded too (hidden state): the warm-up and the module check.
    assert len(silent) == WARMUP + 1, len(silent)
    assert len(environments) == 1, len(environments)
    assert [r["cell_id"] for r in executions] == [f"bench-{i:04d}" for i in range(CELLS)]
    assert len({r["notebook"] for r in executions}) == 1  # one kernel, one notebook (or none)
    assert all(r["environment_record"] == environments[0]["record_id"] for r in executions)
    problems = provenance.verify()
    assert problems == [], problems
    return waited


async def loop_seconds(client: Any) -> float:
    """How long the read loop took inside the kernel (measured by the cell itself)."""
    _, reply = await execute(client, "", silent=True, expressions={"loop": "_bench_loop"})
    return float(reply["content"]["user_expressions"]["loop"]["data"]["text/plain"])


async def file_reads(
    kernels: dict[str, Any], store: Path
) -> tuple[dict[str, list[float]], dict[str, list[float]], list[float]]:
    """(b): the cell reading 1,000 files, 5 runs each after a warm-up, alternating; after
    each run in the qsecure kernel, the seconds until its record is stored."""
    times: dict[str, list[float]] = {name: [] for name in kernels}
    loops: dict[str, list[float]] = {name: [] for name in kernels}
    stored: list[float] = []
    expected = count_records(store)
    order = list(kernels)
    for round_ in range(RUNS + 1):
        for name in order if round_ % 2 == 0 else order[::-1]:
            seconds, _ = await execute(kernels[name], READ_CELL, cell_id=f"read-{round_}")
            if name == QSECURE:
                expected += 1
                delay = wait_for_records(store, expected)
                if round_:
                    stored.append(delay)
            if round_:
                times[name].append(seconds)
                loops[name].append(await loop_seconds(kernels[name]))
    return times, loops, stored


def check_reads(store: Path, root: Path) -> None:
    """The last record of (b) lists the 1,000 files read, each with its SHA-256."""
    import hashlib

    from jupyter_qsecure.provenance import ProvenanceStore

    last = [row.record for row in ProvenanceStore(store).records() if row.record.get("cell_id")][-1]
    reads = {entry["path"]: entry for entry in last["files"]["read"]}
    assert len(reads) == FILES, len(reads)
    sample = f"inputs/f{FILES - 1:04d}.dat"
    assert reads[sample]["sha256"] == hashlib.sha256((root / sample).read_bytes()).hexdigest()


async def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder).resolve()
        store = root / "provenance" / "provenance.sqlite"
        configure(root, store)
        inputs = root / "inputs"
        inputs.mkdir()
        for index in range(FILES):
            (inputs / f"f{index:04d}.dat").write_bytes(secrets.token_bytes(FILE_SIZE))
        previous = Path.cwd()
        os.chdir(root)  # the kernels' working folder (they inherit it)
        kernels: dict[str, Any] = {}
        managers = []
        try:
            for name in (PLAIN, QSECURE):
                manager, client, _ = await start_kernel(name, root)
                managers.append((manager, client))
                kernels[name] = client
            environment_wait = wait_for_records(store, 1, kind="environment")
            for name, loaded in ((PLAIN, False), (QSECURE, True)):
                check = f"import sys\nassert ('jupyter_qsecure.kernel' in sys.modules) is {loaded}"
                await execute(kernels[name], check, silent=True)
            times = await per_cell(kernels, store)
            drained = check_store(store)
            read_times, loops, stored = await file_reads(kernels, store)
            check_reads(store, root)
            qsecure_manager = managers[1][0]
            pending, idle = await save_barrier(kernels[QSECURE], qsecure_manager)
        finally:
            for manager, client in managers:
                await stop_kernel(manager, client)
            os.chdir(previous)

    plain, recorded = p50_ms(times[PLAIN]), p50_ms(times[QSECURE])
    print(f"(a) an empty cell (pass), {CELLS} executions each, batches of {BATCH} alternating:")
    print(f"  local-provisioner (no extension):        p50 {plain:7.3f} ms")
    print(f"  qsecure-provisioner, provenance on:      p50 {recorded:7.3f} ms")
    print(
        f"  added per cell: {recorded - plain:+.3f} ms (target <= 1 ms), ratio {recorded / plain:.3f}"
    )
    print(
        f"  store: {CELLS} execution records + 1 environment record, chain intact;"
        f" last record stored {drained * 1000:.0f} ms after the last reply;"
        f" environment record stored {environment_wait * 1000:.0f} ms after both kernels were ready"
    )
    plain_read, recorded_read = p50_ms(read_times[PLAIN]), p50_ms(read_times[QSECURE])
    print(f"(b) a cell opening and reading {FILES} files of {FILE_SIZE} bytes, p50 of {RUNS}:")
    print(f"  local-provisioner (no extension):        {plain_read:8.1f} ms")
    print(f"  qsecure-provisioner, provenance on:      {recorded_read:8.1f} ms")
    print(f"  ratio {recorded_read / plain_read:.3f} (target <= 1.10)")
    print(
        f"  its record stored (1,000 files hashed, appended) {statistics.median(stored) * 1000:.1f} ms"
        " after the reply, p50 (background worker; for information)"
    )
    plain_loop, recorded_loop = p50_ms(loops[PLAIN]), p50_ms(loops[QSECURE])
    print(
        f"  of which the loop inside the cell: {plain_loop:.1f} ms vs {recorded_loop:.1f} ms,"
        f" {(recorded_loop - plain_loop) / FILES * 1000:.2f} us per open (the audit hook)"
    )
    print(
        f"(c) the save barrier (the kernel's flush on its control channel), p50 of {BARRIER_RUNS}:"
    )
    print(f"  nothing pending (the record stored already): {p50_ms(idle):7.3f} ms")
    print(f"  right after a cell (its record pending):     {p50_ms(pending):7.3f} ms")
    print(
        f"  a save right after a cell waits {p50_ms(pending) - p50_ms(idle):+.3f} ms more"
        " (target <= 20 ms)"
    )
    verify_cost()
    append_cost()
    return 0


BARRIER_RUNS = 100


async def save_barrier(client: Any, manager: Any) -> tuple[list[float], list[float]]:
    """What a save's barrier costs: a flush request right after a cell (its record still
    with the kernel's worker) and one when nothing is pending, alternating."""
    from jupyter_qsecure.provenance.barrier import flush_kernel

    info = manager.get_connection_info()
    pending: list[float] = []
    idle: list[float] = []
    for index in range(BARRIER_RUNS):
        await execute(client, "pass", cell_id=f"barrier-{index}")
        begin = time.perf_counter()
        answer = await asyncio.to_thread(flush_kernel, info, 5.0)
        pending.append(time.perf_counter() - begin)
        assert answer is not None and answer["complete"], answer
        await asyncio.sleep(0.1)  # the worker's delay has passed: nothing pending
        begin = time.perf_counter()
        answer = await asyncio.to_thread(flush_kernel, info, 5.0)
        idle.append(time.perf_counter() - begin)
        assert answer is not None and answer["stored"] == answer["finished"], answer
    return pending, idle


VERIFY_RECORDS = 100_000


def verify_cost() -> None:
    """``provenance log --verify``'s chain check on a store of 100,000 records, against
    hashing the same bodies alone (the floor) in the same run."""
    import hashlib
    import uuid

    from jupyter_qsecure.provenance import ProvenanceStore

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "verify.sqlite"
        store = ProvenanceStore(path)
        record = {
            "kind": "execution",
            "kernel_session": "bench",
            "notebook": NOTEBOOK,
            "code_sha256": "sha256:" + "0" * 64,
            "outputs_digest": "sha256:" + "1" * 64,
            "files": {"read": [{"path": "data.csv", "sha256": "2" * 64, "size": 1024}]},
        }
        for _ in range(VERIFY_RECORDS // 5000):
            store.append_many([{**record, "record_id": str(uuid.uuid4())} for _ in range(5000)])
        reader = ProvenanceStore(path, read_only=True)
        begin = time.perf_counter()
        problems = reader.verify()
        seconds = time.perf_counter() - begin
        assert problems == [], problems[:3]
        with sqlite3.connect(path) as connection:
            bodies = [body for (body,) in connection.execute("SELECT body FROM records")]
        begin = time.perf_counter()
        for body in bodies:
            hashlib.sha256(body.encode()).digest()
        floor = time.perf_counter() - begin
        checkpoint_cost(path)
    print(f"(d) store verification, {VERIFY_RECORDS:,} records (read-only):")
    print(
        f"  verify(): {seconds:.3f} s (target <= 2 s); hashing the bodies alone {floor:.3f} s,"
        f" ratio {seconds / floor:.1f}"
    )


def checkpoint_cost(path: Path, runs: int = 200) -> None:
    """(e) a checkpoint's signature (in-process Ed25519 SSHSIG over the signed note), p50
    of ``runs``; for information, a whole checkpoint at a save (the size and head read from
    the store of ``path``, signed, appended) and ``log --verify``'s check of the store
    against the checkpoints."""
    from jupyter_qsecure.provenance import ProvenanceStore
    from jupyter_qsecure.provenance.checkpoint import Checkpointer, sign_checkpoint, verify_files

    checkpointer = Checkpointer(ProvenanceStore(path))
    size, head = checkpointer.store.size_and_head()
    key = checkpointer.signing_key()
    signing, whole = [], []
    for index in range(runs):
        begin = time.perf_counter()
        sign_checkpoint(checkpointer.origin, size + index, head, key)
        signing.append(time.perf_counter() - begin)
    for _ in range(20):
        begin = time.perf_counter()
        checkpointer.checkpoint()
        whole.append(time.perf_counter() - begin)
    public = checkpointer.key_path.with_name(checkpointer.key_path.name + ".pub")
    begin = time.perf_counter()
    problems = verify_files(ProvenanceStore(path, read_only=True), checkpointer.path, public)[0]
    checked = time.perf_counter() - begin
    assert problems == [], problems
    print("(e) signed checkpoints:")
    print(f"  one signature: {p50_ms(signing):.3f} ms p50 of {runs} (target <= 5 ms)")
    print(
        f"  a whole checkpoint at a save ({size:,} records: count, head, sign, append):"
        f" {p50_ms(whole):.3f} ms p50 (for information)"
    )
    print(f"  the store checked against its checkpoints: {checked:.3f} s (for information)")


def append_cost(count: int = 200) -> None:
    """For the diagnosis: what one ``ProvenanceStore.append`` costs the background worker,
    as it is (a connection opened and closed per record: the last close checkpoints the
    WAL) and with another connection holding the database open."""
    import uuid

    from jupyter_qsecure.provenance import ProvenanceStore

    def timed(store: ProvenanceStore) -> tuple[float, float]:
        record = {"kind": "execution", "kernel_session": "bench", "notebook": NOTEBOOK}
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(count):
            store.append({**record, "record_id": str(uuid.uuid4())})
        return (
            (time.perf_counter() - wall) / count * 1000,
            (time.process_time() - cpu) / count * 1000,
        )

    with tempfile.TemporaryDirectory() as folder:
        store = ProvenanceStore(Path(folder) / "append.sqlite")
        store.append({"kind": "environment", "record_id": "first", "kernel_session": "bench"})
        alone = timed(store)
        held = sqlite3.connect(store.path)
        held.execute("SELECT count(*) FROM records").fetchone()
        try:
            shared = timed(store)
        finally:
            held.close()
    print("the background worker's store append, per record (in this process, mean of 200):")
    print(
        f"  as ProvenanceStore does it (connect, append, close): {alone[0]:.3f} ms wall, {alone[1]:.3f} ms CPU"
    )
    print(
        f"  while another connection holds the file open:        {shared[0]:.3f} ms wall, {shared[1]:.3f} ms CPU"
    )


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
