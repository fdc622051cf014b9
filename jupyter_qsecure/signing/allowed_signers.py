"""Who may sign: git's and ``ssh-keygen``'s allowed_signers file, revocation lists, trust.

An allowed_signers file (``ssh-keygen(1)``, section ALLOWED SIGNERS) has one signer per
line::

    principals [options] keytype base64-key [comment]

``principals`` is a comma-separated pattern list (``*`` and ``?`` wildcards, ``!`` to
exclude, as in ``ssh_config(5)`` PATTERNS); options are comma-separated, without spaces
except inside double quotes: ``cert-authority``, ``namespaces="a,b"`` (a pattern list),
``valid-after="YYYYMMDD[HHMM[SS]][Z]"`` and ``valid-before=...`` (UTC when suffixed with
``Z``, else the local zone's standard time, as ssh-keygen reads it; both bounds
inclusive). Blank lines and lines starting with ``#`` are comments.

As ``ssh-keygen`` 9.x does, a line that cannot be used (a malformed key, an unknown key
type or option, a bad time) is skipped with a warning naming the file and line; the rest
of the file still counts. Text after a NUL byte on a line is ignored (ssh-keygen reads C
strings), patterns match bytes (``?`` is one byte of a UTF-8 character), an empty
pattern matches only an empty name and a trailing comma ends a list, and times are
normalised like ``strptime`` + ``mktime``: ``20200230`` is 1 March 2020.

:func:`trust` answers the same question as ``ssh-keygen -Y verify -Overify-time=T`` for a
signature that already verified (:func:`jupyter_qsecure.signing.sshsig.verify`), with ``T``
the signed time: is this key (or certificate, vouched for by a ``cert-authority`` line)
allowed to sign in this namespace, for this principal, at that time, and not revoked
(:class:`RevocationList`: OpenSSH public key lines or a binary KRL)?
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

from .._files import read_bytes
from .sshsig import (
    Certificate,
    SignatureError,
    WireReader,
    is_certificate,
    parse_certificate,
    public_key_from_openssh,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple
else:
    from .._records import NamedTuple

__all__ = [
    "AllowedSigner",
    "AllowedSignersError",
    "RevocationList",
    "TrustVerdict",
    "load_allowed_signers",
    "load_revoked_keys",
    "match_pattern_list",
    "parse_allowed_signers",
    "parse_revoked_keys",
    "trust",
]

_KRL_MAGIC = b"SSHKRL\n\0"
#: Compiled on first use (by :mod:`re`, which keeps it): only a line that fails needs it.
_KEY_TYPE = r"(?:ssh|ecdsa|sk|rsa|webauthn)-[A-Za-z0-9@._+-]*"
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


class AllowedSigner(NamedTuple):
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


class TrustVerdict(NamedTuple):
    """Whether a key may sign: ``trusted``, the ``principals`` it signs as, and why."""

    trusted: bool
    principals: tuple[str, ...]
    reason: str


# --------------------------------------------------------------------------- patterns


#: OpenSSH's ``match_pattern_list`` copies each pattern into 1024 bytes: a longer one
#: (1023 bytes or more, after a leading ``!``) makes the whole list match nothing.
_PATTERN_LIMIT = 1023


def _bytes(text: str) -> bytes:
    """``text`` as the bytes OpenSSH compares (UTF-8; undecodable bytes restored)."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


@lru_cache(maxsize=512)
def _pattern(pattern: bytes) -> re.Pattern[bytes]:
    parts = [
        b".*" if c == ord("*") else b"." if c == ord("?") else re.escape(bytes((c,)))
        for c in pattern
    ]
    return re.compile(b"".join(parts), re.DOTALL)


def _pattern_list(text: str) -> tuple[str, ...]:
    """The patterns of a comma-separated list as OpenSSH splits it: an empty text has
    none, and a trailing comma ends the list (``a,`` is just ``a``)."""
    patterns = text.split(",")
    if text == "" or text.endswith(","):
        patterns.pop()
    return tuple(patterns)


