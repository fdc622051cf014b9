"""Scan a 1 MB, 600-cell notebook: jupyter-qsecure against detect-secrets and CredSweeper.

Baselines, same run, same file, in-process: detect-secrets' ``SecretsCollection.scan_file``
with its default plugins and filters; CredSweeper's default rules and ML model (one
``CredSweeper`` built once, its file scan and post-processing timed). Prints medians and
the ratios (targets: >= 50x detect-secrets, >= 100x CredSweeper).
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

        credsweeper_found: list[int] = []

        def credsweeper() -> object:
            from credsweeper.app import CredSweeper
            from credsweeper.file_handler.files_provider import FilesProvider

            sweeper = CredSweeper()
            providers = FilesProvider([path]).get_scannable_files(sweeper.config)
            sweeper.scan(providers, None)
            sweeper.post_processing(None)
            credsweeper_found.append(sweeper.credential_manager.len_credentials())
            return sweeper

        ours_s = median_seconds(ours, 21)
        theirs_s = median_seconds(theirs, 3)
        try:
            credsweeper_s: float | None = median_seconds(credsweeper, 3)
        except ImportError:
            credsweeper_s = None
        findings = len(ours().findings)  # type: ignore[attr-defined]
        print(f"notebook: {path.stat().st_size:,} bytes, 600 cells, 20 PNG outputs")
        print(f"engine: {'hyperscan' if scanner.engine.uses_hyperscan else 're'}")
        print(
            f"jupyter-qsecure scan_path: {ours_s * 1000:8.2f} ms (median of 21), findings: {findings}"
        )
        print(
            f"detect-secrets scan_file:  {theirs_s * 1000:8.2f} ms (median of 3), findings: {flagged[-1]}"
        )
        if credsweeper_s is None:
            print("CredSweeper: not installed")
        else:
            print(
                f"CredSweeper scan:          {credsweeper_s * 1000:8.2f} ms (median of 3), "
                f"findings: {credsweeper_found[-1]}"
            )
        print(f"ratio (detect-secrets / ours): {theirs_s / ours_s:.0f}x  (target >= 50x)")
        if credsweeper_s is not None:
            print(f"ratio (CredSweeper / ours): {credsweeper_s / ours_s:.0f}x  (target >= 100x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
