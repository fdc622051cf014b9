"""``[audit]`` in the policy file: where the server writes the audit trail, how it rotates,
and what ``jupyter qsecure audit`` treats as settled."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._validate import PolicyError, expect, expect_strings, reject_unknown_keys

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_BACKUP_COUNT = 5
DEFAULT_STALE_DAYS = 30
_FINGERPRINT = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class AuditPolicy:
    """The audit trail file written by the server, and the ``audit`` command's defaults."""

    #: Write the trail file at all (events still reach handlers configured elsewhere).
    enabled: bool = True
    #: The trail file; ``None``: ``<jupyter data dir>/qsecure/audit.jsonl``.
    file: Path | None = None
    #: Rotate when the file would grow past this many bytes (0: never rotate).
    max_bytes: int = DEFAULT_MAX_BYTES
    #: Rotated files kept (``audit.jsonl.1`` ... ``.N``; 0: never rotate).
    backup_count: int = DEFAULT_BACKUP_COUNT
    #: Age in days after which an open ``will_rotate`` bypass is flagged.
    stale_days: int = DEFAULT_STALE_DAYS
    #: Fingerprints of ``will_rotate`` bypasses whose credential was rotated (not flagged).
    rotated: tuple[str, ...] = ()


def parse_audit_policy(source: str, base: Path, value: object) -> AuditPolicy:
    """The ``[audit]`` table (a relative ``file`` is relative to the policy file)."""
    table: dict[str, Any] = expect(source, "audit", value, dict, "a table [audit]")
    reject_unknown_keys(
        source,
        "audit",
        table,
        {"enabled", "file", "max_bytes", "backup_count", "stale_days", "rotated"},
    )
    defaults = AuditPolicy()

    def whole(key: str, default: int, minimum: int, expected: str) -> int:
        number: int = expect(source, f"audit.{key}", table.get(key, default), int, expected)
        if number < minimum:
            raise PolicyError(source, f"audit.{key}", f"expected {minimum} or more, got {number}")
        return number

    rotated = expect_strings(
        source, "audit.rotated", table.get("rotated", []), "a list of fingerprints"
    )
    for fingerprint in rotated:
        if not _FINGERPRINT.fullmatch(fingerprint):
            raise PolicyError(
                source,
                "audit.rotated",
                f"{fingerprint!r} is not a fingerprint (the 32 hex digits a finding carries)",
            )
    file = table.get("file")
    return AuditPolicy(
        enabled=expect(source, "audit.enabled", table.get("enabled", True), bool, "true or false"),
        file=(
            base / Path(expect(source, "audit.file", file, str, "a file path")).expanduser()
        ).resolve()
        if file is not None
        else None,
        max_bytes=whole("max_bytes", defaults.max_bytes, 0, "a whole number of bytes"),
        backup_count=whole(
            "backup_count", defaults.backup_count, 0, "a whole number of rotated files"
        ),
        stale_days=whole("stale_days", defaults.stale_days, 1, "a whole number of days"),
        rotated=rotated,
    )
