"""The provenance store: an append-only, hash-chained log of records in SQLite (WAL).

Each row holds a record's canonical JSON, the hash of the previous row and its own hash,
``sha256(previous hash + "\\n" + body)``. Appends run in ``BEGIN IMMEDIATE`` transactions,
so any number of kernels (processes) may write at once and the chain stays linear. An
edited, deleted or reordered row breaks the chain at its position. Stdlib only: kernels
write here directly.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GENESIS = "sha256:" + "0" * 64
_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    record_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    kernel_session TEXT NOT NULL,
    notebook TEXT,
    cell_id TEXT,
    body TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_by_notebook ON records (notebook, seq);
"""


def record_body(record: dict[str, Any]) -> str:
    """The stored, hashed form of a record: sorted keys, no spaces, UTF-8."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def chain_hash(previous: str, body: str) -> str:
    """The hash linking a row to the one before it."""
    return "sha256:" + hashlib.sha256(previous.encode() + b"\n" + body.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class StoredRecord:
    """A row of the store."""

    seq: int
    record: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class ChainProblem:
    """Where the chain breaks: the row's position (1-based, in order), its seq, and why."""

    position: int
    seq: int
    problem: str


class ProvenanceStore:
    """One SQLite file per user; safe for many processes and threads (one connection per call)."""

    def __init__(self, path: Path, timeout: float = 30.0, *, keep_open: bool = False) -> None:
        self.path = path
        self.timeout = timeout
        self.keep_open = keep_open
        self._ready = False
        self._kept: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if not self._ready:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        connection = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        if not self._ready:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.executescript(_SCHEMA)
            self._ready = True
        connection.execute("PRAGMA synchronous=NORMAL")
        return connection

    def append(self, record: dict[str, Any]) -> str:
        """Append a record (with ``record_id``, ``kind``, ``kernel_session``); return its hash."""
        return self.append_many([record])[-1]

    def append_many(self, records: list[dict[str, Any]]) -> list[str]:
        """Append records in one transaction (in order); return their hashes."""
        connection = self._kept or self._connect()
        if self.keep_open:
            # Kept by a single writer thread: closing a WAL database's last connection
            # checkpoints it, several fsyncs per record.
            self._kept = connection
        hashes = []
        try:
            connection.execute("BEGIN IMMEDIATE")
            row = connection.execute(
                "SELECT hash FROM records ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            previous = row[0] if row else GENESIS
            for record in records:
                body = record_body(record)
                digest = chain_hash(previous, body)
                connection.execute(
                    "INSERT INTO records (record_id, kind, kernel_session, notebook, cell_id, body, prev_hash, hash)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        record["record_id"],
                        record["kind"],
                        record["kernel_session"],
                        record.get("notebook"),
                        record.get("cell_id"),
                        body,
                        previous,
                        digest,
                    ),
                )
                hashes.append(digest)
                previous = digest
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        finally:
            if not self.keep_open:
                connection.close()
        return hashes

    def _rows(self, query: str, parameters: tuple[Any, ...] = ()) -> Iterator[StoredRecord]:
        if not self.path.exists():
            return
        connection = self._connect()
        try:
            for seq, body, prev_hash, digest in connection.execute(query, parameters):
                yield StoredRecord(seq, json.loads(body), prev_hash, digest)
        finally:
            connection.close()

    def records(self) -> Iterator[StoredRecord]:
        """Every record, in chain order."""
        yield from self._rows("SELECT seq, body, prev_hash, hash FROM records ORDER BY seq")

    def for_notebook(self, notebook: str) -> list[StoredRecord]:
        """The records of kernels that ran ``notebook`` (relative to the server root)."""
        sessions = self._rows(
            "SELECT seq, body, prev_hash, hash FROM records WHERE kernel_session IN "
            "(SELECT DISTINCT kernel_session FROM records WHERE notebook = ?) ORDER BY seq",
            (notebook,),
        )
        return list(sessions)

    def head(self) -> str:
        """The hash of the last record (the chain head), or the genesis hash."""
        last = list(
            self._rows("SELECT seq, body, prev_hash, hash FROM records ORDER BY seq DESC LIMIT 1")
        )
        return last[0].hash if last else GENESIS

    def verify(self) -> list[ChainProblem]:
        """Every place the chain is broken (an empty list: intact)."""
        problems: list[ChainProblem] = []
        previous = GENESIS
        if not self.path.exists():
            return problems
        connection = self._connect()
        try:
            rows = connection.execute("SELECT seq, body, prev_hash, hash FROM records ORDER BY seq")
            for position, (seq, body, prev_hash, digest) in enumerate(rows, start=1):
                if prev_hash != previous:
                    problems.append(
                        ChainProblem(
                            position,
                            seq,
                            "does not follow the row before it (a row was deleted, inserted or reordered)",
                        )
                    )
                if chain_hash(prev_hash, body) != digest:
                    problems.append(
                        ChainProblem(
                            position,
                            seq,
                            "was edited after it was written (its hash does not match its content)",
                        )
                    )
                previous = digest
        finally:
            connection.close()
        return problems