def match_pattern_list(value: str, patterns: Iterable[str]) -> bool:
    """Whether ``value`` matches a pattern list, as OpenSSH's ``match_pattern_list``.

    Patterns use ``*`` (any bytes) and ``?`` (one byte: a non-ASCII character is several)
    and match the whole value, case-sensitively, on its UTF-8 bytes. A pattern starting
    with ``!`` excludes: if it matches, the answer is False whatever else matches.
    Otherwise True when some pattern matches. As in OpenSSH, a pattern of 1023 bytes or
    more makes the whole list match nothing.
    """
    encoded = _bytes(value)
    positive = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        body = _bytes(pattern[1:] if negated else pattern)
        if len(body) >= _PATTERN_LIMIT:
            return False
        if _pattern(body).fullmatch(encoded):
            if negated:
                return False
            positive = True
    return positive


# --------------------------------------------------------------------------- parsing


def parse_allowed_signers(
    text: str, source: str = "allowed_signers", warnings: list[str] | None = None
) -> list[AllowedSigner]:
    """Parse the text of an allowed_signers file; ``source`` names it in warnings.

    A line that cannot be used is skipped, as ssh-keygen skips it, and a warning
    ``SOURCE:LINE: what is wrong`` is appended to ``warnings`` (when given)."""
    signers = []
    for number, raw in enumerate(text.split("\n"), start=1):
        try:
            signer = _parse_line(raw.split("\0", 1)[0], source, number)
        except AllowedSignersError as error:
            if warnings is not None:
                warnings.append(f"{error} (line skipped)")
            continue
        if signer is not None:
            signers.append(signer)
    return signers


def load_allowed_signers(path: Path, warnings: list[str] | None = None) -> list[AllowedSigner]:
    """Read and parse an allowed_signers file (git's ``gpg.ssh.allowedSignersFile``);
    skipped lines are described in ``warnings``.

    Raises :class:`AllowedSignersError` when the file cannot be read."""
    path = Path(path)
    try:
        data = read_bytes(path)
    except OSError as error:
        raise AllowedSignersError(
            f"cannot read the allowed_signers file: {error.strerror or error}", source=str(path)
        ) from None
    return parse_allowed_signers(
        data.decode("utf-8", "surrogateescape"), source=str(path), warnings=warnings
    )


class _RevokedCertificates(NamedTuple):
    """One certificates section of a KRL: ``ca_key`` None applies to every CA."""

    ca_key: bytes | None
    serial_ranges: tuple[tuple[int, int], ...]
    serial_bitmaps: tuple[tuple[int, int], ...]
    key_ids: frozenset[str]

    def revokes(self, certificate: Certificate) -> str | None:
        if self.ca_key is not None and self.ca_key != certificate.ca_key:
            return None
        if certificate.key_id in self.key_ids:
            return f"certificate key id {certificate.key_id!r} revoked"
        serial = certificate.serial
        if self.ca_key is None or serial == 0:
            return None
        if any(low <= serial <= high for low, high in self.serial_ranges) or any(
            serial >= offset and (bits >> (serial - offset)) & 1
            for offset, bits in self.serial_bitmaps
        ):
            return f"certificate serial {serial} revoked"
        return None


