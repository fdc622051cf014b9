"""The guard on a real Jupyter server: every write path, nothing lost, JSON errors."""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path
from typing import Any

import pytest
from conftest import code, markdown, notebook
from tornado.httpclient import HTTPClientError


async def put(jp_fetch: Any, path: str, model: dict[str, Any]) -> Any:
    return await jp_fetch("api", "contents", path, method="PUT", body=json.dumps(model))


def notebook_model(nb: dict[str, Any]) -> dict[str, Any]:
    return {"type": "notebook", "format": "json", "content": nb}


async def refused(coroutine: Any) -> dict[str, Any]:
    """Await a request that must be refused by the guard; return its JSON body."""
    with pytest.raises(HTTPClientError) as caught:
        await coroutine
    assert caught.value.code == 422
    assert caught.value.response is not None
    return json.loads(caught.value.response.body)


async def test_extension_is_loaded(jp_serverapp: Any, qsecure_app: Any) -> None:
    extension = jp_serverapp.extension_manager.extensions["jupyter_qsecure"]
    assert extension.enabled
    assert qsecure_app.save_guard.pre_save_hook in jp_serverapp.contents_manager._pre_save_hooks


async def test_notebook_with_token_is_refused_and_file_kept(
    jp_fetch: Any, jp_root_dir: Path, github_token: str, audit_events: Any
) -> None:
    clean = notebook(markdown("# Calibration"), code("import qiskit"))
    await put(jp_fetch, "run.ipynb", notebook_model(clean))
    before = (jp_root_dir / "run.ipynb").read_bytes()

    leaky = notebook(markdown("# Calibration"), code(f'import qiskit\ntoken = "{github_token}"'))
    body = await refused(put(jp_fetch, "run.ipynb", notebook_model(leaky)))

    assert (jp_root_dir / "run.ipynb").read_bytes() == before
    assert body["reason"] == "qsecure-leak"
    assert body["path"] == "run.ipynb"
    [finding] = body["findings"]
    assert finding["kind"] == "GitHub token"
    assert finding["cell_index"] == 1 and finding["cell_id"] == "cell-1"
    assert finding["field"] == "source" and finding["line"] == 2
    assert finding["preview"] == f"ghp_…{github_token[-3:]}"
    assert body["message"].startswith(
        f"Save blocked: GitHub token in cell 2, line 2 (ghp_…{github_token[-3:]})."
    )
    assert "Nothing was written" in body["message"]
    assert github_token not in json.dumps(body)
    [event] = [e for e in audit_events() if e["__schema__"].endswith("save-blocked/v1")]
    assert event["outcome"] == "blocked" and event["path"] == "run.ipynb"
    assert event["findings"][0]["fingerprint"] == finding["fingerprint"]
    assert github_token not in json.dumps(event)


async def test_list_form_source_and_outputs_are_guarded(
    jp_fetch: Any, jp_root_dir: Path, github_token: str
) -> None:
    stream = {"output_type": "stream", "name": "stdout", "text": ["using\n", f"{github_token}\n"]}
    nb = notebook(code(["x = 1\n", "print(x)"], [stream]))
    body = await refused(put(jp_fetch, "out.ipynb", notebook_model(nb)))
    assert body["findings"][0]["field"] == "outputs[0].stdout"
    assert body["findings"][0]["line"] == 2
    assert not (jp_root_dir / "out.ipynb").exists()


async def test_text_file_new_and_existing(
    jp_fetch: Any, jp_root_dir: Path, github_token: str
) -> None:
    (jp_root_dir / "settings.py").write_text("DEBUG = True\n")
    model = {
        "type": "file",
        "format": "text",
        "content": f"DEBUG = True\nGITHUB = '{github_token}'\n",
    }
    body = await refused(put(jp_fetch, "settings.py", model))
    assert body["findings"][0]["line"] == 2
    assert (jp_root_dir / "settings.py").read_text() == "DEBUG = True\n"
    await refused(put(jp_fetch, "new.py", model))
    assert not (jp_root_dir / "new.py").exists()


