"""No secret value, in any encoding, in any log line of the server, DEBUG included.

A real server at DEBUG for every logger, a granted secret live in a kernel and a
credential-shaped token: every route (ours, and the server's that take a name) gets one
of them in each field a request has (path, query, body, headers, a file name, a kernel
name, a bad JSON body, a body larger than the guard scans), a kernel prints and raises
with them, a save is refused and then bypassed; then the whole log text (every logger,
tracebacks and events included) is searched for each value as written plain, base64,
hex, URL-encoded, JSON-escaped and as a Python repr. The masking of one record (a
traceback attached, a stack, an event, a library's logger, the login token kept) is
also tested on its own.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from conftest import LAB_TOKEN_GRANT, code, notebook
from kernel_client import start_session
from tornado.httpclient import HTTPClientError

from jupyter_qsecure.guard import GuardPolicy
from jupyter_qsecure.guard.allowlist import BypassStore
from jupyter_qsecure.guard.logs import MaskedLog, mask_every_record, stop_masking
from jupyter_qsecure.guard.save_guard import SaveGuard

#: How the guard's largest scan is set for the sweep: a body past it is "too large".
MAX_BYTES = 200_000


def written_forms(value: str) -> dict[str, str]:
    """``value`` as a log line could spell it, by the encoding's name."""
    raw = value.encode()
    return {
        "plain": value,
        "base64": base64.b64encode(raw).decode().rstrip("="),
        "base64url": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
        "quote": quote(value, safe=""),
        "quote_plus": quote_plus(value),
        "json": json.dumps(value)[1:-1],
        "json-ascii": json.dumps(value, ensure_ascii=True)[1:-1],
        "repr": repr(value)[1:-1],
    }


def spelled(text: str, values: dict[str, str]) -> list[tuple[str, str, int]]:
    """(value's label, form, count) for each form of each value found in ``text``."""
    return [
        (label, form, text.count(written))
        for label, value in values.items()
        for form, written in written_forms(value).items()
        if written in text
    ]


# --- One record ------------------------------------------------------------------------


def _mask_token(token: str) -> Callable[[str], str]:
    return lambda text: text.replace(token, "ghp_…" + token[-3:])


@pytest.fixture
def masking(github_token: str) -> Iterator[tuple[MaskedLog, io.StringIO]]:
    """A MaskedLog masking ``github_token`` installed for every record of this process,
    and a handler writing what a ``qsecure-test`` logger logs (tracebacks included)."""
    log_filter = MaskedLog(_mask_token(github_token), kept=lambda: ("kept-login-token",))
    mask_every_record(log_filter)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    logger = logging.getLogger("qsecure-test.library.child")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield log_filter, stream
    logger.removeHandler(handler)
    stop_masking(log_filter)


def test_a_traceback_attached_to_a_record_is_masked(
    masking: tuple[MaskedLog, io.StringIO], github_token: str
) -> None:
    _, stream = masking
    log = logging.getLogger("qsecure-test.library.child")
    try:
        raise ValueError(f"No such kernel named {github_token}")
    except ValueError:
        log.exception("could not start")
        log.error("again", exc_info=True)
    text = stream.getvalue()
    assert "Traceback (most recent call last)" in text and "ValueError: No such kernel" in text
    assert github_token not in text
    assert text.count(f"ghp_…{github_token[-3:]}") == 2


def test_a_stack_and_an_event_are_masked(
    masking: tuple[MaskedLog, io.StringIO], github_token: str
) -> None:
    _, stream = masking
    log = logging.getLogger("qsecure-test.library.child")
    stack = f'Stack (most recent call last):\n  File "x.py", line 1\n    start("{github_token}")'
    log.handle(log.makeRecord(log.name, logging.DEBUG, "x.py", 1, "where", (), None, sinfo=stack))
    event = {"kernel_name": github_token, "nested": [{"path": f"a/{github_token}"}], "n": 1}
    log.info(event)
    text = stream.getvalue()
    assert "Stack (most recent call last)" in text and "'n': 1" in text
    assert github_token not in text
    assert event["kernel_name"] == github_token  # the caller's dict is left as it was


def test_a_library_logger_and_a_record_built_by_hand_are_masked(
    masking: tuple[MaskedLog, io.StringIO], github_token: str
) -> None:
    log_filter, stream = masking
    logging.getLogger("qsecure-test.library.child").warning("named %s", github_token)
    assert stream.getvalue() == f"qsecure-test.library.child named ghp_…{github_token[-3:]}\n"
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "%s", (github_token,), None)
    assert log_filter.filter(record) and github_token not in record.getMessage()


