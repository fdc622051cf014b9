"""The live checks JupyterLab makes while a notebook is edited, through a real server.

On every edit of the active notebook (debounced 600 ms) the frontend sends the editor's
unsaved content twice: ``POST /qsecure/signature {path, notebook}`` (provenance embedded
into a copy as a save would, then every signature verified against allowed_signers) and
``POST /qsecure/provenance {path, notebook}`` (the store's records embedded into a copy,
each cell judged); after a blocked save it sends ``POST /qsecure/scan {path, model}``.

The notebook is real: 200 code cells (and 40 markdown cells) are run in a python3 kernel
started by ``qsecure-provisioner`` (provenance on, the store named by a policy through
``$QSECURE_CONFIG``), 20 of them reading a 64 KB data file and 10 displaying a PNG file; the
notebook is built from the outputs the kernel sent, as JupyterLab builds it (about 1 MB).
A ``jupyter server`` with jupyter-qsecure saves it (provenance embedded) and signs it with
an ed25519 key made by ``ssh-keygen``, trusted by an allowed_signers file; the saved,
signed notebook is then the editor's content, so the signature check does the real work
(canonical payload, 200 record digests, SSHSIG) and answers "signed and valid", and the
provenance report judges 200 executed cells and re-hashes the data file.

Baseline, in the same run: ``PUT /api/contents/NB`` of the same notebook to a second
server WITHOUT jupyter-qsecure (a save, which moves the same bytes). Requests alternate
between the four, over keep-alive connections with a token, so the machine's noise hits
them alike. Prints p50 and p95 of each and its ratio to the baseline's p50, and whether
the signature check fits the 600 ms edit debounce. ``--profile`` also profiles (cProfile,
in this process) the work each live POST does on the server, for the diagnosis.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import cProfile
import http.client
import io
import json
import os
import pstats
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import nbformat
from bench_save import Server
from kernels import configure_provisioner_context, start_kernel, stop_kernel
from workload import _png

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from kernel_client import execute

CODE_CELLS = 200
MARKDOWN_EVERY = 5  # a markdown cell before every 5th code cell: 40
READERS = 20  # cells that read data.csv (their records list it, hashed)
PLOTS = 10  # cells that display a PNG
ROWS = 32  # lines of the table each cell prints
ROUNDS = 50
WARMUP = 3
DEBOUNCE_MS = 600
SLOW_MS = 100  # an endpoint slower than this at p50 is profiled
NB = "bench/run.ipynb"


def cell_source(index: int) -> str:
    """Code printing a table of about 2.5 KB, as an analysis cell does."""
    lines = [
        "import random",
        f"rng = random.Random({index})",
        f"shots = {1000 + index}",
        f"rows = [(i, rng.random(), rng.random(), rng.getrandbits(64)) for i in range({ROWS})]",
        "for i, a, b, c in rows:",
        "    print(f'{i:4d}  {a:.6f}  {b:.6f}  {c:016x}  bell-state counts')",
    ]
    if index % (CODE_CELLS // READERS) == 3:
        lines.append("data = open('data.csv').read().splitlines()")
        lines.append("print(len(data), 'rows of data.csv')")
    if index % (CODE_CELLS // PLOTS) == 7:
        lines.append("from IPython.display import Image, display")
        lines.append(f"display(Image(filename='figures/fig{index}.png'))")
    lines.append("{'00': shots // 2, '11': shots - shots // 2}")
    return "\n".join(lines)


def wait_for_records(store: Path) -> None:
    from jupyter_qsecure.provenance import ProvenanceStore

    deadline = time.monotonic() + 120
    while True:
        if store.exists():
            records = ProvenanceStore(store).for_notebook(NB)
            if sum(r.record.get("kind") == "execution" for r in records) >= CODE_CELLS:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the kernel did not store its {CODE_CELLS} records within 120 s")
        time.sleep(0.1)


async def executed_notebook(root: Path, store: Path) -> dict[str, Any]:
    """Run the 200 code cells in a kernel with provenance on; the notebook JupyterLab holds."""
    configure_provisioner_context(root)
    folder = root / "bench"
    previous = Path.cwd()
    os.chdir(folder)  # the kernel's working folder: the notebook's
    manager, client, _ = await start_kernel("qsecure-provisioner", root)
    cells: list[dict[str, Any]] = []
    try:
        for index in range(CODE_CELLS):
            if index % MARKDOWN_EVERY == 0:
                text = f"## Step {index // MARKDOWN_EVERY}\n\nA Bell state, {1000 + index} shots.\n"
                cells.append(nbformat.v4.new_markdown_cell(text, id=f"m{index}"))
            source = cell_source(index)
            outputs = await execute(client, source, f"c{index}")
            assert not any(o["output_type"] == "error" for o in outputs), outputs
            cell = nbformat.v4.new_code_cell(source, id=f"c{index}", execution_count=index + 1)
            cell["outputs"] = outputs
            cells.append(cell)
        wait_for_records(store)  # before the kernel stops: its writer runs after idle
    finally:
        await stop_kernel(manager, client)
        os.chdir(previous)
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook["metadata"]["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return dict(json.loads(json.dumps(notebook)))  # plain dicts and lists, as JSON


def policy(root: Path, store: Path) -> None:
    """A key made by ssh-keygen, allowed_signers trusting it, and the policy naming both
    and the provenance store."""
    key = root.parent / "keys" / "author"
    key.parent.mkdir()
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "author", "-f", str(key)],
        check=True,
        timeout=60,
    )
    public = key.with_suffix(".pub").read_text().split()
    allowed = root.parent / "keys" / "allowed_signers"
    allowed.write_text(f"author@lab.example {public[0]} {public[1]}\n")
    file = root.parent / "qsecure.toml"
    file.write_text(
        f"[provenance]\nstore = {str(store)!r}\n\n"
        f"[signing]\nkey = {str(key)!r}\nprincipal = 'author@lab.example'\n"
        f"allowed_signers = {str(allowed)!r}\nrequire = 1\n",
        encoding="utf-8",
    )
    os.environ["QSECURE_CONFIG"] = str(file)


def with_credential(notebook: dict[str, Any]) -> dict[str, Any]:
    """The notebook with an AWS key pair typed into one cell: what a blocked save holds
    (made up at run time, so this file holds nothing that looks like a credential)."""
    rng = random.Random(7)
    upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    key_id = "AK" + "IA" + "".join(rng.choice(upper) for _ in range(16))
    secret = "".join(rng.choice(b64) for _ in range(40))
    leaked = copy.deepcopy(notebook)
    cell = next(c for c in leaked["cells"] if c["cell_type"] == "code")
    cell["source"] += f'\naws_access_key_id = "{key_id}"\naws_secret_access_key = "{secret}"'
    return leaked


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


def server_work(
    root: Path, notebook: dict[str, Any], leaked: dict[str, Any]
) -> dict[str, Callable[[], object]]:
    """What each live POST does on the server, as functions to run in this process:
    parse the request body, make the call the handler makes (``check_unsaved``,
    ``provenance_report``, ``SaveGuard.check``), serialise the answer. No HTTP."""
    from jupyter_qsecure.config import load_policy
    from jupyter_qsecure.guard import BypassStore, SaveBlocked, SaveGuard
    from jupyter_qsecure.provenance import ProvenanceStore
    from jupyter_qsecure.provenance.embed import ProvenanceSaveHook
    from jupyter_qsecure.provenance.report import provenance_report
    from jupyter_qsecure.signing.service import SigningService

    loaded = load_policy()
    assert loaded.provenance.store is not None
    store = ProvenanceStore(loaded.provenance.store)
    signing = SigningService(loaded.signing)
    guard = SaveGuard(loaded.guard, root, BypassStore(root.parent / "bypasses.json"))
    limit = loaded.provenance.timeline_limit
    body = json.dumps({"path": NB, "notebook": notebook}).encode()
    scan_body = json.dumps(
        {"path": NB, "model": {"type": "notebook", "format": "json", "content": leaked}}
    ).encode()

    def signature() -> None:
        saved = copy.deepcopy(json.loads(body)["notebook"])
        ProvenanceSaveHook(store, limit)({"type": "notebook", "content": saved}, NB)
        verdict = signing.verify(saved)
        assert verdict.status == "signed and valid", verdict.status
        json.dumps(verdict.to_json())

    def provenance() -> None:
        editor = json.loads(body)["notebook"]
        records = store.for_notebook(NB)
        json.dumps(provenance_report(editor, NB, root / "bench", records, limit))

    def scan() -> None:
        request = json.loads(scan_body)
        try:
            guard.check(request["model"], NB, audit=False)
        except SaveBlocked as blocked:
            json.dumps(blocked.to_json())

    return {"signature": signature, "provenance": provenance, "scan": scan}


def in_process_ms(function: Callable[[], object], repeat: int = 11) -> float:
    function()
    times = []
    for _ in range(repeat):
        begin = time.perf_counter()
        function()
        times.append(time.perf_counter() - begin)
    return statistics.median(times) * 1000


def profile(name: str, function: Callable[[], object], lines: int = 16) -> None:
    """cProfile of one endpoint's work, in this process (the handlers run it in a worker
    thread, out of reach of a profiler started with the server)."""
    function()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(5):
        function()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(lines)
    print(f"\n--- cProfile of POST /qsecure/{name}'s work, 5 calls, by cumulative time")
    print("\n".join(line for line in out.getvalue().splitlines()[6:] if line.strip()))


def fast_path_cells(notebook: dict[str, Any]) -> tuple[int, int]:
    """How many cells' canonical form takes the fast path, of how many."""
    from jupyter_qsecure.signing.canonical import _plain_json

    cells = notebook["cells"]
    return sum(_plain_json(cell) for cell in cells), len(cells)


