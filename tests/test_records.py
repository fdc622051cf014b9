"""``jupyter_qsecure._records.NamedTuple``: the class statement makes what
:class:`typing.NamedTuple` makes, without importing :mod:`typing` (the fast path's
records, ``tests/test_signing_fast_cli.py``)."""

from __future__ import annotations

import ast
import pickle
import typing
from pathlib import Path

import pytest

from jupyter_qsecure import _records
from jupyter_qsecure.signing import sshsig


def _define(base: type) -> type:
    class Point(base):  # type: ignore[misc,valid-type]
        """A point."""

        x: int
        y: int = 0
        label: str = "origin"

        @property
        def norm(self) -> int:
            return abs(self.x) + abs(self.y)

        def moved(self, dx: int) -> Point:
            return self._replace(x=self.x + dx)

    return Point


def test_a_record_is_the_class_typing_makes() -> None:
    ours, theirs = _define(_records.NamedTuple), _define(typing.NamedTuple)
    assert ours.__mro__[1:] == theirs.__mro__[1:] == (tuple, object)
    assert ours._fields == theirs._fields == ("x", "y", "label")
    assert ours._field_defaults == theirs._field_defaults == {"y": 0, "label": "origin"}
    assert (ours.__name__, ours.__qualname__, ours.__module__, ours.__doc__) == (
        theirs.__name__,
        theirs.__qualname__,
        theirs.__module__,
        theirs.__doc__,
    )
    assert list(ours.__annotations__) == list(theirs.__annotations__) == ["x", "y", "label"]
    a, b = ours(3, y=-4), theirs(3, y=-4)
    assert repr(a).replace("ours", "") == repr(b).replace("theirs", "")
    assert a == b == (3, -4, "origin")
    assert a.norm == b.norm == 7
    assert a.moved(1) == b.moved(1) == (4, -4, "origin")
    assert type(a.moved(1)) is ours
    assert a._asdict() == b._asdict()
    assert hash(a) == hash(b)
    with pytest.raises(AttributeError):
        a.x = 1  # type: ignore[misc]


def test_a_record_refuses_what_typing_refuses() -> None:
    with pytest.raises(TypeError, match="non-default field"):

        class Bad(_records.NamedTuple):
            x: int = 0
            y: int

    with pytest.raises(AttributeError, match="_replace"):

        class Overwrites(_records.NamedTuple):
            x: int

            def _replace(self) -> None: ...


def test_the_fast_paths_records_pickle_and_compare() -> None:
    from jupyter_qsecure.signing.policy import SigningSettings

    settings = SigningSettings(require=2)
    assert settings._replace(require=1) == SigningSettings()
    copy = pickle.loads(pickle.dumps(settings._replace(grants={})))  # noqa: S301 (our own)
    assert copy == settings._replace(grants={})


def test_signature_reason_is_the_literal_type_checkers_see() -> None:
    """``sshsig.SignatureReason`` is made on first use from ``_SIGNATURE_REASONS``; the
    ``Literal`` a type checker reads in the module lists the same reasons."""
    tree = ast.parse(Path(sshsig.__file__).read_text(encoding="utf-8"))
    checked = next(
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and [getattr(t, "id", None) for t in node.targets] == ["SignatureReason"]
    )
    assert isinstance(checked, ast.Subscript)
    assert isinstance(checked.slice, ast.Tuple)
    listed = tuple(ast.literal_eval(element) for element in checked.slice.elts)
    assert listed == sshsig._SIGNATURE_REASONS
    assert typing.get_args(sshsig.SignatureReason) == listed
    assert "SignatureReason" in sshsig.__all__
    with pytest.raises(AttributeError, match="nope"):
        sshsig.nope  # noqa: B018 (the attribute access is the test)
