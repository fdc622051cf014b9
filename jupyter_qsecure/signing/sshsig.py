"""OpenSSH signatures (SSHSIG): parse, verify in pure Python, sign with ``ssh-keygen``.

The format is OpenSSH's ``PROTOCOL.sshsig``: an armored (``-----BEGIN SSH SIGNATURE-----``)
base64 blob holding::

    byte[6]  "SSHSIG"
    uint32   version (1)
    string   public key (SSH wire encoding)
    string   namespace
    string   reserved
    string   hash algorithm ("sha256" or "sha512")
    string   signature (SSH wire encoding for the key type)

The key signs ``"SSHSIG" || string(namespace) || string("") || string(hash algorithm) ||
string(H(message))``. FIDO (``sk-``) keys sign ``sha256(application) || flags || counter ||
sha256(that)`` instead (``PROTOCOL.u2f``).

:func:`verify` checks a signature without any external program, so a reviewer's machine
needs no OpenSSH; :func:`sign_with_ssh_keygen` signs with the user's own ``ssh-keygen`` and
therefore with anything it can use: plain key files, and keys held by ``ssh-agent``
(including FIDO keys that need a touch or a PIN). A signature made here verifies with stock
``ssh-keygen -Y verify`` and the other way round.

Every failure is a :class:`SignatureError` with a short machine-readable ``reason`` and a
message saying what is wrong and what to do; bad input never produces another exception.

``jupyter qsecure verify`` from the shell pays for every import: Ed25519 signatures (plain
and FIDO) are checked by :mod:`.ed25519` in pure Python, ``cryptography`` is loaded only for
ECDSA and RSA keys, and the modules that run ``ssh-keygen`` only to sign or cross-check.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:
    import subprocess
    from typing import Literal, NamedTuple

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
else:
    from .._records import NamedTuple

__all__ = [
    "BEGIN",
    "END",
    "SUPPORTED_KEY_TYPES",
    "Certificate",
    "ParsedSignature",
    "SignatureError",
    "SignatureReason",
    "fingerprint",
    "is_certificate",
    "openssh_public_key",
    "parse_armored",
    "parse_certificate",
    "plain_public_key",
    "public_key_from_openssh",
    "sign_with_ssh_keygen",
    "signed_data",
    "verify",
    "verify_with_ssh_keygen",
]

BEGIN = "-----BEGIN SSH SIGNATURE-----"
END = "-----END SSH SIGNATURE-----"
_MAGIC = b"SSHSIG"
_VERSION = 1
_HASHES: dict[str, Callable[[bytes], bytes]] = {
    "sha256": lambda data: hashlib.sha256(data).digest(),
    "sha512": lambda data: hashlib.sha512(data).digest(),
}
#: Wider than any SSHSIG this module produces or accepts; stops absurd inputs early.
_MAX_ARMOR_CHARS = 1 << 20

#: Why a signature was refused: :attr:`SignatureError.reason`.
_SIGNATURE_REASONS = (
    "malformed",
    "bad-signature",
    "wrong-namespace",
    "unsupported-key",
    "ssh-keygen-failed",
    "no-key",
)
if TYPE_CHECKING:
    SignatureReason = Literal[
        "malformed",
        "bad-signature",
        "wrong-namespace",
        "unsupported-key",
        "ssh-keygen-failed",
        "no-key",
    ]


def __getattr__(name: str) -> object:
    """``SignatureReason`` (``Literal`` of ``_SIGNATURE_REASONS``), made on first use:
    :mod:`typing` is not imported by what verifies a signature (``cli/fast.py``)."""
    if name == "SignatureReason":
        from typing import Literal

        globals()[name] = value = Literal[_SIGNATURE_REASONS]
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_ED25519 = "ssh-ed25519"
_RSA = "ssh-rsa"
_SK_ED25519 = "sk-ssh-ed25519@openssh.com"
_SK_ECDSA = "sk-ecdsa-sha2-nistp256@openssh.com"
#: key type -> (curve name in the blob, coordinate size in bytes); :func:`_curve` gives
#: the curve and its hash.
_ECDSA: dict[str, tuple[str, int]] = {
    "ecdsa-sha2-nistp256": ("nistp256", 32),
    "ecdsa-sha2-nistp384": ("nistp384", 48),
    "ecdsa-sha2-nistp521": ("nistp521", 66),
}
#: RSA signature algorithm -> the name of its hash in ``cryptography``.
_RSA_SIGNATURE_HASHES = {"rsa-sha2-256": "SHA256", "rsa-sha2-512": "SHA512"}
#: OpenSSH's limits for RSA moduli.
_RSA_MIN_BITS = 1024
_RSA_MAX_BITS = 16384
_CERT_SUFFIX = "-cert-v01@openssh.com"
#: Certificate key type -> the plain key type it certifies.
_CERT_TYPES = {
    f"{_ED25519}{_CERT_SUFFIX}": _ED25519,
    f"{_RSA}{_CERT_SUFFIX}": _RSA,
    **{f"{name}{_CERT_SUFFIX}": name for name in _ECDSA},
    "sk-ssh-ed25519-cert-v01@openssh.com": _SK_ED25519,
    "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com": _SK_ECDSA,
}
#: OpenSSH certificate types.
USER_CERTIFICATE = 1
HOST_CERTIFICATE = 2
#: The FIDO "user present" flag (the key was touched).
_FLAG_USER_PRESENT = 0x01

#: Key types :func:`verify` can check.
SUPPORTED_KEY_TYPES: tuple[str, ...] = (
    _ED25519,
    *_ECDSA,
    _RSA,
    _SK_ED25519,
    _SK_ECDSA,
    *_CERT_TYPES,
)


class SignatureError(ValueError):
    """A signature that cannot be parsed, does not verify, or could not be made.

    ``reason`` is one of ``malformed`` (not a well-formed SSHSIG armor or blob),
    ``bad-signature`` (well-formed, but it does not verify), ``wrong-namespace``,
    ``unsupported-key`` (a key type or signature algorithm this module does not accept),
    ``ssh-keygen-failed`` and ``no-key`` (signing found no usable private key). The
    message (``str(error)``) says what is wrong and what to fix.
    """

    def __init__(self, reason: SignatureReason, message: str) -> None:
        super().__init__(message)
        self.reason: SignatureReason = reason
        self.message = message

    def __reduce__(self) -> tuple[type[SignatureError], tuple[SignatureReason, str]]:
        return (type(self), (self.reason, self.message))


class ParsedSignature(NamedTuple):
    """The fields of an SSHSIG signature (as parsed; :func:`verify` also checked them).

    ``public_key`` is the signer's key in SSH wire encoding (what an allowed_signers line
    holds, base64-decoded; a certificate for certificate signatures), ``signature`` the
    inner signature blob, ``fingerprint`` the ``SHA256:...`` fingerprint of the (certified)
    key as ``ssh-keygen`` prints it.
    """

    public_key: bytes
    key_type: str
    namespace: str
    hash_algorithm: str
    signature: bytes
    fingerprint: str


# --------------------------------------------------------------------------- wire format


class _Reader:
    """Reads SSH wire-format fields; every shortfall is a ``malformed`` SignatureError."""

    def __init__(self, data: bytes, what: str) -> None:
        self._data = data
        self._pos = 0
        self._what = what

    def _take(self, size: int, field: str) -> bytes:
        if size > len(self._data) - self._pos:
            raise SignatureError(
                "malformed",
                f"{self._what} is truncated: it ends inside the {field}; "
                "copy the complete signature or key",
            )
        chunk = self._data[self._pos : self._pos + size]
        self._pos += size
        return chunk

    def skip(self, size: int) -> None:
        self._take(size, "data")

    def u8(self, field: str) -> int:
        return self._take(1, field)[0]

    def u32(self, field: str) -> int:
        return int.from_bytes(self._take(4, field), "big")

    def u64(self, field: str) -> int:
        return int.from_bytes(self._take(8, field), "big")

    @property
    def position(self) -> int:
        return self._pos

    @property
    def size(self) -> int:
        return len(self._data)

    def string(self, field: str) -> bytes:
        return self._take(self.u32(field), field)

    def text(self, field: str) -> str:
        raw = self.string(field)
        try:
            value = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise SignatureError(
                "malformed", f"{self._what}: the {field} is not UTF-8 text"
            ) from None
        if "\0" in value:
            raise SignatureError("malformed", f"{self._what}: the {field} contains a NUL byte")
        return value

    def mpint(self, field: str, *, strict: bool) -> int:
        """A non-negative SSH mpint; ``strict`` also requires the minimal encoding."""
        raw = self.string(field)
        if raw and raw[0] & 0x80:
            raise SignatureError("malformed", f"{self._what}: the {field} is negative")
        if strict and raw[:1] == b"\0" and (len(raw) == 1 or not raw[1] & 0x80):
            raise SignatureError(
                "malformed", f"{self._what}: the {field} has a superfluous leading zero byte"
            )
        return int.from_bytes(raw, "big")

    def end(self) -> None:
        if self._pos != len(self._data):
            extra = len(self._data) - self._pos
            raise SignatureError(
                "malformed",
                f"{self._what} has {extra} unexpected trailing byte(s) after its last field",
            )


#: Reads SSH wire-format data (KRLs use it too).
WireReader = _Reader


def _string(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


# --------------------------------------------------------------------------- public keys


class _Ed25519Key(NamedTuple):
    key: bytes  # the 32-byte public key, checked by :mod:`.ed25519`
    application: bytes | None  # FIDO keys only


class _EcdsaKey(NamedTuple):
    key: ec.EllipticCurvePublicKey
    hash: type[hashes.HashAlgorithm]
    application: bytes | None  # FIDO keys only


class _RsaKey(NamedTuple):
    key: rsa.RSAPublicKey
    bits: int


_Key = _Ed25519Key | _EcdsaKey | _RsaKey


def _curve(curve_name: str) -> tuple[ec.EllipticCurve, type[hashes.HashAlgorithm]]:
    """The ``cryptography`` curve of an SSH curve name, and the hash its keys sign with."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    curves: dict[str, tuple[ec.EllipticCurve, type[hashes.HashAlgorithm]]] = {
        "nistp256": (ec.SECP256R1(), hashes.SHA256),
        "nistp384": (ec.SECP384R1(), hashes.SHA384),
        "nistp521": (ec.SECP521R1(), hashes.SHA512),
    }
    return curves[curve_name]


