"""Our Ed25519 verification answers as ``cryptography`` (OpenSSL) does: on RFC 8032's test
vectors, on random keys and messages, on every single-bit change of a signature or a key,
and on crafted edge cases (non-canonical encodings, S >= L, small-order keys). Where they
differ, ours refuses what RFC 8032 says to refuse and OpenSSL accepts: a public key that
is not a canonical encoding."""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from jupyter_qsecure.signing import ed25519

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493

# RFC 8032, section 7.1, TEST 1 to TEST 3: public key, message, signature.
RFC_8032 = [
    (
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
        "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
        "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
]


def _openssl(public_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        key = Ed25519PublicKey.from_public_bytes(public_key)
        key.verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def _raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


@pytest.mark.parametrize(("public_key", "message", "signature"), RFC_8032)
def test_rfc_8032_vectors_verify(public_key: str, message: str, signature: str) -> None:
    key, data, sig = bytes.fromhex(public_key), bytes.fromhex(message), bytes.fromhex(signature)
    assert ed25519.verify(key, data, sig)
    assert not ed25519.verify(key, data + b"\0", sig)


@settings(max_examples=60, deadline=None)
@given(message=st.binary(max_size=300), seed=st.binary(min_size=32, max_size=32))
def test_random_signatures_and_every_kind_of_damage(message: bytes, seed: bytes) -> None:
    key = Ed25519PrivateKey.from_private_bytes(seed)
    public, signature = _raw(key), key.sign(message)
    assert ed25519.verify(public, message, signature)
    for index in range(0, 64, 7):
        damaged = bytearray(signature)
        damaged[index] ^= 1 << (index % 8)
        assert ed25519.verify(public, message, bytes(damaged)) is False
        assert _openssl(public, message, bytes(damaged)) is False
    other = bytearray(public)
    other[seed[0] % 32] ^= 1 << (seed[1] % 8)
    assert ed25519.verify(bytes(other), message, signature) == _openssl(
        bytes(other), message, signature
    )
    assert not ed25519.verify(public, message + b"x", signature)


@settings(max_examples=200, deadline=None)
@given(public=st.binary(min_size=32, max_size=32), signature=st.binary(min_size=64, max_size=64))
def test_arbitrary_bytes_are_judged_as_openssl_judges_them(public: bytes, signature: bytes) -> None:
    assert ed25519.verify(public, b"m", signature) == _openssl(public, b"m", signature)


def _encoded(y: int, sign: int = 0) -> bytes:
    return (y | sign << 255).to_bytes(32, "little")


IDENTITY = _encoded(1)
EDGE_KEYS = {
    "identity (small order)": IDENTITY,
    "order 2 (y = -1)": _encoded(P - 1),
    "y = 0, order 4": _encoded(0),
    "non-canonical y = p + 1": (P + 1).to_bytes(32, "little"),
    "non-canonical y = p": P.to_bytes(32, "little"),
    "x = 0 with the sign bit": _encoded(1, 1),
    "not on the curve (y = 2)": _encoded(2),
    "all ones": b"\xff" * 32,
}
NON_CANONICAL_KEYS = {"non-canonical y = p + 1", "non-canonical y = p", "x = 0 with the sign bit"}


def test_openssl_accepts_what_we_refuse_only_for_non_canonical_keys() -> None:
    """The one known difference, shown: a signature by the identity written as y = p + 1."""
    signature = IDENTITY + bytes(32)
    for name in ("non-canonical y = p + 1", "x = 0 with the sign bit"):
        assert _openssl(EDGE_KEYS[name], b"m", signature)
        assert not ed25519.verify(EDGE_KEYS[name], b"m", signature)
    assert ed25519.verify(IDENTITY, b"m", signature) == _openssl(IDENTITY, b"m", signature)


@pytest.mark.parametrize("name", sorted(EDGE_KEYS))
@pytest.mark.parametrize(
    "signature",
    [
        IDENTITY + bytes(32),  # R = identity, S = 0
        IDENTITY + L.to_bytes(32, "little"),  # S = L: malleated
        IDENTITY + (L + 1).to_bytes(32, "little"),
        _encoded(P - 1) + bytes(32),
        bytes(64),
    ],
    ids=["R=O,S=0", "S=L", "S=L+1", "R=order2,S=0", "zeros"],
)
def test_crafted_keys_and_signatures_match_openssl(name: str, signature: bytes) -> None:
    public = EDGE_KEYS[name]
    ours, theirs = ed25519.verify(public, b"m", signature), _openssl(public, b"m", signature)
    if name in NON_CANONICAL_KEYS:
        assert ours is False  # RFC 8032 5.1.3: decoding fails; OpenSSL reduces mod p
    else:
        assert ours == theirs


def test_s_at_or_above_the_group_order_is_refused() -> None:
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    signature = key.sign(b"m")
    s = int.from_bytes(signature[32:], "little")
    malleated = signature[:32] + (s + L).to_bytes(32, "little")
    assert ed25519.verify(_raw(key), b"m", signature)
    assert not ed25519.verify(_raw(key), b"m", malleated)
    assert not _openssl(_raw(key), b"m", malleated)


@pytest.mark.parametrize(("key_size", "signature_size"), [(31, 64), (33, 64), (32, 63), (32, 65)])
def test_wrong_lengths_are_false(key_size: int, signature_size: int) -> None:
    assert ed25519.verify(bytes(key_size), b"m", bytes(signature_size)) is False
