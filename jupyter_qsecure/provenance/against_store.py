"""A notebook's provenance checked against a store: are the records its cells carry, and
its chain head, in that store, as written, in an intact chain? (The verdict alone trusts
the file; this is what a reviewer with the store, or a copy of it, can add.)"""

from __future__ import annotations

from typing import Any

from .store import ProvenanceStore

#: Fields of a cell's record that must equal the stored record's.
_COMPARED = ("kernel_session", "execution_count", "code_sha256", "outputs_digest", "status")


def check_against_store(notebook: dict[str, Any], store: ProvenanceStore) -> list[str]:
    """Problems found (empty: every record the notebook carries is in the store as
    written, its chain head is a row of the store, and the chain is intact). The notebook
    must have passed :func:`~.schema.check_provenance`. Reads the store only."""
    problems = [
        f"the store's chain is broken at row {p.position} (seq {p.seq}): {p.problem}"
        for p in store.verify()
    ]
    cells = [
        (number, cell)
        for number, cell in enumerate(
            (c for c in notebook.get("cells", []) if c.get("cell_type") == "code"), 1
        )
    ]
    carried: dict[str, tuple[int, dict[str, Any]]] = {}
    for number, cell in cells:
        section = cell.get("metadata", {}).get("qsecure")
        execution = section.get("execution") if isinstance(section, dict) else None
        if isinstance(execution, dict) and isinstance(execution.get("record_id"), str):
            carried[execution["record_id"]] = (number, execution)
    stored = store.by_record_id(list(carried))
    for record_id, (number, execution) in carried.items():
        row = stored.get(record_id)
        if row is None:
            problems.append(f"cell {number}: record {record_id} is not in the store")
            continue
        differing = [
            key for key in _COMPARED if key in execution and execution[key] != row.record.get(key)
        ]
        if differing:
            problems.append(
                f"cell {number}: record {record_id} differs from the store's ({', '.join(differing)})"
            )
    section = notebook.get("metadata", {}).get("qsecure")
    provenance = section.get("provenance") if isinstance(section, dict) else None
    head = provenance.get("chain_head") if isinstance(provenance, dict) else None
    if isinstance(head, str) and store.position_of(head) is None:
        problems.append(f"the notebook's chain head {head[:19]} is not a row of the store")
    return problems
