"""The notebook carries its provenance: what the save hook writes into the metadata.

- ``metadata.qsecure.provenance``: the user, the latest kernel session, the store's chain
  head, that session's environment fingerprint (compact: the digest of every installed
  distribution and the ones the notebook imports; the store keeps the full list, see
  :mod:`.imports`) and a timeline of recorded executions.
- per code cell, ``metadata.qsecure.execution``: the latest record of that cell (record id,
  code and outputs digests, timing, files, seeds...).

A cell with no record in the store keeps whatever execution metadata it carried already
(a notebook someone else ran keeps its history).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from .imports import carries_full_list, compact_environment, module_distributions
from .store import ProvenanceStore, StoredRecord

#: Masks, in place, the credentials in a JSON value (the guard's ``SaveGuard.redact``).
Redact = Callable[[Any], int]

if TYPE_CHECKING:
    from .checkpoint import Checkpointer

#: Fields of an execution record copied into the cell.
_CELL_FIELDS = (
    "record_id",
    "kernel_session",
    "execution_count",
    "code_sha256",
    "outputs_digest",
    "started",
    "ended",
    "duration_ms",
    "status",
    "ename",
    "files",
    "subprocesses",
    "network",
    "seeds",
    "notes",
)
_TIMELINE_FIELDS = (
    "record_id",
    "cell_id",
    "execution_count",
    "kernel_session",
    "started",
    "status",
    "first_line",
)

#: Marks of a timeline entry, written only when set (so an entry without them keeps its
#: bytes): what the kernel ran at its start, a silent execution.
_TIMELINE_MARKS = ("startup", "silent")


def _entry(record: dict[str, Any]) -> dict[str, Any]:
    """A timeline entry of a record (or of a prior timeline's entry)."""
    entry = {key: record.get(key) for key in _TIMELINE_FIELDS}
    entry.update({key: True for key in _TIMELINE_MARKS if record.get(key) is True})
    return entry


#: What an embedded record or timeline entry holds that came from the cell's world (paths,
#: programs, peers, noted values, a deleted cell's first line), not from the recorder.
_FREE_TEXT = ("files", "subprocesses", "network", "notes", "seeds", "ename", "first_line")


def _redact_free_text(entries: list[Any], redact: Redact) -> None:
    """Mask credentials in the free text of ``entries`` (records and timeline entries), in
    place; hashes, ids and times are left out of the scan."""
    parts = [
        (entry, {key: entry[key] for key in _FREE_TEXT if key in entry})
        for entry in entries
        if isinstance(entry, dict)
    ]
    parts = [(entry, free) for entry, free in parts if free]
    if parts and redact([free for _, free in parts]):
        for entry, free in parts:
            entry.update(free)


def _qsecure(metadata: dict[str, Any]) -> dict[str, Any]:
    section = metadata.get("qsecure")
    if not isinstance(section, dict):
        section = metadata["qsecure"] = {}
    return section


def _prior(notebook: dict[str, Any]) -> dict[str, Any]:
    """The provenance the notebook carries already (from whoever ran it before), if any."""
    metadata = notebook.get("metadata")
    section = metadata.get("qsecure") if isinstance(metadata, dict) else None
    prior = section.get("provenance") if isinstance(section, dict) else None
    return prior if isinstance(prior, dict) else {}


def _timeline(
    prior: dict[str, Any], executions: list[dict[str, Any]], limit: int
) -> tuple[list[dict[str, Any]], list[str], bool]:
    """The timeline (the prior one's entries this store does not hold, then this store's,
    the last ``limit`` kept), every kernel session the notebook ran in, and whether the
    timeline lost entries to the limit. Deterministic: saving again without new
    executions gives the same."""
    ours = {e.get("record_id") for e in executions}
    previous = prior.get("timeline")
    kept = [
        _entry(entry)
        for entry in (previous if isinstance(previous, list) else [])
        if isinstance(entry, dict)
        and isinstance(entry.get("record_id"), str)
        and entry["record_id"] not in ours
    ]
    timeline = kept + [_entry(e) for e in executions]
    prior_sessions = prior.get("sessions")
    sessions = (
        [s for s in (prior_sessions or []) if isinstance(s, str)]
        if isinstance(prior_sessions, list)
        else []
    )
    for entry in timeline:
        session = entry.get("kernel_session")
        if isinstance(session, str) and session not in sessions:
            sessions.append(session)
    truncated = prior.get("timeline_truncated") is True or len(timeline) > limit
    return timeline[-limit:], sessions, truncated


def embed_provenance(
    notebook: dict[str, Any],
    records: list[StoredRecord],
    timeline_limit: int = 500,
    redact: Redact | None = None,
) -> bool:
    """Write the records of this notebook's kernels into it; return whether it has any.
    ``redact`` (the guard's) masks, in place, any credential in what is written: it is
    written after the guard scanned the notebook (a path, a noted value).

    Everything written depends on this notebook's records only (``chain_head`` is the hash
    of its latest one), so saving again without new executions writes the same bytes and
    leaves signatures valid."""
    executions = [r.record for r in records if r.record.get("kind") == "execution"]
    if not executions or not isinstance(notebook.get("cells"), list):
        return False
    environments = {
        r.record["record_id"]: r.record for r in records if r.record.get("kind") == "environment"
    }
    embedded: list[Any] = []
    latest_by_cell: dict[str, dict[str, Any]] = {}
    for execution in executions:
        if execution.get("cell_id"):
            latest_by_cell[execution["cell_id"]] = execution
    for cell in notebook["cells"]:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        record = latest_by_cell.get(str(cell.get("id")))
        if record is not None:
            metadata = cell.setdefault("metadata", {})
            execution = {
                key: record[key] for key in _CELL_FIELDS if record.get(key) not in (None, [], {})
            }
            embedded.append(execution)
            _qsecure(metadata)["execution"] = execution
    latest = executions[-1]
    prior = _prior(notebook)
    timeline, sessions, truncated = _timeline(prior, executions, timeline_limit)
    session_environments = [
        e for e in environments.values() if e["kernel_session"] == latest["kernel_session"]
    ]
    provenance: dict[str, Any] = {
        "version": 1,
        "user": latest.get("user"),
        "kernel_session": latest["kernel_session"],
        "chain_head": records[-1].hash,
        "sessions": sessions,
        "timeline": timeline,
    }
    if truncated:
        provenance["timeline_truncated"] = True
    if session_environments:
        record = session_environments[-1]
        provenance["environment"] = _embedded_environment(prior, record, notebook)
        provenance["environment_record"] = record["record_id"]
    if redact is not None:
        _redact_free_text(embedded + timeline, redact)
    _qsecure(notebook.setdefault("metadata", {}))["provenance"] = provenance
    return True


def _embedded_environment(
    prior: dict[str, Any], record: dict[str, Any], notebook: dict[str, Any]
) -> Any:
    """The fingerprint the notebook carries: compact (the store keeps the full list), or
    the one it carries already when that is the same record's full one (a notebook saved
    before the compact form is not rewritten until its kernel restarts)."""
    previous = prior.get("environment")
    if prior.get("environment_record") == record["record_id"] and carries_full_list(previous):
        return previous
    environment = record["environment"]
    return (
        compact_environment(environment, notebook) if isinstance(environment, dict) else environment
    )


def absolute_path(root_dir: Path | None, relative: str) -> str | None:
    """The absolute path of notebook ``relative`` under ``root_dir`` (as kernels record it)."""
    if root_dir is None:
        return None
    return str(Path(root_dir).resolve() / PurePosixPath(relative))


class ProvenanceSaveHook:
    """A ContentsManager pre-save hook (registered after the guard's) that embeds the
    records of a notebook's kernels into every save of it."""

    def __init__(
        self,
        store: ProvenanceStore,
        timeline_limit: int = 500,
        root_dir: Path | None = None,
        checkpointer: Checkpointer | None = None,
        redact: Redact | None = None,
    ) -> None:
        self.store = store
        self.redact = redact
        #: Signs a checkpoint of the store's chain at every save that embeds records.
        self.checkpointer = checkpointer
        self.timeline_limit = timeline_limit
        #: The server root: a notebook is looked up by its absolute path too.
        self.root_dir = root_dir
        # Which distribution installs which module (read once, about 0.2 s): read now, off
        # the event loop, rather than during the first save that needs it.
        threading.Thread(target=module_distributions, name="qsecure-modules", daemon=True).start()

    def __call__(
        self, model: dict[str, Any], path: str, contents_manager: Any = None, **_: Any
    ) -> None:
        """Embed provenance into a notebook model about to be written."""
        content = model.get("content")
        if model.get("type") != "notebook" or not isinstance(content, dict):
            return
        relative = path.strip("/")
        records = self.store.for_notebook(relative, absolute_path(self.root_dir, relative))
        if records and embed_provenance(content, records, self.timeline_limit, self.redact):
            self._checkpoint(content)

    def _checkpoint(self, notebook: dict[str, Any]) -> None:
        """Sign and append a checkpoint of the store's chain; embed it into the notebook
        (``qsecure.provenance.checkpoint``, outside what notebook signatures sign). A key
        or file that cannot be used leaves the save without a checkpoint."""
        if self.checkpointer is None:
            return
        from ..signing.sshsig import openssh_public_key
        from .checkpoint import CheckpointError
        from .store import StoreError

        try:
            note = self.checkpointer.checkpoint()
            public = openssh_public_key(self.checkpointer.public_key)
        except (CheckpointError, StoreError, OSError) as error:
            logging.getLogger(__name__).error(
                "jupyter-qsecure: saved without a signed checkpoint of the provenance chain: %s",
                error,
            )
            return
        notebook["metadata"]["qsecure"]["provenance"]["checkpoint"] = {
            "note": note,
            "public_key": public,
        }
