"""What survives between runs, in the user's cache folder (never in the data or the bag):

- a *run journal* per (data folder, algorithm, create|verify): one line per file hashed,
  appended as each finishes, so an interrupted run resumes where it stopped (a file is
  reused only if its size, mtime, ctime and inode are unchanged); removed when a run ends;
- the *quick cache* per (data folder, algorithm): each file's status and digest when it was
  last hashed in full, which ``verify --quick`` trusts for files whose status is unchanged.

A damaged line (a run killed mid-write) is skipped: that file is hashed again.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import IO

from .tree import FileEntry

#: path -> (size, mtime_ns, ctime_ns, inode, digest)
Known = dict[str, tuple[int, int, int, int, str]]


def cache_folder() -> Path:
    """``$XDG_CACHE_HOME/jupyter-qsecure/manifests`` (``~/.cache/...`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "jupyter-qsecure" / "manifests"


def _key(data_root: str, algorithm: str) -> str:
    real = data_root if "://" in data_root else os.path.realpath(data_root)
    return hashlib.sha256(f"{real}\0{algorithm}".encode("utf-8", "surrogateescape")).hexdigest()[
        :32
    ]


def journal_path(data_root: str, algorithm: str, kind: str) -> Path:
    """Where the journal of a ``create`` or ``verify`` run over ``data_root`` lives."""
    return cache_folder() / f"{kind}-{_key(data_root, algorithm)}.jsonl"


def quick_cache_path(data_root: str, algorithm: str) -> Path:
    """Where ``verify --quick`` finds the last full hash of each file of ``data_root``."""
    return cache_folder() / f"quick-{_key(data_root, algorithm)}.jsonl"


def load(path: Path) -> Known:
    """The entries of a journal or cache (later lines win; damaged lines skipped)."""
    known: Known = {}
    try:
        with path.open(encoding="utf-8") as stream:
            for line in stream:
                try:
                    item = json.loads(line)
                    known[str(item["p"])] = (
                        int(item["s"]),
                        int(item["m"]),
                        int(item["c"]),
                        int(item["i"]),
                        str(item["d"]),
                    )
                except (ValueError, KeyError, TypeError):
                    continue
    except FileNotFoundError:
        pass
    return known


def still(known: Known, entry: FileEntry) -> str | None:
    """The digest recorded for ``entry`` if the file is unchanged since, else None."""
    item = known.get(entry.path)
    return item[4] if item is not None and item[:4] == entry.signature else None


def _line(entry: FileEntry, digest: str) -> str:
    record = {
        "p": entry.path,
        "s": entry.size,
        "m": entry.mtime_ns,
        "c": entry.ctime_ns,
        "i": entry.inode,
        "d": digest,
    }
    return json.dumps(record, ensure_ascii=True) + "\n"


class Journal:
    """An append-only journal of the files hashed by one run (flushed line by line)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._stream: IO[str] = self.path.open("a", encoding="utf-8")

    def add(self, entry: FileEntry, digest: str) -> None:
        """Record one file hashed."""
        self._stream.write(_line(entry, digest))
        self._stream.flush()

    def close(self, *, finished: bool) -> None:
        """Close; a finished run's journal is removed (an interrupted one is kept to resume)."""
        self._stream.close()
        if finished:
            self.path.unlink(missing_ok=True)


def save_cache(path: Path, hashed: dict[str, tuple[FileEntry, str]]) -> None:
    """Replace the quick cache with ``hashed`` (path -> (entry, digest)), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    with temporary.open("w", encoding="utf-8") as stream:
        for entry, digest in hashed.values():
            stream.write(_line(entry, digest))
    os.replace(temporary, path)
