"""The shape of the provenance a notebook carries, checked before it is judged.

A notebook is input from anyone: a field of the wrong type must give a clear error naming
the field (``cells[2].metadata.qsecure.execution.files.read[0].sha256: expected a
string``), never a traceback or a silent pass. Only the fields the verdict reads are
checked; unknown fields are allowed (a newer version's, or a tool's own).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_STR = (str,)
_OPT_STR = (str, type(None))
_INT = (int,)
_OPT_INT = (int, type(None))
_NUMBER = (int, float)


class ProvenanceFormatError(ValueError):
    """Provenance metadata of the wrong shape: ``field`` (a JSON path) and what it should be."""

    def __init__(self, field: str, expected: str) -> None:
        super().__init__(f"{field}: {expected}")
        self.field = field
        self.expected = expected


def _describe(kinds: tuple[type, ...]) -> str:
    names = {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        type(None): "null",
        dict: "an object",
        list: "an array",
    }
    return "expected " + " or ".join(dict.fromkeys(names[kind] for kind in kinds))


def _check(value: Any, kinds: tuple[type, ...], field: str) -> Any:
    # bool is an int in Python, not in the format.
    if isinstance(value, bool) and bool not in kinds:
        raise ProvenanceFormatError(field, _describe(kinds))
    if not isinstance(value, kinds):
        raise ProvenanceFormatError(field, _describe(kinds))
    return value


def _fields(value: dict[str, Any], spec: Mapping[str, tuple[type, ...]], field: str) -> None:
    for key, kinds in spec.items():
        if key in value:
            _check(value[key], kinds, f"{field}.{key}")


def _objects(value: Any, field: str) -> list[tuple[str, dict[str, Any]]]:
    """The items of an array of objects, with their paths."""
    items = _check(value, (list,), field)
    return [
        (f"{field}[{i}]", _check(item, (dict,), f"{field}[{i}]")) for i, item in enumerate(items)
    ]


_FILE = {
    "path": _STR,
    "size": _INT,
    "sha256": _STR,
    "mtime": _STR,
    "missing": (bool,),
    "error": _STR,
}
_EXECUTION = {
    "record_id": _STR,
    "kernel_session": _STR,
    "execution_count": _OPT_INT,
    "code_sha256": _STR,
    "outputs_digest": _OPT_STR,
    "started": _STR,
    "ended": _STR,
    "duration_ms": _NUMBER,
    "status": _STR,
    "ename": _OPT_STR,
    "notes": (dict,),
}
_TIMELINE = {
    "record_id": _OPT_STR,
    "cell_id": _OPT_STR,
    "execution_count": _OPT_INT,
    "kernel_session": _OPT_STR,
    "started": _OPT_STR,
    "status": _OPT_STR,
    "first_line": _OPT_STR,
    "startup": (bool,),
    "silent": (bool,),
}
_PROVENANCE = {
    "version": _INT,
    "user": _OPT_STR,
    "kernel_session": _STR,
    "chain_head": _STR,
    "notebook_id": _STR,
    "environment": (dict, type(None)),
}


def _execution(execution: dict[str, Any], field: str) -> None:
    _fields(execution, _EXECUTION, field)
    if "files" in execution:
        files = _check(execution["files"], (dict,), f"{field}.files")
        for kind in ("read", "written"):
            if kind in files:
                for path, entry in _objects(files[kind], f"{field}.files.{kind}"):
                    _fields(entry, _FILE, path)
    for path, entry in _objects(execution.get("seeds", []), f"{field}.seeds"):
        _fields(entry, {"source": _STR, "value": _STR}, path)
    for path, entry in _objects(execution.get("subprocesses", []), f"{field}.subprocesses"):
        _fields(entry, {"executable": _STR, "args_sha256": _STR}, path)
    for index, peer in enumerate(_check(execution.get("network", []), (list,), f"{field}.network")):
        _check(peer, _STR, f"{field}.network[{index}]")


def _qsecure(holder: dict[str, Any], field: str) -> dict[str, Any] | None:
    metadata = holder.get("metadata", {})
    _check(metadata, (dict,), f"{field}.metadata")
    section = metadata.get("qsecure")
    if section is None:
        return None
    return dict(_check(section, (dict,), f"{field}.metadata.qsecure"))


def execution_record(cell: Any) -> dict[str, Any] | None:
    """A cell's embedded execution record (``metadata.qsecure.execution``); None when it
    has none, or when a field on the way is not an object."""
    metadata = cell.get("metadata") if isinstance(cell, dict) else None
    section = metadata.get("qsecure") if isinstance(metadata, dict) else None
    execution = section.get("execution") if isinstance(section, dict) else None
    return execution if isinstance(execution, dict) else None


def check_provenance(notebook: Any) -> None:
    """Raise :class:`ProvenanceFormatError` for the first field of ``notebook`` whose type
    the verdict cannot use (cells, their sources and outputs, the provenance metadata)."""
    _check(notebook, (dict,), "notebook")
    section = _qsecure(notebook, "notebook")
    if section is not None and "provenance" in section:
        field = "metadata.qsecure.provenance"
        provenance = _check(section["provenance"], (dict,), field)
        _fields(provenance, _PROVENANCE, field)
        for path, entry in _objects(provenance.get("timeline", []), f"{field}.timeline"):
            _fields(entry, _TIMELINE, path)
        sessions = _check(provenance.get("sessions", []), (list,), f"{field}.sessions")
        for index, session in enumerate(sessions):
            _check(session, _STR, f"{field}.sessions[{index}]")
    for path, cell in _objects(notebook.get("cells", []), "cells"):
        if "id" in cell:
            _check(cell["id"], _STR, f"{path}.id")
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            for index, line in enumerate(source):
                _check(line, _STR, f"{path}.source[{index}]")
        else:
            _check(source, _STR, f"{path}.source")
        _objects(cell.get("outputs", []), f"{path}.outputs")
        if "execution_count" in cell:
            _check(cell["execution_count"], _OPT_INT, f"{path}.execution_count")
        cell_section = _qsecure(cell, path)
        if cell_section is not None and "execution" in cell_section:
            execution = _check(
                cell_section["execution"], (dict,), f"{path}.metadata.qsecure.execution"
            )
            _execution(execution, f"{path}.metadata.qsecure.execution")