def test_a_call_whose_arguments_do_not_fit_its_format_is_reported_masked(
    masking: tuple[MaskedLog, io.StringIO],
    github_token: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A handler reports such a call on stderr with its format and arguments as they are.
    monkeypatch.setattr(logging, "raiseExceptions", True)
    log = logging.getLogger("qsecure-test.library.child")
    handler = logging.StreamHandler(io.StringIO())
    for message, args in (
        ("value %d", (github_token,)),
        ("value %s and %s", (github_token,)),
        (f"value {github_token} %s and %s", (1,)),
    ):
        handler.handle(log.makeRecord(log.name, logging.INFO, "x.py", 1, message, args, None))
    reported = capsys.readouterr().err
    assert reported.count("--- Logging error ---") == 3
    assert github_token not in reported and f"ghp_…{github_token[-3:]}" in reported


def test_the_login_token_is_kept_and_nothing_else(
    masking: tuple[MaskedLog, io.StringIO], github_token: str
) -> None:
    log_filter, _ = masking
    line = f"http://127.0.0.1:8888/lab?token=kept-login-token {github_token}"
    record = logging.LogRecord("x", logging.INFO, __file__, 1, line, None, None)
    log_filter.filter(record)
    assert record.getMessage() == (
        f"http://127.0.0.1:8888/lab?token=kept-login-token ghp_…{github_token[-3:]}"
    )


def test_the_factory_is_given_back_when_no_server_masks() -> None:
    before = logging.getLogRecordFactory()
    log_filter = MaskedLog(lambda text: text)
    mask_every_record(log_filter)
    assert logging.getLogRecordFactory() is not before
    stop_masking(log_filter)
    assert logging.getLogRecordFactory() is before


# --- The guard's masking of a log line ------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        f"wJalrXUtnFEMI/K7MDENG/{secrets.token_hex(9)}",  # an AWS secret key's shape
        f'lab/{secrets.token_hex(12)}+é "q\\ {secrets.token_hex(4)}',
    ],
)
def test_the_guard_masks_an_injected_value_holding_a_slash(tmp_path: Path, value: str) -> None:
    # The guard read a log line as a path, name by name: a value with a '/' was in none
    # of them, and every line naming it (a kernel name, a file name, a 500's traceback)
    # spelled it.
    guard = SaveGuard(
        GuardPolicy(),
        tmp_path,
        BypassStore(tmp_path / "bypasses.json"),
        injected=lambda: (1, {value: "LAB_TOKEN"}),
    )
    for line in (
        f"No such kernel named {value}",
        f"Error while saving file: {value}.txt [Errno 2] No such file: '/srv/{value}.txt'",
        f"404 GET /api/contents/{quote(value)}.txt (user@127.0.0.1) 1.00ms",
        f"payload {json.dumps({'k': value})}",
    ):
        masked = guard.masked(line)
        assert "[secret:LAB_TOKEN]" in masked, masked
        assert spelled(masked, {"value": value}) == [], masked


# --- The sweep, through a real server --------------------------------------------------