class RevocationList(AbstractSet[bytes]):
    """Revoked keys and certificates, from OpenSSH public key lines or a binary KRL
    (``ssh-keygen -k``), checked as ``ssh-keygen -Y verify -r`` checks them: a key is
    revoked when its plain key is listed (by blob or SHA-1/SHA-256 fingerprint); a
    certificate also when its CA key is, or (KRL) its serial or key id is for its CA.
    ``blob in revocations`` says whether a key blob is revoked."""

    __slots__ = ("certificates", "keys", "sha1", "sha256")

    def __init__(
        self,
        keys: frozenset[bytes] = frozenset(),
        sha1: frozenset[bytes] = frozenset(),
        sha256: frozenset[bytes] = frozenset(),
        certificates: tuple[_RevokedCertificates, ...] = (),
    ) -> None:
        self.keys = keys
        self.sha1 = sha1
        self.sha256 = sha256
        self.certificates = certificates

    def __repr__(self) -> str:
        return (
            f"RevocationList({len(self.keys)} keys, {len(self.sha1) + len(self.sha256)} "
            f"fingerprints, {len(self.certificates)} certificate sections)"
        )

    def _key_revoked(self, blob: bytes) -> bool:
        return (
            blob in self.keys
            or hashlib.sha256(blob).digest() in self.sha256
            or hashlib.sha1(blob).digest() in self.sha1  # noqa: S324 - KRL's own format
        )

    def why(self, blob: bytes) -> str | None:
        """Why a key (or certificate) blob is revoked, or None."""
        blob = bytes(blob)
        if not is_certificate(blob):
            return "key revoked" if self._key_revoked(blob) else None
        try:
            certificate = parse_certificate(blob)
        except SignatureError:
            return None  # an invalid certificate never verified: nothing to revoke
        for section in self.certificates:
            reason = section.revokes(certificate)
            if reason:
                return reason
        if self._key_revoked(certificate.public_key):
            return "key revoked"
        if self._key_revoked(certificate.ca_key):
            return "the certificate's CA key is revoked"
        return None

    def __contains__(self, blob: object) -> bool:
        return isinstance(blob, (bytes, bytearray)) and self.why(bytes(blob)) is not None

    def __iter__(self) -> Iterator[bytes]:
        """The plain keys listed by blob (fingerprints and certificate rules are not
        enumerable)."""
        return iter(self.keys)

    def __len__(self) -> int:
        return len(self.keys)


def _plain(blob: bytes) -> bytes:
    """The plain key of a certificate blob (a plain key blob is returned as it is)."""
    return parse_certificate(blob).public_key if is_certificate(blob) else blob


def parse_revoked_keys(text: str, source: str = "revoked_keys") -> RevocationList:
    """A revocation list of OpenSSH public keys, one a line (``#`` comments). A
    certificate line revokes its plain key."""
    keys = set()
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            keys.add(_plain(public_key_from_openssh(line)))
        except SignatureError as error:
            raise AllowedSignersError(
                f"not an OpenSSH public key line: {error}", source=source, line=number
            ) from None
    return RevocationList(keys=frozenset(keys))


def parse_krl(data: bytes, source: str = "revoked_keys") -> RevocationList:
    """A binary OpenSSH KRL (``PROTOCOL.krl``, as ``ssh-keygen -k`` writes it).
    Raises :class:`AllowedSignersError` naming what is wrong."""
    try:
        return _read_krl(WireReader(data, "the KRL"))
    except SignatureError as error:
        raise AllowedSignersError(f"not a usable KRL: {error}", source=source) from None


def _read_krl(reader: WireReader) -> RevocationList:
    reader.skip(len(_KRL_MAGIC))
    version = reader.u32("format version")
    if version != 1:
        raise SignatureError("malformed", f"KRL format version {version} is not supported")
    reader.u64("KRL version")
    reader.u64("generated date")
    reader.u64("flags")
    reader.string("reserved field")
    reader.string("comment")
    keys: set[bytes] = set()
    sha1: set[bytes] = set()
    sha256: set[bytes] = set()
    certificates = []
    while reader.position < reader.size:
        kind = reader.u8("section type")
        section = WireReader(reader.string("section"), "a KRL section")
        if kind == 1:
            certificates.append(_read_krl_certificates(section))
        elif kind in (2, 3, 5):
            target = {2: keys, 3: sha1, 5: sha256}[kind]
            while section.position < section.size:
                target.add(section.string("key"))
        elif kind == 4:
            raise SignatureError(
                "unsupported-key", "signed KRLs are not supported (nor by OpenSSH 9.4 and later)"
            )
        else:
            raise SignatureError("malformed", f"unknown KRL section type {kind}")
    return RevocationList(frozenset(keys), frozenset(sha1), frozenset(sha256), tuple(certificates))


def _read_krl_certificates(section: WireReader) -> _RevokedCertificates:
    ca_key = section.string("CA key")
    section.string("reserved field")
    ranges: list[tuple[int, int]] = []
    bitmaps: list[tuple[int, int]] = []
    key_ids: set[str] = set()
    while section.position < section.size:
        kind = section.u8("subsection type")
        part = WireReader(section.string("subsection"), "a KRL certificate subsection")
        while part.position < part.size:
            if kind == 0x20:
                serial = part.u64("serial")
                ranges.append((serial, serial))
            elif kind == 0x21:
                ranges.append((part.u64("serial"), part.u64("serial")))
            elif kind == 0x22:
                offset = part.u64("bitmap offset")
                bitmaps.append((offset, int.from_bytes(part.string("bitmap"), "big")))
            elif kind == 0x23:
                key_ids.add(part.text("key id"))
            else:
                raise SignatureError("malformed", f"unknown KRL certificate subsection {kind}")
    return _RevokedCertificates(ca_key or None, tuple(ranges), tuple(bitmaps), frozenset(key_ids))


