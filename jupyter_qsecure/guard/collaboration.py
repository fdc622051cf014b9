"""The guard in real-time collaboration mode (jupyter-collaboration).

There the server saves the shared document itself, through the ContentsManager, so the
guard's pre-save hook refuses a leaking save as it refuses any other. Two things are left,
and this module does them:

- **The Y store.** jupyter-collaboration keeps every update of a shared document in a
  SQLite database, by default ``.jupyter_ystore.db`` in the served folder, readable by all.
  :func:`guarded_ystore_class` replaces it with a store in the server's data directory
  (mode 0600, folder 0700, never inside the served tree) whose history is compacted after
  every save the guard let through: the squashed state keeps no deleted text, the deleted
  rows are overwritten (SQLite ``secure_delete``), so a credential typed and removed is
  gone from the store once the fix is saved.
- **The collaborators.** A refused save of a shared document is kept as the document's
  notice, in memory, until a save goes through (or the room loads it from disk again):
  ``GET /qsecure/guard/notice?path=PATH`` answers it (:meth:`CollaborationGuard.notice`).
  The server also sets a marker in the room's awareness (field :data:`NOTICE_FIELD` of its
  state) and clears it then; awareness is not authenticated (any collaborator can set such
  a field, or replace the server's state), so frontends take an awareness change only as a
  hint to ask the server, and show only what it answers. Neither is ever stored.
- **Provenance.** The provenance the server embeds into a save of a shared notebook
  (``metadata.qsecure.provenance``, each run cell's ``metadata.qsecure.execution``) is
  written into the shared document once the save went through, so every collaborator
  sees it without reloading: see :func:`share_provenance`.
"""

from __future__ import annotations

import logging
import os
import stat
from collections import OrderedDict
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_core.paths import jupyter_data_dir
from pycrdt import Array, Doc, Map

from .._shown import logged

#: The field of the server's awareness state that holds the notice of a refused save.
NOTICE_FIELD = "qsecure"
#: The store's file name in the data directory.
YSTORE_FILENAME = "collaboration-ystore.db"
#: How many saved notebooks wait for their room's word at most (a save that failed, or
#: of a notebook no room shows, is never claimed: the oldest goes first).
SAVES_KEPT = 8
COLLABORATION_EVENTS = "https://schema.jupyter.org/jupyter_collaboration/session/v1"

_FIXES = [
    "Delete the value from the cell (the save goes through once no finding is left).",
    "Store it in the Secrets panel and read it from the environment (os.environ[NAME]).",
    "If it is not a credential, accept it with the pragma `# pragma: allowlist secret` "
    "on its line (never for a secret the kernel was given).",
]


def guarded_ystore_class(root_dir: Path, state_dir: Path | None = None) -> type[Any]:
    """A jupyter-collaboration YStore class whose database lies in ``state_dir`` (the
    server's qsecure data directory by default), never under ``root_dir``: configure it as
    ``YDocExtension.ystore_class``."""
    from jupyter_server_ydoc.stores import SQLiteYStore  # type: ignore[import-untyped]

    root = root_dir.resolve()
    folder = (state_dir or Path(jupyter_data_dir()) / "qsecure").resolve()

    class GuardedYStore(SQLiteYStore):  # type: ignore[misc]
        """Y updates in a private database outside the served tree, compacted after each
        guarded save."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            configured = str(getattr(self, "db_path", ""))
            self.db_path = str(private_store_path(configured, root, folder, self.log))

        async def _init_db(self) -> None:
            prepare_private_file(Path(self.db_path))
            await super()._init_db()
            cursor = await self._db.cursor()
            await cursor.execute("PRAGMA secure_delete = ON")

        async def compact(self) -> None:
            """Replace this document's history by one squashed update (deleted content
            dropped) and its checkpoint by nothing; deleted rows are overwritten."""
            if self.db_initialized is None:
                return
            await self.db_initialized.wait()
            async with self.lock, self._db:
                cursor = await self._db.cursor()
                await cursor.execute(
                    "SELECT yupdate, timestamp FROM yupdates WHERE path = ? ORDER BY timestamp ASC",
                    (self.path,),
                )
                rows = await cursor.fetchall()
                await cursor.execute("DELETE FROM ycheckpoints WHERE path = ?", (self.path,))
                if len(rows) < 2:
                    return
                ydoc: Doc[Any] = Doc()
                for update, _ in rows:
                    ydoc.apply_update(self._decompress(update) if self._decompress else update)
                squashed = ydoc.get_update()
                if self._compress:
                    squashed = self._compress(squashed)
                await cursor.execute("DELETE FROM yupdates WHERE path = ?", (self.path,))
                await cursor.execute(
                    "INSERT INTO yupdates VALUES (?, ?, ?, ?)",
                    (self.path, squashed, b"", rows[-1][1]),
                )

    GuardedYStore.__qualname__ = GuardedYStore.__name__
    return GuardedYStore


def private_store_path(configured: str, root: Path, folder: Path, log: Any) -> Path:
    """Where the Y store goes: the configured path unless it is the upstream default (a
    relative path) or lies inside the served tree, then ``folder/YSTORE_FILENAME``."""
    default = folder / YSTORE_FILENAME
    if configured in ("", ":memory:"):
        return default if configured == "" else Path(configured)
    path = Path(configured)
    if not path.is_absolute():
        return default
    resolved = path.resolve()
    if resolved == root or root in resolved.parents:
        log.warning(
            "jupyter-qsecure: the collaboration Y store %s lies inside the served folder; "
            "it is kept in %s instead (it can hold what the guard refused to save)",
            configured,
            default,
        )
        return default
    return path


def prepare_private_file(path: Path) -> None:
    """Create ``path`` (and its folder) readable by its owner only, or narrow an existing
    one to 0600; SQLite gives its journal the database's mode."""
    if str(path) == ":memory:":
        return
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        if stat.S_IMODE(os.fstat(descriptor).st_mode) & 0o077:
            os.fchmod(descriptor, 0o600)
    finally:
        os.close(descriptor)
    for journal in (path.with_name(path.name + "-journal"), path.with_name(path.name + "-wal")):
        if journal.exists():
            journal.chmod(0o600)


