"""A name that holds a line break or an escape sequence cannot forge a line of the server
log: every line jupyter-qsecure logs shows what a request, a notebook or a kernel chose
(a path, a kernel or session id, a user name, an error quoting one) with its control
characters escaped. Real server (real kernel for the kernel's lines)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import LAB_TOKEN_GRANT, code, notebook
from jupyterhub.singleuser.extension import JupyterHubIdentityProvider, JupyterHubUser
from tornado.httpclient import HTTPClientError

import jupyter_qsecure
from jupyter_qsecure.hub_authorizer import QSecureHubAuthorizer

PACKAGE = str(Path(jupyter_qsecure.__file__).resolve().parent)
FORGED_LINE = "WARNING qsecure: signature ok"

#: Names that, written raw into a log line, forge a line or rewrite the reader's terminal.
FORGING = {
    "newline": f"a\n{FORGED_LINE}",
    "carriage return": f"a\r{FORGED_LINE}",
    "escape sequence": "a\x1b[2K\x1b[1A" + FORGED_LINE,
    "line separator": f"a\u2028{FORGED_LINE}",
}
CONTROLS = ("\n", "\r", "\x1b", "\u2028")


class Records(logging.Handler):
    """Every record the server's loggers emit, kept as records."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def ours(self) -> list[str]:
        """The messages of the lines jupyter-qsecure's own code logged."""
        return [
            r.getMessage()
            for r in self.records
            if str(Path(r.pathname).resolve()).startswith(PACKAGE)
        ]


@pytest.fixture
def records(jp_serverapp: Any, qsecure_app: Any) -> Iterator[Records]:
    """Every line logged during the test, every logger at DEBUG."""
    handler = Records()
    loggers = [
        jp_serverapp.log,
        qsecure_app.log,
        logging.getLogger("jupyter_qsecure"),
        logging.getLogger("tornado"),
        logging.getLogger(),
    ]
    loggers = list({id(logger): logger for logger in loggers}.values())
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)
    yield handler
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)
        logger.removeHandler(handler)


def assert_escaped(records: Records, *expected: str) -> list[str]:
    """Lines of ours were logged (one holding each of ``expected``), none with a raw
    control character: the name shows escaped, on its line."""
    lines = records.ours()
    for fragment in expected:
        assert any(fragment in line for line in lines), (fragment, lines)
    forged = [line for line in lines if any(c in line for c in CONTROLS)]
    assert forged == []
    return lines


async def refused(coroutine: Any, code: int = 422) -> dict[str, Any]:
    with pytest.raises(HTTPClientError) as caught:
        await coroutine
    assert caught.value.code == code
    assert caught.value.response is not None
    body: dict[str, Any] = json.loads(caught.value.response.body)
    return body


@pytest.mark.parametrize("kind", list(FORGING))
async def test_a_refused_save_logs_its_path_escaped(
    jp_fetch: Any, github_token: str, records: Records, kind: str
) -> None:
    name = f"{FORGING[kind]}.ipynb"
    model = {"type": "notebook", "content": notebook(code(f"t = '{github_token}'"))}
    await refused(jp_fetch("api", "contents", name, method="PUT", body=json.dumps(model)))
    lines = assert_escaped(records, "qsecure: save of a", "refused: qsecure-leak")
    assert any(repr(FORGING[kind][1])[1:-1] in line for line in lines)


@pytest.mark.parametrize("kind", list(FORGING))
async def test_a_server_error_logs_its_message_escaped(
    jp_fetch: Any, jp_root_dir: Path, records: Records, kind: str
) -> None:
    # The ContentsManager's 500 quotes the path it could not rename (into itself).
    (jp_root_dir / FORGING[kind]).mkdir()
    body = json.dumps({"path": f"{FORGING[kind]}/inside"})
    await refused(jp_fetch("api", "contents", FORGING[kind], method="PATCH", body=body), 500)
    assert_escaped(records, "500 PATCH", "Unknown error renaming file")


@pytest.mark.parametrize("kind", list(FORGING))
async def test_a_refused_folder_copy_logs_its_paths_escaped(
    jp_fetch: Any, jp_root_dir: Path, tmp_path: Path, records: Records, kind: str
) -> None:
    folder = jp_root_dir / FORGING[kind]
    folder.mkdir()
    (tmp_path / "outside.txt").write_text("x\n")
    os.symlink(tmp_path / "outside.txt", folder / f"{FORGING[kind]}.txt")
    body = json.dumps({"copy_from": FORGING[kind]})
    await refused(jp_fetch("api", "contents", "", method="POST", body=body))
    assert_escaped(records, "qsecure: copy of a", "is a symbolic link")


