"""The policy cannot be changed through the server: a Jupyter config folder under the
server root is out of reach of every contents write, rename and delete; and a policy file
others can write is not used (as OpenSSH's StrictModes), with the chmod to run."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import code, notebook
from tornado.httpclient import HTTPClientError

from jupyter_qsecure.config import PolicyError, load_policy
from jupyter_qsecure.policy_files import unsafe_permissions

POLICY = '[guard]\non_error = "block"\n'
DISABLING = "[guard]\nenabled = false\n"


@pytest.fixture
def jp_config_dir(jp_root_dir: Path) -> Path:
    """The user's Jupyter config folder inside the server root (a home served as root,
    or a project carrying its own config), holding the policy."""
    folder = jp_root_dir / "jupyter-config"
    folder.mkdir(mode=0o755)
    (folder / "qsecure.toml").write_text(POLICY)
    (folder / "qsecure.toml").chmod(0o644)
    return folder


async def forbidden(coroutine: Any) -> dict[str, Any]:
    with pytest.raises(HTTPClientError) as caught:
        await coroutine
    assert caught.value.code == 403
    assert caught.value.response is not None
    body: dict[str, Any] = json.loads(caught.value.response.body)
    assert body["reason"] == "qsecure-protected-path"
    return body


def text_model(content: str) -> str:
    return json.dumps({"type": "file", "format": "text", "content": content})


async def test_the_policy_in_use_comes_from_the_config_folder(
    qsecure_app: Any, jp_config_dir: Path
) -> None:
    assert qsecure_app.policy.source == str(jp_config_dir / "qsecure.toml")


async def test_writing_the_policy_through_the_server_is_refused(
    jp_fetch: Any, jp_config_dir: Path, audit_events: Any
) -> None:
    body = await forbidden(
        jp_fetch(
            "api",
            "contents",
            "jupyter-config",
            "qsecure.toml",
            method="PUT",
            body=text_model(DISABLING),
        )
    )
    assert body["path"] == "jupyter-config/qsecure.toml"
    assert "where jupyter-qsecure reads its policy" in body["message"]
    assert (jp_config_dir / "qsecure.toml").read_text() == POLICY
    [event] = [e for e in audit_events() if e["__schema__"].endswith("save-blocked/v1")]
    assert event["outcome"] == "protected" and event["path"] == "jupyter-config/qsecure.toml"


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        # a server config that would unload the extension at the next start
        ("PUT", "jupyter-config/jupyter_server_config.json", text_model('{"ServerApp": {}}')),
        ("PUT", "jupyter-config/sub", json.dumps({"type": "directory"})),
        ("POST", "jupyter-config", json.dumps({"type": "file"})),  # a new untitled file
        ("POST", "jupyter-config", json.dumps({"copy_from": "staged.toml"})),
        ("POST", "jupyter-config", json.dumps({"copy_from": "folder"})),
        ("PATCH", "staged.toml", json.dumps({"path": "jupyter-config/qsecure.toml"})),
        ("PATCH", "jupyter-config/qsecure.toml", json.dumps({"path": "old.toml"})),
        ("PATCH", "jupyter-config", json.dumps({"path": "elsewhere"})),
        ("DELETE", "jupyter-config/qsecure.toml", None),
        ("DELETE", "jupyter-config", None),
        ("POST", "jupyter-config/qsecure.toml/checkpoints", ""),
    ],
)
async def test_every_way_into_the_config_folder_is_refused(
    jp_fetch: Any, jp_root_dir: Path, jp_config_dir: Path, method: str, url: str, body: Any
) -> None:
    (jp_root_dir / "staged.toml").write_text(DISABLING)
    (jp_root_dir / "folder").mkdir()
    (jp_root_dir / "folder" / "qsecure.toml").write_text(DISABLING)
    before = sorted(p.relative_to(jp_root_dir).as_posix() for p in jp_root_dir.rglob("*"))
    await forbidden(jp_fetch("api", "contents", *url.split("/"), method=method, body=body))
    after = sorted(p.relative_to(jp_root_dir).as_posix() for p in jp_root_dir.rglob("*"))
    assert after == before
    assert (jp_config_dir / "qsecure.toml").read_text() == POLICY


async def test_a_restore_into_the_config_folder_is_refused(
    jp_fetch: Any, jp_config_dir: Path
) -> None:
    await forbidden(
        jp_fetch(
            "api",
            "contents",
            "jupyter-config",
            "qsecure.toml",
            "checkpoints",
            "checkpoint",
            method="POST",
            body="",
        )
    )


async def test_a_linked_path_to_the_config_folder_is_refused(
    jp_fetch: Any, jp_root_dir: Path, jp_config_dir: Path
) -> None:
    (jp_root_dir / "innocent").symlink_to(jp_config_dir)
    await forbidden(
        jp_fetch(
            "api", "contents", "innocent", "qsecure.toml", method="PUT", body=text_model(DISABLING)
        )
    )
    assert (jp_config_dir / "qsecure.toml").read_text() == POLICY


async def test_writes_elsewhere_still_work(jp_fetch: Any, jp_root_dir: Path) -> None:
    nb = notebook(code("x = 1"))
    response = await jp_fetch(
        "api",
        "contents",
        "jupyter-configs.ipynb",
        method="PUT",
        body=json.dumps({"type": "notebook", "content": nb}),
    )
    assert response.code == 201
    response = await jp_fetch(
        "api", "contents", "qsecure.toml", method="PUT", body=text_model(DISABLING)
    )
    assert response.code == 201  # a policy in the served folder is never read


# StrictModes -------------------------------------------------------------------------------


@pytest.fixture
def policy_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "etc"
    folder.mkdir(mode=0o755)
    path = folder / "qsecure.toml"
    path.write_text(POLICY)
    path.chmod(0o644)
    monkeypatch.setenv("QSECURE_CONFIG", str(path))
    return path


def test_a_policy_only_its_owner_writes_is_used(policy_file: Path) -> None:
    assert unsafe_permissions(policy_file) is None
    assert load_policy().source == str(policy_file)


@pytest.mark.parametrize("mode", [0o666, 0o646, 0o602])
def test_a_world_writable_policy_is_refused_with_the_chmod_to_run(
    policy_file: Path, mode: int
) -> None:
    policy_file.chmod(mode)
    with pytest.raises(PolicyError) as caught:
        load_policy()
    assert str(caught.value) == (
        f"{policy_file}: not used: the policy file {policy_file} is writable by others "
        f"(mode {mode:04o}), who could change the policy; run: chmod go-w {policy_file}"
    )


def test_a_world_writable_folder_is_refused(policy_file: Path) -> None:
    policy_file.parent.chmod(0o777)
    assert f"run: chmod go-w {policy_file.parent}" in (unsafe_permissions(policy_file) or "")
    policy_file.parent.chmod(0o1777)  # sticky, as /tmp: others cannot replace the file
    assert unsafe_permissions(policy_file) is None


def _shared_group() -> int | None:
    """A group other than this user's private group, that this process may give a file."""
    import grp

    for group in grp.getgrall():
        if group.gr_gid != os.getgid() and (os.getuid() == 0 or group.gr_gid in os.getgroups()):
            return group.gr_gid
    return None


