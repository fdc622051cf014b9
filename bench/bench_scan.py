"""Scan a 1 MB, 600-cell notebook: jupyter-qsecure against detect-secrets, same run.

Baseline: detect-secrets' in-process ``SecretsCollection.scan_file`` with its default
plugins and filters, on the same file. Prints medians and the ratio (target: >= 50x).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from workload import notebook_bytes

from jupyter_qsecure.guard import Scanner


def median_seconds(function: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``repeat`` calls, after one warm-up call."""
    function()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    from detect_secrets import SecretsCollection
    from detect_secrets.settings import default_settings

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "analysis.ipynb"
        path.write_bytes(notebook_bytes())
        scanner = Scanner()

        def ours() -> object:
            return scanner.scan_path(path)

        flagged: list[int] = []

        def theirs() -> object:
            with default_settings():
                collection = SecretsCollection()
                collection.scan_file(str(path))
            flagged.append(sum(len(found) for _, found in collection.data.items()))
            return collection

        ours_s = median_seconds(ours, 21)
        theirs_s = median_seconds(theirs, 3)
        findings = len(ours().findings)  # type: ignore[attr-defined]
        print(f"notebook: {path.stat().st_size:,} bytes, 600 cells, 20 PNG outputs")
        print(f"engine: {'hyperscan' if scanner.engine.uses_hyperscan else 're'}")
        print(
            f"jupyter-qsecure scan_path: {ours_s * 1000:8.2f} ms (median of 21), findings: {findings}"
        )
        print(
            f"detect-secrets scan_file:  {theirs_s * 1000:8.2f} ms (median of 3), findings: {flagged[-1]}"
        )
        print(f"ratio (detect-secrets / ours): {theirs_s / ours_s:.0f}x  (target >= 50x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
