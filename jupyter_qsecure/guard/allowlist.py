"""Ways to accept a finding, as users of detect-secrets and GitHub push protection know them.

- ``pragma: allowlist secret`` on the line (or ``pragma: allowlist nextline secret`` above it),
  handled by the engine;
- a detect-secrets ``.secrets.baseline`` (matched by ``hashed_secret`` and file name);
- a bypass by fingerprint with a reason, kept in a small JSON store (never the value).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from .._files import read_text
from .._json import loads
from .findings import detect_secrets_hash, fingerprint

BYPASS_REASONS = ("false_positive", "test_credential", "will_rotate")


class AllowlistError(ValueError):
    """A baseline or bypass store that cannot be read; the message names the file."""


@dataclass
class Baseline:
    """The secrets a detect-secrets baseline accepts, by file (relative to the baseline's folder)."""

    root: Path
    hashes_by_file: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Baseline:
        """Read a ``.secrets.baseline`` written by ``detect-secrets scan`` (any 1.x version)."""
        try:
            data = loads(read_text(path))
        except OSError as error:
            raise AllowlistError(
                f"{path}: cannot read the baseline ({error.strerror or error})"
            ) from None
        except ValueError as error:  # not UTF-8, not JSON
            raise AllowlistError(f"{path}: cannot read the baseline ({error})") from None
        results = data.get("results") if isinstance(data, dict) else None
        if not isinstance(results, dict):
            raise AllowlistError(f"{path}: not a detect-secrets baseline (no 'results' object)")
        baseline = cls(root=path.parent)
        for filename, entries in results.items():
            hashes = baseline.hashes_by_file.setdefault(str(PurePosixPath(filename)), set())
            for entry in entries if isinstance(entries, list) else []:
                if isinstance(entry, dict) and isinstance(entry.get("hashed_secret"), str):
                    hashes.add(entry["hashed_secret"])
        return baseline

    def accepts(self, value: str, relative_path: str | None) -> bool:
        """Whether the baseline lists this value for this file (any file if the path is unknown)."""
        hashed = detect_secrets_hash(value)
        if relative_path is None:
            return any(hashed in hashes for hashes in self.hashes_by_file.values())
        return hashed in self.hashes_by_file.get(str(PurePosixPath(relative_path)), set())

    def relative(self, path: Path) -> str | None:
        """``path`` relative to the baseline's folder, or ``None`` when outside it."""
        try:
            return path.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return None


#: A masked preview as the scanner makes it (a rule's public prefix, an ellipsis, the last
#: three characters or the length) or an injected secret's label; anything else is not kept.
_MASKED_PREVIEW = re.compile(
    r"[\x21-\x7e]{0,16}\u2026(?:[\x21-\x7e]{3}|\(\d{1,6} chars\))?|\[secret:[A-Za-z_][\w.-]{0,63}\]"
)
#: A rule's kind as findings name it (``GitHub token``): words, no control characters.
_KIND = re.compile(r"[\w][\w .,()/+'-]{0,79}")


def masked_preview(preview: str, fingerprint_: str = "") -> str:
    """``preview`` if it is a masked preview as the scanner shows it, else ``""`` (a value
    or a longer part of one is never kept in the store). With the finding's
    ``fingerprint_``, a preview whose visible characters are the whole value (a short
    password split around the ellipsis: ``hunter2hu…nt2``) is not kept either."""
    if not _MASKED_PREVIEW.fullmatch(preview):
        return ""
    return "" if fingerprint_ and _reveals(preview, fingerprint_) else preview


def _reveals(text: str, fingerprint_: str) -> bool:
    """Whether ``text`` holds the value whose fingerprint is ``fingerprint_``: as it is,
    or as the characters either side of a preview's ellipsis, alone or joined."""
    head, _, tail = text.partition("\u2026")
    candidates = {text, text.strip(), head, tail, head + tail}
    return any(fingerprint(candidate) == fingerprint_ for candidate in candidates if candidate)


@dataclass(frozen=True)
class Bypass:
    """A finding a user accepted: its fingerprint, why, who, when, and where it was seen
    (with the rule's kind and the masked preview when the user's client sent them)."""

    fingerprint: str
    reason: str
    user: str
    path: str
    created: str
    kind: str = ""
    preview: str = ""

    @property
    def id(self) -> str:
        """A short, stable name for this acceptance (to review and undo it)."""
        text = "\0".join((self.fingerprint, self.path, self.user, self.created))
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]

    def to_json(self) -> dict[str, str]:
        """The acceptance as ``GET /qsecure/bypass`` lists it (never a value: none is kept)."""
        return {"id": self.id, **asdict(self)}


