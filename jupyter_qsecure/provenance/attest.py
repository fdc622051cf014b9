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
from .schema import check_provenance, execution_record

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "https://jupyter-qsecure.readthedocs.io/attestation/notebook-run/v1"
BUILDER_ID = "https://jupyter-qsecure.readthedocs.io/builder/jupyter-kernel"


def _digest(value: str) -> dict[str, str]:
    algorithm, _, hexdigest = value.partition(":")
    return {algorithm: hexdigest} if hexdigest else {"sha256": value}


def _object(value: Any, key: str) -> dict[str, Any]:
    """``value[key]`` when both are objects, else an empty one."""
    found = value.get(key) if isinstance(value, dict) else None
    return found if isinstance(found, dict) else {}


def _files(execution: dict[str, Any], kind: str) -> list[tuple[str, str]]:
    """The (path, sha256) of each file an execution read or wrote that has both as text."""
    entries = _object(execution, "files").get(kind)
    return [
        (entry["path"], entry["sha256"])
        for entry in (entries if isinstance(entries, list) else [])
        if isinstance(entry, dict)
        and isinstance(entry.get("path"), str)
        and isinstance(entry.get("sha256"), str)
        and entry["sha256"]
    ]


def _run_order(provenance: dict[str, Any]) -> Any:
    """The sort key of an execution in the order the run made them: its place in the
    timeline (the store's order, which no clock changes), after those the timeline does
    not hold (older than its first entry, when it was truncated), which go by the time
    they ended (UTC, ISO 8601: sorts as text)."""
    timeline = provenance.get("timeline")
    places = {
        entry.get("record_id"): index
        for index, entry in enumerate(timeline if isinstance(timeline, list) else [])
        if isinstance(entry, dict) and isinstance(entry.get("record_id"), str)
    }

    def key(execution: dict[str, Any]) -> tuple[int, int, str]:
        place = places.get(execution.get("record_id"))
        ended = execution.get("ended")
        return (0, 0, ended if isinstance(ended, str) else "") if place is None else (1, place, "")

    return key


def attestation(notebook: dict[str, Any], name: str) -> dict[str, Any]:
    """The statement for a notebook that carries its provenance. Raises
    :class:`~.schema.ProvenanceFormatError` (a ValueError naming the field) for provenance
    of the wrong shape, ValueError if there is none."""
    check_provenance(notebook)
    provenance = _object(_object(notebook, "metadata"), "qsecure").get("provenance")
    if not isinstance(provenance, dict):
        raise ValueError(
            f"{name} carries no provenance: run it in a kernel with jupyter-qsecure and save it"
        )
    executions = []
    for cell in notebook.get("cells", []):
        execution = execution_record(cell)
        if execution:
            executions.append({"cell_id": cell.get("id"), **execution})
    subjects = [{"name": PurePosixPath(name).name, "digest": _digest(notebook_digest(notebook))}]
    # A file written by several cells is the run's product as the last of them left it:
    # in the order the executions ran (a cell's record is hashed after it), not the
    # cells' order; each content a file was read with is a dependency.
    written: dict[str, str] = {}
    dependencies: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for execution in sorted(executions, key=_run_order(provenance)):
        for path, digest in _files(execution, "written"):
            written.pop(path, None)
            written[path] = digest
        for path, digest in _files(execution, "read"):
            if (path, digest) not in seen:
                seen.add((path, digest))
                dependencies.append({"uri": path, "digest": {"sha256": digest}})
    subjects += [{"name": path, "digest": {"sha256": digest}} for path, digest in written.items()]
    environment = provenance.get("environment", {})
    if isinstance(environment, dict) and environment.get("digest"):
        dependencies.append(
            {
                "name": "environment",
                "digest": _digest(str(environment["digest"])),
                "annotations": environment,
            }
        )
    times = [(e.get("started"), e.get("ended")) for e in executions]
    started = min((start for start, _ in times if isinstance(start, str) and start), default=None)
    finished = max((end for _, end in times if isinstance(end, str) and end), default=None)
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
