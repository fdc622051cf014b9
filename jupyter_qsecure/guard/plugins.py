"""Rules from plug-ins: the entry point group ``jupyter_qsecure.rules``.

A distribution adds rules to the guard with an entry point in that group whose object is
a :class:`~.rules.Rule` sequence, or a callable taking no argument that returns one::

    [project.entry-points."jupyter_qsecure.rules"]
    lab = "lab_rules:rules"

Plug-in rules are compiled into the same engine as the built-in ones (after them: a
built-in rule wins when both find the same value), listed by ``jupyter qsecure rules`` and
may be named in ``[guard] disabled_rules``. A plug-in that cannot be loaded, or one of
whose rules is unusable (no ``secret`` group, a trigger the engine cannot compile, an id
already taken), is left out as a whole and reported by name with the reason; the built-in
rules and the other plug-ins still apply. Plug-ins are loaded once per process.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import EntryPoint, entry_points

from .engine import trigger_problem
from .rules import RULES, RULES_BY_ID, Rule

__all__ = [
    "ENTRY_POINT_GROUP",
    "RulePlugin",
    "active_rules",
    "available_rules",
    "plugin_rules",
    "rule_ids",
]

ENTRY_POINT_GROUP = "jupyter_qsecure.rules"
_RULE_ID = re.compile(r"[A-Za-z0-9][\w.-]*\Z")


@dataclass(frozen=True)
class RulePlugin:
    """One entry point of :data:`ENTRY_POINT_GROUP`: its rules, or why it has none."""

    name: str
    #: ``module:attribute``, as the entry point names it.
    value: str
    #: ``name version`` of the distribution that declares it ("" when unknown).
    distribution: str
    rules: tuple[Rule, ...] = ()
    problem: str | None = None

    def describe(self) -> str:
        """``rule plug-in "lab" (lab_rules:rules, from lab-rules 1.0)`` and, for one that
        failed, what went wrong."""
        origin = f"{self.value}, from {self.distribution}" if self.distribution else self.value
        text = f'rule plug-in "{self.name}" ({origin})'
        if self.problem is None:
            return text
        return f"{text} not loaded: {self.problem}; the other rules still apply"


def _distribution(entry: EntryPoint) -> str:
    dist = getattr(entry, "dist", None)
    if dist is None:
        return ""
    return f"{dist.metadata['Name']} {dist.version}"


def _rules_of(entry: EntryPoint) -> tuple[Rule, ...]:
    """The rules an entry point gives; raises ValueError saying what is wrong."""
    try:
        loaded = entry.load()
    except Exception as error:
        raise ValueError(f"cannot import it ({type(error).__name__}: {error})") from None
    if callable(loaded) and not isinstance(loaded, Rule):
        try:
            loaded = loaded()
        except Exception as error:
            raise ValueError(f"calling it raised {type(error).__name__}: {error}") from None
    if isinstance(loaded, Rule):
        loaded = (loaded,)
    if not isinstance(loaded, Iterable) or isinstance(loaded, (str, bytes)):
        raise ValueError(f"it gave {type(loaded).__name__}, not a sequence of Rule objects")
    rules = tuple(loaded)
    for item in rules:
        if not isinstance(item, Rule):
            raise ValueError(
                f"it gave a {type(item).__name__} among its rules, not a jupyter_qsecure.guard.Rule"
            )
    if not rules:
        raise ValueError("it gave no rules")
    return rules


def _rule_problem(rule: Rule, taken: Iterable[str]) -> str | None:
    """Why the engine cannot use ``rule`` next to the rules whose ids are ``taken``."""
    if not isinstance(rule.id, str) or not _RULE_ID.match(rule.id):
        return f"rule id {rule.id!r}: use letters, digits, '.', '_' and '-'"
    if rule.id in taken:
        return f"rule id {rule.id!r} is already taken (by a built-in rule or another plug-in)"
    if not isinstance(rule.kind, str) or not rule.kind.strip():
        return f"rule {rule.id!r} has no kind (the name a finding shows, e.g. 'Lab API token')"
    if "secret" not in rule.regex.groupindex:
        return f"rule {rule.id!r}: its pattern has no (?P<secret>...) group for the credential"
    problem = trigger_problem(rule.trigger, rule.ignore_case)
    return None if problem is None else f"rule {rule.id!r}: {problem}"


@lru_cache(maxsize=1)
def plugin_rules() -> tuple[RulePlugin, ...]:
    """Every plug-in of :data:`ENTRY_POINT_GROUP`, loaded or with its problem (cached for
    the process; ``plugin_rules.cache_clear()`` forgets them)."""
    plugins = []
    taken = set(RULES_BY_ID)
    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda item: item.name):
        plugin = RulePlugin(entry.name, entry.value, _distribution(entry))
        try:
            rules = _rules_of(entry)
            ids = [rule.id for rule in rules]
            for number, rule in enumerate(rules):
                problem = _rule_problem(rule, taken | set(ids[:number]))
                if problem is not None:
                    raise ValueError(problem)
        except ValueError as error:
            plugins.append(
                RulePlugin(plugin.name, plugin.value, plugin.distribution, (), str(error))
            )
            continue
        taken.update(ids)
        plugins.append(RulePlugin(plugin.name, plugin.value, plugin.distribution, rules))
    return tuple(plugins)


def available_rules() -> tuple[Rule, ...]:
    """The built-in rules, then those of every plug-in that loaded."""
    return RULES + tuple(rule for plugin in plugin_rules() for rule in plugin.rules)


def active_rules(disabled: Iterable[str] = ()) -> tuple[Rule, ...]:
    """The available rules but those whose id is in ``disabled`` (``[guard]
    disabled_rules``)."""
    off = set(disabled)
    return tuple(rule for rule in available_rules() if rule.id not in off)


def rule_ids() -> frozenset[str]:
    """The ids of every available rule (what ``disabled_rules`` may name)."""
    return frozenset(rule.id for rule in available_rules())
