"""The audit trail on disk: a logging handler the server registers on its ``EventLogger``
(one JSON object per line, jupyter-qsecure's events only) and the reader behind
``jupyter qsecure audit``.

The handler opens the file for each event (``O_APPEND``, mode 0600 when it creates it),
hands the whole line to the operating system in one ``write()`` and closes it again. So
lines from several threads or processes never interleave, nothing stays buffered, no file
descriptor lingers, and a file moved away by another writer or by logrotate is simply
created again. Rotation by size reuses :class:`logging.handlers.RotatingFileHandler`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any

from .._files import open_file
from .._json import loads
from ..events import SCHEMA_BASE
from .policy import DEFAULT_BACKUP_COUNT, DEFAULT_MAX_BYTES, AuditPolicy

AUDIT_FILENAME = "audit.jsonl"
FILE_MODE = 0o600
_PREFIX = SCHEMA_BASE + "/"
_OPEN_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)


def default_audit_file() -> Path:
    """``<jupyter data dir>/qsecure/audit.jsonl``: where the server writes by default."""
    from jupyter_core.paths import jupyter_data_dir

    return Path(jupyter_data_dir()) / "qsecure" / AUDIT_FILENAME


def is_qsecure_event(record: logging.LogRecord) -> bool:
    """Whether a record from the ``EventLogger`` is one of jupyter-qsecure's events."""
    message = record.msg
    return (
        isinstance(message, dict)
        and isinstance(message.get("__schema__"), str)
        and message["__schema__"].startswith(_PREFIX)
    )


class AuditFileHandler(RotatingFileHandler):
    """Append jupyter-qsecure's events to a JSON-lines file, rotating it by size.

    Register it with ``EventLogger.register_handler``. Records of other schemas (jupyter
    server's own events) are filtered out. The formatter ``register_handler`` sets is not
    used: each line is ``json.dumps`` of the event exactly as jupyter_events built it.
    """

    def __init__(
        self,
        path: Path,
        max_bytes: int = DEFAULT_MAX_BYTES,
        backup_count: int = DEFAULT_BACKUP_COUNT,
        log: logging.Logger | None = None,
    ) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        super().__init__(
            path, maxBytes=max_bytes, backupCount=backup_count, encoding="utf-8", delay=True
        )
        self.path = path
        self.log = log or logging.getLogger(__name__)
        self._failing = False
        self.addFilter(is_qsecure_event)
        # Create it now (0600): an unwritable place shows at server start, not at an event.
        os.close(os.open(self.baseFilename, _OPEN_FLAGS, FILE_MODE))

    def format(self, record: logging.LogRecord) -> str:
        """The event as one line of JSON."""
        return json.dumps(record.msg, default=str)

    def shouldRollover(self, record: logging.LogRecord) -> int:
        """Whether appending this record would take the file past ``max_bytes``."""
        return self._would_overflow(len(self._line(record)))

    def emit(self, record: logging.LogRecord) -> None:
        """Append the event (rotating first if needed); called under the handler's lock."""
        try:
            line = self._line(record)
            if self._would_overflow(len(line)):
                self.doRollover()
            self._append(line)
        except Exception:
            self.handleError(record)
        else:
            if self._failing:
                self._failing = False
                self.log.warning("jupyter-qsecure: audit trail %s is written again", self.path)

    def handleError(self, record: logging.LogRecord) -> None:
        """One line in the server log for the first failure in a row, never a traceback."""
        error = sys.exc_info()[1]
        if not self._failing:
            self._failing = True
            self.log.error(
                "jupyter-qsecure: cannot write the audit trail %s (%s); events are not "
                "recorded there until this is fixed",
                self.path,
                error,
            )

    def _line(self, record: logging.LogRecord) -> bytes:
        return (self.format(record) + "\n").encode("utf-8")

    def _would_overflow(self, size: int) -> bool:
        if self.maxBytes <= 0 or self.backupCount <= 0:
            return False
        try:
            current = os.stat(self.baseFilename).st_size
        except FileNotFoundError:
            return False
        return current > 0 and current + size > self.maxBytes

    def _append(self, line: bytes) -> None:
        descriptor = os.open(self.baseFilename, _OPEN_FLAGS, FILE_MODE)
        try:
            written = os.write(descriptor, line)
        finally:
            os.close(descriptor)
        if written != len(line):
            raise OSError(f"short write: {written} of {len(line)} bytes (disk full?)")


def install_audit_sink(
    event_logger: Any, policy: AuditPolicy, state_dir: Path, log: logging.Logger
) -> AuditFileHandler | None:
    """Register the trail file on a server's ``EventLogger`` unless ``[audit] enabled =
    false``. A place that cannot be written is logged (one line), not fatal."""
    if not policy.enabled:
        log.info("jupyter-qsecure: audit trail file off ([audit] enabled = false)")
        return None
    path = policy.file or state_dir / AUDIT_FILENAME
    for handler in event_logger.handlers or []:
        if isinstance(handler, AuditFileHandler) and handler.path == path:
            return handler
    try:
        handler = AuditFileHandler(path, policy.max_bytes, policy.backup_count, log)
    except OSError as error:
        log.error(
            "jupyter-qsecure: cannot write the audit trail %s (%s); set [audit] file in "
            "qsecure.toml to a writable place",
            path,
            error,
        )
        return None
    event_logger.register_handler(handler)
    log.info("jupyter-qsecure: audit trail in %s", path)
    return handler


# Reading ---------------------------------------------------------------------------------

