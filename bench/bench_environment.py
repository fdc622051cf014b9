"""The compact environment fingerprint a save embeds, against embedding the full one.

A save embeds the latest kernel session's environment fingerprint into the notebook. The
notebook now keeps only the distributions its code cells import (and the digest of all);
finding them reads every code cell's source. This measures, in process, what that adds to
``embed_provenance`` on the 1 MB, 600-cell workload notebook (``bench/workload.py``, 480
code cells importing numpy and qiskit), with this machine's real fingerprint
(``collect_environment``) and one execution record per code cell: p50 of 41 runs,
alternating with the baseline, the same embedding with the full fingerprint. It also
prints the size of the environment part in the notebook both ways.
"""

from __future__ import annotations

import copy
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from workload import build_notebook

from jupyter_qsecure.provenance import embed
from jupyter_qsecure.provenance.collectors import CollectorContext, collect_environment
from jupyter_qsecure.provenance.store import StoredRecord

RUNS = 41


def records(notebook: dict[str, Any], environment: dict[str, Any]) -> list[StoredRecord]:
    """One environment record, then one execution record per code cell."""
    rows = [
        {
            "record_id": "env",
            "kind": "environment",
            "kernel_session": "s",
            "environment": environment,
        }
    ]
    for count, cell in enumerate(c for c in notebook["cells"] if c["cell_type"] == "code"):
        rows.append(
            {
                "record_id": f"r{count}",
                "kind": "execution",
                "kernel_session": "s",
                "cell_id": cell["id"],
                "execution_count": count + 1,
                "code_sha256": "sha256:" + "0" * 64,
                "status": "ok",
            }
        )
    return [StoredRecord(n, row, "", f"h{n}") for n, row in enumerate(rows)]


def timed(notebook: dict[str, Any], stored: list[StoredRecord]) -> tuple[float, dict[str, Any]]:
    copied = copy.deepcopy(notebook)
    started = time.perf_counter()
    embed.embed_provenance(copied, stored)
    return (time.perf_counter() - started) * 1000, copied


def main() -> int:
    notebook = build_notebook()
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    code[0]["source"] = ["import numpy as np\n", "from qiskit import QuantumCircuit\n"]
    environment = collect_environment(CollectorContext(None, Path.cwd()))
    stored = records(notebook, environment)
    compact = embed.compact_environment
    ours: list[float] = []
    base: list[float] = []
    sizes: dict[str, int] = {}
    for _ in range(RUNS):
        elapsed, saved = timed(notebook, stored)
        ours.append(elapsed)
        sizes["compact"] = len(
            json.dumps(saved["metadata"]["qsecure"]["provenance"]["environment"])
        )
        embed.compact_environment = lambda environment, notebook: environment  # type: ignore[assignment]
        try:
            elapsed, saved = timed(notebook, stored)
        finally:
            embed.compact_environment = compact
        base.append(elapsed)
        sizes["full"] = len(json.dumps(saved["metadata"]["qsecure"]["provenance"]["environment"]))
    p50, b50 = statistics.median(ours), statistics.median(base)
    imported = saved_imported(notebook, stored)
    print(
        f"embed_provenance of a {len(json.dumps(notebook)):,}-byte notebook ({len(code)} code "
        f"cells, {environment['distributions']['count']} installed distributions), p50 of {RUNS}:"
    )
    print(
        f"  full fingerprint (baseline)     {b50:7.2f} ms  ratio 1.00  environment part {sizes['full']:,} bytes"
    )
    print(
        f"  compact fingerprint             {p50:7.2f} ms  ratio {p50 / b50:.2f}  environment part "
        f"{sizes['compact']:,} bytes (imported: {', '.join(imported)})"
    )
    print(f"  added by finding the imports: {p50 - b50:+.2f} ms")
    alone = []
    for _ in range(RUNS):
        started = time.perf_counter()
        compact(environment, notebook)
        alone.append((time.perf_counter() - started) * 1000)
    print(
        f"  compact_environment alone (the imports of 480 cells): {statistics.median(alone):.2f} ms p50"
    )
    return 0


def saved_imported(notebook: dict[str, Any], stored: list[StoredRecord]) -> list[str]:
    _, saved = timed(notebook, stored)
    environment = saved["metadata"]["qsecure"]["provenance"]["environment"]
    return list(environment["distributions"]["imported"])


if __name__ == "__main__":
    sys.exit(main())