def blocked_notice(data: dict[str, Any]) -> dict[str, Any]:
    """The awareness notice for a refused save (a save-blocked audit event's ``data``):
    what blocked it, where, and how to fix it. Names, kinds and places only, never a value."""
    findings = [
        {
            "rule": finding.get("rule", ""),
            "kind": finding.get("kind", ""),
            "cell_index": finding.get("cell_index"),
            "line": finding.get("line"),
            "fingerprint": finding.get("fingerprint", ""),
        }
        for finding in data.get("findings", [])
    ]
    if data.get("outcome") == "scan-error":
        message = (
            "Autosave blocked: the leak guard could not scan this document "
            f"({data.get('error', 'unknown error')}). Nothing was written to disk."
        )
        fixes = ["Fix the problem named above, or ask your admin (guard.on_error)."]
    else:
        places = "; ".join(_place(finding) for finding in findings[:5])
        more = f" and {len(findings) - 5} more" if len(findings) > 5 else ""
        message = (
            f"Autosave blocked: this document holds a credential ({places}{more}). "
            "Nothing was written to disk; the shared document keeps your work."
        )
        fixes = list(_FIXES)
    return {
        "blocked": True,
        "path": data.get("path", ""),
        "by": data.get("user", ""),
        "message": message,
        "fixes": fixes,
        "findings": findings,
    }


def _place(finding: dict[str, Any]) -> str:
    where = []
    if finding.get("cell_index") is not None:
        where.append(f"cell {finding['cell_index'] + 1}")
    if finding.get("line"):
        where.append(f"line {finding['line']}")
    kind = finding.get("kind") or finding.get("rule") or "credential"
    return f"{kind} in {', '.join(where)}" if where else kind


@dataclass
class EmbeddedProvenance:
    """What the provenance save hook wrote into a saved notebook: its
    ``metadata.qsecure.provenance`` and, by cell id, each cell's
    ``metadata.qsecure.execution``."""

    provenance: dict[str, Any] | None = None
    cells: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.provenance is not None or bool(self.cells)


def _section(metadata: object) -> dict[str, Any]:
    """``metadata["qsecure"]`` as a plain dict (empty when missing or not an object)."""
    value = metadata.get("qsecure") if isinstance(metadata, (dict, Map)) else None
    if isinstance(value, Map):
        value = value.to_py()
    return dict(value) if isinstance(value, dict) else {}


def embedded_provenance(notebook: object) -> EmbeddedProvenance:
    """The provenance sections of a notebook model (see :class:`EmbeddedProvenance`).
    Cells are read only when the notebook carries provenance: the provenance hook never
    embeds a cell's record without the notebook's."""
    found = EmbeddedProvenance()
    if not isinstance(notebook, dict):
        return found
    provenance = _section(notebook.get("metadata")).get("provenance")
    if not isinstance(provenance, dict):
        return found
    found.provenance = provenance
    cells = notebook.get("cells")
    for cell in cells if isinstance(cells, list) else []:
        if not isinstance(cell, dict) or not isinstance(cell.get("id"), str):
            continue
        execution = _section(cell.get("metadata")).get("execution")
        if isinstance(execution, dict):
            found.cells[cell["id"]] = execution
    return found


