"""The provenance panel's report: a notebook with its records embedded as a save would
embed them, judged cell by cell, with what each cell's execution record says.

The notebook given is never changed: the records are embedded into a copy."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from .embed import Redact, embed_provenance
from .schema import execution_record
from .store import StoredRecord
from .verdict import (
    DEFAULT_REHASH_SECONDS,
    EXECUTED,
    NEVER_EXECUTED,
    OUTPUTS_CHANGED,
    SOURCE_EDITED,
    judge,
)

#: The verdict of a cell, as a short badge name for the frontend.
BADGES = {
    EXECUTED: "executed",
    SOURCE_EDITED: "edited",
    OUTPUTS_CHANGED: "outputs-changed",
    NEVER_EXECUTED: "never-executed",
}


def provenance_report(
    notebook: dict[str, Any],
    path: str,
    notebook_dir: Path,
    records: list[StoredRecord] | None = None,
    timeline_limit: int = 500,
    rehash_seconds: float = DEFAULT_REHASH_SECONDS,
    redact: Redact | None = None,
) -> dict[str, Any]:
    """The report for ``notebook`` (at ``path``, relative to the server root, in folder
    ``notebook_dir``), with ``records`` (this notebook's records from the store) embedded
    into a copy first; ``None``: judge what the notebook carries. Re-hashing the files the
    run read takes at most ``rehash_seconds``. Raises
    :class:`~.schema.ProvenanceFormatError` (a ValueError) for metadata of the wrong shape."""
    judged = copy.deepcopy(notebook)
    if records:
        embed_provenance(judged, records, timeline_limit, redact)
    verdict = judge(judged, notebook_dir, rehash_seconds=rehash_seconds)
    metadata = judged.get("metadata")
    section = metadata.get("qsecure") if isinstance(metadata, dict) else None
    provenance = section.get("provenance") if isinstance(section, dict) else None
    if not isinstance(provenance, dict):
        provenance = {}
    code_cells = [
        cell
        for cell in judged.get("cells", [])
        if isinstance(cell, dict) and cell.get("cell_type") == "code"
    ]
    environment = provenance.get("environment")
    timeline = provenance.get("timeline")
    return {
        "path": path,
        "ok": verdict.ok,
        "user": provenance.get("user"),
        "kernel_session": provenance.get("kernel_session"),
        "environment": environment if isinstance(environment, dict) else None,
        "timeline": timeline if isinstance(timeline, list) else [],
        "out_of_order": verdict.out_of_order,
        "hidden_state": verdict.hidden_state,
        "files_changed": verdict.files_changed,
        "cannot_judge": verdict.cannot_judge,
        "deleted_cells": verdict.deleted_cells,
        "cells": [
            {
                "number": cell.number,
                "cell_id": cell.cell_id,
                "verdict": cell.verdict,
                "badge": BADGES[cell.verdict],
                "detail": cell.detail,
                "execution": execution_record(source),
                "evidence": cell.evidence,
            }
            for cell, source in zip(verdict.cells, code_cells, strict=True)
        ],
    }