def load_revoked_keys(path: Path) -> AbstractSet[bytes]:
    """Read a revocation file: a binary OpenSSH KRL (``ssh-keygen -k``), or OpenSSH public
    key lines, one per line. Raises :class:`AllowedSignersError` for an unreadable file,
    a damaged KRL or a bad line. The answer is a :class:`RevocationList`."""
    path = Path(path)
    try:
        data = read_bytes(path)
    except OSError as error:
        raise AllowedSignersError(
            f"cannot read the revoked keys file: {error.strerror or error}", source=str(path)
        ) from None
    if data[: len(_KRL_MAGIC)] == _KRL_MAGIC:
        return parse_krl(data, str(path))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise AllowedSignersError(
            "the revoked keys file is not UTF-8 text", source=str(path)
        ) from None
    return parse_revoked_keys(text, source=str(path))


def _parse_line(raw: str, source: str, number: int) -> AllowedSigner | None:
    def fail(message: str) -> AllowedSignersError:
        return AllowedSignersError(message, source=source, line=number)

    line = raw.lstrip(" \t")
    if not line.strip(" \t\r") or line.startswith("#"):
        return None
    line = line.rstrip(" \t\r")
    split = _principals_field(line)
    if split is None:
        raise fail("the quoted principals field has no closing double quote")
    field, rest = split
    if not rest:
        raise fail(f"expected '{_LINE_FORMAT}', found only {line[:60]!r}")
    principals = _pattern_list(field)

    # as ssh-keygen: the key, or else options and then the key
    options = ""
    try:
        public_key: bytes | None = _read_key(rest)
    except SignatureError as error:
        if re.fullmatch(_KEY_TYPE, re.split(r"[ \t]", rest, maxsplit=1)[0]):
            raise fail(f"invalid key: {error}") from None  # no option looks like a key type
        public_key = None
    if public_key is None:
        options, rest = _split_options(rest, fail)
        rest = rest.lstrip(" \t")
        if not rest:
            raise fail(f"missing key after the options; expected '{_LINE_FORMAT}'")
        try:
            public_key = _read_key(rest)
        except SignatureError as error:
            raise fail(f"invalid key: {error}") from None

    cert_authority, values = _parse_options(options, fail)
    namespaces = None
    if "namespaces" in values:
        value = values["namespaces"]
        namespaces = _pattern_list(value)
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


def _principals_field(line: str) -> tuple[str, str] | None:
    """The principals field of a line and the rest of it, split as ssh-keygen splits it
    (OpenSSH's ``strdelimw``): up to the first blank (space, tab or CR), or, when a double
    quote comes first, with that quote removed and up to the next one (``"a b"``,
    ``ab"c d"``: the field is ``a b``, ``abc d``), whatever follows the closing quote.
    None when that quote is not closed."""
    found = re.search(r'[ \t\r"]', line)
    if found is None:
        return line, ""
    start = found.start()
    if line[start] != '"':
        return line[:start], line[start + 1 :].lstrip(" \t\r")
    close = line.find('"', start + 1)
    if close < 0:
        return None
    return line[:start] + line[start + 1 : close], line[close + 1 :].lstrip(" \t\r")


def _read_key(text: str) -> bytes:
    """The key blob at the start of ``text`` (``keytype base64 [comment]``), read as
    OpenSSH's ``sshkey_read`` reads it: the type and the base64 end at a space or tab,
    and the base64 may hold other blanks (CR, form feed...), which are passed over.
    Raises :class:`SignatureError` for anything else."""
    fields = re.match(r"([^ \t]*)[ \t]+([^ \t]+)", text)
    if fields is None or re.search(r"\s", fields.group(1)):
        raise SignatureError(
            "malformed", "expected 'keytype base64', separated by a space or a tab"
        )
    encoded = re.sub(r"[ \t\n\v\f\r]", "", fields.group(2))
    if not _strict_base64(encoded):
        raise SignatureError("malformed", f"the {fields.group(1)} public key is not valid base64")
    return public_key_from_openssh(f"{fields.group(1)} {encoded}")


_BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_BASE64_STRICT = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


def _strict_base64(encoded: str) -> bool:
    """Whether ``encoded`` is base64 as OpenSSH's ``b64_pton`` takes it: padded to whole
    quanta, nothing after the padding, and the bits the padding leaves over all zero
    (Python's decoder lets an extra ``=`` or such bits through)."""
    if not _BASE64_STRICT.fullmatch(encoded):
        return False
    padding = len(encoded) - len(encoded.rstrip("="))
    if padding:
        last = _BASE64.index(encoded[-padding - 1])
        return last & (0b1111 if padding == 2 else 0b11) == 0
    return True


def _split_options(rest: str, fail: _Fail) -> tuple[str, str]:
    """The options field (up to the first blank outside double quotes) and what follows.
    A backslash before a double quote escapes it, inside or outside quotes, as in
    ssh-keygen."""
    quoted = False
    index = 0
    while index < len(rest):
        char = rest[index]
        if char == "\\" and rest[index + 1 : index + 2] == '"':
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
            cert_authority = True  # given twice, still one flag (as ssh-keygen reads it)
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
        elif not tail.startswith(","):
            unknown = tail.split(",", 1)[0]
            raise fail(f"unknown option {unknown!r}; the options are {_OPTIONS_HELP}")
        # else an empty option (a leading or doubled comma): ssh-keygen passes over it
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


#: strptime's fields for each length of an ssh-keygen time (without its Z or UTC suffix):
#: the width of the field in the text and its range (%Y, %m, %d, %H, %M, %S).
_TIME_FIELDS = ((4, 0, 9999), (2, 1, 12), (2, 1, 31), (2, 0, 23), (2, 0, 59), (2, 0, 61))
_TIME_LENGTHS = {8: 3, 12: 5, 14: 6}
#: A strptime number: blanks (C isspace) first, then digits to the end of its field
#: (compiled on first use, by :mod:`re`: few allowed_signers lines hold a time).
_TIME_FIELD = rb"[ \t\n\v\f\r]*[0-9]+"


def _absolute_time(text: str) -> int | None:
    """Seconds since the epoch for an allowed_signers time, as OpenSSH's
    ``parse_absolute_time`` reads it, or None where it refuses the time.

    The text (its bytes) less a ``Z`` or ``UTC`` suffix (any case, meaning UTC) must be 8,
    12 or 14 bytes: YYYYMMDD[HHMM[SS]]. Each field is read by ``strptime``: blanks may
    lead it, then digits, within %Y/%m/%d/%H/%M/%S's ranges (seconds up to 61). The
    fields are then normalised by ``timegm`` (UTC) or by ``mktime`` with ``tm_isdst`` 0,
    so a local time is read as the zone's standard time, also in summer (``20200701`` in
    Berlin is 23:00 UTC, not 22:00). A time before 1970 or at the epoch is refused.
    """
    data = text.encode("utf-8", "surrogateescape")
    size = len(data)
    utc = False
    if size > 1 and data[-1:].lower() == b"z":
        utc, size = True, size - 1
    elif size > 3 and data[-3:].lower() == b"utc":
        utc, size = True, size - 3
    count = _TIME_LENGTHS.get(size)
    if count is None:
        return None
    values = []
    offset = 0
    for width, low, high in _TIME_FIELDS[:count]:
        field = data[offset : offset + width]
        offset += width
        if not re.fullmatch(_TIME_FIELD, field) or not low <= int(field) <= high:
            return None
        values.append(int(field))
    year, month, day, hour, minute, second = values + [0] * (6 - count)
    try:
        if utc:
            import calendar  # here: it imports locale, and few allowed_signers lines need it

            seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
        else:
            seconds = int(time.mktime((year, month, day, hour, minute, second, 0, 0, 0)))
    except (ValueError, OverflowError):
        return None
    return seconds if seconds > 0 else None


