"""What the server decides and shows about signatures, attacked by someone with an account
on the same server (a collaborator on a shared JupyterHub server) or by the author of a
notebook a reviewer opens: personal trust used for someone else, a principal a request
chooses, a status computed over something other than the file, malformed requests.
Real server, real ssh-keygen keys."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from header_identity import USER_HEADER
from test_signing_setup import (  # noqa: F401  (fixtures used by name)
    call,
    jp_server_config,
    keygen,
    no_admin_key,
    write_notebook,
)
from tornado.httpclient import HTTPClientError


async def failed(
    jp_fetch: Any, *parts: str, user: str = "alice", body: Any = None, **options: Any
) -> tuple[int, dict[str, Any]]:
    """The refusal of a request: its status and its JSON body, always {reason, message}."""
    with pytest.raises(HTTPClientError) as caught:
        await call(jp_fetch, *parts, user=user, body=body, **options)
    assert caught.value.response is not None
    answer = json.loads(caught.value.response.body)
    assert set(answer) == {"reason", "message"}, answer
    return caught.value.code, answer


async def set_up(jp_fetch: Any, user: str, key: str, principal: str) -> dict[str, Any]:
    """``user`` chooses ``key`` and ``principal`` as their personal signing setup."""
    return await call(
        jp_fetch,
        "qsecure",
        "signing",
        "setup",
        user=user,
        body={"key": key, "principal": principal},
    )


async def status(jp_fetch: Any, path: str, user: str = "alice") -> dict[str, Any]:
    """The saved notebook's signing status as ``user`` sees it."""
    return await call(jp_fetch, "qsecure", "signature", user=user, params={"path": path})


# A request signs only as the principal its signing setup (or the policy) names -------------


@pytest.mark.parametrize(
    "principal",
    [
        "pi@lab.example",  # someone else, whom an allowed_signers pattern may well trust
        "*@lab.example",
        "alice@lab.example\x1b[2K",  # a terminal escape into every report and log line
        "alice@lab.example,pi@lab.example",
        "a" * 5000,
    ],
)
@pytest.mark.usefixtures("no_admin_key")
async def test_a_request_cannot_sign_as_another_principal(
    jp_home_dir: Path, jp_fetch: Any, jp_root_dir: Path, principal: str
) -> None:
    keygen(jp_home_dir / ".ssh" / "id_ed25519")
    write_notebook(jp_root_dir, "a.ipynb")
    await set_up(jp_fetch, "alice", "~/.ssh/id_ed25519.pub", "alice@lab.example")
    before = (jp_root_dir / "a.ipynb").read_bytes()
    code, answer = await failed(
        jp_fetch, "qsecure", "sign", body={"path": "a.ipynb", "principal": principal}
    )
    assert code == 403 and answer["reason"] == "qsecure-not-your-principal", answer
    assert "alice@lab.example" in answer["message"]
    assert (jp_root_dir / "a.ipynb").read_bytes() == before
    # Naming one's own principal is fine; leaving it out signs as it too.
    signed = await call(
        jp_fetch, "qsecure", "sign", body={"path": "a.ipynb", "principal": "alice@lab.example"}
    )
    assert signed["signature"]["principal"] == "alice@lab.example"


@pytest.fixture
def lab_key(tmp_path: Path, policy: Callable[[str], Path]) -> Path:
    """The policy's key, trusted for every lab address (a shared lab key: the signed
    principal is all that says who signed), and its principal server@lab.example."""
    admin = keygen(tmp_path / "admin" / "server_key", "server")
    allowed = tmp_path / "admin" / "allowed_signers"
    kind, blob = admin.with_suffix(".pub").read_text().split()[:2]
    allowed.write_text(f"*@lab.example {kind} {blob}\n")
    policy(
        f'[provenance]\nenabled = false\n[signing]\nkey = "{admin}"\n'
        f'principal = "server@lab.example"\nallowed_signers = "{allowed}"\n'
    )
    return admin


