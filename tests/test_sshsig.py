"""SSHSIG: interop with the real OpenSSH tools both ways, ssh-agent, tampering, FIDO, fuzzing.

Keys are generated fresh in temporary directories with ``ssh-keygen -N ''`` (or with
``cryptography`` where the test plays the authenticator); none is kept.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyter_qsecure.signing.sshsig import (
    BEGIN,
    END,
    ParsedSignature,
    SignatureError,
    fingerprint,
    openssh_public_key,
    parse_armored,
    public_key_from_openssh,
    sign_with_ssh_keygen,
    signed_data,
    verify,
    verify_with_ssh_keygen,
)

NS = "notebook@jupyter-qsecure"
MESSAGE = b'{"cells": [], "nbformat": 4}\n'
PRINCIPAL = "alice@example.com"

needs_openssh = pytest.mark.skipif(
    shutil.which("ssh-keygen") is None, reason="needs OpenSSH's ssh-keygen"
)

#: name -> (ssh-keygen -t/-b arguments, key type in the blob)
KEY_TYPES = {
    "ed25519": (["-t", "ed25519"], "ssh-ed25519"),
    "ecdsa256": (["-t", "ecdsa", "-b", "256"], "ecdsa-sha2-nistp256"),
    "ecdsa384": (["-t", "ecdsa", "-b", "384"], "ecdsa-sha2-nistp384"),
    "ecdsa521": (["-t", "ecdsa", "-b", "521"], "ecdsa-sha2-nistp521"),
    "rsa3072": (["-t", "rsa", "-b", "3072"], "ssh-rsa"),
}


# --------------------------------------------------------------------------- helpers


def _run(
    args: list[str], *, input: bytes = b"", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        args,
        input=input,
        capture_output=True,
        timeout=60,
        env=env,
        start_new_session=True,
        check=False,
    )


def generate(directory: Path, name: str, kind: str, passphrase: str = "") -> Path:
    """A fresh key pair from ssh-keygen; the private key's path."""
    path = directory / name
    result = _run(
        ["ssh-keygen", "-q", *KEY_TYPES[kind][0], "-N", passphrase, "-C", name, "-f", str(path)]
    )
    assert result.returncode == 0, result.stderr
    return path


