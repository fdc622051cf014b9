"""Which parts of a notebook's code cells are text, not code.

In code an unquoted ``password = open_sesame`` names a variable, so the rules for unquoted
values (``config_only``) skip code. But a code cell is not always code in its kernel's
language: a ``%%bash`` or ``%%writefile`` cell holds a shell script or a file's text, and a
cell of prose, of ``.env`` lines or of an indented snippet does not even parse. There, as
in Markdown, an unquoted value is a value. Inside Python code, a comment, a ``!`` shell
line and a ``%`` line magic are text too.
"""

from __future__ import annotations

import ast
import hashlib
import re
import threading
import warnings

#: Cell magics whose body is not Python (``%%capture``, ``%%time`` run Python).
_TEXT_CELL_MAGIC = re.compile(
    r"\A\s*%%(?:bash|sh|script|writefile|file|html|markdown|latex|svg|javascript|js|perl"
    r"|ruby|cmd|powershell|pwsh|sql|text|system|sx)\b"
)
#: An .ini file's start: a ``[section]`` line alone, then ``key=value`` or ``key: value``.
_INI_SECTION = re.compile(
    r"\A\s*\[[\w .:-]+\][ \t]*\n(?:[ \t]*(?:[;#][^\n]*)?\n)*[ \t]*[\w.-]+[ \t]*[=:]"
)
#: IPython lines that are not Python: ``!cmd``, ``%magic``, ``%%magic``, ``obj?``.
_IPYTHON_LINE = re.compile(r"(?m)^([ \t]*)(?:[!%].*|[\w.]+\?\??)$")
#: A line that is text inside code: a ``#`` comment, a ``!`` shell line, a ``%`` magic.
_TEXT_LINE = re.compile(r"^[ \t]*[#!%]")
#: Kernel languages whose code cells are parsed as Python (IPython).
_PYTHON_LANGUAGES = frozenset({"python", "python3", "ipython", "ipython3", ""})


def is_python_language(language: str) -> bool:
    """Whether code cells of a kernel in ``language`` are (I)Python."""
    return language.strip().lower() in _PYTHON_LANGUAGES


#: Answers of :func:`source_is_text` by a digest of the source (the text is not kept).
_ANSWERS: dict[bytes, bool] = {}
_ANSWERS_KEPT = 4096
_ANSWERS_LOCK = threading.Lock()


def source_is_text(source: str) -> bool:
    """Whether a Python notebook's code cell is text: a cell magic whose body is not Python
    (``%%bash``, ``%%writefile``), or a source that does not parse as Python once IPython's
    own lines (``!ls``, ``%env``, ``obj?``) are set aside. Remembered by a digest of the
    source: an autosave parses only the cells that changed."""
    key = hashlib.blake2b(source.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    answer = _ANSWERS.get(key)
    if answer is None:
        answer = _source_is_text(source)
        with _ANSWERS_LOCK:
            if len(_ANSWERS) >= _ANSWERS_KEPT:
                _ANSWERS.clear()
            _ANSWERS[key] = answer
    return answer


def _source_is_text(source: str) -> bool:
    if _TEXT_CELL_MAGIC.match(source):
        return True
    if source.lstrip().startswith("%%"):
        return False  # another cell magic (``%%time``, ``%%capture``): Python below it
    if _INI_SECTION.match(source):
        return True  # ``[section]`` then ``key=value``: parses, but is an .ini file
    code = _IPYTHON_LINE.sub(r"\1pass", source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escapes warn while parsing
            ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return True
    return False


def is_text_line(line: str) -> bool:
    """Whether a line of (I)Python code is text: a comment, a shell line or a line magic."""
    return _TEXT_LINE.match(line) is not None