#: The events ``jupyter qsecure audit`` understands, by short name, with what each must hold.
KINDS = (
    "save-blocked",
    "save-bypassed",
    "bypass-withdrawn",
    "secret-injected",
    "secret-denied",
    "provider-error",
    "secret-changed",
    "notebook-signed",
    "signature-verified",
    "guard-state",
)
_REQUIRED: dict[str, dict[str, type]] = {
    "save-blocked": {"user": str, "path": str, "outcome": str, "findings": list},
    "save-bypassed": {"user": str, "path": str, "fingerprint": str, "reason": str},
    "bypass-withdrawn": {"user": str, "path": str, "fingerprint": str, "reason": str},
    "secret-injected": {"user": str, "notebook": str, "names": list},
    "secret-denied": {"user": str, "name": str, "reason": str},
    "provider-error": {"user": str, "name": str, "reason": str},
    "secret-changed": {"user": str, "name": str, "action": str},
    "notebook-signed": {"user": str, "path": str},
    "signature-verified": {"user": str, "path": str},
    "guard-state": {"user": str, "state": str},
}
#: Who the summary names for an event no one asked for: the server restarted a kernel
#: that died (its events' ``user`` is empty).
NO_ONE = "(automatic restart)"
_SCHEMA = re.compile(re.escape(_PREFIX) + r"(?P<kind>[a-z-]+)/v(?P<version>\d+)")
_SHOWN_PROBLEMS = 20


class TrailError(Exception):
    """A trail that cannot be read at all (missing, unreadable, not JSON lines)."""


@dataclass(frozen=True)
class Event:
    """One jupyter-qsecure event from the trail."""

    kind: str
    time: datetime
    data: dict[str, Any]
    where: str

    @property
    def user(self) -> str:
        """Who asked (the request's user), or :data:`NO_ONE` for what no one asked for
        (an automatic kernel restart, recorded with an empty user)."""
        return str(self.data["user"]) or NO_ONE


@dataclass
class Trail:
    """The events of a trail file and its rotated predecessors, oldest first."""

    files: list[Path] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    #: Lines that are not an event, as (``file:line``, why); the first few only.
    problems: list[tuple[str, str]] = field(default_factory=list)
    malformed: int = 0
    #: Events of other schemas (jupyter server's own, other versions) that were skipped.
    other: int = 0


def trail_files(path: Path) -> list[Path]:
    """``path`` and its rotated files (``path.1`` is the newest of those), oldest first."""
    rotated = []
    pattern = re.compile(re.escape(path.name) + r"\.(\d+)")
    try:
        siblings = list(path.parent.iterdir()) if path.parent.is_dir() else []
    except OSError:
        siblings = []
    for sibling in siblings:
        match = pattern.fullmatch(sibling.name)
        if match and sibling.is_file():
            rotated.append((int(match.group(1)), sibling))
    files = [sibling for _, sibling in sorted(rotated, reverse=True)]
    if path.exists() or not files:
        files.append(path)
    return files


def parse_timestamp(text: str) -> datetime:
    """jupyter_events' ``__timestamp__`` (``...+00:00Z``), or any ISO 8601 time, in UTC."""
    if text.endswith(("Z", "z")):
        text = text[:-1]
        if not re.search(r"[+-]\d\d:?\d\d$", text):
            text += "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def read_trail(path: Path) -> Trail:
    """Every jupyter-qsecure event in the trail at ``path`` (with its rotated files),
    sorted by time. A line that is not an event is counted, never fatal; a file that
    cannot be read raises :class:`TrailError`."""
    trail = Trail(files=trail_files(path))
    lines = 0
    for file in trail.files:
        try:
            with open_file(file) as stream:
                for number, raw in enumerate(stream, 1):
                    if not raw.strip():
                        continue
                    lines += 1
                    _read_line(trail, f"{file.name}:{number}", raw)
        except FileNotFoundError:
            raise TrailError(
                f"{file}: no audit trail here (no event recorded yet, [audit] enabled = false, "
                "or the server writes elsewhere: see [audit] file)"
            ) from None
        except OSError as error:
            raise TrailError(f"{file}: cannot read ({error.strerror or error})") from None
    if lines and not trail.events and trail.malformed == lines:
        raise TrailError(
            f"{path}: not a jupyter_events JSON-lines trail ({trail.problems[0][0]}: {trail.problems[0][1]})"
        )
    trail.events.sort(key=lambda event: event.time)
    return trail


def _read_line(trail: Trail, where: str, raw: bytes) -> None:
    def bad(why: str) -> None:
        trail.malformed += 1
        if len(trail.problems) < _SHOWN_PROBLEMS:
            trail.problems.append((where, why))

    try:
        data = loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return bad("not UTF-8")
    except ValueError:
        return bad("not JSON")
    if not isinstance(data, dict):
        return bad("not a JSON object")
    schema = data.get("__schema__")
    if not isinstance(schema, str):
        return bad("no __schema__")
    match = _SCHEMA.fullmatch(schema)
    if match is None or match.group("kind") not in KINDS or match.group("version") != "1":
        trail.other += 1
        return None
    kind = match.group("kind")
    stamp = data.get("__timestamp__")
    try:
        if not isinstance(stamp, str):
            raise ValueError
        moment = parse_timestamp(stamp)
    except ValueError:
        return bad(f"{kind} event without a valid __timestamp__")
    for key, expected in _REQUIRED[kind].items():
        if not isinstance(data.get(key), expected):
            return bad(f"{kind} event without a {expected.__name__} {key!r}")
    trail.events.append(Event(kind, moment, data, where))
    return None


def fingerprints_of(event: Event) -> Iterator[str]:
    """The finding fingerprints an event names (``save-blocked``, ``save-bypassed``)."""
    if event.kind == "save-bypassed":
        yield str(event.data["fingerprint"])
    elif event.kind == "save-blocked":
        for finding in event.data["findings"]:
            if isinstance(finding, dict) and isinstance(finding.get("fingerprint"), str):
                yield finding["fingerprint"]