_REQUIRED_FIELDS = {"fingerprint", "reason", "user", "path", "created"}


class BypassStore:
    """Bypasses by fingerprint, in a JSON file (atomically rewritten; safe across threads)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def load(self) -> list[Bypass]:
        """Every recorded bypass; an absent file is an empty store."""
        return [bypass for _, bypass in self._entries()[1]]

    def _entries(self) -> tuple[list[object], list[tuple[int, Bypass]]]:
        """The store's entries as written, and the bypasses among them with their
        positions. An entry this version does not understand (a field it does not know, a
        value not a string) is not a bypass here, but is kept when the store is rewritten:
        undoing one acceptance never drops another user's."""
        try:
            raw = loads(read_text(self.path))
        except FileNotFoundError:
            return [], []
        except (OSError, ValueError) as error:  # ValueError: not UTF-8, not JSON
            raise AllowlistError(
                f"{self.path}: cannot read the bypass store ({error}); {self.reset_hint()}"
            ) from None
        if not isinstance(raw, list):
            raise AllowlistError(
                f"{self.path}: the bypass store must be a JSON list; {self.reset_hint()}"
            )
        return raw, [
            (index, Bypass(**entry))
            for index, entry in enumerate(raw)
            if isinstance(entry, dict)
            and _REQUIRED_FIELDS <= set(entry) <= set(Bypass.__dataclass_fields__)
            and all(isinstance(value, str) for value in entry.values())
        ]

    def reset_hint(self) -> str:
        """How to start over with an empty store, keeping the broken one to read."""
        return (
            f"move it aside to start an empty one (mv {self.path} {self.path}.broken), "
            "then accept the findings again"
        )

    def fingerprints(self) -> set[str]:
        """The fingerprints currently bypassed."""
        return {bypass.fingerprint for bypass in self.load()}

    def add(
        self,
        fingerprint_: str,
        reason: str,
        user: str,
        path: str,
        kind: str = "",
        preview: str = "",
    ) -> Bypass:
        """Record a bypass; ``reason`` is one of :data:`BYPASS_REASONS`. ``kind`` is kept
        when it reads as a rule's kind and ``preview`` only when it is masked."""
        if reason not in BYPASS_REASONS:
            # the value is not repeated: whatever was sent in its place may be a credential
            raise ValueError(f"reason must be one of {', '.join(BYPASS_REASONS)}")
        if len(fingerprint_) != 32 or any(c not in "0123456789abcdef" for c in fingerprint_):
            raise ValueError("fingerprint must be the 32 hex digits a finding carries")
        bypass = Bypass(
            fingerprint_,
            reason,
            user,
            path,
            datetime.now(timezone.utc).isoformat(),
            kind if _KIND.fullmatch(kind) and not _reveals(kind, fingerprint_) else "",
            masked_preview(preview, fingerprint_),
        )
        with self._lock:
            entries = self._entries()[0]
            entries.append(asdict(bypass))
            self._write(entries)
        return bypass

    def remove(self, user: str, *, id_: str = "", fingerprint_: str = "", path: str = "") -> Bypass:
        """Undo one of ``user``'s acceptances, named by its ``id_`` or by its fingerprint
        and path (the latest if several); raise ``LookupError`` when ``user`` has none such."""
        with self._lock:
            entries, bypasses = self._entries()
            mine = [
                (index, bypass)
                for index, bypass in bypasses
                if bypass.user == user
                and (
                    bypass.id == id_
                    if id_
                    else bypass.fingerprint == fingerprint_ and bypass.path == path.strip("/")
                )
            ]
            if not mine:
                what = f"id {id_}" if id_ else f"fingerprint {fingerprint_} in {path.strip('/')}"
                raise LookupError(f"you have no accepted finding with {what}")
            index, removed = mine[-1]
            del entries[index]
            self._write(entries)
        return removed

    def _write(self, entries: list[object]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".bypasses-")
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(entries, stream, indent=1)
        os.replace(temporary, self.path)


@dataclass
class Allowlist:
    """Everything that accepts a finding besides the inline pragma."""

    baselines: list[Baseline] = field(default_factory=list)
    bypassed: set[str] = field(default_factory=set)

    def accepts(self, value: str, path: Path | None) -> bool:
        """Whether a found value is accepted for the file at ``path``."""
        if self.bypassed and fingerprint(value) in self.bypassed:
            return True
        for baseline in self.baselines:
            relative = baseline.relative(path) if path is not None else None
            if baseline.accepts(value, relative):
                return True
        return False

    @classmethod
    def from_files(cls, baselines: Iterable[Path]) -> Allowlist:
        """An allowlist of the given baseline files."""
        return cls(baselines=[Baseline.load(path) for path in baselines])
