"""Write paths an adversary with a browser session (or a careless researcher) tries next,
through a real server: what the server writes is what the guard scanned, a refusal keeps
what was on disk, and its answer never spells the value."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError


def holding(root: Path, value: str) -> list[str]:
    """The files under ``root`` whose bytes hold ``value``."""
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and value.encode() in p.read_bytes()
    )


async def refused(coroutine: Any, value: str, status: int = 422) -> dict[str, Any]:
    """The JSON body of a refused request, which never spells ``value``."""
    with pytest.raises(HTTPClientError) as caught:
        await coroutine
    assert caught.value.code == status
    assert caught.value.response is not None
    body = caught.value.response.body.decode()
    assert value not in body
    return dict(json.loads(body))


# Checkpoints: what a checkpoint keeps is the file's bytes ---------------------------------


def _repeated_key(token: str) -> str:
    # json.loads keeps the last of a repeated key: the parsed notebook has empty metadata,
    # the bytes on disk (and a copy of them) the credential.
    hidden = json.dumps({"note": f"token = '{token}'"})
    return (
        '{"cells": [], "metadata": ' + hidden + ', "metadata": {}, '
        '"nbformat": 4, "nbformat_minor": 5}'
    )


def _nbformat3(token: str) -> str:
    # nbformat's upgrade to version 4 drops a worksheet's metadata.
    worksheet = {"cells": [], "metadata": {"note": f"token = '{token}'"}}
    return json.dumps(
        {"nbformat": 3, "nbformat_minor": 0, "metadata": {"name": ""}, "worksheets": [worksheet]}
    )


@pytest.mark.parametrize("written", [_repeated_key, _nbformat3], ids=["repeated key", "nbformat 3"])
async def test_a_checkpoint_of_a_notebook_scans_the_bytes_it_copies(
    jp_fetch: Any, jp_root_dir: Path, github_token: str, audit_events: Any, written: Any
) -> None:
    """The contents manager reads a notebook parsed (a repeated key once, nbformat 3
    upgraded), and the checkpoint copies its bytes: what the parse drops must not reach
    the checkpoint unscanned."""
    (jp_root_dir / "pulled.ipynb").write_text(written(github_token))
    body = await refused(
        jp_fetch("api", "contents", "pulled.ipynb", "checkpoints", method="POST", body=""),
        github_token,
    )
    assert body["reason"] == "qsecure-leak"
    assert body["message"].startswith("Checkpoint refused:")
    assert holding(jp_root_dir, github_token) == ["pulled.ipynb"]
    events = [e for e in audit_events() if e["__schema__"].endswith("save-blocked/v1")]
    assert events and events[-1]["write"] == "checkpoint"


async def test_a_checkpoint_of_a_clean_notebook_is_made(jp_fetch: Any, jp_root_dir: Path) -> None:
    notebook = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (jp_root_dir / "clean.ipynb").write_text(json.dumps(notebook))
    created = await jp_fetch(
        "api", "contents", "clean.ipynb", "checkpoints", method="POST", body=""
    )
    assert created.code == 201
    assert (jp_root_dir / ".ipynb_checkpoints" / "clean-checkpoint.ipynb").exists()
