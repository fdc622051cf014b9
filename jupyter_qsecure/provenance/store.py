"""The provenance store: an append-only, hash-chained log of records in SQLite (WAL).

Each row holds a record's canonical JSON, the hash of the previous row and its own hash,
``sha256(previous hash + "\\n" + body)``. Appends run in ``BEGIN IMMEDIATE`` transactions,
so any number of kernels (processes) may write at once and the chain stays linear. An
edited, deleted or reordered row breaks the chain at its position. Stdlib only: kernels
write here directly (``rfc8785`` aside, through the canonical form).

The columns beside ``body`` (``kind``, ``kernel_session``, ``kernel_id``, ``notebook``,
``cell_id``) and the ``notebook_aliases`` table are lookup indexes, outside the chain: the
chain protects what each record says, and they only decide which records a notebook is
shown. ``notebook_aliases`` maps a kernel id to the notebook it runs for now, when the
server saw that notebook renamed or moved after the kernel started (JupyterLab creates
``Untitled.ipynb``, starts its kernel, then the user renames it): the kernel keeps writing
its records with the path it started with, and :meth:`ProvenanceStore.for_notebook` gives
them to the new path, and no longer to the old one, which a later, unrelated notebook may
take. Chaining the aliases would prove nothing more: a tampered alias can only show a
kernel's records under another notebook, where every record still names the notebook it
was written for and verifies as written, as a tampered ``notebook`` column already could.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .._json import loads
from ..signing.canonical import canonical_json

GENESIS = "sha256:" + "0" * 64
#: The layout version (``PRAGMA user_version``); :func:`_migrate` brings older files to it.
SCHEMA_VERSION = 2
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
    hash TEXT NOT NULL,
    kernel_id TEXT
);
CREATE INDEX IF NOT EXISTS records_by_notebook ON records (notebook, seq);
"""
#: What version 1 adds (the ``kernel_id`` column aside).
_SCHEMA_1 = (
    "CREATE INDEX IF NOT EXISTS records_by_kernel ON records (kernel_id, seq)",
    "CREATE TABLE IF NOT EXISTS notebook_aliases (kernel_id TEXT PRIMARY KEY,"
    " notebook TEXT NOT NULL, previous TEXT, renamed TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS notebook_aliases_by_notebook ON notebook_aliases (notebook)",
)
#: What version 2 adds: the notebook's absolute path, beside its path under the server
#: root (two projects of one user that both have ``analysis.ipynb`` share a store).
_SCHEMA_2 = (
    "ALTER TABLE records ADD COLUMN notebook_path TEXT",
    "ALTER TABLE notebook_aliases ADD COLUMN notebook_path TEXT",
    "CREATE INDEX IF NOT EXISTS records_by_notebook_path ON records (notebook_path, seq)",
)


def record_body(record: dict[str, Any]) -> str:
    """The stored, hashed form of a record: its canonical JSON (RFC 8785, see
    :func:`~jupyter_qsecure.signing.canonical.canonical_json`). Rows are verified against
    the body text they hold, so rows written by earlier versions (Python's sorted, compact
    JSON) keep verifying."""
    return canonical_json(record).decode("utf-8")


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _kernel_id(record: dict[str, Any]) -> str:
    """The ``kernel_id`` column of a record: "" when it has none (NULL marks a row not
    indexed yet: written before the column existed, or by a process running older code)."""
    kernel_id = record.get("kernel_id")
    return kernel_id if isinstance(kernel_id, str) else ""


def _index_kernel_ids(connection: sqlite3.Connection) -> None:
    """Fill the ``kernel_id`` column of rows that lack it, from their bodies (inside the
    caller's transaction; the chained columns are not touched)."""
    rows = connection.execute("SELECT seq, body FROM records WHERE kernel_id IS NULL").fetchall()
    connection.executemany(
        "UPDATE records SET kernel_id = ? WHERE seq = ?",
        [(_body_kernel_id(body), seq) for seq, body in rows],
    )


def _body_kernel_id(body: str) -> str:
    """The kernel id in a stored body; "" for a body that is not a JSON object (a damaged
    row, which ``verify`` reports; it must not stop the store from opening)."""
    record = _parsed(body)
    return _kernel_id(record) if isinstance(record, dict) else ""


def _parsed(body: object) -> object:
    """A stored body as JSON; None for one that is not JSON text (a damaged row: a blob,
    a number, text nested too deeply or with a number too long to read)."""
    if not isinstance(body, str):
        return None
    try:
        return loads(body)
    except ValueError:
        return None


