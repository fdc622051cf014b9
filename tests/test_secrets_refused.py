"""A kernel start refused for a missing secret: a clear answer and a clean log."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

NAME = "ABSENT_TOKEN"


@pytest.fixture
def refusing_policy(keyring_env: dict[str, str], policy: Callable[[str], Path]) -> None:
    policy(
        f'[secrets.{NAME}]\nsource = "keyring://qsecure/absent"\nnotebooks = ["**/*.ipynb"]\n\n'
        '[injection]\non_error = "refuse"\n'
    )


async def test_refused_start_says_why(
    refusing_policy: None, jp_fetch: Any, server_log: Any
) -> None:
    from kernel_client import open_session

    with pytest.raises(HTTPClientError) as caught:
        await open_session(jp_fetch, "x.ipynb")
    assert caught.value.code == 503  # not jupyter_server's 500 without a reason
    body = json.loads(caught.value.response.body)
    assert body["reason"] == "qsecure-secrets-unavailable"
    assert "kernel start refused by jupyter-qsecure" in body["message"]
    assert f"jupyter qsecure secrets set {NAME}" in body["message"]
    log = server_log()
    assert f"{NAME} not injected (not-found)" in log
    assert "Traceback" not in log
