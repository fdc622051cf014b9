"""A notebook's provenance checked against a store: are the records its cells carry, its
timeline and its chain head in that store, as written, in an intact chain, and does the
timeline hold every execution the store recorded for its sessions up to that save? (The
verdict alone trusts the file; this is what a reviewer with the store, or a copy of it,
can add.)"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .schema import execution_record
from .store import ProvenanceStore, StoredRecord

#: Fields of a cell's record that must equal the stored record's (a field removed from
#: the cell's record differs too: without its count a cell run out of order passed).
_COMPARED = ("kernel_session", "execution_count", "code_sha256", "outputs_digest", "status")


def _list(record: dict[str, Any], key: str) -> list[Any]:
    value = record.get(key)
    return value if isinstance(value, list) else []


def _files(record: dict[str, Any]) -> Any:
    """What a record says of the files it read and wrote, beyond their paths (which the
    save may mask further): each one's digest and size, in order."""
    files = record.get("files")
    files = files if isinstance(files, dict) else {}
    return {
        kind: [
            (entry.get("sha256"), entry.get("size"), entry.get("missing"))
            if isinstance(entry, dict)
            else entry
            for entry in _list(files, kind)
        ]
        for kind in ("read", "written")
    }


#: The evidence of a cell's record (what the verdict shows it read, wrote, ran, reached,
#: seeded) that must agree with the stored record's: digests and counts, not the text a
#: save may mask. A file's hash rewritten in the notebook hid that the data changed.
def _subprocesses(record: dict[str, Any]) -> Any:
    return [
        entry.get("args_sha256") if isinstance(entry, dict) else entry
        for entry in _list(record, "subprocesses")
    ]


def _network(record: dict[str, Any]) -> Any:
    return len(_list(record, "network"))


def _seeds(record: dict[str, Any]) -> Any:
    return len(_list(record, "seeds"))


_EVIDENCE: dict[str, Callable[[dict[str, Any]], Any]] = {
    "files": _files,
    "subprocesses": _subprocesses,
    "network": _network,
    "seeds": _seeds,
}
#: Fields of a timeline entry that must equal its stored record's.
_TIMELINE_COMPARED = ("cell_id", "execution_count", "kernel_session", "startup", "silent")
#: The most missing executions named one by one (the rest are counted).
_NAMED = 5


def check_against_store(
    notebook: dict[str, Any], store: ProvenanceStore, timeline_limit: int | None = None
) -> list[str]:
    """Problems found (empty: every record the notebook carries, in its cells and its
    timeline, is in the store as written, none after its chain head, which is a row of
    the store; every execution the store holds of the timeline's kernel sessions up to
    that head is in the timeline; a timeline marked truncated holds ``timeline_limit``
    entries (the policy's ``[provenance] timeline_limit``, when given); and the chain is
    intact). The notebook must have passed :func:`~.schema.check_provenance`. Reads the
    store only."""
    problems = [
        f"the store's chain is broken at row {p.position} (seq {p.seq}): {p.problem}"
        for p in store.verify()
    ]
    carried = _carried(notebook)
    section = notebook.get("metadata", {}).get("qsecure")
    provenance = section.get("provenance") if isinstance(section, dict) else None
    provenance = provenance if isinstance(provenance, dict) else {}
    timeline = [e for e in provenance.get("timeline", []) if isinstance(e, dict)]
    ids = list(carried) + [e["record_id"] for e in timeline if isinstance(e.get("record_id"), str)]
    stored = store.by_record_id(list(dict.fromkeys(ids)))
    head = provenance.get("chain_head")
    head_row = store.by_hash(head) if isinstance(head, str) else None
    if isinstance(head, str) and head_row is None:
        problems.append(f"the notebook's chain head {head[:19]} is not a row of the store")
    elif provenance and head is None:
        problems.append("the notebook's provenance has no chain head (removed?)")
    for record_id, (number, cell_id, execution) in carried.items():
        row = stored.get(record_id)
        if row is None:
            problems.append(f"cell {number}: record {record_id} is not in the store")
            continue
        differing = [key for key in _COMPARED if execution.get(key) != row.record.get(key)]
        differing += [
            key for key, facts in _EVIDENCE.items() if facts(execution) != facts(row.record)
        ]
        if row.record.get("cell_id") != cell_id:
            differing.append("cell_id")
        if differing:
            problems.append(
                f"cell {number}: record {record_id} differs from the store's ({', '.join(differing)})"
            )
        if head_row is not None and row.seq > head_row.seq:
            problems.append(
                f"cell {number}: record {record_id} was recorded after the notebook's chain head"
            )
    problems += _timeline_problems(timeline, stored, head_row)
    if head_row is not None:
        problems += _missing(store, timeline, stored, head_row, provenance)
        problems += _truncation(store, timeline, stored, provenance, timeline_limit)
    return problems


