"""``jupyter qsecure provenance NB --store STORE``: the notebook's records and chain head
checked against a store, on a tampered copy of the store each time (truncated, a row
deleted, rows reordered, a record edited with every later hash recomputed)."""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest
from qsecure_cli import run_qsecure
from store_tamper import rechain

from jupyter_qsecure.provenance import ProvenanceStore, embed_provenance
from jupyter_qsecure.signing.canonical import outputs_digest, source_digest


def _store_and_notebook(tmp_path: Path) -> tuple[Path, Path]:
    store = ProvenanceStore(tmp_path / "p.sqlite")
    cells = []
    for index in range(4):
        source = f"print({index})"
        outputs = [{"output_type": "stream", "name": "stdout", "text": f"{index}\n"}]
        store.append(
            {
                "kind": "execution",
                "record_id": str(uuid.uuid4()),
                "kernel_session": "s1",
                "notebook": "nb.ipynb",
                "cell_id": f"c{index}",
                "execution_count": index + 1,
                "code_sha256": source_digest(source),
                "outputs_digest": outputs_digest(outputs),
                "status": "ok",
            }
        )
        cells.append(
            {
                "cell_type": "code",
                "id": f"c{index}",
                "metadata": {},
                "source": source,
                "outputs": outputs,
                "execution_count": index + 1,
            }
        )
    notebook: dict[str, Any] = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}
    embed_provenance(notebook, store.for_notebook("nb.ipynb"))
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(notebook))
    return store.path, path


def check(notebook: Path, store: Path) -> Any:
    return run_qsecure("provenance", str(notebook), "--store", str(store), cwd=notebook.parent)


def test_an_honest_store_passes_and_is_not_written(tmp_path: Path) -> None:
    store, notebook = _store_and_notebook(tmp_path)
    before = store.read_bytes()
    result = check(notebook, store)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "store: every record and the chain head are in" in result.stdout
    assert store.read_bytes() == before


def test_truncated(tmp_path: Path) -> None:
    store, notebook = _store_and_notebook(tmp_path)
    with sqlite3.connect(store) as connection:
        connection.execute("DELETE FROM records WHERE seq >= 3")
    result = check(notebook, store)
    assert result.returncode == 1
    assert "store: cell 3: record" in result.stdout and "is not in the store" in result.stdout
    assert "store: cell 4: record" in result.stdout
    assert "is not a row of the store" in result.stdout


def test_a_row_deleted(tmp_path: Path) -> None:
    store, notebook = _store_and_notebook(tmp_path)
    with sqlite3.connect(store) as connection:
        connection.execute("DELETE FROM records WHERE seq = 2")
    result = check(notebook, store)
    assert result.returncode == 1
    assert "the store's chain is broken at row 2 (seq 3)" in result.stdout
    assert "store: cell 2: record" in result.stdout


def test_reordered_and_rechained(tmp_path: Path) -> None:
    store, notebook = _store_and_notebook(tmp_path)
    with sqlite3.connect(store) as connection:
        rows = connection.execute("SELECT seq, body, record_id FROM records WHERE seq IN (2, 3)")
        (s2, b2, r2), (s3, b3, r3) = rows.fetchall()
        connection.execute("UPDATE records SET record_id = ? WHERE seq = ?", ("tmp", s2))
        connection.execute("UPDATE records SET body = ?, record_id = ? WHERE seq = ?", (b2, r2, s3))
        connection.execute("UPDATE records SET body = ?, record_id = ? WHERE seq = ?", (b3, r3, s2))
    rechain(store)
    assert ProvenanceStore(store).verify() == []  # the chain alone says nothing
    result = check(notebook, store)
    assert result.returncode == 1
    assert "is not a row of the store" in result.stdout


@pytest.mark.parametrize("field", ["outputs_digest", "code_sha256"])
def test_a_record_edited_and_every_later_hash_recomputed(tmp_path: Path, field: str) -> None:
    store, notebook = _store_and_notebook(tmp_path)
    with sqlite3.connect(store) as connection:
        (body,) = connection.execute("SELECT body FROM records WHERE seq = 2").fetchone()
        record = json.loads(body)
        record[field] = "sha256:" + "f" * 64
        connection.execute(
            "UPDATE records SET body = ? WHERE seq = 2",
            (json.dumps(record, sort_keys=True, separators=(",", ":")),),
        )
    rechain(store)
    assert ProvenanceStore(store).verify() == []
    result = check(notebook, store)
    assert result.returncode == 1
    assert "store: cell 2: record" in result.stdout and f"differs from the store's ({field})" in (
        result.stdout
    )
    assert "is not a row of the store" in result.stdout


def test_no_store_is_a_usage_error(tmp_path: Path) -> None:
    _, notebook = _store_and_notebook(tmp_path)
    result = check(notebook, tmp_path / "missing.sqlite")
    assert result.returncode == 2 and "no such store" in result.stderr
