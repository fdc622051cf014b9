"""Who an action is attributed to.

The server runs for one account (``server_user``: JupyterHub's user name, else the OS
user); kernels run as that account and its personal grants are theirs. A request may come
from someone else (a collaborator on a shared JupyterHub server, a custom authenticator):
handlers run their work under :func:`acting_as` with the request's user, and the guard's
audit events, acceptances and personal grants name that user. Light on purpose: the
kernel side imports it.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

_acting: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "qsecure_acting_user", default=None
)


@dataclass
class _RestartRequest:
    kernel_id: str
    taken: bool = False


_restart: contextvars.ContextVar[_RestartRequest | None] = contextvars.ContextVar(
    "qsecure_restart_request", default=None
)


def server_user() -> str:
    """The JupyterHub user this server runs for, else the OS user."""
    if os.environ.get("JUPYTERHUB_USER"):
        return os.environ["JUPYTERHUB_USER"]
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


def acting_user() -> str:
    """The user of the request being served, else the server's user (a save the server
    makes itself, a CLI run)."""
    return _acting.get() or server_user()


@contextmanager
def acting_as(user: str | None) -> Iterator[None]:
    """Attribute everything done inside (same task or thread) to ``user``."""
    token = _acting.set(user or None)
    try:
        yield
    finally:
        _acting.reset(token)


def request_user_name(user: object, identity_provider: object = None) -> str | None:
    """Who a request comes from: the name of jupyter_server's ``current_user`` when an
    identity provider that knows people issued it (JupyterHub's, a lab's own), else None:
    jupyter_server's token and password logins know no one but the holder of the server's
    credentials, its owner (they name each browser "Anonymous ..." anew)."""
    if type(identity_provider).__module__.startswith("jupyter_server.auth"):
        return None
    if user is None:
        return None
    if isinstance(user, dict):
        name = user.get("name") or user.get("username")
        return str(name) if name else None
    name = getattr(user, "username", None) or getattr(user, "name", None)
    return str(name) if name else None


def act_for_this_task(user: str | None) -> None:
    """Attribute the rest of the current task (a request being served: tornado runs each in
    its own task, so the setting ends with it) to ``user``."""
    _acting.set(user or None)


def request_restart(kernel_id: str) -> None:
    """Note that the request the current task serves asks to restart ``kernel_id`` (see
    :func:`restart_requested`)."""
    _restart.set(_RestartRequest(kernel_id))


def restart_requested(kernel_id: str) -> bool:
    """Whether a request asked for the restart of ``kernel_id`` now under way (then it is
    :func:`acting_user`'s), else the server restarts a kernel that died by itself. Answers
    True once per request: a kernel's auto-restarter runs in a copy of the context its
    kernel was (re)started in, and a later restart of its own is no one's request."""
    request = _restart.get()
    if request is None or request.kernel_id != kernel_id or request.taken:
        return False
    request.taken = True
    return True
