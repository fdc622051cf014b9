"""A running kernel follows its notebook when the notebook is renamed or moved.

JupyterLab creates a notebook as ``Untitled.ipynb`` and starts its kernel; the user renames
it, JupyterLab renames the file (``PATCH /api/contents/...``) and then moves the session
to the new path (``PATCH /api/sessions/ID``). The kernel was started for the old path, and
that is what the secrets registry and the kernel's provenance recorder know. The server
notices the move in two places:

- **session updates**: :func:`watch_sessions` wraps the ``update_session`` method of the
  server's session manager instance (whatever class it is), which the sessions ``PATCH``
  handler calls; a changed ``path`` moves the session's kernel;
- **file renames** through the contents API (jupyter_server's ``contents_service`` event,
  action ``rename``): kernels running for the renamed file, or for a notebook in a
  renamed folder, move even when no session is updated (a closed notebook whose kernel
  still runs).

A move (:meth:`NotebookMoves.moved`) applies only to a kernel the registry says runs for
the old path (a console sharing a notebook's kernel does not move it), and then:

1. the registry's record takes the new path: grants, ``POST /qsecure/kernel/refresh`` and
   ``GET /qsecure/secrets?path=`` judge the new path. The values injected at start stay
   in the running process (its environment cannot change) and the guard keeps them;
2. the provenance store aliases the kernel id to the new path: the recorder keeps writing
   the old path into its records (it cannot be told), and ``for_notebook`` gives that
   kernel's records, past and future, to the new path only;
3. the kernel's launch environment gets ``QSECURE_NOTEBOOK`` = the new path, so a restart
   starts the kernel for the new path (secrets and records alike).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._shown import logged
from .provenance.store import ProvenanceStore
from .secrets.injection import notebook_from_environment
from .secrets.registry import KernelSecretRegistry

#: The variable naming a kernel's notebook (preferred over ``JPY_SESSION_NAME``).
NOTEBOOK_ENV = "QSECURE_NOTEBOOK"
#: How long a file rename is remembered for a session update that arrives after it (s).
RENAME_MEMORY = 60.0


class NotebookMoves:
    """Moves running kernels to their notebook's new path (see the module's docstring).

    ``store`` gives the provenance store to alias kernels in, or None when provenance is
    off."""

    def __init__(
        self,
        registry: KernelSecretRegistry,
        root: Path,
        kernel_manager: Any,
        store: Callable[[], ProvenanceStore | None],
        log: logging.Logger | logging.LoggerAdapter[Any],
    ) -> None:
        self.registry = registry
        self.root = root
        self.kernel_manager = kernel_manager
        self.store = store
        self.log = log
        #: Recent file renames, old notebook path -> (new path, when): a session update
        #: naming a path that was renamed away just before (JupyterLab's update can arrive
        #: after the rename it follows) goes on to where the file went.
        self._renamed: dict[str, tuple[str, float]] = {}

    def notebook(self, api_path: str | None) -> str | None:
        """An API path as the registry names notebooks (relative to the root, normalized)."""
        path = (api_path or "").strip("/")
        return notebook_from_environment({NOTEBOOK_ENV: path}, self.root) if path else None

    async def moved(self, kernel_id: str | None, old: str | None, new: str | None) -> bool:
        """Move kernel ``kernel_id`` from notebook ``old`` to ``new``; return whether it
        moved (False: it does not run for ``old``, or nothing changes)."""
        if not kernel_id or new is None or old == new:
            return False
        if not self.registry.rename(kernel_id, old, new):
            return False
        followed = self._renamed_since(new)
        if followed is not None and self.registry.rename(kernel_id, new, followed):
            new = followed
        self.log.info(
            "jupyter-qsecure: kernel %s now runs for %s (was %s)",
            logged(kernel_id),
            logged(new),
            logged(old),
        )
        update_env = getattr(self.kernel_manager, "update_env", None)
        if update_env is not None:  # jupyter_client >= 8.5; takes effect on a restart
            update_env(kernel_id=kernel_id, env={NOTEBOOK_ENV: new})
        try:
            store = self.store()
            if store is not None:
                await asyncio.to_thread(
                    store.alias, kernel_id, new, old, None, str(self.root.resolve() / new)
                )
        except Exception as error:  # the store is down: the rename itself must go through
            self.log.error(
                "jupyter-qsecure: the provenance records of kernel %s stay with %s: %s",
                logged(kernel_id),
                logged(old),
                logged(error),
            )
        return True

    def _renamed_since(self, path: str) -> str | None:
        """Where a rename of the last minute took the notebook at ``path``, when the file
        is no longer at ``path`` but is there (never for a path that exists again)."""
        now = time.monotonic()
        self._renamed = {k: v for k, v in self._renamed.items() if now - v[1] < RENAME_MEMORY}
        renamed = self._renamed.get(path)
        if renamed is None or (self.root / path).exists() or not (self.root / renamed[0]).exists():
            return None
        return renamed[0]

    async def file_renamed(self, source: str, destination: str) -> None:
        """Move the kernels running for ``source`` or for a notebook under it (a folder)."""
        old_root, new_root = self.notebook(source), self.notebook(destination)
        if old_root is None or new_root is None:
            return
        self._renamed[old_root] = (new_root, time.monotonic())
        for record in self.registry.kernels():
            old = record.notebook
            if old == old_root:
                await self.moved(record.kernel_id, old, new_root)
            elif old is not None and old.startswith(old_root + "/"):
                await self.moved(record.kernel_id, old, new_root + old[len(old_root) :])

    async def on_contents_event(
        self, logger: Any = None, schema_id: str = "", data: dict[str, Any] | None = None
    ) -> None:
        """A jupyter_events listener for the contents service's events."""
        data = data or {}
        if data.get("action") != "rename":
            return
        try:
            await self.file_renamed(str(data.get("source_path") or ""), str(data.get("path") or ""))
        except Exception:
            self.log.exception("jupyter-qsecure: could not follow a renamed file")


def watch_sessions(session_manager: Any, moves: NotebookMoves) -> None:
    """Make ``session_manager.update_session`` move the session's kernel when the session's
    path changes. Wrapped on the instance, so any SessionManager subclass keeps its own
    behaviour; a failure to follow the move is logged, never fails the update."""
    update_session = session_manager.update_session
    if getattr(update_session, "qsecure_watched", False):
        return
    # JupyterLab sends a new notebook's path updates back to back (a random path, then
    # Untitled.ipynb, then the name the user gives): each must see the path the previous
    # one left, or the kernel stays with a path its session no longer has.
    one_at_a_time = asyncio.Lock()

    async def tracked(session_id: str, **kwargs: Any) -> Any:
        if "path" not in kwargs:
            return await update_session(session_id, **kwargs)
        async with one_at_a_time:
            return await _update_and_follow(session_id, **kwargs)

    async def _update_and_follow(session_id: str, **kwargs: Any) -> Any:
        before = await session_manager.get_session(session_id=session_id)
        result = await update_session(session_id, **kwargs)
        if before is not None:
            try:
                kernel_id = kwargs.get("kernel_id") or (before.get("kernel") or {}).get("id")
                await moves.moved(
                    kernel_id, moves.notebook(before.get("path")), moves.notebook(kwargs["path"])
                )
            except Exception:
                moves.log.exception(
                    "jupyter-qsecure: could not follow session %s", logged(session_id)
                )
        return result

    tracked.qsecure_watched = True  # type: ignore[attr-defined]
    session_manager.update_session = tracked