def _key_type_of(blob: bytes, what: str = "the public key") -> str:
    """The key type named at the start of a public key blob."""
    return _Reader(blob, what).text("key type")


def _decode_public_key(blob: bytes, what: str = "the public key") -> tuple[str, _Key]:
    """Parse and check a public key blob of a supported type.

    Raises ``malformed`` for a blob that is not a well-formed key (or not in OpenSSH's
    canonical encoding), ``unsupported-key`` for a key type :func:`verify` cannot check.
    """
    reader = _Reader(blob, what)
    key_type = reader.text("key type")
    key: _Key
    if key_type in (_ED25519, _SK_ED25519):
        raw = reader.string("Ed25519 public key")
        if len(raw) != 32:
            raise SignatureError(
                "malformed", f"{what}: an Ed25519 public key has 32 bytes, not {len(raw)}"
            )
        application = reader.string("FIDO application") if key_type == _SK_ED25519 else None
        reader.end()
        return key_type, _Ed25519Key(raw, application)
    from cryptography.exceptions import UnsupportedAlgorithm

    try:
        if key_type in _ECDSA or key_type == _SK_ECDSA:
            from cryptography.hazmat.primitives.asymmetric import ec

            curve_name, size = _ECDSA["ecdsa-sha2-nistp256" if key_type == _SK_ECDSA else key_type]
            named = reader.text("curve name")
            if named != curve_name:
                raise SignatureError(
                    "malformed", f"{what}: a {key_type} key names curve {named!r}, not {curve_name}"
                )
            point = reader.string("EC point")
            if len(point) != 1 + 2 * size or point[0] != 4:
                raise SignatureError(
                    "malformed", f"{what}: the EC point is not an uncompressed {curve_name} point"
                )
            application = reader.string("FIDO application") if key_type == _SK_ECDSA else None
            curve, hash_type = _curve(curve_name)
            public = ec.EllipticCurvePublicKey.from_encoded_point(curve, point)
            key = _EcdsaKey(public, hash_type, application)
        elif key_type == _RSA:
            from cryptography.hazmat.primitives.asymmetric import rsa

            e = reader.mpint("RSA exponent", strict=True)
            n = reader.mpint("RSA modulus", strict=True)
            bits = n.bit_length()
            if bits < _RSA_MIN_BITS or bits > _RSA_MAX_BITS:
                raise SignatureError(
                    "unsupported-key",
                    f"{what}: an RSA key of {bits} bits is outside what OpenSSH accepts "
                    f"({_RSA_MIN_BITS}-{_RSA_MAX_BITS} bits); use an Ed25519 key",
                )
            key = _RsaKey(rsa.RSAPublicNumbers(e, n).public_key(), bits)
        elif key_type.endswith(_CERT_SUFFIX):
            certificate = parse_certificate(blob, what)
            return _decode_public_key(certificate.public_key, what)
        else:
            raise SignatureError(
                "unsupported-key",
                f"{what}: key type {key_type!r} is not supported; use one of "
                + ", ".join(SUPPORTED_KEY_TYPES),
            )
    except (ValueError, TypeError, UnsupportedAlgorithm, OverflowError) as error:
        if isinstance(error, SignatureError):
            raise
        raise SignatureError(
            "malformed", f"{what}: not a valid {key_type} public key ({error})"
        ) from None
    reader.end()
    return key_type, key


