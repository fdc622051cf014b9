"""Write paths besides a plain save, on a real Jupyter server: checkpoints (creation and
restore) and folder copies (symbolic links, files swapped between check and copy).
Each leaking request is refused with the guard's 422 JSON, audited, and leaves the disk
as it was."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import code, notebook
from tornado.httpclient import HTTPClientError


def leaking_notebook(token: str) -> str:
    return json.dumps(notebook(code(f'token = "{token}"')))


def clean_notebook() -> str:
    return json.dumps(notebook(code("import os\ntoken = os.environ['LAB_TOKEN']")))


async def refused(coroutine: Any, reason: str = "qsecure-leak") -> dict[str, Any]:
    """Await a request the guard must refuse; its JSON body."""
    with pytest.raises(HTTPClientError) as caught:
        await coroutine
    assert caught.value.code == 422
    assert caught.value.response is not None
    body: dict[str, Any] = json.loads(caught.value.response.body)
    assert body["reason"] == reason
    return body


def blocked_events(audit_events: Any) -> list[dict[str, Any]]:
    return [e for e in audit_events() if e["__schema__"].endswith("save-blocked/v1")]


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (links as links) with its bytes."""
    found = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.is_symlink():
            found[relative] = b"-> " + os.readlink(path).encode()
        elif path.is_file():
            found[relative] = path.read_bytes()
    return found


# Checkpoints -----------------------------------------------------------------------------


async def checkpoint(jp_fetch: Any, path: str) -> Any:
    return await jp_fetch("api", "contents", path, "checkpoints", method="POST", body="")


async def restore(jp_fetch: Any, path: str, checkpoint_id: str) -> Any:
    return await jp_fetch(
        "api", "contents", path, "checkpoints", checkpoint_id, method="POST", body=""
    )


@pytest.mark.parametrize("name", ["run.ipynb", "settings.py"])
async def test_checkpoint_of_a_leaking_file_written_outside_is_refused(
    jp_fetch: Any, jp_root_dir: Path, github_token: str, audit_events: Any, name: str
) -> None:
    # git pull or a kernel wrote it: the server never saw it
    content = leaking_notebook(github_token) if name.endswith("ipynb") else f"T = '{github_token}'"
    (jp_root_dir / name).write_text(content)
    body = await refused(checkpoint(jp_fetch, name))
    assert body["path"] == name
    assert body["message"].startswith("Checkpoint refused: GitHub token in ")
    assert "no checkpoint was made" in body["message"]
    assert github_token not in json.dumps(body)
    assert not (jp_root_dir / ".ipynb_checkpoints").exists() or not any(
        (jp_root_dir / ".ipynb_checkpoints").iterdir()
    )
    [event] = blocked_events(audit_events)
    assert event["write"] == "checkpoint" and event["outcome"] == "blocked"
    assert event["path"] == name
    listed = await jp_fetch("api", "contents", name, "checkpoints")
    assert json.loads(listed.body) == []


async def test_restore_of_a_leaking_checkpoint_is_refused_and_file_kept(
    jp_fetch: Any, jp_root_dir: Path, github_token: str, audit_events: Any
) -> None:
    nb = jp_root_dir / "run.ipynb"
    nb.write_text(clean_notebook())
    created = json.loads((await checkpoint(jp_fetch, "run.ipynb")).body)
    # The checkpoint is swapped for a leaking one outside the server (or was made before
    # the guard ran); the user's clean file must survive a restore.
    [stored] = (jp_root_dir / ".ipynb_checkpoints").iterdir()
    stored.write_text(leaking_notebook(github_token))
    before = nb.read_bytes()
    body = await refused(restore(jp_fetch, "run.ipynb", created["id"]))
    assert body["message"].startswith("Restore refused: GitHub token in cell 1, line 1")
    assert "the file was left as it is" in body["message"]
    assert nb.read_bytes() == before
    [event] = blocked_events(audit_events)
    assert event["write"] == "restore" and event["path"] == "run.ipynb"
    assert github_token not in json.dumps(audit_events())


async def test_clean_checkpoints_are_made_and_restored(jp_fetch: Any, jp_root_dir: Path) -> None:
    nb = jp_root_dir / "ok.ipynb"
    nb.write_text(clean_notebook())
    created = await checkpoint(jp_fetch, "ok.ipynb")
    assert created.code == 201
    nb.write_text(json.dumps(notebook(code("x = 2"))))
    restored = await restore(jp_fetch, "ok.ipynb", json.loads(created.body)["id"])
    assert restored.code == 204
    assert nb.read_text() == clean_notebook()


