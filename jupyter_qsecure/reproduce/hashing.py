"""Hash many files on all cores: streamed in fixed blocks (memory flat in file size), small
files batched so a thread pool's overhead does not dominate, each file opened without
following a link and refused unless it is (still) a regular file.

``hashlib`` and ``blake3`` release the GIL while they hash, so threads use every core.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from .tree import FileEntry, Problem, kind_of

BLOCK = 1 << 20
#: Files up to this size are batched together in one task.
SMALL = 1 << 20
_BATCH_FILES = 64
_BATCH_BYTES = 16 << 20
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


#: Hashes one entry: (entry, algorithm, progress) -> a digest or a problem.
Reader = Callable[[FileEntry, str, "Progress | None"], "Hashed | Problem"]


class AlgorithmUnavailable(ValueError):
    """An algorithm this Python cannot compute (blake3 without its package)."""


def new_hasher(algorithm: str) -> Any:
    """A fresh hash object for ``sha256``, ``sha512`` or ``blake3``."""
    if algorithm in ("sha256", "sha512"):
        return hashlib.new(algorithm)
    if algorithm == "blake3":
        try:
            from blake3 import blake3
        except ImportError:
            raise AlgorithmUnavailable(
                "blake3 needs the blake3 package: pip install 'jupyter-qsecure[blake3]'"
            ) from None
        return blake3()
    raise AlgorithmUnavailable(
        f"{algorithm!r} is not an algorithm here: use sha256, sha512 or blake3"
    )


@dataclass(frozen=True)
class Hashed:
    """A file hashed: its entry (as it was when opened) and its hex digest."""

    entry: FileEntry
    digest: str


class Progress:
    """Bytes hashed so far, added to by the workers, read by whoever shows progress."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.done = 0

    def add(self, size: int) -> None:
        """Count ``size`` more bytes."""
        with self._lock:
            self.done += size


_buffers = threading.local()


def _buffer() -> memoryview:
    view = getattr(_buffers, "view", None)
    if view is None:
        view = _buffers.view = memoryview(bytearray(BLOCK))
    return view


def hash_file(
    entry: FileEntry, algorithm: str, progress: Progress | None = None
) -> Hashed | Problem:
    """Hash one file in blocks; a :class:`Problem` when it cannot be read, is no longer a
    regular file, or changes while it is read."""
    try:
        fd = os.open(entry.source, _OPEN_FLAGS)
    except OSError as error:
        return Problem(entry.path, f"cannot open it: {error.strerror or error}")
    try:
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode):
            return Problem(entry.path, f"became {kind_of(before.st_mode)}: not hashed")
        os.set_blocking(fd, True)
        if before.st_size > SMALL and hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        hasher = new_hasher(algorithm)
        view = _buffer()
        while True:
            count = os.readv(fd, [view])
            if not count:
                break
            hasher.update(view[:count])
            if progress is not None:
                progress.add(count)
        after = os.fstat(fd)
    except OSError as error:
        return Problem(entry.path, f"cannot read it: {error.strerror or error}")
    finally:
        os.close(fd)
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
        return Problem(entry.path, "it changed while it was being hashed: run again")
    seen = FileEntry(
        entry.path, entry.source, after.st_size, after.st_mtime_ns, after.st_ctime_ns, after.st_ino
    )
    return Hashed(seen, hasher.hexdigest())


def _batches(entries: Iterable[FileEntry]) -> Iterator[list[FileEntry]]:
    batch: list[FileEntry] = []
    size = 0
    for entry in entries:
        if entry.size > SMALL:
            yield [entry]
            continue
        batch.append(entry)
        size += entry.size
        if len(batch) >= _BATCH_FILES or size >= _BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def hash_files(
    entries: Iterable[FileEntry],
    algorithm: str,
    *,
    workers: int | None = None,
    progress: Progress | None = None,
    tick: Callable[[], None] | None = None,
    reader: Reader | None = None,
) -> Iterator[Hashed | Problem]:
    """Hash ``entries`` on ``workers`` threads (default: every core); results as they come.

    At most a few batches per worker are queued at once, so a tree of millions of files
    costs no more memory than a small one. ``tick`` is called a few times a second while
    waiting (to redraw a progress bar). Closing the iterator early (an interrupt) cancels
    what has not started and waits for what has. ``reader`` hashes one entry (default:
    :func:`hash_file`, a local file; an object store's reader streams an object)."""
    new_hasher(algorithm)  # fail now, not in every worker
    count = workers or os.cpu_count() or 1
    read = reader or hash_file
    queued = _batches(entries)
    pending: set[Future[list[Hashed | Problem]]] = set()

    def run(batch: list[FileEntry]) -> list[Hashed | Problem]:
        return [read(entry, algorithm, progress) for entry in batch]

    with ThreadPoolExecutor(max_workers=count, thread_name_prefix="qsecure-hash") as pool:
        try:
            for batch in queued:
                pending.add(pool.submit(run, batch))
                if len(pending) < count * 3:
                    continue
                done, pending = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
                while not done:
                    if tick:
                        tick()
                    done, pending = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
                for future in done:
                    yield from future.result()
            while pending:
                done, pending = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
                if tick:
                    tick()
                for future in done:
                    yield from future.result()
        finally:
            for future in pending:
                future.cancel()
