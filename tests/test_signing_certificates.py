"""SSH certificates and KRLs, both ways with real ssh-keygen, for each key type: a
certificate signed by a ``cert-authority`` line is trusted exactly when
``ssh-keygen -Y verify -Overify-time=SIGNED`` trusts it (principals in the certificate, its
validity, the CA line's principals and namespaces); a KRL made by ``ssh-keygen -k`` revokes
exactly what ``ssh-keygen -Q`` and ``-Y verify -r`` say it revokes (keys, certificate
serials, key ids, CA keys)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from jupyter_qsecure.signing.allowed_signers import (
    AllowedSignersError,
    load_revoked_keys,
    parse_allowed_signers,
    trust,
)
from jupyter_qsecure.signing.sshsig import (
    SignatureError,
    parse_certificate,
    public_key_from_openssh,
    verify,
    verify_with_ssh_keygen,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("ssh-keygen") is None or shutil.which("ssh-agent") is None,
        reason="needs ssh-keygen and ssh-agent",
    ),
]
NS = "notebook@jupyter-qsecure"
MESSAGE = b'{"canonical_form":"test"}'
KINDS = {"ed25519": [], "ecdsa": ["-b", "384"], "rsa": ["-b", "3072"]}
NOW = datetime.now(timezone.utc)


def run(*command: str, env: dict[str, str] | None = None, data: bytes | None = None) -> bytes:
    return subprocess.run(
        command, check=True, capture_output=True, timeout=60, env=env, input=data
    ).stdout


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Our own ssh-agent: ssh-keygen signs with a certificate through it."""
    folder = tmp_path_factory.mktemp("agent")
    sock = folder / "agent.sock"
    process = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    for _ in range(100):
        if sock.exists():
            break
        subprocess.run(["sleep", "0.05"], check=True)
    env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
    yield env
    os.kill(process.pid, signal.SIGTERM)
    process.wait(timeout=10)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, agent: dict[str, str]) -> dict[str, object]:
    """A CA, and per key type a user key with a certificate (serial 7, key id
    "alice-<kind>", principals alice@lab.example and ops@lab.example, valid one day
    either side of now) loaded in the agent."""
    folder = tmp_path_factory.mktemp("certs")
    run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / "ca"))
    users = {}
    for kind, extra in KINDS.items():
        key = folder / f"user-{kind}"
        run("ssh-keygen", "-q", "-t", kind, *extra, "-N", "", "-f", str(key))
        run(
            "ssh-keygen", "-q", "-s", str(folder / "ca"), "-I", f"alice-{kind}",
            "-n", "alice@lab.example,ops@lab.example", "-V", "-1d:+1d", "-z", "7",
            str(key.with_suffix(".pub")),
        )  # fmt: skip
        run("ssh-add", "-q", str(key), env=agent)
        users[kind] = key
    return {"folder": folder, "users": users, "ca": (folder / "ca.pub").read_text().split()}


def cert_path(key: Path) -> Path:
    return key.with_name(key.name + "-cert.pub")


def sign_with_cert(key: Path, agent: dict[str, str]) -> str:
    return run(
        "ssh-keygen", "-Y", "sign", "-n", NS, "-f", str(cert_path(key)), env=agent, data=MESSAGE
    ).decode()


def keygen_trusts(
    folder: Path, text: str, armored: str, principal: str, at: datetime, revoked: Path | None = None
) -> bool:
    allowed = folder / "allowed_check"
    allowed.write_text(text)
    return verify_with_ssh_keygen(
        MESSAGE, armored, NS, allowed, principal, verify_time=at, revoked_keys=revoked
    )


@pytest.mark.parametrize("kind", list(KINDS))
def test_certificate_signatures_agree_with_ssh_keygen(
    lab: dict, agent: dict[str, str], kind: str
) -> None:
    folder, key, ca = lab["folder"], lab["users"][kind], lab["ca"]
    armored = sign_with_cert(key, agent)
    parsed = verify(MESSAGE, armored, NS)
    certificate = parse_certificate(parsed.public_key)
    assert certificate.principals == ("alice@lab.example", "ops@lab.example")
    assert (certificate.serial, certificate.key_id) == (7, f"alice-{kind}")
    # ssh-keygen fingerprints the certified key
    plain = public_key_from_openssh(key.with_suffix(".pub").read_text())
    assert certificate.public_key == plain
    lines = {
        "ca": f"*@lab.example cert-authority {ca[0]} {ca[1]}\n",
        "ca, one principal": f"alice@lab.example cert-authority {ca[0]} {ca[1]}\n",
        "ca, other namespace": f'*@lab.example cert-authority,namespaces="file" {ca[0]} {ca[1]}\n',
        "ca, line expired": f'*@lab.example cert-authority,valid-before="20200101Z" {ca[0]} {ca[1]}\n',
        "plain key line only": f"*@lab.example {key.with_suffix('.pub').read_text()}",
    }
    cases = [
        (name, principal, at)
        for name in lines
        for principal in ("alice@lab.example", "ops@lab.example", "bob@lab.example")
        for at in (NOW, NOW - timedelta(days=3), NOW + timedelta(days=3))
    ]
    for name, principal, at in cases:
        signers = parse_allowed_signers(lines[name])
        ours = trust(signers, parsed.public_key, NS, signed_at=at, principal=principal).trusted
        theirs = keygen_trusts(folder, lines[name], armored, principal, at)
        assert ours is theirs, (name, principal, at)
    assert trust(
        parse_allowed_signers(lines["ca"]), parsed.public_key, NS, signed_at=NOW,
        principal="alice@lab.example",
    ).trusted  # fmt: skip