async def test_restore_of_a_missing_checkpoint_is_a_json_404(
    jp_fetch: Any, jp_root_dir: Path
) -> None:
    (jp_root_dir / "a.txt").write_text("a\n")
    with pytest.raises(HTTPClientError) as caught:
        await restore(jp_fetch, "a.txt", "checkpoint")
    assert caught.value.code == 404
    assert caught.value.response is not None
    body = json.loads(caught.value.response.body)
    assert body["reason"] == "qsecure-not-found"
    assert body["message"] == "a.txt has no checkpoint 'checkpoint'"


async def test_checkpoint_of_a_missing_file_is_a_json_404(jp_fetch: Any) -> None:
    with pytest.raises(HTTPClientError) as caught:
        await checkpoint(jp_fetch, "nothing.ipynb")
    assert caught.value.code == 404
    assert caught.value.response is not None
    body = json.loads(caught.value.response.body)
    assert body == {
        "reason": "qsecure-not-found",
        "message": "nothing.ipynb is not a file: nothing to checkpoint",
    }


# Folder copies ---------------------------------------------------------------------------


async def copy(jp_fetch: Any, source: str, into: str = "") -> Any:
    return await jp_fetch(
        "api", "contents", into, method="POST", body=json.dumps({"copy_from": source})
    )


@pytest.fixture
def outside(tmp_path: Path, github_token: str) -> Path:
    """A folder outside the server root holding a credential."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / ".env").write_text(f"GH_TOKEN={github_token}\n")
    (folder / "notes.txt").write_text("nothing secret\n")
    return folder


@pytest.mark.parametrize(
    ("link", "target"),
    [
        ("project/.env", ".env"),  # a linked file with a credential
        ("project/notes.txt", "notes.txt"),  # a linked clean file from outside
        ("project/shared", "."),  # a linked folder from outside
        ("project/dangling", "no-such-file"),  # a broken link
    ],
)
async def test_folder_copy_holding_a_symlink_is_refused(
    jp_fetch: Any, jp_root_dir: Path, outside: Path, audit_events: Any, link: str, target: str
) -> None:
    (jp_root_dir / "project").mkdir()
    (jp_root_dir / "project" / "main.py").write_text("print('hello')\n")
    (jp_root_dir / link).symlink_to(outside / target)
    before = tree(jp_root_dir)
    body = await refused(copy(jp_fetch, "project"), "qsecure-symlink")
    assert body["link"] == link and body["path"] == "project"
    assert body["message"].startswith(f"Copy refused: {link} is a symbolic link")
    assert tree(jp_root_dir) == before
    [event] = blocked_events(audit_events)
    assert event["outcome"] == "symlink" and event["write"] == "copy"


async def test_copy_of_a_linked_folder_is_refused(
    jp_fetch: Any, jp_root_dir: Path, outside: Path
) -> None:
    (jp_root_dir / "linked").symlink_to(outside)
    before = tree(jp_root_dir)
    body = await refused(copy(jp_fetch, "linked"), "qsecure-symlink")
    assert body["link"] == "linked"
    assert tree(jp_root_dir) == before


async def test_nested_folder_copy_with_a_credential_is_refused(
    jp_fetch: Any, jp_root_dir: Path, github_token: str, audit_events: Any
) -> None:
    deep = jp_root_dir / "project" / "a" / "b"
    deep.mkdir(parents=True)
    (deep / ".hidden.env").write_text(f"TOKEN={github_token}\n")
    before = tree(jp_root_dir)
    body = await refused(copy(jp_fetch, "project"))
    assert body["path"] == "project/a/b/.hidden.env"
    assert body["message"].startswith("Copy refused: GitHub token in line 1")
    assert tree(jp_root_dir) == before
    [event] = blocked_events(audit_events)
    assert event["write"] == "copy"


async def test_clean_folder_copy_still_works(jp_fetch: Any, jp_root_dir: Path) -> None:
    (jp_root_dir / "project" / "sub").mkdir(parents=True)
    (jp_root_dir / "project" / "sub" / "a.py").write_text("x = 1\n")
    response = await copy(jp_fetch, "project")
    assert response.code == 201
    copied = json.loads(response.body)["path"]
    assert (jp_root_dir / copied / "sub" / "a.py").read_text() == "x = 1\n"


async def test_a_file_swapped_during_the_copy_is_caught_and_the_copy_removed(
    jp_fetch: Any,
    jp_root_dir: Path,
    qsecure_app: Any,
    github_token: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A kernel rewrites a file between the guard's check and jupyter_server's copy: what
    was written is checked too, and removed."""
    (jp_root_dir / "project").mkdir()
    (jp_root_dir / "project" / "a.env").write_text("A=1\n")
    guard = qsecure_app.save_guard
    checked = guard.check_folder_copy

    def check_then_swap(source: str) -> None:
        checked(source)
        (jp_root_dir / "project" / "a.env").write_text(f"A={github_token}\n")

    monkeypatch.setattr(guard, "check_folder_copy", check_then_swap)
    body = await refused(copy(jp_fetch, "project"))
    assert body["path"].endswith("/a.env") and body["path"] != "project/a.env"
    assert sorted(p.name for p in jp_root_dir.iterdir()) == ["project"]


