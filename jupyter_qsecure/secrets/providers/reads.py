"""Store reads in flight: shared by whoever asks, run in bounded threads by priority, and
waited for while their store keeps answering.

A read of an entry is made once however many ask for it while it runs (the server's
warm-up and a kernel start, two kernel starts). Reads of one store run in threads, at
most ``limit`` at once (for a keyring that derives a key per entry, as many as the CPUs
can run): never on the event loop, never more at once than the cores can serve. A read someone
waits for (:data:`URGENT`) runs before the warm-up's (:data:`BACKGROUND`), including a
warm-up read that is queued when a kernel start asks for the same entry.

:meth:`ReadScheduler.wait` gives up on what is left only when the store has finished
nothing (no read, no unlock: see :func:`report_progress`) for ``timeout`` seconds: a slow
store that works is waited for, one that stopped answering is not. Once a read runs, only
its own steps and those of the reads that started before it count for it, not reads
asked for later: a read that never returns is given up, however busy its store is kept
(the wait is bounded by the reads ahead of it, never by those that keep coming).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable

from ..errors import ProviderError

#: Someone waits for this read (a kernel start, a check, a refresh).
URGENT = 0
#: Nobody waits yet (the warm-up at server start).
BACKGROUND = 1

_local = threading.local()


def report_progress() -> None:
    """Called by a provider inside a read when it finished a costly step of its own
    (an encrypted-file keyring's unlock): its store counts as answering. No-op outside a
    read."""
    progressed = getattr(_local, "progressed", None)
    if progressed is not None:
        progressed()


class Read:
    """One read of one store entry: queued, running, then done with a value or an error."""

    def __init__(
        self,
        key: str,
        group: str,
        priority: int,
        work: Callable[[], str],
        serial: int,
    ) -> None:
        self.key = key
        self.group = group
        self.priority = priority
        self.serial = serial
        self._work = work
        #: The clock's time the read started running (None while queued).
        self.started: float | None = None
        #: Its place in the order reads of its group started running.
        self.order = -1
        #: The clock's time it, or a read of its group that started before it, last
        #: finished a step (an unlock, a read) while it ran.
        self.last_sign: float | None = None
        self.done = False
        self.value: str | None = None
        self.error: ProviderError | None = None
        #: Whether its value may be cached (not after a write of the entry).
        self.cacheable = True
        #: How many writes of its entry its owner counted when it was asked for.
        self.writes_before = 0
        #: Whether a waiter gave up on it (its thread no longer counts against the limit).
        self.abandoned = False

    @classmethod
    def finished(
        cls, key: str, value: str | None = None, error: ProviderError | None = None
    ) -> Read:
        """A read that needs no store: a cached value, or an error found before reading."""
        read = cls(key, "", URGENT, lambda: "", serial=-1)
        read.value, read.error, read.done = value, error, True
        return read

    def result(self) -> str:
        """The value, or raise the store's :class:`ProviderError` (only once done)."""
        if self.error is not None:
            raise self.error
        assert self.value is not None
        return self.value

    def __repr__(self) -> str:  # never the value
        state = "done" if self.done else ("running" if self.started is not None else "queued")
        return f"<Read {self.key} {state}>"


class ReadScheduler:
    """Runs :class:`Read` s in threads, per group (a store) at most ``limit`` at once,
    urgent ones first; one condition for every change, so waiters see each step.

    ``clock`` is injectable (tests); after moving an injected clock, :meth:`tick` makes
    waiters look at it again."""

    def __init__(
        self,
        clock: Callable[[], float],
        on_done: Callable[[Read], None] | None = None,
    ) -> None:
        self._clock = clock
        self._on_done = on_done or (lambda read: None)
        self._condition = threading.Condition()
        self._queued: dict[str, list[Read]] = {}
        self._running: dict[str, int] = {}
        self._limits: dict[str, int] = {}
        #: The clock's time each group last finished something.
        self._progress: dict[str, float] = {}
        #: Each group's reads running now (abandoned ones included).
        self._in_threads: dict[str, list[Read]] = {}
        self._serial = itertools.count()
        self._order = itertools.count()
        self._closed = False

    def submit(
        self,
        key: str,
        group: str,
        limit: int,
        work: Callable[[], str],
        *,
        priority: int = URGENT,
    ) -> Read:
        """Queue ``work`` (it returns the value or raises :class:`ProviderError`)."""
        read = Read(key, group, priority, work, next(self._serial))
        with self._condition:
            if self._closed:
                self._finish_locked(read, None, _closed_error(key))
                return read
            self._limits[group] = max(1, limit)
            self._queued.setdefault(group, []).append(read)
            self._dispatch_locked(group)
        return read

    def promote(self, read: Read, priority: int) -> None:
        """Run ``read`` with ``priority`` if that is more urgent (a queued warm-up read a
        kernel start asks for)."""
        with self._condition:
            if priority < read.priority:
                read.priority = priority

    def wait(
        self, reads: Iterable[Read], timeout: float | None, *, since: float | None = None
    ) -> None:
        """Return when every read is done, or when those left had no sign of life from
        their store (see :meth:`_deadline`) for ``timeout`` seconds (``None``: no limit),
        counted from ``since`` (the clock's time the reads were asked for; default now) at
        the earliest. What is left then is marked abandoned: it keeps running, its value
        is cached when it comes, and its thread no longer holds a place of the group's
        limit, so a store's next reads are not stuck behind one that never returns."""
        pending = list(reads)
        with self._condition:
            began = self._clock() if since is None else since
            while True:
                pending = [read for read in pending if not read.done]
                if not pending:
                    return
                if timeout is None:
                    self._condition.wait()
                    continue
                now = self._clock()
                deadlines = {id(read): self._deadline(read, began, timeout) for read in pending}
                stalled = [read for read in pending if deadlines[id(read)] <= now]
                if stalled:
                    self._abandon_locked(stalled)
                    pending = [read for read in pending if read not in stalled]
                    if not pending:
                        return
                    continue
                self._condition.wait(min(deadlines.values()) - now)

    def tick(self) -> None:
        """Make waiters look at the clock again (after an injected clock moved)."""
        with self._condition:
            self._condition.notify_all()

    def close(self) -> None:
        """Fail the queued reads (the server stops); running ones end on their own, their
        values not cached."""
        with self._condition:
            self._closed = True
            for queued in self._queued.values():
                for read in queued:
                    self._finish_locked(read, None, _closed_error(read.key))
            self._queued.clear()
            self._condition.notify_all()

    # -- inside the condition -----------------------------------------------------------

    def _deadline(self, read: Read, began: float, timeout: float) -> float:
        """When a waiter that began at ``began`` gives up on ``read``: ``timeout`` after
        the last sign of life of its store for it, or after ``began``. Queued, any read or
        unlock of its group finished counts (its turn comes nearer); running, only its
        start and the steps of itself and of the reads that started before it."""
        if read.started is None:
            return max(began, self._progress.get(read.group, began)) + timeout
        return max(began, read.started, read.last_sign or read.started) + timeout

    def _abandon_locked(self, reads: list[Read]) -> None:
        for read in reads:
            if read.started is not None and not read.abandoned:
                read.abandoned = True
                self._running[read.group] -= 1
                self._dispatch_locked(read.group)

    def _dispatch_locked(self, group: str) -> None:
        queued = self._queued.get(group, [])
        while queued and self._running.get(group, 0) < self._limits[group]:
            read = min(queued, key=lambda r: (r.priority, r.serial))
            queued.remove(read)
            read.started = self._clock()
            read.order = next(self._order)
            self._in_threads.setdefault(group, []).append(read)
            self._running[group] = self._running.get(group, 0) + 1
            threading.Thread(
                target=self._run, args=(read,), name=f"qsecure-read-{group}", daemon=True
            ).start()
        self._condition.notify_all()

    def _finish_locked(self, read: Read, value: str | None, error: ProviderError | None) -> None:
        read.value, read.error, read.done = value, error, True
        self._condition.notify_all()

    # -- in the read's thread -----------------------------------------------------------

    def _run(self, read: Read) -> None:
        _local.progressed = lambda: self._progressed(read)
        value: str | None = None
        error: ProviderError | None = None
        try:
            value = read._work()
        except ProviderError as failure:
            error = failure
        except Exception as failure:  # a plug-in's bug is that store's failure, not ours
            error = ProviderError(
                "unreachable", f"{read.key}: provider failed ({type(failure).__name__})"
            )
        finally:
            _local.progressed = None
        read.value, read.error = value, error
        # Outside the condition: the owner caches the value under its own lock, which it
        # holds when it submits (the reverse order would deadlock).
        try:
            self._on_done(read)
        finally:
            with self._condition:
                self._signs_locked(read)
                self._in_threads[read.group].remove(read)
                if not read.abandoned:
                    self._running[read.group] -= 1
                self._finish_locked(read, value, error)
                self._dispatch_locked(read.group)

    def _progressed(self, read: Read) -> None:
        with self._condition:
            self._signs_locked(read)
            self._condition.notify_all()

    def _signs_locked(self, read: Read) -> None:
        """``read`` finished a step: a sign of life of its group, for the queued reads,
        itself and the running reads that started after it."""
        now = self._clock()
        self._progress[read.group] = now
        for other in self._in_threads.get(read.group, []):
            if other.order >= read.order:
                other.last_sign = now


def _closed_error(key: str) -> ProviderError:
    return ProviderError("unreachable", f"{key}: not read, the server is stopping")
