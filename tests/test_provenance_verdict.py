"""The verdict on bad input and on provenance that was tampered with, offline: malformed
metadata (fuzzed) is exit 2 naming the field, recorded devices and FIFOs are never read,
stripped or foreign notebook-level provenance cannot pass, a garbage store is a clear
error, and verifying never writes to the store."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qsecure_cli import run_qsecure

from jupyter_qsecure.provenance import ProvenanceStore, judge
from jupyter_qsecure.provenance.schema import ProvenanceFormatError
from jupyter_qsecure.provenance.store import StoreError
from jupyter_qsecure.signing.canonical import outputs_digest, source_digest

SESSION = "11111111-1111-4111-8111-111111111111"


def executed(
    cell_id: str, source: str, count: int, session: str = SESSION, **extra: Any
) -> dict[str, Any]:
    """A code cell carrying the record a save embeds for it."""
    outputs = [{"output_type": "stream", "name": "stdout", "text": f"{count}\n"}]
    record = {
        "record_id": f"r-{cell_id}-{count}",
        "kernel_session": session,
        "execution_count": count,
        "code_sha256": source_digest(source),
        "outputs_digest": outputs_digest(outputs),
        "started": "2026-01-01T00:00:00.000Z",
        "ended": "2026-01-01T00:00:00.001Z",
        "duration_ms": 1.0,
        "status": "ok",
        **extra,
    }
    return {
        "cell_type": "code",
        "id": cell_id,
        "metadata": {"qsecure": {"execution": record}},
        "source": source,
        "outputs": outputs,
        "execution_count": count,
    }


def notebook_of(
    *cells: dict[str, Any], timeline: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A notebook with the notebook-level provenance a save writes for ``cells``."""
    if timeline is None:
        timeline = [
            {
                "record_id": c["metadata"]["qsecure"]["execution"]["record_id"],
                "cell_id": c["id"],
                "execution_count": c["execution_count"],
                "kernel_session": c["metadata"]["qsecure"]["execution"]["kernel_session"],
                "started": "2026-01-01T00:00:00.000Z",
                "status": "ok",
                "first_line": c["source"].splitlines()[0],
            }
            for c in cells
        ]
    provenance = {
        "version": 1,
        "user": "alice",
        "kernel_session": SESSION,
        "chain_head": "sha256:" + "a" * 64,
        "sessions": [SESSION],
        "timeline": timeline,
    }
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"qsecure": {"provenance": provenance}},
        "cells": list(cells),
    }


def good() -> dict[str, Any]:
    return notebook_of(executed("a", "x = 1", 1), executed("b", "print(x)", 2))


def write(tmp_path: Path, notebook: dict[str, Any], name: str = "nb.ipynb") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(notebook), encoding="utf-8")
    return path


def verdict_cli(path: Path, *args: str) -> Any:
    return run_qsecure("provenance", str(path), *args, cwd=path.parent)


def test_a_consistent_notebook_passes(tmp_path: Path) -> None:
    result = verdict_cli(write(tmp_path, good()))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "every cell executed as shown" in result.stdout


# --- malformed metadata -------------------------------------------------------------------

#: Where a wrong value goes, and the field the error must name.
_FIELDS = [
    (("metadata", "qsecure"), "metadata.qsecure"),
    (("metadata", "qsecure", "provenance"), "metadata.qsecure.provenance"),
    (("metadata", "qsecure", "provenance", "kernel_session"), "provenance.kernel_session"),
    (("metadata", "qsecure", "provenance", "timeline"), "provenance.timeline"),
    (("metadata", "qsecure", "provenance", "timeline", 0), "provenance.timeline[0]"),
    (("metadata", "qsecure", "provenance", "timeline", 0, "cell_id"), "timeline[0].cell_id"),
    (("cells",), "cells"),
    (("cells", 0), "cells[0]"),
    (("cells", 0, "source"), "cells[0].source"),
    (("cells", 0, "outputs"), "cells[0].outputs"),
    (("cells", 0, "metadata"), "cells[0].metadata"),
    (("cells", 0, "metadata", "qsecure", "execution"), "cells[0].metadata.qsecure.execution"),
    (("cells", 1, "metadata", "qsecure", "execution", "code_sha256"), "execution.code_sha256"),
    (("cells", 1, "metadata", "qsecure", "execution", "files"), "execution.files"),
    (("cells", 1, "metadata", "qsecure", "execution", "seeds"), "execution.seeds"),
    (("cells", 1, "metadata", "qsecure", "execution", "network"), "execution.network"),
    (("cells", 1, "metadata", "qsecure", "execution", "execution_count"), "execution_count"),
]

