"""Which names a Python notebook's code can bind: is ``password = open_sesame`` a variable?

In a code cell an unquoted name on the right of ``password =`` is a variable, but only if
that name can exist when the cell runs. When no code cell of the notebook binds it (an
assignment, an import, a ``def`` or ``class``, a parameter, a ``for``, ``with``,
``except``, ``match``, walrus or comprehension target, a ``global``) and it is no builtin,
the cell would stop with a ``NameError``: what was written is a value without its quotes
(a pasted ``.env`` line), to be judged as the rules judge it in text. The order of the
cells does not matter (they run in any order). A notebook whose names can come from
elsewhere (``from x import *``, ``%run``, ``%store -r``, ``exec``, ``globals()``,
``get_ipython()``) keeps every name a variable, and a cell that does not parse (one being
typed) counts as binding every word it holds.

Each cell is parsed as IPython runs it: its leading indentation removed, a Python cell
magic's line (``%%time``) skipped, shell lines, line magics and ``name?`` help lines read
as statements, and lines that are no Python at all (``// a comment``) left out. The
answer for a cell is remembered by a digest of its source (the source is not kept).
"""

from __future__ import annotations

import ast
import builtins
import re
import warnings
from collections.abc import Callable, Iterable
from typing import NamedTuple

from .codetext import is_text_line
from .memo import DigestMemo

#: Names every IPython kernel (and the usual hosted notebooks) defines before any cell.
_PREDEFINED = frozenset(dir(builtins)) | {
    "In",
    "Out",
    "get_ipython",
    "display",
    "exit",
    "quit",
    "_ih",
    "_oh",
    "_dh",
    "_i",
    "_ii",
    "_iii",
    "__",
    "___",
    "spark",
    "sc",
    "sqlContext",
    "dbutils",
    "displayHTML",
}
#: IPython's output and input history names: ``_``, ``_12``, ``_i12``.
_HISTORY_NAME = re.compile(r"_i?\d*")
#: Names whose use lets a cell bind names no statement shows.
_DYNAMIC_NAMES = frozenset(
    {
        "exec",
        "execfile",
        "eval",
        "globals",
        "locals",
        "vars",
        "get_ipython",
        "__builtins__",
        "builtins",
        "__main__",
    }
)
#: Line magics that bind names no statement shows (a script's, a stored value's).
_DYNAMIC_MAGICS = frozenset(
    {"run", "store", "pylab", "load", "macro", "paste", "cpaste", "recall", "rerun", "edit"}
)
#: The same, as a cell's text says them.
_DYNAMIC_TEXT = re.compile(
    r"\bimport[ \t(\\]*\*|%\s*(?:"
    + "|".join(sorted(_DYNAMIC_MAGICS))
    + r")\b|\b(?:"
    + "|".join(sorted(_DYNAMIC_NAMES))
    + r")\b"
)
#: Cell magics whose body is Python.
_PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug", "memit", "mprun"})
_CELL_MAGIC = re.compile(r"\A(?:[ \t]*\n)*[ \t]*%%(\w*)")
_LEADING_INDENT = re.compile(r"[ \t]+")
#: A line IPython reads before Python does: a shell line, a line magic, ``name?`` help,
#: or an assignment of one (``files = !ls``, ``timing = %timeit -o f()``).
_MAGIC_LINE = re.compile(r"([ \t]*)(?:[!%?]|[\w.]+\?\??[ \t]*$)")
_MAGIC_ASSIGNMENT = re.compile(r"([ \t]*)([\w.,()\[\] \t*]+?)[ \t]*=[ \t]*[!%]")
_MAGIC_NAME = re.compile(r"[ \t]*%+(\w+)")
_WORD = re.compile(r"(?!\d)\w+")
#: How many unparsable lines of a cell are read as IPython or left out before giving up.
_REPAIRS = 32
#: Cells larger than this are not parsed again after a first failure (their words count).
_REPAIR_LIMIT = 256 * 1024
#: Cells larger than this are not parsed at all (their words count).
_PARSE_LIMIT = 1024 * 1024
_KEPT = 8192
#: How many lines of a scan may bind a name their own cell does not before every cell is
#: read: a value rule's own check, which runs in between, rejects most of them.
FIRST_LOOKS = 16
_CELLS: DigestMemo[CellNames] = DigestMemo(_KEPT)


