"""Scans of saves the ContentsManager makes by itself, run off the event loop.

A request handler scans what it is about to save in a worker thread, then marks that
model ``prechecked`` so the pre-save hook lets it through. Some writes build their model
inside the ContentsManager, out of the handler's reach: a single-file copy reads the
source and saves it under a name of the manager's choosing. A handler runs such a write
inside :func:`scanned_in_a_thread`, and the ContentsManager's ``save``, wrapped once by
:func:`scan_saves_in_a_thread`, then checks the model in a worker thread before the save
and its hooks run: the same check, path and refusal as the hook's, without stopping the
server while a large file is scanned.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any

from .save_guard import SaveGuard, prechecked

_in_a_thread: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "qsecure_scan_in_a_thread", default=False
)


@contextmanager
def scanned_in_a_thread() -> Iterator[None]:
    """Inside, the ContentsManager's saves (of this task) are scanned in a worker thread."""
    token = _in_a_thread.set(True)
    try:
        yield
    finally:
        _in_a_thread.reset(token)


def scan_saves_in_a_thread(contents_manager: Any, guard: SaveGuard) -> None:
    """Wrap ``contents_manager.save`` (on the instance, so any ContentsManager class keeps
    its behaviour): inside :func:`scanned_in_a_thread`, ``guard.check`` runs on the model in
    a worker thread first, and the pre-save hook skips that model. A synchronous
    ContentsManager is left as it is: all its work, the hook's scan included, runs on the
    event loop."""
    save: Callable[..., Awaitable[Any]] = contents_manager.save
    if getattr(save, "qsecure_scan_in_a_thread", False) or not inspect.iscoroutinefunction(save):
        return

    @wraps(save)
    async def save_scanned_first(model: dict[str, Any], path: str = "") -> Any:
        if (
            _in_a_thread.get()
            and isinstance(model, dict)
            and model.get("content") is not None
            and prechecked.get() is not model
        ):
            await asyncio.to_thread(guard.check, model, path.strip("/"))
            prechecked.set(model)
        return await save(model, path)

    save_scanned_first.qsecure_scan_in_a_thread = True  # type: ignore[attr-defined]
    contents_manager.save = save_scanned_first