def _without_checkpoint(provenance: object) -> object:
    if isinstance(provenance, dict):
        return {key: value for key, value in provenance.items() if key != "checkpoint"}
    return provenance


def share_provenance(ydoc: Doc[Any], embedded: EmbeddedProvenance) -> bool:
    """Write ``embedded`` (what a save of the shared notebook in ``ydoc`` wrote to disk)
    into the shared document, in one transaction; whether anything changed.

    Only the two places the provenance hook writes are touched, each replaced only when
    it differs, and other ``qsecure`` keys (signatures) are kept. The notebook's
    provenance is left alone when only its checkpoint differs (the store's chain grew,
    this notebook's records did not): sending the whole section (a timeline of up to 500
    runs) to every collaborator for it is not worth it, and the next save does not keep
    the document's checkpoint but signs the chain anew.
    A cell deleted meanwhile is skipped; one whose source changed meanwhile still gets
    the record the file holds (the next save embeds it again, from the same store)."""
    meta = ydoc.get("meta", type=Map)
    cells = ydoc.get("cells", type=Array)
    changed = False
    with ydoc.transaction():
        metadata = meta.get("metadata")
        if embedded.provenance is not None and isinstance(metadata, Map):
            section = _section(metadata)
            if _without_checkpoint(section.get("provenance")) != _without_checkpoint(
                embedded.provenance
            ):
                section["provenance"] = embedded.provenance
                metadata["qsecure"] = section
                changed = True
        for ycell in cells if embedded.cells else ():
            if not isinstance(ycell, Map):
                continue
            execution = embedded.cells.get(str(ycell.get("id")))
            cell_metadata = ycell.get("metadata")
            if execution is None or not isinstance(cell_metadata, Map):
                continue
            section = _section(cell_metadata)
            if section.get("execution") != execution:
                section["execution"] = execution
                cell_metadata["qsecure"] = section
                changed = True
    return changed


