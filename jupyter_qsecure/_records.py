"""``class Name(NamedTuple): field: type = default`` without importing :mod:`typing`.

``jupyter-qsecure verify`` and ``payload`` pay for every module they import (their cost is
mostly start-up, ``bench/README.md``), and :mod:`typing` alone is about a tenth of that.
Their modules import what they annotate with under ``if TYPE_CHECKING:`` and their
records from here::

    TYPE_CHECKING = False
    if TYPE_CHECKING:
        from typing import NamedTuple
    else:
        from .._records import NamedTuple

Type checkers see :class:`typing.NamedTuple`; at run time the class statement makes the
same class :class:`typing.NamedTuple` makes: :func:`collections.namedtuple` of the
annotated fields, the defaults of those given one, and the class body's docstring, methods
and properties (``collections`` is loaded anyway: :mod:`functools` and so :mod:`re` and
:mod:`json` import it). Annotations stay as written (strings under ``from __future__
import annotations``).
"""

from __future__ import annotations

from collections import namedtuple

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: What the class body may not set (as :class:`typing.NamedTuple` refuses them too).
_PROHIBITED = frozenset(
    {
        "__new__",
        "__init__",
        "__slots__",
        "__getnewargs__",
        "_fields",
        "_field_defaults",
        "_make",
        "_replace",
        "_asdict",
        "_source",
    }
)
_SPECIAL = frozenset({"__module__", "__name__", "__annotations__"})
#: Called through a name of type Any: type checkers read ``namedtuple(...)`` literally.
_make: Any = namedtuple


class _RecordMeta(type):
    def __new__(cls, typename: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> Any:
        if bases != (NamedTuple,):
            raise TypeError("a record inherits from NamedTuple alone")
        types: dict[str, Any] = dict(namespace.get("__annotations__", {}))
        defaults: list[str] = []
        for name in types:
            if name in namespace:
                defaults.append(name)
            elif defaults:
                raise TypeError(f"non-default field {name} cannot follow default field(s)")
        record = _make(
            typename,
            list(types),
            defaults=[namespace[name] for name in defaults],
            module=str(namespace["__module__"]),
        )
        record.__annotations__ = record.__new__.__annotations__ = types
        for key, value in namespace.items():
            if key in _PROHIBITED:
                raise AttributeError(f"cannot overwrite NamedTuple attribute {key}")
            if key not in _SPECIAL and key not in types:
                setattr(record, key, value)
        return record


NamedTuple = type.__new__(_RecordMeta, "NamedTuple", (), {"__module__": __name__})