async def test_base64_upload_of_non_utf8_file(
    jp_fetch: Any, jp_root_dir: Path, github_token: str
) -> None:
    raw = "café = 1\n".encode("latin-1") + f"token={github_token}\n".encode()
    model = {"type": "file", "format": "base64", "content": base64.b64encode(raw).decode()}
    body = await refused(put(jp_fetch, "notes.txt", model))
    assert body["findings"][0]["kind"] == "GitHub token"
    assert not (jp_root_dir / "notes.txt").exists()


async def test_binary_upload_passes(jp_fetch: Any, jp_root_dir: Path) -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
    model = {"type": "file", "format": "base64", "content": base64.b64encode(png).decode()}
    await put(jp_fetch, "plot.png", model)
    assert (jp_root_dir / "plot.png").read_bytes() == png


async def _chunked_upload(jp_fetch: Any, path: str, raw: bytes, chunk_size: int) -> Any:
    pieces = [raw[i : i + chunk_size] for i in range(0, len(raw), chunk_size)]
    response = None
    for number, piece in enumerate(pieces, start=1):
        chunk = -1 if number == len(pieces) else number
        model = {
            "type": "file",
            "format": "base64",
            "chunk": chunk,
            "content": base64.b64encode(piece).decode(),
        }
        response = await put(jp_fetch, path, model)
    return response


async def test_chunked_upload_with_token_across_chunks_leaves_old_file(
    jp_fetch: Any, jp_root_dir: Path, github_token: str
) -> None:
    (jp_root_dir / "data.csv").write_text("a,b\n1,2\n")
    raw = b"x,y\n" * 200 + f"token,{github_token}\n".encode() + b"3,4\n" * 200
    boundary = raw.index(github_token.encode()) + 10  # the token straddles two chunks
    with pytest.raises(HTTPClientError) as caught:
        await _chunked_upload(jp_fetch, "data.csv", raw, boundary)
    assert caught.value.code == 422
    assert json.loads(caught.value.response.body)["reason"] == "qsecure-leak"
    assert (jp_root_dir / "data.csv").read_text() == "a,b\n1,2\n"


async def test_clean_chunked_upload_is_written_whole(jp_fetch: Any, jp_root_dir: Path) -> None:
    raw = bytes(random.Random(1).getrandbits(8) for _ in range(3000)) + b"\x00"
    response = await _chunked_upload(jp_fetch, "blob.bin", raw, 1000)
    assert response.code == 201
    assert (jp_root_dir / "blob.bin").read_bytes() == raw


async def test_copy_of_file_written_outside_the_server_is_refused(
    jp_fetch: Any, jp_root_dir: Path, github_token: str
) -> None:
    (jp_root_dir / "src").mkdir()
    (jp_root_dir / "src" / "keys.env").write_text(f"GH_TOKEN={github_token}\n")
    await refused(
        jp_fetch(
            "api", "contents", "", method="POST", body=json.dumps({"copy_from": "src/keys.env"})
        )
    )
    assert sorted(p.name for p in jp_root_dir.iterdir()) == ["src"]
    await refused(
        jp_fetch("api", "contents", "", method="POST", body=json.dumps({"copy_from": "src"}))
    )
    assert sorted(p.name for p in jp_root_dir.iterdir()) == ["src"]


