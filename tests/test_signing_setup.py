"""The personal signing setup through a real server: list the keys, generate one with real
ssh-keygen, choose it, sign, verify with stock ``ssh-keygen -Y verify``; bad inputs, other
users, and the admin's policy winning over the personal setup."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from header_identity import USER_HEADER, header_identity
from tornado.httpclient import HTTPClientError
from traitlets.config import Config

from jupyter_qsecure.signing.policy import SigningSettings
from jupyter_qsecure.signing.setup import PersonalSetup, effective_settings

pytestmark = pytest.mark.skipif(
    shutil.which("ssh-keygen") is None, reason="needs ssh-keygen (Debian: openssh-client)"
)
NAMESPACE = "notebook@jupyter-qsecure"


@pytest.fixture
def jp_server_config(jp_server_config: Config) -> Config:
    jp_server_config.ServerApp.identity_provider_class = header_identity("alice")
    return jp_server_config


@pytest.fixture
def no_admin_key(policy: Callable[[str], Path]) -> Path:
    """A policy without a [signing] table."""
    return policy("[provenance]\nenabled = false\n")


def keygen(path: Path, comment: str = "k") -> Path:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        timeout=60,
    )
    return path


def fingerprint(public: Path) -> str:
    out = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(public)], capture_output=True, text=True, check=True
    ).stdout
    return out.split()[1]


async def call(
    jp_fetch: Any, *parts: str, user: str = "alice", body: Any = None, **options: Any
) -> dict[str, Any]:
    headers = {USER_HEADER: user}
    if body is not None:
        options.update(method="POST", body=json.dumps(body))
    response = await jp_fetch(*parts, headers=headers, **options)
    return dict(json.loads(response.body))


async def refused(jp_fetch: Any, body: Any, user: str = "alice") -> tuple[int, dict[str, Any]]:
    with pytest.raises(HTTPClientError) as caught:
        await call(jp_fetch, "qsecure", "signing", "setup", user=user, body=body)
    answer = json.loads(caught.value.response.body)
    assert set(answer) == {"reason", "message"}, answer
    return caught.value.code, answer


def write_notebook(root: Path, name: str) -> None:
    nbformat.write(
        nbformat.v4.new_notebook(
            cells=[
                nbformat.v4.new_markdown_cell("# Result", id="intro"),
                nbformat.v4.new_code_cell("x = 1\nprint(x)", id="calc"),
            ]
        ),
        root / name,
    )


async def test_generate_choose_sign_and_verify_with_stock_ssh_keygen(
    no_admin_key: Path,
    jp_home_dir: Path,
    jp_fetch: Any,
    jp_root_dir: Path,
    qsecure_app: Any,
) -> None:
    home = jp_home_dir
    existing = keygen(home / ".ssh" / "id_ed25519", "laptop")
    (home / ".ssh" / "orphan.pub").write_text(existing.with_suffix(".pub").read_text())
    write_notebook(jp_root_dir, "a.ipynb")

    # Nothing set up: the list offers the key pair (not the .pub without a private key).
    answer = await call(jp_fetch, "qsecure", "signing", "setup")
    assert answer["setup"] is None and answer["key"] is None and answer["trust"] is None
    assert [c["id"] for c in answer["candidates"]] == ["~/.ssh/id_ed25519.pub"]
    assert answer["candidates"][0]["fingerprint"] == fingerprint(existing.with_suffix(".pub"))
    assert "SSH_AUTH_SOCK" in answer["agent"]
    # Signing says how to set up, as its own reason.
    with pytest.raises(HTTPClientError) as caught:
        await call(jp_fetch, "qsecure", "sign", body={"path": "a.ipynb"})
    assert caught.value.code == 409
    assert json.loads(caught.value.response.body)["reason"] == "qsecure-no-signing-key"

    # Generate: a real ed25519 key in ~/.ssh, private 0600, and the setup made of it.
    generated = await call(
        jp_fetch,
        "qsecure",
        "signing",
        "setup",
        body={"generate": True, "no_passphrase": True, "principal": "alice@lab.example"},
    )
    private = home / ".ssh" / "id_ed25519_qsecure"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    print_ = fingerprint(private.with_suffix(".pub"))
    assert generated["setup"]["fingerprint"] == print_
    assert generated["key"] == {
        "source": "personal",
        "id": "~/.ssh/id_ed25519_qsecure.pub",
        "fingerprint": print_,
    }
    assert generated["principal"] == "alice@lab.example"
    assert generated["trust"] == "personal" and generated["granted_roles"] == ["author"]
    text = json.dumps(generated)
    assert "PRIVATE KEY" not in text and private.read_text().splitlines()[1] not in text

    # Stored in the server's data folder, 0600, never in the served tree.
    state = qsecure_app.personal_signing.state_dir
    [folder] = [p for p in state.iterdir() if p.name.startswith("alice-")]
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in ("setup.json", "allowed_signers"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    assert not any(jp_root_dir.rglob("setup.json")) and not any(
        jp_root_dir.rglob("allowed_signers")
    )
    line = (folder / "allowed_signers").read_text()
    assert line.startswith(f'alice@lab.example namespaces="{NAMESPACE}" ssh-ed25519 ')

    # Choose the other key instead; then sign with it: trusted by the personal file.
    chosen = await call(
        jp_fetch,
        "qsecure",
        "signing",
        "setup",
        body={"key": "~/.ssh/id_ed25519.pub", "principal": "alice@lab.example"},
    )
    assert chosen["key"]["fingerprint"] == fingerprint(existing.with_suffix(".pub"))
    signed = await call(jp_fetch, "qsecure", "sign", body={"path": "a.ipynb", "role": "author"})
    assert signed["status"] == "signed and valid" and signed["meets_policy"] is True
    assert signed["signature"]["key_fingerprint"] == chosen["key"]["fingerprint"]
    status = await call(jp_fetch, "qsecure", "signature", params={"path": "a.ipynb"})
    assert status["status"] == "signed and valid" and status["signatures"][0]["trusted"]

    # Stock OpenSSH verifies the statement with the personal allowed_signers file.
    cwd = jp_root_dir
    env = {**os.environ, "QSECURE_CONFIG": str(no_admin_key)}
    statement = subprocess.run(
        [
            str(Path(sys.executable).parent / "jupyter-qsecure"),
            "payload",
            "a.ipynb",
            "--signature",
            "0",
        ],
        cwd=cwd,
        capture_output=True,
        check=True,
        env=env,
    ).stdout
    entry = json.loads((jp_root_dir / "a.ipynb").read_text())["metadata"]["qsecure"]["signatures"][
        0
    ]
    (cwd / "a.sig").write_text(entry["signature"])
    verified = subprocess.run(
        [
            "ssh-keygen",
            "-Y",
            "verify",
            "-f",
            str(folder / "allowed_signers"),
            "-I",
            "alice@lab.example",
            "-n",
            NAMESPACE,
            "-s",
            str(cwd / "a.sig"),
        ],
        input=statement,
        capture_output=True,
        check=False,
    )
    assert verified.returncode == 0, verified.stderr


async def test_the_personal_file_grants_no_reviewer_or_approver(
    no_admin_key: Path, jp_home_dir: Path, jp_fetch: Any, jp_root_dir: Path
) -> None:
    keygen(jp_home_dir / ".ssh" / "id_ed25519")
    write_notebook(jp_root_dir, "r.ipynb")
    await call(
        jp_fetch,
        "qsecure",
        "signing",
        "setup",
        body={"key": "~/.ssh/id_ed25519", "principal": "alice@lab.example"},
    )
    signed = await call(jp_fetch, "qsecure", "sign", body={"path": "r.ipynb", "role": "reviewer"})
    [result] = signed["signatures"]
    assert result["valid"] and not result["trusted"] and signed["meets_policy"] is False
    assert "reviewer" in result["reason"]


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ({"key": "~/.ssh/missing.pub", "principal": "a@lab.example"}, "missing"),
        ({"key": "/etc/ssh/ssh_host_ed25519_key.pub", "principal": "a@lab.example"}, "~/.ssh"),
        ({"key": "~/.ssh/../outside.pub", "principal": "a@lab.example"}, "~/.ssh"),
        ({"key": "~/.ssh/id_ed25519.pub", "principal": "alice smith"}, "principal"),
        ({"key": "~/.ssh/id_ed25519.pub", "principal": "a@lab\nexample"}, "principal"),
        ({"key": "~/.ssh/id_ed25519.pub", "principal": "*@lab.example"}, "principal"),
        ({"key": "~/.ssh/id_ed25519.pub"}, "principal"),
        ({"key": 7, "principal": "a@lab.example"}, "key"),
        ({"key": "agent:SHA256:nothing", "principal": "a@lab.example"}, "ssh-agent"),
        ({"generate": True, "principal": "a@lab.example"}, "no_passphrase"),
        (
            {"generate": True, "no_passphrase": True, "name": "id_ed25519", "principal": "a@x"},
            "exists",
        ),
        (
            {"generate": True, "no_passphrase": True, "name": "../x", "principal": "a@x"},
            "name",
        ),
        ({"generate": "yes", "principal": "a@x"}, "generate"),
    ],
)
async def test_bad_inputs_are_400_naming_what_to_fix(
    no_admin_key: Path,
    jp_home_dir: Path,
    jp_fetch: Any,
    body: dict[str, Any],
    names: str,
) -> None:
    existing = keygen(jp_home_dir / ".ssh" / "id_ed25519")
    before = existing.read_bytes()
    code, answer = await refused(jp_fetch, body)
    assert code == 400 and answer["reason"] == "qsecure-bad-setup"
    assert names in answer["message"], answer["message"]
    assert existing.read_bytes() == before  # never overwritten
    assert (await call(jp_fetch, "qsecure", "signing", "setup"))["setup"] is None


async def test_a_body_that_is_not_json_is_400(no_admin_key: Path, jp_fetch: Any) -> None:
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("qsecure", "signing", "setup", method="POST", body="[")
    assert caught.value.code == 400
    assert json.loads(caught.value.response.body)["reason"] == "qsecure-bad-request"


async def test_another_users_setup_is_not_visible_nor_used(
    no_admin_key: Path, jp_home_dir: Path, jp_fetch: Any, jp_root_dir: Path
) -> None:
    keygen(jp_home_dir / ".ssh" / "id_ed25519")
    write_notebook(jp_root_dir, "b.ipynb")
    await call(
        jp_fetch,
        "qsecure",
        "signing",
        "setup",
        body={"key": "~/.ssh/id_ed25519.pub", "principal": "alice@lab.example"},
    )
    bob = await call(jp_fetch, "qsecure", "signing", "setup", user="bob")
    assert bob["setup"] is None and bob["key"] is None and bob["trust"] is None
    assert "alice@lab.example" not in json.dumps(bob)
    with pytest.raises(HTTPClientError) as caught:
        await call(jp_fetch, "qsecure", "sign", user="bob", body={"path": "b.ipynb"})
    assert caught.value.code == 409
    # alice signs; bob's verification does not borrow alice's personal trust.
    await call(jp_fetch, "qsecure", "sign", body={"path": "b.ipynb"})
    seen_by_bob = await call(
        jp_fetch, "qsecure", "signature", user="bob", params={"path": "b.ipynb"}
    )
    assert seen_by_bob["status"] == "untrusted signer"
    seen_by_alice = await call(jp_fetch, "qsecure", "signature", params={"path": "b.ipynb"})
    assert seen_by_alice["status"] == "signed and valid"


@pytest.fixture
def admin_key(tmp_path: Path, policy: Callable[[str], Path], jp_home_dir: Path) -> dict[str, Path]:
    """The admin's policy names a key, a principal and an allowed_signers file."""
    admin = keygen(tmp_path / "admin" / "server_key", "server")
    allowed = tmp_path / "admin" / "allowed_signers"
    public = admin.with_suffix(".pub").read_text().split()
    allowed.write_text(f"server@lab.example {public[0]} {public[1]}\n")
    policy(
        f'[provenance]\nenabled = false\n[signing]\nkey = "{admin}"\n'
        f'principal = "server@lab.example"\nallowed_signers = "{allowed}"\n'
    )
    return {"key": admin, "personal": keygen(jp_home_dir / ".ssh" / "id_ed25519")}


