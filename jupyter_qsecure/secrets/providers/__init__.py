"""Secret providers by scheme: built-in ones and plug-ins (``jupyter_qsecure.providers``)."""

from __future__ import annotations

import threading
from importlib.metadata import entry_points

from ..errors import ProviderError
from ..policy import SecretsPolicy
from ..refs import SecretRef
from .base import SecretProvider

ENTRY_POINT_GROUP = "jupyter_qsecure.providers"


def _builtin(scheme: str) -> type[SecretProvider] | None:
    if scheme == "keyring":
        from .keyring import KeyringProvider

        return KeyringProvider
    if scheme == "vault":
        from .vault import VaultProvider

        return VaultProvider
    if scheme in ("env", "file"):
        from .simple import EnvProvider, FileProvider

        return EnvProvider if scheme == "env" else FileProvider
    return None


def provider_class(scheme: str) -> type[SecretProvider]:
    """The provider class for a scheme; raises :class:`ProviderError` for an unknown one."""
    builtin = _builtin(scheme)
    if builtin is not None:
        return builtin
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == scheme:
            loaded = entry.load()
            if not (isinstance(loaded, type) and issubclass(loaded, SecretProvider)):
                raise ProviderError(
                    "misconfigured",
                    f"plug-in {entry.value} for {scheme}:// is not a SecretProvider",
                )
            return loaded
    raise ProviderError(
        "misconfigured", f"no provider for {scheme}:// (built in: keyring, vault, file, env)"
    )


class Providers:
    """One provider instance per scheme, built from the policy on first use (thread-safe)."""

    def __init__(self, policy: SecretsPolicy) -> None:
        self.policy = policy
        self._instances: dict[str, SecretProvider] = {}
        self._lock = threading.Lock()

    def for_ref(self, ref: SecretRef) -> SecretProvider:
        """The provider that serves ``ref``."""
        with self._lock:
            provider = self._instances.get(ref.scheme)
            if provider is None:
                provider = provider_class(ref.scheme).from_policy(self.policy)
                self._instances[ref.scheme] = provider
            return provider

    def fetch(self, ref: SecretRef) -> str:
        """The value of ``ref``."""
        return self.for_ref(ref).fetch(ref)


__all__ = ["ENTRY_POINT_GROUP", "ProviderError", "Providers", "SecretProvider", "provider_class"]