async def test_the_policys_key_signs_only_as_the_policys_principal(
    lab_key: Path, jp_fetch: Any, jp_root_dir: Path
) -> None:
    write_notebook(jp_root_dir, "a.ipynb")
    before = (jp_root_dir / "a.ipynb").read_bytes()
    code, answer = await failed(
        jp_fetch, "qsecure", "sign", body={"path": "a.ipynb", "principal": "pi@lab.example"}
    )
    assert code == 403 and answer["reason"] == "qsecure-not-your-principal", answer
    assert (jp_root_dir / "a.ipynb").read_bytes() == before
    signed = await call(jp_fetch, "qsecure", "sign", body={"path": "a.ipynb"})
    assert signed["signature"]["principal"] == "server@lab.example"
    assert signed["status"] == "signed and valid"


# One user's key is not another's ---------------------------------------------------------


@pytest.mark.usefixtures("no_admin_key")
async def test_a_collaborator_cannot_take_the_key_of_anothers_setup(
    jp_home_dir: Path, jp_fetch: Any, jp_root_dir: Path
) -> None:
    keygen(jp_home_dir / ".ssh" / "id_ed25519", "alice's laptop")
    write_notebook(jp_root_dir, "shared.ipynb")
    await set_up(jp_fetch, "alice", "~/.ssh/id_ed25519.pub", "alice@lab.example")
    # carol, on the same server, picks alice's key and alice's principal.
    code, answer = await failed(
        jp_fetch,
        "qsecure",
        "signing",
        "setup",
        user="carol",
        body={"key": "~/.ssh/id_ed25519.pub", "principal": "alice@lab.example"},
    )
    assert code == 409 and answer["reason"] == "qsecure-key-of-another-user", answer
    assert "alice" not in answer["message"]  # whose it is is not carol's business
    carol = await call(jp_fetch, "qsecure", "signing", "setup", user="carol")
    assert carol["setup"] is None and carol["candidates"] == []  # nor offered to her
    # So carol has nothing to sign with, and alice's view of the notebook stays unsigned.
    code, _ = await failed(jp_fetch, "qsecure", "sign", user="carol", body={"path": "shared.ipynb"})
    assert code == 409
    assert (await status(jp_fetch, "shared.ipynb"))["status"] == "unsigned"


@pytest.mark.usefixtures("no_admin_key")
async def test_a_key_generated_for_one_user_is_not_anothers(
    jp_home_dir: Path, jp_fetch: Any
) -> None:
    await call(
        jp_fetch,
        "qsecure",
        "signing",
        "setup",
        user="carol",
        body={"generate": True, "no_passphrase": True, "principal": "carol@lab.example"},
    )
    # carol moves on to another key; the one generated for her stays hers.
    keygen(jp_home_dir / ".ssh" / "carol_second", "carol")
    await set_up(jp_fetch, "carol", "~/.ssh/carol_second.pub", "carol@lab.example")
    for key in ("~/.ssh/id_ed25519_qsecure.pub", "~/.ssh/carol_second.pub"):
        code, answer = await failed(
            jp_fetch,
            "qsecure",
            "signing",
            "setup",
            user="alice",
            body={"key": key, "principal": "carol@lab.example"},
        )
        assert code == 409 and answer["reason"] == "qsecure-key-of-another-user", answer
    # carol may go back to her own.
    await set_up(jp_fetch, "carol", "~/.ssh/id_ed25519_qsecure.pub", "carol@lab.example")


