"""Other readings of a text, scanned beside it: what a reader sees where the bytes differ.

- **Invisible characters.** A zero-width space, a soft hyphen or a word joiner, pasted
  from a chat, a web page or a word processor into ``pass\u200bword: ...``, hides the
  name from every rule and is invisible on screen: the text without them is read too.
- **HTML as shown.** ``<b>Password</b>: ...``, ``api_key = &quot;...&quot;`` in a
  ``<pre>``, code highlighted by Pygments (each token in its ``<span>``), ``&amp;``
  between a URL's parameters: the text a browser shows (tags out, entities decoded) is
  read too, line by line as written.
- **data: URIs.** A download link built in a cell (``<a href="data:text/plain;base64,...">``)
  or a Markdown link carries a whole file: a text one is decoded and read.
- **A prompt's answer.** JupyterLab saves what was typed into ``input()`` as a ``stdin``
  stream output: the prompt, a space, the value (``getpass()`` saves dots). After a prompt
  asking for a password or a key, the value is read as bound to that name.

A reading keeps the lines of the text it comes from (a finding's line is the one shown),
and only what it finds beyond the text itself is reported (see ``Engine.scan``).
"""

from __future__ import annotations

import base64
import binascii
import html
import re
from urllib.parse import unquote

from .syntax import FOREIGN_PASSWORD_WORDS

#: Where a text needs another reading (bytes, for the engine's pass over the buffer): short
#: literals, since Hyperscan compiles them with every rule's trigger.
MARKERS: tuple[tuple[str, bool], ...] = (
    (r"\xe2\x80[\x8b-\x8d]|\xe2\x81\xa0|\xc2\xad|\xef\xbb\xbf", False),
    (r"&quot;|&#|&amp;|&lt;|&gt;|&apos;|&nbsp;", False),
    (
        r"<span|<b>|<strong|<code|<em>|<i>|<a |<font|<mark|<kbd|<tt>|<u>|<s>|<sub>|<sup>"
        r"|<small|<label|<q>|<var>",
        False,
    ),
    (r"data:", False),
)
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\u00ad\ufeff"))
_TAG = re.compile(r"<[^<>]*>")
_BLOCK_TAG = re.compile(
    r"</?(?:td|th|tr|table|thead|tbody|div|p|br|li|ul|ol|pre|h\d|hr|dt|dd|blockquote)\b",
    re.IGNORECASE,
)
_HTML = re.compile(
    r"&(?:quot|apos|amp|lt|gt|nbsp|#\d{1,6}|#x[0-9a-f]{1,6});|<[a-z][a-z0-9]*[\s>/]",
    re.IGNORECASE,
)
_DATA_URI = re.compile(
    r"data:(?P<mime>[a-z0-9.+/-]{0,80})(?P<params>(?:;[a-z0-9.+-]+=[^;,\s\"'<>)]{0,40})*)"
    r"(?P<b64>;base64)?,(?P<payload>[^\s\"'<>)\]]{8,})",
    re.IGNORECASE,
)
_TEXT_MIME = re.compile(
    r"(?:text/[a-z0-9.+-]+|application/(?:json|xml|x-yaml|yaml|toml|x-sh|x-python|javascript"
    r"|octet-stream|x-www-form-urlencoded|[a-z0-9.+-]*\+(?:json|xml))|image/svg\+xml)?",
    re.IGNORECASE,
)
#: A data URI larger than this is not decoded (text files to download are small).
MAX_DATA_URI = 1024 * 1024


def without_invisible(text: str) -> str:
    """``text`` without zero-width spaces, joiners, soft hyphens and stray byte order marks."""
    return text.translate(_INVISIBLE)


def _tag_replacement(match: re.Match[str]) -> str:
    tag = match.group()
    newlines = "\n" * tag.count("\n")
    return newlines or (" " if _BLOCK_TAG.match(tag) else "")


def shown_html(text: str) -> str:
    """The text a browser shows of HTML ``text``: tags removed (a block's as a space),
    entities decoded; its lines stay where they were."""
    stripped = _TAG.sub(_tag_replacement, text)
    return "\n".join(html.unescape(line).replace("\n", " ") for line in stripped.split("\n"))


def _payload_text(match: re.Match[str]) -> str | None:
    """The text a data URI carries, or None (an image, binary data, not text)."""
    if not _TEXT_MIME.fullmatch(match.group("mime")):
        return None
    payload = match.group("payload")
    if len(payload) > MAX_DATA_URI:
        return None
    if match.group("b64"):
        payload = unquote(payload)
        try:
            raw = base64.b64decode(payload + "=" * (-len(payload) % 4), validate=False)
        except (binascii.Error, ValueError):
            return None
    else:
        raw = unquote(payload).encode("utf-8", "surrogatepass")
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if "\x00" in decoded else decoded


def data_uri_texts(text: str) -> list[str]:
    """The text files carried by ``text``'s data URIs, each placed at the line of its URI."""
    readings = []
    for match in _DATA_URI.finditer(text):
        decoded = _payload_text(match)
        if decoded:
            readings.append("\n" * text.count("\n", 0, match.start()) + decoded)
    return readings


_NEEDS_READING = re.compile(
    "|".join(marker for marker, _ in MARKERS[1:]) + "|[\u200b-\u200d\u2060\u00ad\ufeff]"
)


def needs_reading(text: str) -> bool:
    """Whether ``text`` may read otherwise (a first look: :func:`readings` says for sure)."""
    return _NEEDS_READING.search(text) is not None


_PROMPT_WORD = re.compile(
    r"passw|passphrase|pwd|passcode|secret|token|api[ _-]?key|access[ _-]?key|credential|"
    + FOREIGN_PASSWORD_WORDS,
    re.IGNORECASE,
)
_PASSWORD_PROMPT = re.compile(r"pass|pwd|" + FOREIGN_PASSWORD_WORDS, re.IGNORECASE)


def prompt_answers(text: str) -> str | None:
    """The values typed after prompts asking for a credential (a ``stdin`` stream's
    lines, see the module), each as ``"password": "..."`` or ``"api_key": "..."`` on its
    line; None when no line is one."""
    lines = text.split("\n")
    found = False
    for number, line in enumerate(lines):
        word = _PROMPT_WORD.search(line)
        lines[number] = ""
        if word is None:
            continue
        # JupyterLab writes the prompt, a space, the value: a prompt ending in a space
        # ("Password: ") leaves two spaces before the value.
        rest = line[word.end() :]
        if "  " in rest:
            value = rest[rest.rindex("  ") :].strip()
        else:
            ends = [found.end() for found in re.finditer(r"[:?>=：]\s", rest)]
            cut = ends[-1] if ends else rest.find(" ") + 1
            value = rest[cut:].strip() if cut > 0 else ""
        if value:
            name = "password" if _PASSWORD_PROMPT.search(word.group()) else "api_key"
            lines[number] = f'"{name}": "{value}"'
            found = True
    return "\n".join(lines) if found else None


def readings(text: str) -> list[str]:
    """The other readings of ``text`` (see the module): each differs from it."""
    found = []
    base = without_invisible(text)
    if base != text:
        found.append(base)
    if "data:" in base.lower():
        found.extend(data_uri_texts(base))
    if ("<" in base or "&" in base) and _HTML.search(base):
        shown = shown_html(base)
        if shown != base:
            found.append(shown)
    return found
