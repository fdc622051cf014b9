"""``[audit]`` in the policy file: where the server writes the audit trail, how it rotates,
and what ``jupyter qsecure audit`` treats as settled."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .._validate import Section

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_BACKUP_COUNT = 5
DEFAULT_STALE_DAYS = 30
#: The most days a bypass may stay open before it is flagged: a century (more would be
#: beyond the dates Python counts, and flags nothing a century does not).
MAX_STALE_DAYS = 36_500
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
    section = Section(
        source,
        "audit",
        value,
        {"enabled", "file", "max_bytes", "backup_count", "stale_days", "rotated"},
        base=base,
    )
    defaults = AuditPolicy()
    rotated = section.strings("rotated", "a list of fingerprints")
    for fingerprint in rotated:
        if not _FINGERPRINT.fullmatch(fingerprint):
            raise section.error(
                "rotated",
                f"{fingerprint!r} is not a fingerprint (the 32 hex digits a finding carries)",
            )
    return AuditPolicy(
        enabled=section.boolean("enabled", defaults.enabled),
        file=section.path("file"),
        max_bytes=section.integer(
            "max_bytes", defaults.max_bytes, "a whole number of bytes", minimum=0
        ),
        backup_count=section.integer(
            "backup_count", defaults.backup_count, "a whole number of rotated files", minimum=0
        ),
        stale_days=section.integer(
            "stale_days",
            defaults.stale_days,
            "a whole number of days",
            minimum=1,
            maximum=MAX_STALE_DAYS,
        ),
        rotated=rotated,
    )