class Certificate(NamedTuple):
    """An OpenSSH certificate (``PROTOCOL.certkeys``) whose CA signature verified.

    ``public_key`` is the certified key as a plain key blob, ``ca_key`` the CA's key blob;
    ``valid_after``/``valid_before`` are seconds since the epoch (``valid_before`` is
    exclusive, as OpenSSH reads it; 2**64-1 is forever); ``principals`` empty means the
    certificate names none (OpenSSH then accepts it for no signature)."""

    key_type: str
    public_key: bytes
    serial: int
    cert_type: int
    key_id: str
    principals: tuple[str, ...]
    valid_after: int
    valid_before: int
    ca_key: bytes


def plain_public_key(blob: bytes) -> bytes:
    """The key a blob stands for: a certificate's certified key, else the blob itself
    (what ``ssh-keygen`` fingerprints, and what makes two signatures "one key")."""
    return parse_certificate(blob).public_key if is_certificate(blob) else bytes(blob)


def is_certificate(blob: bytes) -> bool:
    """Whether a public key blob is an OpenSSH certificate."""
    try:
        return _key_type_of(blob).endswith(_CERT_SUFFIX)
    except SignatureError:
        return False


def _key_fields(reader: _Reader, key_type: str) -> None:
    """Skip the fields that follow the key type in a plain key of ``key_type``."""
    if key_type in (_ED25519, _SK_ED25519):
        reader.string("Ed25519 public key")
    elif key_type == _RSA:
        reader.string("RSA exponent")
        reader.string("RSA modulus")
    else:
        reader.string("curve name")
        reader.string("EC point")
    if key_type in (_SK_ED25519, _SK_ECDSA):
        reader.string("FIDO application")


