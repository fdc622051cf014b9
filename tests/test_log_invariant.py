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

import base64
import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_qsecure.guard.logs import MaskedLog, mask_every_record, stop_masking

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


# --- Through a real server ----------------------------------------------------------


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
