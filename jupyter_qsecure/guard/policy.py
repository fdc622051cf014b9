"""``[guard]`` in the policy file: whether and how saves are scanned."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .._validate import Section

__all__ = ["GuardPolicy", "parse_guard_policy"]


@dataclass(frozen=True)
class GuardPolicy:
    """``[guard]``: how saves are scanned."""

    enabled: bool = True
    #: A write that cannot be scanned (too large, scanner crash...): "block" refuses it,
    #: "allow" writes it with a warning.
    on_error: str = "block"
    #: Larger writes cannot be scanned (see ``on_error``).
    max_bytes: int = 100 * 1024 * 1024
    #: A detect-secrets ``.secrets.baseline`` accepted for every file on the server.
    baseline: Path | None = None
    #: Also accept the ``.secrets.baseline`` at the root of the saved file's git repository.
    repo_baseline: bool = True
    #: Rule ids not applied (built-in or plug-in rules: see ``jupyter qsecure rules``).
    disabled_rules: tuple[str, ...] = ()
    #: Where bypasses by fingerprint are kept; None: ``<data dir>/qsecure/bypasses.json``.
    bypass_store: Path | None = None


def parse_guard_policy(source: str, base: Path, value: object) -> GuardPolicy:
    """The ``[guard]`` table (paths relative to the policy file)."""
    section = Section(
        source,
        "guard",
        value,
        {
            "enabled",
            "on_error",
            "max_bytes",
            "baseline",
            "repo_baseline",
            "disabled_rules",
            "bypass_store",
        },
        base=base,
    )
    defaults = GuardPolicy()
    rules = section.strings("disabled_rules", "a list of rule ids")
    if rules:  # the rules (and their plug-ins) are loaded only to check ids
        from .plugins import rule_ids

        known = rule_ids()
        for rule in rules:
            if rule not in known:
                raise section.error(
                    "disabled_rules", f"unknown rule {rule!r}; see `jupyter qsecure rules`"
                )
    return GuardPolicy(
        enabled=section.boolean("enabled", defaults.enabled),
        on_error=section.choice("on_error", defaults.on_error, ("block", "allow")),
        max_bytes=section.integer(
            "max_bytes",
            defaults.max_bytes,
            "a whole number of bytes",
            minimum=1,
            minimum_text="a positive number of bytes",
        ),
        baseline=section.path("baseline"),
        repo_baseline=section.boolean("repo_baseline", defaults.repo_baseline),
        disabled_rules=rules,
        bypass_store=section.path("bypass_store"),
    )
