"""Attacks on the Ed25519 path of SSHSIG verification (plain and FIDO keys, certificates
signed by Ed25519 CAs), each judged beside stock ``ssh-keygen -Y verify``.

Where we answer as ssh-keygen does: keys and nonces of small or mixed order (a small-order
key "signs" anything, here as in OpenSSH: trusting one, or a CA with one, trusts everyone),
damaged or padded signature blobs, algorithm names that do not fit the key. Where we are
stricter, on purpose: ``S >= L`` (ssh-keygen reduces S, so one signature has many
encodings) and a public key that is not a canonical encoding. Every refusal keeps the
reason the ``cryptography`` verifier gave before Ed25519 moved to :mod:`.ed25519`."""

from __future__ import annotations

import base64
import hashlib
import shutil
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from jupyter_qsecure.signing import ed25519, sshsig
from jupyter_qsecure.signing.sshsig import (
    BEGIN,
    END,
    SignatureError,
    openssh_public_key,
    parse_certificate,
    signed_data,
    verify,
    verify_with_ssh_keygen,
)

NS = "notebook@jupyter-qsecure"
MESSAGE = b'{"statement": 1}'
PRINCIPAL = "ada@lab.example"
P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
ED = b"ssh-ed25519"
SK = b"sk-ssh-ed25519@openssh.com"
needs_openssh = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen")


def string(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def armor(public_key: bytes, signature: bytes) -> str:
    blob = (
        b"SSHSIG"
        + (1).to_bytes(4, "big")
        + string(public_key)
        + string(NS.encode())
        + string(b"")
        + string(b"sha512")
        + string(signature)
    )
    text = base64.b64encode(blob).decode()
    lines = [text[i : i + 70] for i in range(0, len(text), 70)]
    return "\n".join([BEGIN, *lines, END]) + "\n"


def outcome(message: bytes, armored: str) -> str:
    try:
        verify(message, armored, NS)
    except SignatureError as error:
        return error.reason
    return "ok"


def keygen_accepts(
    tmp_path: Path, message: bytes, armored: str, line: str, principal: str = PRINCIPAL
) -> bool:
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"{PRINCIPAL} {line}\n")
    return verify_with_ssh_keygen(message, armored, NS, allowed, principal)


