"""The files a recorded run read, checked before the re-run: each one is ``same`` (the
SHA-256 its record names), ``in manifest`` (and a verified bag lists that digest),
``changed``, ``missing``, ``unhashed`` (recorded by size only) or ``written by the
notebook`` (an earlier cell's record wrote it before this read: the re-run makes it again).

Every read is checked, not only a path's first: a file that one cell read as the pinned
data and a later cell read as something else (changed between them by code the recorder
did not see write it) cannot match both. A path is opened without blocking and hashed
only when it is a regular file: a FIFO or a device named by a record (``/dev/zero``) is
never read.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Any

from ..provenance import execution_record
from .tree import kind_of

_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
)
WRITTEN = "written by the notebook"
#: States of an input found as the recorded run read it.
AS_RECORDED = ("same", "in manifest")


def current_sha256(target: Path) -> tuple[str | None, str]:
    """The SHA-256 of the regular file at ``target`` now, or None and why not."""
    try:
        fd = os.open(target, _OPEN_FLAGS)
    except (OSError, ValueError):  # ValueError: a NUL in the path
        return None, "read by the recorded run, not there now"
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None, f"read by the recorded run, now {kind_of(info.st_mode)}: not read"
        os.set_blocking(fd, True)
        digest = hashlib.sha256()
        while block := os.read(fd, 1 << 20):
            digest.update(block)
    except OSError as error:
        return None, f"read by the recorded run, cannot be read now: {error.strerror or error}"
    finally:
        os.close(fd)
    return digest.hexdigest(), ""


def manifest_digests(bags: list[Path]) -> dict[str, str]:
    """sha256 digest -> "BAG: data/PATH" for every file of the verified bags."""
    from .bagit import manifest_name, parse_manifest
    from .manifest import read_tag_file

    known: dict[str, str] = {}
    for bag in bags:
        name = manifest_name("sha256")
        entries = parse_manifest(read_tag_file(bag / name).decode("utf-8"), name, "sha256")
        for path, digest in entries.items():
            known.setdefault(digest, f"{bag.name}: {path}")
    return known


def _entries(execution: dict[str, Any] | None, kind: str) -> list[dict[str, Any]]:
    files = execution.get("files") if execution is not None else None
    listed = files.get(kind) if isinstance(files, dict) else None
    return (
        [entry for entry in listed or [] if isinstance(entry, dict)]
        if isinstance(listed, list)
        else []
    )


def _path(entry: dict[str, Any]) -> str:
    path = entry.get("path")
    return path if isinstance(path, str) else ""


def check_inputs(
    notebook: dict[str, Any],
    folder: Path,
    bags: list[Path],
    pinned: dict[str, str] | None = None,
) -> list[dict[str, str]]:
    """Each file a recorded cell read (each path once per recorded digest), in order.
    ``pinned`` is :func:`manifest_digests` of the bags, read when they were verified;
    without it, they are read now."""
    if pinned is None:
        pinned = manifest_digests(bags) if bags else {}
    return list(_checked(notebook, folder, pinned)[0].values())


def _checked(
    notebook: dict[str, Any], folder: Path, pinned: dict[str, str]
) -> tuple[dict[tuple[str, str | None], dict[str, str]], dict[int, list[tuple[str, str]]]]:
    """The inputs checked (by path and recorded digest), and for each cell (its index in
    the notebook's cells) the reads it made of a file found as recorded."""
    seen: dict[tuple[str, str | None], dict[str, str]] = {}
    by_cell: dict[int, list[tuple[str, str]]] = {}
    written: dict[str, int] = {}
    cells = notebook.get("cells")
    for number, cell in enumerate(cells if isinstance(cells, list) else [], start=1):
        execution = execution_record(cell)
        for entry in _entries(execution, "read"):
            path = _path(entry)
            recorded = entry.get("sha256")
            recorded = recorded if isinstance(recorded, str) else None
            if not path:
                continue
            if (path, recorded) not in seen:
                seen[(path, recorded)] = _state(path, recorded, folder, pinned, written)
            if recorded is not None and seen[(path, recorded)]["state"] in AS_RECORDED:
                by_cell.setdefault(number - 1, []).append((path, recorded))
        for entry in _entries(execution, "written"):
            if _path(entry):
                written.setdefault(_path(entry), number)
    return seen, by_cell


class InputCheck:
    """The inputs of a recorded run, checked before the re-run (:attr:`inputs`), and again
    as the re-run reads them: :meth:`before_cell` and :meth:`after_cell`, called as each
    cell is about to run and once it ran, hash the files its record says it read, where
    the re-run's kernel reads them (its working folder), and mark one that no longer has
    the checked bytes ``changed``. Code whose record hides that it rewrote the file (in
    an earlier cell, or in the cell itself before reading it), or another process, would
    otherwise have the re-run compute from other bytes than the ones reported ``same``
    or ``in manifest``. (Code that swaps the bytes and puts them back within one cell is
    not seen this way.)

    A file is hashed again only when its identity (device, inode, size, modification and
    change times) is not the one it had when last hashed here: writing a file, renaming
    another over it or changing it through a link moves its change time, which code
    cannot set. A file changed less than :data:`SETTLE_NS` before it was hashed is hashed
    again each time (the kernel keeps file times in clock ticks, so a write in the same
    tick may leave them as they were). A 20-cell notebook reading a 10 MB input paid 40
    hashes of it without this (+70% on the re-run), one with it."""

    def __init__(
        self,
        notebook: dict[str, Any],
        folder: Path,
        bags: list[Path],
        pinned: dict[str, str] | None = None,
    ) -> None:
        if pinned is None:
            pinned = manifest_digests(bags) if bags else {}
        self._seen, self._by_cell = _checked(notebook, folder, pinned)
        #: path -> its identity when last hashed here with the recorded digest.
        self._settled: dict[Path, tuple[int, ...]] = {}
        cells = notebook.get("cells")
        self._numbers: dict[int, int] = {}
        for index, cell in enumerate(cells if isinstance(cells, list) else []):
            if isinstance(cell, dict) and cell.get("cell_type") == "code":
                self._numbers[index] = len(self._numbers) + 1

    @property
    def inputs(self) -> list[dict[str, str]]:
        """Each input's state, as :func:`check_inputs` reports it (updated by the re-run)."""
        return list(self._seen.values())

    def before_cell(self, index: int, workdir: Path) -> None:
        """Check again the files cell ``index`` read, as the re-run is about to read them."""
        self._recheck(index, workdir, "was about to read it again")

    def after_cell(self, index: int, workdir: Path) -> None:
        """Check again the files cell ``index`` read, once it ran (a record hashes the files
        a cell read when it ends: a cell that swapped one before reading it, and whose
        record hides the write, left other bytes there)."""
        self._recheck(index, workdir, "had run again")

    def _recheck(self, index: int, workdir: Path, when: str) -> None:
        number = self._numbers.get(index, index + 1)
        for path, recorded in self._by_cell.get(index, []):
            item = self._seen[(path, recorded)]
            if item["state"] not in AS_RECORDED:
                continue  # already found changed before an earlier read
            target = Path(path) if Path(path).is_absolute() else workdir / path
            before = _identity(target)
            if before is not None and self._settled.get(target) == before:
                continue  # as it was when its bytes were hashed here
            current, why = current_sha256(target)
            if current == recorded:
                if before is not None and before == _identity(target) and _settled(before):
                    self._settled[target] = before
                continue
            self._settled.pop(target, None)
            found = f"SHA-256 {current[:12]}..." if current is not None else why
            item["state"] = "changed" if current is not None else "missing"
            item["detail"] = (
                f"as recorded before the re-run, but when cell {number} {when}: "
                f"{found} (the notebook's code or another process changed it, and no "
                "record says so): the re-run did not read the bytes checked"
            )


#: How long before a hash a file's last change must be for its identity to vouch for its
#: bytes afterwards (file times are kept in clock ticks of up to 10 ms).
SETTLE_NS = 200_000_000


def _identity(target: Path) -> tuple[int, ...] | None:
    """What changes when the file at ``target`` (through links) changes, or None."""
    try:
        info = os.stat(target)
    except (OSError, ValueError):
        return None
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def _settled(identity: tuple[int, ...]) -> bool:
    """Whether a file of ``identity`` last changed long enough ago (:data:`SETTLE_NS`)
    that a later write would give it another change time."""
    import time

    return time.time_ns() - identity[4] > SETTLE_NS


def _state(
    path: str,
    recorded: str | None,
    folder: Path,
    pinned: dict[str, str],
    written: dict[str, int],
) -> dict[str, str]:
    if path in written:
        detail = f"cell {written[path]} wrote it before this read; the re-run writes it again"
        return {"path": path, "state": WRITTEN, "detail": detail}
    if recorded is None:
        return {"path": path, "state": "unhashed", "detail": "recorded by size and mtime only"}
    target = Path(path) if Path(path).is_absolute() else folder / path
    current, why = current_sha256(target)
    if current is None:
        return {"path": path, "state": "missing", "detail": why}
    if current == recorded:
        if recorded in pinned:
            return {"path": path, "state": "in manifest", "detail": pinned[recorded]}
        return {"path": path, "state": "same", "detail": "same SHA-256"}
    detail = f"SHA-256 {current[:12]}..., recorded {recorded[:12]}..."
    return {"path": path, "state": "changed", "detail": detail}