def _moment(seconds: int, utc: bool) -> datetime:
    """The aware datetime of ``seconds`` since the epoch; beyond datetime's last year
    (9999), its last moment."""
    try:
        moment = datetime.fromtimestamp(seconds, timezone.utc)
    except (ValueError, OverflowError, OSError):
        return datetime.max.replace(tzinfo=timezone.utc)
    return moment if utc else moment.astimezone()


def _parse_time(values: dict[str, str], name: str, fail: _Fail) -> datetime | None:
    """A ``valid-after``/``valid-before`` time as ssh-keygen reads it (see
    :func:`_absolute_time`); UTC with ``Z`` or ``UTC``, else local time."""
    text = values.get(name)
    if text is None:
        return None
    seconds = _absolute_time(text)
    if seconds is None:
        raise fail(
            f'invalid "{name}" time {text!r}: use YYYYMMDD[Z] or YYYYMMDDHHMM[SS][Z], after 1970'
        )
    return _moment(seconds, text[-1:].lower() == "z" or text[-3:].lower() == "utc")


# --------------------------------------------------------------------------- trust


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.astimezone()


def _show(moment: datetime) -> str:
    if (moment.hour, moment.minute, moment.second, moment.microsecond) == (0, 0, 0, 0):
        return moment.strftime("%Y-%m-%d")
    return moment.isoformat(sep=" ")


def _window_problem(signer: AllowedSigner, moment: datetime) -> str | None:
    if signer.valid_after is not None and moment < signer.valid_after:
        return f"key not valid before {_show(signer.valid_after)} (signed {_show(moment)})"
    if signer.valid_before is not None and moment > signer.valid_before:
        return f"key expired {_show(signer.valid_before)} (signed {_show(moment)})"
    return None


def _revocation(revoked: AbstractSet[bytes], public_key: bytes) -> str | None:
    if isinstance(revoked, RevocationList):
        return revoked.why(public_key)
    if public_key in revoked:
        return "key revoked"
    if is_certificate(public_key):
        certificate = parse_certificate(public_key)
        if certificate.public_key in revoked:
            return "key revoked"
        if certificate.ca_key in revoked:
            return "the certificate's CA key is revoked"
    return None


def _certificate_lapsed(certificate: Certificate, moment: datetime) -> str | None:
    """Why the certificate was not valid at ``moment``, or None."""
    seconds = int(moment.timestamp())
    if seconds < certificate.valid_after:
        return "the certificate was not yet valid when signed"
    if seconds >= certificate.valid_before:
        return "the certificate had expired when signed"
    return None


def _certificate_problem(
    certificate: Certificate, moment: datetime, principal: str | None
) -> str | None:
    """What OpenSSH's ``sshkey_cert_check_authority`` refuses, for a user certificate
    used at ``moment`` by ``principal`` (exactly one of its principals)."""
    from .sshsig import USER_CERTIFICATE

    if certificate.cert_type != USER_CERTIFICATE:
        return "the certificate is not a user certificate"
    lapsed = _certificate_lapsed(certificate, moment)
    if lapsed:
        return lapsed
    if not certificate.principals:
        return "the certificate lists no principals"
    if principal is not None and principal not in certificate.principals:
        return f"the certificate is not valid for principal {principal}"
    return None


def _allowed(certificate: Certificate, signer: AllowedSigner) -> tuple[str, ...]:
    """The certificate's principals that the ``cert-authority`` line's patterns allow."""
    return tuple(p for p in certificate.principals if match_pattern_list(p, signer.principals))


