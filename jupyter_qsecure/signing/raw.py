"""Plain signatures (not SSHSIG) with an SSH key, for formats whose verifiers know keys but
not OpenSSH, such as DSSE envelopes checked by securesystemslib: a private key file without
a passphrase, or a key held by ssh-agent (the agent protocol's sign request).

Ed25519 signs the message itself, ECDSA signs its SHA-256/384/512 (by curve; the signature
as DER), RSA signs with PKCS#1 v1.5 and SHA-512. FIDO keys cannot make such signatures:
:func:`raw_signature` answers None for them, and for anything else it cannot use."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from .._files import read_bytes
from .sshsig import WireReader, public_key_from_openssh

_SIGN_REQUEST = 13
_SIGN_RESPONSE = 14
_RSA_SHA2_512 = 4
_ECDSA_HASHES: dict[str, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
    "secp256r1": hashes.SHA256,
    "secp384r1": hashes.SHA384,
    "secp521r1": hashes.SHA512,
}
#: securesystemslib's scheme name for each signature this module makes, by key type.
SCHEMES = {
    "ssh-ed25519": "ed25519",
    "ecdsa-sha2-nistp256": "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384": "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521": "ecdsa-sha2-nistp521",
    "ssh-rsa": "rsa-pkcs1v15-sha512",
}


def _string(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def raw_signature(message: bytes, key: Path, *, timeout: float = 60) -> bytes | None:
    """A plain signature of ``message`` with ``key`` (a private key file without a
    passphrase, or a ``.pub`` whose key ssh-agent holds); None when this key cannot make
    one here (FIDO key, passphrase, no agent)."""
    try:
        data = read_bytes(key)
    except OSError:
        return None
    if b"PRIVATE KEY" in data:
        try:
            private = serialization.load_ssh_private_key(data, password=None)
        except (ValueError, TypeError):
            return None
        return _sign_with(private, message)
    try:
        blob = public_key_from_openssh(data.decode("ascii", "replace"))
    except ValueError:
        return None
    return _agent_sign(blob, message, timeout)


def _sign_with(private: object, message: bytes) -> bytes | None:
    if isinstance(private, ed25519.Ed25519PrivateKey):
        return private.sign(message)
    if isinstance(private, ec.EllipticCurvePrivateKey):
        chosen = _ECDSA_HASHES.get(private.curve.name)
        return private.sign(message, ec.ECDSA(chosen())) if chosen else None
    if isinstance(private, rsa.RSAPrivateKey):
        return private.sign(message, padding.PKCS1v15(), hashes.SHA512())
    return None


def _agent_sign(blob: bytes, message: bytes, timeout: float) -> bytes | None:
    path = os.environ.get("SSH_AUTH_SOCK")
    key_type = WireReader(blob, "the key").text("key type")
    if not path or key_type not in SCHEMES:
        return None
    flags = _RSA_SHA2_512 if key_type == "ssh-rsa" else 0
    request = bytes([_SIGN_REQUEST]) + _string(blob) + _string(message) + flags.to_bytes(4, "big")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(timeout)
            connection.connect(path)
            connection.sendall(_string(request))
            size = int.from_bytes(_receive(connection, 4), "big")
            answer = _receive(connection, size)
    except OSError:
        return None
    if not answer or answer[0] != _SIGN_RESPONSE:
        return None
    try:
        outer = WireReader(WireReader(answer[1:], "the agent's answer").string("signature"), "sig")
        algorithm = outer.text("algorithm")
        raw = outer.string("signature bytes")
        if algorithm.startswith("ecdsa-"):
            inner = WireReader(raw, "the ECDSA signature")
            return encode_dss_signature(
                inner.mpint("r", strict=False), inner.mpint("s", strict=False)
            )
        if key_type == "ssh-rsa" and algorithm != "rsa-sha2-512":
            return None
        return raw
    except ValueError:
        return None


def _receive(connection: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise OSError("the agent closed the connection")
        data += chunk
    return data


def verify_raw(public_key_blob: bytes, signature: bytes, message: bytes) -> bool:
    """Whether ``signature`` is a plain signature of ``message`` (as :func:`raw_signature`
    makes them) by the SSH key ``public_key_blob``."""
    from cryptography.exceptions import InvalidSignature

    from .sshsig import openssh_public_key

    try:
        public = serialization.load_ssh_public_key(openssh_public_key(public_key_blob).encode())
        if isinstance(public, ed25519.Ed25519PublicKey):
            public.verify(signature, message)
        elif isinstance(public, ec.EllipticCurvePublicKey):
            chosen = _ECDSA_HASHES.get(public.curve.name)
            if chosen is None:
                return False
            public.verify(signature, message, ec.ECDSA(chosen()))
        elif isinstance(public, rsa.RSAPublicKey):
            public.verify(signature, message, padding.PKCS1v15(), hashes.SHA512())
        else:
            return False
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True