def _truncation(
    store: ProvenanceStore,
    timeline: list[dict[str, Any]],
    stored: dict[str, StoredRecord],
    provenance: dict[str, Any],
    limit: int | None,
) -> list[str]:
    """A timeline is truncated only once it grew past the limit, and keeps the limit's
    number of entries from then on: marked truncated with fewer, its first entries were
    removed (to hide the first runs), and the mark set to excuse their absence."""
    if provenance.get("timeline_truncated") is not True or limit is None or len(timeline) >= limit:
        return []
    rows = [stored[e["record_id"]] for e in timeline if e.get("record_id") in stored]
    listed = provenance.get("sessions")
    sessions = {str(row.record.get("kernel_session")) for row in rows}
    sessions |= {s for s in listed if isinstance(s, str)} if isinstance(listed, list) else set()
    first = min((row.seq for row in rows), default=0)
    before = sum(
        1
        for row in store.for_sessions(sorted(sessions))
        if row.record.get("kind") == "execution" and row.seq < first
    )
    return [
        f"the timeline is marked truncated but holds {len(timeline)} entries, fewer than the"
        f" limit of {limit} a truncated timeline keeps ([provenance] timeline_limit): entries"
        f" were removed from its start (the store holds {before} earlier executions of its"
        " sessions)"
    ]


def _carried(notebook: dict[str, Any]) -> dict[str, tuple[int, Any, dict[str, Any]]]:
    """record id -> (code cell number, cell id, the cell's record)."""
    carried: dict[str, tuple[int, Any, dict[str, Any]]] = {}
    code_cells = (c for c in notebook.get("cells", []) if c.get("cell_type") == "code")
    for number, cell in enumerate(code_cells, 1):
        execution = execution_record(cell)
        if execution is not None and isinstance(execution.get("record_id"), str):
            carried[execution["record_id"]] = (number, cell.get("id"), execution)
    return carried


def _timeline_problems(
    timeline: list[dict[str, Any]], stored: dict[str, StoredRecord], head: StoredRecord | None
) -> list[str]:
    problems = []
    for index, entry in enumerate(timeline, 1):
        record_id = entry.get("record_id")
        row = stored.get(record_id) if isinstance(record_id, str) else None
        if row is None:
            problems.append(f"timeline entry {index}: record {record_id} is not in the store")
            continue
        differing = [key for key in _TIMELINE_COMPARED if entry.get(key) != row.record.get(key)]
        if differing:
            problems.append(
                f"timeline entry {index}: record {record_id} differs from the store's"
                f" ({', '.join(differing)})"
            )
        if head is not None and row.seq > head.seq:
            problems.append(
                f"timeline entry {index}: record {record_id} was recorded after the"
                " notebook's chain head"
            )
    return problems


def _missing(
    store: ProvenanceStore,
    timeline: list[dict[str, Any]],
    stored: dict[str, StoredRecord],
    head: StoredRecord,
    provenance: dict[str, Any],
) -> list[str]:
    """Executions the store holds of the timeline's sessions, up to the chain head (the
    notebook's last record when it was saved), that the timeline does not: removed to hide
    a second run, a console's execution, a deleted cell. A truncated timeline is checked
    from its first entry on."""
    rows = [stored[e["record_id"]] for e in timeline if e.get("record_id") in stored]
    sessions = {str(row.record.get("kernel_session")) for row in rows}
    if isinstance(provenance.get("kernel_session"), str):
        sessions.add(provenance["kernel_session"])
    shown = {row.seq for row in rows}
    first = min(shown) if shown and provenance.get("timeline_truncated") is True else 0
    missing = [
        row
        for row in store.for_sessions(sorted(sessions))
        if row.record.get("kind") == "execution" and first <= row.seq <= head.seq
        if row.seq not in shown
    ]
    named = [
        f"record {row.record.get('record_id')} (cell {row.record.get('cell_id') or 'none'},"
        f" count {row.record.get('execution_count')}, session {row.record.get('kernel_session')})"
        for row in missing[:_NAMED]
    ]
    if len(missing) > _NAMED:
        named.append(f"{len(missing) - _NAMED} more")
    return [f"executions missing from the notebook's timeline: {'; '.join(named)}"] if named else []
