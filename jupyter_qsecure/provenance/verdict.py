"""The reviewer's verdict, from the notebook file alone: is each cell's output the one its
code produced, in a recorded session of this notebook, in order, from inputs that are
still the same, and what did each cell read, write, run, reach and seed?

Findings beside the per-cell verdicts:

- ``out_of_order``: a cell ran before the cell above it (counts of the latest session);
- ``hidden_state``: state the shown cells may rely on that they do not show: a restart
  between cells, cells showing an earlier session's outputs below re-run ones, a cell run
  more than once, an execution from a client that sends no cell id (a console), a silent
  execution (no cell, no count: what a client or an extension runs unseen), code the
  kernel ran at its start (startup files, ``PYTHONSTARTUP``, other extensions), a count
  gap (an execution with no record), a deleted cell, a shown ``In [n]`` that is not the
  record's count;
- ``files_changed``: files a cell read that changed since (only regular files are
  re-hashed, up to a size cap and within a time limit);
- ``cannot_judge``: why the order and hidden state cannot be judged at all (the
  notebook-level provenance is missing or belongs to another notebook). Then the verdict
  does not pass, whatever the cells say.

Provenance metadata of the wrong shape raises :class:`~.schema.ProvenanceFormatError`
naming the field.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .._shown import shown, shown_json
from ..signing.canonical import CanonicalFormError, outputs_digest, source_digest
from .schema import check_provenance, execution_record

EXECUTED = "executed as shown"
SOURCE_EDITED = "source edited after execution"
OUTPUTS_CHANGED = "outputs changed after execution"
NEVER_EXECUTED = "never executed in a recorded session"

#: Files read by the run above this size are not re-hashed (bytes).
DEFAULT_REHASH_LIMIT = 256 * 1024 * 1024
#: The time all re-hashing of one verdict may take (seconds).
DEFAULT_REHASH_SECONDS = 10.0
#: The most characters of one string of the verdict shown (a path, a finding).
SHOWN_LIMIT = 4096


@dataclass(frozen=True)
class CellVerdict:
    """One code cell: its position (1-based), id, and what the records say of it."""

    number: int
    cell_id: str | None
    verdict: str
    detail: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass
class NotebookVerdict:
    """Every code cell's verdict and the notebook-wide findings."""

    cells: list[CellVerdict] = field(default_factory=list)
    out_of_order: list[str] = field(default_factory=list)
    hidden_state: list[str] = field(default_factory=list)
    files_changed: list[str] = field(default_factory=list)
    cannot_judge: list[str] = field(default_factory=list)
    deleted_cells: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every code cell executed as shown, and the order could be judged."""
        return not self.cannot_judge and all(cell.verdict == EXECUTED for cell in self.cells)

    @property
    def findings(self) -> bool:
        """Whether anything is reported beside the cells (order, hidden state, files)."""
        return bool(self.out_of_order or self.hidden_state or self.files_changed)

    def to_json(self) -> dict[str, Any]:
        """The verdict as `jupyter qsecure provenance --format json` prints it."""
        return {
            "ok": self.ok,
            "cells": [asdict(cell) for cell in self.cells],
            "out_of_order": self.out_of_order,
            "hidden_state": self.hidden_state,
            "files_changed": self.files_changed,
            "cannot_judge": self.cannot_judge,
            "deleted_cells": self.deleted_cells,
        }


class _Rehash:
    """Re-hashes files read by the run: regular files only, under a size cap, within one
    time budget for the whole verdict (a recorded ``/dev/zero`` or FIFO is never read)."""

    def __init__(self, notebook_dir: Path, limit: int, seconds: float) -> None:
        self.notebook_dir = notebook_dir
        self.limit = limit
        self.deadline = time.monotonic() + seconds
        self.seen: dict[str, dict[str, Any]] = {}

    def state(self, path: str) -> dict[str, Any]:
        """``{"changed": bool | None, "now": ...}`` for a recorded path (None: not known)."""
        if path not in self.seen:
            self.seen[path] = self._hash(path)
        return self.seen[path]

    def _hash(self, path: str) -> dict[str, Any]:
        target = Path(path) if os.path.isabs(path) else self.notebook_dir / path
        try:  # ValueError: a recorded path holding a NUL character names no file
            if not stat.S_ISREG(os.stat(target).st_mode):
                return {"now": "not a regular file"}
        except (OSError, ValueError):
            return {"now": "missing"}
        try:
            # O_NONBLOCK: opening a FIFO does not wait for a writer; fstat on what was
            # opened, so a file swapped for a device after a check is still refused.
            fd = os.open(target, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
        except (OSError, ValueError):
            return {"now": "missing"}
        with os.fdopen(fd, "rb", buffering=0) as stream:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                return {"now": "not a regular file"}
            if info.st_size > self.limit:
                return {"now": f"not re-hashed (over {self.limit} bytes)", "size": info.st_size}
            digest = hashlib.sha256()
            while block := stream.read(1 << 20):
                digest.update(block)
                if time.monotonic() > self.deadline:
                    return {"now": "not re-hashed (time limit)"}
            return {"sha256": digest.hexdigest(), "size": info.st_size}


def _shown_digest(cell: dict[str, Any]) -> str | None:
    try:
        return outputs_digest(cell.get("outputs", []))
    except (CanonicalFormError, TypeError, ValueError, AttributeError, KeyError):
        return None  # outputs with no canonical form cannot be the ones recorded


def _source_digest(cell: dict[str, Any]) -> str | None:
    try:
        return source_digest(cell.get("source", ""))
    except CanonicalFormError:
        return None


def _cell_verdict(
    number: int, cell: dict[str, Any], execution: dict[str, Any] | None, foreign: str | None
) -> CellVerdict:
    cell_id = cell.get("id")
    if execution is None:
        return CellVerdict(number, cell_id, NEVER_EXECUTED)
    record = f"record {execution.get('record_id')}"
    if foreign:
        return CellVerdict(number, cell_id, NEVER_EXECUTED, f"{record} {foreign}")
    if _source_digest(cell) != execution.get("code_sha256"):
        return CellVerdict(number, cell_id, SOURCE_EDITED, record)
    shown = _shown_digest(cell)
    if shown is None or shown != execution.get("outputs_digest"):
        return CellVerdict(number, cell_id, OUTPUTS_CHANGED, record)
    return CellVerdict(
        number, cell_id, EXECUTED, f"{record}, count {execution.get('execution_count')}"
    )


def _evidence(execution: dict[str, Any] | None, rehash: _Rehash) -> dict[str, Any]:
    """What the cell's record says it did, each file read checked against today's."""
    if execution is None:
        return {}
    files = execution.get("files", {})
    read = []
    for entry in files.get("read", []):
        item = dict(entry)
        if entry.get("sha256"):
            now = rehash.state(str(entry.get("path", "")))
            item["changed"] = now.get("sha256") != entry["sha256"] if "sha256" in now else None
            if "now" in now:
                item["now"] = now["now"]
        read.append(item)
    return {
        "files_read": read,
        "files_written": list(files.get("written", [])),
        "subprocesses": list(execution.get("subprocesses", [])),
        "network": list(execution.get("network", [])),
        "seeds": list(execution.get("seeds", [])),
    }


def _file_finding(entry: dict[str, Any]) -> str | None:
    path = entry.get("path")
    if entry.get("changed") is True:
        return (
            f"{path}: read by the run, now missing"
            if entry.get("now") == "missing"
            else f"{path}: changed since the run read it"
        )
    if entry.get("changed") is None and entry.get("now") == "missing":
        return f"{path}: read by the run, now missing"
    if entry.get("now") and entry.get("changed") is None:
        return f"{path}: cannot be checked ({entry['now']})"
    return None


def _provenance(notebook: dict[str, Any]) -> dict[str, Any] | None:
    section = notebook.get("metadata", {}).get("qsecure")
    provenance = section.get("provenance") if isinstance(section, dict) else None
    return provenance if isinstance(provenance, dict) else None


def _named(entry: dict[str, Any], cell_id: str) -> str:
    line = entry.get("first_line")
    return f'a cell ("{line}", id {cell_id})' if line else f"a cell (id {cell_id})"


class _Judge:
    """One verdict: the cells in order, then the timeline's findings."""

    def __init__(self, notebook: dict[str, Any], rehash: _Rehash) -> None:
        self.verdict = NotebookVerdict()
        self.rehash = rehash
        self.cells = [cell for cell in notebook.get("cells", []) if isinstance(cell, dict)]
        self.provenance = _provenance(notebook)
        provenance = self.provenance or {}
        self.latest = provenance.get("kernel_session")
        self.timeline: list[dict[str, Any]] = list(provenance.get("timeline", []))
        self.known_records = {e.get("record_id") for e in self.timeline if e.get("record_id")}
        #: record id -> the id of the cell it ran (per the timeline).
        self.record_cells = {
            e["record_id"]: e["cell_id"]
            for e in self.timeline
            if isinstance(e.get("record_id"), str) and isinstance(e.get("cell_id"), str)
        }
        #: record id -> the number of the first code cell carrying it.
        self.carriers: dict[str, int] = {}
        self.sessions = set(provenance.get("sessions", [])) | {
            e.get("kernel_session") for e in self.timeline
        }
        self.sessions.discard(None)
        self.truncated = bool(provenance.get("timeline_truncated"))

    def copied(self, number: int, cell: dict[str, Any], execution: dict[str, Any]) -> str | None:
        """Why a cell's record is another cell's: copy and paste, or Duplicate, copies a
        cell's metadata (its record) and outputs under a new id, and a save keeps what a
        cell with no record of its own carries (None: it is this cell's, or cannot tell)."""
        record_id = execution.get("record_id")
        if not isinstance(record_id, str):
            return None
        ran = self.record_cells.get(record_id)
        cell_id = cell.get("id")
        if isinstance(cell_id, str) and ran is not None and ran != cell_id:
            return f"is the record of another cell (id {ran}): a copy of that cell?"
        first = self.carriers.setdefault(record_id, number)
        if first != number:
            return f"is cell {first}'s record too: a copy of that cell?"
        return None

    def foreign(self, execution: dict[str, Any]) -> str | None:
        """Why a cell's record is not one of this notebook's (None: it is, or cannot tell)."""
        if self.provenance is None:
            return None
        session = execution.get("kernel_session")
        if session not in self.sessions:
            return (
                "is of a kernel session this notebook never ran in"
                " (outputs pasted from another notebook?)"
            )
        if not self.truncated and execution.get("record_id") not in self.known_records:
            return "is not in this notebook's timeline (outputs pasted from another notebook?)"
        return None

    def judge(self) -> NotebookVerdict:
        code_cells = [cell for cell in self.cells if cell.get("cell_type") == "code"]
        executions = [execution_record(cell) for cell in code_cells]
        for number, (cell, execution) in enumerate(zip(code_cells, executions, strict=True), 1):
            foreign = (
                self.foreign(execution) or self.copied(number, cell, execution)
                if execution is not None
                else None
            )
            cell_verdict = _cell_verdict(number, cell, execution, foreign)
            evidence = _evidence(execution, self.rehash)
            self.verdict.cells.append(
                CellVerdict(
                    cell_verdict.number,
                    cell_verdict.cell_id,
                    cell_verdict.verdict,
                    cell_verdict.detail,
                    evidence,
                )
            )
            for entry in evidence.get("files_read", []):
                finding = _file_finding(entry)
                if finding and finding not in self.verdict.files_changed:
                    self.verdict.files_changed.append(finding)
        if any(execution is not None for execution in executions) and self.provenance is None:
            self.verdict.cannot_judge.append(
                "the cells carry execution records but the notebook carries no"
                " metadata.qsecure.provenance (removed?): order and hidden state cannot be judged"
            )
            return self.verdict
        if self.provenance is not None and self.latest not in self.sessions:
            self.verdict.cannot_judge.append(
                "metadata.qsecure.provenance names a kernel session its timeline does not"
                " hold (taken from another notebook?): order and hidden state cannot be judged"
            )
            return self.verdict
        if (
            self.provenance is not None
            and code_cells
            and all(execution is not None and self.foreign(execution) for execution in executions)
        ):
            self.verdict.cannot_judge.append(
                "no cell's record is in metadata.qsecure.provenance (taken from another"
                " notebook?): order and hidden state cannot be judged"
            )
            return self.verdict
        self._order(code_cells, executions)
        self._timeline(code_cells, executions)
        return self.verdict

    def _order(
        self, code_cells: list[dict[str, Any]], executions: list[dict[str, Any] | None]
    ) -> None:
        previous_count = 0
        earlier: list[str] = []
        latest_seen = False
        stale_below: list[str] = []
        for number, (cell, execution) in enumerate(zip(code_cells, executions, strict=True), 1):
            if execution is None:
                continue
            count = execution.get("execution_count") or 0
            shown = cell.get("execution_count")
            recorded = execution.get("execution_count")
            if shown is not None and recorded is not None and shown != recorded:
                self.verdict.hidden_state.append(
                    f"cell {number} shows In [{shown}] but its record is of run [{recorded}]:"
                    " its outputs may come from another run"
                )
            same_session = execution.get("kernel_session") == self.latest
            if same_session and count and count < previous_count:
                self.verdict.out_of_order.append(
                    f"cell {number} ran (count {count}) before the cell above it"
                    f" (count {previous_count})"
                )
            if same_session and count:
                previous_count = max(previous_count, count)
            if not same_session and self.latest:
                earlier.append(f"cell {number}")
                if latest_seen:
                    stale_below.append(f"cell {number}")
            else:
                latest_seen = True
                if earlier:
                    self.verdict.hidden_state.append(
                        f"cell {number} ran in the latest kernel session, after"
                        f" {', '.join(earlier)} last ran in an earlier one (a restart):"
                        " it may rely on state that session no longer had"
                    )
                    earlier = []
        if stale_below:
            self.verdict.hidden_state.append(
                f"{', '.join(stale_below)} show outputs of an earlier kernel session (before a"
                " restart) while cells above were re-run since: those outputs may not follow"
                " from the cells above as they ran last"
            )

    def _timeline(
        self, code_cells: list[dict[str, Any]], executions: list[dict[str, Any] | None]
    ) -> None:
        session = [e for e in self.timeline if e.get("kernel_session") == self.latest]
        numbers = {cell.get("id"): n for n, cell in enumerate(code_cells, 1)}
        runs: dict[str, list[int | None]] = {}
        for entry in session:
            cell_id = entry.get("cell_id")
            if cell_id:
                runs.setdefault(cell_id, []).append(entry.get("execution_count"))
            elif entry.get("startup") is True:
                line = entry.get("first_line")
                self.verdict.hidden_state.append(
                    "the kernel ran code at its start, outside any cell"
                    f"{f' ({line})' if line else ''}: startup files, PYTHONSTARTUP or"
                    " extensions; the cells may rely on what it did"
                )
            elif entry.get("execution_count") is None:
                self.verdict.hidden_state.append(
                    "an execution with no cell and no count (a silent one, or one that stores"
                    " no history: code a client or an extension ran without showing it) ran in"
                    " this session: later cells may rely on what it did"
                )
            else:
                self.verdict.hidden_state.append(
                    f"an execution with no cell (count {entry.get('execution_count')}, from a"
                    " client that sends no cell id, such as a console) ran in this session:"
                    " later cells may rely on what it did"
                )
        for cell_id, counts in runs.items():
            if len(counts) > 1 and cell_id in numbers:
                shown = ", ".join(str(c) for c in counts)
                self.verdict.hidden_state.append(
                    f"cell {numbers[cell_id]} ran {len(counts)} times in this session (counts"
                    f" {shown}): what its earlier runs changed is still in the state later"
                    " cells saw"
                )
        recorded: list[int] = sorted(
            c for e in session if isinstance(c := e.get("execution_count"), int) and c > 0
        )
        if recorded:
            missing = _gaps(recorded[0] if self.truncated else 1, recorded)
            if missing:
                self.verdict.hidden_state.append(
                    f"executions {missing} of this session have no record (run"
                    " without the recorder, or the records were removed): later cells may"
                    " rely on what they did"
                )
        present = {cell.get("id") for cell in self.cells}
        deleted: dict[str, dict[str, Any]] = {}
        for entry in session:
            cell_id = entry.get("cell_id")
            if cell_id and cell_id not in present:
                deleted[cell_id] = entry
        for cell_id, entry in sorted(deleted.items()):
            self.verdict.deleted_cells.append(
                {"cell_id": cell_id, "first_line": entry.get("first_line")}
            )
            self.verdict.hidden_state.append(
                f"{_named(entry, cell_id)} ran in this session and was deleted:"
                " later cells may rely on what it did"
            )


