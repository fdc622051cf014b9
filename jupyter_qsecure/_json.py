"""JSON read from a file, failing in one way only.

``json.loads`` refuses text in three ways, and only one of them is
:class:`json.JSONDecodeError`: nesting deeper than the interpreter's recursion limit raises
:class:`RecursionError` (not a ``ValueError`` at all), and an integer longer than
``int()`` converts (``sys.get_int_max_str_digits()``, 4300 digits) a bare ``ValueError``.
A command that caught the first printed a traceback for the other two (``[`` repeated
100,000 times as a notebook, a 5,000-digit count). :func:`loads` raises
:class:`JSONTextError`, a ``ValueError``, for all three, with one line saying what is
wrong. Standard library only (the fast command line imports this).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["JSONTextError", "keeping_shadowed", "loads", "too_many_digits"]


class JSONTextError(ValueError):
    """Text that is not a JSON document this package reads; ``str()`` is one line."""


def keeping_shadowed(
    shadowed: list[tuple[str, Any]],
) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    """An ``object_pairs_hook`` that builds each object as ``json`` does (the last of
    repeated keys wins) and puts every value it drops into ``shadowed`` as ``(key,
    value)``, innermost objects first."""

    def build(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        document = dict(pairs)
        if len(document) != len(pairs):
            kept: dict[str, Any] = {}
            for key, value in pairs:
                if key in kept:
                    shadowed.append((key, kept[key]))
                kept[key] = value
        return document

    return build


def loads(text: str, *, unique_keys: bool = False) -> Any:
    """``json.loads(text)``, or :class:`JSONTextError` naming what is wrong: not JSON (with
    the line and column), a byte order mark before it, nested too deeply, or a number with
    too many digits to read; with ``unique_keys``, also a key repeated in one object
    (where what a reader sees depends on the reader)."""
    shadowed: list[tuple[str, Any]] = []
    try:
        if not unique_keys:
            return json.loads(text)
        document = json.loads(text, object_pairs_hook=keeping_shadowed(shadowed))
    except json.JSONDecodeError as error:
        if text.startswith("\ufeff"):
            raise JSONTextError(
                "not valid JSON: it starts with a byte order mark (U+FEFF); save it as "
                "UTF-8 without one"
            ) from None
        raise JSONTextError(
            f"not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})"
        ) from None
    except RecursionError:
        raise JSONTextError("not valid JSON here: nested too deeply") from None
    except ValueError as error:  # int() refusing a number of too many digits
        raise JSONTextError(f"not valid JSON here: {too_many_digits(error)}") from None
    if shadowed:
        raise JSONTextError(
            f"the key {json.dumps(shadowed[0][0])} appears twice in one object, and JSON"
            " readers disagree on which one counts (most keep the last); keep one"
        )
    return document


def too_many_digits(error: ValueError) -> str:
    """What ``int()`` said of a number with too many digits, without its advice to raise a
    limit of the interpreter."""
    found = re.search(r"\((\d+) digits\).*value has (\d+) digits", str(error))
    if found is None:
        return str(error).split(";")[0]
    limit, digits = found.groups()
    return f"a number has {digits} digits (at most {limit} are read)"
