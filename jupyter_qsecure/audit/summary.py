"""The audit trail's summary as JSON, for ``GET /qsecure/audit``."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .policy import AuditPolicy
from .report import analyse, json_report, parse_since
from .trail import Trail, TrailError, read_trail


def trail_summary(
    path: Path, settings: AuditPolicy, since: str = "", now: datetime | None = None
) -> dict[str, Any]:
    """Counts and anomalies of the trail at ``path`` (and its rotated files), from
    ``since`` (24h, 7d, or a date); an empty report when no trail was written yet. Raises
    ValueError for a bad ``since`` or an unreadable trail."""
    now = now or datetime.now(timezone.utc)
    start = parse_since(since, now) if since else None
    if not path.exists():
        trail = Trail()
    else:
        try:
            trail = read_trail(path)
        except TrailError as error:
            raise ValueError(str(error)) from None
    report = analyse(
        trail, now=now, since=start, stale_days=settings.stale_days, rotated=settings.rotated
    )
    return json_report(report)
