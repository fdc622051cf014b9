"""A credential in a file or folder's name, through a real server: every write that would
create a path holding one (a save, an upload, chunked or not, a new folder, a rename, a
copy, a new untitled file) is refused with the guard's 422 JSON, names the place ("the
file name") and a masked preview, never the value, and leaves the disk as it was. Nothing
the server logs (at DEBUG) or audits spells the name either."""

from __future__ import annotations

import base64
import json
import logging
import random
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from conftest import code, notebook
from corpus import expand
from tornado.httpclient import HTTPClientError, HTTPResponse

from jupyter_qsecure.guard import Scanner

# What the names hold ------------------------------------------------------------------------


def token_named(token: str) -> dict[str, str]:
    """Names that hold ``token``, by how they hold it."""
    return {
        "whole name": f"{token}.ipynb",
        "inside a name": f"notes-{token}.ipynb",
        "glued to a suffix": f"{token}_notes.txt",
        "glued to a prefix": f"run{token}.txt",
        "percent-encoded on disk": f"{token.replace('_', '%5F')}.txt",
        "percent-encoded twice on disk": f"{quote(quote(token, safe=''), safe='')}.txt",
    }


NAME_KINDS = list(token_named("ghp_x"))


def clean_names() -> list[str]:
    """Ordinary names that hold no credential."""
    rng = random.Random(7)
    return [
        "Untitled.ipynb",
        "Untitled Folder",
        "results_2024-01-01.csv",
        "model_checkpoint_epoch_0012_loss_0.1234.pt",
        f"{rng.getrandbits(128):032x}.parquet",
        f"{uuid.UUID(int=rng.getrandbits(128))}.json",
        "ghp_your_token_here.txt",
        "100% done.txt",
        "café – notes.md",
    ]


# Requests ------------------------------------------------------------------------------------


def nb_model() -> dict[str, Any]:
    return {"type": "notebook", "content": notebook(code("x = 1"))}


def text_model(text: str = "hello\n") -> dict[str, Any]:
    return {"type": "file", "format": "text", "content": text}


async def put(jp_fetch: Any, path: str, model: dict[str, Any] | None) -> HTTPResponse:
    body = "" if model is None else json.dumps(model)
    response: HTTPResponse = await jp_fetch("api", "contents", path, method="PUT", body=body)
    return response


async def post(jp_fetch: Any, path: str, model: dict[str, Any]) -> HTTPResponse:
    response: HTTPResponse = await jp_fetch(
        "api", "contents", path, method="POST", body=json.dumps(model)
    )
    return response


async def rename(jp_fetch: Any, source: str, target: str) -> HTTPResponse:
    response: HTTPResponse = await jp_fetch(
        "api", "contents", source, method="PATCH", body=json.dumps({"path": target})
    )
    return response


async def refused(coroutine: Any) -> dict[str, Any]:
    """Await a request the guard must refuse for a name; its JSON body."""
    with pytest.raises(HTTPClientError) as caught:
        await coroutine
    assert caught.value.code == 422, caught.value.response and caught.value.response.body
    assert caught.value.response is not None
    body: dict[str, Any] = json.loads(caught.value.response.body)
    assert body["reason"] == "qsecure-leak"
    return body


def secret_part(token: str) -> str:
    """A stretch of the token's random part that no masked preview shows."""
    return token[4:24]


def assert_masked(body: dict[str, Any], token: str, place: str = "the file name") -> None:
    """The refusal names the place and a preview, and nowhere spells the value."""
    text = json.dumps(body)
    assert secret_part(token) not in text
    assert secret_part(token) not in body["message"]
    assert f"in {place} (ghp_…{token[-3:]})" in body["message"], body["message"]
    assert "pragma" not in body["message"]  # no comment can go into a name
    findings = body["findings"]
    assert findings and all(f["field"] == place for f in findings)
    assert {f["rule"] for f in findings} == {"github-token"}


def listing(root: Path) -> dict[str, bytes | None]:
    """Everything under ``root``: files with their bytes, folders as None."""
    return {
        p.relative_to(root).as_posix(): (p.read_bytes() if p.is_file() else None)
        for p in sorted(root.rglob("*"))
        if ".ipynb_checkpoints" not in p.parts
    }


