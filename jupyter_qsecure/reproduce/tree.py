"""The files of a data folder, as a manifest lists them: every regular file under the root,
by its path relative to the root (``/``-separated), never anything outside it.

- A symbolic link to a file inside the root is listed (its content is the file's); a link
  to a folder inside the root is not descended (its files are listed where they are); a
  link that leaves the root or leads nowhere is a :class:`Problem`, never followed.
- FIFOs, sockets and devices are problems (opening one could block forever or read a disk).
- A name that is not UTF-8 cannot be written in a BagIt manifest: a problem naming it.
- A folder that cannot be listed is a problem; the walk goes on with the rest.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass

_KINDS = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


@dataclass(frozen=True)
class FileEntry:
    """A regular file: its path in the manifest's terms, the path to open, its identity."""

    path: str
    source: str
    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int

    @property
    def signature(self) -> tuple[int, int, int, int]:
        """What tells whether the file changed since it was hashed (size, mtime, ctime, inode)."""
        return (self.size, self.mtime_ns, self.ctime_ns, self.inode)


@dataclass(frozen=True)
class Problem:
    """A path that could not be listed or read, and why."""

    path: str
    reason: str


def kind_of(mode: int) -> str:
    """What a non-regular, non-directory file is, in words."""
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def display(path: str) -> str:
    """A path safe to print on a terminal: control characters and undecodable bytes escaped."""
    out = []
    for char in path:
        if ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F:  # C0, DEL and C1 (8-bit CSI)
            out.append(f"\\x{ord(char):02x}")
        elif 0xDC80 <= ord(char) <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
            out.append(f"\\x{ord(char) - 0xDC00:02x}")
        else:
            out.append(char)
    return "".join(out)


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _inside(real: str, root: str) -> bool:
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def _entry(path: str, source: str, info: os.stat_result) -> FileEntry:
    return FileEntry(path, source, info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino)


def walk(root: str, exclude: frozenset[str] = frozenset()) -> Iterator[FileEntry | Problem]:
    """Every file under ``root`` (sorted by path, depth first) or a problem met on the way.

    ``exclude`` holds real paths (folders or files) left out silently (a bag's own tag
    files when the bag sits inside the folder it describes)."""
    real_root = os.path.realpath(root)
    yield from _walk_folder(real_root, "", real_root, exclude)


def _walk_folder(
    folder: str, prefix: str, real_root: str, exclude: frozenset[str]
) -> Iterator[FileEntry | Problem]:
    try:
        with os.scandir(folder) as scan:
            entries = sorted(scan, key=lambda e: os.fsencode(e.name))
    except OSError as error:
        yield Problem(
            prefix.rstrip("/") or ".", f"cannot list this folder: {error.strerror or error}"
        )
        return
    for item in entries:
        path = prefix + item.name
        if item.path in exclude:
            continue
        if not _utf8(item.name):
            yield Problem(
                path,
                "the name is not UTF-8, and BagIt manifests are UTF-8 text: rename it",
            )
            continue
        try:
            info = item.stat(follow_symlinks=False)
        except OSError as error:
            yield Problem(path, f"cannot read its status: {error.strerror or error}")
            continue
        if stat.S_ISLNK(info.st_mode):
            yield from _link(item.path, path, real_root)
        elif stat.S_ISDIR(info.st_mode):
            yield from _walk_folder(item.path, path + "/", real_root, exclude)
        elif stat.S_ISREG(info.st_mode):
            yield _entry(path, item.path, info)
        else:
            yield Problem(
                path, f"{kind_of(info.st_mode)}, not a regular file: it cannot be in a manifest"
            )


def _link(source: str, path: str, real_root: str) -> Iterator[FileEntry | Problem]:
    target = os.path.realpath(source)
    if not _inside(target, real_root):
        yield Problem(path, "a symbolic link to a path outside the folder: not followed")
        return
    try:
        info = os.stat(target, follow_symlinks=False)
    except OSError:
        yield Problem(path, "a symbolic link to nothing (dangling)")
        return
    if stat.S_ISDIR(info.st_mode):
        return  # a second view of files listed where they are
    if stat.S_ISREG(info.st_mode):
        yield _entry(path, target, info)
    else:
        yield Problem(
            path, f"a symbolic link to {kind_of(info.st_mode)}: it cannot be in a manifest"
        )
