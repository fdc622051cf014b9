"""The forms in which an injected value is recognised when code displays it by accident.

A value is found as is; base64 (standard and URL-safe, at each of the three byte
alignments it can take inside longer data); URL-encoded; hex; escaped as Python's ``repr``
and ``ascii`` write it, as a ``bytes`` repr writes it (``\\xc3\\xa9``), as JSON writes it
(ASCII or not, ``\\/`` too), as HTML/XML escaping writes it (``&amp;``, ``&#x27;``,
``&#39;``, ``&apos;``, an attribute with only ``&quot;`` escaped as ElementTree writes
it, other characters than ASCII as ``&#233;``), as YAML quotes it (``\\xE9``,
``\\u79D8``, ``''``) and as CSV and SQL quote it (``""``, ``''``). A multi-line value (a
PEM key, a JSON credential file) is also found line by line (LF and CRLF alike), and a
JSON document's string leaves each on their own (a service-account file loaded with
``json.loads`` and displayed), and so are the credentials inside a connection string (a
URL's password, its query parameters named like credentials, a ``password=`` setting):
libraries that parse it show them alone. A value with characters outside ASCII is also
found in the base64 and hex of its Latin-1 bytes (requests and aiohttp encode an HTTP
Basic authorization so). Hex is also found with ``:`` or a space between bytes (a
fingerprint, ``bytes.hex(" ")``), and a value that JSON escapes (a quote, a backslash, an
accent) in the base64 of its JSON escape too (a JWT's claims, Docker's auth header).
Transformations made on purpose (``upper()``, reversing, slicing, compression,
base32/base85, other encodings) are out of scope, and so is a YAML scalar folded across
lines (PyYAML folds at 80 columns).

Used by the masking in the kernel and by the guard on the server; stdlib only, as the
kernel side must import nothing heavy.
"""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import quote, quote_plus, unquote, unquote_plus, urlsplit

#: Values shorter than this are never injected without ``allow_short = true``: masking or
#: matching them would hit ordinary text.
MIN_SECRET_LENGTH = 8

_LINES = re.compile(r"\r\n|\r|\n")
#: HTML/XML escapings of the quotes: (double, single), by escaping convention.
_QUOTE_ESCAPES = (("&quot;", "&#x27;"), ("&#34;", "&#39;"), ("&quot;", "&apos;"))
#: YAML's double-quoted escapes (PyYAML's emitter); other characters outside printable
#: ASCII are written ``\xHH``, ``\uHHHH`` or ``\UHHHHHHHH``, in capitals.
_YAML_ESCAPES = {
    "\0": "0",
    "\x07": "a",
    "\x08": "b",
    "\t": "t",
    "\n": "n",
    "\x0b": "v",
    "\x0c": "f",
    "\r": "r",
    "\x1b": "e",
    '"': '"',
    "\\": "\\",
    "\x85": "N",
    "\xa0": "_",
    "\u2028": "L",
    "\u2029": "P",
}


def _yaml_double_quoted(value: str) -> str:
    """``value`` inside a YAML double-quoted scalar, as PyYAML writes it by default."""
    out = []
    for char in value:
        if char in _YAML_ESCAPES:
            out.append("\\" + _YAML_ESCAPES[char])
        elif " " <= char <= "~":
            out.append(char)
        elif char <= "\xff":
            out.append(f"\\x{ord(char):02X}")
        elif char <= "\uffff":
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(f"\\U{ord(char):08X}")
    return "".join(out)


def _base64_forms(raw: bytes) -> set[str]:
    """The base64 text that only ``raw``'s bytes decide, at each alignment and alphabet."""
    forms = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        for offset, drop in ((0, 0), (1, 2), (2, 3)):
            encoded = encode(b"\0" * offset + raw).decode("ascii").rstrip("=")[drop:]
            if (offset + len(raw)) % 3:
                encoded = encoded[:-1]  # its last character also depends on what follows
            forms.add(encoded)
    return forms


def _escaped_forms(value: str) -> set[str]:
    """``value`` as Python, JSON and HTML/XML escaping write it inside a longer string."""
    raw = value.encode("utf-8")
    forms = {
        repr(value)[1:-1],
        repr("\"'" + value)[4:-1],  # quoted with ': ' escaped
        ascii(value)[1:-1],
        ascii("\"'" + value)[4:-1],
        repr(raw)[2:-1],
        repr(b"\"'" + raw)[5:-1],
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
    }
    forms |= {form.replace("/", "\\/") for form in forms if "/" in form}
    basic = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    markup = {basic}
    for double, single in _QUOTE_ESCAPES:
        markup.add(basic.replace('"', double).replace("'", single))
    # Code shown in HTML (IPython's Code display, a repr in a <pre>): a Python or JSON
    # escape of the value, then escaped for HTML.
    for code in list(forms):
        escaped = code.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        if escaped != code:
            markup.add(escaped)
            for double, single in _QUOTE_ESCAPES:
                markup.add(escaped.replace('"', double).replace("'", single))
    # ElementTree's attributes: only the double quote, and white space by number.
    attribute = basic.replace('"', "&quot;").replace("\r", "&#13;").replace("\n", "&#10;")
    markup.add(attribute.replace("\t", "&#09;"))
    # XML written in ASCII (ElementTree's default) refers to other characters by number.
    markup |= {form.encode("ascii", "xmlcharrefreplace").decode("ascii") for form in markup}
    forms |= markup
    forms.add(_yaml_double_quoted(value))
    forms.add(value.replace('"', '""'))  # CSV
    forms.add(value.replace("'", "''"))  # YAML single-quoted, SQL
    return forms


