"""Malformed bodies on every route that reads one: a 400 JSON ``{reason, message}``,
never a 500, never logged, nothing written."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

ROUTES = [
    ("PUT", "api/contents/a.ipynb"),
    ("PUT", "api/contents/a.txt"),
    ("POST", "api/contents"),
    ("PATCH", "api/contents/exists.txt"),
    ("POST", "qsecure/scan"),
    ("POST", "qsecure/bypass"),
    ("POST", "qsecure/sign"),
    ("POST", "qsecure/signature"),
    ("POST", "qsecure/provenance"),
    ("PUT", "qsecure/secrets/MY_TOKEN"),
    ("PUT", "qsecure/grants/MY_TOKEN"),
]
BODIES = {
    "array": "[1, 2]",
    "array of models": json.dumps([{"type": "file", "format": "text", "content": "x"}]),
    "string": '"text"',
    "number": "42",
    "null": "null",
    "true": "true",
    "not JSON": "{'single': quotes}",
    "truncated": '{"type": "file", "content": "',
    "not UTF-8": b'{"content": "\xff\xfe"}',
    "deep": "[" * 5000 + "]" * 5000,
}


@pytest.mark.parametrize(("method", "url"), ROUTES, ids=[f"{m} {u}" for m, u in ROUTES])
@pytest.mark.parametrize("kind", list(BODIES))
async def test_a_malformed_body_is_a_json_400(
    jp_fetch: Any, jp_root_dir: Path, keyring_env: Any, method: str, url: str, kind: str
) -> None:
    (jp_root_dir / "exists.txt").write_text("x\n")
    before = sorted(p.name for p in jp_root_dir.iterdir())
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch(*url.split("/"), method=method, body=BODIES[kind])
    assert caught.value.code == 400, caught.value.response.body if caught.value.response else None
    assert caught.value.response is not None
    body = json.loads(caught.value.response.body)
    assert isinstance(body["reason"], str) and body["reason"]
    assert isinstance(body["message"], str) and body["message"]
    assert sorted(p.name for p in jp_root_dir.iterdir()) == before


#: A request whose field holds a credential where another kind of value belongs.
MISPLACED: dict[str, tuple[str, str, Callable[[str], dict[str, Any]]]] = {
    "upload chunk": (
        "PUT",
        "api/contents/a.txt",
        lambda t: {"type": "file", "format": "base64", "chunk": t, "content": "eA=="},
    ),
    "bypass reason": (
        "POST",
        "qsecure/bypass",
        lambda t: {"fingerprint": "0" * 32, "reason": t, "path": "a.ipynb"},
    ),
    "notebook format": (
        "POST",
        "qsecure/signature",
        lambda t: {"path": "a.ipynb", "notebook": {"nbformat": t, "cells": []}},
    ),
}


@pytest.mark.parametrize("case", list(MISPLACED))
async def test_a_refusal_never_echoes_the_value_it_refuses(
    jp_fetch: Any, github_token: str, server_log: Any, case: str
) -> None:
    """A credential pasted into the wrong field is refused without being sent back (the
    answer is shown, and may be kept, by whatever made the request) or logged."""
    method, url, body = MISPLACED[case]
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch(*url.split("/"), method=method, body=json.dumps(body(github_token)))
    assert caught.value.code in (400, 422) and caught.value.response is not None
    answer = json.loads(caught.value.response.body)
    assert answer["message"] and github_token not in json.dumps(answer)
    assert github_token[4:] not in caught.value.response.body.decode()
    assert github_token not in server_log()