_WRONG = st.one_of(
    st.integers(),
    st.floats(allow_nan=False),
    st.booleans(),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def _put(document: Any, where: tuple[Any, ...], value: Any) -> None:
    for key in where[:-1]:
        document = document[key]
    document[where[-1]] = value


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.sampled_from(_FIELDS), _WRONG)
def test_malformed_metadata_is_exit_2_naming_the_field_or_judged(
    tmp_path: Path, case: tuple[tuple[Any, ...], str], value: Any
) -> None:
    """Any value at any judged field: exit 0, 1 or 2, never a traceback; exit 2 names the
    field; a value of the right type is judged (0/1) instead."""
    notebook = good()
    notebook["cells"][1]["metadata"]["qsecure"]["execution"]["files"] = {
        "read": [{"path": "in.csv", "sha256": "0" * 64}]
    }
    where, field = case
    _put(notebook, where, value)
    path = write(tmp_path, notebook, f"fuzz-{uuid.uuid4().hex}.ipynb")
    result = verdict_cli(path)
    assert result.returncode in (0, 1, 2), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    if result.returncode == 2 and "not an nbformat 4 notebook" not in result.stderr:
        assert field in result.stderr, result.stderr
        assert "provenance metadata of the wrong shape" in result.stderr


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=4),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
        ),
        max_leaves=12,
    )
)
def test_judge_raises_only_the_format_error(value: Any) -> None:
    """Arbitrary JSON in every place the verdict reads: a verdict or ProvenanceFormatError."""
    for where, _ in _FIELDS:
        notebook = good()
        _put(notebook, where, copy.deepcopy(value))
        problem: ProvenanceFormatError | None = None
        try:
            judge(notebook, Path("/nonexistent"))
        except ProvenanceFormatError as error:
            problem = error
        assert problem is None or problem.field


def test_a_bool_is_not_a_count(tmp_path: Path) -> None:
    notebook = good()
    notebook["cells"][0]["metadata"]["qsecure"]["execution"]["execution_count"] = True
    result = verdict_cli(write(tmp_path, notebook))
    assert result.returncode == 2
    assert "cells[0].metadata.qsecure.execution.execution_count: expected an integer or null" in (
        result.stderr
    )


# --- files the run read ---------------------------------------------------------------------


def _reading(path: str, sha256: str = "0" * 64) -> dict[str, Any]:
    notebook = good()
    notebook["cells"][0]["metadata"]["qsecure"]["execution"]["files"] = {
        "read": [{"path": path, "sha256": sha256, "size": 4}]
    }
    return notebook


