"""The BagIt format (RFC 8493): tag files, manifest lines and the percent-encoding of paths.

A bag is a folder holding ``bagit.txt`` (version and encoding), ``bag-info.txt`` (labels,
``Payload-Oxum``), one ``manifest-<alg>.txt`` per algorithm (``digest path`` per payload
file, paths under ``data/``) and ``tagmanifest-<alg>.txt`` (the same for the tag files).
Tag files are UTF-8; in a path, CR, LF and ``%`` (and only those) are percent-encoded
(RFC 8493 section 2.1.3), so a name holding a newline stays on one line.

Pure functions over text and bytes: no file system access here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

BAGIT_TXT = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
PAYLOAD_DIR = "data"
#: Algorithms a manifest may use; the first that a bag has is the one checked.
ALGORITHMS = ("sha512", "sha256", "blake3")
_ENCODE = {"\r": "%0D", "\n": "%0A", "%": "%25"}
_DECODE = re.compile("%(0D|0A|25)", re.IGNORECASE)
_DECODED = {"0D": "\r", "0A": "\n", "25": "%"}
_HEX = re.compile(r"[0-9a-f]+")
_DIGEST_LENGTHS = {"sha256": 64, "sha512": 128, "blake3": 64}


class BagFormatError(ValueError):
    """A tag file that is not what RFC 8493 describes; the message names the file and line."""


def encode_path(path: str) -> str:
    """A path as a manifest line holds it: CR, LF and ``%`` percent-encoded."""
    return "".join(_ENCODE.get(char, char) for char in path)


def decode_path(text: str) -> str:
    """The path a manifest line names (the inverse of :func:`encode_path`)."""
    return _DECODE.sub(lambda match: _DECODED[match.group(1).upper()], text)


def manifest_name(algorithm: str, *, tag: bool = False) -> str:
    """``manifest-<alg>.txt`` or ``tagmanifest-<alg>.txt``."""
    return f"{'tag' if tag else ''}manifest-{algorithm}.txt"


def manifest_text(entries: dict[str, str]) -> str:
    """A manifest from ``{path: digest}``, one ``digest  path`` line each, sorted by path."""
    return "".join(
        f"{digest}  {encode_path(path)}\n"
        for path, digest in sorted(entries.items(), key=lambda item: item[0].encode())
    )


def parse_manifest(text: str, source: str, algorithm: str) -> dict[str, str]:
    """``{path: digest}`` from a manifest's text; :class:`BagFormatError` names the bad line.

    A line is a digest, linear whitespace and a path (RFC 8493 section 2.1.3); CRLF line
    ends are accepted; a path is listed once, never absolute, never with ``..``, ``.``, an
    empty component or a NUL."""
    entries: dict[str, str] = {}
    expected = _DIGEST_LENGTHS.get(algorithm)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for number, raw in enumerate(lines, start=1):
        line = raw[:-1] if raw.endswith("\r") else raw
        match = re.fullmatch(r"([^ \t]+)[ \t]+(.+)", line, re.DOTALL)
        if match is None:
            raise BagFormatError(f"{source}:{number}: not a 'digest path' line")
        digest, path = match.group(1).lower(), decode_path(match.group(2))
        if path.startswith("*"):  # sha256sum's binary-mode marker, as bagit-python reads it
            path = path[1:]
        if not _HEX.fullmatch(digest) or (expected and len(digest) != expected):
            raise BagFormatError(
                f"{source}:{number}: {match.group(1)!r} is not a {algorithm} digest"
            )
        problem = unsafe_path(path)
        if problem:
            raise BagFormatError(f"{source}:{number}: {problem}")
        if path in entries:
            raise BagFormatError(f"{source}:{number}: {path!r} is listed twice")
        entries[path] = digest
    return entries


def unsafe_path(path: str) -> str | None:
    """Why ``path`` may not be in a manifest (None when it may)."""
    if "\0" in path:
        return "a path holds a NUL character"
    if path.startswith("/") or re.match(r"[A-Za-z]:[\\/]", path):
        return f"{path!r} is an absolute path"
    if any(part in ("", ".", "..") for part in path.split("/")):
        return f"{path!r} is not a plain relative path (empty, '.' or '..' component)"
    return None


def info_text(fields: list[tuple[str, str]]) -> str:
    """``bag-info.txt`` from ``(label, value)`` pairs (one line each; values have no line break)."""
    return "".join(f"{label}: {' '.join(value.split())}\n" for label, value in fields)


def parse_info(text: str, source: str) -> list[tuple[str, str]]:
    """The ``(label, value)`` pairs of ``bagit.txt`` or ``bag-info.txt`` (continuation lines
    starting with whitespace are joined to the value before them)."""
    fields: list[tuple[str, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        if raw[0] in " \t":
            if not fields:
                raise BagFormatError(f"{source}:{number}: a continuation line with no label above")
            label, value = fields[-1]
            fields[-1] = (label, f"{value} {raw.strip()}")
            continue
        label, colon, value = raw.partition(":")
        if not colon or not label.strip():
            raise BagFormatError(f"{source}:{number}: not a 'Label: value' line")
        fields.append((label.strip(), value.strip()))
    return fields


@dataclass(frozen=True)
class Oxum:
    """``Payload-Oxum``: the payload's total size in bytes and number of files."""

    octets: int
    files: int

    def __str__(self) -> str:
        return f"{self.octets}.{self.files}"

    @classmethod
    def parse(cls, text: str) -> Oxum | None:
        """The value of a ``Payload-Oxum`` line, or None when it is not ``N.N``."""
        match = re.fullmatch(r"(\d+)\.(\d+)", text.strip())
        return cls(int(match.group(1)), int(match.group(2))) if match else None
