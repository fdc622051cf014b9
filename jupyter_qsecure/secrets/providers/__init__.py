"""Secret providers by scheme: built-in ones and plug-ins (``jupyter_qsecure.providers``).

:func:`provider_class` finds the class for a scheme (:mod:`.schemes`); :class:`Providers`
holds one instance per scheme for a policy, reads their stores (:mod:`.reads`: shared
while in flight, bounded, urgent first) and keeps a short cache of fetched values.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from functools import partial

from ..errors import ProviderError, no_answer
from ..policy import SecretsPolicy
from ..refs import SecretRef
from .base import SecretProvider
from .reads import BACKGROUND, URGENT, Read, ReadScheduler, report_progress
from .schemes import ENTRY_POINT_GROUP, provider_class


def cpu_count() -> int:
    """The number of CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


class Providers:
    """One provider instance per scheme, built from the policy on first use; the reads of
    their stores, shared while in flight; and a short in-memory cache of fetched values
    (thread-safe).

    The cache spares a store's cost on every kernel start (an encrypted-file keyring
    derives a key per entry, 0.4 s or more; Vault is a network round trip). It holds what
    the server holds anyway for running kernels, in memory only, for ``[injection]
    cache_seconds`` counted from when the read began, and drops each value when that time
    is up. Refresh and check bypass it and writes through this server's REST API clear it;
    a value changed by another process reaches new kernels after at most
    ``cache_seconds`` (and running ones at once through refresh).

    Reads run through a :class:`~.reads.ReadScheduler`: an entry being read is read once
    for everyone who asks meanwhile (the warm-up, kernel starts); a store's reads run at
    most ``read_concurrency`` at once (by default as many as the CPUs can run), urgent
    ones first. ``clock`` and ``workers`` (every store's limit) are for tests.
    """

    def __init__(
        self,
        policy: SecretsPolicy,
        *,
        clock: Callable[[], float] = time.monotonic,
        workers: int | None = None,
    ) -> None:
        self.policy = policy
        self._instances: dict[str, SecretProvider] = {}
        self._lock = threading.Lock()
        self._clock = clock
        self._workers = workers
        #: Reference -> (the clock's time it expires, value).
        self._cache: dict[str, tuple[float, str]] = {}
        #: Reference -> its read in flight (the latest, when a fresh one started too).
        self._inflight: dict[str, Read] = {}
        #: Reference -> how many times it was written or deleted through this server: a
        #: read asked for before a write is never cached, even one no longer the latest.
        self._writes: dict[str, int] = {}
        self._reads = ReadScheduler(clock, self._read_done)
        self._sweeper: threading.Timer | None = None
        self._sweep_at = 0.0
        self._closed = False

    def for_ref(self, ref: SecretRef) -> SecretProvider:
        """The provider that serves ``ref``."""
        with self._lock:
            provider = self._instances.get(ref.scheme)
            if provider is None:
                provider = provider_class(ref.scheme).from_policy(self.policy)
                self._instances[ref.scheme] = provider
            return provider

    def read(self, ref: SecretRef, *, fresh: bool = False, urgent: bool = True) -> Read:
        """The read that gives ``ref``'s value: done at once from the cache, else the read
        in flight (raised to ``urgent`` if it was the warm-up's), else a new one.
        ``fresh`` skips the cache and joins only a read that has not started yet."""
        priority = URGENT if urgent else BACKGROUND
        ttl = self.policy.injection.cache_seconds
        if not fresh and ttl > 0:
            with self._lock:
                cached = self._cache.get(ref.text)
                if cached is not None and cached[0] > self._clock():
                    return Read.finished(ref.text, value=cached[1])
        try:
            provider = self.for_ref(ref)
        except ProviderError as error:
            return Read.finished(ref.text, error=error)
        except Exception as error:  # a plug-in that cannot be built
            return Read.finished(
                ref.text,
                error=ProviderError(
                    "unreachable", f"{ref}: provider failed ({type(error).__name__})"
                ),
            )
        limit = self._workers or provider.read_concurrency
        if not limit:
            limit = max(1, cpu_count() // max(1, provider.threads_per_read))
        with self._lock:
            if not fresh and ttl > 0:  # a read may have finished meanwhile
                cached = self._cache.get(ref.text)
                if cached is not None and cached[0] > self._clock():
                    return Read.finished(ref.text, value=cached[1])
            inflight = self._inflight.get(ref.text)
            if inflight is not None and (not fresh or inflight.started is None):
                self._reads.promote(inflight, priority)
                return inflight
            read = self._reads.submit(
                ref.text,
                ref.scheme,
                limit,
                partial(provider.fetch, ref),
                priority=priority,
            )
            if not read.done:
                read.writes_before = self._writes.get(ref.text, 0)
                self._inflight[ref.text] = read
            return read

    def now(self) -> float:
        """The providers' clock (monotonic seconds)."""
        return self._clock()

    def wait(
        self, reads: Iterable[Read], timeout: float | None, *, since: float | None = None
    ) -> None:
        """Wait for ``reads`` while their stores keep answering: see
        :meth:`~.reads.ReadScheduler.wait` (``None``: until they are all done; ``since``:
        :meth:`now` when they were asked for)."""
        self._reads.wait(reads, timeout, since=since)

    def fetch(self, ref: SecretRef, *, fresh: bool = False) -> str:
        """The value of ``ref``; ``fresh`` skips the cache. Raises :class:`ProviderError`
        (reason ``timeout`` when the store stops answering for ``[injection] timeout``)."""
        asked = self.now()
        read = self.read(ref, fresh=fresh)
        timeout = self.policy.injection.timeout
        self.wait([read], timeout, since=asked)
        if not read.done:
            raise no_answer(ref, timeout)
        return read.result()

    def warm(self, refs: Iterable[SecretRef]) -> list[Read]:
        """Read ``refs`` in the background (urgent reads go first) into the cache."""
        return [self.read(ref, urgent=False) for ref in refs]

    def invalidate(self, ref: SecretRef) -> None:
        """Forget a cached value (after it was written or deleted); a read in flight
        still answers those already waiting for it, but its value is not cached."""
        with self._lock:
            self._writes[ref.text] = self._writes.get(ref.text, 0) + 1
            self._cache.pop(ref.text, None)
            inflight = self._inflight.pop(ref.text, None)
            if inflight is not None:
                inflight.cacheable = False

    def cached_refs(self) -> list[str]:
        """The references whose values are held in memory now (never the values)."""
        with self._lock:
            return sorted(self._cache)

    def sweep(self) -> None:
        """Drop the values whose cache period is over (a timer calls this on time)."""
        with self._lock:
            self._sweeper = None
            now = self._clock()
            for key in [key for key, (expires, _) in self._cache.items() if expires <= now]:
                del self._cache[key]
            self._arm_sweeper_locked()

    def tick(self) -> None:
        """Make waiting kernel starts look at an injected clock again (tests)."""
        self._reads.tick()

    def close(self) -> None:
        """Drop cached values and close providers that hold connections."""
        with self._lock:
            self._closed = True
            self._cache.clear()
            for read in self._inflight.values():
                read.cacheable = False
            self._inflight.clear()
            if self._sweeper is not None:
                self._sweeper.cancel()
                self._sweeper = None
            instances = list(self._instances.values())
            self._instances.clear()
        self._reads.close()
        for provider in instances:
            close = getattr(provider, "close", None)
            if callable(close):
                close()

    def _read_done(self, read: Read) -> None:
        """Cache a finished read's value (in the read's thread, before waiters see it)."""
        ttl = self.policy.injection.cache_seconds
        with self._lock:
            if self._inflight.get(read.key) is read:
                del self._inflight[read.key]
            if read.error is not None or read.value is None or not read.cacheable:
                return
            if read.writes_before != self._writes.get(read.key, 0):
                return
            if self._closed or ttl <= 0 or read.started is None:
                return
            expires = read.started + ttl
            current = self._cache.get(read.key)
            if expires <= self._clock() or (current is not None and current[0] >= expires):
                return
            self._cache[read.key] = (expires, read.value)
            self._arm_sweeper_locked()

    def _arm_sweeper_locked(self) -> None:
        """Time :meth:`sweep` for the first value to expire."""
        if not self._cache or self._closed:
            return
        first = min(expires for expires, _ in self._cache.values())
        if self._sweeper is not None and self._sweep_at <= first:
            return
        if self._sweeper is not None:
            self._sweeper.cancel()
        self._sweep_at = first
        self._sweeper = threading.Timer(max(first - self._clock(), 0.0), self.sweep)
        self._sweeper.name = "qsecure-cache-expiry"
        self._sweeper.daemon = True
        self._sweeper.start()


__all__ = [
    "ENTRY_POINT_GROUP",
    "ProviderError",
    "Providers",
    "Read",
    "SecretProvider",
    "cpu_count",
    "provider_class",
    "report_progress",
]