def openssl_accepts(public_key: bytes, data: bytes, signature: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True


# --------------------------------------------------------------------------- the group

Point = tuple[int, int, int, int]


def times(point: Point, scalar: int) -> Point:
    total = (0, 1, 1, 0)
    for bit in range(scalar.bit_length() - 1, -1, -1):
        total = ed25519._double(total)
        if scalar >> bit & 1:
            total = ed25519._add(total, point)
    return total


def negate(point: Point) -> Point:
    return (-point[0] % P, point[1], point[2], -point[3] % P)


def base() -> Point:
    assert ed25519._BASE is not None
    return ed25519._BASE


def encoded(point: Point) -> bytes:
    return ed25519._encode(point)


def torsion() -> list[bytes]:
    """The eight points of small order, computed: [L]Q for points Q until one has order 8."""
    for y in range(2, 200):
        point = ed25519._decode(y.to_bytes(32, "little"))
        if point is None:
            continue
        small = times(point, L)
        if encoded(times(small, 4)) != encoded((0, 1, 1, 0)):
            return [encoded(times(small, i)) for i in range(8)]
    raise AssertionError("no point of order 8 found")


TORSION = torsion()


def forge_for_small_order_key(key: bytes, data_of: dict[bytes, bytes]) -> tuple[bytes, bytes]:
    """A message among ``data_of`` and a signature of it under the small-order ``key``:
    S = 0 and R = -[k]A, which holds for one R in eight (no secret involved)."""
    point = ed25519._decode(key)
    if point is None:  # a non-canonical encoding: the point OpenSSH reads it as
        y = int.from_bytes(key, "little") & (2**255 - 1)
        point = ed25519._decode(((y % P) | (key[31] >> 7) << 255).to_bytes(32, "little"))
    assert point is not None
    for message, data in data_of.items():
        for r in TORSION:
            k = int.from_bytes(hashlib.sha512(r + key + data).digest(), "little") % L
            if encoded(negate(times(point, k))) == r:
                return message, r + bytes(32)
    raise AssertionError("no forgery found")


def messages() -> dict[bytes, bytes]:
    return {
        MESSAGE + bytes([i]): signed_data(MESSAGE + bytes([i]), NS, "sha512") for i in range(64)
    }


# --------------------------------------------------------------------------- keys


SMALL_ORDER = {"identity": 0, "order 2": 4, "order 4": 2, "order 8": 1}


@needs_openssh
@pytest.mark.parametrize("name", list(SMALL_ORDER))
def test_a_small_order_key_signs_anything_here_as_in_ssh_keygen(name: str, tmp_path: Path) -> None:
    """No secret is needed: trusting such a key trusts everyone, for ssh-keygen too."""
    key = TORSION[SMALL_ORDER[name]]
    message, signature = forge_for_small_order_key(key, messages())
    public = string(ED) + string(key)
    armored = armor(public, string(ED) + string(signature))
    assert outcome(message, armored) == "ok"
    assert keygen_accepts(tmp_path, message, armored, openssh_public_key(public))
    assert openssl_accepts(key, signed_data(message, NS, "sha512"), signature)


@needs_openssh
@pytest.mark.parametrize("torsion_index", [1, 2, 4])
def test_mixed_order_keys_and_nonces_are_judged_as_ssh_keygen_judges_them(
    torsion_index: int, tmp_path: Path
) -> None:
    """A key with a small-order part verifies (cofactorless, as OpenSSH) when k is a
    multiple of that part's order; a nonce R with a small-order part never does."""
    secret = int.from_bytes(hashlib.sha512(b"a scalar").digest(), "little") % L
    torsion_point = ed25519._decode(TORSION[torsion_index])
    assert torsion_point is not None
    mixed = encoded(ed25519._add(times(base(), secret), torsion_point))
    data = signed_data(MESSAGE, NS, "sha512")
    for counter in range(200):
        r = int.from_bytes(hashlib.sha512(b"nonce %d" % counter).digest(), "little") % L
        nonce = encoded(times(base(), r))
        k = int.from_bytes(hashlib.sha512(nonce + mixed + data).digest(), "little") % L
        if k % 8 == 0:
            break
    else:
        raise AssertionError("no nonce found")
    signature = nonce + ((r + k * secret) % L).to_bytes(32, "little")
    public = string(ED) + string(mixed)
    armored = armor(public, string(ED) + string(signature))
    assert outcome(MESSAGE, armored) == "ok"
    assert keygen_accepts(tmp_path, MESSAGE, armored, openssh_public_key(public))

    plain = encoded(times(base(), secret))
    shifted = encoded(ed25519._add(times(base(), r), torsion_point))
    k = int.from_bytes(hashlib.sha512(shifted + plain + data).digest(), "little") % L
    signature = shifted + ((r + k * secret) % L).to_bytes(32, "little")
    public = string(ED) + string(plain)
    armored = armor(public, string(ED) + string(signature))
    assert outcome(MESSAGE, armored) == "bad-signature"
    assert not keygen_accepts(tmp_path, MESSAGE, armored, openssh_public_key(public))
    assert not openssl_accepts(plain, data, signature)


@needs_openssh
def test_a_non_canonical_key_is_refused_where_ssh_keygen_reduces_it(tmp_path: Path) -> None:
    """y = p + 1 names the identity, which signs anything; OpenSSH reads it mod p."""
    key = (P + 1).to_bytes(32, "little")
    message, signature = forge_for_small_order_key(key, messages())
    public = string(ED) + string(key)
    armored = armor(public, string(ED) + string(signature))
    assert keygen_accepts(tmp_path, message, armored, openssh_public_key(public))
    assert outcome(message, armored) == "bad-signature"


@needs_openssh
def test_s_plus_l_is_refused_where_ssh_keygen_accepts_it(tmp_path: Path) -> None:
    """ssh-keygen only checks S < 2**253, so a second encoding of one signature passes
    there; we (and OpenSSL) want the one with S < L."""
    key = Ed25519PrivateKey.generate()
    public = string(ED) + string(key.public_key().public_bytes_raw())
    signature = key.sign(signed_data(MESSAGE, NS, "sha512"))
    s = int.from_bytes(signature[32:], "little")
    assert s + L < 2**253
    malleated = signature[:32] + (s + L).to_bytes(32, "little")
    armored = armor(public, string(ED) + string(malleated))
    assert keygen_accepts(tmp_path, MESSAGE, armored, openssh_public_key(public))
    assert outcome(MESSAGE, armored) == "bad-signature"
    assert outcome(MESSAGE, armor(public, string(ED) + string(signature))) == "ok"


# --------------------------------------------------------------------------- blobs


@pytest.fixture(scope="module")
def fido() -> tuple[bytes, bytes, bytes]:
    """A FIDO Ed25519 key (played in-process), its signature blob over MESSAGE with
    user presence and counter 7, and the key blob."""
    key = Ed25519PrivateKey.generate()
    public = string(SK) + string(key.public_key().public_bytes_raw()) + string(b"ssh:")
    trailer = b"\x01" + (7).to_bytes(4, "big")
    data = (
        hashlib.sha256(b"ssh:").digest()
        + trailer
        + hashlib.sha256(signed_data(MESSAGE, NS, "sha512")).digest()
    )
    return public, string(SK) + string(key.sign(data)) + trailer, key.sign(data)


@pytest.fixture(scope="module")
def plain() -> tuple[bytes, bytes, bytes]:
    key = Ed25519PrivateKey.generate()
    public = string(ED) + string(key.public_key().public_bytes_raw())
    raw = key.sign(signed_data(MESSAGE, NS, "sha512"))
    return public, string(ED) + string(raw), raw


@needs_openssh
@pytest.mark.parametrize("kind", ["plain", "fido"])
def test_trailing_bytes_after_the_signature_are_malformed(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    public, blob, _ = request.getfixturevalue(kind)
    assert outcome(MESSAGE, armor(public, blob)) == "ok"
    for extra in (b"\0", string(b""), b"\x01" + (7).to_bytes(4, "big")):
        armored = armor(public, blob + extra)
        assert outcome(MESSAGE, armored) == "malformed"
        assert not keygen_accepts(tmp_path, MESSAGE, armored, openssh_public_key(public))


@pytest.mark.parametrize("kind", ["plain", "fido"])
def test_every_truncation_of_the_signature_blob_is_malformed(
    kind: str, request: pytest.FixtureRequest
) -> None:
    public, blob, _ = request.getfixturevalue(kind)
    for size in range(len(blob)):
        assert outcome(MESSAGE, armor(public, blob[:size])) == "malformed", size


@pytest.mark.parametrize(
    ("algorithm", "reason"),
    [
        (SK, "bad-signature"),
        (b"ssh-ed25519-cert-v01@openssh.com", "bad-signature"),
        (b"rsa-sha2-512", "bad-signature"),
        (b"ecdsa-sha2-nistp256", "bad-signature"),
        (b"webauthn-sk-ssh-ed25519@openssh.com", "unsupported-key"),
        (b"ssh-ed25519\0", "malformed"),
    ],
)
def test_an_algorithm_that_is_not_the_keys_is_refused(
    plain: tuple[bytes, bytes, bytes], algorithm: bytes, reason: str
) -> None:
    public, _, raw = plain
    assert outcome(MESSAGE, armor(public, string(algorithm) + string(raw))) == reason


def test_fido_fields_are_checked_and_presence_required(fido: tuple[bytes, bytes, bytes]) -> None:
    public, blob, raw = fido
    head = string(SK) + string(raw)
    assert outcome(MESSAGE, armor(public, head + b"\x05" + (7).to_bytes(4, "big"))) == (
        "bad-signature"
    )
    assert outcome(MESSAGE, armor(public, head + b"\x01" + (8).to_bytes(4, "big"))) == (
        "bad-signature"
    )
    assert outcome(MESSAGE, armor(public, string(ED) + string(raw))) == "bad-signature"
    plain_key = string(ED) + public[len(string(SK)) : len(string(SK)) + 36]
    assert outcome(MESSAGE, armor(plain_key, blob)) == "bad-signature"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (string(b"\x01\x00\x01") + string(b"\x00" + b"\x81" * 256), "malformed"),  # RSA e, n
        (string(b"nistp256") + string(b"\x04" + b"\x01" * 64), "malformed"),
        (string(b"\x01" * 31), "malformed"),
        (string(b"\x01" * 33), "malformed"),
        (string(b"\x01" * 32) + b"\0", "malformed"),
    ],
    ids=["rsa body", "ecdsa body", "31 bytes", "33 bytes", "trailing byte"],
)
def test_a_key_named_ssh_ed25519_that_is_not_one_is_malformed(
    plain: tuple[bytes, bytes, bytes], body: bytes, reason: str
) -> None:
    _, blob, _ = plain
    assert outcome(MESSAGE, armor(string(ED) + body, blob)) == reason