def test_a_certificate_by_another_ca_or_forged_is_refused(lab: dict, agent: dict[str, str]) -> None:
    folder = lab["folder"]
    key = lab["users"]["ed25519"]
    armored = sign_with_cert(key, agent)
    parsed = verify(MESSAGE, armored, NS)
    other = folder / "other-ca"
    run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other))
    line = f"*@lab.example cert-authority {' '.join(other.with_suffix('.pub').read_text().split()[:2])}\n"
    verdict = trust(
        parse_allowed_signers(line),
        parsed.public_key,
        NS,
        signed_at=NOW,
        principal="alice@lab.example",
    )
    assert not verdict.trusted and "unknown certificate authority" in verdict.reason
    forged = bytearray(parsed.public_key)
    index = bytes(forged).index(b"alice@lab.example")
    forged[index] = ord("m")  # "mlice": the CA's signature no longer covers it
    with pytest.raises(SignatureError, match="CA signature does not verify"):
        parse_certificate(bytes(forged))


def test_host_certificates_and_certificates_without_principals_are_refused(
    lab: dict, agent: dict[str, str]
) -> None:
    folder, ca = lab["folder"], lab["ca"]
    line = f"*@lab.example cert-authority {ca[0]} {ca[1]}\n"
    for name, options in (("host", ["-h", "-n", "alice@lab.example"]), ("nobody", [])):
        key = folder / f"user-{name}"
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key))
        run(
            "ssh-keygen",
            "-q",
            "-s",
            str(folder / "ca"),
            "-I",
            name,
            *options,
            str(key.with_suffix(".pub")),
        )
        run("ssh-add", "-q", str(key), env=agent)
        armored = sign_with_cert(key, agent)
        parsed = verify(MESSAGE, armored, NS)
        verdict = trust(
            parse_allowed_signers(line),
            parsed.public_key,
            NS,
            signed_at=NOW,
            principal="alice@lab.example",
        )
        assert not verdict.trusted
        assert not keygen_trusts(folder, line, armored, "alice@lab.example", NOW)


@pytest.mark.parametrize(
    "revocation",
    ["key", "serial", "serial range", "key id", "ca key", "other serial", "other key id"],
)
def test_krl_revocation_agrees_with_ssh_keygen(
    lab: dict, agent: dict[str, str], revocation: str
) -> None:
    folder, ca = lab["folder"], lab["ca"]
    key = lab["users"]["ecdsa"]
    armored = sign_with_cert(key, agent)
    parsed = verify(MESSAGE, armored, NS)
    plain_armored = run("ssh-keygen", "-Y", "sign", "-n", NS, "-f", str(key), data=MESSAGE).decode()
    plain = verify(MESSAGE, plain_armored, NS)
    spec = folder / f"krl-{revocation}.txt"
    ca_pub = folder / "ca.pub"
    source = {
        "key": None,
        "serial": "serial: 7\n",
        "serial range": "serial: 5-9\n",
        "key id": "id: alice-ecdsa\n",
        "ca key": None,
        "other serial": "serial: 8\n",
        "other key id": "id: someone-else\n",
    }[revocation]
    krl = folder / f"{revocation}.krl"
    if revocation == "key":
        run("ssh-keygen", "-q", "-k", "-f", str(krl), str(key.with_suffix(".pub")))
    elif revocation == "ca key":
        run("ssh-keygen", "-q", "-k", "-f", str(krl), str(ca_pub))
    else:
        spec.write_text(source or "")
        run("ssh-keygen", "-q", "-k", "-f", str(krl), "-s", str(ca_pub), str(spec))
    revoked = load_revoked_keys(krl)
    line = f"*@lab.example cert-authority {ca[0]} {ca[1]}\n*@lab.example {' '.join(key.with_suffix('.pub').read_text().split()[:2])}\n"
    signers = parse_allowed_signers(line)
    for blob, signature in ((parsed.public_key, armored), (plain.public_key, plain_armored)):
        ours = trust(
            signers, blob, NS, signed_at=NOW, principal="alice@lab.example", revoked=revoked
        ).trusted
        theirs = keygen_trusts(folder, line, signature, "alice@lab.example", NOW, revoked=krl)
        assert ours is theirs, (revocation, blob[:40])
    # and ssh-keygen -Q agrees on the certificate file itself
    query = subprocess.run(
        ["ssh-keygen", "-Q", "-f", str(krl), str(cert_path(key))], capture_output=True, timeout=60
    )
    assert (query.returncode != 0) is (parsed.public_key in revoked)
    expected_revoked = revocation in ("key", "serial", "serial range", "key id", "ca key")
    assert (parsed.public_key in revoked) is expected_revoked


def test_damaged_krls_are_refused_clearly(lab: dict, tmp_path: Path) -> None:
    krl = tmp_path / "bad.krl"
    krl.write_bytes(b"SSHKRL\n\0\0\0\0\1" + b"\0" * 5)
    with pytest.raises(AllowedSignersError, match="not a usable KRL"):
        load_revoked_keys(krl)
    good = tmp_path / "good.krl"
    run("ssh-keygen", "-q", "-k", "-f", str(good), str(lab["folder"] / "ca.pub"))
    data = good.read_bytes()
    messages = []
    for cut in range(8, len(data), 7):
        krl.write_bytes(data[:cut])
        try:
            load_revoked_keys(krl)
        except AllowedSignersError as error:  # truncated: refused, naming the file
            messages.append(str(error))
    assert messages and all(str(krl) in message for message in messages)
