"""Chunked uploads, held in memory until the last chunk so the whole file is scanned
before any of it reaches the disk.

JupyterLab uploads files over 15 MB in 1 MB chunks; the ContentsManager runs pre-save
hooks on the first chunk only and writes each chunk as it comes. Staging keeps a refused
upload from ever overwriting the file on disk.
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any


class UploadError(ValueError):
    """A chunk out of order, too large a file, or bad base64; the message says which."""


class UploadTooLarge(UploadError):
    """Staging this chunk would exceed a bound (one file's size, the number of uploads
    in progress, or the bytes held for all of them): answered 413."""


@dataclass
class _Staged:
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0
    touched: float = field(default_factory=time.monotonic)


class UploadStage:
    """Chunks per path, bounded in total size and forgotten after ``ttl`` seconds.

    Keyed by path alone: a single-user server's anonymous token users get a new name on
    each request, and an upload of one path from two places at once cannot both succeed."""

    def __init__(
        self,
        max_bytes: int,
        ttl: float = 3600.0,
        max_uploads: int = 8,
        max_total_bytes: int | None = None,
    ) -> None:
        self.max_bytes = max_bytes
        self.ttl = ttl
        #: Uploads in progress at once, and the bytes held for all of them (by default
        #: twice one file's limit): memory stays bounded whoever uploads.
        self.max_uploads = max_uploads
        self.max_total_bytes = max_total_bytes if max_total_bytes is not None else 2 * max_bytes
        self._uploads: dict[str, _Staged] = {}
        self._lock = threading.Lock()

    def receive(self, path: str, model: dict[str, Any]) -> dict[str, Any] | None:
        """Take one chunk of JupyterLab's chunked upload protocol (``model`` with
        ``chunk`` 1, 2, ... and -1 for the last). Returns the whole file as a contents model
        to save once the last chunk arrived, else None. Raises UploadError."""
        chunk = model.get("chunk")
        if not isinstance(chunk, int) or isinstance(chunk, bool) or chunk == 0 or chunk < -1:
            shown = chunk if isinstance(chunk, int) else f"a value of type {type(chunk).__name__}"
            raise UploadError(f"chunk must be 1, 2, ... or -1, not {shown}")
        content = model.get("content")
        if not isinstance(content, str):
            raise UploadError("a chunk needs string content")
        whole = self.add(path, chunk, content, model.get("format"))
        if whole is None:
            return None
        return {
            "type": "file",
            "format": "base64",
            "content": base64.b64encode(whole).decode("ascii"),
        }

    def add(self, path: str, chunk: int, content: str, fmt: str | None) -> bytes | None:
        """Stage one chunk; return the whole file's bytes after the last chunk (``-1``)."""
        try:
            data = (
                base64.b64decode(content.encode("ascii"))
                if fmt == "base64"
                else content.encode("utf-8")
            )
        except (binascii.Error, ValueError, UnicodeEncodeError) as error:
            raise UploadError(f"chunk {chunk} of {path} is not valid base64 ({error})") from None
        key = path
        with self._lock:
            self._forget_stale()
            if chunk == 1:
                self._uploads.pop(key, None)
                if len(self._uploads) >= self.max_uploads:
                    raise UploadTooLarge(
                        f"{path}: {len(self._uploads)} uploads are already in progress (at "
                        f"most {self.max_uploads}); wait for them to finish and upload it again"
                    )
                self._uploads[key] = _Staged()
            staged = self._uploads.get(key)
            if staged is None:
                raise UploadError(
                    f"chunk {chunk} of {path} arrived without chunk 1; upload the file again"
                )
            staged.chunks.append(data)
            staged.size += len(data)
            staged.touched = time.monotonic()
            if staged.size > self.max_bytes:
                del self._uploads[key]
                raise UploadTooLarge(
                    f"{path} is larger than the guard scans ({self.max_bytes:,} bytes, guard.max_bytes)"
                )
            held = sum(upload.size for upload in self._uploads.values())
            if held > self.max_total_bytes:
                del self._uploads[key]
                raise UploadTooLarge(
                    f"{path}: uploads in progress hold {held:,} bytes (at most "
                    f"{self.max_total_bytes:,}); wait for them to finish and upload it again"
                )
            if chunk != -1:
                return None
            del self._uploads[key]
            return b"".join(staged.chunks)

    def _forget_stale(self) -> None:
        now = time.monotonic()
        for key in [k for k, staged in self._uploads.items() if now - staged.touched > self.ttl]:
            del self._uploads[key]


def staged_model(path: str) -> dict[str, Any]:
    """A contents model for a chunk held in memory (JupyterLab only checks its shape)."""
    now = datetime.now(timezone.utc).isoformat()
    return {
        "name": path.rsplit("/", 1)[-1],
        "path": path,
        "type": "file",
        "writable": True,
        "created": now,
        "last_modified": now,
        "mimetype": None,
        "content": None,
        "format": None,
        "size": None,
        "hash": None,
        "hash_algorithm": None,
    }