class CollaborationGuard:
    """Connects the guard to jupyter-collaboration's rooms: a notice to every collaborator
    of a refused save, and the Y store compacted after a save went through."""

    def __init__(self, ydoc_app: Any, serverapp: Any, log: logging.Logger | None = None):
        self.ydoc_app = ydoc_app
        self.serverapp = serverapp
        self.log = log or logging.getLogger(__name__)
        #: By path, the notebook the last save wrote (the model after every pre-save hook),
        #: until its room says it was saved: then the provenance embedded into it is
        #: written into the shared document. The last :data:`SAVES_KEPT` only.
        self._saved: OrderedDict[str, dict[str, Any]] = OrderedDict()
        #: By path, the notice of the last refused save of a shared document, until a
        #: save goes through or its room loads it again: what the frontends show.
        self._notices: dict[str, dict[str, Any]] = {}

    def install(self, state_dir: Path | None = None) -> None:
        """Give jupyter-collaboration the guarded Y store and listen to refused and
        completed saves. Call before jupyter_server_ydoc initializes its handlers."""
        from ..events import SAVE_BLOCKED

        root = Path(self.serverapp.root_dir)
        current = self.ydoc_app.ystore_class
        if getattr(current, "compact", None) is None:
            self.ydoc_app.ystore_class = guarded_ystore_class(root, state_dir)
            if current.__name__ not in ("SQLiteYStore", "TempFileYStore"):
                self.log.warning(
                    "jupyter-qsecure: YDocExtension.ystore_class %s replaced by the guarded "
                    "Y store (private, compacted after each save)",
                    current.__name__,
                )
        stale = root / ".jupyter_ystore.db"
        if stale.exists():
            self.log.warning(
                "jupyter-qsecure: %s was written by jupyter-collaboration before the guard "
                "was in use and can hold refused content: delete it (and keep it out of git)",
                stale,
            )
        event_logger = self.serverapp.event_logger
        event_logger.add_listener(schema_id=SAVE_BLOCKED, listener=self._on_blocked)
        event_logger.add_listener(schema_id=COLLABORATION_EVENTS, listener=self._on_room_event)
        # Last of the pre-save hooks (after the guard's and the provenance hook): what a
        # save that passed every hook is about to write.
        self.serverapp.contents_manager.register_pre_save_hook(self.remember_provenance)

    def remember_provenance(self, model: dict[str, Any], path: str, **_: Any) -> None:
        """Pre-save hook: keep the notebook a save writes (nothing changes it after the
        last hook), to write the provenance embedded into it into the shared document
        once the room says the save went through. Only a reference is kept here: the
        save is not made slower; the provenance is read after the file is written."""
        content = model.get("content")
        server = getattr(self.ydoc_app, "ywebsocket_server", None)
        if model.get("type") != "notebook" or not isinstance(content, dict) or not server:
            return
        if not getattr(server, "rooms", None):
            return  # no shared document open
        key = path.strip("/")
        self._saved[key] = content
        self._saved.move_to_end(key)
        while len(self._saved) > SAVES_KEPT:
            self._saved.popitem(last=False)

    def rooms_for(self, path: str) -> list[Any]:
        """The open document rooms of ``path`` (relative to the server root)."""
        server = getattr(self.ydoc_app, "ywebsocket_server", None)
        if server is None:
            return []
        wanted = path.strip("/")
        found = []
        for room_id, room in list(server.rooms.items()):
            parts = room_id.split(":", 2)
            if len(parts) != 3 or parts[1] not in ("notebook", "file"):
                continue
            loaders = self.ydoc_app.file_loaders
            if parts[2] and parts[2] in loaders and loaders[parts[2]].path.strip("/") == wanted:
                found.append(room)
        return found

    def notice(self, path: str) -> dict[str, Any] | None:
        """The notice of the last refused save of the shared document at ``path``
        (relative to the server root), or None when its last save went through."""
        return self._notices.get(path.strip("/"))

    async def _on_blocked(self, logger: Any, schema_id: str, data: dict[str, Any]) -> None:
        if data.get("write", "save") != "save" or data.get("outcome") not in (
            "blocked",
            "scan-error",
        ):
            return
        path = str(data.get("path", ""))
        rooms = self.rooms_for(path)
        if not rooms:
            return  # no shared document: the request that saved is answered instead
        notice = blocked_notice(data)
        self._notices[path.strip("/")] = notice
        for room in rooms:
            # A hint for the frontends to ask GET /qsecure/guard/notice, never shown as is.
            room.awareness.set_local_state_field(NOTICE_FIELD, notice)

    async def _on_room_event(self, logger: Any, schema_id: str, data: dict[str, Any]) -> None:
        # The document now matches what the guard let onto disk: after a save, or once
        # the room (re)loaded it from disk, its earlier history is dropped.
        if data.get("action") not in ("save", "overwrite", "load", "initialize"):
            return
        server = getattr(self.ydoc_app, "ywebsocket_server", None)
        room = server.rooms.get(data.get("room", "")) if server is not None else None
        if room is None:
            return
        self._notices.pop(str(data.get("path", "")).strip("/"), None)
        state = room.awareness.get_local_state() or {}
        if state.get(NOTICE_FIELD):
            room.awareness.set_local_state_field(NOTICE_FIELD, None)
        saved = self._saved.pop(str(data.get("path", "")).strip("/"), None)
        if data.get("action") == "save" and saved is not None:
            embedded = embedded_provenance(saved)
            if embedded:
                await self._share(room, embedded, str(data.get("path")))
        compact = getattr(room.ystore, "compact", None)
        if compact is not None:
            try:
                await compact()
            except Exception as error:
                self.log.error(
                    "jupyter-qsecure: compacting the Y store of %s failed: %s",
                    logged(data.get("path")),
                    type(error).__name__,
                )

    async def _share(self, room: Any, embedded: EmbeddedProvenance, path: str) -> None:
        """Write what the save embedded into the room's shared document. Under the room's
        update lock, as jupyter-collaboration itself takes a file in: the document then
        matches the file, and the change schedules no save of its own (without the lock, a
        later version of jupyter-collaboration saves once more the same content)."""
        ydoc = getattr(room, "ydoc", None)
        if not isinstance(ydoc, Doc):
            return
        lock = getattr(room, "_update_lock", None)
        guard: AbstractAsyncContextManager[Any] = lock if lock is not None else nullcontext()
        try:
            async with guard:
                if share_provenance(ydoc, embedded):
                    self.log.debug(
                        "jupyter-qsecure: provenance of %s shared with its room", logged(path)
                    )
        except Exception as error:  # the file holds it: collaborators see it on reload
            self.log.error(
                "jupyter-qsecure: sharing the provenance of %s with its room failed: %s",
                logged(path),
                type(error).__name__,
            )