async def test_single_file_copy_of_a_link_is_scanned_like_a_save(
    jp_fetch: Any, jp_root_dir: Path, outside: Path
) -> None:
    """jupyter_server reads a linked file as its target; copying it writes that content
    through the contents manager's save, which the guard scans."""
    (jp_root_dir / "linked.env").symlink_to(outside / ".env")
    await refused(copy(jp_fetch, "linked.env"))
    assert sorted(p.name for p in jp_root_dir.iterdir()) == ["linked.env"]


# A corrupt bypass store ------------------------------------------------------------------


async def test_a_corrupt_bypass_store_names_its_path_and_clean_saves_work(
    jp_fetch: Any, jp_root_dir: Path, qsecure_app: Any, github_token: str
) -> None:
    store = qsecure_app.save_guard.bypasses.path
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_text("[{not json")
    clean = json.dumps({"type": "file", "format": "text", "content": "x = 1\n"})
    response = await jp_fetch("api", "contents", "ok.py", method="PUT", body=clean)
    assert response.code == 201
    leaking = json.dumps({"type": "file", "format": "text", "content": f"t = '{github_token}'\n"})
    body = await refused(jp_fetch("api", "contents", "leak.py", method="PUT", body=leaking))
    assert f"Bypasses were not applied: {store}: cannot read the bypass store" in body["message"]
    assert f"mv {store} {store}.broken" in body["message"]
    # accepting a finding says the same; the store, not the request, is at fault
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch(
            "qsecure",
            "bypass",
            method="POST",
            body=json.dumps(
                {"fingerprint": body["findings"][0]["fingerprint"], "reason": "will_rotate"}
            ),
        )
    assert caught.value.code == 500 and caught.value.response is not None
    refusal = json.loads(caught.value.response.body)
    assert refusal["reason"] == "qsecure-bypass-store-unreadable"
    assert f"mv {store} {store}.broken" in refusal["message"]
    # after the reset, bypasses work again
    store.rename(store.with_name(store.name + ".broken"))
    await jp_fetch(
        "qsecure",
        "bypass",
        method="POST",
        body=json.dumps(
            {"fingerprint": body["findings"][0]["fingerprint"], "reason": "will_rotate"}
        ),
    )
    assert (await jp_fetch("api", "contents", "leak.py", method="PUT", body=leaking)).code == 201


# Chunked-upload staging bounds -----------------------------------------------------------


def chunk(number: int, data: bytes) -> str:
    content = base64.b64encode(data).decode()
    return json.dumps({"type": "file", "format": "base64", "chunk": number, "content": content})


async def test_upload_staging_is_bounded_in_count(jp_fetch: Any, jp_root_dir: Path) -> None:
    for index in range(8):
        response = await jp_fetch(
            "api", "contents", f"f{index}.bin", method="PUT", body=chunk(1, b"x")
        )
        assert response.code == 201
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("api", "contents", "f8.bin", method="PUT", body=chunk(1, b"x"))
    assert caught.value.code == 413 and caught.value.response is not None
    body = json.loads(caught.value.response.body)
    assert body["reason"] == "qsecure-upload-too-large"
    assert body["message"] == (
        "f8.bin: 8 uploads are already in progress (at most 8); wait for them to finish and "
        "upload it again"
    )
    # finishing one makes room; nothing was written meanwhile
    assert not any(jp_root_dir.iterdir())
    await jp_fetch("api", "contents", "f0.bin", method="PUT", body=chunk(-1, b"y"))
    assert (jp_root_dir / "f0.bin").read_bytes() == b"xy"
    assert (
        await jp_fetch("api", "contents", "f8.bin", method="PUT", body=chunk(1, b"x"))
    ).code == 201


def test_upload_staging_is_bounded_in_bytes() -> None:
    from jupyter_qsecure.guard.uploads import UploadStage, UploadTooLarge

    stage = UploadStage(max_bytes=100, max_total_bytes=150)
    stage.add("a", 1, "x" * 90, "text")
    with pytest.raises(
        UploadTooLarge, match=r"b: uploads in progress hold 180 bytes \(at most 150\)"
    ):
        stage.add("b", 1, "x" * 90, "text")
    with pytest.raises(UploadTooLarge, match="a is larger than the guard scans"):
        stage.add("a", 2, "x" * 20, "text")
    assert stage.add("c", 1, "x" * 60, "text") is None  # both refused uploads were dropped