async def test_a_refused_file_copy_keeps_its_answer_and_its_source(
    jp_fetch: Any, jp_root_dir: Path, github_token: str, audit_events: Any
) -> None:
    """A copy of a file holding a credential is refused as a save of the copy would be:
    the same JSON (the copy's path, the findings), one audit event, nothing written and
    the source as it was."""
    (jp_root_dir / "src").mkdir()
    source = jp_root_dir / "src" / "keys.env"
    source.write_text(f"GH_TOKEN={github_token}\n")
    body = await refused(
        jp_fetch(
            "api", "contents", "src", method="POST", body=json.dumps({"copy_from": "src/keys.env"})
        )
    )
    assert body["reason"] == "qsecure-leak" and body["path"] == "src/keys-Copy1.env"
    [finding] = body["findings"]
    assert (finding["kind"], finding["field"], finding["line"]) == ("GitHub token", "text", 1)
    assert body["message"].startswith(
        f"Save blocked: GitHub token in line 1 (ghp_…{github_token[-3:]})."
    )
    assert github_token not in json.dumps(body)
    [event] = [e for e in audit_events() if e["__schema__"].endswith("save-blocked/v1")]
    assert (event["path"], event["outcome"]) == ("src/keys-Copy1.env", "blocked")
    assert sorted(p.name for p in source.parent.iterdir()) == ["keys.env"]
    assert source.read_text() == f"GH_TOKEN={github_token}\n"