def main() -> int:
    from jupyter_qsecure.provenance import ProvenanceStore

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder).resolve() / "qsecure"  # the servers' runtime folders go beside
        (root / "bench").mkdir(parents=True)
        rng = random.Random(3)
        (root / "bench" / "data.csv").write_text(
            "".join(f"{i},{rng.random():.9f},{rng.getrandbits(48):012x}\n" for i in range(2400))
        )
        (root / "bench" / "figures").mkdir()
        for index in range(CODE_CELLS):
            if index % (CODE_CELLS // PLOTS) == 7:
                png = base64.b64decode(_png(random.Random(index), 96, 80))
                (root / "bench" / "figures" / f"fig{index}.png").write_bytes(png)
        store = root / "provenance" / "provenance.sqlite"
        policy(root, store)
        notebook = asyncio.run(executed_notebook(root, store))
        plain_root = root.parent / "plain"
        (plain_root / "bench").mkdir(parents=True)
        servers = {"qsecure": Server(root, True), "plain": Server(plain_root, False)}
        pool = ThreadPoolExecutor(2)
        try:
            ours, plain = servers["qsecure"], servers["plain"]
            put = json.dumps({"type": "notebook", "format": "json", "content": notebook})
            ours.request("PUT", f"/api/contents/{NB}", put.encode())  # provenance embedded
            signed = json.loads(
                ours.request("POST", "/qsecure/sign", json.dumps({"path": NB}).encode())
            )
            assert signed["status"] == "signed and valid", signed
            editor = json.loads(ours.request("GET", f"/api/contents/{NB}?content=1"))["content"]
            leaked = with_credential(editor)
            editor_body = json.dumps({"path": NB, "notebook": editor}).encode()
            scan_body = json.dumps(
                {"path": NB, "model": {"type": "notebook", "format": "json", "content": leaked}}
            ).encode()
            save_body = json.dumps(
                {"type": "notebook", "format": "json", "content": editor}
            ).encode()
            calls: dict[str, Callable[[], bytes]] = {
                "baseline": lambda: plain.request("PUT", f"/api/contents/{NB}", save_body),
                "get": lambda: ours.request("GET", f"/api/contents/{NB}?content=1"),
                "signature": lambda: ours.request("POST", "/qsecure/signature", editor_body),
                "provenance": lambda: ours.request("POST", "/qsecure/provenance", editor_body),
                "scan": lambda: ours.request("POST", "/qsecure/scan", scan_body),
            }
            # The status bar and the provenance panel have a debouncer each: after an edit
            # both POSTs leave together. "edit" sends them at once, on two connections.
            second = copy.copy(ours)
            second.connection = http.client.HTTPConnection("127.0.0.1", ours.port, timeout=60)

            def edit() -> bytes:
                both = (
                    pool.submit(ours.request, "POST", "/qsecure/signature", editor_body),
                    pool.submit(second.request, "POST", "/qsecure/provenance", editor_body),
                )
                return b"".join(future.result() for future in both)

            calls["edit"] = edit
            answers = {name: call() for name, call in calls.items()}
            status = json.loads(answers["signature"])
            assert status["status"] == "signed and valid" and status["meets_policy"], status
            report = json.loads(answers["provenance"])
            badges = [cell["badge"] for cell in report["cells"]]
            assert badges == ["executed"] * CODE_CELLS, badges
            assert report["ok"] and not report["files_changed"], report
            findings = json.loads(answers["scan"])["findings"]
            assert findings, "the planted credential was not found"
            times: dict[str, list[float]] = {name: [] for name in calls}
            order = list(calls)
            for round_ in range(ROUNDS + WARMUP):
                for name in order if round_ % 2 == 0 else order[::-1]:
                    begin = time.perf_counter()
                    calls[name]()
                    if round_ >= WARMUP:
                        times[name].append(time.perf_counter() - begin)
        finally:
            pool.shutdown()
            for server in servers.values():
                server.stop()
        work = server_work(root, editor, leaked)
        local = {name: in_process_ms(function) for name, function in work.items()}
        size = len(nbformat.writes(nbformat.from_dict(editor)).encode())
        records = sum(1 for _ in ProvenanceStore(store).records())
        print(
            f"live checks of a {size:,}-byte notebook ({CODE_CELLS} code cells run in a real"
            f" kernel, {records} provenance records, signed once with ed25519), HTTP p50 / p95"
            f" of {ROUNDS}, requests alternating; the handler's work in process, p50 of 11:"
        )
        base = statistics.median(times["baseline"]) * 1000
        labels = {
            "baseline": "PUT /api/contents/NB, server WITHOUT jupyter-qsecure (baseline)",
            "get": "GET /api/contents/NB?content=1, same bytes back (reference)",
            "signature": "POST /qsecure/signature: embed + verify, signed and valid",
            "provenance": f"POST /qsecure/provenance: embed + judge {CODE_CELLS} cells",
            "scan": f"POST /qsecure/scan: {len(findings)} findings",
            "edit": "both POSTs at once, as after an edit (until both answer)",
        }
        p50s = {}
        for name, label in labels.items():
            p50s[name] = statistics.median(times[name]) * 1000
            p95 = percentile(times[name], 0.95)
            work_ms = f"   in process {local[name]:5.1f} ms" if name in local else ""
            print(
                f"  {label:<64} {p50s[name]:6.1f} / {p95:6.1f} ms"
                f"  ratio {p50s[name] / base:.2f}{work_ms}"
            )
        sig50, sig95 = p50s["signature"], percentile(times["signature"], 0.95)
        edit50, edit95 = p50s["edit"], percentile(times["edit"], 0.95)
        fits = (
            "fits comfortably (p95 under half of it)"
            if sig95 < DEBOUNCE_MS / 2
            else "fits (p95 under it)"
            if sig95 < DEBOUNCE_MS
            else "does NOT fit (p95 over it)"
        )
        print(
            f"  edit debounce {DEBOUNCE_MS} ms: the signature check takes {sig50 / DEBOUNCE_MS:.0%}"
            f" of it at p50, {sig95 / DEBOUNCE_MS:.0%} at p95: {fits}; both POSTs of an edit"
            f" {edit50 / DEBOUNCE_MS:.0%} at p50, {edit95 / DEBOUNCE_MS:.0%} at p95"
        )
        fast, cells = fast_path_cells(editor)
        print(
            f"  cells whose canonical form takes the fast path: {fast} of {cells}"
            " (the others go through rfc8785)"
        )
        for name, function in work.items():
            if p50s[name] > SLOW_MS or "--profile" in sys.argv:
                profile(name, function)
    return 0


if __name__ == "__main__":
    sys.exit(main())
