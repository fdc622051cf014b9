"""Which parts of a notebook's code cells are text, not code.

In code an unquoted ``password = open_sesame`` names a variable, so the rules for unquoted
values (``config_only``) skip code. But a code cell is not always code in its kernel's
language: a ``%%bash`` or ``%%writefile`` cell holds a shell script or a file's text, and a
cell that starts like an ``.ini`` file is one. There, as in Markdown, an unquoted value is
a value. Inside Python code, a line is text when it is a comment, a ``!`` shell line or a
``%`` line magic, or when it is not Python on its own (prose, ``echo "..."``, a line of a
docstring): a line that is Python, or part of a Python statement (an open bracket, a
closing one, a ``key: value`` of a dict), stays code, so a cell that does not parse as a
whole (an autosave while it is being typed) does not turn its variables into values.
A name that no code cell of the notebook binds is no variable either (see
:mod:`.codenames`).
"""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import Callable

from .memo import DigestMemo

#: Cell magics whose body is not Python (``%%capture``, ``%%time`` run Python).
_TEXT_CELL_MAGIC = re.compile(
    r"\A\s*%%(?:bash|sh|script|writefile|file|html|markdown|latex|svg|javascript|js|perl"
    r"|ruby|cmd|powershell|pwsh|sql|text|system|sx)\b"
)
#: An .ini file's start: a ``[section]`` line alone, then ``key=value`` or ``key: value``.
_INI_SECTION = re.compile(
    r"\A\s*\[[\w .:-]+\][ \t]*\n(?:[ \t]*(?:[;#][^\n]*)?\n)*[ \t]*[\w.-]+[ \t]*[=:]"
)
#: A line that is text inside code: a ``#`` comment, a ``!`` shell line, a ``%`` magic.
_TEXT_LINE = re.compile(r"^[ \t]*[#!%]")
#: One word of 16 or more letters and digits, alone on its line.
_GENERATED_NAME = re.compile(r"^[A-Za-z]\w{15,}$")
#: What a line that is only part of a statement says when parsed alone.
_INCOMPLETE = re.compile(
    r"was never closed|unexpected EOF|expected an indented block|unterminated triple"
    r"|expected ':'"
)
#: Kernel languages whose code cells are parsed as Python (IPython).
_PYTHON_LANGUAGES = frozenset({"python", "python3", "ipython", "ipython3", ""})
#: Answers by a digest of the text (the text itself is not kept).
_ANSWERS: DigestMemo[bool] = DigestMemo(4096)


def is_python_language(language: str) -> bool:
    """Whether code cells of a kernel in ``language`` are (I)Python."""
    return language.strip().lower() in _PYTHON_LANGUAGES


def _remembered(kind: bytes, text: str, answer_of: Callable[[str], bool]) -> bool:
    return _ANSWERS.get(text, answer_of, kind)


def source_is_text(source: str) -> bool:
    """Whether a Python notebook's code cell is text as a whole: a cell magic whose body is
    not Python (``%%bash``, ``%%writefile``), or an ``.ini`` file (``[section]`` alone on
    its first line, then ``key=value``), which parses as Python but is not."""
    return bool(_TEXT_CELL_MAGIC.match(source) or _INI_SECTION.match(source))


def is_text_line(line: str) -> bool:
    """Whether a line of (I)Python code is text: a comment, a shell line or a line magic,
    or a line that is not Python, nor part of a Python statement, on its own."""
    if _TEXT_LINE.match(line):
        return True
    stripped = line.strip()
    if not stripped:
        return False
    if _GENERATED_NAME.match(stripped) and sum(c.isdigit() for c in stripped) >= 4:
        return True  # a line of one generated word (a printed key): no variable's name
    return _remembered(b"line:", stripped, _not_python)


def _parses(code: str) -> bool:
    """Whether ``code`` parses, or only misses what follows it (a block, a bracket)."""
    try:
        if "\\" in code:  # an invalid escape warns while parsing (the filters are global:
            with warnings.catch_warnings():  # touched only then)
                warnings.simplefilter("ignore")
                ast.parse(code)
        else:
            ast.parse(code)
    except SyntaxError as error:
        return _INCOMPLETE.search(str(error.msg)) is not None
    except (ValueError, RecursionError, MemoryError):
        return False
    return True


def _not_python(line: str) -> bool:
    """A stripped line that is no Python statement, nor a piece of one: not as it is, not
    with its closing brackets or trailing ``,;:`` cut, and not inside brackets (a call's
    last argument, a dict's ``"key": value``)."""
    trimmed = line.rstrip(")]},;: \t")
    candidates = (line, trimmed, f"({trimmed})", f"{{{trimmed}}}", f"[{trimmed}]")
    return not any(candidate and _parses(candidate) for candidate in candidates)
