"""Scan an uploaded archive: a 13 MB zip of four CSV files (31 MB unpacked), as the guard
reads an upload.

Baselines, same run, same bytes, in-process: unpacking alone (``zipfile`` reading every
file: what any archive reader pays), and the guard's scan of the same bytes as binary
data (the printable runs of the compressed bytes; what an upload cost before archives were
read as their files). Prints medians and the ratios.
"""

from __future__ import annotations

import io
import random
import statistics
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

from jupyter_qsecure.guard import Scanner

RUNS = 5


def median_seconds(function: Callable[[], object]) -> float:
    """Median wall time of :data:`RUNS` calls, after one warm-up call."""
    function()
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def build_archive() -> bytes:
    """Four CSV files of measurement results, deflated."""
    rng = random.Random(1)
    rows = "".join(
        f"{i},{rng.random():.6f},{rng.randint(0, 1023)}\n" for i in range(400_000)
    ).encode()
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as archive:
        for run in range(4):
            archive.writestr(f"data/run{run}.csv", rows)
    return packed.getvalue()


def main() -> int:
    raw = build_archive()
    scanner = Scanner()
    path = Path("results.zip")

    def unpack() -> object:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            return [archive.read(info) for info in archive.infolist()]

    unpacked = sum(len(data) for data in unpack())  # type: ignore[union-attr]
    ours = median_seconds(lambda: scanner.scan_binary(raw, path=path))
    floor = median_seconds(unpack)
    as_binary = median_seconds(lambda: scanner._scan_strings(raw, path))
    print(f"archive: {len(raw):,} bytes, 4 CSV files, {unpacked:,} bytes unpacked, p50 of {RUNS}")
    print(f"  guard, the files it holds scanned:        {ours * 1000:8.0f} ms")
    print(f"  unpacking alone (zipfile):                 {floor * 1000:8.0f} ms")
    print(f"  guard, the bytes read as binary (before):  {as_binary * 1000:8.0f} ms")
    print(f"  ratio (ours / unpacking): {ours / floor:.2f}")
    print(f"  ratio (ours / as binary): {ours / as_binary:.2f}")
    print(f"  unpacked text scanned: {unpacked / ours / 1e6:.0f} MB/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
