"""Jupyter's config search path, as ``jupyter_core.paths.jupyter_config_path`` gives it,
without importing ``jupyter_core.paths`` where that is not needed.

The policy is read from these folders, and ``jupyter qsecure verify`` from the shell pays
for every import: ``jupyter_core.paths`` brings platformdirs, tempfile and more, a large
part of a verification's start-up. :func:`jupyter_config_path` computes the same list for
the usual case (POSIX, neither ``JUPYTER_PLATFORM_DIRS`` nor ``JUPYTER_NO_CONFIG`` set) with
the same rules: ``JUPYTER_CONFIG_PATH``, then the user's folders (``JUPYTER_CONFIG_DIR`` or
``~/.jupyter``, and Python's user base) and the environment's (``sys.prefix``), in the order
``JUPYTER_PREFER_ENV_PATH`` (or a virtualenv or conda environment owned by this user)
chooses, then the machine's. Anywhere else (Windows and its ``PROGRAMDATA``, platformdirs'
folders), and whenever ``jupyter_core.paths`` is loaded already (a server, a test that
changed its folders), jupyter_core answers. The tests check that both give the same list.
"""

from __future__ import annotations

import os
import site
import sys
from pathlib import Path

__all__ = ["jupyter_config_path"]

#: Values that leave a flag unset (``jupyter_core.paths.envset``).
_FALSE = ("no", "n", "false", "off", "0", "0.0")
#: The machine's folders on POSIX without platformdirs (``SYSTEM_CONFIG_PATH``).
_SYSTEM = ["/usr/local/etc/jupyter", "/etc/jupyter"]


def _flag(name: str) -> bool:
    value = os.environ.get(name)
    return value is not None and value.lower() not in _FALSE


def _owned_by_me(path: str) -> bool:
    """Whether this user owns ``path`` (or its first existing parent), judged as
    ``jupyter_core.paths._do_i_own`` judges it."""
    found = Path(path).resolve()
    while not found.exists() and found != found.parent:
        found = found.parent
    try:
        return found.owner() == os.getlogin()
    except Exception:  # noqa: S110 - no login name here (no terminal): next rule
        pass
    try:
        return found.stat().st_uid == os.geteuid()
    except (NotImplementedError, OSError):
        pass
    return os.access(found, os.W_OK)


def _prefer_environment() -> bool:
    if "JUPYTER_PREFER_ENV_PATH" in os.environ:
        return _flag("JUPYTER_PREFER_ENV_PATH")
    if sys.prefix != sys.base_prefix and _owned_by_me(sys.prefix):
        return True
    conda = os.environ.get("CONDA_PREFIX")
    return bool(
        conda is not None
        and sys.prefix.startswith(conda)
        and os.environ.get("CONDA_DEFAULT_ENV", "base") != "base"
        and _owned_by_me(sys.prefix)
    )


def jupyter_config_path() -> list[str]:
    """The folders Jupyter reads configuration from, highest precedence first: the same
    list as ``jupyter_core.paths.jupyter_config_path()``."""
    core = sys.modules.get("jupyter_core.paths")
    if core is None and (
        os.name == "nt" or _flag("JUPYTER_PLATFORM_DIRS") or os.environ.get("JUPYTER_NO_CONFIG")
    ):
        import jupyter_core.paths as core
    if core is not None:
        return list(core.jupyter_config_path())
    paths: list[str] = []
    if os.environ.get("JUPYTER_CONFIG_PATH"):
        paths.extend(p.rstrip(os.sep) for p in os.environ["JUPYTER_CONFIG_PATH"].split(os.pathsep))
    user = [
        os.environ.get("JUPYTER_CONFIG_DIR")
        or os.path.join(str(Path("~").expanduser().resolve()), ".jupyter")
    ]
    if site.ENABLE_USER_SITE:
        userbase = site.getuserbase() if hasattr(site, "getuserbase") else site.USER_BASE
        if userbase:
            userdir = str(Path(userbase, "etc", "jupyter"))
            if userdir not in user:
                user.append(userdir)
    environment = [p for p in [str(Path(sys.prefix, "etc", "jupyter"))] if p not in _SYSTEM]
    if _prefer_environment():
        paths.extend(environment + user)
    else:
        paths.extend(user + environment)
    paths.extend(_SYSTEM)
    return paths
