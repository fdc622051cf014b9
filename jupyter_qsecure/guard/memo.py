"""Answers about a text, remembered by a digest of the text (never the text itself)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["DigestMemo"]

T = TypeVar("T")


class DigestMemo(Generic[T]):
    """At most ``kept`` answers, each under a digest of the question's text (the text is
    not kept: it may hold a credential); forgotten all at once when full. Thread-safe:
    two threads asking at once may both compute the same answer."""

    def __init__(self, kept: int) -> None:
        self._kept = kept
        self._answers: dict[bytes, T] = {}
        self._lock = threading.Lock()

    def get(self, text: str, answer_of: Callable[[str], T], kind: bytes = b"") -> T:
        """The answer ``answer_of(text)``, computed once per distinct ``kind`` and text."""
        key = hashlib.blake2b(kind + text.encode("utf-8", "surrogatepass"), digest_size=16)
        digest = key.digest()
        answer = self._answers.get(digest)
        if answer is None:
            answer = answer_of(text)
            with self._lock:
                if len(self._answers) >= self._kept:
                    self._answers.clear()
                self._answers[digest] = answer
        return answer
