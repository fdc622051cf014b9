"""``jupyter qsecure audit``: summarise a trail and flag what deserves a look.

Four heuristics, each explained in docs/audit.md:

- ``blocked-save-burst``: at least 5 refused saves by one user within 10 minutes;
- ``provider-failures``: at least 3 ``provider-error`` events with reason ``denied``,
  ``expired`` or ``locked`` for one secret name within an hour;
- ``unusual-notebook``: a secret injected into a notebook it never went to before, once it
  has a history of at least 3 injections into other notebooks;
- ``open-will-rotate``: a ``will_rotate`` bypass older than ``stale_days`` that nothing
  later in the trail closes.

Besides the counts per event type and user, the summary lists the ``secret-changed``
events per secret name and action (values set or deleted through the server, personal
grants given or withdrawn): names only, as the events hold no value.

``since`` chooses what is counted and reported; the whole trail is still read, so the
history behind ``unusual-notebook`` and ``open-will-rotate`` reaches back past it.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from .trail import KINDS, Event, Trail, fingerprints_of, parse_timestamp

BURST_SAVES = 5
BURST_WINDOW = timedelta(minutes=10)
#: Outcomes of a save-blocked event that refused the write (not "allowed-on-error").
REFUSED_OUTCOMES = ("blocked", "scan-error", "symlink", "protected")
PROVIDER_FAILURES = 3
PROVIDER_WINDOW = timedelta(hours=1)
PROVIDER_REASONS = ("denied", "expired", "locked")
USUAL_HISTORY = 3
CLOSING_REASONS = ("false_positive", "test_credential")
#: The actions of ``secret-changed`` events, in the order the summary lists them.
SECRET_ACTIONS = ("set", "delete", "grant", "revoke")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_SHOWN = 3


@dataclass(frozen=True)
class Anomaly:
    """Something in the trail worth a look, explained in one line."""

    kind: str
    #: When it began (a burst), happened (an injection) or became due (a stale bypass).
    time: datetime
    #: Its last event (the end of a burst); ``--since`` keeps it when this is in the window.
    until: datetime
    #: The user, secret name or fingerprint it is about.
    subject: str
    message: str
    #: Where its events are in the trail (``file:line``), first and last.
    where: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "kind": self.kind,
            "time": _iso(self.time),
            "until": _iso(self.until),
            "subject": self.subject,
            "message": self.message,
            "where": list(self.where),
        }


@dataclass
class Report:
    """What ``jupyter qsecure audit`` prints."""

    files: list[Path]
    now: datetime
    since: datetime | None
    stale_days: int
    total: int
    first: datetime | None
    last: datetime | None
    counted: int
    by_type: dict[str, int]
    by_user: dict[str, dict[str, int]]
    malformed: int
    problems: list[tuple[str, str]]
    other: int
    anomalies: list[Anomaly] = field(default_factory=list)
    #: ``secret-changed`` events in the window: secret name -> action -> count.
    secret_changes: dict[str, dict[str, int]] = field(default_factory=dict)


def parse_since(text: str, now: datetime) -> datetime:
    """``24h``, ``7d``, ``2w``, ``30m`` before ``now``, or a date or time (ISO 8601; a date
    is midnight UTC, a time without an offset is UTC). ``ValueError`` says what is expected."""
    text = text.strip()
    match = re.fullmatch(r"(\d+)\s*([smhdw])", text)
    try:
        if match:
            return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        return parse_timestamp(text)
    except (ValueError, OverflowError):
        raise ValueError(
            f"--since: expected a duration such as 24h or 7d (s, m, h, d, w), or a date "
            f"such as 2026-11-01 (UTC), got {text!r}"
        ) from None


def analyse(
    trail: Trail,
    *,
    now: datetime,
    since: datetime | None = None,
    stale_days: int = 30,
    rotated: Iterable[str] = (),
) -> Report:
    """Counts of the events at or after ``since`` and every anomaly of the trail that
    touches that window (open ``will_rotate`` bypasses are a standing condition: always)."""
    window = [e for e in trail.events if since is None or e.time >= since]
    by_type = Counter(event.kind for event in window)
    by_user: dict[str, Counter[str]] = defaultdict(Counter)
    changes: dict[str, Counter[str]] = defaultdict(Counter)
    for event in window:
        by_user[event.user][event.kind] += 1
        if event.kind == "secret-changed":
            changes[str(event.data["name"])][str(event.data["action"])] += 1
    anomalies = [
        *_blocked_save_bursts(trail.events),
        *_provider_failures(trail.events),
        *_unusual_notebooks(trail.events),
    ]
    anomalies = [a for a in anomalies if since is None or a.until >= since]
    anomalies += _open_will_rotate(trail.events, now, stale_days, set(rotated))
    anomalies.sort(key=lambda anomaly: (anomaly.time, anomaly.kind, anomaly.subject))
    return Report(
        files=trail.files,
        now=now,
        since=since,
        stale_days=stale_days,
        total=len(trail.events),
        first=trail.events[0].time if trail.events else None,
        last=trail.events[-1].time if trail.events else None,
        counted=len(window),
        by_type={kind: by_type[kind] for kind in KINDS if by_type[kind]},
        by_user={user: dict(sorted(by_user[user].items())) for user in sorted(by_user)},
        malformed=trail.malformed,
        problems=list(trail.problems),
        other=trail.other,
        anomalies=anomalies,
        secret_changes={name: _by_action(changes[name]) for name in sorted(changes)},
    )


def _by_action(counts: Counter[str]) -> dict[str, int]:
    """Counts per action, known actions first in their usual order."""
    order = {action: index for index, action in enumerate(SECRET_ACTIONS)}
    return {
        action: counts[action]
        for action in sorted(counts, key=lambda a: (order.get(a, len(order)), a))
    }


def _bursts(events: list[Event], count: int, window: timedelta) -> list[list[Event]]:
    """Maximal runs of ``events`` (sorted by time) in which every event belongs to a group
    of at least ``count`` events spanning at most ``window``."""
    runs: list[list[int]] = []
    start = 0
    for end in range(len(events)):
        while events[end].time - events[start].time > window:
            start += 1
        if end - start + 1 >= count:
            if runs and runs[-1][1] >= start - 1:
                runs[-1][1] = end
            else:
                runs.append([start, end])
    return [events[first : last + 1] for first, last in runs]


def _blocked_save_bursts(events: list[Event]) -> list[Anomaly]:
    refused: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        if event.kind == "save-blocked" and event.data["outcome"] in REFUSED_OUTCOMES:
            refused[event.user].append(event)
    anomalies = []
    for user, saves in refused.items():
        for burst in _bursts(saves, BURST_SAVES, BURST_WINDOW):
            paths = _listed(str(e.data["path"]) for e in burst)
            anomalies.append(
                Anomaly(
                    "blocked-save-burst",
                    burst[0].time,
                    burst[-1].time,
                    user,
                    f"{user} had {len(burst)} saves refused in {_span(burst)} "
                    f"({_period(burst)}; {paths}): repeated attempts to save a credential, "
                    "or a script retrying; check it did not leave by another way",
                    (burst[0].where, burst[-1].where),
                )
            )
    return anomalies


def _provider_failures(events: list[Event]) -> list[Anomaly]:
    failures: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        if event.kind == "provider-error" and event.data["reason"] in PROVIDER_REASONS:
            failures[str(event.data["name"])].append(event)
    anomalies = []
    for name, errors in failures.items():
        for burst in _bursts(errors, PROVIDER_FAILURES, PROVIDER_WINDOW):
            reasons = Counter(str(e.data["reason"]) for e in burst)
            why = ", ".join(f"{reason} x{n}" for reason, n in sorted(reasons.items()))
            users = _listed(e.user for e in burst)
            anomalies.append(
                Anomaly(
                    "provider-failures",
                    burst[0].time,
                    burst[-1].time,
                    name,
                    f"{name}: the secret store refused {len(burst)} times in {_span(burst)} "
                    f"({_period(burst)}; {why}; for {users}): the store credentials are "
                    "wrong, expired or revoked, or someone is probing the store",
                    (burst[0].where, burst[-1].where),
                )
            )
    return anomalies


def _unusual_notebooks(events: list[Event]) -> list[Anomaly]:
    seen: dict[str, dict[str, int]] = defaultdict(dict)
    anomalies = []
    for event in events:
        if event.kind != "secret-injected":
            continue
        notebook = str(event.data["notebook"]) or "(no notebook)"
        for name in dict.fromkeys(str(n) for n in event.data["names"]):
            history = seen[name]
            injections = sum(history.values())
            if notebook not in history and injections >= USUAL_HISTORY:
                usual = _listed(sorted(history, key=lambda nb: -history[nb]))
                anomalies.append(
                    Anomaly(
                        "unusual-notebook",
                        event.time,
                        event.time,
                        name,
                        f"{name} was injected into {notebook} for {event.user} on "
                        f"{_when(event.time)}, a notebook it never went to before "
                        f"({injections} earlier injections, into {usual}): check this "
                        "notebook is meant to use it",
                        (event.where,),
                    )
                )
            history[notebook] = history.get(notebook, 0) + 1
    return anomalies


@dataclass
class _Promise:
    bypass: Event
    sightings: list[Event] = field(default_factory=list)


def _open_will_rotate(
    events: list[Event], now: datetime, stale_days: int, rotated: set[str]
) -> list[Anomaly]:
    """``will_rotate`` bypasses older than ``stale_days`` that are still open: not followed
    by a bypass of the same fingerprint with another reason, and not listed as rotated."""
    promises: dict[str, _Promise] = {}
    for event in events:
        if event.kind == "save-bypassed":
            fingerprint = str(event.data["fingerprint"])
            reason = event.data["reason"]
            if reason in CLOSING_REASONS:
                promises.pop(fingerprint, None)
            elif fingerprint in promises:
                promises[fingerprint].sightings.append(event)
            elif reason == "will_rotate":
                promises[fingerprint] = _Promise(event)
        elif event.kind == "save-blocked":
            for fingerprint in set(fingerprints_of(event)):
                if fingerprint in promises:
                    promises[fingerprint].sightings.append(event)
    stale = timedelta(days=stale_days)
    anomalies = []
    for fingerprint, promise in promises.items():
        bypass = promise.bypass
        if fingerprint in rotated or now - bypass.time <= stale:
            continue
        if promise.sightings:
            last = promise.sightings[-1]
            state = (
                f"seen again in {len(promise.sightings)} later event(s), the last on "
                f"{_when(last.time)}, so it was still in use after the promise"
            )
            where: tuple[str, ...] = (bypass.where, last.where)
        else:
            state = "no later event shows it was rotated"
            where = (bypass.where,)
        anomalies.append(
            Anomaly(
                "open-will-rotate",
                bypass.time + stale,
                now,
                fingerprint,
                f"credential {fingerprint}, bypassed as will_rotate by {bypass.user} on "
                f"{_when(bypass.time)} ({bypass.data['path']}), is still open after "
                f"{(now - bypass.time).days} days (limit {stale_days}): {state}; rotate it, "
                "then list its fingerprint in [audit] rotated",
                where,
            )
        )
    return anomalies


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _when(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _period(events: list[Event]) -> str:
    first, last = events[0].time, events[-1].time
    if first.date() == last.date():
        return f"{_when(first)[:-4]}-{last:%H:%M} UTC"
    return f"{_when(first)[:-4]} to {_when(last)}"


def _span(events: list[Event]) -> str:
    seconds = (events[-1].time - events[0].time).total_seconds()
    if seconds < 120:
        return f"{seconds:.0f} seconds"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds / 3600:.1f} hours"


def _listed(items: Iterable[str]) -> str:
    unique = list(dict.fromkeys(items))
    shown = ", ".join(unique[:_SHOWN])
    return shown + (f" and {len(unique) - _SHOWN} more" if len(unique) > _SHOWN else "")


def text_lines(report: Report) -> list[str]:
    """The report for a terminal."""
    names = [report.files[-1].name]
    if len(report.files) > 1:
        names.append(f"{len(report.files) - 1} rotated file(s)")
    lines = [f"trail: {' and '.join(names)}: {report.total} event(s)"]
    if report.first and report.last:
        lines[0] += f", {_when(report.first)} to {_when(report.last)}"
    elif not report.files[-1].exists():
        lines[0] += " (nothing recorded yet)"
    if report.since is not None:
        lines.append(f"since {_when(report.since)}: {report.counted} event(s)")
    if report.by_type:
        lines.append("by type: " + ", ".join(f"{k} {n}" for k, n in report.by_type.items()))
        lines.append("by user:")
        width = max(len(user) for user in report.by_user)
        for user, counts in report.by_user.items():
            lines.append(f"  {user:{width}}  " + ", ".join(f"{k} {n}" for k, n in counts.items()))
    if report.secret_changes:
        lines.append(
            "secret changes: "
            + "; ".join(
                f"{name} " + ", ".join(f"{action} {n}" for action, n in actions.items())
                for name, actions in report.secret_changes.items()
            )
        )
    if report.malformed:
        shown = "; ".join(f"{where} {why}" for where, why in report.problems[:5])
        more = report.malformed - min(len(report.problems), 5)
        lines.append(
            f"skipped {report.malformed} malformed line(s): {shown}"
            + (f"; and {more} more" if more > 0 else "")
        )
    if report.other:
        lines.append(f"skipped {report.other} event(s) of other schemas or versions")
    if report.anomalies:
        lines.append(
            f"{len(report.anomalies)} anomal{'y' if len(report.anomalies) == 1 else 'ies'}:"
        )
        lines.extend(f"  [{a.kind}] {a.message}" for a in report.anomalies)
    else:
        lines.append("no anomalies")
    return lines


def json_report(report: Report) -> dict[str, Any]:
    """The report as JSON."""
    return {
        "files": [str(path) for path in report.files],
        "now": _iso(report.now),
        "since": _iso(report.since) if report.since else None,
        "stale_days": report.stale_days,
        "events": report.total,
        "first": _iso(report.first) if report.first else None,
        "last": _iso(report.last) if report.last else None,
        "counted": report.counted,
        "by_type": report.by_type,
        "by_user": report.by_user,
        "secret_changes": report.secret_changes,
        "malformed": {
            "count": report.malformed,
            "lines": [{"where": where, "problem": why} for where, why in report.problems],
        },
        "other_schemas": report.other,
        "anomalies": [anomaly.to_json() for anomaly in report.anomalies],
    }
