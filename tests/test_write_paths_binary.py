"""A credential inside a binary file, through a real server: a pickle, an SQLite database,
a PNG's text chunk. The bytes hold it as plain text (``strings`` shows it), so an upload,
a copy or a checkpoint of such a file is refused like a text file holding it; binary data
without one (images, random bytes) is saved as before."""

from __future__ import annotations

import base64
import json
import pickle
import random
import secrets
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_qsecure.guard import GuardPolicy
from jupyter_qsecure.guard.allowlist import BypassStore
from jupyter_qsecure.guard.save_guard import SaveBlocked, SaveGuard


def _pickle(token: str, tmp: Path) -> bytes:
    session = {"headers": {"Authorization": f"token {token}"}, "retries": list(range(300))}
    return pickle.dumps(session, protocol=4)


def _sqlite(token: str, tmp: Path) -> bytes:
    db = tmp / "cache.db"
    with sqlite3.connect(db) as connection:
        connection.execute("create table auth (service text, token text)")
        connection.execute("insert into auth values ('github', ?)", (token,))
    connection.close()
    return db.read_bytes()


def _png_text_chunk(token: str, tmp: Path) -> bytes:
    noise = random.Random(1).randbytes(2000)
    return b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + noise + b"tEXtComment\x00" + token.encode()


FILES: dict[str, Callable[[str, Path], bytes]] = {
    "session.pkl": _pickle,
    "cache.db": _sqlite,
    "plot.png": _png_text_chunk,
}


def _upload(name: str, raw: bytes) -> str:
    return json.dumps(
        {"type": "file", "format": "base64", "content": base64.b64encode(raw).decode()}
    )


async def _refused(coroutine: Any) -> dict[str, Any]:
    with pytest.raises(HTTPClientError) as caught:
        await coroutine
    assert caught.value.code == 422 and caught.value.response is not None
    body: dict[str, Any] = json.loads(caught.value.response.body)
    assert body["reason"] == "qsecure-leak"
    return body


@pytest.mark.parametrize("name", list(FILES))
async def test_a_binary_file_holding_a_token_is_refused(
    jp_fetch: Any, jp_root_dir: Path, tmp_path: Path, github_token: str, name: str
) -> None:
    raw = FILES[name](github_token, tmp_path)
    assert b"\x00" in raw[:8192]  # binary, as git decides
    body = await _refused(jp_fetch("api", "contents", name, method="PUT", body=_upload(name, raw)))
    [finding] = body["findings"]
    assert finding["kind"] == "GitHub token" and finding["field"] == "binary"
    assert "in its binary content" in body["message"]
    assert github_token not in json.dumps(body)
    assert not (jp_root_dir / name).exists()
    # written outside the server: a copy and a checkpoint are refused too
    (jp_root_dir / "outside").mkdir()
    (jp_root_dir / "outside" / name).write_bytes(raw)
    copy = json.dumps({"copy_from": f"outside/{name}"})
    await _refused(jp_fetch("api", "contents", "", method="POST", body=copy))
    await _refused(
        jp_fetch("api", "contents", "outside", name, "checkpoints", method="POST", body="")
    )


async def test_binary_files_without_a_credential_are_saved(
    jp_fetch: Any, jp_root_dir: Path
) -> None:
    rng = random.Random(7)
    for index in range(20):
        raw = b"\x89PNG\r\n\x1a\n\x00" + rng.randbytes(200_000)
        response = await jp_fetch(
            "api", "contents", f"img{index}.png", method="PUT", body=_upload("x", raw)
        )
        assert response.code == 201
    raw = pickle.dumps({"rows": [(i, f"name-{i}", i * 0.5) for i in range(2000)]}, protocol=4)
    response = await jp_fetch("api", "contents", "rows.pkl", method="PUT", body=_upload("x", raw))
    assert response.code == 201


VALUE = f"lab-{secrets.token_hex(16)}"


def test_an_injected_value_in_a_binary_file_is_refused(tmp_path: Path) -> None:
    """The live value of a secret, which no rule knows, pickled with the object holding it."""
    guard = SaveGuard(
        GuardPolicy(),
        tmp_path,
        BypassStore(tmp_path / "bypasses.json"),
        injected=lambda: (1, {VALUE: "LAB_TOKEN"}),
    )
    raw = pickle.dumps({"api_key": VALUE, "data": list(range(300))}, protocol=4)
    model = {"type": "file", "format": "base64", "content": base64.b64encode(raw).decode()}
    with pytest.raises(SaveBlocked) as caught:
        guard.check(model, "client.pkl")
    assert [f.preview for f in caught.value.findings] == ["[secret:LAB_TOKEN]"]


async def test_binary_content_sent_as_text_is_read_as_binary(
    jp_fetch: Any, jp_root_dir: Path, github_token: str
) -> None:
    """NUL bytes are valid UTF-8: binary data can be sent (and read back) as text."""
    content = "\x00\x01\x02record\x00github" + github_token + "\x00" * 20
    model = json.dumps({"type": "file", "format": "text", "content": content})
    body = await _refused(jp_fetch("api", "contents", "blob.bin", method="PUT", body=model))
    assert body["findings"][0]["kind"] == "GitHub token"
    assert not (jp_root_dir / "blob.bin").exists()