@contextlib.contextmanager
def _write_transaction(connection: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``; rolled back if anything in it fails."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


def _migrate(connection: sqlite3.Connection) -> bool:
    """Bring a store file to :data:`SCHEMA_VERSION`, once, whichever process comes first;
    return whether it is there (False: a read-only file of an older version, which can
    still be read and verified, without the aliases).

    Version 1 adds the ``kernel_id`` column (filled from each row's body), its index and
    the ``notebook_aliases`` table. No chained column changes, so ``--verify`` gives the
    same answer before and after."""
    if connection.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
        return True
    try:
        connection.execute("BEGIN IMMEDIATE")
        if connection.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
            columns = {row[1] for row in connection.execute("PRAGMA table_info(records)")}
            if "kernel_id" not in columns:
                connection.execute("ALTER TABLE records ADD COLUMN kernel_id TEXT")
            _index_kernel_ids(connection)
            for statement in _SCHEMA_1:
                connection.execute(statement)
            record_columns = {row[1] for row in connection.execute("PRAGMA table_info(records)")}
            alias_columns = {
                row[1] for row in connection.execute("PRAGMA table_info(notebook_aliases)")
            }
            for statement in _SCHEMA_2:
                if ("ADD COLUMN notebook_path" in statement) and (
                    "notebook_path"
                    in (record_columns if "TABLE records" in statement else alias_columns)
                ):
                    continue
                connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        connection.execute("COMMIT")
    except BaseException as error:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        if isinstance(error, sqlite3.OperationalError) and "readonly" in str(error):
            return False
        raise
    return True


def _storable(parameters: tuple[Any, ...]) -> bool:
    """Whether SQLite can be asked for these values: text from a notebook may hold a lone
    surrogate (a ``\\ud800`` escape), which has no UTF-8 form, so no row holds it (and
    binding it raised UnicodeEncodeError)."""
    try:
        for value in parameters:
            if isinstance(value, str):
                value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _all_text(*values: object) -> bool:
    """Whether each of a row's chained columns holds text (SQLite keeps whatever type was
    written: a row rewritten with a blob or a number is damaged, not a reason to fail)."""
    return all(isinstance(value, str) for value in values)


def _is_record(body: object) -> bool:
    """Whether a stored body has the shape of a canonical JSON object (``{...}``): a cheap
    check for :meth:`ProvenanceStore.verify` (reading a record parses it in full)."""
    return isinstance(body, str) and body.startswith("{") and body.endswith("}")


def chain_hash(previous: str, body: str) -> str:
    """The hash linking a row to the one before it (both are text: see :func:`_chained`)."""
    return "sha256:" + hashlib.sha256(previous.encode() + b"\n" + body.encode("utf-8")).hexdigest()


class StoreError(Exception):
    """The store cannot be read: not a provenance store, or a row that is not a record."""


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

    def __str__(self) -> str:
        return f"row {self.position} (seq {self.seq}) {self.problem}"


class ProvenanceStore:
    """One SQLite file per user; safe for many processes and threads (one connection per call)."""

    def __init__(
        self,
        path: Path,
        timeout: float = 30.0,
        *,
        keep_open: bool = False,
        read_only: bool = False,
    ) -> None:
        self.path = path
        self.timeout = timeout
        self.keep_open = keep_open
        #: Open the file read-only: no layout change, no journal mode switch, no write.
        self.read_only = read_only
        self._ready = False
        #: Whether the file has the aliases (see :func:`_migrate`).
        self._current = False
        self._kept: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        try:
            return self._open()
        except sqlite3.DatabaseError as error:
            raise StoreError(f"{self.path}: not a provenance store ({error})") from None

    def _open(self) -> sqlite3.Connection:
        if self.read_only:
            uri = "file:" + urllib.parse.quote(str(self.path.resolve())) + "?mode=ro"
            connection = sqlite3.connect(uri, uri=True, timeout=self.timeout, isolation_level=None)
            try:
                version = connection.execute("PRAGMA user_version").fetchone()[0]
                columns = {row[1] for row in connection.execute("PRAGMA table_info(records)")}
            except BaseException:
                connection.close()
                raise
            if not columns:
                connection.close()
                raise sqlite3.DatabaseError("it has no records table")
            self._current = version >= SCHEMA_VERSION
            self._ready = True
            return connection
        if not self._ready:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        connection = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        if not self._ready:
            try:
                connection.execute("PRAGMA journal_mode=WAL")
                connection.executescript(_SCHEMA)
                self._current = _migrate(connection)
            except BaseException:
                connection.close()
                raise
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
            with _write_transaction(connection):
                row = connection.execute(
                    "SELECT hash FROM records ORDER BY seq DESC LIMIT 1"
                ).fetchone()
                previous = row[0] if row else GENESIS
                for record in records:
                    body = record_body(record)
                    digest = chain_hash(previous, body)
                    connection.execute(
                        "INSERT INTO records (record_id, kind, kernel_session, kernel_id, notebook,"
                        " notebook_path, cell_id, body, prev_hash, hash)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            record["record_id"],
                            record["kind"],
                            record["kernel_session"],
                            _kernel_id(record),
                            record.get("notebook"),
                            _text(record.get("notebook_path")),
                            record.get("cell_id"),
                            body,
                            previous,
                            digest,
                        ),
                    )
                    hashes.append(digest)
                    previous = digest
        finally:
            if not self.keep_open:
                connection.close()
        return hashes

    def _rows(self, query: str, parameters: tuple[Any, ...] = ()) -> Iterator[StoredRecord]:
        if not self.path.exists() or not _storable(parameters):
            return
        connection = self._connect()
        try:
            for seq, body, prev_hash, digest in connection.execute(query, parameters):
                record = _parsed(body)
                if not isinstance(record, dict) or not _all_text(prev_hash, digest):
                    raise StoreError(
                        f"{self.path}: row seq {seq} holds no JSON record"
                        " (run `jupyter qsecure provenance log --verify`)"
                    )
                yield StoredRecord(seq, record, prev_hash, digest)
        except sqlite3.DatabaseError as error:
            raise StoreError(f"{self.path}: not a provenance store ({error})") from None
        finally:
            connection.close()

    def records(self) -> Iterator[StoredRecord]:
        """Every record, in chain order."""
        yield from self._rows("SELECT seq, body, prev_hash, hash FROM records ORDER BY seq")

    def for_notebook(self, notebook: str, absolute: str | None = None) -> list[StoredRecord]:
        """The records of kernels that ran ``notebook`` (relative to the server root; its
        absolute path ``absolute`` tells it from another project's notebook of the same
        name): the kernels started for it, except those renamed away from it since, and
        the kernels renamed to it (see :meth:`alias`). Rows written before the absolute
        path was recorded are matched by the relative path alone."""
        if not self._connect_current():
            return list(
                self._rows(
                    "SELECT seq, body, prev_hash, hash FROM records WHERE kernel_session IN"
                    " (SELECT DISTINCT kernel_session FROM records WHERE notebook = ?)"
                    " ORDER BY seq",
                    (notebook,),
                )
            )
        # Whether row r (or alias a) is this notebook's: by the absolute path when both
        # have one, else by the path under the root; never NULL.
        sessions = self._rows(
            "SELECT seq, body, prev_hash, hash FROM records WHERE kernel_session IN ("
            " SELECT kernel_session FROM records AS r WHERE IFNULL(CASE"
            "   WHEN ?2 IS NOT NULL AND r.notebook_path IS NOT NULL THEN r.notebook_path = ?2"
            "   ELSE r.notebook = ?1 END, 0)"
            "  AND NOT EXISTS (SELECT 1 FROM notebook_aliases AS a WHERE a.kernel_id = r.kernel_id"
            "   AND NOT IFNULL(CASE"
            "    WHEN ?2 IS NOT NULL AND a.notebook_path IS NOT NULL THEN a.notebook_path = ?2"
            "    ELSE a.notebook = ?1 END, 0))"
            " UNION SELECT kernel_session FROM records WHERE kernel_id IN"
            "  (SELECT kernel_id FROM notebook_aliases AS a WHERE IFNULL(CASE"
            "   WHEN ?2 IS NOT NULL AND a.notebook_path IS NOT NULL THEN a.notebook_path = ?2"
            "   ELSE a.notebook = ?1 END, 0))"
            ") ORDER BY seq",
            (notebook, absolute),
        )
        return list(sessions)

    def _connect_current(self) -> bool:
        """Whether the file has the aliases (opening it once, if not done yet)."""
        if not self._ready and self.path.exists():
            self._connect().close()
        return self._current

    def alias(
        self,
        kernel_id: str,
        notebook: str,
        previous: str | None = None,
        when: str | None = None,
        absolute: str | None = None,
    ) -> None:
        """Give the records of kernel ``kernel_id`` (those written so far and later, across
        restarts) to ``notebook`` from now on: its notebook was renamed or moved from
        ``previous`` at ``when`` (UTC, ISO 8601; default now). A kernel's latest alias wins."""
        if not kernel_id:
            raise ValueError("a kernel id is required")
        connection = self._connect()
        if not self._current:
            connection.close()
            raise PermissionError(f"{self.path}: a read-only store of an older version")
        try:
            with _write_transaction(connection):
                # Rows a kernel running older code wrote without the column.
                _index_kernel_ids(connection)
                connection.execute(
                    "INSERT OR REPLACE INTO notebook_aliases (kernel_id, notebook, previous,"
                    " renamed, notebook_path) VALUES (?, ?, ?, ?, ?)",
                    (kernel_id, notebook, previous, when or _now(), absolute),
                )
        finally:
            connection.close()

    def aliases(self) -> dict[str, str]:
        """kernel id -> the notebook its records belong to now (renamed kernels only)."""
        if not self.path.exists() or not self._connect_current():
            return {}
        connection = self._connect()
        try:
            rows = connection.execute("SELECT kernel_id, notebook FROM notebook_aliases")
            return {kernel_id: notebook for kernel_id, notebook in rows}
        finally:
            connection.close()

    def by_record_id(self, record_ids: list[str]) -> dict[str, StoredRecord]:
        """The rows holding these records, by record id (those the store has)."""
        found: dict[str, StoredRecord] = {}
        for start in range(0, len(record_ids), 500):
            chunk = record_ids[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            for row in self._rows(
                "SELECT seq, body, prev_hash, hash FROM records"  # noqa: S608 - only ? marks
                f" WHERE record_id IN ({marks})",
                tuple(chunk),
            ):
                found[str(row.record.get("record_id"))] = row
        return found

    def for_sessions(self, sessions: list[str]) -> list[StoredRecord]:
        """The rows of these kernel sessions, in chain order."""
        found: list[StoredRecord] = []
        for start in range(0, len(sessions), 500):
            chunk = sessions[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            found += self._rows(
                "SELECT seq, body, prev_hash, hash FROM records"  # noqa: S608 - only ? marks
                f" WHERE kernel_session IN ({marks})",
                tuple(chunk),
            )
        return sorted(found, key=lambda row: row.seq)

    def by_hash(self, digest: str) -> StoredRecord | None:
        """The row whose hash is ``digest``, if the store has it."""
        rows = list(
            self._rows("SELECT seq, body, prev_hash, hash FROM records WHERE hash = ?", (digest,))
        )
        return rows[0] if rows else None

    def position_of(self, digest: str) -> int | None:
        """The position (1-based, in chain order) of the row whose hash is ``digest``."""
        if not self.path.exists() or not _storable((digest,)):
            return None
        connection = self._connect()
        try:
            row = connection.execute("SELECT seq FROM records WHERE hash = ?", (digest,)).fetchone()
            if row is None:
                return None
            (count,) = connection.execute(
                "SELECT count(*) FROM records WHERE seq <= ?", (row[0],)
            ).fetchone()
            return int(count)
        except sqlite3.DatabaseError as error:
            raise StoreError(f"{self.path}: not a provenance store ({error})") from None
        finally:
            connection.close()

    def head(self) -> str:
        """The hash of the last record (the chain head), or the genesis hash."""
        last = list(
            self._rows("SELECT seq, body, prev_hash, hash FROM records ORDER BY seq DESC LIMIT 1")
        )
        return last[0].hash if last else GENESIS

    def size_and_head(self) -> tuple[int, str]:
        """The number of records and the chain head, read in one transaction."""
        if not self.path.exists():
            return 0, GENESIS
        connection = self._connect()
        try:
            (size,) = connection.execute("SELECT count(*) FROM records").fetchone()
            row = connection.execute(
                "SELECT hash FROM records ORDER BY seq DESC LIMIT 1"
            ).fetchone()
        except sqlite3.DatabaseError as error:
            raise StoreError(f"{self.path}: not a provenance store ({error})") from None
        finally:
            connection.close()
        return int(size), row[0] if row else GENESIS

    def heads_at(self, sizes: set[int]) -> tuple[int, dict[int, str]]:
        """The number of records, and the chain head after the first ``n`` records for
        each ``n`` in ``sizes`` the store reaches (0: the genesis hash)."""
        heads = {0: GENESIS} if 0 in sizes else {}
        if not self.path.exists():
            return 0, heads
        connection = self._connect()
        position = 0
        try:
            for position, (digest,) in enumerate(
                connection.execute("SELECT hash FROM records ORDER BY seq"), start=1
            ):
                if position in sizes:
                    heads[position] = digest
        except sqlite3.DatabaseError as error:
            raise StoreError(f"{self.path}: not a provenance store ({error})") from None
        finally:
            connection.close()
        return position, heads

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
                if not _all_text(prev_hash, body, digest) or chain_hash(prev_hash, body) != digest:
                    problems.append(
                        ChainProblem(
                            position,
                            seq,
                            "was edited after it was written (its hash does not match its content)",
                        )
                    )
                if not _is_record(body):
                    problems.append(
                        ChainProblem(
                            position, seq, "holds no JSON record (its body is not a JSON object)"
                        )
                    )
                previous = digest
        except sqlite3.DatabaseError as error:
            raise StoreError(f"{self.path}: not a provenance store ({error})") from None
        finally:
            connection.close()
        return problems
