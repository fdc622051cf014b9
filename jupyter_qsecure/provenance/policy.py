"""``[provenance]`` in the policy file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._validate import PolicyError, expect, reject_unknown_keys


@dataclass(frozen=True)
class ProvenancePolicy:
    """Whether kernels record executions, where, and which files they hash."""

    enabled: bool = True
    store: Path | None = None
    hash_limit: int = 64 * 1024 * 1024
    timeline_limit: int = 500


def parse_provenance_policy(source: str, base: Path, value: object) -> ProvenancePolicy:
    """The ``[provenance]`` table."""
    table: dict[str, Any] = expect(source, "provenance", value, dict, "a table [provenance]")
    reject_unknown_keys(
        source, "provenance", table, {"enabled", "store", "hash_limit", "timeline_limit"}
    )
    limit = expect(
        source,
        "provenance.hash_limit",
        table.get("hash_limit", ProvenancePolicy.hash_limit),
        int,
        "bytes",
    )
    timeline = expect(
        source,
        "provenance.timeline_limit",
        table.get("timeline_limit", 500),
        int,
        "a number of executions",
    )
    if limit < 0 or timeline < 1:
        raise PolicyError(
            source, "provenance", "hash_limit must be 0 or more and timeline_limit 1 or more"
        )
    store = table.get("store")
    return ProvenancePolicy(
        enabled=expect(
            source, "provenance.enabled", table.get("enabled", True), bool, "true or false"
        ),
        store=(base / expect(source, "provenance.store", store, str, "a file path")).resolve()
        if store is not None
        else None,
        hash_limit=limit,
        timeline_limit=timeline,
    )
