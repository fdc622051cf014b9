"""Ed25519 signature verification (RFC 8032, section 5.1.7), in pure Python.

Why not ``cryptography``: importing its Ed25519 module costs a new process about 17 ms
(its Rust bindings, ``typing``, ``enum``), more than a third of what ``jupyter-qsecure
verify`` may take from the shell, while one verification here takes about 2 ms
(``bench/README.md``). Verification handles only public values (a public key, a message, a
signature), so running in variable time leaks nothing; signing is never done here.

The checks are RFC 8032's, and those of OpenSSL (which ``cryptography`` uses), which the
test suite compares on random and crafted inputs:

- ``S`` must be below the group order ``L`` (no malleable signatures);
- the public key must be a canonical encoding of a curve point (``y < p``; no ``x = 0``
  with the sign bit set);
- ``[S]B - [k]A`` must encode to exactly the signature's ``R`` bytes (the cofactorless
  equation, as OpenSSL and OpenSSH check it), with ``k = SHA-512(R || A || M) mod L``.
"""

from __future__ import annotations

import hashlib

__all__ = ["verify"]

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_D2 = 2 * _D % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
#: The identity in extended coordinates (X, Y, Z, T) with x = X/Z, y = Y/Z, xy = T/Z.
_IDENTITY = (0, 1, 1, 0)

_Point = tuple[int, int, int, int]


def _add(p: _Point, q: _Point) -> _Point:
    """p + q (the "add-2008-hwcd-3" formulas for a = -1)."""
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % _P
    b = (y1 + x1) * (y2 + x2) % _P
    c = t1 * _D2 * t2 % _P
    d = 2 * z1 * z2 % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return e * f % _P, g * h % _P, f * g % _P, e * h % _P


def _double(p: _Point) -> _Point:
    """2p (the "dbl-2008-hwcd" formulas for a = -1)."""
    x1, y1, z1, _ = p
    a = x1 * x1 % _P
    b = y1 * y1 % _P
    c = 2 * z1 * z1 % _P
    h = a + b
    e = h - (x1 + y1) * (x1 + y1) % _P
    g = a - b
    f = c + g
    return e * f % _P, g * h % _P, f * g % _P, e * h % _P


def _decode(encoded: bytes) -> _Point | None:
    """The point a 32-byte encoding names (RFC 8032, 5.1.3), or None when it names none
    or is not canonical."""
    y = int.from_bytes(encoded, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    if y >= _P:
        return None
    u = (y * y - 1) % _P
    v = (_D * y * y + 1) % _P
    # x = sqrt(u / v), computed as u v^3 (u v^7)^((p - 5) / 8).
    x = u * pow(v, 3, _P) * pow(u * pow(v, 7, _P), (_P - 5) // 8, _P) % _P
    check = v * x * x % _P
    if check == (-u) % _P:
        x = x * _SQRT_M1 % _P
    elif check != u:
        return None
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = _P - x
    return x, y, 1, x * y % _P


def _encode(point: _Point) -> bytes:
    x, y, z, _ = point
    inverse = pow(z, _P - 2, _P)
    x, y = x * inverse % _P, y * inverse % _P
    return (y | (x & 1) << 255).to_bytes(32, "little")


_BASE = _decode((4 * pow(5, _P - 2, _P) % _P).to_bytes(32, "little"))


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True when ``signature`` (64 bytes: ``R || S``) is ``public_key``'s (32 bytes)
    Ed25519 signature of ``message``; False for anything else, malformed input included."""
    if len(public_key) != 32 or len(signature) != 64 or _BASE is None:
        return False
    a = _decode(public_key)
    if a is None:
        return False
    r_bytes = signature[:32]
    s = int.from_bytes(signature[32:], "little")
    if s >= _L:
        return False
    k = int.from_bytes(hashlib.sha512(r_bytes + public_key + message).digest(), "little") % _L
    # [s]B + [k](-A), one doubling a bit of the longer scalar (Straus' method).
    minus_a = ((_P - a[0]) % _P, a[1], a[2], (_P - a[3]) % _P)
    both = _add(_BASE, minus_a)
    total = _IDENTITY
    for bit in range(max(s.bit_length(), k.bit_length()) - 1, -1, -1):
        total = _double(total)
        if s >> bit & 1:
            total = _add(total, both if k >> bit & 1 else _BASE)
        elif k >> bit & 1:
            total = _add(total, minus_a)
    return _encode(total) == r_bytes