#: Digests of (CA key, CA signature, signed part) whose CA signature verified. One
#: verification looks at a signer's certificate several times (its key, fingerprint, trust,
#: thresholds), and an Ed25519 check costs ~2 ms in pure Python: the CA signature of a
#: certificate is checked once, not at every look.
_CA_SIGNATURES_VERIFIED: set[bytes] = set()
_CA_SIGNATURES_KEPT = 1024


def parse_certificate(blob: bytes, what: str = "the certificate") -> Certificate:
    """Parse an OpenSSH certificate and check its CA's signature.

    Raises :class:`SignatureError`: ``malformed`` for a damaged certificate,
    ``unsupported-key`` for a type or CA signature algorithm not accepted (SHA-1
    ``ssh-rsa`` CA signatures are refused, as OpenSSH does), ``bad-signature`` when the CA
    signature does not verify."""
    reader = _Reader(bytes(blob), what)
    cert_type_name = reader.text("certificate type")
    plain = _CERT_TYPES.get(cert_type_name)
    if plain is None:
        raise SignatureError("unsupported-key", f"{what}: {cert_type_name!r} is not supported")
    reader.string("nonce")
    start = reader.position
    _key_fields(reader, plain)
    public_key = _string(plain.encode()) + blob[start : reader.position]
    serial = reader.u64("serial")
    cert_type = reader.u32("certificate type")
    key_id = reader.text("key id")
    names = _Reader(reader.string("principals"), f"{what}'s principals")
    principals = []
    while names.position < names.size:
        principals.append(names.text("principal"))
    valid_after = reader.u64("valid-after")
    valid_before = reader.u64("valid-before")
    reader.string("critical options")
    reader.string("extensions")
    reader.string("reserved field")
    ca_key = reader.string("signature key")
    signed_part = blob[: reader.position]
    signature = reader.string("CA signature")
    reader.end()
    _decode_public_key(public_key, what)
    ca_type = _key_type_of(ca_key, f"{what}'s CA key")
    if ca_type.endswith(_CERT_SUFFIX):
        raise SignatureError("malformed", f"{what}: its CA key is itself a certificate")
    ca_type, ca = _decode_public_key(ca_key, f"{what}'s CA key")
    seen = hashlib.sha256(_string(ca_key) + _string(signature) + signed_part).digest()
    if seen not in _CA_SIGNATURES_VERIFIED:
        try:
            _verify_raw(ca_type, ca, signature, signed_part)
        except SignatureError as error:
            raise SignatureError(
                error.reason, f"{what}: the CA signature does not verify ({error})"
            ) from None
        if len(_CA_SIGNATURES_VERIFIED) >= _CA_SIGNATURES_KEPT:
            _CA_SIGNATURES_VERIFIED.clear()
        _CA_SIGNATURES_VERIFIED.add(seen)
    return Certificate(
        key_type=cert_type_name,
        public_key=public_key,
        serial=serial,
        cert_type=cert_type,
        key_id=key_id,
        principals=tuple(principals),
        valid_after=valid_after,
        valid_before=valid_before,
        ca_key=ca_key,
    )


