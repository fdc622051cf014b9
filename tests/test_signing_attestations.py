"""Signed attestations: the DSSE ``sig`` checks with stock DSSE tooling (securesystemslib's
Envelope.verify) for each key type, from key files and from ssh-agent; the SSHSIG beside it
with stock ssh-keygen; verify-attestation honours revocation and trust as verify does,
requires an in-toto Statement v1, and no malformed envelope makes a traceback."""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qsecure_cli import run_qsecure

from jupyter_qsecure.signing.dsse import (
    NAMESPACE,
    PAYLOAD_TYPE,
    pae,
    sign_envelope,
    verify_envelope,
)
from jupyter_qsecure.signing.raw import SCHEMES
from jupyter_qsecure.signing.sshsig import SignatureError, verify_with_ssh_keygen

pytestmark = pytest.mark.skipif(
    shutil.which("ssh-keygen") is None or shutil.which("ssh-agent") is None,
    reason="needs ssh-keygen and ssh-agent",
)
KINDS = {
    "ed25519": [],
    "ecdsa": ["-b", "256"],
    "ecdsa384": ["-t", "ecdsa", "-b", "384"],
    "rsa": ["-b", "3072"],
}
STATEMENT = {
    "_type": "https://in-toto.io/Statement/v1",
    "subject": [{"name": "analysis.ipynb", "digest": {"sha256": "ab" * 32}}],
    "predicateType": "https://slsa.dev/provenance/v1",
    "predicate": {"buildDefinition": {}},
}


def keygen(folder: Path, kind: str) -> Path:
    key = folder / f"id_{kind}"
    extra = KINDS[kind]
    kind_args = extra if extra[:1] == ["-t"] else ["-t", kind, *extra]
    subprocess.run(
        ["ssh-keygen", "-q", *kind_args, "-N", "", "-f", str(key)], check=True, timeout=60
    )
    return key


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("keys")
    return {kind: keygen(folder, kind) for kind in KINDS}


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    sock = tmp_path_factory.mktemp("agent") / "agent.sock"
    process = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    for _ in range(100):
        if sock.exists():
            break
        subprocess.run(["sleep", "0.05"], check=True)
    yield str(sock)
    os.kill(process.pid, signal.SIGTERM)
    process.wait(timeout=10)


def stock_dsse_verify(envelope: dict[str, Any], key: Path) -> bool:
    """securesystemslib's own verification with the signer's public key."""
    from cryptography.hazmat.primitives.serialization import load_ssh_public_key
    from securesystemslib.dsse import Envelope
    from securesystemslib.exceptions import VerificationError
    from securesystemslib.signer import SSlibKey

    text = key.with_suffix(".pub").read_text()
    keyid = envelope["signatures"][0]["keyid"]
    public = SSlibKey.from_crypto(
        load_ssh_public_key(text.encode()), keyid=keyid, scheme=SCHEMES[text.split()[0]]
    )
    try:
        Envelope.from_dict(copy.deepcopy(envelope)).verify([public], 1)
    except VerificationError:
        return False
    return True


@pytest.mark.parametrize("kind", list(KINDS))
def test_stock_dsse_and_ssh_keygen_verify_it(
    keys: dict[str, Path], kind: str, tmp_path: Path
) -> None:
    key = keys[kind]
    envelope = sign_envelope(STATEMENT, key)
    assert stock_dsse_verify(envelope, key)
    statement, [parsed] = verify_envelope(envelope)
    assert statement == STATEMENT and parsed.fingerprint == envelope["signatures"][0]["keyid"]
    # the SSHSIG beside it, with stock ssh-keygen
    public = key.with_suffix(".pub").read_text().split()
    allowed = tmp_path / "allowed"
    allowed.write_text(f"ci@lab.example {public[0]} {public[1]}\n")
    message = pae(PAYLOAD_TYPE, base64.b64decode(envelope["payload"]))
    assert verify_with_ssh_keygen(
        message, envelope["signatures"][0]["sshsig"], NAMESPACE, allowed, "ci@lab.example"
    )
    # a changed payload fails both ways
    forged = copy.deepcopy(envelope)
    forged["payload"] = base64.b64encode(
        json.dumps({**STATEMENT, "predicate": {"x": 1}}).encode()
    ).decode()
    assert not stock_dsse_verify(forged, key)
    with pytest.raises(SignatureError):
        verify_envelope(forged)
    # another key's sig under this keyid fails
    other = sign_envelope(STATEMENT, keys["ed25519" if kind != "ed25519" else "rsa"])
    mixed = copy.deepcopy(envelope)
    mixed["signatures"][0]["sig"] = other["signatures"][0]["sig"]
    with pytest.raises(SignatureError, match="sig does not verify"):
        verify_envelope(mixed)
    # an empty sig beside a valid sshsig: stock DSSE verifiers refuse it, so must we
    emptied = copy.deepcopy(envelope)
    emptied["signatures"][0]["sig"] = ""
    assert not stock_dsse_verify(emptied, key)
    with pytest.raises(SignatureError, match="sig is empty"):
        verify_envelope(emptied)


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa", "rsa"])
def test_a_key_in_ssh_agent_makes_a_stock_dsse_signature(
    keys: dict[str, Path], agent: str, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSH_AUTH_SOCK", agent)
    subprocess.run(["ssh-add", "-q", str(keys[kind])], check=True, timeout=60, env={**os.environ})
    envelope = sign_envelope(STATEMENT, keys[kind].with_suffix(".pub"))
    assert "sshsig" in envelope["signatures"][0]
    assert stock_dsse_verify(envelope, keys[kind])


@pytest.fixture
def envelope_file(keys: dict[str, Path], tmp_path: Path) -> dict[str, Path]:
    key = keys["ed25519"]
    path = tmp_path / "run.intoto.json"
    path.write_text(json.dumps(sign_envelope(STATEMENT, key)))
    public = key.with_suffix(".pub").read_text().split()
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"ci@lab.example {public[0]} {public[1]}\n")
    revoked = tmp_path / "revoked_keys"
    revoked.write_text(f"{public[0]} {public[1]}\n")
    krl = tmp_path / "revoked.krl"
    subprocess.run(
        ["ssh-keygen", "-q", "-k", "-f", str(krl), str(key.with_suffix(".pub"))],
        check=True,
        timeout=60,
    )
    return {"envelope": path, "allowed": allowed, "revoked": revoked, "krl": krl}