def test_group_writable_is_refused_unless_the_group_is_the_owners_own(policy_file: Path) -> None:
    import grp
    import pwd

    policy_file.chmod(0o664)
    me = pwd.getpwuid(os.getuid()).pw_name
    own = grp.getgrgid(os.getgid())
    if own.gr_name == me and set(own.gr_mem) <= {me}:
        assert unsafe_permissions(policy_file) is None  # umask 002 with user-private groups
    shared = _shared_group()
    if shared is None:
        pytest.skip("no other group to give the file")
    os.chown(policy_file, -1, shared)
    assert "is writable by its group (mode 0664)" in (unsafe_permissions(policy_file) or "")


@pytest.mark.skipif(os.getuid() != 0, reason="giving a file to another user needs root")
def test_a_policy_owned_by_another_user_is_refused(policy_file: Path) -> None:
    os.chown(policy_file, 65534, -1)
    assert "belongs to another user (uid 65534)" in (unsafe_permissions(policy_file) or "")


@pytest.fixture
def writable_policy(policy_file: Path) -> Path:
    policy_file.write_text(DISABLING)
    policy_file.chmod(0o666)
    return policy_file


async def test_a_writable_policy_that_disables_the_guard_is_not_used(
    writable_policy: Path, jp_fetch: Any, qsecure_app: Any, github_token: str
) -> None:
    assert qsecure_app.policy.source == "(embedded defaults)"
    assert f"chmod go-w {writable_policy}" in qsecure_app.policy_error
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch(
            "api", "contents", "x.py", method="PUT", body=text_model(f"t = '{github_token}'\n")
        )
    assert caught.value.code == 422
