"""Secret providers by scheme: built-in ones and plug-ins (``jupyter_qsecure.providers``).

:func:`provider_class` finds the class for a scheme (:mod:`.schemes`); :class:`Providers`
holds one instance per scheme for a policy, with a short cache of fetched values.
"""

from __future__ import annotations

import threading
import time

from ..errors import ProviderError
from ..policy import SecretsPolicy
from ..refs import SecretRef
from .base import SecretProvider
from .schemes import ENTRY_POINT_GROUP, provider_class


class Providers:
    """One provider instance per scheme, built from the policy on first use, and a short
    in-memory cache of fetched values (thread-safe).

    The cache spares a store's cost on every kernel start (an encrypted-file keyring
    derives a key per entry, ~0.4 s; Vault is a network round trip). It holds what the
    server holds anyway for running kernels, in memory only, for ``[injection]
    cache_seconds``. Refresh and check bypass it and writes through this server's REST
    API clear it; a value changed by another process reaches new kernels after at most
    ``cache_seconds`` (and running ones at once through refresh).
    """

    def __init__(self, policy: SecretsPolicy) -> None:
        self.policy = policy
        self._instances: dict[str, SecretProvider] = {}
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, str]] = {}

    def for_ref(self, ref: SecretRef) -> SecretProvider:
        """The provider that serves ``ref``."""
        with self._lock:
            provider = self._instances.get(ref.scheme)
            if provider is None:
                provider = provider_class(ref.scheme).from_policy(self.policy)
                self._instances[ref.scheme] = provider
            return provider

    def fetch(self, ref: SecretRef, *, fresh: bool = False) -> str:
        """The value of ``ref``; ``fresh`` skips the cache."""
        ttl = self.policy.injection.cache_seconds
        now = time.monotonic()
        if not fresh and ttl > 0:
            with self._lock:
                cached = self._cache.get(ref.text)
            if cached is not None and cached[0] > now:
                return cached[1]
        try:
            value = self.for_ref(ref).fetch(ref)
        except ProviderError:
            raise
        except Exception as error:  # a plug-in's bug is that store's failure, not ours
            raise ProviderError(
                "unreachable", f"{ref}: provider failed ({type(error).__name__})"
            ) from None
        if ttl > 0:
            with self._lock:
                self._cache[ref.text] = (now + ttl, value)
        return value

    def invalidate(self, ref: SecretRef) -> None:
        """Forget a cached value (after it was written or deleted)."""
        with self._lock:
            self._cache.pop(ref.text, None)

    def close(self) -> None:
        """Drop cached values and close providers that hold connections."""
        with self._lock:
            self._cache.clear()
            instances = list(self._instances.values())
            self._instances.clear()
        for provider in instances:
            close = getattr(provider, "close", None)
            if callable(close):
                close()


__all__ = ["ENTRY_POINT_GROUP", "ProviderError", "Providers", "SecretProvider", "provider_class"]
