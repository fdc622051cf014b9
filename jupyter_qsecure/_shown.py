"""Text from a file, as a report shows it: a notebook's fields (a signature's principal, a
cell id, a recorded path) are written by whoever last edited the file, so a report shows
them with control and invisible characters escaped, never raw: raw, an escape sequence
rewrote the terminal ("signed and valid; meets the policy", "every cell executed as
shown") and hid the real lines, and a bidirectional control reordered what a browser
showed. Standard library only, and ``unicodedata`` only for text beyond ASCII (the fast
command line imports this)."""

from __future__ import annotations

from os import PathLike, fsdecode
from sys import maxsize

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["LOGGED_FIELD", "SHOWN_FIELD", "logged", "shown", "shown_json", "shown_path", "unseen"]

#: The most characters of one field a report shows (a principal, a role, a cell id).
SHOWN_FIELD = 200
#: The most characters of one value a log line shows (a path, a name, an error).
LOGGED_FIELD = 1000


def unseen(text: str) -> bool:
    """Whether ``text`` holds a character a reader cannot see as it is: control characters
    (ESC, CR, LF, DEL), format characters (zero-width, bidirectional controls), surrogates,
    private-use or unassigned code points, separators (space included)."""
    if text.isascii():
        return not text.isprintable() or " " in text
    import unicodedata

    return any(unicodedata.category(c)[0] in "CZ" for c in text)


def shown(text: str, limit: int = SHOWN_FIELD) -> str:
    """``text`` as a report may print it: every control, invisible or separator character
    but the plain space escaped as Python writes it (``\\x1b``, ``\\u202e``), and cut to
    ``limit`` characters with a note of how many more there were."""
    if text.isascii() and text.isprintable() and len(text) <= limit:
        return text
    import unicodedata

    escaped = "".join(
        c if c == " " or unicodedata.category(c)[0] not in "CZ" else repr(c)[1:-1] for c in text
    )
    if len(escaped) > limit:
        escaped = f"{escaped[:limit]}... ({len(escaped) - limit} more characters)"
    return escaped


def shown_path(path: str | PathLike[str] | bytes) -> str:
    """A path as a report line names it: :func:`shown`, never cut. A command given many
    files (``verify notebooks/*.ipynb``) names each as it was found, and a file name may
    hold a line break: raw, ``x.ipynb\\nreview.ipynb: signed and valid; ...; meets the
    policy`` wrote a verdict line of its own under the real one."""
    return shown(fsdecode(path), maxsize)


def logged(value: object) -> str:
    """``value`` as a log line interpolates it: what a request, a notebook or a kernel
    chose (a path, a kernel, user or secret name, a header, an error quoting one),
    :func:`shown` and cut at :data:`LOGGED_FIELD` characters. Raw, a newline in a file
    name wrote a line of its own into the server log (``a\\nWARNING qsecure: signature
    ok``) and an escape sequence rewrote the terminal of whoever read it."""
    return shown(str(value), LOGGED_FIELD)


def shown_json(value: Any, limit: int) -> Any:
    """A copy of a JSON value with every string (keys included) :func:`shown`."""
    if isinstance(value, str):
        return shown(value, limit)
    if isinstance(value, dict):
        return {shown_json(k, limit): shown_json(v, limit) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [shown_json(item, limit) for item in value]
    return value