# --------------------------------------------------------------------------- certificates


def certificate(ca_key: bytes, sign: object, user_key: bytes, *, extra: bytes = b"") -> bytes:
    """An Ed25519 user certificate for ``user_key`` naming PRINCIPAL, valid forever, signed
    by ``sign(tbs) -> signature blob`` (``extra`` is appended inside that blob)."""
    tbs = (
        string(b"ssh-ed25519-cert-v01@openssh.com")
        + string(bytes(32))
        + string(user_key)
        + (7).to_bytes(8, "big")
        + (1).to_bytes(4, "big")
        + string(b"id")
        + string(string(PRINCIPAL.encode()))
        + bytes(8)
        + (2**64 - 1).to_bytes(8, "big")
        + string(b"")
        + string(b"")
        + string(b"")
        + string(ca_key)
    )
    assert callable(sign)
    return tbs + string(sign(tbs) + extra)


def cert_outcome(blob: bytes) -> str:
    try:
        parse_certificate(blob)
    except SignatureError as error:
        return error.reason
    return "ok"


def test_ed25519_ca_signatures_are_checked_like_signatures() -> None:
    ca = Ed25519PrivateKey.generate()
    ca_key = string(ED) + string(ca.public_key().public_bytes_raw())
    user = Ed25519PrivateKey.generate().public_key().public_bytes_raw()

    def signs(tbs: bytes) -> bytes:
        return string(ED) + string(ca.sign(tbs))

    def malleates(tbs: bytes) -> bytes:
        raw = ca.sign(tbs)
        s = int.from_bytes(raw[32:], "little") + L
        return string(ED) + string(raw[:32] + s.to_bytes(32, "little"))

    assert cert_outcome(certificate(ca_key, signs, user)) == "ok"
    assert cert_outcome(certificate(ca_key, signs, user, extra=b"\0")) == "malformed"
    assert cert_outcome(certificate(ca_key, malleates, user)) == "bad-signature"
    assert cert_outcome(certificate(ca_key + b"\0", signs, user)) == "malformed"
    assert cert_outcome(certificate(ca_key, signs, user[:31])) == "malformed"