def keygen_sign(key: Path, message: bytes, namespace: str = NS, *options: str) -> str:
    """Sign with stock ``ssh-keygen -Y sign`` (message on stdin)."""
    result = _run(
        ["ssh-keygen", "-Y", "sign", "-n", namespace, *options, "-f", str(key)], input=message
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.decode()


def keygen_verify(
    directory: Path,
    message: bytes,
    armored: str,
    allowed: str,
    *,
    namespace: str = NS,
    principal: str = PRINCIPAL,
) -> subprocess.CompletedProcess[bytes]:
    """Stock ``ssh-keygen -Y verify`` with an allowed_signers file holding ``allowed``."""
    allowed_file = directory / "allowed_signers"
    allowed_file.write_text(allowed)
    sig = directory / "message.sig"
    sig.write_text(armored)
    return _run(
        [
            "ssh-keygen",
            "-Y",
            "verify",
            "-f",
            str(allowed_file),
            "-I",
            principal,
            "-n",
            namespace,
            "-s",
            str(sig),
        ],
        input=message,
    )


def keygen_fingerprint(pub_line: str, directory: Path) -> str:
    path = directory / "fp.pub"
    path.write_text(pub_line + "\n")
    result = _run(["ssh-keygen", "-l", "-E", "sha256", "-f", str(path)])
    assert result.returncode == 0, result.stderr
    return result.stdout.decode().split()[1]


def string(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def mpint(value: int) -> bytes:
    raw = value.to_bytes((value.bit_length() + 8) // 8, "big") if value else b""
    return string(raw)


def armor(blob: bytes) -> str:
    text = base64.b64encode(blob).decode()
    return (
        BEGIN
        + "\n"
        + "\n".join(text[i : i + 70] for i in range(0, len(text), 70))
        + "\n"
        + END
        + "\n"
    )


def dearmor(armored: str) -> bytes:
    return base64.b64decode("".join(armored.strip().splitlines()[1:-1]))


def sshsig_blob(
    public_key: bytes,
    signature: bytes,
    *,
    namespace: str = NS,
    hash_algorithm: str = "sha512",
    reserved: bytes = b"",
    magic: bytes = b"SSHSIG",
    version: int = 1,
) -> bytes:
    return (
        magic
        + version.to_bytes(4, "big")
        + string(public_key)
        + string(namespace.encode())
        + string(reserved)
        + string(hash_algorithm.encode())
        + string(signature)
    )


def fields(armored: str) -> dict[str, bytes]:
    """The fields of an SSHSIG blob, for rebuilding it changed."""
    blob = dearmor(armored)
    out: dict[str, bytes] = {}
    pos = 10
    for name in ("public_key", "namespace", "reserved", "hash", "signature"):
        size = int.from_bytes(blob[pos : pos + 4], "big")
        out[name] = blob[pos + 4 : pos + 4 + size]
        pos += 4 + size
    return out


class Authenticator:
    """Plays a key in-process: plain Ed25519/ECDSA/RSA, and FIDO keys (PROTOCOL.u2f)."""

    def __init__(self, kind: str, application: bytes = b"ssh:") -> None:
        self.kind = kind
        self.application = application
        if kind in ("ssh-ed25519", "sk-ssh-ed25519@openssh.com"):
            self.ed = Ed25519PrivateKey.generate()
            raw = self.ed.public_key().public_bytes_raw()
            self.blob = string(kind.encode()) + string(raw)
        elif kind in ("ecdsa-sha2-nistp256", "sk-ecdsa-sha2-nistp256@openssh.com"):
            self.ec = ec.generate_private_key(ec.SECP256R1())
            point = self.ec.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
            self.blob = string(kind.encode()) + string(b"nistp256") + string(point)
        elif kind == "ssh-rsa":
            self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            numbers = self.rsa.public_key().public_numbers()
            self.blob = string(b"ssh-rsa") + mpint(numbers.e) + mpint(numbers.n)
        else:  # pragma: no cover
            raise ValueError(kind)
        if kind.startswith("sk-"):
            self.blob += string(application)

    def sign(
        self,
        message: bytes,
        *,
        namespace: str = NS,
        hash_algorithm: str = "sha512",
        flags: int = 0x01,
        counter: int = 7,
        signed_flags: int | None = None,
        signed_application: bytes | None = None,
        rsa_algorithm: str = "rsa-sha2-512",
    ) -> str:
        """An armored SSHSIG over ``message``; ``signed_*`` make the FIDO data lie."""
        data = signed_data(message, namespace, hash_algorithm)
        if self.kind.startswith("sk-"):
            app = self.application if signed_application is None else signed_application
            flag = flags if signed_flags is None else signed_flags
            data = (
                hashlib.sha256(app).digest()
                + bytes([flag])
                + counter.to_bytes(4, "big")
                + hashlib.sha256(data).digest()
            )
        trailer = (
            bytes([flags]) + counter.to_bytes(4, "big") if self.kind.startswith("sk-") else b""
        )
        if "ed25519" in self.kind:
            sig = string(self.kind.encode()) + string(self.ed.sign(data)) + trailer
        elif "ecdsa" in self.kind:
            r, s = decode_dss_signature(self.ec.sign(data, ec.ECDSA(hashes.SHA256())))
            sig = string(self.kind.encode()) + string(mpint(r) + mpint(s)) + trailer
        else:
            hash_type = {
                "rsa-sha2-256": hashes.SHA256,
                "rsa-sha2-512": hashes.SHA512,
                "ssh-rsa": hashes.SHA1,
            }[rsa_algorithm]
            raw = self.rsa.sign(data, padding.PKCS1v15(), hash_type())
            sig = string(rsa_algorithm.encode()) + string(raw)
        return armor(
            sshsig_blob(self.blob, sig, namespace=namespace, hash_algorithm=hash_algorithm)
        )

    @property
    def line(self) -> str:
        return openssh_public_key(self.blob)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Fresh ssh-keygen keys by kind, made once per module."""
    directory = tmp_path_factory.mktemp("keys")
    made: dict[str, Path] = {}

    def get(kind: str) -> Path:
        if kind not in made:
            made[kind] = generate(directory, f"id_{kind}", kind)
        return made[kind]

    return get


def _short_directory(tmp_path: Path) -> Path:
    """A directory whose paths fit a Unix socket name (108 bytes)."""
    if len(str(tmp_path / "agent.sock")) < 100:
        return tmp_path
    return Path(tempfile.mkdtemp(prefix="qs-agent-"))


@pytest.fixture
def agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A real ssh-agent on a socket in a temporary directory; killed at the end."""
    directory = _short_directory(tmp_path)
    sock = directory / "agent.sock"
    env = {k: v for k, v in os.environ.items() if k not in ("SSH_AUTH_SOCK", "SSH_AGENT_PID")}
    started = _run(["ssh-agent", "-s", "-a", str(sock)], env=env)
    assert started.returncode == 0, started.stderr
    match = re.search(rb"SSH_AGENT_PID=(\d+)", started.stdout)
    assert match, started.stdout
    pid = int(match.group(1))
    try:
        deadline = time.monotonic() + 10
        while not sock.exists():
            assert time.monotonic() < deadline, "ssh-agent did not create its socket"
            time.sleep(0.02)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        monkeypatch.delenv("SSH_AGENT_PID", raising=False)
        yield {**env, "SSH_AUTH_SOCK": str(sock)}
    finally:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.02)
        if directory != tmp_path:
            shutil.rmtree(directory, ignore_errors=True)


# --------------------------------------------------------------------------- interop


@needs_openssh
@pytest.mark.parametrize("hash_algorithm", ["sha512", "sha256"])
@pytest.mark.parametrize("kind", list(KEY_TYPES))
def test_verify_accepts_signature_from_ssh_keygen(
    keys: Callable[[str], Path], tmp_path: Path, kind: str, hash_algorithm: str
) -> None:
    key = keys(kind)
    armored = keygen_sign(key, MESSAGE, NS, "-O", f"hashalg={hash_algorithm}")
    parsed = verify(MESSAGE, armored, NS)
    pub_line = key.with_suffix(".pub").read_text()
    assert isinstance(parsed, ParsedSignature)
    assert parsed.key_type == KEY_TYPES[kind][1]
    assert parsed.namespace == NS
    assert parsed.hash_algorithm == hash_algorithm
    assert parsed.public_key == public_key_from_openssh(pub_line)
    assert parsed.fingerprint == keygen_fingerprint(pub_line.strip(), tmp_path)
    assert parsed.fingerprint == fingerprint(parsed.public_key)
    assert parsed == parse_armored(armored)
    with pytest.raises(SignatureError) as error:
        verify(MESSAGE + b" ", armored, NS)
    assert error.value.reason == "bad-signature"


@needs_openssh
@pytest.mark.parametrize("kind", list(KEY_TYPES))
def test_stock_ssh_keygen_verifies_signature_from_sign_with_ssh_keygen(
    keys: Callable[[str], Path], tmp_path: Path, kind: str
) -> None:
    key = keys(kind)
    armored = sign_with_ssh_keygen(MESSAGE, key, NS)
    assert armored.startswith(BEGIN) and armored.rstrip().endswith(END)
    line = f"{PRINCIPAL} {key.with_suffix('.pub').read_text().strip()}\n"
    result = keygen_verify(tmp_path, MESSAGE, armored, line)
    assert result.returncode == 0, result.stderr
    assert f'Good "{NS}" signature for {PRINCIPAL}' in result.stdout.decode()
    allowed = tmp_path / "allowed_signers"
    assert verify_with_ssh_keygen(MESSAGE, armored, NS, allowed, PRINCIPAL)
    assert not verify_with_ssh_keygen(MESSAGE + b"x", armored, NS, allowed, PRINCIPAL)
    assert not verify_with_ssh_keygen(MESSAGE, armored, "file", allowed, PRINCIPAL)
    assert not verify_with_ssh_keygen(MESSAGE, armored, NS, allowed, "mallory@example.com")
    assert verify(MESSAGE, armored, NS).key_type == KEY_TYPES[kind][1]


@needs_openssh
@pytest.mark.parametrize("kind", ["ed25519", "ecdsa384", "rsa3072"])
def test_sign_through_ssh_agent_with_public_key_file(
    keys: Callable[[str], Path], tmp_path: Path, agent: dict[str, str], kind: str
) -> None:
    key = keys(kind)
    added = _run(["ssh-add", str(key)], env=agent)
    assert added.returncode == 0, added.stderr
    # Only the public half where we sign: the private key can only come from the agent.
    pub = tmp_path / "only-public" / "signer.pub"
    pub.parent.mkdir()
    shutil.copy(key.with_suffix(".pub"), pub)
    armored = sign_with_ssh_keygen(MESSAGE, pub, NS, timeout=60)
    parsed = verify(MESSAGE, armored, NS)
    assert parsed.public_key == public_key_from_openssh(pub.read_text())
    result = keygen_verify(tmp_path, MESSAGE, armored, f"{PRINCIPAL} {pub.read_text()}")
    assert result.returncode == 0, result.stderr
    # A key the agent does not hold: no private key anywhere.
    other = generate(tmp_path, "not-in-agent", "ed25519")
    lonely = pub.parent / "other.pub"
    shutil.copy(other.with_suffix(".pub"), lonely)
    with pytest.raises(SignatureError) as error:
        sign_with_ssh_keygen(MESSAGE, lonely, NS, timeout=60)
    assert error.value.reason == "no-key"
    assert "does not hold this key" in str(error.value)


@needs_openssh
def test_public_key_file_without_agent_is_no_key(
    keys: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    pub = tmp_path / "signer.pub"
    shutil.copy(keys("ed25519").with_suffix(".pub"), pub)
    with pytest.raises(SignatureError) as error:
        sign_with_ssh_keygen(MESSAGE, pub, NS, timeout=30)
    assert error.value.reason == "no-key"
    assert "SSH_AUTH_SOCK is not set" in str(error.value)
    monkeypatch.setenv("SSH_AUTH_SOCK", str(tmp_path / "gone.sock"))
    with pytest.raises(SignatureError) as error:
        sign_with_ssh_keygen(MESSAGE, pub, NS, timeout=30)
    assert error.value.reason == "no-key"
    assert "not running" in str(error.value)


@needs_openssh
def test_public_key_file_next_to_its_private_key_signs_without_agent(
    keys: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    key = keys("ed25519")
    armored = sign_with_ssh_keygen(MESSAGE, key.with_suffix(".pub"), NS, timeout=30)
    assert verify(MESSAGE, armored, NS).public_key == public_key_from_openssh(
        key.with_suffix(".pub").read_text()
    )


@needs_openssh
def test_passphrase_protected_key_fails_fast_and_never_reads_the_message_as_passphrase(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    key = generate(tmp_path, "locked", "ed25519", passphrase="correct horse")
    # Were the message read as the passphrase, its first line would unlock the key and
    # ssh-keygen would sign the rest.
    message = b"correct horse\nthe notebook\n"
    started = time.monotonic()
    with pytest.raises(SignatureError) as error:
        sign_with_ssh_keygen(message, key, NS, timeout=30)
    assert time.monotonic() - started < 25
    assert error.value.reason == "ssh-keygen-failed"
    assert "passphrase" in str(error.value) and "ssh-add" in str(error.value)


@needs_openssh
def test_missing_key_file_is_no_key(tmp_path: Path) -> None:
    with pytest.raises(SignatureError) as error:
        sign_with_ssh_keygen(MESSAGE, tmp_path / "id_nothing", NS)
    assert error.value.reason == "no-key"
    assert "id_nothing" in str(error.value)


def test_no_ssh_keygen_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = tmp_path / "id_ed25519"
    key.write_text("not read\n")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(SignatureError) as error:
        sign_with_ssh_keygen(MESSAGE, key, NS)
    assert error.value.reason == "ssh-keygen-failed"
    assert "openssh" in str(error.value).lower()


def test_bad_namespace_for_signing(tmp_path: Path) -> None:
    for namespace in ("", "two\nlines"):
        with pytest.raises(SignatureError) as error:
            sign_with_ssh_keygen(MESSAGE, tmp_path / "k", namespace)
        assert error.value.reason == "wrong-namespace"


@needs_openssh
@pytest.mark.parametrize("kind", list(KEY_TYPES))
def test_public_key_lines_and_fingerprints_match_ssh_keygen(
    keys: Callable[[str], Path], tmp_path: Path, kind: str
) -> None:
    line = keys(kind).with_suffix(".pub").read_text().strip()
    blob = public_key_from_openssh(line)
    assert openssh_public_key(blob) == " ".join(line.split()[:2])
    assert fingerprint(blob) == keygen_fingerprint(line, tmp_path)
    assert not fingerprint(blob).endswith("=")


# --------------------------------------------------------------------------- RSA algorithms


@needs_openssh
@pytest.mark.parametrize("algorithm", ["rsa-sha2-256", "rsa-sha2-512"])
def test_rsa_sha2_signatures_verify_here_and_in_ssh_keygen(tmp_path: Path, algorithm: str) -> None:
    signer = Authenticator("ssh-rsa")
    armored = signer.sign(MESSAGE, rsa_algorithm=algorithm)
    assert verify(MESSAGE, armored, NS).key_type == "ssh-rsa"
    result = keygen_verify(tmp_path, MESSAGE, armored, f"{PRINCIPAL} {signer.line}\n")
    assert result.returncode == 0, result.stderr


@needs_openssh
def test_rsa_sha1_signature_is_refused_here_and_in_ssh_keygen(tmp_path: Path) -> None:
    signer = Authenticator("ssh-rsa")
    armored = signer.sign(MESSAGE, rsa_algorithm="ssh-rsa")
    with pytest.raises(SignatureError) as error:
        verify(MESSAGE, armored, NS)
    assert error.value.reason == "unsupported-key"
    assert "SHA-1" in str(error.value)
    result = keygen_verify(tmp_path, MESSAGE, armored, f"{PRINCIPAL} {signer.line}\n")
    assert result.returncode != 0


# --------------------------------------------------------------------------- FIDO


@pytest.mark.parametrize(
    "kind", ["sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com"]
)
def test_fido_signature_with_user_presence_verifies(kind: str) -> None:
    authenticator = Authenticator(kind)
    armored = authenticator.sign(MESSAGE, flags=0x01)
    parsed = verify(MESSAGE, armored, NS)
    assert parsed.key_type == kind
    assert parsed.public_key == authenticator.blob
    assert public_key_from_openssh(authenticator.line + " yubikey") == authenticator.blob
    # user verification (PIN) on top of presence is fine
    assert verify(MESSAGE, authenticator.sign(MESSAGE, flags=0x05), NS).key_type == kind


@pytest.mark.parametrize(
    "kind", ["sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com"]
)
def test_fido_signature_without_user_presence_is_refused(kind: str) -> None:
    authenticator = Authenticator(kind)
    with pytest.raises(SignatureError) as error:
        verify(MESSAGE, authenticator.sign(MESSAGE, flags=0x00), NS)
    assert error.value.reason == "bad-signature"
    assert "user presence" in str(error.value)
    with pytest.raises(SignatureError) as error:
        verify(MESSAGE, authenticator.sign(MESSAGE, flags=0x04), NS)  # PIN, no touch
    assert error.value.reason == "bad-signature"


@pytest.mark.parametrize(
    "kind", ["sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com"]
)
def test_fido_signature_over_other_flags_or_application_is_refused(kind: str) -> None:
    authenticator = Authenticator(kind)
    forged_flags = authenticator.sign(MESSAGE, flags=0x01, signed_flags=0x00)
    other_app = authenticator.sign(MESSAGE, signed_application=b"https://evil.example")
    for armored in (forged_flags, other_app):
        with pytest.raises(SignatureError) as error:
            verify(MESSAGE, armored, NS)
        assert error.value.reason == "bad-signature"
    with pytest.raises(SignatureError) as error:
        verify(MESSAGE + b"x", authenticator.sign(MESSAGE), NS)
    assert error.value.reason == "bad-signature"


@needs_openssh
@pytest.mark.parametrize(
    "kind", ["sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com"]
)
def test_stock_ssh_keygen_verifies_constructed_fido_signature(tmp_path: Path, kind: str) -> None:
    authenticator = Authenticator(kind)
    armored = authenticator.sign(MESSAGE, flags=0x01)
    allowed = f"{PRINCIPAL} {authenticator.line}\n"
    result = keygen_verify(tmp_path, MESSAGE, armored, allowed)
    assert result.returncode == 0, result.stderr
    assert verify(MESSAGE, armored, NS).fingerprint == keygen_fingerprint(
        authenticator.line, tmp_path
    )
    tampered = keygen_verify(tmp_path, MESSAGE + b"x", armored, allowed)
    assert tampered.returncode != 0


@pytest.mark.parametrize("kind", ["ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"])
def test_in_process_keys_verify(kind: str) -> None:
    authenticator = Authenticator(kind)
    for hash_algorithm in ("sha256", "sha512"):
        armored = authenticator.sign(MESSAGE, hash_algorithm=hash_algorithm)
        assert verify(MESSAGE, armored, NS).hash_algorithm == hash_algorithm


# --------------------------------------------------------------------------- tampering


@pytest.fixture(scope="module")
def good(keys: Callable[[str], Path]) -> str:
    """An Ed25519 signature over MESSAGE made by stock ssh-keygen."""
    return keygen_sign(keys("ed25519"), MESSAGE)


def _rebuild(
    armored: str,
    *,
    public_key: bytes | None = None,
    signature: bytes | None = None,
    namespace: str | None = None,
    hash_algorithm: str | None = None,
    reserved: bytes | None = None,
    magic: bytes = b"SSHSIG",
    version: int = 1,
) -> str:
    """``armored`` with some SSHSIG fields replaced (the signature left as it was)."""
    parts = fields(armored)
    return armor(
        sshsig_blob(
            parts["public_key"] if public_key is None else public_key,
            parts["signature"] if signature is None else signature,
            namespace=parts["namespace"].decode() if namespace is None else namespace,
            hash_algorithm=parts["hash"].decode() if hash_algorithm is None else hash_algorithm,
            reserved=parts["reserved"] if reserved is None else reserved,
            magic=magic,
            version=version,
        )
    )


def _other_key_blob() -> bytes:
    return Authenticator("ssh-ed25519").blob


def _lines(armored: str) -> list[str]:
    return armored.strip().split("\n")


TAMPER: dict[str, tuple[Callable[[str], tuple[bytes, str, str]], str, bool]] = {
    # name: (make (message, armored, namespace), expected reason, does ssh-keygen also refuse?)
    "changed message": (lambda g: (MESSAGE + b"\n", g, NS), "bad-signature", True),
    "empty message": (lambda g: (b"", g, NS), "bad-signature", True),
    "wrong namespace": (lambda g: (MESSAGE, g, "file"), "wrong-namespace", True),
    "namespace changed in blob": (
        lambda g: (MESSAGE, _rebuild(g, namespace="file"), "file"),
        "bad-signature",
        True,
    ),
    "signature from another key": (
        lambda g: (MESSAGE, _rebuild(g, public_key=_other_key_blob()), NS),
        "bad-signature",
        True,
    ),
    "signature of another message": (
        lambda g: (MESSAGE, Authenticator("ssh-ed25519").sign(b"other"), NS),
        "bad-signature",
        True,
    ),
    "hash algorithm swapped": (
        lambda g: (MESSAGE, _rebuild(g, hash_algorithm="sha256"), NS),
        "bad-signature",
        True,
    ),
    "unknown hash algorithm": (
        lambda g: (MESSAGE, _rebuild(g, hash_algorithm="sha1"), NS),
        "malformed",
        True,
    ),
    "truncated armor": (lambda g: (MESSAGE, "\n".join(_lines(g)[:-2]), NS), "malformed", True),
    "truncated base64": (
        lambda g: (MESSAGE, "\n".join([*_lines(g)[:2], _lines(g)[2][:-5], END]), NS),
        "malformed",
        True,
    ),
    "truncated blob": (lambda g: (MESSAGE, armor(dearmor(g)[:-3]), NS), "malformed", True),
    "garbage base64": (
        lambda g: (MESSAGE, f"{BEGIN}\n@@not*base64!!\n{END}\n", NS),
        "malformed",
        True,
    ),
    "no data": (lambda g: (MESSAGE, f"{BEGIN}\n{END}\n", NS), "malformed", True),
    "non-ascii in base64": (
        lambda g: (MESSAGE, "\n".join([_lines(g)[0], "Ä" + _lines(g)[1][1:], *_lines(g)[2:]]), NS),
        "malformed",
        True,
    ),
    "wrong magic": (lambda g: (MESSAGE, _rebuild(g, magic=b"SSHSIH"), NS), "malformed", True),
    "version 2": (lambda g: (MESSAGE, _rebuild(g, version=2), NS), "malformed", True),
    "version 0": (lambda g: (MESSAGE, _rebuild(g, version=0), NS), "malformed", False),
    "trailing bytes in blob": (
        lambda g: (MESSAGE, armor(dearmor(g) + b"\0"), NS),
        "malformed",
        True,
    ),
    "trailing text after footer": (lambda g: (MESSAGE, g + "more text\n", NS), "malformed", False),
    "second signature appended": (lambda g: (MESSAGE, g + g, NS), "malformed", False),
    "missing header": (lambda g: (MESSAGE, "\n".join(_lines(g)[1:]), NS), "malformed", True),
    "other armor": (
        lambda g: (MESSAGE, g.replace("SSH SIGNATURE", "PGP SIGNATURE"), NS),
        "malformed",
        True,
    ),
    "empty text": (lambda g: (MESSAGE, "", NS), "malformed", True),
    "empty namespace in blob": (
        lambda g: (MESSAGE, _rebuild(g, namespace=""), NS),
        "malformed",
        True,
    ),
    "signature algorithm mismatch": (
        lambda g: (
            MESSAGE,
            _rebuild(g, signature=string(b"ecdsa-sha2-nistp256") + fields(g)["signature"][15:]),
            NS,
        ),
        "bad-signature",
        True,
    ),
    "short ed25519 signature": (
        lambda g: (MESSAGE, _rebuild(g, signature=string(b"ssh-ed25519") + string(b"\1" * 63)), NS),
        "malformed",
        True,
    ),
    "dsa key": (
        lambda g: (
            MESSAGE,
            _rebuild(
                g, public_key=string(b"ssh-dss") + mpint(23) + mpint(11) + mpint(2) + mpint(4)
            ),
            NS,
        ),
        "unsupported-key",
        True,
    ),
    "damaged certificate": (
        lambda g: (
            MESSAGE,
            _rebuild(g, public_key=string(b"ssh-ed25519-cert-v01@openssh.com") + string(b"x" * 32)),
            NS,
        ),
        "malformed",
        True,
    ),
    "ed25519 key of wrong size": (
        lambda g: (MESSAGE, _rebuild(g, public_key=string(b"ssh-ed25519") + string(b"k" * 31)), NS),
        "malformed",
        True,
    ),
}


@pytest.mark.parametrize("case", list(TAMPER))
def test_tampered_signature_is_refused_with_the_right_reason(good: str, case: str) -> None:
    make, reason, _ = TAMPER[case]
    message, armored, namespace = make(good)
    with pytest.raises(SignatureError) as error:
        verify(message, armored, namespace)
    assert error.value.reason == reason, str(error.value)
    text = str(error.value)
    assert text and "Traceback" not in text and "\n" not in text
    if reason == "wrong-namespace":
        assert NS in text and "file" in text


@needs_openssh
@pytest.mark.parametrize("case", [name for name, (_, _, refused) in TAMPER.items() if refused])
def test_stock_ssh_keygen_also_refuses_the_tampered_signature(
    keys: Callable[[str], Path], tmp_path: Path, good: str, case: str
) -> None:
    message, armored, namespace = TAMPER[case][0](good)
    line = f"{PRINCIPAL} {keys('ed25519').with_suffix('.pub').read_text()}"
    result = keygen_verify(tmp_path, message, armored, line, namespace=namespace)
    assert result.returncode != 0


def test_untampered_signature_and_its_variants_verify(good: str) -> None:
    assert verify(MESSAGE, good, NS).namespace == NS
    # CRLF line ends, surrounding blank space, no final newline
    assert verify(MESSAGE, "\n  " + good.replace("\n", "\r\n"), NS)
    assert verify(MESSAGE, good.rstrip("\n"), NS)
    # A non-empty reserved field is ignored (PROTOCOL.sshsig)
    assert verify(MESSAGE, _rebuild(good, reserved=b"future"), NS)


def test_parse_armored_reports_fields(good: str) -> None:
    parsed = parse_armored(good)
    assert parsed.signature.startswith(string(b"ssh-ed25519"))
    assert parsed.fingerprint.startswith("SHA256:")
    assert repr(parsed).startswith("ParsedSignature(")


def test_signature_error_is_a_value_error_with_reason() -> None:
    error = SignatureError("malformed", "what to fix")
    assert isinstance(error, ValueError)
    assert (error.reason, str(error)) == ("malformed", "what to fix")


def test_public_key_line_errors() -> None:
    ed = Authenticator("ssh-ed25519")
    for line, reason in [
        ("", "malformed"),
        ("ssh-ed25519", "malformed"),
        ("ssh-ed25519 !!!!", "malformed"),
        ("ssh-rsa " + ed.line.split()[1], "malformed"),
        ("ssh-dss " + base64.b64encode(string(b"ssh-dss") + mpint(3)).decode(), "unsupported-key"),
    ]:
        with pytest.raises(SignatureError) as error:
            public_key_from_openssh(line)
        assert error.value.reason == reason, line


# --------------------------------------------------------------------------- properties

_FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_FUZZ
@given(st.text())
def test_arbitrary_text_only_raises_signature_error(text: str) -> None:
    with pytest.raises(SignatureError) as error:
        verify(MESSAGE, text, NS)
    assert error.value.reason in {
        "malformed",
        "bad-signature",
        "wrong-namespace",
        "unsupported-key",
    }
    assert str(error.value)
    with pytest.raises(SignatureError):
        parse_armored(text)


@_FUZZ
@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\n \r"))
def test_arbitrary_base64ish_body_only_raises_signature_error(body: str) -> None:
    with pytest.raises(SignatureError):
        verify(MESSAGE, f"{BEGIN}\n{body}\n{END}\n", NS)


@_FUZZ
@given(st.binary(max_size=600))
def test_arbitrary_blob_in_armor_only_raises_signature_error(blob: bytes) -> None:
    with pytest.raises(SignatureError):
        verify(MESSAGE, armor(blob), NS)
    with pytest.raises(SignatureError):
        verify(MESSAGE, armor(b"SSHSIG\0\0\0\1" + blob), NS)


_KEY_TYPE_NAMES = st.sampled_from(
    [
        b"ssh-ed25519",
        b"ecdsa-sha2-nistp256",
        b"ecdsa-sha2-nistp521",
        b"ssh-rsa",
        b"sk-ssh-ed25519@openssh.com",
        b"sk-ecdsa-sha2-nistp256@openssh.com",
        b"rsa-sha2-512",
        b"ssh-dss",
    ]
)


@_FUZZ
@given(
    _KEY_TYPE_NAMES,
    st.lists(st.binary(max_size=140), max_size=4),
    _KEY_TYPE_NAMES,
    st.lists(st.binary(max_size=140), max_size=4),
    st.sampled_from(["sha256", "sha512"]),
)
def test_structured_garbage_only_raises_signature_error(
    key_type: bytes,
    key_parts: list[bytes],
    sig_type: bytes,
    sig_parts: list[bytes],
    hash_algorithm: str,
) -> None:
    public_key = string(key_type) + b"".join(string(part) for part in key_parts)
    signature = string(sig_type) + b"".join(string(part) for part in sig_parts)
    blob = sshsig_blob(public_key, signature, hash_algorithm=hash_algorithm)
    with pytest.raises(SignatureError):
        verify(MESSAGE, armor(blob), NS)


_GOOD_SIGNATURES = {
    kind: Authenticator(kind)
    for kind in [
        "ssh-ed25519",
        "ecdsa-sha2-nistp256",
        "ssh-rsa",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    ]
}
_GOOD_ARMOR = {kind: signer.sign(MESSAGE) for kind, signer in _GOOD_SIGNATURES.items()}


@_FUZZ
@given(st.sampled_from(sorted(_GOOD_ARMOR)), st.data())
def test_any_single_byte_change_is_refused(kind: str, data: st.DataObject) -> None:
    blob = dearmor(_GOOD_ARMOR[kind])
    index = data.draw(st.integers(0, len(blob) - 1), label="index")
    value = data.draw(st.integers(0, 255).filter(lambda v: v != blob[index]), label="value")
    changed = blob[:index] + bytes([value]) + blob[index + 1 :]
    with pytest.raises(SignatureError):
        verify(MESSAGE, armor(changed), NS)


@_FUZZ
@given(st.sampled_from(sorted(_GOOD_ARMOR)), st.data())
def test_any_truncation_is_malformed(kind: str, data: st.DataObject) -> None:
    blob = dearmor(_GOOD_ARMOR[kind])
    cut = data.draw(st.integers(0, len(blob) - 1), label="cut")
    with pytest.raises(SignatureError) as error:
        verify(MESSAGE, armor(blob[:cut]), NS)
    assert error.value.reason == "malformed"


@_FUZZ
@given(st.binary(max_size=300))
def test_any_message_but_the_signed_one_is_refused(message: bytes) -> None:
    armored = _GOOD_ARMOR["ssh-ed25519"]
    if message == MESSAGE:
        assert verify(message, armored, NS)
        return
    with pytest.raises(SignatureError) as error:
        verify(message, armored, NS)
    assert error.value.reason == "bad-signature"
