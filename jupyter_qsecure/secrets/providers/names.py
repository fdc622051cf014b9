"""The schemes providers serve, by name only: the built-in ones and the plug-ins'
entry points, without importing any provider (a policy checks its sources' schemes when it
loads, and the providers import the policy)."""

from __future__ import annotations

from importlib.metadata import entry_points

__all__ = ["BUILTIN_PROVIDERS", "ENTRY_POINT_GROUP", "unknown_scheme"]

ENTRY_POINT_GROUP = "jupyter_qsecure.providers"

#: Scheme -> (module in this package, class name) of the built-in providers.
BUILTIN_PROVIDERS: dict[str, tuple[str, str]] = {
    "keyring": ("keyring", "KeyringProvider"),
    "vault": ("vault", "VaultProvider"),
    "file": ("simple", "FileProvider"),
    "env": ("simple", "EnvProvider"),
}


def unknown_scheme(scheme: str) -> str | None:
    """Why no provider serves ``scheme`` (the schemes that are served), or None when one
    does: built in, or a plug-in's entry point (named only: the plug-in is not loaded)."""
    if scheme in BUILTIN_PROVIDERS:
        return None
    plugins = sorted({entry.name for entry in entry_points(group=ENTRY_POINT_GROUP)})
    if scheme in plugins:
        return None
    served = ", ".join([*BUILTIN_PROVIDERS, *plugins])
    return (
        f"no provider for {scheme}:// (served here: {served}); check the spelling, or "
        "install the plug-in that provides it"
    )
