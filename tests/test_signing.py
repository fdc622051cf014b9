"""Notebook signatures with real ssh-keygen and ssh-agent: sign, verify, interop with stock
OpenSSH, the tamper matrix, trust and policy, the server endpoints, signed attestations."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from qsecure_cli import run_qsecure
from tornado.httpclient import HTTPClientError

pytestmark = pytest.mark.skipif(
    shutil.which("ssh-keygen") is None, reason="needs ssh-keygen (Debian: openssh-client)"
)
JUPYTER = str(Path(sys.executable).parent / "jupyter")
NAMESPACE = "notebook@jupyter-qsecure"


def qsecure(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``jupyter qsecure ARGS``, in process."""
    return run_qsecure(*args, cwd=cwd, env=env)


def keygen(folder: Path, name: str, kind: str = "ed25519") -> Path:
    key = folder / name
    extra = ["-b", "3072"] if kind == "rsa" else (["-b", "256"] if kind == "ecdsa" else [])
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, *extra, "-N", "", "-C", name, "-f", str(key)],
        check=True,
        timeout=60,
    )
    return key


def allowed_line(principal: str, key: Path, options: str = "") -> str:
    public = key.with_suffix(".pub").read_text().split()
    return " ".join(part for part in (principal, options, public[0], public[1]) if part) + "\n"


def sign(
    lab: dict[str, Any], signer: str = "alice", *options: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``jupyter qsecure sign`` of the lab's notebook with ``signer``'s key, as
    ``{signer}@lab.example``, with further ``options``."""
    return qsecure(
        "sign",
        str(lab["nb"]),
        "--key",
        str(lab["keys"][signer]),
        "--principal",
        f"{signer}@lab.example",
        *options,
        cwd=lab["dir"],
        env=env,
    )


@pytest.fixture
def lab(tmp_path: Path) -> dict[str, Any]:
    """Two researchers' keys, an allowed_signers file trusting both, and a notebook."""
    keys = {name: keygen(tmp_path, name) for name in ("alice", "bob")}
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(
        allowed_line("alice@lab.example", keys["alice"])
        + allowed_line("bob@lab.example", keys["bob"], 'namespaces="notebook@jupyter-qsecure"')
    )
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("# Bell state", id="intro"),
            nbformat.v4.new_code_cell("print('00: 512, 11: 512')", id="run"),
        ]
    )
    nb.cells[1].outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="00: 512, 11: 512\n")
    ]
    path = tmp_path / "bell.ipynb"
    nbformat.write(nb, path)
    return {"dir": tmp_path, "keys": keys, "allowed": allowed, "nb": path}