def test_verify_attestation_honours_revocation(
    envelope_file: dict[str, Path], tmp_path: Path
) -> None:
    args = [
        "verify-attestation",
        str(envelope_file["envelope"]),
        "--allowed-signers",
        str(envelope_file["allowed"]),
    ]
    result = run_qsecure(*args, cwd=tmp_path)
    assert result.returncode == 0 and "trusted" in result.stdout, result.stdout + result.stderr
    for revoked in (envelope_file["revoked"], envelope_file["krl"]):
        result = run_qsecure(*args, "--revoked-keys", str(revoked), cwd=tmp_path)
        assert result.returncode == 1 and "key revoked" in result.stdout
    # the policy's [signing] revoked_keys applies too
    policy = tmp_path / "qsecure.toml"
    policy.write_text(f'[signing]\nrevoked_keys = "{envelope_file["krl"]}"\n')
    result = run_qsecure(*args, cwd=tmp_path, env={**os.environ, "QSECURE_CONFIG": str(policy)})
    assert result.returncode == 1 and "key revoked" in result.stdout


def test_verify_attestation_shows_the_statement_escaped(
    keys: dict[str, Path], tmp_path: Path
) -> None:
    """A statement signed by a key nobody trusts, whose subject holds escape sequences,
    cannot rewrite the report on the reader's terminal (a forged 'trusted' line)."""
    forged = "\x1b[1A\x1b[2K\rrun.intoto.json: trusted\n  SHA256:x: trusted"
    statement = {**STATEMENT, "subject": [{"name": forged, "digest": {"sha256": "ab" * 32}}]}
    path = tmp_path / "forged.intoto.json"
    path.write_text(json.dumps(sign_envelope(statement, keys["ed25519"])))
    allowed = tmp_path / "allowed_signers"
    allowed.write_text("")
    result = run_qsecure(
        "verify-attestation", str(path), "--allowed-signers", str(allowed), cwd=tmp_path
    )
    assert result.returncode == 1
    assert "\x1b" not in result.stdout and "\r" not in result.stdout
    assert "\\x1b[1A" in result.stdout  # shown, escaped
    assert result.stdout.count("\n") == 2  # the summary and one line per signature


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda e: e.__setitem__("payloadType", "text/plain"), "payloadType"),
        (lambda e: e.__setitem__("payload", base64.b64encode(b"[1, 2]").decode()), "Statement v1"),
        (
            lambda e: e.__setitem__(
                "payload",
                base64.b64encode(
                    json.dumps({**STATEMENT, "subject": ["a", "b"]}).encode()
                ).decode(),
            ),
            "subject 1",
        ),
        (
            lambda e: e.__setitem__(
                "payload",
                base64.b64encode(json.dumps({**STATEMENT, "_type": "x"}).encode()).decode(),
            ),
            "_type",
        ),
        (lambda e: e["signatures"].__setitem__(0, "sig"), "not an object"),
        (lambda e: e["signatures"][0].__setitem__("keyid", "SHA256:other"), "keyid"),
    ],
)
def test_malformed_envelopes_are_invalid_without_traceback(
    envelope_file: dict[str, Path], tmp_path: Path, change: Any, message: str
) -> None:
    envelope = json.loads(envelope_file["envelope"].read_text())
    change(envelope)
    envelope_file["envelope"].write_text(json.dumps(envelope))
    result = run_qsecure(
        "verify-attestation",
        str(envelope_file["envelope"]),
        "--allowed-signers",
        str(envelope_file["allowed"]),
        cwd=tmp_path,
    )
    assert result.returncode == 1 and "INVALID" in result.stdout and message in result.stdout, (
        result.stdout
    )
    assert "Traceback" not in result.stderr


