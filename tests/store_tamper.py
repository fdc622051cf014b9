"""What someone covering their tracks does to a provenance store, for the tamper tests."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from jupyter_qsecure.provenance.store import GENESIS, chain_hash


def rechain(store: Path) -> None:
    """Recompute every row's hashes, so that the chain alone verifies again."""
    with sqlite3.connect(store) as connection:
        previous = GENESIS
        for seq, body in connection.execute(
            "SELECT seq, body FROM records ORDER BY seq"
        ).fetchall():
            digest = chain_hash(previous, body)
            connection.execute(
                "UPDATE records SET prev_hash = ?, hash = ? WHERE seq = ?", (previous, digest, seq)
            )
            previous = digest
