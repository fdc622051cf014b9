"""An in-toto Statement v1 for a notebook run, its predicate laid out as SLSA provenance v1.

Subjects: the notebook (its canonical digest) and the files the run wrote. The predicate's
``buildDefinition.resolvedDependencies`` lists the files read and the environment; its
``runDetails.byproducts`` carries the execution records. The signing capability signs it
in a DSSE envelope.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from ..signing.canonical import notebook_digest

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "https://jupyter-qsecure.readthedocs.io/attestation/notebook-run/v1"
BUILDER_ID = "https://jupyter-qsecure.readthedocs.io/builder/jupyter-kernel"


def _digest(value: str) -> dict[str, str]:
    algorithm, _, hexdigest = value.partition(":")
    return {algorithm: hexdigest} if hexdigest else {"sha256": value}


def attestation(notebook: dict[str, Any], name: str) -> dict[str, Any]:
    """The statement for a notebook that carries its provenance (raises ValueError if not)."""
    provenance = notebook.get("metadata", {}).get("qsecure", {}).get("provenance")
    if not isinstance(provenance, dict):
        raise ValueError(
            f"{name} carries no provenance: run it in a kernel with jupyter-qsecure and save it"
        )
    executions = []
    for cell in notebook.get("cells", []):
        execution = (
            cell.get("metadata", {}).get("qsecure", {}).get("execution")
            if isinstance(cell, dict)
            else None
        )
        if isinstance(execution, dict):
            executions.append({"cell_id": cell.get("id"), **execution})
    subjects = [{"name": PurePosixPath(name).name, "digest": _digest(notebook_digest(notebook))}]
    dependencies: list[dict[str, Any]] = []
    seen: set[str] = set()
    for execution in executions:
        for entry in execution.get("files", {}).get("written", []):
            if entry.get("sha256") and entry["path"] not in seen:
                seen.add(entry["path"])
                subjects.append({"name": entry["path"], "digest": {"sha256": entry["sha256"]}})
        for entry in execution.get("files", {}).get("read", []):
            if entry.get("sha256") and ("read:" + entry["path"]) not in seen:
                seen.add("read:" + entry["path"])
                dependencies.append({"uri": entry["path"], "digest": {"sha256": entry["sha256"]}})
    environment = provenance.get("environment", {})
    if isinstance(environment, dict) and environment.get("digest"):
        dependencies.append(
            {
                "name": "environment",
                "digest": _digest(str(environment["digest"])),
                "annotations": environment,
            }
        )
    started = min((e["started"] for e in executions if e.get("started")), default=None)
    finished = max((e["ended"] for e in executions if e.get("ended")), default=None)
    metadata: dict[str, Any] = {"invocationId": provenance.get("kernel_session")}
    if started:
        metadata["startedOn"] = started
    if finished:
        metadata["finishedOn"] = finished
    return {
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {"notebook": name},
                "internalParameters": {
                    "user": provenance.get("user"),
                    "chain_head": provenance.get("chain_head"),
                },
                "resolvedDependencies": dependencies,
            },
            "runDetails": {
                "builder": {"id": BUILDER_ID},
                "metadata": metadata,
                "byproducts": [
                    {"name": f"execution/{e.get('record_id')}", "annotations": e}
                    for e in executions
                ],
            },
        },
    }
