"""Validation helpers for the policy file: errors that name the file, the key and the fix."""

from __future__ import annotations

from collections.abc import Mapping
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
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
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
    source: str, section: str, table: Mapping[str, object], known: set[str]
) -> None:
    """A :class:`PolicyError` for the first key of ``table`` not in ``known``."""
    unknown = sorted(set(table) - known)
    if unknown:
        raise PolicyError(
            source,
            f"{section}.{unknown[0]}",
            f"unknown key; known keys in [{section}] are: {', '.join(sorted(known))}",
        )