async def test_the_admin_key_wins_over_the_personal_setup(
    admin_key: dict[str, Path], jp_fetch: Any, jp_root_dir: Path
) -> None:
    write_notebook(jp_root_dir, "c.ipynb")
    answer = await call(
        jp_fetch,
        "qsecure",
        "signing",
        "setup",
        body={"key": "~/.ssh/id_ed25519.pub", "principal": "alice@lab.example"},
    )
    admin_print = fingerprint(admin_key["key"].with_suffix(".pub"))
    assert answer["key"] == {"source": "policy", "id": "server_key", "fingerprint": admin_print}
    assert answer["principal"] == "server@lab.example" and answer["trust"] == "policy"
    signed = await call(jp_fetch, "qsecure", "sign", body={"path": "c.ipynb"})
    assert signed["signature"]["key_fingerprint"] == admin_print
    assert signed["signature"]["principal"] == "server@lab.example"
    assert signed["status"] == "signed and valid"


async def test_the_sign_preview_names_accepted_findings(
    no_admin_key: Path, jp_fetch: Any, jp_root_dir: Path, github_token: str
) -> None:
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("x = 1", id="one"),
            nbformat.v4.new_code_cell(f'token = "{github_token}"', id="two"),
        ]
    )
    body = json.dumps({"type": "notebook", "content": notebook})
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("api", "contents", "d.ipynb", method="PUT", body=body)
    [finding] = json.loads(caught.value.response.body)["findings"]
    await jp_fetch(
        "qsecure",
        "bypass",
        method="POST",
        body=json.dumps(
            {
                "fingerprint": finding["fingerprint"],
                "reason": "test_credential",
                "path": "d.ipynb",
            }
        ),
    )
    await jp_fetch("api", "contents", "d.ipynb", method="PUT", body=body)
    answer = await call(jp_fetch, "qsecure", "signing", "setup", params={"path": "d.ipynb"})
    [accepted] = answer["accepted_findings"]
    assert accepted["cell_index"] == 1 and accepted["cell_id"] == "two"
    assert github_token not in json.dumps(answer)
    with pytest.raises(HTTPClientError) as caught:
        await call(jp_fetch, "qsecure", "signing", "setup", params={"path": "none.ipynb"})
    assert caught.value.code == 404