@pytest.mark.parametrize(("flags", "reason"), [(1, "ok"), (5, "ok"), (0, "bad-signature")])
def test_a_fido_ca_must_have_been_touched(flags: int, reason: str) -> None:
    ca = Ed25519PrivateKey.generate()
    ca_key = string(SK) + string(ca.public_key().public_bytes_raw()) + string(b"ssh:")
    user = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    trailer = bytes([flags]) + (3).to_bytes(4, "big")

    def signs(tbs: bytes) -> bytes:
        data = hashlib.sha256(b"ssh:").digest() + trailer + hashlib.sha256(tbs).digest()
        return string(SK) + string(ca.sign(data)) + trailer

    assert cert_outcome(certificate(ca_key, signs, user)) == reason
    assert cert_outcome(certificate(ca_key, signs, user, extra=b"\0")) == "malformed"


@needs_openssh
def test_a_small_order_ca_certifies_anyone_here_as_in_ssh_keygen(tmp_path: Path) -> None:
    """A cert-authority line with a small-order key: anyone mints a certificate for any
    principal and signs with it, in ssh-keygen as here."""
    ca_point = TORSION[1]
    ca_key = string(ED) + string(ca_point)

    def forged(tbs: bytes) -> bytes:
        _, signature = forge_for_small_order_key(ca_point, {b"": tbs})
        return string(ED) + string(signature)

    for seed in range(64):  # one user key in about three gives a certificate R fits
        user = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"%d" % seed).digest())
        try:
            blob = certificate(ca_key, forged, user.public_key().public_bytes_raw())
        except AssertionError:
            continue
        break
    else:
        raise AssertionError("no forged certificate")
    assert cert_outcome(blob) == "ok"
    signature = string(ED) + string(user.sign(signed_data(MESSAGE, NS, "sha512")))
    armored = armor(blob, signature)
    assert outcome(MESSAGE, armored) == "ok"
    line = f"cert-authority {openssh_public_key(ca_key)}"
    assert keygen_accepts(tmp_path, MESSAGE, armored, line)


