"""Hostile and careless input to the personal signing setup, through a real server: a
principal that would end or hide part of the personal allowed_signers line, key ids that
are not names of files, and what the server answers (400 naming what to fix, never 500)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_signing_setup import (  # noqa: F401  (fixtures used by name)
    NAMESPACE,
    call,
    jp_server_config,
    keygen,
    no_admin_key,
    refused,
)

pytestmark = pytest.mark.usefixtures("no_admin_key")


@pytest.mark.parametrize(
    "principal",
    [
        "alice\x00@evil",  # ssh-keygen reads a line up to its NUL: the trust line would be cut
        "alice\x1b[2K@lab",  # a terminal escape, replayed by whoever reads the log or the audit
        "ali\u200bce@lab.example",  # looks like alice@lab.example, is not
        "alice\u202e@lab",  # a right-to-left override
        "alice\x7f@lab",
    ],
)
async def test_a_principal_with_unseen_characters_is_refused(
    jp_home_dir: Path, jp_fetch: Any, principal: str
) -> None:
    keygen(jp_home_dir / ".ssh" / "id_ed25519")
    code, answer = await refused(jp_fetch, {"key": "~/.ssh/id_ed25519.pub", "principal": principal})
    assert code == 400 and answer["reason"] == "qsecure-bad-setup"
    assert "principal" in answer["message"] and "control or invisible" in answer["message"]
    assert (await call(jp_fetch, "qsecure", "signing", "setup"))["setup"] is None


@pytest.mark.parametrize(
    "key",
    [
        "~/.ssh/a\x00b/id_ed25519.pub",  # a NUL in a folder name
        "~/.ssh/" + "k" * 5000 + ".pub",  # longer than a file name can be
        "~/.ssh/id_ed25519\x00.pub",
    ],
)
async def test_a_key_id_that_names_no_file_is_400_not_500(
    jp_home_dir: Path, jp_fetch: Any, key: str
) -> None:
    keygen(jp_home_dir / ".ssh" / "id_ed25519")
    code, answer = await refused(jp_fetch, {"key": key, "principal": "alice@lab.example"})
    assert code == 400 and answer["reason"] == "qsecure-bad-setup", answer
    assert "pick one of the listed keys" in answer["message"]
    assert str(jp_home_dir) not in answer["message"]


async def test_a_comment_with_a_control_character_is_refused(
    jp_home_dir: Path, jp_fetch: Any
) -> None:
    body = {
        "generate": True,
        "no_passphrase": True,
        "principal": "alice@lab.example",
        "comment": "laptop\x7f\u2028cert-authority",
    }
    code, answer = await refused(jp_fetch, body)
    assert code == 400 and "comment" in answer["message"]
    assert not (jp_home_dir / ".ssh" / "id_ed25519_qsecure").exists()


async def test_the_personal_line_is_one_line_for_the_qsecure_namespace_only(
    jp_home_dir: Path, jp_fetch: Any, qsecure_app: Any
) -> None:
    # A .pub whose comment tries to add a second, broader line.
    private = keygen(jp_home_dir / ".ssh" / "id_ed25519")
    public = private.with_suffix(".pub")
    kind, blob = public.read_text().split()[:2]
    public.write_text(f"{kind} {blob} me\ncert-authority {kind} {blob}\n* {kind} {blob}\n")
    await call(
        jp_fetch,
        "qsecure",
        "signing",
        "setup",
        body={"key": "~/.ssh/id_ed25519.pub", "principal": "alice@lab.example"},
    )
    state = qsecure_app.personal_signing
    text = (state.user_dir("alice") / "allowed_signers").read_text()
    assert text == f'alice@lab.example namespaces="{NAMESPACE}" {kind} {blob}\n'
    assert json.loads((state.user_dir("alice") / "setup.json").read_text())["public_key"] == (
        f"{kind} {blob}"
    )


def test_concurrent_choices_leave_the_trust_line_of_the_chosen_key(tmp_path: Path) -> None:
    """Two requests choosing different keys at once (two tabs, a double click): the
    personal allowed_signers must trust the key setup.json signs with, every time."""
    import threading

    from jupyter_qsecure.signing.setup import PersonalSigning

    home = tmp_path / "home"
    for name in ("id_a", "id_b"):
        keygen(home / ".ssh" / name)
    personal = PersonalSigning(tmp_path / "state", home)
    mismatched = 0
    for _ in range(60):
        start = threading.Barrier(2)

        def choose(key: str, start: threading.Barrier = start) -> None:
            start.wait()
            personal.choose("alice", key, "alice@lab.example")

        threads = [
            threading.Thread(target=choose, args=(f"~/.ssh/{name}.pub",))
            for name in ("id_a", "id_b")
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        setup, signers = personal.current("alice")
        assert setup is not None and signers is not None
        mismatched += setup.public_key not in signers.read_text()
    assert mismatched == 0


@pytest.mark.parametrize("appears", ["id_ed25519_qsecure", "id_ed25519_qsecure.pub"])
@pytest.mark.parametrize("kind", ["dangling link", "file"])
def test_a_name_that_appears_while_the_key_is_generated_is_never_written_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, appears: str, kind: str
) -> None:
    """Between the check that the key's names are free and ssh-keygen's write, something
    takes one of them (another tab, another process, a link planted to send the private key
    elsewhere): the setup is refused, what appeared is untouched, the link's target stays
    absent, and no half of a key pair is left behind."""
    import subprocess

    from jupyter_qsecure.signing import setup as setup_module

    home = tmp_path / "home"
    ssh = home / ".ssh"
    ssh.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    real_run = subprocess.run

    def run_then_take_the_name(*args: Any, **kwargs: Any) -> Any:
        result = real_run(*args, **kwargs)
        if kind == "file":
            (ssh / appears).write_text("theirs\n")
        else:
            (ssh / appears).symlink_to(elsewhere)
        return result

    monkeypatch.setattr(setup_module.subprocess, "run", run_then_take_the_name)
    personal = setup_module.PersonalSigning(tmp_path / "state", home)
    with pytest.raises(setup_module.SetupError, match="appeared while the key was generated"):
        personal.generate("alice", "alice@lab.example", no_passphrase=True)
    assert not elsewhere.exists()
    if kind == "file":
        assert (ssh / appears).read_text() == "theirs\n"
    else:
        assert (ssh / appears).is_symlink()
    assert sorted(p.name for p in ssh.iterdir()) == [appears]
    assert personal.current("alice") == (None, None)


def test_a_generated_key_pair_lands_whole(tmp_path: Path) -> None:
    """Generating through the private work folder leaves exactly the pair, with the modes
    ssh-keygen gave them, and the work folder gone."""
    from jupyter_qsecure.signing.setup import PersonalSigning

    home = tmp_path / "home"
    personal = PersonalSigning(tmp_path / "state", home)
    setup = personal.generate("alice", "alice@lab.example", no_passphrase=True)
    ssh = home / ".ssh"
    assert sorted(p.name for p in ssh.iterdir()) == ["id_ed25519_qsecure", "id_ed25519_qsecure.pub"]
    assert (ssh / "id_ed25519_qsecure").stat().st_mode & 0o077 == 0
    assert setup.public_key in (ssh / "id_ed25519_qsecure.pub").read_text()