@pytest.fixture
def agent_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A real ssh-agent holding a key whose files are outside ~/.ssh (the agent alone can
    sign with it), for the server started after this fixture."""
    socket = tmp_path / "agent.sock"
    started = subprocess.run(
        ["ssh-agent", "-a", str(socket), "-s"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    pid = int(started.stdout.split("SSH_AGENT_PID=")[1].split(";")[0])
    try:
        key = keygen(tmp_path / "elsewhere" / "yubikey_like", "agent-only")
        subprocess.run(
            ["ssh-add", str(key)],
            env={**os.environ, "SSH_AUTH_SOCK": str(socket)},
            capture_output=True,
            check=True,
            timeout=30,
        )
        key.unlink()  # only the agent holds the private key now
        monkeypatch.setenv("SSH_AUTH_SOCK", str(socket))
        yield key.with_suffix(".pub")
    finally:
        os.kill(pid, signal.SIGTERM)


async def test_a_key_only_the_agent_holds_is_listed_chosen_and_signs(
    agent_key: Path, no_admin_key: Path, jp_fetch: Any, jp_root_dir: Path
) -> None:
    write_notebook(jp_root_dir, "g.ipynb")
    listed = await call(jp_fetch, "qsecure", "signing", "setup")
    print_ = fingerprint(agent_key)
    assert listed["agent"] == ""
    [candidate] = listed["candidates"]
    assert candidate == {
        "id": f"agent:{print_}",
        "source": "agent",
        "key_type": "ssh-ed25519",
        "fingerprint": print_,
        "comment": "agent-only",
    }
    await call(
        jp_fetch,
        "qsecure",
        "signing",
        "setup",
        body={"key": candidate["id"], "principal": "carol@lab.example"},
    )
    signed = await call(jp_fetch, "qsecure", "sign", body={"path": "g.ipynb"})
    assert signed["signature"]["key_fingerprint"] == print_
    assert signed["status"] == "signed and valid"


def test_effective_settings_let_the_admin_win_and_grant_author_only(tmp_path: Path) -> None:
    setup = PersonalSetup(
        key=tmp_path / "k",
        key_id="~/.ssh/k.pub",
        principal="me@lab.example",
        public_key="ssh-ed25519 AAAA",
        fingerprint="SHA256:x",
        updated="2026-01-01T00:00:00+00:00",
    )
    personal = tmp_path / "allowed_signers"
    roles = {"author": ("*@lab.example",), "reviewer": ("*",), "approver": ("*",)}
    plain = effective_settings(SigningSettings(grants=roles), setup, personal)
    assert plain.key == setup.key and plain.principal == "me@lab.example"
    assert plain.allowed_signers == personal and dict(plain.grants) == {
        "author": ("*@lab.example",)
    }
    admin = SigningSettings(
        key=tmp_path / "admin", principal="srv", allowed_signers=tmp_path / "a", grants=roles
    )
    assert effective_settings(admin, setup, personal) == admin
    assert effective_settings(SigningSettings(), None, None) == SigningSettings()
