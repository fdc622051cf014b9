"""``[provenance]`` in the policy file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .._validate import Section


@dataclass(frozen=True)
class ProvenancePolicy:
    """Whether kernels record executions, where, and which files they hash."""

    enabled: bool = True
    store: Path | None = None
    hash_limit: int = 64 * 1024 * 1024
    timeline_limit: int = 500


def parse_provenance_policy(source: str, base: Path, value: object) -> ProvenancePolicy:
    """The ``[provenance]`` table (a relative ``store`` is relative to the policy file)."""
    section = Section(
        source,
        "provenance",
        value,
        {"enabled", "store", "hash_limit", "timeline_limit"},
        base=base,
    )
    defaults = ProvenancePolicy()
    return ProvenancePolicy(
        enabled=section.boolean("enabled", defaults.enabled),
        store=section.path("store"),
        hash_limit=section.integer("hash_limit", defaults.hash_limit, "bytes", minimum=0),
        timeline_limit=section.integer(
            "timeline_limit", defaults.timeline_limit, "a number of executions", minimum=1
        ),
    )
