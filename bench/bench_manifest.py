"""Dataset manifests: hashing throughput of ``manifest create`` against ``sha256sum`` over
the same files in the same run, and ``verify --quick`` against a full ``verify``.

The tree: a few large files (1 GB together by default) and 10,000 small ones (1-8 KiB).
Every file is read once before timing, so each contender reads from the page cache and
the figures compare hashing, not the disk. Baseline: GNU ``sha256sum`` (one process, one
core) over the same files, by ``xargs``. Targets: ours >= 0.9x sha256sum on one thread,
>= 1.7x on two cores; memory flat in file size (peak RSS printed).

    python bench/bench_manifest.py [--gigabytes 1.0] [--small 10000] [--reproduce]

With ``--reproduce``: ``jupyter qsecure reproduce``'s overhead (input checks, environment
probe, comparison, the qsecure provisioner) over a plain nbclient run of the same 20-cell
notebook reading a 10 MB input, runs alternating, median of 5. Target: <= 10%.

With ``--s3``: ``manifest create`` and ``verify`` over an ``s3://`` prefix served by moto's
S3 server in a process of its own on this machine (a protocol double: the server shares
the cores), against reading every object with s3fs and hashing it with
hashlib one after another, same run. For information (no target of the issue's).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from jupyter_qsecure.reproduce import create_manifest, verify_manifest

BLOCK = os.urandom(1 << 20)


def build_tree(root: Path, gigabytes: float, small: int) -> tuple[int, int]:
    """Write the tree; return (files, bytes)."""
    large = 4
    size = int(gigabytes * (1 << 30)) // large
    total = 0
    for number in range(large):
        with (root / f"large-{number}.bin").open("wb") as stream:
            written = 0
            while written < size:
                chunk = BLOCK[: min(len(BLOCK), size - written)]
                stream.write(number.to_bytes(4, "big") + chunk[4:])
                written += len(chunk)
        total += size
    for number in range(small):
        folder = root / "runs" / f"{number // 500:03}"
        folder.mkdir(parents=True, exist_ok=True)
        data = BLOCK[number : number + 1024 * (1 + number % 8)]
        (folder / f"shot-{number:05}.dat").write_bytes(data)
        total += len(data)
    return large + small, total


def timed(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def best(function: Callable[[], object], rounds: int) -> float:
    return min(timed(function) for _ in range(rounds))


def sha256sum(root: Path, command: tuple[str, ...] = ("sha256sum",)) -> None:
    """GNU sha256sum (or ``command``) over every file under ``root``, fed through xargs."""
    names = b"\0".join(os.fsencode(p) for p in root.rglob("*") if p.is_file())
    subprocess.run(
        ["xargs", "-0", *command], input=names, stdout=subprocess.DEVNULL, cwd=root, check=True
    )


def bench_reproduce(rounds: int = 5) -> None:
    """reproduce() vs NotebookClient.execute() on the same notebook, alternating."""
    import json
    import statistics

    import nbformat
    from nbclient import NotebookClient

    from jupyter_qsecure.reproduce import reproduce
    from jupyter_qsecure.signing.canonical import outputs_digest, source_digest

    with tempfile.TemporaryDirectory(prefix="bench-reproduce-") as scratch:
        folder = Path(scratch)
        os.environ["XDG_CACHE_HOME"] = str(folder / "cache")
        (folder / "input.bin").write_bytes(os.urandom(10 << 20))
        cells = ["data = open('input.bin', 'rb').read()\nprint(len(data))"]
        cells += [f"print(sum(data[{i}::4096]))" for i in range(19)]
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
        NotebookClient(nb, resources={"metadata": {"path": scratch}}).execute()
        digest = hashlib.sha256((folder / "input.bin").read_bytes()).hexdigest()
        for cell in nb.cells:
            cell.metadata["qsecure"] = {
                "execution": {
                    "code_sha256": source_digest(cell.source),
                    "outputs_digest": outputs_digest(json.loads(json.dumps(cell.outputs))),
                    "files": {"read": [{"path": "input.bin", "sha256": digest}]},
                }
            }
        path = folder / "bench.ipynb"
        nbformat.write(nb, path)

        def plain() -> None:
            copy = nbformat.read(path, as_version=4)
            NotebookClient(copy, resources={"metadata": {"path": scratch}}).execute()

        def ours() -> None:
            assert reproduce(path).reproduced

        plain_times, our_times = [], []
        for _ in range(rounds):
            plain_times.append(timed(plain))
            our_times.append(timed(ours))
    base, mine = statistics.median(plain_times), statistics.median(our_times)
    print(f"reproduce a 20-cell notebook reading a 10 MB input, median of {rounds}, alternating:")
    print(f"  plain nbclient execute        {base:6.2f} s")
    print(
        f"  jupyter qsecure reproduce     {mine:6.2f} s  overhead {100 * (mine / base - 1):+.0f}% (target <= +10%)"
    )


def bench_s3(megabytes: int = 256, small: int = 500) -> None:
    """``manifest create`` / ``verify`` over ``s3://`` against a sequential s3fs read."""
    import secrets as random_secrets
    import socket
    import sys

    import s3fs

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Its own process: a server in this one would compete with the hashing for the GIL.
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_ACCESS_KEY_ID": "bench-" + random_secrets.token_hex(4),
            "AWS_SECRET_ACCESS_KEY": random_secrets.token_hex(12),
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    try:
        fs = s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False)
        fs.mkdir("bench")
        large = 4
        for number in range(large):
            fs.pipe_file(f"bench/data/large-{number}.bin", BLOCK * (megabytes // large))
        fs.pipe({f"bench/data/small/{i:05d}.txt": os.urandom(2048) for i in range(small)})
        octets = megabytes << 20
        with tempfile.TemporaryDirectory(prefix="bench-s3-") as scratch:
            os.environ["XDG_CACHE_HOME"] = str(Path(scratch) / "cache")
            started = time.perf_counter()
            for name in sorted(fs.find("bench/data")):
                hashlib.sha256(fs.cat_file(name)).hexdigest()
            baseline = time.perf_counter() - started
            started = time.perf_counter()
            result = create_manifest("s3://bench/data", out=Path(scratch) / "data.bag")
            created = time.perf_counter() - started
            assert result.written and result.files == large + small, result
            started = time.perf_counter()
            check = verify_manifest(Path(scratch) / "data.bag")
            verified = time.perf_counter() - started
            assert check.intact, check
            started = time.perf_counter()
            verify_manifest(Path(scratch) / "data.bag", quick=True)
            quick = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=30)
    mib = octets / (1 << 20)
    print(f"s3:// prefix on moto's S3 server here: {large + small} objects, {mib:,.0f} MiB")
    print(f"  s3fs cat + hashlib, one by one  {baseline:7.2f} s  {mib / baseline:7.0f} MiB/s")
    print(
        f"  manifest create s3://           {created:7.2f} s  {mib / created:7.0f} MiB/s"
        f"  ratio {baseline / created:.2f}x"
    )
    print(f"  manifest verify (full)          {verified:7.2f} s  ratio {baseline / verified:.2f}x")
    print(f"  manifest verify --quick         {quick:7.2f} s  (listing only, ETags unchanged)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gigabytes", type=float, default=1.0)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--reproduce", action="store_true", help="Only the reproduce overhead.")
    parser.add_argument("--s3", action="store_true", help="Only create/verify over s3://.")
    options = parser.parse_args()
    if options.reproduce:
        bench_reproduce()
        return 0
    if options.s3:
        bench_s3()
        return 0
    if shutil.which("sha256sum") is None:
        print("needs GNU sha256sum (coreutils)")
        return 2
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="bench-manifest-") as scratch:
        os.environ["XDG_CACHE_HOME"] = str(Path(scratch) / "cache")
        data = Path(scratch) / "dataset"
        data.mkdir()
        files, octets = build_tree(data, options.gigabytes, options.small)
        sha256sum(data)  # warm the page cache
        mib = octets / (1 << 20)
        print(f"tree: {files:,} files, {mib:,.0f} MiB ({options.small:,} small), {cores} cores")
        number = iter(range(1_000_000))

        def create(algorithm: str, workers: int) -> Callable[[], object]:
            return lambda: create_manifest(
                data, algorithm=algorithm, workers=workers, out=Path(scratch) / f"b{next(number)}"
            )

        baseline = best(lambda: sha256sum(data), options.rounds)
        openssl = (
            best(lambda: sha256sum(data, ("openssl", "dgst", "-sha256")), options.rounds)
            if shutil.which("openssl")
            else None
        )
        one = best(create("sha256", 1), options.rounds)
        every = best(create("sha256", cores), options.rounds)
        blake3 = best(create("blake3", cores), options.rounds)
        print(
            f"  sha256sum (1 process)              {baseline:7.2f} s  {mib / baseline:7.0f} MiB/s"
        )
        if openssl is not None:
            print(
                f"  openssl dgst -sha256 (1 process)   {openssl:7.2f} s  {mib / openssl:7.0f} MiB/s"
                "  (OpenSSL, as Python's hashlib: a second baseline)"
            )
        print(
            f"  manifest create sha256, 1 thread   {one:7.2f} s  {mib / one:7.0f} MiB/s  ratio {baseline / one:.2f}x (target >= 0.9x)"
            + (f", {openssl / one:.2f}x openssl" if openssl is not None else "")
        )
        print(
            f"  manifest create sha256, {cores} threads  {every:7.2f} s  {mib / every:7.0f} MiB/s  ratio {baseline / every:.2f}x (target >= 1.7x on 2 cores)"
        )
        print(
            f"  manifest create blake3, {cores} threads  {blake3:7.2f} s  {mib / blake3:7.0f} MiB/s  ratio {baseline / blake3:.2f}x"
        )
        bag = Path(scratch) / "bag"
        create_manifest(data, out=bag, workers=cores)
        full = best(lambda: verify_manifest(bag, workers=cores), options.rounds)
        quick = best(lambda: verify_manifest(bag, quick=True, workers=cores), options.rounds)
        assert verify_manifest(bag, quick=True).from_cache == files
        print(f"  manifest verify (full)             {full:7.2f} s")
        print(
            f"  manifest verify --quick            {quick:7.2f} s  ratio {full / quick:.1f}x faster"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"  peak RSS of this process: {peak:.0f} MiB (files up to {octets // 4 / (1 << 20):,.0f} MiB each)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
