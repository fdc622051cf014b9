"""Which provider class serves a reference scheme: the built-in ones, then plug-ins
registered in the entry point group ``jupyter_qsecure.providers``.

Built-in providers are named here by module, like plug-ins by entry point, and imported
on first use: the keyring and Vault clients are heavy, and a provider that reads its
credentials through another scheme (Vault's ``token_source = "keyring://..."``) looks it
up here without this module importing it back.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from ..errors import ProviderError
from .base import SecretProvider
from .names import BUILTIN_PROVIDERS, ENTRY_POINT_GROUP

__all__ = ["BUILTIN_PROVIDERS", "ENTRY_POINT_GROUP", "provider_class"]


def _builtin(scheme: str) -> type[SecretProvider] | None:
    if scheme not in BUILTIN_PROVIDERS:
        return None
    module, name = BUILTIN_PROVIDERS[scheme]
    loaded: type[SecretProvider] = getattr(importlib.import_module(f"{__package__}.{module}"), name)
    return loaded


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
        "misconfigured",
        f"no provider for {scheme}:// (built in: keyring, vault, file, env)",
    )
