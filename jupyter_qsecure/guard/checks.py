"""Value checks that tell a credential from a placeholder, a reference, a hash or a word."""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections import Counter

_PLACEHOLDER_WHOLE = re.compile(
    r"""(?ix)^(?:
        [x*._#-]+ | 0+ | 1234\w* | abc(?:def|123)\w* |
        <[^>]*> | \[[^\]]*\] | \$\{[^}]*\} | \{\{[^}]*\}\} | \{[A-Za-z_][\w.-]*\} |
        %\([^)]*\)[sd]? | \$[A-Za-z_]\w* | \$\([^)]*\) | %[A-Z_]+% |
        none | null | nil | true | false | undefined | unset | empty | string | str | bytes |
        password | passwd | pass | pwd | secret | token | key | apikey | api_key | value | test | todo | tbd | fixme |
        hidden | masked | redacted | changeme | change_me | required | optional
    )$""",
)
_PLACEHOLDER_PART = re.compile(
    r"""(?ix)
        ^(?:your|my|insert|enter|replace|put|add|paste|set)(?:[-_ .]|(?=[a-z]+(?:[-_ .][a-z]+)*$)) |
        [-_ ](?:here|goes[-_ ]here)$ | _here\b |
        x{5,} | \*{3,} | \.{3} | … | example | sample | dummy | placeholder | redacted | \bxxx\b |
        likeareal |
        \$\{ | \{\{ | \}\} | <[a-z_ -]+> | %\(\w+\)[sdr] | a1b2c3d4 |
        (?<!\\)\{[A-Za-z_][\w.]*(?:\([^{}]*\))?(?:![rsa])?(?::[^{}]*)?\} |  # f"...{name}..."
        ^(?:os\.)?(?:environ|getenv|getpass|input|keyring|secrets?\.)
    """,
)
#: Template markers and masks: the only placeholders a URL's ``user:password@`` can hold,
#: since there even a weak word such as ``password`` is a working credential.
_TEMPLATE_WHOLE = re.compile(
    r"""(?ix)^(?:
        [x*._#-]+ | 0+ | <[^>]*> | \[[^\]]*\] | \$\{[^}]*\} | \{\{[^}]*\}\} | \{[A-Za-z_][\w.-]*\} |
        %\([^)]*\)[sd]? | \$[A-Za-z_]\w* | \$\([^)]*\) | %[A-Z_]+%
    )$""",
)
_TEMPLATE_PART = re.compile(
    r"""(?ix)
        ^(?:your|insert|enter|replace|paste)[-_ .]? | [-_ ](?:here|goes[-_ ]here)$ |
        ^[<{] | x{4,} | \*{3,} | … | placeholder | redacted | changeme | change_me |
        \$\{ | \{\{ | \}\} | <[a-z_ -]+> | %\(\w+\)[sdr] | a1b2c3d4
    """,
)
# Words joined by separators, including namespaced ids such as `jupyterlab:open-secrets`.
_WORDLIKE = re.compile(
    r"^[a-z]+(?:[-_.: ][a-z]+)*$|^[A-Z]+(?:[-_.: ][A-Z]+)*$|^[A-Z][a-z]+(?:[A-Z][a-z]+)*$"
)
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")
_DOTTED_NAME = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+(?:\(\))?$")
#: A long part with upper case, lower case and digits: generated, not a name someone typed.
_GENERATED_PART = re.compile(r"^(?=\w{20,}$)(?=.*[a-z])(?=.*[A-Z])(?=(?:.*\d){2})")
_CALL_OR_INDEX = re.compile(r"^[A-Za-z_][\w.]*\s*[(\[]")
_PATHLIKE = re.compile(r"^(?:[~.]?/|[A-Za-z]:\\|\w+://)")
_VERSION = re.compile(r"^v?\d+(?:\.\d+)+(?:[-+.]?\w+)?$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_HEX = re.compile(r"^[0-9a-fA-F]+$")


def shannon_entropy(value: str) -> float:
    """Bits of entropy per character of ``value``, as secret scanners compute it."""
    if not value:
        return 0.0
    counts = Counter(value)
    total = len(value)
    return -sum(count / total * math.log2(count / total) for count in counts.values())


def is_placeholder(value: str) -> bool:
    """True for values people write in place of a credential: ``YOUR_API_KEY``, ``xxxx``,
    ``<token>``, ``${VAR}``, ``changeme``, ``sk-...``."""
    stripped = value.strip().strip("'\"")
    if not stripped:
        return True
    if _PLACEHOLDER_WHOLE.match(stripped) or _PLACEHOLDER_PART.search(stripped):
        return True
    # One character repeated (aaaaaaaa, 00000000) or mostly typed runs (abcdef123456) is no secret.
    return len(set(stripped)) <= 2 or _mostly_typed_runs(stripped, strides=(1,))


def _next_in_order(previous: str, char: str, step: int) -> bool:
    """Whether ``char`` follows ``previous`` as a typist goes: the next letter or digit
    (``step`` 1) or the one before (``step`` -1), ``z`` to ``a`` and ``9`` to ``0`` too."""
    if not (previous.isalnum() and char.isalnum() and previous.isascii() and char.isascii()):
        return False
    if previous.isdigit() != char.isdigit():
        return False
    base, size = (ord("0"), 10) if char.isdigit() else (ord("a"), 26)
    return (ord(previous) - base + step) % size == ord(char) - base


def typed_sequence(value: str) -> bool:
    """True when three fifths of the value are runs in order read one character at a time
    or every other one (``a1B2c3D4``, ``X9y8Z7a6``): typed, not generated. For values
    without a provider's format (a bare token, a generic secret); a provider-prefixed
    test token such as ``ghp_`` with an interleaved body stays that provider's shape."""
    return _mostly_typed_runs(value.strip(), strides=(1, 2))


def _mostly_typed_runs(value: str, strides: tuple[int, ...]) -> bool:
    """True when three fifths of the value are runs such as ``abcdef``, ``123456`` or
    ``987`` (three or more letters or digits in order, up or down), read every
    ``stride`` characters: typed, not generated."""
    lowered = value.lower()
    if not lowered:
        return False
    in_run = [False] * len(lowered)
    for stride in strides:
        for step in (1, -1):
            for first in range(stride):
                chain = list(range(first, len(lowered), stride))
                start = 0
                for position in range(1, len(chain) + 1):
                    if position < len(chain) and _next_in_order(
                        lowered[chain[position - 1]], lowered[chain[position]], step
                    ):
                        continue
                    if position - start >= 3:
                        for index in chain[start:position]:
                            in_run[index] = True
                    start = position
    return sum(in_run) >= 0.6 * len(lowered)


def is_template_placeholder(value: str) -> bool:
    """The narrow placeholder test for credentials inside URLs and connection strings:
    only template markers and masks (``<password>``, ``{password}``, ``${PASS}``, ``xxxx``,
    ``****``, ``YOUR_PASSWORD``), because ``user:password@host`` is a working login."""
    stripped = value.strip().strip("'\"")
    if not stripped:
        return True
    if _TEMPLATE_WHOLE.match(stripped) or _TEMPLATE_PART.search(stripped):
        return True
    return len(set(stripped)) <= 2


def _is_dotted_name(value: str) -> bool:
    """``settings.api_key`` or ``os.environ.get()``; not a dotted token like Discord's."""
    if not _DOTTED_NAME.match(value):
        return False
    return not any(_GENERATED_PART.match(part) for part in value.removesuffix("()").split("."))


def is_reference(value: str) -> bool:
    """True when the value names a secret held elsewhere instead of holding it:
    an environment variable name, ``os.environ[...]``, a call, a dotted attribute."""
    return bool(
        _ENV_NAME.match(value)
        or _is_dotted_name(value)
        or _CALL_OR_INDEX.match(value)
        or value.startswith(("$", "%", "@", "!", "&", "*"))
    )


#: A password hashed for storage, in the formats that write one as text: the crypt family
#: (``$2b$12$...`` bcrypt, ``$argon2id$v=19$...``, ``$6$`` SHA-crypt, ``$y$`` yescrypt,
#: passlib's ``$pbkdf2-sha256$``), Jupyter's ``argon2:$argon2id$...`` and older
#: ``sha1:<salt>:<digest>`` (``jupyter_server.auth.passwd``), Werkzeug's
#: ``pbkdf2:sha256:600000$<salt>$<hex>`` and ``scrypt:32768:8:1$<salt>$<hex>``, and
#: Django's ``pbkdf2_sha256$<iterations>$<salt>$<base64>``. A hash is stored to check a
#: password against, not to log in with.
_PASSWORD_HASH = re.compile(
    r"""(?x)(?<![A-Za-z0-9$])(?:
        (?:argon2:|(?:argon2|bcrypt|bcrypt_sha256)\$)?
        \$(?:2[abxy]?|1|5|6|7|y|gy|apr1|md5|sha1|argon2(?:id|i|d)|pbkdf2(?:-sha\d+)?|scrypt)
        \$(?:[A-Za-z0-9+/.=,-]*\$){1,4}[A-Za-z0-9+/.]{16,}={0,2}
      | (?:md5|sha1|sha224|sha256|sha384|sha512):[0-9a-f]{8,64}:[0-9a-f]{32,128}
      | (?:pbkdf2:sha\d+(?::\d+)?|scrypt:\d+:\d+:\d+)\$[A-Za-z0-9]{4,64}\$[0-9a-f]{32,256}
      | (?:pbkdf2_sha256|pbkdf2_sha1)\$\d+\$[A-Za-z0-9]{4,64}\$[A-Za-z0-9+/]{20,}={0,2}
      | scrypt\$[A-Za-z0-9]{4,64}\$\d+\$\d+\$\d+\$[A-Za-z0-9+/]{20,}={0,2}
    )(?![A-Za-z0-9+/=$])"""
)
#: What a value found in text may be part of: no blank, quote or bracket.
_TOKEN_CHAR = re.compile(r"[^\s'\"`<>()\[\]{}]")


def is_password_hash(value: str) -> bool:
    """A password hashed for storage (bcrypt, Argon2, SHA-crypt, Jupyter's, Werkzeug's,
    Django's; see ``_PASSWORD_HASH``), not a password."""
    return _PASSWORD_HASH.fullmatch(value) is not None


def within_password_hash(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` lies inside a password hash written in ``text``: a
    digest or salt of one, found on its own by a rule that reads any random run."""
    left = start
    while left > 0 and start - left < 400 and _TOKEN_CHAR.match(text, left - 1):
        left -= 1
    right = end
    while right < len(text) and right - end < 400 and _TOKEN_CHAR.match(text, right):
        right += 1
    return any(
        found.start() <= start and end <= found.end()
        for found in _PASSWORD_HASH.finditer(text, left, right)
    )


def is_uuid(value: str) -> bool:
    """True for a UUID in its usual 8-4-4-4-12 hex form."""
    return bool(_UUID.match(value))


def looks_random(value: str, min_entropy: float = 3.0) -> bool:
    """A value that could be a generated credential: not a word, path, version, UUID or
    reference; mixed character classes (or long hex); enough entropy."""
    if is_placeholder(value) or is_reference(value):
        return False
    if (
        _WORDLIKE.match(value)
        or _PATHLIKE.match(value)
        or _VERSION.match(value)
        or _UUID.match(value)
    ):
        return False
    if " " in value:
        return False
    classes = sum(
        bool(re.search(pattern, value)) for pattern in ("[a-z]", "[A-Z]", "[0-9]", r"[^A-Za-z0-9]")
    )
    if classes < 2 and not (_HEX.match(value) and len(value) >= 32):
        return False
    return shannon_entropy(value) >= min_entropy


def is_jwt(value: str) -> bool:
    """True when the first two dot-separated parts decode to JSON objects, the first with ``alg``."""
    parts = value.split(".")
    if len(parts) < 3:
        return False
    try:
        header = json.loads(_b64url(parts[0]))
        payload = json.loads(_b64url(parts[1]))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return False
    return isinstance(header, dict) and "alg" in header and isinstance(payload, dict)


def _b64url(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