@pytest.fixture
def debug_log(server_log: Callable[[], str], jp_serverapp: Any, qsecure_app: Any) -> Iterator[Any]:
    """Everything logged during the test, with every logger the server uses at DEBUG."""
    loggers = [
        jp_serverapp.log,
        qsecure_app.log,
        logging.getLogger("tornado"),
        logging.getLogger("tornado.access"),
        logging.getLogger("tornado.application"),
        logging.getLogger("tornado.general"),
        logging.getLogger("jupyter_qsecure"),
        logging.getLogger(),
    ]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    yield server_log
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


def assert_unspelled(token: str, log: str, audit: list[dict[str, Any]]) -> None:
    """Neither the log nor any audit event holds the token, in any encoding."""
    part = secret_part(token)
    assert part not in log, [line for line in log.splitlines() if part in line]
    events = json.dumps(audit)
    assert part not in events
    blocked = [e for e in audit if e["__schema__"].endswith("save-blocked/v1")]
    assert blocked, "the refusal is audited"
    assert all(e["outcome"] == "blocked" for e in blocked)


# The matrix -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", NAME_KINDS)
async def test_saving_a_notebook_under_a_token_name_is_refused(
    jp_fetch: Any,
    jp_root_dir: Path,
    github_token: str,
    debug_log: Callable[[], str],
    audit_events: Any,
    kind: str,
) -> None:
    name = token_named(github_token)[kind]
    body = await refused(put(jp_fetch, name, nb_model()))
    assert_masked(body, github_token)
    assert body["message"].startswith("Save refused: GitHub token in the file name")
    assert "Nothing was written" in body["message"]
    assert listing(jp_root_dir) == {}
    assert_unspelled(github_token, debug_log(), audit_events())


@pytest.mark.parametrize("kind", NAME_KINDS)
async def test_uploading_a_file_under_a_token_name_is_refused(
    jp_fetch: Any, jp_root_dir: Path, github_token: str, audit_events: Any, kind: str
) -> None:
    name = token_named(github_token)[kind]
    upload = {
        "type": "file",
        "format": "base64",
        "content": base64.b64encode(b"data\n").decode(),
    }
    assert_masked(await refused(put(jp_fetch, name, upload)), github_token)
    assert listing(jp_root_dir) == {}


@pytest.mark.parametrize("kind", NAME_KINDS)
async def test_a_chunked_upload_under_a_token_name_is_refused_at_its_first_chunk(
    jp_fetch: Any,
    jp_root_dir: Path,
    github_token: str,
    debug_log: Callable[[], str],
    audit_events: Any,
    qsecure_app: Any,
    kind: str,
) -> None:
    name = token_named(github_token)[kind]
    chunk = {"type": "file", "format": "base64", "content": base64.b64encode(b"x" * 10).decode()}
    body = await refused(put(jp_fetch, name, {**chunk, "chunk": 1}))
    assert_masked(body, github_token)
    assert not qsecure_app.upload_stage._uploads  # nothing held in memory either
    # The last chunk alone is refused too (and is not taken as arriving without chunk 1).
    assert_masked(await refused(put(jp_fetch, name, {**chunk, "chunk": -1})), github_token)
    assert listing(jp_root_dir) == {}
    assert_unspelled(github_token, debug_log(), audit_events())


@pytest.mark.parametrize("kind", NAME_KINDS)
async def test_creating_a_folder_under_a_token_name_is_refused(
    jp_fetch: Any,
    jp_root_dir: Path,
    github_token: str,
    debug_log: Callable[[], str],
    audit_events: Any,
    kind: str,
) -> None:
    name = token_named(github_token)[kind].rsplit(".", 1)[0]
    (jp_root_dir / "work").mkdir()
    body = await refused(put(jp_fetch, f"work/{name}", {"type": "directory"}))
    assert_masked(body, github_token, "the folder name")
    assert body["path"].startswith("work/")
    assert listing(jp_root_dir) == {"work": None}
    assert_unspelled(github_token, debug_log(), audit_events())


