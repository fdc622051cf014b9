"""Interop with stock ssh-keygen, both ways, for each key type and for certificates: a
notebook signed here verifies with ``ssh-keygen -Y verify`` over the statement ``payload
--signature N`` prints, a statement signed by ssh-keygen verifies here; and allowed_signers
files generated from awkward fragments are judged as ssh-keygen 9.x judges them."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import nbformat
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyter_qsecure.signing.allowed_signers import parse_allowed_signers, trust
from jupyter_qsecure.signing.signatures import (
    NAMESPACE,
    SigningPolicy,
    sign_notebook,
    signed_bytes,
    verify_notebook,
)
from jupyter_qsecure.signing.sshsig import verify, verify_with_ssh_keygen

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("ssh-keygen") is None or shutil.which("ssh-agent") is None,
        reason="needs ssh-keygen and ssh-agent",
    ),
]
KINDS = {
    "ed25519": ["-t", "ed25519"],
    "ecdsa-256": ["-t", "ecdsa", "-b", "256"],
    "ecdsa-384": ["-t", "ecdsa", "-b", "384"],
    "ecdsa-521": ["-t", "ecdsa", "-b", "521"],
    "rsa": ["-t", "rsa", "-b", "3072"],
}
SIGNED_AT = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("keys")
    made = {}
    for kind, args in KINDS.items():
        made[kind] = folder / f"id_{kind}"
        subprocess.run(
            ["ssh-keygen", "-q", *args, "-N", "", "-f", str(made[kind])], check=True, timeout=60
        )
    return made


def public(key: Path) -> str:
    return " ".join(key.with_suffix(".pub").read_text().split()[:2])


def notebook() -> dict[str, Any]:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('hi')", id="c")])
    return dict(json.loads(nbformat.writes(nb)))


@pytest.mark.parametrize("kind", list(KINDS))
def test_both_ways_for_each_key_type(keys: dict[str, Path], kind: str, tmp_path: Path) -> None:
    key = keys[kind]
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"ada@lab.example {public(key)}\n")
    signers = parse_allowed_signers(allowed.read_text())
    # ours -> ssh-keygen
    nb = notebook()
    entry = sign_notebook(nb, key, principal="ada@lab.example", now=SIGNED_AT)
    statement = signed_bytes(nb, entry)
    assert verify_with_ssh_keygen(
        statement, entry["signature"], NAMESPACE, allowed, "ada@lab.example"
    )
    # ssh-keygen -> ours: the same statement, signed by ssh-keygen itself
    armored = subprocess.run(
        ["ssh-keygen", "-Y", "sign", "-n", NAMESPACE, "-f", str(key)],
        input=statement,
        capture_output=True,
        timeout=60,
        check=True,
    ).stdout.decode()
    nb["metadata"]["qsecure"]["signatures"].append({**entry, "signature": armored})
    verdict = verify_notebook(nb, signers, policy=SigningPolicy(require=1))
    assert verdict.status == "signed and valid" and verdict.meets_policy, verdict
    assert [r.trusted for r in verdict.results] == [True, True]
    # ...and the two count as one signer
    assert not verify_notebook(nb, signers, policy=SigningPolicy(require=2)).meets_policy


def test_a_notebook_signed_with_a_certificate(keys: dict[str, Path], tmp_path: Path) -> None:
    ca = tmp_path / "ca"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(ca)], check=True)
    key = keys["ecdsa-256"]
    user = tmp_path / "user"
    shutil.copy(key, user)
    shutil.copy(key.with_suffix(".pub"), user.with_suffix(".pub"))
    subprocess.run(
        ["ssh-keygen", "-q", "-s", str(ca), "-I", "ada", "-n", "ada@lab.example",
         "-V", "-1d:+1d", str(user.with_suffix(".pub"))],
        check=True,
    )  # fmt: skip
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if sock.exists():
                break
            subprocess.run(["sleep", "0.05"], check=True)
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        subprocess.run(["ssh-add", "-q", str(user)], check=True, env=env, timeout=60)
        old = os.environ.get("SSH_AUTH_SOCK")
        os.environ["SSH_AUTH_SOCK"] = str(sock)
        try:
            nb = notebook()
            entry = sign_notebook(nb, user.with_name("user-cert.pub"), principal="ada@lab.example")
        finally:
            if old is None:
                del os.environ["SSH_AUTH_SOCK"]
            else:
                os.environ["SSH_AUTH_SOCK"] = old
    finally:
        os.kill(agent.pid, signal.SIGTERM)
        agent.wait(timeout=10)
    assert entry["public_key"].startswith("ecdsa-sha2-nistp256-cert-v01@openssh.com ")
    signers = parse_allowed_signers(f"*@lab.example cert-authority {public(ca)}\n")
    verdict = verify_notebook(nb, signers)
    assert verdict.meets_policy and "certificate authority line 1" in verdict.results[0].reason
    entry["principal"] = "bob@lab.example"  # not in the certificate, and not what was signed
    assert not verify_notebook(nb, signers).meets_policy


# --------------------------------------------------------------------------- parity fuzz

PRINCIPALS = st.sampled_from(
    ["ada@lab.example", "*@lab.example", "ada@lab.example,,bob@lab.example", ",ada@lab.example",
     "!ada@lab.example,*", "bob@lab.example", '"ada@lab.example"', "ada@lab.example,"]
)  # fmt: skip
OPTIONS = st.lists(
    st.sampled_from(
        ['valid-after="20260230"', 'valid-after="20260301"', 'valid-after="202603011200Z"',
         'valid-after="20261301"', 'valid-before="20260301"', 'valid-before="20270101Z"',
         'valid-before="20260228235961Z"', 'namespaces="notebook@*"', 'namespaces="file"',
         'namespaces=""', "cert-authority", "bogus", 'valid-after="2026"', "no-touch-required"]
    ),
    max_size=2,
    unique=True,
)  # fmt: skip
TAILS = st.sampled_from(["", " comment", " comment\0with nul", "\0 cut here", " trailing words"])


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.tuples(PRINCIPALS, OPTIONS, TAILS, st.booleans()), min_size=1, max_size=3),
    st.sampled_from(["ada@lab.example", "bob@lab.example"]),
)
def test_allowed_signers_lines_are_judged_as_ssh_keygen_judges_them(
    keys: dict[str, Path], tmp_path_factory: pytest.TempPathFactory, lines: list, principal: str
) -> None:
    key = keys["ed25519"]
    other = keys["rsa"]
    text = ""
    for principals, options, tail, own_key in lines:
        opts = ",".join(options)
        text += " ".join(p for p in (principals, opts, public(key if own_key else other)) if p)
        text += tail + "\n"
    folder = tmp_path_factory.mktemp("parity")
    message = b'{"statement":1}'
    armored = _SIGNATURES.setdefault(
        "sig",
        subprocess.run(
            ["ssh-keygen", "-Y", "sign", "-n", NAMESPACE, "-f", str(key)],
            input=message, capture_output=True, check=True, timeout=60,
        ).stdout.decode(),
    )  # fmt: skip
    parsed = verify(message, armored, NAMESPACE)
    allowed = folder / "allowed_signers"
    allowed.write_bytes(text.encode())
    ours = trust(
        parse_allowed_signers(text), parsed.public_key, NAMESPACE, signed_at=SIGNED_AT,
        principal=principal,
    ).trusted  # fmt: skip
    theirs = verify_with_ssh_keygen(
        message, armored, NAMESPACE, allowed, principal, verify_time=SIGNED_AT
    )
    assert ours is theirs, text


_SIGNATURES: dict[str, str] = {}