class CellNames(NamedTuple):
    """What one code cell says about names: those it may bind, whether it may bind names
    no statement shows, and the bare names it binds to a target (an assignment's, a
    keyword argument's or a dict's value), each as (UTF-8 byte position in the cell's
    source, name)."""

    binds: frozenset[str]
    dynamic: bool
    values: frozenset[tuple[int, str]]


def cell_names(source: str) -> CellNames:
    """What a Python code cell's ``source`` binds and which bare names it binds to a
    target (remembered by digest)."""
    return _CELLS.get(source, _analyse)


class NotebookNames:
    """The names a notebook's Python code cells bind, gathered when first needed: a scan
    asks only about a line of code where a rule for unquoted values has its trigger and a
    bare name is bound to a target; that name's own cell is parsed first, and the other
    cells only when the rule accepted the value, or when many lines ask (a notebook
    without such a line is never parsed)."""

    def __init__(self, sources: Callable[[], Iterable[str | None]]) -> None:
        """``sources``: gives each code cell's source (None for one that is no text)."""
        self._sources = sources
        self._binds: frozenset[str] | None = None
        self._dynamic = False
        self._cells: dict[int, tuple[str, CellNames]] = {}  # by id(): each cell once a scan
        self._first_looks = 0

    def _gather(self) -> frozenset[str]:
        if self._binds is None:
            binds: set[str] = set()
            for source in self._sources():
                if source is None:
                    self._dynamic = True
                    break
                names = cell_names(source)
                if names.dynamic:
                    self._dynamic = True
                    break
                binds |= names.binds
            self._binds = frozenset(binds)
        return self._binds

    def unbound_value(self, source: str, position: int, name: str, final: bool = True) -> bool:
        """Whether ``name`` at UTF-8 byte ``position`` of the code cell ``source`` is a
        bare name bound to a target that no cell of the notebook binds and no kernel
        defines: a value written without quotes. Not ``final``, a first look: True also
        for a name its own cell does not bind, until the other cells are read (after
        :data:`FIRST_LOOKS` such answers, or a final question)."""
        if not name.isidentifier() or name in _PREDEFINED or _HISTORY_NAME.fullmatch(name):
            return False
        known = self._cells.get(id(source))
        if known is None or known[0] is not source:
            known = self._cells[id(source)] = (source, cell_names(source))
        cell = known[1]
        if (position, name) not in cell.values or name in cell.binds:
            return False
        if not final and self._binds is None and self._first_looks < FIRST_LOOKS:
            self._first_looks += 1
            return True
        binds = self._gather()
        return not self._dynamic and name not in binds


def _words(source: str) -> CellNames:
    """A cell that is not read as Python: every word in it may be a name it binds, and
    any mention of a way to bind names unseen (``import *``, ``%run``, ``exec``) counts."""
    dynamic = _DYNAMIC_TEXT.search(source) is not None
    return CellNames(frozenset(_WORD.findall(source)), dynamic, frozenset())


