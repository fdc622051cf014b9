"""Who may sign: git's and ``ssh-keygen``'s allowed_signers file, revocation lists, trust.

An allowed_signers file (``ssh-keygen(1)``, section ALLOWED SIGNERS) has one signer per
line::

    principals [options] keytype base64-key [comment]

``principals`` is a comma-separated pattern list (``*`` and ``?`` wildcards, ``!`` to
exclude, as in ``ssh_config(5)`` PATTERNS); options are comma-separated, without spaces
except inside double quotes: ``cert-authority``, ``namespaces="a,b"`` (a pattern list),
``valid-after="YYYYMMDD[HHMM[SS]][Z]"`` and ``valid-before=...`` (local time unless
suffixed with ``Z``; both bounds inclusive). Blank lines and lines starting with ``#``
are comments.

:func:`trust` answers the same question as ``ssh-keygen -Y verify`` for a signature that
already verified (:func:`jupyter_qsecure.signing.sshsig.verify`): is this key allowed to
sign in this namespace, for this principal, at this time? It is stricter in one way: the
validity window must contain both the time the signature claims it was made and now.
Certificates (``cert-authority`` lines) are parsed but never trusted: signatures are
made with plain keys here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

from .sshsig import SignatureError, public_key_from_openssh

__all__ = [
    "AllowedSigner",
    "AllowedSignersError",
    "TrustVerdict",
    "load_allowed_signers",
    "load_revoked_keys",
    "match_pattern_list",
    "parse_allowed_signers",
    "parse_revoked_keys",
    "trust",
]

_KRL_MAGIC = b"SSHKRL\n\0"
_KEY_TYPE = re.compile(r"(?:ssh|ecdsa|sk|rsa|webauthn)-[A-Za-z0-9@._+-]*")
_TIME = re.compile(r"(\d{8})(\d{4}(\d{2})?)?(Z|UTC)?", re.IGNORECASE)
_VALUE_OPTIONS = ("namespaces", "valid-after", "valid-before")
_OPTIONS_HELP = 'cert-authority, namespaces="...", valid-after="...", valid-before="..."'
_LINE_FORMAT = "principals [options] keytype base64-key [comment]"

#: Builds the error for the line being parsed, from what is wrong with it.
_Fail = Callable[[str], "AllowedSignersError"]


class AllowedSignersError(ValueError):
    """An allowed_signers or revocation file that cannot be used.

    The message names the file and, for a bad line, its number and what is wrong
    (``allowed_signers:3: ...``); ``source`` and ``line`` hold them too.
    """

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None):
        where = source if line is None else f"{source or 'allowed_signers'}:{line}"
        super().__init__(f"{where}: {message}" if where else message)
        self.source = source
        self.line = line


@dataclass(frozen=True)
class AllowedSigner:
    """One line of an allowed_signers file.

    ``principals`` and ``namespaces`` are pattern lists as written (``None``: the line
    has no ``namespaces`` option, so every namespace is allowed); ``public_key`` is the
    key's SSH wire blob; ``valid_after``/``valid_before`` are timezone-aware; ``line`` is
    the 1-based line number in its file.
    """

    principals: tuple[str, ...]
    public_key: bytes
    namespaces: tuple[str, ...] | None
    valid_after: datetime | None
    valid_before: datetime | None
    cert_authority: bool
    line: int


@dataclass(frozen=True)
class TrustVerdict:
    """Whether a key may sign: ``trusted``, the ``principals`` it signs as, and why."""

    trusted: bool
    principals: tuple[str, ...]
    reason: str


# --------------------------------------------------------------------------- patterns


@lru_cache(maxsize=512)
def _pattern(pattern: str) -> re.Pattern[str]:
    parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern]
    return re.compile("".join(parts), re.DOTALL)


def match_pattern_list(value: str, patterns: Iterable[str]) -> bool:
    """Whether ``value`` matches a pattern list, as OpenSSH's ``match_pattern_list``.

    Patterns use ``*`` (any characters) and ``?`` (one character) and match the whole
    value, case-sensitively. A pattern starting with ``!`` excludes: if it matches, the
    answer is False whatever else matches. Otherwise True when some pattern matches.
    """
    positive = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        if _pattern(pattern[1:] if negated else pattern).fullmatch(value):
            if negated:
                return False
            positive = True
    return positive


# --------------------------------------------------------------------------- parsing


def parse_allowed_signers(text: str, source: str = "allowed_signers") -> list[AllowedSigner]:
    """Parse the text of an allowed_signers file; ``source`` names it in errors.

    Raises :class:`AllowedSignersError` for the first bad line, naming ``source``, the
    line number and what is wrong.
    """
    signers = []
    for number, raw in enumerate(text.split("\n"), start=1):
        signer = _parse_line(raw, source, number)
        if signer is not None:
            signers.append(signer)
    return signers


def load_allowed_signers(path: Path) -> list[AllowedSigner]:
    """Read and parse an allowed_signers file (git's ``gpg.ssh.allowedSignersFile``).

    Raises :class:`AllowedSignersError` when it cannot be read or has a bad line.
    """
    return parse_allowed_signers(_read_text(Path(path), "allowed_signers"), source=str(path))


def parse_revoked_keys(text: str, source: str = "revoked_keys") -> set[bytes]:
    """The key blobs of a revocation list: OpenSSH public keys, one a line (``#`` comments)."""
    keys = set()
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            keys.add(public_key_from_openssh(line))
        except SignatureError as error:
            raise AllowedSignersError(
                f"not an OpenSSH public key line: {error}", source=source, line=number
            ) from None
    return keys


def load_revoked_keys(path: Path) -> set[bytes]:
    """Read a revocation list of public keys in OpenSSH format, one per line.

    OpenSSH's binary KRL format is refused with an :class:`AllowedSignersError` saying so,
    as is any unreadable file or bad line.
    """
    path = Path(path)
    try:
        head = path.read_bytes()[: len(_KRL_MAGIC)]
    except OSError as error:
        raise AllowedSignersError(
            f"cannot read the revoked keys file: {error.strerror or error}", source=str(path)
        ) from None
    if head == _KRL_MAGIC:
        raise AllowedSignersError(
            "this is an OpenSSH KRL (binary key revocation list), which is not supported; "
            "list the revoked public keys instead, one OpenSSH public key line each",
            source=str(path),
        )
    return parse_revoked_keys(_read_text(path, "revoked keys"), source=str(path))


def _read_text(path: Path, kind: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise AllowedSignersError(
            f"cannot read the {kind} file: {error.strerror or error}", source=str(path)
        ) from None
    except UnicodeDecodeError:
        raise AllowedSignersError(f"the {kind} file is not UTF-8 text", source=str(path)) from None


def _parse_line(raw: str, source: str, number: int) -> AllowedSigner | None:
    def fail(message: str) -> AllowedSignersError:
        return AllowedSignersError(message, source=source, line=number)

    line = raw.strip(" \t\r\n")
    if not line or line.startswith("#"):
        return None
    # principals: up to the first blank, or a double-quoted field
    if line.startswith('"'):
        close = line.find('"', 1)
        if close < 0:
            raise fail("the quoted principals field has no closing double quote")
        field, rest = line[1:close], line[close + 1 :]
        if rest and rest[0] not in " \t":
            raise fail("expected a blank after the quoted principals field")
    else:
        parts = re.split(r"[ \t]+", line, maxsplit=1)
        field, rest = parts[0], parts[1] if len(parts) > 1 else ""
    rest = rest.lstrip(" \t")
    if not rest:
        raise fail(f"expected '{_LINE_FORMAT}', found only {line[:60]!r}")
    principals = tuple(field.split(","))
    if not field or any(p in ("", "!") for p in principals):
        raise fail(f"empty principal in {field!r}: separate principals with single commas")

    options = ""
    if not _KEY_TYPE.fullmatch(rest.split(None, 1)[0]):
        options, rest = _split_options(rest, fail)
        rest = rest.lstrip(" \t")
        if not rest:
            raise fail(f"missing key after the options; expected '{_LINE_FORMAT}'")
    try:
        public_key = public_key_from_openssh(rest)
    except SignatureError as error:
        raise fail(f"invalid key: {error}") from None

    cert_authority, values = _parse_options(options, fail)
    namespaces = None
    if "namespaces" in values:
        value = values["namespaces"]
        namespaces = tuple(value.split(",")) if value else ()
    valid_after = _parse_time(values, "valid-after", fail)
    valid_before = _parse_time(values, "valid-before", fail)
    if valid_after is not None and valid_before is not None and valid_before <= valid_after:
        raise fail('the "valid-before" time is not after the "valid-after" time')
    return AllowedSigner(
        principals=principals,
        public_key=public_key,
        namespaces=namespaces,
        valid_after=valid_after,
        valid_before=valid_before,
        cert_authority=cert_authority,
        line=number,
    )


def _split_options(rest: str, fail: _Fail) -> tuple[str, str]:
    """The options field (up to the first blank outside double quotes) and what follows."""
    quoted = False
    index = 0
    while index < len(rest):
        char = rest[index]
        if quoted and char == "\\" and rest[index + 1 : index + 2] == '"':
            index += 2
            continue
        if char == '"':
            quoted = not quoted
        elif char in " \t" and not quoted:
            return rest[:index], rest[index:]
        index += 1
    if quoted:
        raise fail("an option value has no closing double quote")
    return rest, ""


def _parse_options(options: str, fail: _Fail) -> tuple[bool, dict[str, str]]:
    cert_authority = False
    values: dict[str, str] = {}
    index = 0
    while index < len(options):
        tail = options[index:]
        flag = re.match(r"cert-authority(?=,|$)", tail, re.IGNORECASE)
        named = re.match(r"([A-Za-z-]+)=", tail)
        if flag:
            if cert_authority:
                raise fail('multiple "cert-authority" options')
            cert_authority = True
            index += flag.end()
        elif named and named.group(1).lower() in _VALUE_OPTIONS:
            name = named.group(1).lower()
            if name in values:
                raise fail(f'multiple "{name}" options')
            index += named.end()
            if options[index : index + 1] != '"':
                raise fail(f'the value of {name} must be in double quotes: {name}="..."')
            value, index = _dequote(options, index, name, fail)
            values[name] = value
        else:
            unknown = tail.split(",", 1)[0]
            raise fail(f"unknown option {unknown!r}; the options are {_OPTIONS_HELP}")
        if index == len(options):
            break
        if options[index] != ",":
            raise fail(
                f"unexpected {options[index:]!r} after an option; "
                "separate options with commas, without spaces"
            )
        index += 1
        if index == len(options):
            raise fail("the options end with a comma")
    return cert_authority, values


def _dequote(text: str, index: int, name: str, fail: _Fail) -> tuple[str, int]:
    """The double-quoted value starting at ``text[index]`` (``\\"`` is a quote) and the
    index after its closing quote."""
    out = []
    index += 1
    while index < len(text):
        char = text[index]
        if char == "\\" and text[index + 1 : index + 2] == '"':
            out.append('"')
            index += 2
            continue
        if char == '"':
            return "".join(out), index + 1
        out.append(char)
        index += 1
    raise fail(f"the value of {name} has no closing double quote")


def _parse_time(values: dict[str, str], name: str, fail: _Fail) -> datetime | None:
    text = values.get(name)
    if text is None:
        return None
    match = _TIME.fullmatch(text)
    problem = f'invalid "{name}" time {text!r}: use YYYYMMDD[Z] or YYYYMMDDHHMM[SS][Z]'
    if match is None:
        raise fail(problem)
    digits = (match.group(1) + (match.group(2) or "")).ljust(14, "0")
    year, month, day, hour, minute, second = (
        int(digits[start:end])
        for start, end in ((0, 4), (4, 6), (6, 8), (8, 10), (10, 12), (12, 14))
    )
    try:
        moment = datetime(year, month, day, hour, minute, second)
    except ValueError:
        raise fail(problem) from None
    if match.group(4):
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone()  # local time, as ssh-keygen reads it


# --------------------------------------------------------------------------- trust


def _key_type(blob: bytes) -> str:
    size = int.from_bytes(blob[:4], "big")
    return blob[4 : 4 + size].decode("utf-8", "replace")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.astimezone()


def _show(moment: datetime) -> str:
    if (moment.hour, moment.minute, moment.second, moment.microsecond) == (0, 0, 0, 0):
        return moment.strftime("%Y-%m-%d")
    return moment.isoformat(sep=" ")


def _window_problem(signer: AllowedSigner, moments: Sequence[datetime]) -> str | None:
    for moment in moments:
        if signer.valid_after is not None and moment < signer.valid_after:
            return f"key not valid before {_show(signer.valid_after)}"
        if signer.valid_before is not None and moment > signer.valid_before:
            return f"key expired {_show(signer.valid_before)}"
    return None


def trust(
    signers: Sequence[AllowedSigner],
    public_key: bytes,
    namespace: str,
    *,
    signed_at: datetime,
    now: datetime,
    principal: str | None = None,
    revoked: AbstractSet[bytes] = frozenset(),
) -> TrustVerdict:
    """Whether ``public_key`` may sign in ``namespace`` (as ``principal``, if given).

    Trusted when the key is not ``revoked`` and some non-``cert-authority`` line lists it
    whose principals match ``principal`` (any principal when None), whose ``namespaces``
    (if any) match ``namespace``, and whose validity window contains both ``signed_at``
    and ``now`` (bounds inclusive; naive datetimes are local time). The verdict's
    ``principals`` are ``(principal,)`` or, without one, the patterns of every matching
    line. Reasons when not trusted: "key revoked", "unknown key", "principal P is not
    allowed this key", "namespace not allowed for this key", "key not valid before DATE",
    "key expired DATE", or that certificates are not supported.
    """
    moments = (_aware(signed_at), _aware(now))
    public_key = bytes(public_key)
    if public_key in revoked:
        return TrustVerdict(False, (), "key revoked")
    if _key_type(public_key).endswith("-cert-v01@openssh.com"):
        return TrustVerdict(
            False,
            (),
            "certificate signatures are not supported (cert-authority); "
            "sign with a plain key listed in allowed_signers",
        )
    listed = [s for s in signers if s.public_key == public_key and not s.cert_authority]
    if not listed:
        if any(s.public_key == public_key for s in signers):
            return TrustVerdict(
                False,
                (),
                "unknown key (it is listed only as a cert-authority, which vouches for "
                "certificates; certificates are not supported)",
            )
        return TrustVerdict(False, (), "unknown key")
    if principal is not None:
        listed = [s for s in listed if match_pattern_list(principal, s.principals)]
        if not listed:
            return TrustVerdict(False, (), f"principal {principal} is not allowed this key")
    listed = [
        s for s in listed if s.namespaces is None or match_pattern_list(namespace, s.namespaces)
    ]
    if not listed:
        return TrustVerdict(False, (), "namespace not allowed for this key")
    problems = [_window_problem(s, moments) for s in listed]
    good = [s for s, problem in zip(listed, problems, strict=True) if problem is None]
    if not good:
        return TrustVerdict(False, (), next(p for p in problems if p is not None))
    if principal is not None:
        principals: tuple[str, ...] = (principal,)
    else:
        principals = tuple(
            dict.fromkeys(p for s in good for p in s.principals if not p.startswith("!"))
        )
    lines = ", ".join(str(s.line) for s in good)
    return TrustVerdict(
        True,
        principals,
        f"trusted: {', '.join(principals)} (allowed_signers line {lines})",
    )