@pytest.fixture
def unscannable_allowed(policy: Callable[[str], Path]) -> None:
    """A policy that lets through what the guard cannot scan (files over 64 bytes)."""
    policy('[guard]\non_error = "allow"\nmax_bytes = 64\n')


@pytest.mark.parametrize("kind", list(FORGING))
async def test_a_write_allowed_unscanned_logs_its_path_escaped(
    unscannable_allowed: None, jp_fetch: Any, jp_root_dir: Path, records: Records, kind: str
) -> None:
    model = {"type": "file", "format": "text", "content": "x" * 200}
    name = f"{FORGING[kind]}.txt"
    await jp_fetch("api", "contents", name, method="PUT", body=json.dumps(model))
    assert (jp_root_dir / name).exists()
    assert_escaped(records, "not scanned (too large to scan")


@pytest.fixture
def failing_grant(policy: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """A grant of LAB_TOKEN to every notebook, from a variable that is not set."""
    monkeypatch.delenv("LAB_TOKEN_SOURCE", raising=False)
    policy(LAB_TOKEN_GRANT)


async def test_a_kernel_started_and_moved_for_a_forging_notebook_logs_it_escaped(
    failing_grant: None, jp_fetch: Any, jp_root_dir: Path, records: Records
) -> None:
    first, second = f"{FORGING['newline']}.ipynb", f"{FORGING['escape sequence']}.ipynb"
    for name in (first, second):
        (jp_root_dir / name).write_text(json.dumps(notebook(code("x = 1"))))
    body = {"path": first, "type": "notebook", "name": "", "kernel": {"name": "python3"}}
    session = json.loads(
        (await jp_fetch("api", "sessions", method="POST", body=json.dumps(body))).body
    )
    try:
        (jp_root_dir / second).unlink()
        await jp_fetch("api", "contents", first, method="PATCH", body=json.dumps({"path": second}))
        await jp_fetch(
            "api", "sessions", session["id"], method="PATCH", body=json.dumps({"path": second})
        )
        assert_escaped(records, "LAB_TOKEN not injected", "now runs for a")
    finally:
        await jp_fetch("api", "sessions", session["id"], method="DELETE")


def test_a_hub_user_refused_is_logged_escaped(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # JupyterHub user names are the hub's to check; what the hub sends is shown escaped.
    hub = {
        "JUPYTERHUB_USER": "alice",
        "JUPYTERHUB_SERVER_NAME": "",
        "JUPYTERHUB_API_TOKEN": "server-token",
        "JUPYTERHUB_API_URL": "http://127.0.0.1:9/hub/api",
        "JUPYTERHUB_CLIENT_ID": "jupyterhub-user-alice",
        "JUPYTERHUB_OAUTH_ACCESS_SCOPES": json.dumps(["access:servers!server=alice/"]),
    }
    for name, value in hub.items():
        monkeypatch.setenv(name, value)
    authorizer = QSecureHubAuthorizer(identity_provider=JupyterHubIdentityProvider())
    authorizer.log = logging.getLogger("jupyter_qsecure.test_hub")
    for kind, forged in FORGING.items():
        user = JupyterHubUser(
            {"kind": "user", "name": forged, "scopes": ["access:servers!server=alice/"]}
        )
        with caplog.at_level(logging.INFO, logger="jupyter_qsecure.test_hub"):
            caplog.clear()
            assert not authorizer.is_authorized(None, user, "write", "qsecure:signing")
        messages = [record.getMessage() for record in caplog.records]
        assert any("may not write" in m for m in messages), kind
        assert not [m for m in messages if any(c in m for c in CONTROLS)], kind


@pytest.mark.parametrize("kind", list(FORGING))
async def test_the_contents_service_lines_about_a_forging_name_are_escaped(
    jp_fetch: Any, jp_root_dir: Path, records: Records, kind: str
) -> None:
    # jupyter_server's own lines ("Uploading file to", "Saving file at", "delete") name
    # the path too: the guard's log filter escapes them.
    import jupyter_server.services.contents as contents

    folder = str(Path(contents.__file__).resolve().parent)
    name = f"{FORGING[kind]}.txt"
    model = json.dumps({"type": "file", "format": "text", "content": "x\n"})
    await jp_fetch("api", "contents", name, method="PUT", body=model)
    await jp_fetch("api", "contents", name, method="PUT", body=model)
    await jp_fetch("api", "contents", name, method="DELETE")
    assert not (jp_root_dir / name).exists()
    lines = [
        r.getMessage()
        for r in records.records
        if str(Path(r.pathname).resolve()).startswith(folder)
    ]
    assert any("Uploading file to" in line for line in lines)
    assert any("Saving file at" in line for line in lines)
    assert [line for line in lines if any(c in line for c in CONTROLS)] == []