@pytest.mark.usefixtures("no_admin_key")
async def test_on_a_hub_server_its_own_keys_are_its_owners(
    jp_home_dir: Path, jp_fetch: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """alice's JupyterHub server, shared with carol: alice's ~/.ssh key is alice's even
    before alice sets it up; carol generates one of her own."""
    monkeypatch.setenv("JUPYTERHUB_USER", "alice")
    keygen(jp_home_dir / ".ssh" / "id_ed25519", "alice's laptop")
    code, answer = await failed(
        jp_fetch,
        "qsecure",
        "signing",
        "setup",
        user="carol",
        body={"key": "~/.ssh/id_ed25519.pub", "principal": "alice@lab.example"},
    )
    assert code == 409 and answer["reason"] == "qsecure-key-of-another-user", answer
    assert "generate a key of your own" in answer["message"]
    offered = await call(jp_fetch, "qsecure", "signing", "setup", user="carol")
    assert offered["candidates"] == []
    carol = await call(
        jp_fetch,
        "qsecure",
        "signing",
        "setup",
        user="carol",
        body={
            "generate": True,
            "no_passphrase": True,
            "name": "id_carol",
            "principal": "carol@lab.example",
        },
    )
    assert carol["setup"]["key"] == "~/.ssh/id_carol.pub"
    alice = await set_up(jp_fetch, "alice", "~/.ssh/id_ed25519.pub", "alice@lab.example")
    assert alice["setup"]["key"] == "~/.ssh/id_ed25519.pub"


# The status the server shows is of the file, as the command line reads it -----------------


@pytest.mark.usefixtures("no_admin_key")
async def test_a_file_with_a_repeated_key_is_not_shown_as_signed(
    jp_home_dir: Path, jp_fetch: Any, jp_root_dir: Path
) -> None:
    """The author signs, then writes code under a first "source" key of the cell: Python
    and JavaScript read the last (the signed code), a reader keeping the first shows the
    other. `verify` calls the file bad input; the server must not call it signed."""
    keygen(jp_home_dir / ".ssh" / "id_ed25519")
    write_notebook(jp_root_dir, "dup.ipynb")
    await set_up(jp_fetch, "alice", "~/.ssh/id_ed25519.pub", "alice@lab.example")
    await call(jp_fetch, "qsecure", "sign", body={"path": "dup.ipynb"})
    assert (await status(jp_fetch, "dup.ipynb"))["status"] == "signed and valid"
    path = jp_root_dir / "dup.ipynb"
    text = path.read_text()
    cell_id = '"id": "calc",'
    assert text.count(cell_id) == 1 and text.index(cell_id) < text.rindex('"source"')
    hidden = '"source": "import shutil; shutil.rmtree(\\"/data\\")",'
    path.write_text(text.replace(cell_id, cell_id + hidden))
    code, answer = await failed(jp_fetch, "qsecure", "signature", params={"path": "dup.ipynb"})
    assert code == 422 and answer["reason"] == "qsecure-cannot-verify", answer
    assert '"source"' in answer["message"] and "twice" in answer["message"]


# Malformed requests: a {reason, message} 4xx, never a 500, nothing written ----------------

#: Bodies of the wrong shape for each signing route (method, route, body or query).
MALFORMED: list[tuple[str, str, Any]] = [
    *[
        ("POST", "qsecure/sign", body)
        for body in [
            [],
            "a.ipynb",
            1,
            None,
            {},
            {"path": 1},
            {"path": ["a.ipynb"]},
            {"path": {"a": 1}},
            {"path": "a.ipynb", "role": 1},
            {"path": "a.ipynb", "role": None},
            {"path": "a.ipynb", "role": "owner"},
            {"path": "a.ipynb", "role": ["author"]},
            {"path": "a.ipynb", "principal": 1},
            {"path": "a.ipynb", "principal": ["alice@lab.example"]},
            {"path": "a.ipynb", "principal": ""},
            {"path": "../a.ipynb"},
            {"path": "/etc/passwd"},
            {"path": "a.txt"},
            {"path": "folder"},
            {"path": "missing.ipynb"},
            {"path": "a.ipynb\x00.txt"},
            {"path": "a" * 100_000 + ".ipynb"},
        ]
    ],
    *[
        ("POST", "qsecure/signature", body)
        for body in [
            [],
            1,
            None,
            {},
            {"path": "a.ipynb"},
            {"path": "a.ipynb", "notebook": []},
            {"path": "a.ipynb", "notebook": "{}"},
            {"path": "a.ipynb", "notebook": {}},
            {"path": "a.ipynb", "notebook": {"nbformat": 4, "nbformat_minor": 5, "cells": "x"}},
            {"path": "a.ipynb", "notebook": {"nbformat": 4, "nbformat_minor": 5, "cells": [1]}},
            {"path": 5, "notebook": {"nbformat": 4, "nbformat_minor": 5, "cells": []}},
            {"path": "../x.ipynb", "notebook": {"nbformat": 4, "nbformat_minor": 5, "cells": []}},
        ]
    ],
    *[
        ("GET", "qsecure/signature", query)
        for query in [
            {},
            {"path": ""},
            {"path": "../a.ipynb"},
            {"path": "a.txt"},
            {"path": "folder"},
            {"path": "missing.ipynb"},
            {"path": "bad.ipynb"},
            {"path": "empty.ipynb"},
        ]
    ],
    *[
        ("POST", "qsecure/signing/setup", body)
        for body in [
            [],
            1,
            None,
            {},
            {"key": 1, "principal": "a@b"},
            {"key": ["~/.ssh/id_ed25519.pub"], "principal": "a@b"},
            {"key": "~/.ssh/id_ed25519.pub", "principal": 1},
            {"key": "~/.ssh/id_ed25519.pub", "principal": ["a@b"]},
            {"key": "~/.ssh/id_ed25519.pub"},
            {"key": "~/.ssh/id_ed25519.pub", "principal": "a" * 300},
            {"key": "agent:", "principal": "a@b"},
            {"key": "agent:" + "A" * 5000, "principal": "a@b"},
            {"key": "/etc/ssh/ssh_host_ed25519_key.pub", "principal": "a@b"},
            {"key": "~/.ssh/../.ssh/id_ed25519.pub", "principal": "a@b"},
            {"generate": 1, "principal": "a@b"},
            {"generate": "true", "principal": "a@b"},
            {"generate": True, "principal": "a@b"},
            {"generate": True, "no_passphrase": "true", "principal": "a@b"},
            {"generate": True, "no_passphrase": True, "principal": "a@b", "name": 1},
            {"generate": True, "no_passphrase": True, "principal": "a@b", "name": "../x"},
            {"generate": True, "no_passphrase": True, "principal": "a@b", "name": "x.pub"},
            {"generate": True, "no_passphrase": True, "principal": "a@b", "comment": 1},
            {"generate": True, "no_passphrase": True, "principal": "a@b", "comment": "c" * 300},
        ]
    ],
    *[
        ("GET", "qsecure/signing/setup", query)
        for query in [
            {"path": "../a.ipynb"},
            {"path": "a.txt"},
            {"path": "missing.ipynb"},
            {"path": "bad.ipynb"},
        ]
    ],
]


@pytest.fixture
def malformed_tree(jp_home_dir: Path, jp_root_dir: Path) -> Path:
    """A signing setup's key, a notebook, a text file, a folder, a notebook file that is
    not JSON and an empty one."""
    keygen(jp_home_dir / ".ssh" / "id_ed25519")
    write_notebook(jp_root_dir, "a.ipynb")
    (jp_root_dir / "a.txt").write_text("text\n")
    (jp_root_dir / "folder").mkdir()
    (jp_root_dir / "bad.ipynb").write_text('{"cells": [')
    (jp_root_dir / "empty.ipynb").write_text("")
    return jp_root_dir


def _tree(root: Path, home: Path) -> dict[str, bytes]:
    """Every file under the served root and the server's home, with its bytes."""
    return {
        str(p): p.read_bytes()
        for base in (root, home)
        for p in sorted(base.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


@pytest.mark.parametrize(
    ("method", "route", "value"),
    MALFORMED,
    ids=[f"{m} {r} {i}" for i, (m, r, _) in enumerate(MALFORMED)],
)
@pytest.mark.usefixtures("no_admin_key")
async def test_a_malformed_signing_request_is_a_4xx_and_writes_nothing(
    malformed_tree: Path,
    jp_home_dir: Path,
    jp_fetch: Any,
    qsecure_app: Any,
    method: str,
    route: str,
    value: Any,
) -> None:
    await set_up(jp_fetch, "alice", "~/.ssh/id_ed25519.pub", "alice@lab.example")
    before = _tree(malformed_tree, jp_home_dir)
    state = qsecure_app.personal_signing.user_dir("alice")
    setup_before = {p.name: p.read_bytes() for p in state.iterdir()}
    if method == "GET":
        options: dict[str, Any] = {"params": value}
    else:
        options = {"method": method, "body": json.dumps(value)}
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch(*route.split("/"), headers={USER_HEADER: "alice"}, **options)
    code, answer = caught.value.code, json.loads(caught.value.response.body)
    assert set(answer) == {"reason", "message"}, answer
    assert 400 <= code < 500, (code, answer)
    assert _tree(malformed_tree, jp_home_dir) == before
    assert {p.name: p.read_bytes() for p in state.iterdir()} == setup_before


@pytest.mark.parametrize(
    "qsecure",
    [{"signatures": "x"}, [], {"signatures": [1, "x", None, {"signature": 5}]}],
)
@pytest.mark.usefixtures("no_admin_key")
async def test_signatures_of_the_wrong_shape_are_a_verdict_that_trusts_nothing(
    jp_fetch: Any, qsecure: Any
) -> None:
    notebook = {"nbformat": 4, "nbformat_minor": 5, "metadata": {"qsecure": qsecure}, "cells": []}
    answer = await call(
        jp_fetch, "qsecure", "signature", body={"path": "a.ipynb", "notebook": notebook}
    )
    assert answer["status"] in {"unsigned", "invalid signature"}, answer
    assert answer["meets_policy"] is False
    assert not any(s["trusted"] for s in answer["signatures"])


# The personal allowed_signers is not writable through the contents API ---------------------


@pytest.mark.usefixtures("no_admin_key")
async def test_the_personal_allowed_signers_cannot_be_written_through_contents(
    jp_home_dir: Path, jp_fetch: Any, jp_root_dir: Path, qsecure_app: Any, tmp_path: Path
) -> None:
    keygen(jp_home_dir / ".ssh" / "id_ed25519")
    await set_up(jp_fetch, "alice", "~/.ssh/id_ed25519.pub", "alice@lab.example")
    trust = qsecure_app.personal_signing.user_dir("alice") / "allowed_signers"
    before = trust.read_bytes()
    carol = keygen(tmp_path / "carol" / "id_ed25519").with_suffix(".pub").read_text()
    # A link in the served tree to the setups' folder, as a collaborator could make one.
    (jp_root_dir / "notes").symlink_to(qsecure_app.personal_signing.state_dir)
    name = trust.parent.name
    model = {"type": "file", "format": "text", "content": f"alice@lab.example {carol}"}
    for url in (f"notes/{name}/allowed_signers", f"notes/{name}/x", "notes/other/x"):
        with pytest.raises(HTTPClientError) as caught:
            await jp_fetch("api", "contents", *url.split("/"), method="PUT", body=json.dumps(model))
        assert caught.value.code == 403, url
        assert json.loads(caught.value.response.body)["reason"] == "qsecure-protected-path"
    assert trust.read_bytes() == before
    assert sorted(p.name for p in trust.parent.iterdir()) == ["allowed_signers", "setup.json"]


# Signing through the server: the setup's key, the server's clock -----------------------------


@pytest.mark.usefixtures("no_admin_key")
async def test_signing_uses_only_the_key_the_setup_shows(
    jp_home_dir: Path, jp_fetch: Any, jp_root_dir: Path
) -> None:
    """alice chose ~/.ssh/mine (its fingerprint is what the Sign dialog shows and what her
    personal file trusts); the pair is then swapped for links to another key (carol's,
    written where carol could write). Nothing is signed with a key that is not the one
    shown."""
    ssh = jp_home_dir / ".ssh"
    keygen(ssh / "mine", "alice")
    keygen(ssh / "carols", "carol")
    write_notebook(jp_root_dir, "a.ipynb")
    await set_up(jp_fetch, "alice", "~/.ssh/mine.pub", "alice@lab.example")
    for name in ("mine", "mine.pub"):
        (ssh / name).unlink()
        (ssh / name).symlink_to(ssh / name.replace("mine", "carols"))
    before = (jp_root_dir / "a.ipynb").read_bytes()
    code, answer = await failed(jp_fetch, "qsecure", "sign", body={"path": "a.ipynb"})
    assert code == 409 and answer["reason"] == "qsecure-sign-key-changed", answer
    assert (jp_root_dir / "a.ipynb").read_bytes() == before


@pytest.mark.usefixtures("no_admin_key")
async def test_the_signing_time_is_the_servers_clock(
    jp_home_dir: Path, jp_fetch: Any, jp_root_dir: Path
) -> None:
    from datetime import datetime, timedelta, timezone

    keygen(jp_home_dir / ".ssh" / "id_ed25519")
    write_notebook(jp_root_dir, "a.ipynb")
    await set_up(jp_fetch, "alice", "~/.ssh/id_ed25519.pub", "alice@lab.example")
    start = datetime.now(timezone.utc).replace(microsecond=0)
    body = {"path": "a.ipynb", "signed_at": "2099-01-01T00:00:00+00:00", "now": "2099"}
    signed = await call(jp_fetch, "qsecure", "sign", body=body)
    moment = datetime.fromisoformat(signed["signature"]["signed_at"])
    assert start <= moment <= datetime.now(timezone.utc) + timedelta(seconds=1)


@pytest.fixture
def key_without_principal(tmp_path: Path, policy: Callable[[str], Path]) -> Path:
    """The policy names a server key and a lab-wide allowed_signers, but no principal."""
    admin = keygen(tmp_path / "admin" / "server_key", "server")
    allowed = tmp_path / "admin" / "allowed_signers"
    kind, blob = admin.with_suffix(".pub").read_text().split()[:2]
    allowed.write_text(f"*@lab.example,carol {kind} {blob}\n")
    policy(
        f'[provenance]\nenabled = false\n[signing]\nkey = "{admin}"\n'
        f'allowed_signers = "{allowed}"\n'
    )
    return admin


async def test_a_collaborator_never_signs_as_the_servers_git_identity(
    key_without_principal: Path,
    jp_home_dir: Path,
    jp_fetch: Any,
    jp_root_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server user's git e-mail is the owner's: it is the default principal of the
    owner's requests, not of carol's, who signs on alice's server."""
    monkeypatch.setenv("JUPYTERHUB_USER", "alice")
    (jp_home_dir / ".gitconfig").write_text("[user]\n\temail = alice@lab.example\n")
    write_notebook(jp_root_dir, "a.ipynb")
    signed = await call(jp_fetch, "qsecure", "sign", user="carol", body={"path": "a.ipynb"})
    assert signed["signature"]["principal"] != "alice@lab.example", signed
    setup = await call(jp_fetch, "qsecure", "signing", "setup", user="carol")
    assert setup["principal"] != "alice@lab.example" and setup["default_principal"] == "carol"
    owner = await call(jp_fetch, "qsecure", "signing", "setup", user="alice")
    assert owner["principal"] == "alice@lab.example"


@pytest.mark.parametrize(
    "principal", ["cert-authority", "namespaces=x", "valid-before=20990101", "@lab.example"]
)
@pytest.mark.usefixtures("no_admin_key")
async def test_a_principal_spelled_like_an_option_stays_a_principal(
    jp_home_dir: Path, jp_fetch: Any, qsecure_app: Any, principal: str
) -> None:
    """The personal line's first field is read as principals, by this package as by
    ssh-keygen: a principal named like an option adds no option (no CA, no other
    namespace, no window)."""
    import subprocess

    from jupyter_qsecure.signing.allowed_signers import load_allowed_signers

    private = keygen(jp_home_dir / ".ssh" / "id_ed25519")
    await set_up(jp_fetch, "alice", "~/.ssh/id_ed25519.pub", principal)
    trust = qsecure_app.personal_signing.user_dir("alice") / "allowed_signers"
    [signer] = load_allowed_signers(trust)
    assert signer.principals == (principal,) and not signer.cert_authority
    assert signer.namespaces == ("notebook@jupyter-qsecure",)
    assert signer.valid_after is None and signer.valid_before is None
    found = subprocess.run(
        ["ssh-keygen", "-Y", "find-principals", "-f", str(trust), "-s", "/dev/stdin"],
        input=subprocess.run(
            ["ssh-keygen", "-Y", "sign", "-f", str(private), "-n", "notebook@jupyter-qsecure"],
            input=b"x",
            capture_output=True,
            check=True,
        ).stdout,
        capture_output=True,
        check=True,
    )
    assert found.stdout.decode().split() == [principal]


@pytest.mark.parametrize("damage", ["missing", "not a key", "passphrase"])
@pytest.mark.usefixtures("no_admin_key")
async def test_a_failed_signing_names_no_path_of_the_server(
    jp_home_dir: Path, jp_fetch: Any, jp_root_dir: Path, damage: str
) -> None:
    """The setup names keys as ~/.ssh/NAME; a signing that fails says what to fix the
    same way, without the server's folders."""
    import subprocess

    private = keygen(jp_home_dir / ".ssh" / "mine")
    write_notebook(jp_root_dir, "a.ipynb")
    await set_up(jp_fetch, "alice", "~/.ssh/mine.pub", "alice@lab.example")
    if damage == "missing":
        private.unlink()
    elif damage == "not a key":
        private.write_text("not a key\n")
    else:
        subprocess.run(
            ["ssh-keygen", "-q", "-p", "-N", "secret-words", "-P", "", "-f", str(private)],
            check=True,
            capture_output=True,
        )
    before = (jp_root_dir / "a.ipynb").read_bytes()
    code, answer = await failed(jp_fetch, "qsecure", "sign", body={"path": "a.ipynb"})
    assert 400 <= code < 500, answer
    assert str(jp_home_dir) not in answer["message"], answer
    assert (jp_root_dir / "a.ipynb").read_bytes() == before


# A policy that cannot be read never leaves personal trust standing in for it ---------------


@pytest.fixture
def broken_policy(policy: Callable[[str], Path]) -> Path:
    """The admin's policy requires a reviewer, but has a typo the server cannot use."""
    return policy(
        '[provenance]\nenabled = false\n[signing]\nrequire_roles = ["reviewer"]\nrequire = "two"\n'
    )


async def test_a_broken_policy_turns_personal_trust_off(
    broken_policy: Path, jp_home_dir: Path, jp_fetch: Any, jp_root_dir: Path, qsecure_app: Any
) -> None:
    assert qsecure_app.policy_error
    keygen(jp_home_dir / ".ssh" / "id_ed25519")
    write_notebook(jp_root_dir, "a.ipynb")
    await set_up(jp_fetch, "alice", "~/.ssh/id_ed25519.pub", "alice@lab.example")
    await call(jp_fetch, "qsecure", "sign", body={"path": "a.ipynb"})
    seen = await status(jp_fetch, "a.ipynb")
    assert seen["meets_policy"] is False, seen
    assert seen["status"] == "untrusted signer"
    setup = await call(jp_fetch, "qsecure", "signing", "setup")
    assert setup["trust"] is None


@pytest.mark.parametrize(
    "name", ["config", "rc", "authorized_keys", "authorized_keys2", "known_hosts", "environment"]
)
@pytest.mark.usefixtures("no_admin_key")
async def test_a_generated_key_never_takes_a_name_openssh_reads(
    jp_home_dir: Path, jp_fetch: Any, name: str
) -> None:
    """~/.ssh/config, rc (run by sshd at each login), authorized_keys...: a private key
    written there breaks ssh for the server's user, or worse."""
    body = {"generate": True, "no_passphrase": True, "principal": "a@lab.example", "name": name}
    code, answer = await failed(jp_fetch, "qsecure", "signing", "setup", body=body)
    assert code == 400 and answer["reason"] == "qsecure-bad-setup", answer
    assert not (jp_home_dir / ".ssh" / name).exists()


@pytest.mark.usefixtures("no_admin_key")
async def test_the_sign_answer_is_the_status_of_the_file_as_saved(
    jp_home_dir: Path, jp_fetch: Any, jp_root_dir: Path, jp_serverapp: Any
) -> None:
    """A pre-save hook of the server (an output stripper, a formatter) changes what is
    written after it was signed: the answer says what the file on disk is, not what was
    signed in memory."""

    def formatter(model: dict[str, Any], **_: Any) -> None:
        if model.get("type") == "notebook":
            content = json.loads(json.dumps(model["content"]))  # a hook's own copy
            for cell in content["cells"]:
                if cell["cell_type"] == "code":
                    cell["source"] += "\n# formatted"
            model["content"] = content

    keygen(jp_home_dir / ".ssh" / "id_ed25519")
    write_notebook(jp_root_dir, "a.ipynb")
    await set_up(jp_fetch, "alice", "~/.ssh/id_ed25519.pub", "alice@lab.example")
    jp_serverapp.contents_manager.register_pre_save_hook(formatter)
    signed = await call(jp_fetch, "qsecure", "sign", body={"path": "a.ipynb"})
    on_disk = await status(jp_fetch, "a.ipynb")
    assert on_disk["status"] == "modified since signing"
    assert signed["status"] == on_disk["status"], signed
    assert signed["signatures"][0]["changed_cells"] == ["calc"]


# The audit trail says where the trust came from ---------------------------------------------


@pytest.mark.usefixtures("no_admin_key")
async def test_the_audit_trail_tells_personal_trust_from_the_labs(
    jp_home_dir: Path, jp_fetch: Any, jp_root_dir: Path, audit_events: Any
) -> None:
    """alice's own key, trusted by her personal file, verifies as 'signed and valid' for
    her: an auditor reading the trail must not take it for the lab's trust."""
    keygen(jp_home_dir / ".ssh" / "id_ed25519")
    write_notebook(jp_root_dir, "a.ipynb")
    await set_up(jp_fetch, "alice", "~/.ssh/id_ed25519.pub", "alice@lab.example")
    await call(jp_fetch, "qsecure", "sign", body={"path": "a.ipynb"})
    assert (await status(jp_fetch, "a.ipynb"))["status"] == "signed and valid"
    assert (await status(jp_fetch, "a.ipynb", user="bob"))["status"] == "untrusted signer"
    verified = [e for e in audit_events() if e["__schema__"].endswith("/signature-verified/v1")]
    assert [(e["user"], e["status"], e.get("trust")) for e in verified] == [
        ("alice", "signed and valid", "personal"),
        ("bob", "untrusted signer", "none"),
    ]


async def test_the_audit_trail_names_the_policys_trust(
    lab_key: Path, jp_fetch: Any, jp_root_dir: Path, audit_events: Any
) -> None:
    write_notebook(jp_root_dir, "a.ipynb")
    await call(jp_fetch, "qsecure", "sign", body={"path": "a.ipynb"})
    await status(jp_fetch, "a.ipynb")
    [verified] = [e for e in audit_events() if e["__schema__"].endswith("/signature-verified/v1")]
    assert verified["trust"] == "policy" and verified["status"] == "signed and valid"