async def test_a_token_as_a_folder_in_the_path_is_refused(
    jp_fetch: Any,
    jp_root_dir: Path,
    github_token: str,
    debug_log: Callable[[], str],
    audit_events: Any,
) -> None:
    # The folder came from outside the server (a git clone); writing into it is refused.
    folder = jp_root_dir / "clones" / f"repo-{github_token}"
    folder.mkdir(parents=True)
    for path, model in [
        (f"clones/repo-{github_token}/notes.txt", text_model()),
        (f"clones/repo-{github_token}/deeper", {"type": "directory"}),
        (f"clones/repo-{github_token}/run.ipynb", nb_model()),
    ]:
        body = await refused(put(jp_fetch, path, model))
        assert_masked(body, github_token, "a folder name in its path")
        assert body["path"].endswith(path.rsplit("/", 1)[-1])
    assert list(folder.iterdir()) == []
    assert_unspelled(github_token, debug_log(), audit_events())


@pytest.mark.parametrize("kind", NAME_KINDS)
async def test_renaming_to_a_token_name_is_refused_and_the_file_stays(
    jp_fetch: Any,
    jp_root_dir: Path,
    github_token: str,
    debug_log: Callable[[], str],
    audit_events: Any,
    kind: str,
) -> None:
    (jp_root_dir / "work").mkdir()
    (jp_root_dir / "work" / "draft.txt").write_text("my work\n")
    before = listing(jp_root_dir)
    name = token_named(github_token)[kind]
    for target in (name, f"work/{name}", f"work/{name}/draft.txt"):
        body = await refused(rename(jp_fetch, "work/draft.txt", target))
        place = "a folder name in its path" if target.endswith("/draft.txt") else "the file name"
        assert_masked(body, github_token, place)
        assert body["message"].startswith("Rename refused: GitHub token in ")
        assert "The file keeps its name" in body["message"]
    assert listing(jp_root_dir) == before
    assert_unspelled(github_token, debug_log(), audit_events())


async def test_renaming_a_folder_to_a_token_name_is_refused(
    jp_fetch: Any, jp_root_dir: Path, github_token: str
) -> None:
    (jp_root_dir / "data").mkdir()
    (jp_root_dir / "data" / "a.csv").write_text("1,2\n")
    before = listing(jp_root_dir)
    body = await refused(rename(jp_fetch, "data", f"data-{github_token}"))
    assert_masked(body, github_token, "the file name")
    assert listing(jp_root_dir) == before


async def test_a_new_untitled_file_renamed_to_a_token_name_is_refused(
    jp_fetch: Any,
    jp_root_dir: Path,
    github_token: str,
    debug_log: Callable[[], str],
    audit_events: Any,
) -> None:
    created = json.loads((await post(jp_fetch, "", {"type": "notebook"})).body)
    untitled = created["path"]
    before = listing(jp_root_dir)
    body = await refused(rename(jp_fetch, untitled, f"{github_token}.ipynb"))
    assert_masked(body, github_token)
    assert listing(jp_root_dir) == before
    # The extension asked for is part of the name the server picks.
    body = await refused(post(jp_fetch, "", {"type": "file", "ext": f".{github_token}"}))
    assert_masked(body, github_token)
    assert listing(jp_root_dir) == before
    assert_unspelled(github_token, debug_log(), audit_events())


async def test_copying_a_token_named_file_is_refused(
    jp_fetch: Any,
    jp_root_dir: Path,
    github_token: str,
    debug_log: Callable[[], str],
    audit_events: Any,
) -> None:
    # A token-named file already there (written outside the server); a copy would make
    # another one ("...-Copy1.txt"), here or in another folder.
    (jp_root_dir / f"{github_token}.txt").write_text("hello\n")
    (jp_root_dir / "elsewhere").mkdir()
    before = listing(jp_root_dir)
    for into in ("", "elsewhere"):
        body = await refused(post(jp_fetch, into, {"copy_from": f"{github_token}.txt"}))
        assert_masked(body, github_token)
        assert body["message"].startswith("Copy refused: GitHub token in the file name")
    assert listing(jp_root_dir) == before
    assert_unspelled(github_token, debug_log(), audit_events())


