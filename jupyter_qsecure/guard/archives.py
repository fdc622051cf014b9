"""Archives read as what they hold: a zip file, a tar file (plain, gzip, bzip2 or xz), and a
single file compressed with gzip, bzip2 or xz.

A project uploaded as ``project.zip`` holds its ``.env`` compressed: scanned as binary
data, none of it is readable. Here each member is handed back as bytes, named by its path
in the archive, for the scanner to read as it reads any file (nested archives included, to
:data:`MAX_NESTING` levels). What is unpacked is bounded: the members' bytes together by
the scan's size limit, whatever the archive claims (a zip bomb ends there), and their
number by :data:`MAX_MEMBERS`; past either bound the archive cannot be scanned.

Members a password protects (zip encryption) cannot be read, by the guard or anyone
without the password; they are skipped. So are links and devices in a tar file.
"""

from __future__ import annotations

import bz2
import io
import lzma
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

#: Members read from one archive (nested ones included), at most.
MAX_MEMBERS = 10_000
#: Archives inside archives read, at most (a zip in a tar.gz is two).
MAX_NESTING = 3
_ZIP = (b"PK\x03\x04", b"PK\x05\x06")
_GZIP = b"\x1f\x8b"
_BZIP2 = b"BZh"
_XZ = b"\xfd7zXZ\x00"
_TAR_MAGIC_AT = 257
_DAMAGED = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    tarfile.TarError,
    lzma.LZMAError,
    zlib.error,
    OSError,
    EOFError,
    NotImplementedError,
    RuntimeError,
    ValueError,
    LookupError,
    OverflowError,
    struct.error,
)


class ArchiveError(ValueError):
    """A damaged archive; the message says why."""


class ArchiveTooLarge(ArchiveError):
    """An archive past a bound: its files' bytes together, or their number."""


@dataclass(frozen=True)
class Member:
    """One file an archive holds: its path inside (``data/.env``; nested archives joined
    with ``!/``) and its bytes."""

    name: str
    data: bytes


def is_archive(raw: bytes) -> bool:
    """Whether ``raw`` starts as an archive or compressed file this module reads."""
    return _kind(raw) is not None


def members(
    raw: bytes, limit: int, name: str = "", unread: list[str] | None = None
) -> Iterator[Member]:
    """The files the archive ``raw`` holds (``name``: its own name, for a compressed
    single file's member), unpacked to at most ``limit`` bytes in all; archives inside
    are opened too. A zip's file that cannot be read (damaged, or compressed in a way this
    Python lacks) is left out and its name added to ``unread``, and so is an archive inside
    that cannot be opened (it is handed back as it is). Raises :class:`ArchiveTooLarge`
    past a bound, :class:`ArchiveError` for an archive that cannot be read on."""
    budget = _Budget(limit)
    yield from _members(raw, name, budget, 0, unread if unread is not None else [])


class _Budget:
    def __init__(self, limit: int) -> None:
        self.bytes = limit
        self.members = MAX_MEMBERS

    def take(self, size: int) -> None:
        self.members -= 1
        self.bytes -= size
        if self.members < 0:
            raise ArchiveTooLarge(f"holds more than {MAX_MEMBERS:,} files")
        if self.bytes < 0:
            raise ArchiveTooLarge("unpacks to more than the scan's size limit")


def _kind(raw: bytes) -> str | None:
    if raw.startswith(_ZIP):
        return "zip"
    if raw.startswith(_GZIP):
        return "gzip"
    if raw.startswith(_BZIP2) and raw[3:4].isdigit():
        return "bzip2"
    if raw.startswith(_XZ):
        return "xz"
    if raw[_TAR_MAGIC_AT : _TAR_MAGIC_AT + 5] == b"ustar":
        return "tar"
    return None


def _members(
    raw: bytes, name: str, budget: _Budget, depth: int, unread: list[str]
) -> Iterator[Member]:
    kind = _kind(raw)
    try:
        if kind == "zip":
            found = _zip_members(raw, budget, unread)
        elif kind == "tar":
            found = _tar_members(raw, budget)
        else:
            data = _decompressed(raw, kind or "", budget.bytes)
            if _kind(data) == "tar":
                found = _tar_members(data, budget)
            else:
                budget.take(len(data))
                found = iter([Member(_without_suffix(name), data)])
        for member in found:
            if depth < MAX_NESTING and is_archive(member.data):
                try:
                    inside = list(_members(member.data, member.name, budget, depth + 1, unread))
                except ArchiveTooLarge:
                    raise
                except ArchiveError:
                    unread.append(member.name)
                    yield member  # read as the binary data it is
                    continue
                for inner in inside:
                    yield Member(f"{member.name}!/{inner.name}", inner.data)
            else:
                yield member
    except ArchiveError:
        raise
    except _DAMAGED as error:  # what the readers raise on bytes they cannot make sense of
        raise ArchiveError(f"a damaged {kind} archive ({type(error).__name__})") from None


def _zip_members(raw: bytes, budget: _Budget, unread: list[str]) -> Iterator[Member]:
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        for info in archive.infolist():
            if not info.filename or info.is_dir() or info.flag_bits & 0x1:  # encrypted
                continue
            if info.file_size > budget.bytes:
                budget.take(info.file_size)  # raises
            try:
                with archive.open(info) as file:
                    data = file.read(budget.bytes + 1)  # the header's size may lie
            except _DAMAGED:
                unread.append(info.filename)
                continue
            budget.take(len(data))
            yield Member(info.filename, data)


def _tar_members(raw: bytes, budget: _Budget) -> Iterator[Member]:
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as archive:
        for info in archive:
            if not info.isfile():
                continue
            budget.take(info.size)
            file = archive.extractfile(info)
            if file is not None:
                yield Member(info.name, file.read())


def _decompressed(raw: bytes, kind: str, most: int) -> bytes:
    """A compressed single file, unpacked to at most ``most`` bytes (then ArchiveError);
    concatenated streams (``cat a.gz b.gz``) are read on."""
    out = io.BytesIO()
    rest = raw
    while rest:
        if kind == "gzip":
            engine: Any = zlib.decompressobj(wbits=31)
        elif kind == "bzip2":
            engine = bz2.BZ2Decompressor()
        else:
            engine = lzma.LZMADecompressor()
        chunk = engine.decompress(rest, max(0, most - out.tell()) + 1)
        out.write(chunk)
        if out.tell() > most:
            raise ArchiveTooLarge("unpacks to more than the scan's size limit")
        if kind == "gzip":
            rest = engine.unused_data
            if not engine.eof and not rest:
                raise ArchiveError("a damaged gzip archive (it ends early)")
        else:
            if not engine.eof:
                raise ArchiveError(f"a damaged {kind} archive (it ends early)")
            rest = engine.unused_data
        rest = rest.lstrip(b"\x00")  # padding some tools write between streams
    return out.getvalue()


def _without_suffix(name: str) -> str:
    base = name.rsplit("/", 1)[-1]
    for suffix in (".gz", ".gzip", ".bz2", ".xz", ".tgz"):
        if base.lower().endswith(suffix):
            stem = base[: -len(suffix)]
            return stem + ".tar" if suffix == ".tgz" else stem
    return base or "the compressed file"
