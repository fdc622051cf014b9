"""The server's log never spells a credential, whichever logger writes it: a record is
masked as it is made (its message, the traceback attached to it, its stack, an event's
fields), so every handler, the console's, a file's, one added later, gets it masked.

Records made through a logger pass the record factory that :func:`mask_every_record`
installs; one built directly (``logging.LogRecord(...)``, ``makeLogRecord``) is masked by
the same :class:`MaskedLog` set as a filter on the server's loggers. The server's own
login token (its start-up lines print the login URL on purpose) is kept.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from .._shown import shown

#: The longest log message :class:`MaskedLog` shows once rewritten.
MASKED_MESSAGE_CHARS = 100_000


class MaskedLog(logging.Filter):
    """Masks a log record: its message with each credential ``masked`` finds written as
    its masked preview and its control characters escaped (decoding ``%0A`` must not
    forge a line), the traceback and stack attached to it likewise (a traceback is
    formatted here, as handlers would, and the record keeps the masked text), and the
    string fields of an event (``jupyter_events`` logs a dict). A record from under one of
    ``escaped`` (code whose lines are one line each and name paths: the contents and
    sessions services) has its control characters escaped in any case. The values
    ``kept`` gives (the server's login token) are left as they are. Never raises."""

    def __init__(
        self,
        masked: Callable[[str], str],
        escaped: tuple[str, ...] = (),
        kept: Callable[[], tuple[str, ...]] = tuple,
    ) -> None:
        super().__init__()
        self.masked = masked
        self.escaped = escaped
        self.kept = kept
        self._busy = threading.local()
        self._done: weakref.WeakSet[logging.LogRecord] = weakref.WeakSet()

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the record (see :meth:`mask`); always let it through."""
        self.mask(record)
        return True

    def mask(self, record: logging.LogRecord) -> None:
        """Rewrite ``record`` in place where it spells a credential; once per record."""
        if getattr(self._busy, "on", False) or record in self._done:
            return
        self._busy.on = True
        try:
            with suppress(Exception):  # a log line is never lost to the masking
                self._message(record)
            with suppress(Exception):
                self._traceback(record)
            with suppress(Exception):
                self._done.add(record)
        finally:
            self._busy.on = False

    def _message(self, record: logging.LogRecord) -> None:
        if isinstance(record.msg, dict) and not record.args:
            record.msg = self._fields(record.msg)
            return
        try:
            message = record.getMessage()
        except Exception:
            # A call whose arguments do not fit its format: logging reports it with the
            # format and the arguments as they are ("Arguments: (...)" on stderr).
            record.msg = self._masked(record.msg) if isinstance(record.msg, str) else record.msg
            record.args = self._arguments(record.args)
            return
        rewritten = self._masked(message)
        if rewritten != message or record.pathname.startswith(self.escaped):
            rewritten = shown(rewritten, MASKED_MESSAGE_CHARS)
        if rewritten != message:
            record.msg = rewritten
            record.args = None

    def _arguments(self, args: Any) -> Any:
        """A record's arguments, each that spells a credential as its masked text."""

        def one(value: Any) -> Any:
            text = str(value)
            masked = self._masked(text)
            return value if masked == text else masked

        if isinstance(args, dict):
            return {key: one(value) for key, value in args.items()}
        if isinstance(args, tuple):
            return tuple(one(value) for value in args)
        return args

    def _traceback(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[0] is not None:
            text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            masked = self._masked(text)
            if masked != text:
                # Handlers format exc_info after filters: give them the masked text, and
                # nothing left to format again.
                record.exc_text, record.exc_info = masked, None
        elif record.exc_text:
            record.exc_text = self._masked(record.exc_text)
        if record.stack_info:
            record.stack_info = self._masked(record.stack_info)

    def _fields(self, value: Any) -> Any:
        """``value`` (JSON) with its strings masked; the same object when none changes."""
        if isinstance(value, str):
            return self._masked(value)
        if isinstance(value, dict):
            items = {self._fields(k): self._fields(v) for k, v in value.items()}
            return value if items == value else items
        if isinstance(value, (list, tuple)):
            masked = [self._fields(item) for item in value]
            return value if masked == list(value) else type(value)(masked)
        return value

    def _masked(self, text: str) -> str:
        """``masked(text)``, each value ``kept`` gives left as it is: the text on either
        side of it is masked on its own (a stand-in for it could be read as a token)."""
        for value in self.kept():
            if value and value in text:
                return value.join(self._masked(part) for part in text.split(value))
        return self.masked(text)


_active: list[MaskedLog] = []
_lock = threading.Lock()
_making = threading.local()
#: The factory found when this module first installed its own, and the one it wraps now.
_first: Callable[..., logging.LogRecord] | None = None
_previous: Callable[..., logging.LogRecord] | None = None


def _make_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
    if getattr(_making, "on", False) or _previous is None:
        # Called again from within (another factory installed over this one and wraps
        # it, then this one over that): the outer call masks.
        return (_first or logging.LogRecord)(*args, **kwargs)
    _making.on = True
    try:
        record = _previous(*args, **kwargs)
    finally:
        _making.on = False
    for log_filter in tuple(_active):
        log_filter.mask(record)
    return record


def mask_every_record(log_filter: MaskedLog) -> None:
    """Mask with ``log_filter`` every record made in this process from now on (until
    :func:`stop_masking`), whichever logger makes it."""
    global _first, _previous
    with _lock:
        current = logging.getLogRecordFactory()
        if current is not _make_record:
            _first = _first or current
            _previous = current
            logging.setLogRecordFactory(_make_record)
        if log_filter not in _active:
            _active.append(log_filter)


def stop_masking(log_filter: MaskedLog) -> None:
    """Records are no longer masked with ``log_filter`` (a server stops; tests start many);
    the record factory is given back once none is left, unless another replaced it since."""
    with _lock:
        if log_filter in _active:
            _active.remove(log_filter)
        if not _active and logging.getLogRecordFactory() is _make_record and _previous:
            logging.setLogRecordFactory(_previous)