async def test_copying_into_a_token_named_folder_is_refused(
    jp_fetch: Any, jp_root_dir: Path, github_token: str
) -> None:
    (jp_root_dir / "a.txt").write_text("hello\n")
    (jp_root_dir / f"to-{github_token}").mkdir()
    before = listing(jp_root_dir)
    body = await refused(post(jp_fetch, f"to-{github_token}", {"copy_from": "a.txt"}))
    assert_masked(body, github_token, "a folder name in its path")
    assert listing(jp_root_dir) == before


async def test_copying_a_folder_holding_a_token_named_file_is_refused(
    jp_fetch: Any, jp_root_dir: Path, github_token: str
) -> None:
    (jp_root_dir / "project" / "keys").mkdir(parents=True)
    (jp_root_dir / "project" / "keys" / f"{github_token}.txt").write_text("x\n")
    (jp_root_dir / "backup").mkdir()
    before = listing(jp_root_dir)
    body = await refused(post(jp_fetch, "backup", {"copy_from": "project"}))
    assert secret_part(github_token) not in json.dumps(body)
    assert body["message"].startswith("Copy refused: GitHub token in the file name")
    assert listing(jp_root_dir) == before


async def test_a_new_untitled_file_in_a_token_named_folder_is_refused(
    jp_fetch: Any, jp_root_dir: Path, github_token: str
) -> None:
    (jp_root_dir / f"f-{github_token}").mkdir()
    before = listing(jp_root_dir)
    body = await refused(put(jp_fetch, f"f-{github_token}", None))
    assert_masked(body, github_token, "a folder name in its path")
    body = await refused(post(jp_fetch, f"f-{github_token}", {"type": "file"}))
    assert_masked(body, github_token, "a folder name in its path")
    assert listing(jp_root_dir) == before


async def test_saving_over_a_token_named_file_is_refused_and_it_stays_as_it_was(
    jp_fetch: Any, jp_root_dir: Path, github_token: str
) -> None:
    (jp_root_dir / f"{github_token}.txt").write_text("as it was\n")
    before = listing(jp_root_dir)
    body = await refused(put(jp_fetch, f"{github_token}.txt", text_model("changed\n")))
    assert_masked(body, github_token)
    assert listing(jp_root_dir) == before


async def test_a_token_named_file_can_be_renamed_to_a_clean_name_and_deleted(
    jp_fetch: Any, jp_root_dir: Path, github_token: str
) -> None:
    # The way out: renaming it away, or deleting it, is never refused.
    (jp_root_dir / f"{github_token}.txt").write_text("keep me\n")
    (jp_root_dir / f"{github_token}-2.txt").write_text("drop me\n")
    await rename(jp_fetch, f"{github_token}.txt", "renamed.txt")
    assert (jp_root_dir / "renamed.txt").read_text() == "keep me\n"
    await jp_fetch("api", "contents", f"{github_token}-2.txt", method="DELETE")
    assert listing(jp_root_dir) == {"renamed.txt": b"keep me\n"}


# Names as they travel in the URL ---------------------------------------------------------------


async def raw_fetch(
    http_server_client: Any,
    jp_base_url: str,
    jp_auth_header: dict[str, str],
    raw_path: str,
    method: str,
    body: str,
) -> HTTPResponse:
    """A request whose URL path is sent exactly as given (``jp_fetch`` escapes it)."""
    url = f"{jp_base_url.rstrip('/')}/api/contents/{raw_path}"
    response: HTTPResponse = await http_server_client.fetch(
        url, method=method, body=body, headers=dict(jp_auth_header), request_timeout=20
    )
    return response


def percent_encoded(text: str) -> str:
    """Every character of ``text`` percent-encoded."""
    return "".join(f"%{byte:02X}" for byte in text.encode())


@pytest.mark.parametrize("how", ["every character", "only the underscore", "lower case"])
async def test_a_url_encoded_token_name_is_refused(
    http_server_client: Any,
    jp_base_url: str,
    jp_auth_header: dict[str, str],
    jp_root_dir: Path,
    github_token: str,
    debug_log: Callable[[], str],
    audit_events: Any,
    how: str,
) -> None:
    encoded = {
        "every character": percent_encoded(github_token),
        "only the underscore": github_token.replace("_", "%5F"),
        "lower case": github_token.replace("_", "%5f"),
    }[how]
    for method, raw_path, model in [
        ("PUT", f"{encoded}.ipynb", nb_model()),
        ("PUT", f"d-{encoded}", {"type": "directory"}),
    ]:
        body = await refused(
            raw_fetch(
                http_server_client,
                jp_base_url,
                jp_auth_header,
                raw_path,
                method,
                json.dumps(model),
            )
        )
        place = "the folder name" if model["type"] == "directory" else "the file name"
        assert_masked(body, github_token, place)
    assert listing(jp_root_dir) == {}
    log = debug_log()
    assert encoded not in log
    assert_unspelled(github_token, log, audit_events())