def test_sign_and_verify_both_ways_with_stock_ssh_keygen(lab: dict[str, Any]) -> None:
    folder, nb, allowed = lab["dir"], lab["nb"], lab["allowed"]
    result = sign(lab)
    assert result.returncode == 0, result.stderr
    assert qsecure("verify", str(nb), "--allowed-signers", str(allowed), cwd=folder).returncode == 0

    # ours -> stock ssh-keygen (the `jupyter qsecure` entry point, bytes on stdout)
    payload = subprocess.run(
        [JUPYTER, "qsecure", "payload", str(nb), "--signature", "0"],
        capture_output=True,
        timeout=60,
        check=True,
    ).stdout
    assert payload.startswith(b'{"canonical_form":"jupyter-qsecure-canonical-v2",')
    assert (
        qsecure(
            "export-signature", str(nb), "--index", "0", "--output", str(folder / "sig"), cwd=folder
        ).returncode
        == 0
    )
    check = subprocess.run(
        [
            "ssh-keygen",
            "-Y",
            "verify",
            "-f",
            str(allowed),
            "-I",
            "alice@lab.example",
            "-n",
            NAMESPACE,
            "-s",
            str(folder / "sig"),
        ],
        input=payload,
        capture_output=True,
        timeout=60,
    )
    assert check.returncode == 0 and b"Good" in check.stdout

    # stock ssh-keygen -> ours: bob writes his entry, prints its statement, signs it himself
    data = json.loads(nb.read_text())
    entry = dict(
        data["metadata"]["qsecure"]["signatures"][0],
        principal="bob@lab.example",
        role="reviewer",
        signed_at="2026-01-02T03:04:05+00:00",
        signature="(to come)",
    )
    del entry["public_key"], entry["key_fingerprint"]
    data["metadata"]["qsecure"]["signatures"].append(entry)
    nb.write_text(json.dumps(data))
    statement = subprocess.run(
        [JUPYTER, "qsecure", "payload", str(nb), "--signature", "1"],
        capture_output=True,
        timeout=60,
        check=True,
    ).stdout
    assert b'"principal":"bob@lab.example","role":"reviewer"' in statement
    entry["signature"] = subprocess.run(
        ["ssh-keygen", "-Y", "sign", "-n", NAMESPACE, "-f", str(lab["keys"]["bob"])],
        input=statement,
        capture_output=True,
        timeout=60,
        check=True,
    ).stdout.decode()
    nb.write_text(json.dumps(data))
    result = qsecure(
        "verify",
        str(nb),
        "--allowed-signers",
        str(allowed),
        "--require",
        "2",
        "--require-role",
        "reviewer",
        "--grant",
        "reviewer=bob@lab.example",
        "--grant",
        "author=*",
        "--format",
        "json",
        cwd=folder,
    )
    assert result.returncode == 0, result.stdout
    [report] = json.loads(result.stdout)
    assert report["status"] == "signed and valid" and report["meets_policy"]
    assert [(s["principal"], s["valid"], s["trusted"]) for s in report["signatures"]] == [
        ("alice@lab.example", True, True),
        ("bob@lab.example", True, True),
    ]


@pytest.mark.parametrize(
    ("change", "status", "changed"),
    [
        (
            lambda d: d["cells"][1].__setitem__("source", "print('00: 900')"),
            "modified since signing",
            ["run"],
        ),
        (
            lambda d: d["cells"][1]["outputs"][0].__setitem__("text", "00: 1\n"),
            "modified since signing",
            ["run"],
        ),
        (
            lambda d: d["cells"][0].__setitem__("source", "# Edited"),
            "modified since signing",
            ["intro"],
        ),
        (lambda d: d["metadata"].__setitem__("title", "x"), "modified since signing", []),
        (lambda d: d["cells"].pop(0), "modified since signing", ["intro (deleted)"]),
    ],
)
def test_any_signed_change_invalidates_and_names_the_cell(
    lab: dict[str, Any], change: Callable[[dict[str, Any]], None], status: str, changed: list[str]
) -> None:
    folder, nb = lab["dir"], lab["nb"]
    sign(lab)
    data = json.loads(nb.read_text())
    change(data)
    nb.write_text(json.dumps(data))
    result = qsecure(
        "verify", str(nb), "--allowed-signers", str(lab["allowed"]), "--format=json", cwd=folder
    )
    assert result.returncode == 1
    [report] = json.loads(result.stdout)
    assert report["status"] == status
    assert report["signatures"][0]["changed_cells"] == changed


def test_ui_state_changes_and_more_signatures_keep_it_valid(lab: dict[str, Any]) -> None:
    folder, nb = lab["dir"], lab["nb"]
    sign(lab)
    data = json.loads(nb.read_text())
    data["cells"][1]["metadata"].update(
        {
            "collapsed": True,
            "scrolled": True,
            "jupyter": {"source_hidden": True, "outputs_hidden": True},
        }
    )
    nb.write_text(json.dumps(data, indent=4, sort_keys=True))
    sign(lab, "bob", "--role", "reviewer")
    result = qsecure(
        "verify",
        str(nb),
        "--allowed-signers",
        str(lab["allowed"]),
        "--require",
        "2",
        "--grant",
        "author=*",
        "--grant",
        "reviewer=bob@lab.example",
        cwd=folder,
    )
    assert result.returncode == 0, result.stdout
    assert "signed and valid; 2 of 2 required signature(s)" in result.stdout