def _forms_of_one(value: str) -> set[str]:
    raw = value.encode("utf-8")
    forms = {value, quote(value, safe=""), quote(value), quote_plus(value), raw.hex()}
    forms.add(raw.hex().upper())
    # Hex with a separator between bytes (``bytes.hex(":")``, ``binascii.hexlify(raw, " ")``,
    # a fingerprint's ``AB:CD``); a hex dump's lines are read in :mod:`.unfolding`.
    for separator in (":", " "):
        forms |= {raw.hex(separator), raw.hex(separator).upper()}
    forms |= _base64_forms(raw)
    # A value inside JSON that is then base64-encoded (a JWT's claims, Docker's
    # X-Registry-Auth header, a Kubernetes .dockerconfigjson): JSON escaped its quotes,
    # backslashes, control characters and (ASCII by default) its other characters first.
    for escaped in {json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}:
        if escaped != value:
            forms |= _base64_forms(escaped.encode("utf-8"))
    try:
        latin = value.encode("latin-1")
    except UnicodeEncodeError:
        latin = raw
    if latin != raw:  # HTTP Basic authorization (requests, aiohttp) encodes as Latin-1
        forms |= _base64_forms(latin) | {latin.hex(), latin.hex().upper()}
    forms |= _escaped_forms(value)
    return forms


def _json_leaves(value: str) -> list[str]:
    """The string leaves of ``value`` when it is a JSON object or array, else none."""
    if not value.lstrip().startswith(("{", "[")):
        return []
    try:
        document = json.loads(value)
    except ValueError:
        return []
    leaves: list[str] = []
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            leaves.append(item)
    return leaves


#: A URL, with what comes after its scheme up to white space or a quote.
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>]+")
#: Query parameters whose values are credentials (a signed URL's signature, an API key).
#: Judged by the name's last word (``api_key``, ``X-Amz-Signature``, ``sastoken``): a
#: name that only starts with one (``authSource``, ``authMechanism``, ``keyword``,
#: ``author``) holds a public setting, which masking would hide in every output and the
#: guard refuse in every notebook.
_CREDENTIAL_NAME = re.compile(
    r"[a-z]*(?:token|key|secret|password|passwd|passphrase|signature|credentials?|sig)"
    r"|pass|pwd|auth"
)
#: The words of a name: ``X-Amz-Signature``, ``apiKey``, ``API_KEY``.
_NAME_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+")


def _credential_name(name: str) -> bool:
    """Whether a query parameter's name says its value is a credential: its last word
    does."""
    words = _NAME_WORDS.findall(name)
    return bool(words) and _CREDENTIAL_NAME.fullmatch(words[-1].lower()) is not None


#: A ``password=`` setting of a key-value connection string (libpq's ``password=...``,
#: ODBC's ``Password=...;``), its value quoted or not.
_PASSWORD_SETTING = re.compile(
    r"(?i)(?<![A-Za-z0-9_])(?:password|passwd|pwd)\s*=\s*"
    r"(?:'((?:[^'\\]|\\.)*)'|\"([^\"]*)\"|([^\s;'\"]+))"
)


def _credentials(value: str) -> list[str]:
    """The credentials inside a connection string, as written and decoded: a URL's
    password (``postgresql://user:<password>@host/db``), its query parameters named like
    credentials (``?sig=...``, ``?api_key=...``) and a ``password=`` setting. SQLAlchemy's
    ``make_url(url).password``, ``urlsplit(url).password``, ``parse_qs`` and psycopg's
    ``conninfo_to_dict`` show them alone, where they are too short a run of the whole
    value to be masked as one."""
    found: list[str] = []
    for url in _URL.findall(value):
        try:
            split = urlsplit(url)
            password = split.password
        except ValueError:  # not a URL after all (a bracket that opens no IPv6 host)
            continue
        if password:
            found += [password, unquote(password)]
        for pair in split.query.split("&"):
            name, equals, written = pair.partition("=")
            if equals and written and _credential_name(unquote_plus(name)):
                found += [written, unquote_plus(written)]
    for match in _PASSWORD_SETTING.finditer(value):
        setting = next(group for group in match.groups() if group is not None)
        found += [setting, re.sub(r"\\(.)", r"\1", setting)]
    return found


def value_parts(value: str, minimum: int = MIN_SECRET_LENGTH) -> list[str]:
    """``value``, then the parts of it found on their own: each line of a multi-line value
    and each string leaf of a JSON value (and their lines), and the credentials inside a
    connection string in any of them (:func:`_credentials`), if at least ``minimum`` long."""
    parts = [value]
    pending = _json_leaves(value) + _LINES.split(value)
    for leaf in _json_leaves(value):
        pending += _LINES.split(leaf)
    pending += [found for text in [value, *pending] for found in _credentials(text)]
    for part in pending:
        stripped = part.strip()
        for candidate in (part, stripped):
            if len(candidate) >= minimum and candidate not in parts:
                parts.append(candidate)
    return parts


def encoded_forms(value: str, minimum: int = MIN_SECRET_LENGTH) -> list[str]:
    """Every form of ``value`` and of its parts (see :func:`value_parts`) at least
    ``minimum`` characters long, longest first, without duplicates.

    Base64 forms drop their padding and the characters that depend on the bytes around
    the value when it is embedded in more data."""
    forms: set[str] = set()
    for part in value_parts(value, minimum):
        forms |= _forms_of_one(part)
    return sorted((form for form in forms if len(form) >= minimum), key=len, reverse=True)
