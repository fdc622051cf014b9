"""The reviewer's verdict, from the notebook file alone: is each cell's output the one its
code produced, in a recorded session, in order, from inputs that are still the same?"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..signing.canonical import CanonicalFormError, outputs_digest, source_digest

EXECUTED = "executed as shown"
SOURCE_EDITED = "source edited after execution"
OUTPUTS_CHANGED = "outputs changed after execution"
NEVER_EXECUTED = "never executed in a recorded session"


@dataclass(frozen=True)
class CellVerdict:
    """One code cell: its position (1-based), id, and what the records say of it."""

    number: int
    cell_id: str | None
    verdict: str
    detail: str = ""


@dataclass
class NotebookVerdict:
    """Every code cell's verdict and the notebook-wide findings."""

    cells: list[CellVerdict] = field(default_factory=list)
    out_of_order: list[str] = field(default_factory=list)
    hidden_state: list[str] = field(default_factory=list)
    files_changed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every code cell executed as shown."""
        return all(cell.verdict == EXECUTED for cell in self.cells)

    def to_json(self) -> dict[str, Any]:
        """The verdict as `jupyter qsecure provenance --format json` prints it."""
        return {
            "ok": self.ok,
            "cells": [asdict(cell) for cell in self.cells],
            "out_of_order": self.out_of_order,
            "hidden_state": self.hidden_state,
            "files_changed": self.files_changed,
        }


def _execution(cell: dict[str, Any]) -> dict[str, Any] | None:
    section = cell.get("metadata", {}).get("qsecure", {})
    execution = section.get("execution") if isinstance(section, dict) else None
    return execution if isinstance(execution, dict) else None


def _cell_verdict(
    number: int, cell: dict[str, Any], execution: dict[str, Any] | None
) -> CellVerdict:
    cell_id = cell.get("id")
    if execution is None:
        return CellVerdict(number, cell_id, NEVER_EXECUTED)
    if source_digest(cell.get("source", "")) != execution.get("code_sha256"):
        return CellVerdict(number, cell_id, SOURCE_EDITED, f"record {execution.get('record_id')}")
    try:
        shown = outputs_digest(cell.get("outputs", []))
    except CanonicalFormError:
        shown = None  # outputs with no canonical form cannot be the ones recorded
    if shown is None or shown != execution.get("outputs_digest"):
        return CellVerdict(number, cell_id, OUTPUTS_CHANGED, f"record {execution.get('record_id')}")
    return CellVerdict(
        number,
        cell_id,
        EXECUTED,
        f"record {execution.get('record_id')}, count {execution.get('execution_count')}",
    )


def _file_changed(entry: dict[str, Any], notebook_dir: Path) -> str | None:
    recorded = entry.get("sha256")
    path = Path(str(entry.get("path", "")))
    if recorded is None:
        return None
    target = path if path.is_absolute() else notebook_dir / path
    try:
        current = hashlib.sha256(target.read_bytes()).hexdigest()
    except OSError:
        return f"{path}: read by the run, now missing"
    return None if current == recorded else f"{path}: changed since the run read it"


def judge(notebook: dict[str, Any], notebook_dir: Path | None = None) -> NotebookVerdict:
    """The verdict for a parsed notebook; ``notebook_dir`` resolves relative file paths."""
    verdict = NotebookVerdict()
    cells = [cell for cell in notebook.get("cells", []) if isinstance(cell, dict)]
    provenance = notebook.get("metadata", {}).get("qsecure", {}).get("provenance", {})
    latest_session = provenance.get("kernel_session") if isinstance(provenance, dict) else None
    previous_count = 0
    earlier_session_seen: list[str] = []
    number = 0
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        number += 1
        execution = _execution(cell)
        verdict.cells.append(_cell_verdict(number, cell, execution))
        if execution is None:
            continue
        count = execution.get("execution_count") or 0
        same_session = execution.get("kernel_session") == latest_session
        if same_session and count and count < previous_count:
            verdict.out_of_order.append(
                f"cell {number} ran (count {count}) before the cell above it (count {previous_count})"
            )
        if same_session and count:
            previous_count = max(previous_count, count)
        if not same_session and latest_session:
            earlier_session_seen.append(f"cell {number}")
        elif earlier_session_seen:
            verdict.hidden_state.append(
                f"cell {number} ran in the latest kernel session, after {', '.join(earlier_session_seen)} "
                "last ran in an earlier one (a restart): it may rely on state that session no longer had"
            )
            earlier_session_seen = []
        for entry in execution.get("files", {}).get("read", []):
            changed = _file_changed(entry, notebook_dir or Path.cwd())
            if changed and changed not in verdict.files_changed:
                verdict.files_changed.append(changed)
    present = {cell.get("id") for cell in cells}
    timeline = provenance.get("timeline", []) if isinstance(provenance, dict) else []
    deleted = sorted(
        {
            e["cell_id"]
            for e in timeline
            if e.get("kernel_session") == latest_session
            and e.get("cell_id")
            and e["cell_id"] not in present
        }
    )
    for cell_id in deleted:
        verdict.hidden_state.append(
            f"a cell (id {cell_id}) ran in this session and was deleted: later cells may rely on what it did"
        )
    return verdict
