"""Every JSON the package hashes or signs is the one canonical form (RFC 8785, from
``signing.canonical``): provenance store bodies, environment digests, DSSE payloads."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest
import rfc8785

from jupyter_qsecure.provenance.store import GENESIS, ProvenanceStore, chain_hash, record_body
from jupyter_qsecure.signing.dsse import sign_envelope, verify_envelope

#: Values where Python's sorted, compact JSON and RFC 8785 differ.
AWKWARD: dict[str, Any] = {
    "duration_ms": 3.0,
    "tiny": 1e-7,
    "\uff01": "caf\u00e9",
    "\U0001f600": "sorted as UTF-16",
}


def record(record_id: str, **fields: Any) -> dict[str, Any]:
    return {"kind": "execution", "record_id": record_id, "kernel_session": "s1", **fields}


def test_record_body_is_rfc8785() -> None:
    entry = record("r1", **AWKWARD)
    assert record_body(entry).encode("utf-8") == rfc8785.dumps(entry)
    assert '"duration_ms":3,' in record_body(entry)


def test_rows_in_the_previous_body_form_keep_verifying(tmp_path: Path) -> None:
    """A store written by an earlier version (Python's ``json.dumps`` bodies) verifies, and
    records appended now chain onto it."""
    path = tmp_path / "store.sqlite"
    store = ProvenanceStore(path)
    store.append(record("r0"))
    old = record("r1", **AWKWARD)
    with sqlite3.connect(path) as connection:
        (previous,) = connection.execute(
            "SELECT hash FROM records ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        body = json.dumps(old, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert body != record_body(old)
        connection.execute(
            "INSERT INTO records (record_id, kind, kernel_session, kernel_id, body, prev_hash,"
            " hash) VALUES (?, ?, ?, '', ?, ?, ?)",
            ("r1", "execution", "s1", body, previous, chain_hash(previous, body)),
        )
    store.append(record("r2", **AWKWARD))
    assert store.verify() == []
    rows = list(store.records())
    assert [row.record["record_id"] for row in rows] == ["r0", "r1", "r2"]
    assert rows[0].prev_hash == GENESIS
    assert rows[2].hash == chain_hash(rows[1].hash, rfc8785.dumps(rows[2].record).decode())


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen")
def test_dsse_payload_is_the_canonical_statement(tmp_path: Path) -> None:
    key = tmp_path / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test", "-f", str(key)], check=True
    )
    statement: dict[str, Any] = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "nb.ipynb", "digest": {"sha256": "00" * 32}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        **AWKWARD,
    }
    envelope = sign_envelope(statement, key)
    payload = base64.b64decode(envelope["payload"])
    assert payload == rfc8785.dumps(statement)
    verified, keys = verify_envelope(envelope)
    assert verified == json.loads(rfc8785.dumps(statement))
    assert len(keys) == 1
    assert (
        hashlib.sha256(payload).hexdigest()
        != hashlib.sha256(
            json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()
    )
