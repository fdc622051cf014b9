"""A signed record that someone reproduced a notebook: an in-toto Statement v1 naming the
notebook (its canonical digest), the original run (chain head, kernel session, recorded
environment), the reproducing environment, the inputs checked, the datasets that pinned
them and each cell's result. Signed like ``jupyter qsecure attest --sign`` (a DSSE
envelope with an SSH signature, namespace ``attestation@jupyter-qsecure``), so
``jupyter qsecure verify-attestation`` checks it. Diffs are left out: only verdicts."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import PurePosixPath
from typing import Any

from ..signing.canonical import notebook_digest
from .rerun import Reproduction

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://jupyter-qsecure.readthedocs.io/attestation/reproduction/v1"


def _digest(value: str) -> dict[str, str]:
    algorithm, _, hexdigest = value.partition(":")
    return {algorithm: hexdigest} if hexdigest else {"sha256": value}


def reproduction_statement(
    notebook: dict[str, Any],
    name: str,
    report: Reproduction,
    *,
    datasets: list[dict[str, Any]] | None = None,
    tolerance: dict[str, float] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The statement for ``report``, a reproduction of ``notebook`` (saved as ``name``)."""
    from ..identity import acting_user

    provenance: Any = notebook
    for key in ("metadata", "qsecure", "provenance"):
        provenance = provenance.get(key) if isinstance(provenance, dict) else None
    provenance = provenance if isinstance(provenance, dict) else {}
    environment = provenance.get("environment")
    return {
        "_type": STATEMENT_TYPE,
        "subject": [
            {"name": PurePosixPath(name).name, "digest": _digest(notebook_digest(notebook))}
        ],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "original": {
                "chain_head": provenance.get("chain_head"),
                "kernel_session": provenance.get("kernel_session"),
                "user": provenance.get("user"),
                "environment_digest": environment.get("digest")
                if isinstance(environment, dict)
                else None,
            },
            "reproducer": {
                "user": acting_user(),
                "reproduced_at": (now or datetime.now(timezone.utc)).isoformat(timespec="seconds"),
                **report.reproducer,
            },
            "reproduced": report.reproduced,
            "tolerance": tolerance or {},
            "inputs": report.inputs,
            "datasets": datasets or [],
            "environment_drift": report.environment,
            "seeds": report.seeds,
            "cells": [
                {
                    "number": cell.number,
                    "cell_id": cell.cell_id,
                    "result": cell.result,
                    "detail": cell.detail,
                }
                for cell in report.cells
            ],
        },
    }
