"""Validation helpers for the policy file: errors that name the file, the key and the fix.

Each capability reads its table through one :class:`Section`::

    section = Section(source, "guard", value, {"enabled", "max_bytes"}, base=base)
    enabled = section.boolean("enabled", True)
    max_bytes = section.integer("max_bytes", 1024, "a whole number of bytes", minimum=1)
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class PolicyError(ValueError):
    """A policy file that cannot be used. ``str()`` names the file, the key and the fix."""

    def __init__(self, source: str, key: str | None, problem: str) -> None:
        self.source = source
        self.key = key
        self.problem = problem
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {problem}")


def expect(
    source: str, key: str, value: object, kind: type | tuple[type, ...], expected: str
) -> Any:
    """``value`` if it is of ``kind`` (booleans are not numbers), else a :class:`PolicyError`."""
    numeric = kind in (int, float) or (isinstance(kind, tuple) and bool({int, float} & set(kind)))
    if not isinstance(value, kind) or (numeric and isinstance(value, bool)):
        raise PolicyError(source, key, f"expected {expected}, got {value!r}")
    return value


def expect_strings(source: str, key: str, value: object, expected: str) -> tuple[str, ...]:
    """A list of strings as a tuple."""
    items = expect(source, key, value, list, expected)
    for item in items:
        if not isinstance(item, str):
            raise PolicyError(source, key, f"expected {expected}, got {item!r} in the list")
    return tuple(items)


def reject_unknown_keys(
    source: str, section: str, table: Mapping[str, object], known: Collection[str]
) -> None:
    """A :class:`PolicyError` for the first key of ``table`` not in ``known``."""
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise PolicyError(
            source,
            f"{section}.{unknown[0]}",
            f"unknown key; known keys in [{section}] are: {', '.join(sorted(known))}",
        )


def describe_choices(choices: Collection[str]) -> str:
    """``"a" or "b"`` for two choices, ``one of a, b, c`` for more."""
    if len(choices) == 2:
        first, second = choices
        return f'"{first}" or "{second}"'
    return f"one of {', '.join(choices)}"


class Section:
    """One table of the policy file (``[guard]``, ``[secrets.NAME]``...), read key by key.

    Creating it checks that ``value`` is a table and that it holds only ``known`` keys
    (``None``: any key, for a table of named tables); each getter returns the key's value
    or its default, checked, or raises a :class:`PolicyError` naming the file, the key
    (``name.key``) and what is expected. ``refused`` maps keys that must never be written
    to the explanation given for them, checked before unknown keys.
    """

    def __init__(
        self,
        source: str,
        name: str,
        value: object,
        known: Collection[str] | None,
        *,
        base: Path | None = None,
        expected: str | None = None,
        refused: Mapping[str, str] | None = None,
    ) -> None:
        self.source = source
        self.name = name
        self.base = base if base is not None else Path.cwd()
        self.table: dict[str, Any] = expect(
            source, name, value, dict, expected or f"a table [{name}]"
        )
        for key, explanation in (refused or {}).items():
            if key in self.table:
                raise self.error(key, explanation)
        if known is not None:
            reject_unknown_keys(source, name, self.table, known)

    def key(self, key: str | None) -> str:
        """The dotted name of ``key`` (``guard.max_bytes``); the section's own for None."""
        return f"{self.name}.{key}" if key else self.name

    def error(self, key: str | None, problem: str) -> PolicyError:
        """A :class:`PolicyError` about ``key`` (None: about the whole section)."""
        return PolicyError(self.source, self.key(key), problem)

    def has(self, key: str) -> bool:
        """Whether the table sets ``key``."""
        return key in self.table

    def get(self, key: str, kind: type | tuple[type, ...], expected: str) -> Any:
        """The value of ``key`` (which must be set) if it is of ``kind``."""
        return expect(self.source, self.key(key), self.table[key], kind, expected)

    def boolean(self, key: str, default: bool) -> bool:
        """``true`` or ``false``."""
        if key not in self.table:
            return default
        value: bool = self.get(key, bool, "true or false")
        return value

    def integer(
        self,
        key: str,
        default: int,
        expected: str,
        *,
        minimum: int | None = None,
        minimum_text: str | None = None,
        maximum: int | None = None,
    ) -> int:
        """A whole number (booleans are not), at least ``minimum`` if given; a smaller one is
        refused as ``expected <minimum_text>`` (default: ``<minimum> or more``); one above
        ``maximum`` (if given) as ``expected at most <maximum>``."""
        number: int = self.get(key, int, expected) if key in self.table else default
        if minimum is not None and number < minimum:
            wanted = minimum_text or f"{minimum} or more"
            raise self.error(key, f"expected {wanted}, got {number}")
        if maximum is not None and number > maximum:
            raise self.error(key, f"expected {expected}, at most {maximum}, got {number}")
        return number

    def number(self, key: str, default: float, expected: str) -> float:
        """A finite number (whole or not) as a float: nan, inf and a whole number too large
        for a float are refused."""
        if key not in self.table:
            return default
        value = self.get(key, (int, float), expected)
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            shown = value if isinstance(value, float) else f"a number of {len(str(value))} digits"
            raise self.error(key, f"expected {expected} (a finite number), got {shown}")
        return number

    def string(self, key: str, default: str, expected: str) -> str:
        """A string."""
        value: str = self.get(key, str, expected) if key in self.table else default
        return value

    def optional_string(self, key: str, expected: str) -> str | None:
        """A string, or None when the key is not set."""
        value: str | None = self.get(key, str, expected) if key in self.table else None
        return value

    def choice(self, key: str, default: str, choices: Collection[str]) -> str:
        """One of ``choices``."""
        value = self.table.get(key, default)
        if value not in choices:
            raise self.error(key, f"expected {describe_choices(choices)}, got {value!r}")
        chosen: str = value
        return chosen

    def strings(self, key: str, expected: str) -> tuple[str, ...]:
        """A list of strings as a tuple; empty when the key is not set."""
        if key not in self.table:
            return ()
        return expect_strings(self.source, self.key(key), self.table[key], expected)

    def optional_strings(self, key: str, expected: str) -> tuple[str, ...] | None:
        """A list of strings as a tuple, or None when the key is not set."""
        return self.strings(key, expected) if key in self.table else None

    def path(self, key: str) -> Path | None:
        """A file path (``~`` expanded; relative to the policy file's folder), or None."""
        if key not in self.table:
            return None
        text: str = self.get(key, str, "a file path")
        try:
            return (self.base / Path(text).expanduser()).resolve()
        except (ValueError, RuntimeError) as error:  # a NUL character; ~user with no home
            raise self.error(key, f"expected a file path, got {text!r} ({error})") from None