def _analyse(source: str) -> CellNames:
    if len(source) > _PARSE_LIMIT:
        return _words(source)
    lines = source.split("\n")
    first = next((line for line in lines if line.strip()), "")
    indent = _LEADING_INDENT.match(first)
    removed = [0] * len(lines)
    if indent:  # IPython removes the first line's indentation from every line
        prefix = indent.group(0)
        for number, text in enumerate(lines):
            if text.startswith(prefix):
                lines[number], removed[number] = text[len(prefix) :], len(prefix)
    binds: set[str] = set()
    dynamic = False
    magic = _CELL_MAGIC.match("\n".join(lines))
    if magic:
        if magic.group(1) not in _PYTHON_CELL_MAGICS:
            return _words(source)  # a shell script, SQL, another language: not Python
        number = next(n for n, text in enumerate(lines) if text.strip())
        binds.update(_WORD.findall(lines[number]))  # %%capture output
        lines[number] = ""
    tree = None
    for _ in range(_REPAIRS):
        try:
            tree = _parse("\n".join(lines))
            break
        except SyntaxError as error:
            number = (error.lineno or 0) - 1
            if not 0 <= number < len(lines) or len(source) > _REPAIR_LIMIT:
                return _words(source)
            text = lines[number]
            assignment = _MAGIC_ASSIGNMENT.match(text)
            if assignment or _MAGIC_LINE.match(text):
                name = _MAGIC_NAME.match(text, assignment.end() - 1 if assignment else 0)
                dynamic = dynamic or bool(name and name.group(1) in _DYNAMIC_MAGICS)
                binds.update(_WORD.findall(text))  # %aimport x, %sc x=ls, %R -o x
                lines[number] = _as_statement(text)
            elif is_text_line(text):
                lines[number] = ""
            else:
                return _words(source)
        except (ValueError, RecursionError, MemoryError):
            return _words(source)
    if tree is None:
        return _words(source)
    # Where each line starts, in UTF-8 bytes of the source (its indentation included).
    starts = [0]
    for text in source.split("\n"):
        starts.append(starts[-1] + len(text.encode("utf-8", "surrogatepass")) + 1)
    offsets = [start + indent for start, indent in zip(starts[:-1], removed, strict=True)]
    values: set[tuple[int, str]] = set()
    for node in ast.walk(tree):
        dynamic = _collect(node, binds, values, offsets) or dynamic
    return CellNames(frozenset(binds), dynamic, frozenset(values))


def _as_statement(line: str) -> str:
    """An IPython line as a Python statement on the same line: ``files = !ls`` binds
    ``files``; a shell line, a magic or a help line does nothing."""
    assignment = _MAGIC_ASSIGNMENT.match(line)
    if assignment:
        return f"{assignment.group(1)}{assignment.group(2)} = None"
    return f"{_MAGIC_LINE.match(line).group(1)}pass"  # type: ignore[union-attr]


def _parse(code: str) -> ast.Module:
    if "\\" in code:  # an invalid escape warns while parsing
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(code)
    return ast.parse(code)


def _collect(
    node: ast.AST, binds: set[str], values: set[tuple[int, str]], offsets: list[int]
) -> bool:
    """Add the names ``node`` binds to ``binds`` and a bare name it binds to a target to
    ``values`` (``offsets``: where each line's parsed text starts in the source's bytes);
    whether it lets names appear that no statement shows."""
    if isinstance(node, ast.Name):
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            binds.add(node.id)
        return node.id in _DYNAMIC_NAMES
    if isinstance(node, ast.alias):
        if node.name == "*":
            return True
        binds.add(node.asname or node.name.partition(".")[0])
        return node.name in _DYNAMIC_NAMES
    if isinstance(node, ast.arg):
        binds.add(node.arg)
    elif isinstance(node, (ast.Global, ast.Nonlocal)):
        binds.update(node.names)
    elif isinstance(node, ast.MatchMapping):
        if node.rest:
            binds.add(node.rest)
    else:
        name = getattr(node, "name", None)  # def, class, except, match and type parameters
        if isinstance(name, str):
            binds.add(name)
    bound: list[ast.expr | None] = []
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.NamedExpr)) or (
        isinstance(node, ast.keyword) and node.arg is not None
    ):
        bound.append(node.value)
    elif isinstance(node, ast.Dict):
        bound.extend(value for key, value in zip(node.keys, node.values, strict=True) if key)
    for value in bound:
        if isinstance(value, ast.Name) and 0 < value.lineno <= len(offsets):
            values.add((offsets[value.lineno - 1] + value.col_offset, value.id))
    return False