def test_a_statement_with_a_repeated_key_is_invalid(
    keys: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A signer's statement naming two subjects lists, the one a verifier that keeps the
    first key reads ahead of the one this verifier (keeping the last) would read: which
    artefacts it vouches for depends on the verifier, so it vouches for none."""
    from jupyter_qsecure.signing import dsse

    evil = json.dumps([{"name": "other.ipynb", "digest": {"sha256": "cd" * 32}}])
    text = dsse.canonical_json(STATEMENT).decode()
    assert text.count('"subject":') == 1
    repeated = text.replace('"subject":', f'"subject":{evil},"subject":').encode()
    monkeypatch.setattr(dsse, "canonical_json", lambda statement: repeated)
    path = tmp_path / "run.intoto.json"
    path.write_text(json.dumps(sign_envelope(STATEMENT, keys["ed25519"])))
    public = keys["ed25519"].with_suffix(".pub").read_text().split()
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"ci@lab.example {public[0]} {public[1]}\n")
    result = run_qsecure(
        "verify-attestation", str(path), "--allowed-signers", str(allowed), cwd=tmp_path
    )
    assert result.returncode == 1 and "INVALID" in result.stdout, result.stdout
    assert 'the key "subject" appears twice' in result.stdout
    assert "Traceback" not in result.stderr


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=10,
)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_fuzzed_envelopes_raise_only_signature_errors(keys: dict[str, Path], data: Any) -> None:
    base = _BASE.setdefault("envelope", sign_envelope(STATEMENT, keys["ed25519"]))
    envelope: Any = copy.deepcopy(base)
    for _ in range(data.draw(st.integers(1, 3))):
        where = data.draw(st.sampled_from(["top", "field", "signature", "payload"]))
        if where == "top":
            envelope = data.draw(JSONISH)
            break
        if where == "field":
            envelope[data.draw(st.sampled_from(["payloadType", "payload", "signatures"]))] = (
                data.draw(JSONISH)
            )
        elif (
            where == "signature"
            and isinstance(envelope.get("signatures"), list)
            and envelope["signatures"]
        ):
            target = envelope["signatures"][0]
            if isinstance(target, dict):
                target[data.draw(st.sampled_from(["keyid", "sig", "sshsig"]))] = data.draw(JSONISH)
        elif where == "payload":
            envelope["payload"] = base64.b64encode(json.dumps(data.draw(JSONISH)).encode()).decode()
    with contextlib.suppress(SignatureError):
        verify_envelope(envelope)


_BASE: dict[str, Any] = {}


FIXTURES = Path(__file__).resolve().parent / "docs_fixtures"


def test_attest_refuses_a_failing_verdict_unless_allowed(
    keys: dict[str, Path], tmp_path: Path
) -> None:
    """A notebook whose output was changed after execution, or whose records were stripped:
    attest names the cells and refuses; --allow-failing attests and records it."""
    for name in ("analysis.ipynb", "counts.csv", "fidelity.json"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    clean = run_qsecure("attest", "analysis.ipynb", "--output", "clean.json", cwd=tmp_path)
    assert clean.returncode == 0, clean.stderr
    predicate = json.loads((tmp_path / "clean.json").read_text())["predicate"]
    assert "provenance_verdict" not in predicate["buildDefinition"]["internalParameters"]
    notebook = json.loads((tmp_path / "analysis.ipynb").read_text())
    edited = copy.deepcopy(notebook)
    fit = next(cell for cell in edited["cells"] if cell["id"] == "fit")
    fit["outputs"][0]["data"]["text/plain"] = "0.99"
    stripped = copy.deepcopy(notebook)
    for cell in stripped["cells"]:
        cell.get("metadata", {}).pop("qsecure", None)
    for name, content in (("edited.ipynb", edited), ("stripped.ipynb", stripped)):
        (tmp_path / name).write_text(json.dumps(content))
        refused = run_qsecure(
            "attest", name, "--sign", "--key", str(keys["ed25519"]), "--output", "x.json",
            cwd=tmp_path,
        )  # fmt: skip
        assert refused.returncode == 1 and "provenance verdict is not clean" in refused.stderr
        assert "--allow-failing" in refused.stderr and not (tmp_path / "x.json").exists()
        allowed = run_qsecure(
            "attest", name, "--allow-failing", "--sign", "--key", str(keys["ed25519"]),
            "--output", "x.json", cwd=tmp_path,
        )  # fmt: skip
        assert allowed.returncode == 0, allowed.stderr
        statement, _ = verify_envelope(json.loads((tmp_path / "x.json").read_text()))
        recorded = statement["predicate"]["buildDefinition"]["internalParameters"]
        assert recorded["provenance_verdict"]["allow_failing"] is True
        assert recorded["provenance_verdict"]["problems"], recorded
        (tmp_path / "x.json").unlink()
    assert "cell 2 (fit)" in run_qsecure("attest", "edited.ipynb", cwd=tmp_path).stderr
