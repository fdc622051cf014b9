"""``jupyter qsecure audit``: summarise the audit trail and flag anomalies."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from traitlets import Enum, Integer, Unicode

from .._shown import shown_path
from ..config import PolicyError, load_policy
from .base import UsageError, _Subcommand


class AuditApp(_Subcommand):
    """Summarise the audit trail and flag anomalies."""

    name = "jupyter-qsecure-audit"
    description = """Summarise the audit trail (counts per event type and user) and flag anomalies.

    jupyter qsecure audit [--since 7d|24h|2026-11-01] [--format text|json] [--file PATH] [--stale-days 30]
    Reads the trail the server writes ([audit] file, else <jupyter data dir>/qsecure/audit.jsonl)
    and its rotated files; before the server recorded anything there, the summary is empty.
    Exit 0 when nothing is flagged, 1 when an anomaly is, 2 on bad input (a --file that
    does not exist included)."""
    examples = """
    jupyter qsecure audit --since 7d
    jupyter qsecure audit --file audit.jsonl --format json
    """

    since = Unicode("", help="Count and report from: 24h, 7d, 2w, or a date (UTC).").tag(
        config=True
    )
    format = Enum(["text", "json"], default_value="text", help="Report format.").tag(config=True)
    file = Unicode("", help="The trail file (default: [audit] file, else the data dir's).").tag(
        config=True
    )
    stale_days = Integer(
        None,
        allow_none=True,
        help="Flag will_rotate bypasses open longer than this (default: [audit] stale_days).",
    ).tag(config=True)
    aliases = {
        "since": "AuditApp.since",
        "format": "AuditApp.format",
        "file": "AuditApp.file",
        "stale-days": "AuditApp.stale_days",
    }

    def run(self) -> int:
        from datetime import datetime, timezone

        from ..audit import TrailError, default_audit_file, read_trail
        from ..audit.policy import MAX_STALE_DAYS
        from ..audit.report import analyse, json_report, parse_since, text_lines
        from ..audit.trail import Trail, trail_files

        if self.extra_args:
            raise UsageError(
                f"unexpected argument {self.extra_args[0]!r}; name the trail with --file PATH"
            )
        try:
            settings = load_policy().audit
        except PolicyError as error:
            raise UsageError(str(error)) from None
        now = datetime.now(timezone.utc)
        try:
            since = parse_since(self.since, now) if self.since else None
        except ValueError as error:
            raise UsageError(str(error)) from None
        stale_days = settings.stale_days if self.stale_days is None else self.stale_days
        if stale_days < 1:
            raise UsageError(f"--stale-days: expected 1 or more, got {stale_days}")
        if stale_days > MAX_STALE_DAYS:
            raise UsageError(f"--stale-days: expected at most {MAX_STALE_DAYS}, got {stale_days}")
        path = Path(self.file).expanduser() if self.file else settings.file or default_audit_file()
        if not self.file and not any(file.exists() for file in trail_files(path)):
            # A fresh install: the server has recorded nothing yet. An empty summary, so
            # that a daily monitoring run succeeds (a --file naming nothing is an error).
            trail = Trail(files=[path])
        else:
            try:
                trail = read_trail(path)
            except TrailError as error:
                raise UsageError(str(error)) from None
        report = analyse(
            trail, now=now, since=since, stale_days=stale_days, rotated=settings.rotated
        )
        if self.format == "json":
            print(json.dumps(json_report(report), indent=2))
            if report.malformed:
                print(
                    f"{shown_path(path)}: skipped {report.malformed} malformed line(s)",
                    file=sys.stderr,
                )
        else:
            from .._shown import shown

            for line in text_lines(report):
                # paths and user names come from requests: none may drive the terminal
                print(shown(line, _SHOWN_LINE))
        return 1 if report.anomalies else 0


#: The most characters of one line of the text report.
_SHOWN_LINE = 10_000