async def test_a_file_copy_is_scanned_off_the_event_loop(
    jp_fetch: Any, jp_root_dir: Path, qsecure_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a large copy is being scanned, the server answers other requests: the scan,
    held on an event here, is released only after a request made meanwhile was answered
    (were it on the event loop, nothing would be answered until it gave up waiting)."""
    import asyncio
    import threading

    (jp_root_dir / "big.csv").write_bytes(b"x,y\n" + b"1,2\n" * 250_000)
    guard = qsecure_app.save_guard
    check = guard.check
    scanning, release = threading.Event(), threading.Event()
    released: list[bool] = []

    def held_check(model: dict[str, Any], path: str, **kwargs: Any) -> None:
        if path == "big-Copy1.csv":
            scanning.set()
            released.append(release.wait(timeout=10))
        check(model, path, **kwargs)

    monkeypatch.setattr(guard, "check", held_check)
    copying = asyncio.ensure_future(
        jp_fetch("api", "contents", "", method="POST", body=json.dumps({"copy_from": "big.csv"}))
    )
    await asyncio.to_thread(scanning.wait, 30)
    status = await jp_fetch("api", "status")
    release.set()
    response = await copying
    assert status.code == 200 and response.code == 201
    assert released == [True]
    assert (jp_root_dir / "big-Copy1.csv").read_bytes() == (jp_root_dir / "big.csv").read_bytes()


async def test_clean_saves_still_work(jp_fetch: Any, jp_root_dir: Path) -> None:
    nb = notebook(code("import os\ntoken = os.environ['IBM_QUANTUM_TOKEN']"))
    response = await put(jp_fetch, "ok.ipynb", notebook_model(nb))
    assert response.code == 201
    assert "".join(
        json.loads((jp_root_dir / "ok.ipynb").read_text())["cells"][0]["source"]
    ).startswith("import os")
    response = await jp_fetch(
        "api", "contents", "", method="POST", body=json.dumps({"type": "notebook"})
    )
    assert response.code == 201
    response = await jp_fetch(
        "api", "contents", "", method="POST", body=json.dumps({"copy_from": "ok.ipynb"})
    )
    assert response.code == 201


async def test_pragma_allows_a_line(jp_fetch: Any, jp_root_dir: Path, github_token: str) -> None:
    nb = notebook(code(f'token = "{github_token}"  # pragma: allowlist secret'))
    assert (await put(jp_fetch, "p.ipynb", notebook_model(nb))).code == 201
    nb = notebook(code(f'# pragma: allowlist nextline secret\ntoken = "{github_token}"'))
    assert (await put(jp_fetch, "p.ipynb", notebook_model(nb))).code == 200


async def test_bypass_by_fingerprint_is_audited(
    jp_fetch: Any, jp_root_dir: Path, github_token: str, audit_events: Any
) -> None:
    nb = notebook(code(f'token = "{github_token}"'))
    body = await refused(put(jp_fetch, "b.ipynb", notebook_model(nb)))
    fingerprint = body["findings"][0]["fingerprint"]
    response = await jp_fetch(
        "qsecure",
        "bypass",
        method="POST",
        body=json.dumps(
            {"fingerprint": fingerprint, "reason": "test_credential", "path": "b.ipynb"}
        ),
    )
    assert response.code == 201
    assert (await put(jp_fetch, "b.ipynb", notebook_model(nb))).code == 201
    [event] = [e for e in audit_events() if e["__schema__"].endswith("save-bypassed/v1")]
    assert event["fingerprint"] == fingerprint and event["reason"] == "test_credential"
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch(
            "qsecure",
            "bypass",
            method="POST",
            body=json.dumps({"fingerprint": fingerprint, "reason": "because", "path": ""}),
        )
    assert caught.value.code == 400
    assert "false_positive" in json.loads(caught.value.response.body)["message"]


async def test_scan_endpoint_reports_without_saving(
    jp_fetch: Any, jp_root_dir: Path, github_token: str
) -> None:
    nb = notebook(code(f'token = "{github_token}"'))
    response = await jp_fetch(
        "qsecure",
        "scan",
        method="POST",
        body=json.dumps({"path": "s.ipynb", "model": notebook_model(nb)}),
    )
    findings = json.loads(response.body)["findings"]
    assert [f["kind"] for f in findings] == ["GitHub token"]
    assert github_token not in response.body.decode()
    assert not (jp_root_dir / "s.ipynb").exists()


@pytest.mark.parametrize(
    ("method", "parts", "body"),
    [
        ("POST", ("qsecure", "bypass"), "{}"),
        ("POST", ("qsecure", "scan"), "{}"),
        ("PUT", ("api", "contents", "x.txt"), '{"type": "file", "format": "text", "content": "x"}'),
        ("GET", ("api", "contents", ""), None),
    ],
)
async def test_every_handler_requires_authentication(
    jp_fetch: Any, jp_root_dir: Path, method: str, parts: tuple[str, ...], body: str | None
) -> None:
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch(*parts, method=method, body=body, headers={"Authorization": ""})
    assert caught.value.code == 403  # API routes answer 403 without a token (docs/jupyterhub.md)
    assert not (jp_root_dir / "x.txt").exists()


async def test_large_output_is_scanned(jp_fetch: Any, jp_root_dir: Path, github_token: str) -> None:
    big = "0.1234 0.5678 0.9012\n" * (50 * 1024 * 1024 // 21)
    stream = {"output_type": "stream", "name": "stdout", "text": big + github_token + "\n"}
    nb = notebook(code("print(data)", [stream]))
    body = await refused(put(jp_fetch, "big.ipynb", notebook_model(nb)))
    assert body["findings"][0]["line"] == big.count("\n") + 1
    assert not (jp_root_dir / "big.ipynb").exists()


async def test_deeply_nested_metadata_is_scanned(jp_fetch: Any, github_token: str) -> None:
    nested: dict[str, Any] = {"token": github_token}
    for _ in range(400):
        nested = {"level": nested}
    nb = notebook(code("x = 1"), metadata={"deep": nested})
    body = await refused(put(jp_fetch, "deep.ipynb", notebook_model(nb)))
    assert body["findings"][0]["cell_index"] is None
    assert body["findings"][0]["field"].startswith("metadata/deep/level")


def _nbformat3(token: str) -> dict[str, Any]:
    return {
        "nbformat": 3,
        "nbformat_minor": 0,
        "metadata": {"name": "old"},
        "worksheets": [
            {
                "cells": [
                    {
                        "cell_type": "code",
                        "input": f"key = '{token}'",
                        "language": "python",
                        "outputs": [],
                        "prompt_number": 1,
                    }
                ]
            }
        ],
    }


async def test_nbformat3_upload_is_scanned(
    jp_fetch: Any, jp_root_dir: Path, github_token: str
) -> None:
    model = {"type": "file", "format": "text", "content": json.dumps(_nbformat3(github_token))}
    body = await refused(put(jp_fetch, "old.ipynb", model))
    assert body["findings"][0]["field"] == "worksheets/0/cells/0/input"


async def test_scanner_crash_refuses_the_save(
    jp_fetch: Any, qsecure_app: Any, jp_root_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (jp_root_dir / "a.txt").write_text("before\n")
    guard = qsecure_app.save_guard

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(guard.scanner.engine, "scan", crash)
    with pytest.raises(HTTPClientError) as caught:
        await put(jp_fetch, "a.txt", {"type": "file", "format": "text", "content": "after\n"})
    body = json.loads(caught.value.response.body)
    assert caught.value.code == 422 and body["reason"] == "qsecure-scan-error"
    assert "could not scan a.txt (internal error RuntimeError)" in body["message"]
    assert (jp_root_dir / "a.txt").read_text() == "before\n"


async def test_policy_in_the_notebook_folder_is_ignored(
    jp_fetch: Any, jp_root_dir: Path, github_token: str
) -> None:
    # A cloned repository must not be able to switch the guard off for itself.
    (jp_root_dir / "qsecure.toml").write_text("[guard]\nenabled = false\n")
    await refused(
        put(
            jp_fetch,
            "x.py",
            {"type": "file", "format": "text", "content": f"t = '{github_token}'\n"},
        )
    )


@pytest.fixture
def broken_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "qsecure.toml"
    path.write_text('[guard]\non_error = "sometimes"\nenabled = false\n')
    monkeypatch.setenv("QSECURE_CONFIG", str(path))
    return path


async def test_broken_policy_keeps_the_guard_on_and_says_why(
    broken_policy: Path, jp_fetch: Any, qsecure_app: Any, github_token: str
) -> None:
    assert qsecure_app.policy.source == "(embedded defaults)"
    assert qsecure_app.policy_error.startswith(f"{broken_policy}: guard.on_error: expected")
    await refused(
        put(
            jp_fetch,
            "x.py",
            {"type": "file", "format": "text", "content": f"t = '{github_token}'\n"},
        )
    )


@pytest.fixture
def allow_on_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "qsecure.toml"
    path.write_text('[guard]\non_error = "allow"\nmax_bytes = 100\n')
    monkeypatch.setenv("QSECURE_CONFIG", str(path))


async def test_on_error_allow_lets_an_unscannable_write_through(
    allow_on_error: None, jp_fetch: Any, jp_root_dir: Path
) -> None:
    response = await put(
        jp_fetch, "big.txt", {"type": "file", "format": "text", "content": "x" * 500}
    )
    assert response.code == 201
    assert (jp_root_dir / "big.txt").read_text() == "x" * 500


async def test_no_secret_in_server_log(jp_fetch: Any, github_token: str, server_log: Any) -> None:
    nb = notebook(code(f'token = "{github_token}"'))
    await refused(put(jp_fetch, "log.ipynb", notebook_model(nb)))
    await refused(
        jp_fetch(
            "api",
            "contents",
            "log.ipynb",
            method="PUT",
            body=json.dumps({"type": "file", "format": "text", "content": github_token}),
            headers={},
        )
    )
    assert "qsecure: save of log.ipynb blocked (1 finding(s))" in server_log()
    assert github_token not in server_log()


async def test_checkpoints_of_a_file_still_work(jp_fetch: Any, jp_root_dir: Path) -> None:
    """JupyterLab lists and creates checkpoints of every notebook it opens; our contents
    route must not take ``NB.ipynb/checkpoints`` for a path (found by the UI tests)."""
    await put(jp_fetch, "cp.ipynb", notebook_model(notebook(code("x = 1"))))
    created = await jp_fetch("api", "contents", "cp.ipynb", "checkpoints", method="POST", body="")
    assert created.code == 201
    listed = await jp_fetch("api", "contents", "cp.ipynb", "checkpoints")
    checkpoints = json.loads(listed.body)
    assert [c["id"] for c in checkpoints] == [json.loads(created.body)["id"]]
    restored = await jp_fetch(
        "api", "contents", "cp.ipynb", "checkpoints", checkpoints[0]["id"], method="POST", body=""
    )
    assert restored.code == 204
