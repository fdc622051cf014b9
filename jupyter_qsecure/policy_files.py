"""Where the policy lives, kept out of others' hands.

A policy file anyone else can write is not a policy: like OpenSSH's ``StrictModes``, the
file and its folder must not be writable by others, nor by a group other than the owner's
own (Debian's user-private groups, where ``umask 002`` makes files group-writable, are
accepted as Debian's OpenSSH accepts them). And the folders policy is read from must not
be written through the Jupyter server's contents API, when they lie under its root.

Policy is read only from trusted places (:func:`trusted_policy_paths`): ``$QSECURE_CONFIG``
if set, else ``qsecure.toml`` in each Jupyter config folder (user, environment, system).
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from ._files import read_text
from ._validate import PolicyError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "ENV_POLICY",
    "POLICY_FILENAME",
    "find_policy",
    "parse_toml",
    "trusted_policy_paths",
    "unsafe_permissions",
]

POLICY_FILENAME = "qsecure.toml"
ENV_POLICY = "QSECURE_CONFIG"


def trusted_policy_paths() -> list[Path]:
    """Where a policy may come from, in order of precedence."""
    from .config_path import jupyter_config_path

    env = os.environ.get(ENV_POLICY)
    if env:
        return [Path(env).expanduser()]
    return [Path(directory) / POLICY_FILENAME for directory in jupyter_config_path()]


def _private_group(gid: int, owner: int) -> bool:
    """Whether ``gid`` is the user-private group of ``owner`` (named like the user, no
    other member)."""
    try:
        import grp
        import pwd
    except ImportError:  # pragma: no cover - not on POSIX
        return False
    try:
        group = grp.getgrgid(gid)
        user = pwd.getpwuid(owner)
    except KeyError:
        return False
    return group.gr_name == user.pw_name and set(group.gr_mem) <= {user.pw_name}


def _writable_by_others(info: os.stat_result) -> str | None:
    if info.st_mode & stat.S_IWOTH and not (
        stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_ISVTX
    ):
        return "others"
    if info.st_mode & stat.S_IWGRP and not _private_group(info.st_gid, info.st_uid):
        return "its group"
    return None


def unsafe_permissions(path: Path) -> str | None:
    """Why ``path`` (a policy file) may not be trusted, naming the ``chmod`` to run, or
    None. Checks the file and its folder: writable by others or by a shared group, or
    owned by someone else than this user or root."""
    if os.name == "nt":  # pragma: no cover - POSIX modes only
        return None
    me = os.getuid()
    for target, what in ((path, "file"), (path.parent, "folder")):
        try:
            info = target.stat()
        except OSError:
            continue
        if info.st_uid not in (me, 0):
            return (
                f"the policy {what} {target} belongs to another user (uid {info.st_uid}), "
                f"who could change the policy; give it to this user or root (chown)"
            )
        who = _writable_by_others(info)
        if who is not None:
            mode = stat.S_IMODE(info.st_mode)
            return (
                f"the policy {what} {target} is writable by {who} (mode {mode:04o}), who "
                f"could change the policy; run: chmod go-w {target}"
            )
    return None


def find_policy() -> tuple[Path, str] | None:
    """The policy file in force and its text: the first of :func:`trusted_policy_paths`
    that exists; None when none does. Raises :class:`PolicyError` (naming the file) when
    ``$QSECURE_CONFIG`` names a missing file, the file cannot be read, or others could
    change it (:func:`unsafe_permissions`)."""
    for path in trusted_policy_paths():
        try:
            text = read_text(path)
        except FileNotFoundError:
            if os.environ.get(ENV_POLICY):
                raise PolicyError(
                    str(path), None, f"${ENV_POLICY} names this file, which does not exist"
                ) from None
            continue
        except (OSError, UnicodeDecodeError) as error:
            raise PolicyError(str(path), None, f"cannot read ({error})") from None
        problem = unsafe_permissions(path)
        if problem is not None:
            raise PolicyError(str(path), None, f"not used: {problem}")
        return path, text
    return None


def parse_toml(text: str, source: str) -> dict[str, Any]:
    """The policy text as TOML tables, or a :class:`PolicyError` naming ``source``: not
    TOML, nested too deeply (arrays or inline tables), or an integer with more digits than
    Python reads (each a traceback from ``tomllib``, which raises other errors than its
    own for those)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib  # type: ignore[import-not-found, no-redef, unused-ignore]
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise PolicyError(source, None, f"not valid TOML ({error})") from None
    except RecursionError:
        raise PolicyError(source, None, "not valid TOML here: nested too deeply") from None
    except ValueError as error:  # int() refusing a number of too many digits
        from ._json import too_many_digits

        raise PolicyError(source, None, f"not valid TOML here: {too_many_digits(error)}") from None
    return data
