"""A path's names as the guard scans them: a token pasted as a file or folder name sits in
directory listings, git, the audit trail and logs, as the same token in a cell would.

Each name of the path is scanned as it is and percent-decoded (a name that holds a token
only once decoded: ``ghp%5F...``, or a URL pasted as a name); each of these also with a
line break at a separator (``_ - .``, a space) after a long run of letters and digits, and
before a token's fixed prefix glued to a word, so that a token glued to the rest of the
name (``ghp_..._notes.txt``, ``runghp_...``) stands alone. The fragments name the place: the file name, the folder name (a new folder), or a
folder name in its path. What a refusal, a log line or an audit event shows of a path has
every value found written as its masked preview.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import unquote

from .findings import FILE_NAME, FOLDER_NAME, PARENT_NAME
from .walker import Fragment

#: How many rounds of percent-decoding a name gets (``%255F`` is ``_`` after two).
DECODING_ROUNDS = 4

#: A separator after a run long enough to end a token (a token's own prefix, ``ghp_``,
#: ``sk-ant-``, is shorter).
_TOKEN_TAIL = re.compile(r"(?<=[A-Za-z0-9]{16})[_.\- ]+")


def decoded_forms(text: str) -> list[str]:
    """``text`` and each distinct form percent-decoding gives it, round after round."""
    forms = [text]
    for _ in range(DECODING_ROUNDS):
        decoded = unquote(forms[-1])
        if decoded == forms[-1]:
            break
        forms.append(decoded)
    return forms


def fully_decoded(text: str) -> str:
    """``text`` after every round of percent-decoding."""
    return decoded_forms(text)[-1]


def name_forms(name: str, unglued: Callable[[str], str] | None = None) -> list[str]:
    """The texts one name is scanned as: each decoded form as it is and cut where a token
    may end or, with ``unglued`` (a line break before each token prefix glued to a word),
    begin."""
    forms: list[str] = []
    for form in decoded_forms(name):
        cut = _TOKEN_TAIL.sub("\n", form)
        for text in (form, cut, unglued(cut) if unglued is not None else cut):
            if text.strip() and text not in forms:
                forms.append(text)
    return forms


def name_fragments(
    path: str, *, directory: bool = False, unglued: Callable[[str], str] | None = None
) -> list[Fragment]:
    """The fragments of every name in ``path`` (relative to the server root, ``/``
    separated); its last name is a folder's when ``directory``; ``unglued`` as for
    :func:`name_forms`."""
    names = [name for name in path.strip("/").split("/") if name]
    fragments: list[Fragment] = []
    for index, name in enumerate(names):
        last = index == len(names) - 1
        place = (FOLDER_NAME if directory else FILE_NAME) if last else PARENT_NAME
        fragments += [Fragment(text, place) for text in name_forms(name, unglued)]
    return fragments


def shown_path(path: str, masked: Callable[[str], str] | None) -> str:
    """``path`` with each name that holds a value ``masked`` replaces written decoded,
    that value as its preview (the others as they are)."""
    if masked is None:
        return path
    shown = []
    for name in path.split("/"):
        replaced = masked(name)
        if replaced == name:
            decoded = fully_decoded(name)
            replaced = masked(decoded)
            if replaced == decoded:
                replaced = name
        shown.append(replaced)
    return masked("/".join(shown))  # a value spelled across names