def test_devices_and_fifos_are_never_read(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    notebook = good()
    notebook["cells"][0]["metadata"]["qsecure"]["execution"]["files"] = {
        "read": [
            {"path": "/dev/zero", "sha256": "0" * 64},
            {"path": "pipe", "sha256": "0" * 64},
            {"path": "/dev/urandom", "sha256": "0" * 64},
        ]
    }
    started = time.monotonic()
    result = verdict_cli(write(tmp_path, notebook), "--format=json")
    assert time.monotonic() - started < 5
    assert result.returncode == 0, result.stderr  # the cells are as shown
    report = json.loads(result.stdout)
    assert report["files_changed"] == [
        "/dev/zero: cannot be checked (not a regular file)",
        "pipe: cannot be checked (not a regular file)",
        "/dev/urandom: cannot be checked (not a regular file)",
    ]
    [read_zero, read_pipe, _] = report["cells"][0]["evidence"]["files_read"]
    assert read_zero["changed"] is None and read_pipe["now"] == "not a regular file"


def test_size_cap_and_time_limit(tmp_path: Path) -> None:
    (tmp_path / "big.bin").write_bytes(b"x" * 4096)
    digest = hashlib.sha256(b"x" * 4096).hexdigest()
    capped = judge(_reading("big.bin", digest), tmp_path, rehash_limit=1024)
    assert capped.files_changed == ["big.bin: cannot be checked (not re-hashed (over 1024 bytes))"]
    timed = judge(_reading("big.bin", digest), tmp_path, rehash_seconds=-1)
    assert timed.files_changed == ["big.bin: cannot be checked (not re-hashed (time limit))"]
    same = judge(_reading("big.bin", digest), tmp_path)
    assert same.files_changed == []
    assert same.cells[0].evidence["files_read"][0]["changed"] is False
    (tmp_path / "big.bin").write_bytes(b"y")
    changed = judge(_reading("big.bin", digest), tmp_path)
    assert changed.files_changed == ["big.bin: changed since the run read it"]
    (tmp_path / "big.bin").unlink()
    gone = judge(_reading("big.bin", digest), tmp_path)
    assert gone.files_changed == ["big.bin: read by the run, now missing"]


# --- notebook-level provenance stripped or foreign ------------------------------------------


def test_stripped_notebook_provenance_cannot_pass(tmp_path: Path) -> None:
    notebook = good()
    del notebook["metadata"]["qsecure"]["provenance"]
    result = verdict_cli(write(tmp_path, notebook))
    assert result.returncode == 1, result.stdout
    assert "cannot judge order: the cells carry execution records" in result.stdout
    assert "cannot judge the order of execution" in result.stdout


def test_foreign_notebook_provenance_cannot_pass(tmp_path: Path) -> None:
    notebook = good()
    other = notebook_of(executed("z", "y = 2", 1, session="22222222-2222-4222-8222-222222222222"))
    other["metadata"]["qsecure"]["provenance"]["kernel_session"] = "2" * 8
    notebook["metadata"]["qsecure"]["provenance"] = other["metadata"]["qsecure"]["provenance"]
    verdict = judge(notebook, tmp_path)
    assert not verdict.ok and verdict.cannot_judge
    # The same session id, a timeline holding none of the cells' records.
    notebook = good()
    provenance = notebook["metadata"]["qsecure"]["provenance"]
    provenance["timeline"] = [
        dict(e, record_id="elsewhere-" + e["record_id"]) for e in provenance["timeline"]
    ]
    verdict = judge(notebook, tmp_path)
    assert not verdict.ok
    assert verdict.cannot_judge == [
        "no cell's record is in metadata.qsecure.provenance (taken from another notebook?):"
        " order and hidden state cannot be judged"
    ]


def test_a_pasted_cell_is_not_executed_here() -> None:
    """A cell with its outputs and record pasted from another executed notebook."""
    pasted = executed("p", "z = 3", 7, session="33333333-3333-4333-8333-333333333333")
    notebook = good()
    notebook["cells"].append(pasted)
    verdict = judge(notebook, Path("/nonexistent"))
    assert [c.verdict for c in verdict.cells] == [
        "executed as shown",
        "executed as shown",
        "never executed in a recorded session",
    ]
    assert "a kernel session this notebook never ran in" in verdict.cells[2].detail
    # Same session, record unknown to the timeline (not truncated).
    notebook = good()
    notebook["cells"].append(executed("q", "w = 4", 3))
    verdict = judge(notebook, Path("/nonexistent"))
    assert verdict.cells[2].verdict == "never executed in a recorded session"
    assert "not in this notebook's timeline" in verdict.cells[2].detail


def test_shown_count_differs_from_the_record() -> None:
    notebook = good()
    notebook["cells"][1]["execution_count"] = 5
    verdict = judge(notebook, Path("/nonexistent"))
    assert verdict.hidden_state == [
        "cell 2 shows In [5] but its record is of run [2]: its outputs may come from another run"
    ]


def test_timeline_findings() -> None:
    """Re-runs, cell-less executions and count gaps, from the timeline alone."""
    a, b = executed("a", "x += 1", 4), executed("b", "print(x)", 5)
    timeline = [
        {"record_id": "r-a-1", "cell_id": "a", "execution_count": 1, "kernel_session": SESSION},
        {"record_id": "c-2", "cell_id": None, "execution_count": 2, "kernel_session": SESSION},
        {"record_id": "r-a-4", "cell_id": "a", "execution_count": 4, "kernel_session": SESSION},
        {"record_id": "r-b-5", "cell_id": "b", "execution_count": 5, "kernel_session": SESSION},
    ]
    verdict = judge(notebook_of(a, b, timeline=timeline), Path("/nonexistent"))
    assert verdict.ok  # each cell is as shown: these are findings
    assert verdict.hidden_state == [
        "an execution with no cell (count 2, from a client that sends no cell id, such as a"
        " console) ran in this session: later cells may rely on what it did",
        "cell 1 ran 2 times in this session (counts 1, 4): what its earlier runs changed is"
        " still in the state later cells saw",
        "executions 3 of this session have no record (run without the recorder, or the"
        " records were removed): later cells may rely on what they did",
    ]


def test_strict_fails_on_findings(tmp_path: Path) -> None:
    notebook = good()
    notebook["cells"][1]["execution_count"] = 9
    path = write(tmp_path, notebook)
    assert verdict_cli(path).returncode == 0
    assert verdict_cli(path, "--strict").returncode == 1


# --- the store --------------------------------------------------------------------------------


def _store(tmp_path: Path, count: int = 3) -> ProvenanceStore:
    store = ProvenanceStore(tmp_path / "p.sqlite")
    for index in range(count):
        store.append(
            {
                "kind": "execution",
                "record_id": str(uuid.uuid4()),
                "kernel_session": "s",
                "cell_id": f"c{index}",
            }
        )
    return store


def test_a_garbage_store_is_a_clear_error(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not sqlite at all" * 100)
    for args in (("log",), ("log", "--verify")):
        result = run_qsecure("provenance", *args, "--store", str(garbage), cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert "not a provenance store" in result.stderr and "Traceback" not in result.stderr
    with pytest.raises(StoreError, match="not a provenance store"):
        list(ProvenanceStore(garbage).records())


def test_a_non_json_record_body_is_a_clear_error(tmp_path: Path) -> None:
    store = _store(tmp_path)
    with sqlite3.connect(store.path) as connection:
        connection.execute("UPDATE records SET body = 'not json {' WHERE seq = 2")
    with pytest.raises(StoreError, match="row seq 2 holds no JSON record"):
        list(ProvenanceStore(store.path).records())
    result = run_qsecure("provenance", "log", "--verify", "--store", str(store.path), cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "row 2 (seq 2) was edited after it was written" in result.stderr
    assert "row 2 (seq 2) holds no JSON record" in result.stderr
    listing = run_qsecure("provenance", "log", "--store", str(store.path), cwd=tmp_path)
    assert listing.returncode == 2 and "row seq 2 holds no JSON record" in listing.stderr


def test_verification_never_writes_to_the_store(tmp_path: Path) -> None:
    store = _store(tmp_path)
    # A store as a closed kernel leaves it: no WAL left, journal mode in the file header.
    with sqlite3.connect(store.path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.execute("PRAGMA journal_mode=DELETE")
    before = store.path.read_bytes()
    os.chmod(store.path, 0o444)
    try:
        result = run_qsecure(
            "provenance", "log", "--verify", "--store", str(store.path), cwd=tmp_path
        )
    finally:
        os.chmod(store.path, 0o644)
    assert result.returncode == 0, result.stderr
    assert "chain intact" in result.stderr
    assert store.path.read_bytes() == before