# --------------------------------------------------------------------------- cost


@needs_openssh
def test_a_certificates_ca_signature_is_checked_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Verification looks at a signer's certificate many times (its key, its fingerprint,
    trust, thresholds); each look checked the CA signature again, now ~2 ms in pure Python:
    a notebook with 64 certificate signatures took 0.77 s of CPU instead of 0.06 s. Each
    signature is checked once, each certificate's CA signature once."""
    import json
    import subprocess

    import nbformat

    from jupyter_qsecure.cli.fast import fast_main
    from jupyter_qsecure.signing.signatures import sign_notebook

    def keygen(*args: str) -> None:
        subprocess.run(["ssh-keygen", "-q", *args], check=True, capture_output=True, timeout=60)

    keygen("-t", "ed25519", "-N", "", "-f", str(tmp_path / "ca"))
    keygen("-t", "ed25519", "-N", "", "-f", str(tmp_path / "user"))
    keygen("-s", str(tmp_path / "ca"), "-I", "ada", "-n", PRINCIPAL, str(tmp_path / "user.pub"))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    notebook = json.loads(
        nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1", id="a")]))
    )
    sign_notebook(notebook, tmp_path / "user-cert.pub", principal=PRINCIPAL)
    entries = notebook["metadata"]["qsecure"]["signatures"]
    entries[:] = [dict(entries[0]) for _ in range(3)]
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(notebook))
    ca = (tmp_path / "ca.pub").read_text().split()
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"{PRINCIPAL} cert-authority {ca[0]} {ca[1]}\n")

    checked: list[bytes] = []
    real = ed25519.verify

    def counting(public_key: bytes, message: bytes, signature: bytes) -> bool:
        checked.append(signature)
        return real(public_key, message, signature)

    monkeypatch.setattr(ed25519, "verify", counting)
    monkeypatch.setattr(sshsig, "_CA_SIGNATURES_VERIFIED", set())  # signing checked it
    assert fast_main(["verify", str(path), "--allowed-signers", str(allowed)]) == 0
    assert "certificate authority line 1" in capsys.readouterr().out
    assert len(checked) == 3 + 1, len(checked)