# What is not refused ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", clean_names())
async def test_ordinary_names_are_saved_and_renamed(
    jp_fetch: Any, jp_root_dir: Path, name: str
) -> None:
    model = (
        nb_model()
        if name.endswith(".ipynb")
        else {"type": "directory"}
        if "." not in name
        else text_model()
    )
    await put(jp_fetch, name, model)
    assert (jp_root_dir / name).exists()
    await rename(jp_fetch, name, f"moved-{name}")
    assert (jp_root_dir / f"moved-{name}").exists()


def test_ordinary_names_hold_no_credential_for_the_scanner() -> None:
    # The names test above would pass through a scanner that found nothing at all: the
    # same names, one by one, next to a token, are found.
    token = expand("gh" + "p_{A:36}", random.Random(3))
    scanner = Scanner()
    for name in clean_names():
        assert not scanner.scan_name(name).findings, name
        assert scanner.scan_name(f"{name}/{token}").findings, name


@pytest.mark.parametrize("encoded", [False, True], ids=["as it is", "percent-encoded"])
def test_a_path_spelling_an_injected_value_across_its_names_is_refused(
    tmp_path: Path, encoded: bool
) -> None:
    """An AWS secret key holds '/': written as a path, each folder holds a piece of it
    and no name the whole, yet the path (in git, in a listing's breadcrumbs) spells it."""
    from jupyter_qsecure.guard import GuardPolicy
    from jupyter_qsecure.guard.allowlist import BypassStore
    from jupyter_qsecure.guard.save_guard import SaveBlocked, SaveGuard

    value = "wJalrXUtnFEMI/K7MDENG/" + uuid.uuid4().hex[:18]
    guard = SaveGuard(
        GuardPolicy(),
        tmp_path,
        BypassStore(tmp_path / "bypasses.json"),
        injected=lambda: (1, {value: "LAB_TOKEN"}),
    )
    path = f"runs/{quote(value, safe='') if encoded else value}.txt"
    with pytest.raises(SaveBlocked) as refused:
        guard.check_name(path)
    assert value not in refused.value.path and "[secret:LAB_TOKEN]" in refused.value.path
    guard.check_name("runs/wJalrXUtnFEMI/other.txt")  # a piece of it alone is a name


def test_the_server_start_up_lines_keep_its_login_token(
    jp_serverapp: Any, qsecure_app: Any, github_token: str
) -> None:
    # The server prints its own login URL, its token included, on purpose: that token is
    # kept; any other credential, in whichever line, is masked (the access log's too).
    import jupyter_server.log
    import jupyter_server.serverapp

    def handled(module: Any, message: str) -> str:
        record = logging.LogRecord(
            "ServerApp", logging.CRITICAL, module.__file__, 1, "%s", (message,), None
        )
        jp_serverapp.log.handle(record)
        return record.getMessage()

    login = jp_serverapp.identity_provider.token
    assert login
    banner = f"To access the server:\n    http://127.0.0.1:8888/lab?token={login}"
    assert handled(jupyter_server.serverapp, banner) == banner
    query = f"http://127.0.0.1:8888/lab/tree/a.ipynb?token={login}&reset"
    assert handled(jupyter_server.serverapp, query) == query
    other = f"http://127.0.0.1:8888/lab?token={github_token}"
    assert handled(jupyter_server.serverapp, other) == (
        f"http://127.0.0.1:8888/lab?token=ghp_…{github_token[-3:]}"
    )
    access = f"404 GET /api/contents/{github_token}.txt (user@127.0.0.1) 1.00ms"
    assert (
        handled(jupyter_server.log, access)
        == f"404 GET /api/contents/ghp_…{github_token[-3:]}.txt (user@127.0.0.1) 1.00ms"
    )