def _gaps(start: int, recorded: list[int]) -> str:
    """The counts from ``start`` to the last of ``recorded`` (sorted) that it lacks, as
    ranges: ``1, [2, 3, 7]`` -> ``"1, 4-6"``; "" for none. Computed from the gaps, never
    by listing every count: a count of 10**30 in a notebook is only a number."""
    parts: list[str] = []
    expected = start
    for count in recorded:
        if count > expected:
            last = count - 1
            parts.append(str(expected) if expected == last else f"{expected}-{last}")
        expected = max(expected, count + 1)
    return ", ".join(parts)


def judge(
    notebook: dict[str, Any],
    notebook_dir: Path | None = None,
    *,
    rehash_limit: int = DEFAULT_REHASH_LIMIT,
    rehash_seconds: float = DEFAULT_REHASH_SECONDS,
) -> NotebookVerdict:
    """The verdict for a parsed notebook; ``notebook_dir`` resolves relative file paths.
    Raises :class:`~.schema.ProvenanceFormatError` for metadata of the wrong shape."""
    check_provenance(notebook)
    rehash = _Rehash(notebook_dir or Path.cwd(), rehash_limit, rehash_seconds)
    return _shown_verdict(_Judge(notebook, rehash).judge())


def _shown_verdict(verdict: NotebookVerdict) -> NotebookVerdict:
    """The verdict with every string it took from the notebook (cell ids, record ids,
    paths, executables, peers, seeds, a deleted cell's first line) escaped as
    :func:`~jupyter_qsecure._shown.shown` does: raw, a cell id holding escape sequences
    printed a forged "every cell executed as shown" and hid the real lines."""

    def show(value: Any) -> Any:
        try:
            return shown_json(value, SHOWN_LIMIT)
        except RecursionError:
            return "(nested too deeply to show)"

    return NotebookVerdict(
        cells=[
            CellVerdict(
                cell.number,
                shown(cell.cell_id, SHOWN_LIMIT) if isinstance(cell.cell_id, str) else cell.cell_id,
                cell.verdict,
                shown(cell.detail, SHOWN_LIMIT),
                show(cell.evidence),
            )
            for cell in verdict.cells
        ],
        out_of_order=show(verdict.out_of_order),
        hidden_state=show(verdict.hidden_state),
        files_changed=show(verdict.files_changed),
        cannot_judge=show(verdict.cannot_judge),
        deleted_cells=show(verdict.deleted_cells),
    )