def test_signature_moved_to_another_notebook_fails(lab: dict[str, Any]) -> None:
    folder, nb = lab["dir"], lab["nb"]
    sign(lab)
    other = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("print('fake results')", id="run")]
    )
    other.metadata["qsecure"] = json.loads(nb.read_text())["metadata"]["qsecure"]
    nbformat.write(other, folder / "other.ipynb")
    result = qsecure(
        "verify", str(folder / "other.ipynb"), "--allowed-signers", str(lab["allowed"]), cwd=folder
    )
    assert result.returncode == 1 and "modified since signing" in result.stdout


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("unknown", "unknown key"),
        ("revoked", "revoked"),
        ("expired", "expired"),
        ("namespace", "namespace"),
    ],
)
def test_trust_verdicts(lab: dict[str, Any], setup: str, expected: str) -> None:
    folder, nb = lab["dir"], lab["nb"]
    key = keygen(folder, "mallory") if setup == "unknown" else lab["keys"]["alice"]
    qsecure("sign", str(nb), "--key", str(key), "--principal", "alice@lab.example", cwd=folder)
    allowed = folder / "allowed_custom"
    policy = folder / "qsecure.toml"
    policy_text = f'[signing]\nallowed_signers = "{allowed}"\n'
    if setup == "expired":
        allowed.write_text(allowed_line("alice@lab.example", key, 'valid-before="20200101"'))
    elif setup == "namespace":
        allowed.write_text(allowed_line("alice@lab.example", key, 'namespaces="git"'))
    else:
        allowed.write_text(lab["allowed"].read_text())
    if setup == "revoked":
        (folder / "revoked").write_text(key.with_suffix(".pub").read_text())
        policy_text += f'revoked_keys = "{folder / "revoked"}"\n'
    policy.write_text(policy_text)
    result = qsecure(
        "verify", str(nb), "--format=json", cwd=folder, env={"QSECURE_CONFIG": str(policy)}
    )
    assert result.returncode == 1
    [report] = json.loads(result.stdout)
    assert report["status"] == "untrusted signer"
    assert expected in report["signatures"][0]["reason"]


