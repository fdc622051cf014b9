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


class UploadError(ValueError):
    """A chunk out of order, too large a file, or bad base64; the message says which."""


@dataclass
class _Staged:
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0
    touched: float = field(default_factory=time.monotonic)


class UploadStage:
    """Chunks per path, bounded in total size and forgotten after ``ttl`` seconds.

    Keyed by path alone: a single-user server's anonymous token users get a new name on
    each request, and an upload of one path from two places at once cannot both succeed."""

    def __init__(self, max_bytes: int, ttl: float = 3600.0) -> None:
        self.max_bytes = max_bytes
        self.ttl = ttl
        self._uploads: dict[str, _Staged] = {}
        self._lock = threading.Lock()

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
                raise UploadError(
                    f"{path} is larger than the guard scans ({self.max_bytes:,} bytes, guard.max_bytes)"
                )
            if chunk != -1:
                return None
            del self._uploads[key]
            return b"".join(staged.chunks)

    def _forget_stale(self) -> None:
        now = time.monotonic()
        for key in [k for k, staged in self._uploads.items() if now - staged.touched > self.ttl]:
            del self._uploads[key]
