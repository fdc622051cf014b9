"""Run every rule's own examples: what ``jupyter qsecure rules --check`` reports.

A rule passes when each of its ``examples`` (expanded, see :func:`~.rule.expand`) is found
by the rule itself in a text file and in a notebook output, and none of its
``negative_examples`` is. A rule without both kinds of example fails: every rule ships
with proof of what it finds and what it leaves alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from .engine import Engine
from .rule import Rule, expand
from .walker import Fragment


@dataclass(frozen=True)
class RuleProblem:
    """One way a rule failed its check; ``example`` is the template, never its expansion."""

    rule: str
    problem: str
    example: str = ""

    def describe(self) -> str:
        """``rule-id: problem: template``."""
        suffix = f": {self.example!r}" if self.example else ""
        return f"{self.rule}: {self.problem}{suffix}"


def _found(engine: Engine, text: str) -> bool:
    return bool(engine.scan([Fragment(text, "text")], config_text=True))


def check_rule(rule: Rule) -> Iterator[RuleProblem]:
    """Every problem of one rule with its examples (nothing when it passes)."""
    if not rule.examples:
        yield RuleProblem(rule.id, "has no positive example")
    if not rule.negative_examples:
        yield RuleProblem(rule.id, "has no negative example")
    engine = Engine([rule], use_hyperscan=False)
    for template in rule.examples:
        if not _found(engine, expand(template)):
            yield RuleProblem(rule.id, "does not find its example", template)
    for template in rule.negative_examples:
        if _found(engine, expand(template)):
            yield RuleProblem(rule.id, "finds its negative example", template)


def check_rules(rules: Iterable[Rule]) -> list[RuleProblem]:
    """The problems of all ``rules`` (an empty list when every rule passes)."""
    return [problem for rule in rules for problem in check_rule(rule)]