def fingerprint(public_key_blob: bytes) -> str:
    """The key's SHA256 fingerprint as ``ssh-keygen -l`` prints it (``SHA256:`` + base64)."""
    digest = hashlib.sha256(public_key_blob).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def public_key_from_openssh(line: str) -> bytes:
    """The key blob of an OpenSSH public key line (``ssh-ed25519 AAAA... comment``).

    Accepts every type in :data:`SUPPORTED_KEY_TYPES` (Ed25519, ECDSA, RSA and the FIDO
    ``sk-`` types); the comment is ignored. The blob must name the same type as the line.
    Raises :class:`SignatureError` (``malformed`` or ``unsupported-key``).
    """
    fields = line.strip().split(None, 2)
    if len(fields) < 2:
        raise SignatureError(
            "malformed",
            "expected an OpenSSH public key line 'KEYTYPE BASE64 [COMMENT]' "
            "(the contents of a .pub file)",
        )
    key_type, encoded = fields[0], fields[1]
    try:
        blob = base64.b64decode(encoded.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise SignatureError(
            "malformed", f"the {key_type} public key is not valid base64"
        ) from None
    what = f"the {key_type} public key"
    _decode_public_key(blob, what)
    named = _key_type_of(blob, what)
    if named != key_type:
        raise SignatureError(
            "malformed", f"{what}: its base64 part holds a {named} key, not a {key_type} key"
        )
    return blob


def openssh_public_key(blob: bytes) -> str:
    """The OpenSSH one-line form (``KEYTYPE BASE64``, no comment) of a public key blob."""
    key_type = _key_type_of(blob)
    return f"{key_type} {base64.b64encode(blob).decode('ascii')}"


# --------------------------------------------------------------------------- parsing


def parse_armored(armored: str) -> ParsedSignature:
    """Parse an armored SSHSIG signature (version 1) without checking it cryptographically.

    Accepts what ``ssh-keygen -Y sign`` writes (LF or CRLF line ends, surrounding blank
    space); rejects anything else: a missing header or footer, text after the footer,
    invalid or non-canonical base64, a wrong magic preamble, a version other than 1,
    truncated fields, trailing bytes, an empty namespace, a hash other than sha256/sha512.
    Every problem is a ``malformed`` :class:`SignatureError`.
    """
    if not isinstance(armored, str):
        raise SignatureError("malformed", "an armored SSH signature must be text")
    if len(armored) > _MAX_ARMOR_CHARS:
        raise SignatureError("malformed", "the signature text is far too long for an SSHSIG")
    text = armored.strip(" \t\r\n")
    if not text.startswith(BEGIN):
        raise SignatureError(
            "malformed",
            f"not an armored SSH signature: it must start with the line {BEGIN}; "
            "paste the complete output of ssh-keygen -Y sign",
        )
    lines = [line.rstrip(" \t\r") for line in text.split("\n")]
    if lines[0] != BEGIN:
        raise SignatureError("malformed", f"the first line must be exactly {BEGIN}")
    end_lines = [index for index, line in enumerate(lines) if line == END]
    if not end_lines:
        raise SignatureError(
            "malformed",
            f"the signature has no {END} line: it is truncated; copy all of it",
        )
    if end_lines[0] != len(lines) - 1:
        raise SignatureError(
            "malformed",
            f"unexpected text after the {END} line; remove it",
        )
    body = "".join(line.strip(" \t") for line in lines[1:-1])
    if not body:
        raise SignatureError("malformed", "the signature has no base64 data between its lines")
    if len(body) % 4 or not re.fullmatch(r"[A-Za-z0-9+/]+={0,2}", body):
        raise SignatureError(
            "malformed",
            "the signature's data is not valid base64 (a damaged or truncated copy?)",
        )
    try:
        blob = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("malformed", "the signature's data is not valid base64") from None
    if base64.b64encode(blob).decode("ascii") != body:
        raise SignatureError("malformed", "the signature's base64 data is not canonical")
    return _parse_blob(blob)


def _parse_blob(blob: bytes) -> ParsedSignature:
    what = "the SSH signature"
    reader = _Reader(blob, what)
    if blob[: len(_MAGIC)] != _MAGIC:
        raise SignatureError(
            "malformed", "not an SSH signature: its data does not start with the SSHSIG preamble"
        )
    reader.skip(len(_MAGIC))
    version = reader.u32("version")
    if version != _VERSION:
        raise SignatureError(
            "malformed",
            f"SSHSIG version {version} is not supported (only version {_VERSION}); "
            "sign again with OpenSSH's ssh-keygen -Y sign",
        )
    public_key = reader.string("public key")
    namespace = reader.text("namespace")
    reader.string("reserved field")  # ignored, as PROTOCOL.sshsig says
    hash_algorithm = reader.text("hash algorithm")
    signature = reader.string("signature")
    reader.end()
    if not namespace:
        raise SignatureError("malformed", "the signature's namespace is empty")
    if hash_algorithm not in _HASHES:
        raise SignatureError(
            "malformed",
            f"hash algorithm {hash_algorithm!r} is not one of sha256, sha512",
        )
    key_type = _key_type_of(public_key, "the signature's public key")
    if key_type in SUPPORTED_KEY_TYPES:
        _decode_public_key(public_key, "the signature's public key")
    _Reader(signature, "the signature's signature blob").text("signature algorithm")
    return ParsedSignature(
        public_key=public_key,
        key_type=key_type,
        namespace=namespace,
        hash_algorithm=hash_algorithm,
        signature=signature,
        fingerprint=fingerprint(plain_public_key(public_key)),
    )


# --------------------------------------------------------------------------- verification


def signed_data(message: bytes, namespace: str, hash_algorithm: str) -> bytes:
    """The bytes an SSHSIG key signs for ``message`` (``PROTOCOL.sshsig`` section 3)."""
    digest = _HASHES[hash_algorithm](message)
    return (
        _MAGIC
        + _string(namespace.encode("utf-8"))
        + _string(b"")
        + _string(hash_algorithm.encode("ascii"))
        + _string(digest)
    )


def verify(message: bytes, armored: str, namespace: str) -> ParsedSignature:
    """Check that ``armored`` is a valid SSHSIG over ``message`` in ``namespace``.

    No external program: Ed25519 (:mod:`.ed25519`), and with ``cryptography`` ECDSA
    (nistp256/384/521) and RSA with rsa-sha2-256/512 (SHA-1 ``ssh-rsa`` signatures are
    refused); also the FIDO types
    sk-ssh-ed25519@openssh.com and sk-ecdsa-sha2-nistp256@openssh.com, whose signatures
    must carry the user-presence flag. Returns the parsed signature; who the key belongs to
    is for :func:`jupyter_qsecure.signing.allowed_signers.trust` to say. Raises
    :class:`SignatureError`: ``wrong-namespace`` (naming both namespaces),
    ``bad-signature``, ``unsupported-key`` or ``malformed``.
    """
    parsed = parse_armored(armored)
    if parsed.namespace != namespace:
        raise SignatureError(
            "wrong-namespace",
            f"the signature is for namespace {parsed.namespace!r}, not {namespace!r}: "
            "it was made for another purpose",
        )
    key_type, key = _decode_public_key(parsed.public_key, "the signature's public key")
    data = signed_data(bytes(message), namespace, parsed.hash_algorithm)
    _verify_raw(key_type, key, parsed.signature, data)
    return parsed


def _bad(detail: str) -> SignatureError:
    return SignatureError(
        "bad-signature",
        f"the signature does not verify: {detail}",
    )


def _verify_raw(key_type: str, key: _Key, signature: bytes, data: bytes) -> None:
    reader = _Reader(signature, "the signature's signature blob")
    algorithm = reader.text("signature algorithm")
    if isinstance(key, _Ed25519Key):
        _verify_ed25519(key_type, key, algorithm, reader, data)
        return
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm

    try:
        if isinstance(key, _RsaKey):
            if algorithm == "ssh-rsa":
                raise SignatureError(
                    "unsupported-key",
                    "the RSA signature uses SHA-1 (ssh-rsa), which is not accepted; "
                    "sign again with a current ssh-keygen (rsa-sha2-512)",
                )
            if algorithm not in _RSA_SIGNATURE_HASHES:
                raise _bad(f"signature algorithm {algorithm!r} does not fit an ssh-rsa key")
            raw = reader.string("RSA signature")
            reader.end()
            size = (key.bits + 7) // 8
            if len(raw) > size:
                raise _bad("the RSA signature is longer than the key's modulus")
            from cryptography.hazmat.primitives import hashes
            from cryptography.hazmat.primitives.asymmetric import padding

            hash_type = getattr(hashes, _RSA_SIGNATURE_HASHES[algorithm])
            key.key.verify(raw.rjust(size, b"\0"), data, padding.PKCS1v15(), hash_type())
            return
        _check_algorithm(algorithm, key_type)
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

        inner = _Reader(reader.string("ECDSA signature"), "the ECDSA signature")
        r = inner.mpint("r", strict=False)
        s = inner.mpint("s", strict=False)
        inner.end()
        der = encode_dss_signature(r, s)
        if key.application is None:
            reader.end()
            key.key.verify(der, data, ec.ECDSA(key.hash()))
            return
        flags, counter = reader.u8("FIDO flags"), reader.u32("FIDO counter")
        reader.end()
        key.key.verify(
            der, _fido_data(key.application, flags, counter, data), ec.ECDSA(hashes.SHA256())
        )
        _require_presence(flags)
    except InvalidSignature:
        raise _bad(_CHANGED) from None
    except (ValueError, TypeError, OverflowError, UnsupportedAlgorithm) as error:
        if isinstance(error, SignatureError):
            raise
        raise _bad(f"the signature values are invalid ({error})") from None


_CHANGED = (
    "the message, the namespace or the signature changed since it was signed, "
    "or another key made it"
)


def _check_algorithm(algorithm: str, key_type: str) -> None:
    """Refuse a signature algorithm that is not the key's own type."""
    if algorithm == key_type:
        return
    if algorithm.startswith("webauthn-"):
        raise SignatureError(
            "unsupported-key",
            f"webauthn signatures ({algorithm}) are not supported; sign with ssh-keygen -Y sign",
        )
    raise _bad(f"signature algorithm {algorithm!r} does not match key type {key_type}")


def _verify_ed25519(
    key_type: str, key: _Ed25519Key, algorithm: str, reader: _Reader, data: bytes
) -> None:
    """Check an Ed25519 (or FIDO Ed25519) signature blob's remaining fields over ``data``."""
    from . import ed25519

    _check_algorithm(algorithm, key_type)
    raw = reader.string("Ed25519 signature")
    if len(raw) != 64:
        raise SignatureError("malformed", f"an Ed25519 signature has 64 bytes, not {len(raw)}")
    flags = None
    if key.application is not None:
        flags, counter = reader.u8("FIDO flags"), reader.u32("FIDO counter")
        data = _fido_data(key.application, flags, counter, data)
    reader.end()
    if not ed25519.verify(key.key, data, raw):
        raise _bad(_CHANGED)
    if flags is not None:
        _require_presence(flags)


def _fido_data(application: bytes, flags: int, counter: int, data: bytes) -> bytes:
    """What a FIDO authenticator signs (``PROTOCOL.u2f``), no extensions."""
    return (
        hashlib.sha256(application).digest()
        + bytes([flags])
        + counter.to_bytes(4, "big")
        + hashlib.sha256(data).digest()
    )


def _require_presence(flags: int) -> None:
    if not flags & _FLAG_USER_PRESENT:
        raise SignatureError(
            "bad-signature",
            "the FIDO key signed without user presence (nobody touched it); "
            "sign again with a key that requires touch",
        )


# --------------------------------------------------------------------------- ssh-keygen


def _ssh_keygen() -> str:
    import shutil

    path = shutil.which("ssh-keygen")
    if path is None:
        raise SignatureError(
            "ssh-keygen-failed",
            "ssh-keygen was not found on PATH; install the OpenSSH client (openssh-client)",
        )
    return path


def _check_namespace(namespace: str) -> None:
    if not namespace or any(c in namespace for c in "\0\r\n"):
        raise SignatureError(
            "wrong-namespace", f"invalid signature namespace {namespace!r}: it must be one line"
        )


def _run_ssh_keygen(
    command: list[str], message: bytes, timeout: float, late: str = ""
) -> subprocess.CompletedProcess[bytes]:
    """Run ``ssh-keygen -Y ...`` (``command[2]`` is the action) with ``message`` on standard
    input, in its own session, with the tool environment; a timeout or a missing program
    is a :class:`SignatureError` (``late`` is added to the timeout's message)."""
    import subprocess

    try:
        return subprocess.run(
            command,
            input=bytes(message),
            capture_output=True,
            timeout=timeout,
            env=_tool_env(),
            start_new_session=True,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise SignatureError(
            "ssh-keygen-failed",
            f"ssh-keygen -Y {command[2]} did not finish within {timeout:g} s{late}",
        ) from None
    except OSError as error:
        raise SignatureError(
            "ssh-keygen-failed", f"could not run ssh-keygen: {error.strerror or error}"
        ) from None


def _tool_env() -> dict[str, str]:
    """ssh-keygen's environment: never prompt, never read a passphrase from stdin.

    ``ssh-keygen`` asks for a passphrase or a FIDO PIN on the terminal, or, without one,
    reads it from standard input - which is the message. ``SSH_ASKPASS_REQUIRE=force``
    with a program that answers nothing makes every such question fail instead (the
    agent, which asks with its own environment, is unaffected).
    """
    import shutil

    env = dict(os.environ)
    refuse = shutil.which("false")
    if refuse is not None:
        env["SSH_ASKPASS"] = refuse
        env["SSH_ASKPASS_REQUIRE"] = "force"
    else:  # pragma: no cover - every POSIX system has false(1)
        env["SSH_ASKPASS_REQUIRE"] = "never"
        env.pop("DISPLAY", None)
        env.pop("WAYLAND_DISPLAY", None)
    return env


def _summary(stderr: bytes) -> str:
    lines = [
        line.strip()
        for line in stderr.decode("utf-8", "replace").splitlines()
        if line.strip() and not line.startswith("Signing data on standard input")
    ]
    text = "; ".join(lines)
    return text[:400] + ("..." if len(text) > 400 else "") if text else "no message"


def _agent_hint() -> str:
    sock = os.environ.get("SSH_AUTH_SOCK")
    if not sock:
        return "no ssh-agent is running here (SSH_AUTH_SOCK is not set)"
    if not Path(sock).exists():
        return "SSH_AUTH_SOCK names no socket: the ssh-agent is not running"
    return "the ssh-agent does not hold this key (ssh-add -l lists what it holds)"


def sign_with_ssh_keygen(message: bytes, key: Path, namespace: str, *, timeout: float = 120) -> str:
    """Sign ``message`` with ``ssh-keygen -Y sign -n NAMESPACE -f KEY``; the armored SSHSIG.

    ``key`` is a private key file, or a public key file (``.pub``) whose private half is
    in ``ssh-agent`` (``SSH_AUTH_SOCK``): that is how FIDO keys that need a touch or a PIN
    sign. The message goes to ``ssh-keygen`` on standard input; it runs in its own
    session without a terminal and may not ask for anything, so a passphrase-protected
    key file fails at once (load it into the agent instead). The result is checked with
    :func:`verify` before it is returned. ``timeout`` bounds the wait, a touch included.

    Raises :class:`SignatureError`: ``no-key`` when there is no usable private key (no
    such file, the agent is not running or does not hold the key), ``ssh-keygen-failed``
    otherwise, with ssh-keygen's own explanation summarised; or what :func:`verify`
    raises for the signature it produced. Key material is never read or kept here.
    """
    _check_namespace(namespace)
    exe = _ssh_keygen()
    key = Path(key)
    if not key.is_file():
        raise SignatureError(
            "no-key", f"no key file {str(key)!r}: give a private key or a .pub file"
        )
    # -P "": a passphrase-protected key file fails instead of prompting.
    result = _run_ssh_keygen(
        [exe, "-Y", "sign", "-n", namespace, "-P", "", "-f", str(key)],
        message,
        timeout,
        late=" (a FIDO key waiting for a touch?)",
    )
    if result.returncode != 0:
        detail = _summary(result.stderr)
        lowered = detail.lower()
        if "passphrase" in lowered:
            raise SignatureError(
                "ssh-keygen-failed",
                f"the key {str(key)!r} is protected by a passphrase and cannot be asked for "
                f"here: run ssh-add on it and sign with its .pub file (ssh-keygen: {detail})",
            )
        if "no private key found" in lowered or "couldn't load" in lowered:
            hint = f"; {_agent_hint()}" if key.suffix == ".pub" else ""
            raise SignatureError(
                "no-key",
                f"no private key available for {str(key)!r}{hint} (ssh-keygen: {detail})",
            )
        if re.search(r"\bPIN\b", detail):
            raise SignatureError(
                "ssh-keygen-failed",
                "the FIDO key needs a PIN, which cannot be asked for here: add it to "
                f"ssh-agent (ssh-add -K or ssh-add KEY) and sign with its .pub file "
                f"(ssh-keygen: {detail})",
            )
        raise SignatureError(
            "ssh-keygen-failed",
            f"ssh-keygen -Y sign failed (exit {result.returncode}): {detail}",
        )
    try:
        armored = result.stdout.decode("ascii")
    except UnicodeDecodeError:
        raise SignatureError(
            "ssh-keygen-failed", "ssh-keygen -Y sign wrote something that is not a signature"
        ) from None
    verify(message, armored, namespace)
    return armored


def _openssh_time(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return moment.astimezone(timezone.utc).strftime("%Y%m%d%H%M%SZ")


def verify_with_ssh_keygen(
    message: bytes,
    armored: str,
    namespace: str,
    allowed_signers: Path,
    principal: str,
    *,
    verify_time: datetime | None = None,
    revoked_keys: Path | None = None,
    timeout: float = 60,
) -> bool:
    """Whether stock ``ssh-keygen -Y verify`` accepts the signature for ``principal``.

    Runs ``ssh-keygen -Y verify -f ALLOWED -I PRINCIPAL -n NAMESPACE -s SIGFILE`` with the
    message on standard input (plus ``-r REVOKED`` and ``-Overify-time=`` when given; a
    naive ``verify_time`` is local time). A cross-check for tests and reviewers; raises
    ``ssh-keygen-failed`` only when ssh-keygen cannot be run at all.
    """
    import tempfile

    exe = _ssh_keygen()
    with tempfile.TemporaryDirectory(prefix="qsecure-sshsig-") as scratch:
        sigfile = Path(scratch) / "message.sig"
        sigfile.write_text(armored, encoding="utf-8")
        command = [
            exe,
            "-Y",
            "verify",
            "-f",
            str(allowed_signers),
            "-I",
            principal,
            "-n",
            namespace,
            "-s",
            str(sigfile),
        ]
        if revoked_keys is not None:
            command += ["-r", str(revoked_keys)]
        if verify_time is not None:
            command.append(f"-Overify-time={_openssh_time(verify_time)}")
        result = _run_ssh_keygen(command, message, timeout)
    return result.returncode == 0