@pytest.fixture
def granted_secret(
    provenance_policy: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> str:
    """``LAB_TOKEN`` granted to every notebook, a value holding characters every encoding
    writes differently (``/ + " \\`` a space, a non-ASCII letter); the guard scans at most
    :data:`MAX_BYTES`."""
    value = f'lab/{secrets.token_hex(12)}+é "q\\ {secrets.token_hex(4)}'
    monkeypatch.setenv("LAB_TOKEN_SOURCE", value)
    provenance_policy(f"{LAB_TOKEN_GRANT}\n[guard]\nmax_bytes = {MAX_BYTES}\n")
    return value


@pytest.fixture
def whole_log(jp_serverapp: Any, qsecure_app: Any) -> Iterator[Callable[[], str]]:
    """Every line any logger of this process writes during the test, every logger at
    DEBUG, formatted as a handler would (tracebacks and stacks included)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    loggers = [root, jp_serverapp.log, qsecure_app.log]
    loggers += [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    loggers = list({id(lg): lg for lg in loggers}.values())
    levels = [lg.level for lg in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        if logger is root or not logger.propagate:
            logger.addHandler(handler)
    yield stream.getvalue
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)
        logger.removeHandler(handler)


async def test_a_credential_shaped_kernel_name_is_masked_in_its_500_and_traceback(
    jp_fetch: Any, github_token: str, whole_log: Callable[[], str]
) -> None:
    # jupyter_server answers a kernel name it does not know with a 500; jupyter_client
    # and the kernel manager log the name, with the traceback, outside any filter.
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("api", "kernels", method="POST", body=json.dumps({"name": github_token}))
    assert caught.value.code == 500
    text = whole_log()
    assert "Traceback" in text and f"No such kernel named ghp_…{github_token[-3:]}" in text
    assert spelled(text, {"token": github_token}) == []


async def answered(request: Any) -> int:
    """The status a request got, an error's included."""
    try:
        return int((await request).code)
    except HTTPClientError as error:
        return int(error.code)


def requests(fetch: Any, value: str) -> dict[str, Any]:
    """A request of each route with ``value`` in one field, by a label."""
    text = {"type": "file", "format": "text", "content": "x"}
    leaking = {"type": "notebook", "content": notebook(code(f"t = '{value}'"))}
    big = {"type": "file", "format": "text", "content": "a" * MAX_BYTES + value}
    chunk = {
        "type": "file",
        "format": "base64",
        "chunk": 1,
        "content": base64.b64encode(value.encode() * (MAX_BYTES // 10)).decode(),
    }
    sign = {"path": value, "role": value, "principal": value}
    refresh = {"Authorization": f"qsecure-capability {value}", "X-QSecure-Kernel-Id": value}
    headers = {
        "User-Agent": value,
        "Referer": value,
        "X-Forwarded-For": value,
        "Cookie": f"a={quote(value)}",
    }
    session = {
        "path": f"{value}.ipynb",
        "type": "notebook",
        "name": value,
        "kernel": {"name": value},
    }
    dumps = json.dumps
    return {
        "contents path": fetch("api", "contents", f"{value}.ipynb"),
        "contents file name": fetch(
            "api", "contents", f"{value}.txt", method="PUT", body=dumps(text)
        ),
        "contents body": fetch("api", "contents", "r.ipynb", method="PUT", body=dumps(leaking)),
        "contents too large": fetch("api", "contents", "big.txt", method="PUT", body=dumps(big)),
        "contents chunk": fetch("api", "contents", "up.bin", method="PUT", body=dumps(chunk)),
        "contents bad JSON": fetch("api", "contents", "r2.ipynb", method="PUT", body="{" + value),
        "contents rename": fetch(
            "api", "contents", "n.ipynb", method="PATCH", body=dumps({"path": f"{value}/x.ipynb"})
        ),
        "contents copy": fetch(
            "api", "contents", "", method="POST", body=dumps({"copy_from": value})
        ),
        "files": fetch("files", f"{value}.txt"),
        "kernel name": fetch("api", "kernels", method="POST", body=dumps({"name": value})),
        "kernel id": fetch("api", "kernels", value),
        "session": fetch("api", "sessions", method="POST", body=dumps(session)),
        "session bad JSON": fetch("api", "sessions", method="POST", body="[" + value),
        "events": fetch(
            "api",
            "events",
            method="POST",
            body=dumps({"schema_id": value, "version": 1, "data": {}}),
        ),
        "status query": fetch("qsecure", "status", params={"x": value}),
        "headers": fetch("qsecure", "status", headers=headers),
        "login token": fetch("qsecure", "status", headers={"Authorization": f"token {value}"}),
        "bypass": fetch(
            "qsecure",
            "bypass",
            method="POST",
            body=dumps({"fingerprint": value, "reason": value, "path": value}),
        ),
        "bypass undo": fetch("qsecure", "bypass", method="DELETE", params={"id": value}),
        "bypass bad JSON": fetch("qsecure", "bypass", method="POST", body="{" + value),
        "scan": fetch(
            "qsecure", "scan", method="POST", body=dumps({"path": value, "model": leaking})
        ),
        "scan too large": fetch(
            "qsecure", "scan", method="POST", body=dumps({"path": "b.txt", "model": big})
        ),
        "secrets query": fetch("qsecure", "secrets", params={"path": value}),
        "secret value": fetch(
            "qsecure", "secrets", "NEW_ONE", method="PUT", body=dumps({"value": value})
        ),
        "secret bad JSON": fetch(
            "qsecure", "secrets", "NEW_ONE", method="PUT", body='{"value": "' + value
        ),
        "grant": fetch(
            "qsecure", "grants", "LAB_TOKEN", method="PUT", body=dumps({"notebook": value})
        ),
        "kernel refresh": fetch(
            "qsecure", "kernel", "refresh", method="POST", body=dumps({"x": value}), headers=refresh
        ),
        "signature": fetch("qsecure", "signature", params={"path": value}),
        "sign": fetch("qsecure", "sign", method="POST", body=dumps(sign)),
        "signing setup": fetch("qsecure", "signing", "setup", params={"path": value}),
        "provenance": fetch("qsecure", "provenance", params={"path": value}),
        "provenance post": fetch(
            "qsecure", "provenance", method="POST", body=dumps({"path": value})
        ),
        "checkpoint": fetch("qsecure", "provenance", "checkpoint", method="POST", body=dumps(sign)),
        "audit": fetch("qsecure", "audit", params={"since": value}),
    }


PRINTS_AND_RAISES = """\
import logging, os, sys
v = os.environ["LAB_TOKEN"]
print(v, {token!r}); sys.stderr.write(v + "\\n"); logging.getLogger().warning(v)
os.system("echo " + {token!r})
raise ValueError(v + " " + {token!r})
"""


async def websocket(ws_fetch: Any, parts: tuple[str, ...], value: str) -> None:
    """Open a websocket with ``value`` in its query and Origin (refused or not), close it."""
    try:
        socket = await ws_fetch(*parts, params={"session_id": value}, headers={"Origin": value})
    except Exception:  # a refusal is what the server logs about; any will do
        return
    socket.close()


async def refused_then_bypassed(fetch: Any, token: str) -> None:
    """A save holding ``token`` refused, its finding accepted, the save made."""
    body = json.dumps({"type": "notebook", "content": notebook(code(f"t = '{token}'"))})
    with pytest.raises(HTTPClientError) as caught:
        await fetch("api", "contents", "b.ipynb", method="PUT", body=body)
    assert caught.value.code == 422 and caught.value.response is not None
    fingerprint = json.loads(caught.value.response.body)["findings"][0]["fingerprint"]
    bypass = {"fingerprint": fingerprint, "reason": "test_credential", "path": "b.ipynb"}
    await fetch("qsecure", "bypass", method="POST", body=json.dumps(bypass))
    assert (await fetch("api", "contents", "b.ipynb", method="PUT", body=body)).code == 201


async def test_no_value_in_any_form_in_any_log_line(
    granted_secret: str,
    jp_fetch: Any,
    jp_ws_fetch: Any,
    jp_serverapp: Any,
    jp_root_dir: Path,
    github_token: str,
    whole_log: Callable[[], str],
) -> None:
    values = {"secret": granted_secret, "token": github_token}
    (jp_root_dir / "n.ipynb").write_text(json.dumps(notebook(code("x = 1"))))
    session = await start_session(jp_fetch, jp_serverapp, "n.ipynb")
    kernel = session.kernel_id
    statuses: dict[tuple[str, str], int] = {}
    try:
        for label, value in values.items():
            for name, request in requests(jp_fetch, value).items():
                statuses[label, name] = await answered(request)
            for parts in (("api", "events", "subscribe"), ("api", "kernels", kernel, "channels")):
                await websocket(jp_ws_fetch, parts, value)
        # The secret sent already encoded (the guard knows each form of an injected value;
        # a token's base64 or hex is not read as a token, by the guard or here).
        for written in written_forms(granted_secret).values():
            await answered(jp_fetch("api", "contents", f"{written}.txt"))
            await answered(
                jp_fetch("api", "kernels", method="POST", body=json.dumps({"name": written}))
            )
        await session.client.execute_interactive(
            PRINTS_AND_RAISES.format(token=github_token), timeout=60
        )
        await refused_then_bypassed(jp_fetch, github_token)
    finally:
        session.client.stop_channels()
        await answered(jp_fetch("api", "sessions", session.session_id, method="DELETE"))
    await asyncio.sleep(0.5)  # the kernel's last output reaches the server's log
    text = whole_log()
    # The sweep reached the places that log: a kernel name's 500 (with its traceback),
    # refusals, the access log of every request.
    assert statuses["token", "kernel name"] == 500 and "Traceback" in text
    assert statuses["token", "contents file name"] == 422
    assert len(text.splitlines()) > 200, text[-2000:]
    assert spelled(text, values) == []
