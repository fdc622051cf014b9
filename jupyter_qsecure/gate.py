"""Fail closed: no write goes unguarded because jupyter-qsecure did not load.

jupyter_server treats an extension whose load raises as optional: it logs and serves on.
For a leak guard that would mean saving every notebook unscanned. So the guard's gate is
not wired by the extension's load but by configuration: the package's
``jupyter_server_config.d`` file sets ``ContentsManager.pre_save_hook`` to
:func:`refuse_until_ready`, which the server installs before any extension loads. While
jupyter-qsecure is enabled and has not reported a complete load, every save through the
contents manager (editor saves, uploads, file copies, collaboration saves) is refused with
``503 {reason: "qsecure-unavailable", message}``. Once loaded, the gate lets saves through
to the guard's own hook; an admin who turned the guard off (``[guard] enabled = false``)
gets saves through unscanned, by their explicit choice.

This module imports nothing of the rest of the package, so it works when the rest cannot
be imported at all.
"""

from __future__ import annotations

import json
import weakref
from dataclasses import dataclass
from typing import Any

from tornado.web import HTTPError

EXTENSION = "jupyter_qsecure"
UNAVAILABLE_REASON = "qsecure-unavailable"
UNAVAILABLE_STATUS = 503


@dataclass(frozen=True)
class GateState:
    """What the extension reported: ``ready`` (guard on or, by policy, off) or the error
    that stopped its load."""

    ready: bool
    guard: str  # "on", "off" or "unavailable"
    error: str | None = None


class GuardUnavailable(HTTPError):
    """A write refused because the guard is not running."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        message = (
            f"Save refused: jupyter-qsecure's leak guard is not running ({problem}), so "
            f"nothing can be checked before it is written. {path or 'The file'} was not "
            "written; your work is still in the editor. Ask your admin to read the "
            "server log and restart the server."
        )
        super().__init__(UNAVAILABLE_STATUS, message, reason=UNAVAILABLE_REASON)

    def to_json(self) -> dict[str, Any]:
        """The REST error body: ``{reason, message, path}``."""
        return {"reason": UNAVAILABLE_REASON, "message": self.log_message, "path": self.path}

    def body(self) -> str:
        """The JSON text of :meth:`to_json`."""
        return json.dumps(self.to_json())


class ServiceUnavailable(HTTPError, AttributeError):
    """A request for a capability whose service the extension's load did not build (the
    load failed before it): ``503 {reason: "qsecure-unavailable", message}``. Also an
    ``AttributeError``, so ``getattr(app, name, None)`` still answers None."""

    def __init__(self, what: str, problem: str) -> None:
        message = (
            f"{what} is not available: jupyter-qsecure could not load ({problem}). "
            "Ask your admin to read the server log and restart the server."
        )
        super().__init__(UNAVAILABLE_STATUS, message, reason=UNAVAILABLE_REASON)

    def to_json(self) -> dict[str, Any]:
        """The REST error body: ``{reason, message}``."""
        return {"reason": UNAVAILABLE_REASON, "message": self.log_message}


_states: weakref.WeakKeyDictionary[Any, GateState] = weakref.WeakKeyDictionary()

NOT_LOADED = "the jupyter_qsecure server extension did not load; the server log says why"


def report(contents_manager: Any, state: GateState) -> None:
    """Record what the extension's load came to, for this server's contents manager."""
    _states[contents_manager] = state


def state_of(contents_manager: Any) -> GateState:
    """The gate's state for a contents manager (unavailable until the load reports)."""
    if not extension_enabled(contents_manager):
        return GateState(ready=True, guard="not-enabled")
    return _states.get(
        contents_manager, GateState(ready=False, guard="unavailable", error=NOT_LOADED)
    )


def extension_enabled(contents_manager: Any) -> bool:
    """Whether the server owning this contents manager enables jupyter-qsecure. A contents
    manager outside a Jupyter server (nbconvert, a script) has nothing to wait for."""
    server = getattr(contents_manager, "parent", None)
    enabled = getattr(server, "jpserver_extensions", None)
    if not isinstance(enabled, dict):
        return False
    return any(
        on and (name == EXTENSION or name.startswith(EXTENSION + "."))
        for name, on in enabled.items()
    )


def check(contents_manager: Any, path: str) -> None:
    """Raise :class:`GuardUnavailable` unless writes may proceed to the guard."""
    state = state_of(contents_manager)
    if not state.ready:
        raise GuardUnavailable(path.strip("/"), state.error or NOT_LOADED)


def refuse_until_ready(
    model: dict[str, Any] | None = None,
    path: str = "",
    contents_manager: Any = None,
    **_: Any,
) -> None:
    """The ContentsManager pre-save hook the package's server configuration installs."""
    check(contents_manager, path)
