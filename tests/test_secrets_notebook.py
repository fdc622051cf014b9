"""Grants follow the notebook the server's session is for, and nothing a client or the
server's environment says instead."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kernel_client import open_session
from test_secrets_server import outputs_text, run_cell

NAME = "EXPERIMENT_TOKEN"
PROBE = f"import os; print('has', {NAME!r} in os.environ)"


@pytest.fixture
def granted(policy: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch) -> str:
    """``EXPERIMENT_TOKEN`` granted to experiments/ notebooks only."""
    value = f"exp-{secrets.token_hex(12)}"
    monkeypatch.setenv("EXPERIMENT_TOKEN_SOURCE", value)
    policy(
        f'[secrets.{NAME}]\nsource = "env://EXPERIMENT_TOKEN_SOURCE"\n'
        'notebooks = ["experiments/**/*.ipynb"]\n'
    )
    return value


async def _has_secret(jp_fetch: Any, jp_serverapp: Any, path: str, name: str | None) -> bool:
    session = await open_session(jp_fetch, path, name=name)
    messages, _ = await run_cell(jp_serverapp, session["kernel"]["id"], PROBE)
    text = outputs_text(messages)
    assert "has " in text, text
    return "has True" in text


async def test_the_session_path_decides_as_the_panel_does(
    granted: str, jp_fetch: Any, jp_serverapp: Any
) -> None:
    # JupyterLab names a session by its file's name: the path decides.
    assert await _has_secret(jp_fetch, jp_serverapp, "experiments/run.ipynb", None)
    # A name pointing elsewhere does not borrow that notebook's grants.
    assert not await _has_secret(
        jp_fetch, jp_serverapp, "scratch/other.ipynb", "../experiments/run.ipynb"
    )
    response = await jp_fetch("qsecure", "secrets", params={"path": "scratch/other.ipynb"})
    assert not json.loads(response.body)["secrets"][0]["granted"]


async def test_qsecure_notebook_in_the_server_environment_is_ignored(
    granted: str, monkeypatch: pytest.MonkeyPatch, jp_fetch: Any, jp_serverapp: Any
) -> None:
    monkeypatch.setenv("QSECURE_NOTEBOOK", "experiments/run.ipynb")
    assert not await _has_secret(jp_fetch, jp_serverapp, "scratch/other.ipynb", None)