def trust(
    signers: Sequence[AllowedSigner],
    public_key: bytes,
    namespace: str,
    *,
    signed_at: datetime,
    principal: str | None = None,
    revoked: AbstractSet[bytes] = frozenset(),
    now: datetime | None = None,
) -> TrustVerdict:
    """Whether ``public_key`` may sign in ``namespace`` (as ``principal``, if given) at
    ``signed_at`` (naive datetimes are local time), as ``ssh-keygen -Y verify
    -Overify-time=SIGNED_AT`` decides.

    A plain key is trusted when it is not ``revoked`` (a set of key blobs or a
    :class:`RevocationList`) and some non-``cert-authority`` line lists it whose
    principals match ``principal`` (any principal when None), whose ``namespaces`` (if
    any) match ``namespace``, and whose validity window contains ``signed_at`` (bounds
    inclusive). A certificate is trusted when a ``cert-authority`` line lists its CA with
    the same conditions, and the certificate is a user certificate, valid at
    ``signed_at``, naming ``principal`` among its principals, and neither it, its key nor
    its CA is revoked; or when a line that is not ``cert-authority`` lists the certificate
    itself, with the same conditions, while the certificate is valid (ssh-keygen trusts
    such a line even after the certificate expired: we do not). The verdict's
    ``principals`` are ``(principal,)`` or, without one, the patterns of every matching
    line (for a ``cert-authority`` line, the certificate's principals that its patterns
    allow; with none, the line does not vouch, as in ``ssh-keygen -Y find-principals``).
    ``now`` is accepted for earlier callers and not used: the signed time decides, as git
    decides with a signed commit's time.
    """
    del now
    # whole seconds, as ssh-keygen's verify-time (a signed 12:00:00.5 is 12:00:00)
    moment = _aware(signed_at).replace(microsecond=0)
    public_key = bytes(public_key)
    why = _revocation(revoked, public_key)
    if why:
        return TrustVerdict(False, (), why)
    certificate = parse_certificate(public_key) if is_certificate(public_key) else None
    if certificate is None:
        listed = [s for s in signers if s.public_key == public_key and not s.cert_authority]
        if not listed:
            if any(s.public_key == public_key for s in signers):
                return TrustVerdict(
                    False,
                    (),
                    "unknown key (it is listed only as a cert-authority, which vouches for "
                    "certificates, not for its own signatures)",
                )
            return TrustVerdict(False, (), "unknown key")
    else:
        listed = [s for s in signers if s.public_key == certificate.ca_key and s.cert_authority]
        # a line (not cert-authority) listing the certificate itself vouches for it as for a
        # key, as in ssh-keygen; unlike ssh-keygen, only while the certificate is valid
        pinned = [s for s in signers if s.public_key == public_key and not s.cert_authority]
        if not listed and not pinned:
            return TrustVerdict(
                False, (), "unknown certificate authority (no cert-authority line lists it)"
            )
        problem = _certificate_problem(certificate, moment, principal) if listed else None
        lapsed = _certificate_lapsed(certificate, moment) if pinned else None
        listed = ([] if problem else listed) + ([] if lapsed else pinned)
        if not listed:
            return TrustVerdict(False, (), problem or lapsed or "")
    if principal is not None:
        listed = [s for s in listed if match_pattern_list(principal, s.principals)]
        if not listed:
            return TrustVerdict(False, (), f"principal {principal} is not allowed this key")
    elif certificate is not None:
        # without a principal, a cert-authority line vouches only for the principals of the
        # certificate it allows (ssh-keygen -Y find-principals: "no valid principals found")
        listed = [s for s in listed if not s.cert_authority or _allowed(certificate, s)]
        if not listed:
            return TrustVerdict(
                False, (), "the cert-authority line allows none of the certificate's principals"
            )
    listed = [
        s for s in listed if s.namespaces is None or match_pattern_list(namespace, s.namespaces)
    ]
    if not listed:
        return TrustVerdict(False, (), "namespace not allowed for this key")
    problems = [_window_problem(s, moment) for s in listed]
    good = [s for s, problem in zip(listed, problems, strict=True) if problem is None]
    if not good:
        return TrustVerdict(False, (), next(p for p in problems if p is not None))
    if principal is not None:
        principals: tuple[str, ...] = (principal,)
    else:
        principals = tuple(
            dict.fromkeys(
                p
                for s in good
                for p in (
                    _allowed(certificate, s) if certificate and s.cert_authority else s.principals
                )
                if p and not p.startswith("!")
            )
        )
    lines = ", ".join(str(s.line) for s in good)
    what = "certificate authority" if good[0].cert_authority else "allowed_signers"
    return TrustVerdict(
        True,
        principals,
        f"trusted: {', '.join(principals)} ({what} line {lines})",
    )