@pytest.mark.parametrize("damage", ["truncate", "garbage", "namespace"])
def test_broken_signatures_get_a_clear_verdict(lab: dict[str, Any], damage: str) -> None:
    folder, nb = lab["dir"], lab["nb"]
    sign(lab)
    data = json.loads(nb.read_text())
    entry = data["metadata"]["qsecure"]["signatures"][0]
    if damage == "truncate":
        entry["signature"] = entry["signature"][:120]
    elif damage == "garbage":
        entry["signature"] = (
            "-----BEGIN SSH SIGNATURE-----\n!!!not base64!!!\n-----END SSH SIGNATURE-----\n"
        )
    else:
        payload = qsecure("payload", str(nb), cwd=folder).stdout.encode()
        entry["signature"] = subprocess.run(
            ["ssh-keygen", "-Y", "sign", "-n", "file", "-f", str(lab["keys"]["alice"])],
            input=payload,
            capture_output=True,
            timeout=60,
            check=True,
        ).stdout.decode()
    nb.write_text(json.dumps(data))
    result = qsecure(
        "verify", str(nb), "--allowed-signers", str(lab["allowed"]), "--format=json", cwd=folder
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    [report] = json.loads(result.stdout)
    assert report["status"] == "invalid signature"
    assert report["signatures"][0]["reason"]


NO_TRUST = (
    "no allowed_signers file, so no signature is trusted: pass --allowed-signers FILE "
    "or set [signing] allowed_signers in qsecure.toml"
)


@pytest.mark.parametrize(
    ("damage", "status", "valid"),
    [
        (None, "untrusted signer", True),
        ("modified", "modified since signing", False),
        ("invalid", "invalid signature", False),
    ],
)
def test_without_allowed_signers_no_signature_is_trusted(
    lab: dict[str, Any], damage: str | None, status: str, valid: bool
) -> None:
    folder, nb = lab["dir"], lab["nb"]
    empty = folder / "qsecure.toml"
    empty.write_text("")  # no [signing] allowed_signers: no trust anchor at all
    env = {"QSECURE_CONFIG": str(empty)}
    for name, role in (("alice", "author"), ("bob", "reviewer")):
        signed = sign(lab, name, "--role", role, env=env)
        assert signed.returncode == 0, signed.stderr
    data = json.loads(nb.read_text())
    if damage == "modified":
        data["cells"][1]["source"] = "print('00: 1000')"
    elif damage == "invalid":
        entry = data["metadata"]["qsecure"]["signatures"][0]
        entry["signature"] = entry["signature"][:120]
    nb.write_text(json.dumps(data))

    result = qsecure("verify", str(nb), "--format=json", cwd=folder, env=env)
    assert result.returncode == 1, result.stdout
    assert NO_TRUST in result.stderr and "Traceback" not in result.stderr
    [report] = json.loads(result.stdout)
    assert report["status"] == status and not report["meets_policy"]
    assert report["policy"] == (
        "0 of 1 required signature(s); no allowed_signers file, so no signature is trusted"
    )
    first, second = report["signatures"]
    assert not first["trusted"] and not second["trusted"]
    assert first["valid"] is valid and second["valid"] is (damage != "modified")
    if damage != "modified":
        assert second["reason"] == NO_TRUST
    if valid:
        assert first["reason"] == NO_TRUST

    # Two valid signatures from distinct keys, in the required roles: still nothing trusted.
    result = qsecure(
        "verify", str(nb), "--require", "0", "--require-role", "reviewer", cwd=folder, env=env
    )
    assert result.returncode == 1
    assert "roles required: reviewer (missing: reviewer)" in result.stdout
    assert "does NOT meet the policy" in result.stdout
    assert (f"valid, not trusted - {NO_TRUST}" in result.stdout) is (damage != "modified")


def test_allowed_signers_from_the_policy_or_the_command_line_restore_trust(
    lab: dict[str, Any],
) -> None:
    folder, nb = lab["dir"], lab["nb"]
    empty, configured = folder / "empty.toml", folder / "qsecure.toml"
    empty.write_text("")
    configured.write_text(f'[signing]\nallowed_signers = "{lab["allowed"]}"\n')
    sign(lab)
    untrusted = qsecure("verify", str(nb), cwd=folder, env={"QSECURE_CONFIG": str(empty)})
    assert untrusted.returncode == 1 and "untrusted signer" in untrusted.stdout
    for args, policy in (
        ((), configured),
        (("--allowed-signers", str(lab["allowed"])), empty),
    ):
        result = qsecure("verify", str(nb), *args, cwd=folder, env={"QSECURE_CONFIG": str(policy)})
        assert result.returncode == 0, result.stdout + result.stderr
        assert "signed and valid; 1 of 1 required signature(s); meets the policy" in result.stdout
        assert "no allowed_signers" not in result.stdout + result.stderr


def test_bad_input_exits_2(lab: dict[str, Any]) -> None:
    folder = lab["dir"]
    (folder / "x.ipynb").write_text("[]")
    result = qsecure("verify", str(folder / "x.ipynb"), cwd=folder)
    assert result.returncode == 2 and "not an nbformat 4 notebook" in result.stderr
    (folder / "bad_signers").write_text("alice@lab.example ssh-ed25519 not-base64!\n")
    result = qsecure(
        "verify", str(lab["nb"]), "--allowed-signers", str(folder / "bad_signers"), cwd=folder
    )
    # ssh-keygen skips a bad line: so do we, saying which (nothing else trusts alice here)
    assert result.returncode == 1 and "bad_signers:1: invalid key" in result.stderr
    assert "(line skipped)" in result.stderr and "Traceback" not in result.stderr
    result = qsecure("sign", str(lab["nb"]), "--key", str(folder / "missing"), cwd=folder)
    assert result.returncode == 2 and "no key file" in result.stderr  # unreadable input
    assert "Traceback" not in result.stderr


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[dict[str, str]]:
    socket = tmp_path / "agent.sock"
    process = subprocess.run(
        ["ssh-agent", "-a", str(socket), "-s"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    pid = int(process.stdout.split("SSH_AGENT_PID=")[1].split(";")[0])
    env = {"SSH_AUTH_SOCK": str(socket), "SSH_AGENT_PID": str(pid)}
    try:
        yield env
    finally:
        os.kill(pid, signal.SIGTERM)


def test_sign_with_a_key_held_by_ssh_agent(lab: dict[str, Any], agent: dict[str, str]) -> None:
    folder, nb, key = lab["dir"], lab["nb"], lab["keys"]["alice"]
    subprocess.run(
        ["ssh-add", str(key)],
        env={**os.environ, **agent},
        capture_output=True,
        timeout=30,
        check=True,
    )
    hidden = folder / "private-elsewhere"
    key.rename(hidden)  # only the agent holds the private key now
    result = qsecure(
        "sign",
        str(nb),
        "--key",
        str(key.with_suffix(".pub")),
        "--principal",
        "alice@lab.example",
        cwd=folder,
        env=agent,
    )
    assert result.returncode == 0, result.stderr
    assert (
        qsecure("verify", str(nb), "--allowed-signers", str(lab["allowed"]), cwd=folder).returncode
        == 0
    )


def test_signed_attestation(lab: dict[str, Any]) -> None:
    folder, nb = lab["dir"], lab["nb"]
    data = json.loads(nb.read_text())
    data["metadata"]["qsecure"] = {
        "provenance": {
            "version": 1,
            "kernel_session": "s1",
            "user": "alice",
            "chain_head": "sha256:" + "0" * 64,
        }
    }
    nb.write_text(json.dumps(data))
    envelope = folder / "bell.intoto.json"
    options = ("--sign", "--key", str(lab["keys"]["alice"]), "--output", str(envelope))
    # its cell carries no execution record: refused unless the author allows it (recorded)
    result = qsecure("attest", str(nb), *options, cwd=folder)
    assert result.returncode == 1 and "cell 1 (run): never executed" in result.stderr
    result = qsecure("attest", str(nb), *options, "--allow-failing", cwd=folder)
    assert result.returncode == 0, result.stderr
    signers = folder / "attest_signers"
    signers.write_text(
        allowed_line(
            "alice@lab.example", lab["keys"]["alice"], 'namespaces="attestation@jupyter-qsecure"'
        )
    )
    result = qsecure(
        "verify-attestation", str(envelope), "--allowed-signers", str(signers), cwd=folder
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "1 valid signature(s) over https://slsa.dev/provenance/v1 for bell.ipynb" in result.stdout
    )
    # A valid signature by a key nobody trusts proves nothing: no allowed_signers, exit 1.
    untrusted = qsecure("verify-attestation", str(envelope), cwd=folder)
    assert untrusted.returncode == 1
    assert "no allowed_signers file, so no signature is trusted" in untrusted.stderr
    tampered = json.loads(envelope.read_text())
    tampered["payload"] = tampered["payload"][:-8] + "AAAAAAA="
    envelope.write_text(json.dumps(tampered))
    assert qsecure("verify-attestation", str(envelope), cwd=folder).returncode == 1


def server_signing_policy(tmp_path: Path, policy: Callable[[str], Path], *, trusted: bool) -> Path:
    """A new key the server signs with as lab-server@lab.example, named in the policy (with
    an allowed_signers file trusting it when ``trusted``; provenance off); the key's path."""
    key = keygen(tmp_path, "server-signer")
    trust = ""
    if trusted:
        allowed = tmp_path / "server_allowed"
        allowed.write_text(allowed_line("lab-server@lab.example", key))
        trust = f'allowed_signers = "{allowed}"\n'
    policy(
        f'[signing]\nkey = "{key}"\nprincipal = "lab-server@lab.example"\n{trust}'
        '[signing.roles]\nauthor = ["*"]\nreviewer = ["lab-server@lab.example"]\n'
        "[provenance]\nenabled = false\n"
    )
    return key


@pytest.fixture
def server_key(tmp_path: Path, policy: Callable[[str], Path]) -> Path:
    """The server signs with a key that its allowed_signers file trusts."""
    return server_signing_policy(tmp_path, policy, trusted=True)


async def fetch_json(jp_fetch: Any, *parts: str, **options: Any) -> dict[str, Any]:
    """A request to the server; its JSON answer."""
    response = await jp_fetch(*parts, **options)
    return dict(json.loads(response.body))


async def test_server_status_sign_and_modified(
    server_key: Path, jp_fetch: Any, jp_root_dir: Path, audit_events: Any
) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1", id="a")])
    nbformat.write(nb, jp_root_dir / "s.ipynb")
    status = await fetch_json(jp_fetch, "qsecure", "signature", params={"path": "s.ipynb"})
    assert status["status"] == "unsigned"
    signed = await fetch_json(
        jp_fetch,
        "qsecure",
        "sign",
        method="POST",
        body=json.dumps({"path": "s.ipynb", "role": "reviewer"}),
    )
    assert (
        signed["status"] == "signed and valid"
        and signed["signature"]["principal"] == "lab-server@lab.example"
    )
    assert "PRIVATE" not in json.dumps(signed)
    on_disk = json.loads((jp_root_dir / "s.ipynb").read_text())
    assert on_disk["metadata"]["qsecure"]["signatures"][0]["role"] == "reviewer"
    on_disk["cells"][0]["source"] = "x = 2"
    await jp_fetch(
        "api",
        "contents",
        "s.ipynb",
        method="PUT",
        body=json.dumps({"type": "notebook", "content": on_disk}),
    )
    status = await fetch_json(jp_fetch, "qsecure", "signature", params={"path": "s.ipynb"})
    assert status["status"] == "modified since signing" and status["signatures"][0][
        "changed_cells"
    ] == ["a"]
    schemas = [e["__schema__"].rsplit("/", 2)[-2] for e in audit_events()]
    assert "notebook-signed" in schemas and schemas.count("signature-verified") == 2
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch(
            "qsecure",
            "sign",
            method="POST",
            body=json.dumps({"path": "s.ipynb"}),
            headers={"Authorization": ""},
        )
    assert caught.value.code == 403  # API routes answer 403 without a token (docs/jupyterhub.md)


@pytest.fixture
def server_key_without_trust(tmp_path: Path, policy: Callable[[str], Path]) -> Path:
    """The server signs with a key, but the policy names no allowed_signers file."""
    return server_signing_policy(tmp_path, policy, trusted=False)


async def test_server_without_allowed_signers_trusts_no_signature(
    server_key_without_trust: Path, jp_fetch: Any, jp_root_dir: Path, audit_events: Any
) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1", id="a")])
    nbformat.write(nb, jp_root_dir / "s.ipynb")
    signed = await fetch_json(
        jp_fetch, "qsecure", "sign", method="POST", body=json.dumps({"path": "s.ipynb"})
    )
    assert signed["status"] == "untrusted signer" and not signed["meets_policy"]

    status = await fetch_json(jp_fetch, "qsecure", "signature", params={"path": "s.ipynb"})
    assert status["status"] == "untrusted signer" and not status["meets_policy"]
    assert status["policy"] == (
        "0 of 1 required signature(s); no allowed_signers file, so no signature is trusted"
    )
    assert status["required"] == 1 and status["require_roles"] == []
    [signature] = status["signatures"]
    assert signature["valid"] and not signature["trusted"]
    assert signature["reason"] == NO_TRUST
    [verified] = [e for e in audit_events() if e["__schema__"].endswith("/signature-verified/v1")]
    assert (verified["status"], verified["meets_policy"]) == ("untrusted signer", False)

    # The editor's unsaved content: "modified since signing" still comes first.
    editor = json.loads((jp_root_dir / "s.ipynb").read_text())
    same = await fetch_json(
        jp_fetch,
        "qsecure",
        "signature",
        method="POST",
        body=json.dumps({"path": "s.ipynb", "notebook": editor}),
    )
    assert same["status"] == "untrusted signer" and not same["meets_policy"]
    editor["cells"][0]["source"] = "x = 2"
    changed = await fetch_json(
        jp_fetch,
        "qsecure",
        "signature",
        method="POST",
        body=json.dumps({"path": "s.ipynb", "notebook": editor}),
    )
    assert changed["status"] == "modified since signing" and not changed["meets_policy"]
    assert changed["signatures"][0]["changed_cells"] == ["a"]


async def test_the_signed_notebooks_save_is_scanned_off_the_event_loop(
    server_key: Path,
    jp_fetch: Any,
    jp_root_dir: Path,
    qsecure_app: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``POST /qsecure/sign`` saves the signed notebook; the guard's scan of that save runs
    in a worker thread: held on an event here, it is released only after a request made
    meanwhile was answered (on the event loop, nothing would be answered)."""
    import threading

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1", id="a")])
    nbformat.write(nb, jp_root_dir / "s.ipynb")
    guard = qsecure_app.save_guard
    check = guard.check
    scanning, release = threading.Event(), threading.Event()
    released: list[bool] = []

    def held_check(model: dict[str, Any], path: str, **kwargs: Any) -> None:
        if path == "s.ipynb":
            scanning.set()
            released.append(release.wait(timeout=10))
        check(model, path, **kwargs)

    monkeypatch.setattr(guard, "check", held_check)
    signing = asyncio.ensure_future(
        jp_fetch("qsecure", "sign", method="POST", body=json.dumps({"path": "s.ipynb"}))
    )
    assert await asyncio.to_thread(scanning.wait, 30)
    status = await jp_fetch("api", "status")
    release.set()
    signed = json.loads((await signing).body)
    assert status.code == 200 and released == [True]
    assert signed["status"] == "signed and valid"
    saved = json.loads((jp_root_dir / "s.ipynb").read_text())
    assert len(saved["metadata"]["qsecure"]["signatures"]) == 1


async def test_signing_a_notebook_that_holds_a_credential_is_refused_and_changes_nothing(
    server_key: Path, jp_fetch: Any, jp_root_dir: Path, github_token: str
) -> None:
    """The signed notebook's save is guarded like any other (its scan, off the event loop,
    refuses as the pre-save hook does): the answer names the finding, the file is left as
    it was and holds no signature."""
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(f'token = "{github_token}"', id="a")]
    )
    nbformat.write(nb, jp_root_dir / "leak.ipynb")
    before = (jp_root_dir / "leak.ipynb").read_bytes()
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("qsecure", "sign", method="POST", body=json.dumps({"path": "leak.ipynb"}))
    body = json.loads(caught.value.response.body)
    assert caught.value.code == 422 and body["reason"] == "qsecure-leak"
    assert body["findings"][0]["kind"] == "GitHub token"
    assert github_token not in json.dumps(body)
    assert (jp_root_dir / "leak.ipynb").read_bytes() == before


@pytest.fixture
def no_server_key(policy: Callable[[str], Path]) -> None:
    """A policy without [signing] key."""
    policy("[provenance]\nenabled = false\n")


async def test_server_without_a_key_says_who_sets_it(
    no_server_key: None, jp_fetch: Any, jp_root_dir: Path
) -> None:
    nbformat.write(
        nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x", id="a")]),
        jp_root_dir / "k.ipynb",
    )
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("qsecure", "sign", method="POST", body=json.dumps({"path": "k.ipynb"}))
    assert caught.value.code == 409
    body = json.loads(caught.value.response.body)
    assert body["reason"] == "qsecure-no-signing-key"
    assert "Set up Signing" in body["message"]
    assert "administrator sets [signing] key" in body["message"]
    assert "signatures" not in json.loads((jp_root_dir / "k.ipynb").read_text())["metadata"].get(
        "qsecure", {}
    )
