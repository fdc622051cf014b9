"""Forms a credential takes on its way to disk through a real server: values under keys
named like images, UTF-16/32 files, and an injected secret's live value that a pragma,
a baseline or a bypass must not let through."""

from __future__ import annotations

import base64
import itertools
import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import LAB_TOKEN_GRANT, code, notebook
from kernel_client import open_session
from tornado.httpclient import HTTPClientError

from jupyter_qsecure.guard import Allowlist, Baseline, GuardPolicy, Scanner
from jupyter_qsecure.guard.allowlist import BypassStore
from jupyter_qsecure.guard.findings import detect_secrets_hash, fingerprint
from jupyter_qsecure.guard.save_guard import SaveBlocked, SaveGuard
from jupyter_qsecure.secrets.forms import encoded_forms


async def put(jp_fetch: Any, path: str, model: dict[str, Any]) -> Any:
    return await jp_fetch("api", "contents", path, method="PUT", body=json.dumps(model))


async def refused(coroutine: Any) -> dict[str, Any]:
    with pytest.raises(HTTPClientError) as caught:
        await coroutine
    assert caught.value.code == 422
    assert caught.value.response is not None
    body: dict[str, Any] = json.loads(caught.value.response.body)
    assert body["reason"] == "qsecure-leak"
    return body


# Keys named like images ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "where",
    ["cell metadata", "notebook metadata", "output data", "output metadata", "attachment"],
)
async def test_a_credential_under_an_image_key_is_refused(
    jp_fetch: Any, jp_root_dir: Path, github_token: str, where: str
) -> None:
    cell = code("plot()")
    metadata = None
    if where == "cell metadata":
        cell["metadata"] = {"png": github_token}
    elif where == "notebook metadata":
        metadata = {"thumbnail": {"image/png": f"token {github_token}"}}
    elif where == "output data":
        cell = code(
            "plot()",
            [{"output_type": "display_data", "metadata": {}, "data": {"image/png": github_token}}],
        )
    elif where == "output metadata":
        cell = code(
            "plot()",
            [
                {
                    "output_type": "display_data",
                    "metadata": {"image/jpeg": {"alt": github_token}},
                    "data": {"text/plain": "<Figure>"},
                }
            ],
        )
    else:
        cell = {
            "cell_type": "markdown",
            "source": "![x](attachment:x.png)",
            "attachments": {"x.png": {"image/png": github_token}},
        }
    nb = notebook(cell, metadata=metadata)
    body = await refused(put(jp_fetch, "fig.ipynb", {"type": "notebook", "content": nb}))
    assert body["findings"][0]["kind"] == "GitHub token"
    assert not (jp_root_dir / "fig.ipynb").exists()


# UTF-16 and UTF-32 -----------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32", "utf-16-le"])
async def test_a_powershell_file_in_utf16_is_scanned(
    jp_fetch: Any, jp_root_dir: Path, github_token: str, encoding: str
) -> None:
    # What `"..." > setup.ps1` writes in Windows PowerShell 5: UTF-16 LE with a BOM.
    raw = f"$env:GH_TOKEN = '{github_token}'\r\n".encode(encoding)
    model = {"type": "file", "format": "base64", "content": base64.b64encode(raw).decode()}
    body = await refused(put(jp_fetch, "setup.ps1", model))
    assert body["findings"][0]["line"] == 1
    assert not (jp_root_dir / "setup.ps1").exists()
    # a copy of one written outside the server is refused too
    (jp_root_dir / "outside.ps1").write_bytes(raw)
    await refused(
        jp_fetch(
            "api", "contents", "", method="POST", body=json.dumps({"copy_from": "outside.ps1"})
        )
    )


# An injected secret's live value ---------------------------------------------------------------

VALUE = f"lab-{secrets.token_hex(16)}"


def guard_with(tmp_path: Path, **policy: Any) -> SaveGuard:
    """A SaveGuard that knows ``VALUE`` as the live value of LAB_TOKEN."""
    return SaveGuard(
        GuardPolicy(**policy),
        tmp_path,
        BypassStore(tmp_path / "bypasses.json"),
        injected=lambda: (1, {VALUE: "LAB_TOKEN"}),
    )


@pytest.mark.parametrize("form", sorted(encoded_forms(VALUE)))
@pytest.mark.parametrize(
    "line",
    ["t = '{v}'  # pragma: allowlist secret", "# pragma: allowlist nextline secret\nt = '{v}'"],
)
def test_a_pragma_never_allows_an_injected_value(tmp_path: Path, form: str, line: str) -> None:
    guard = guard_with(tmp_path)
    nb = notebook(code(line.format(v=form)))
    with pytest.raises(SaveBlocked) as caught:
        guard.check({"type": "notebook", "content": nb}, "a.ipynb")
    [finding] = caught.value.findings
    assert finding.preview == "[secret:LAB_TOKEN]"
    message = caught.value.log_message or ""
    assert "is the value of a secret injected into a running kernel" in message
    assert "no 'pragma: allowlist secret' comment, baseline or bypass accepts it" in message
    assert VALUE not in message and form not in message


def test_a_bypass_or_baseline_never_allows_an_injected_value(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".secrets.baseline").write_text(
        json.dumps({"results": {"a.py": [{"hashed_secret": detect_secrets_hash(VALUE)}]}})
    )
    guard = guard_with(tmp_path)
    guard.bypasses.add(fingerprint(VALUE), "false_positive", "someone", "a.py")
    assert Allowlist([Baseline.load(tmp_path / ".secrets.baseline")]).accepts(
        VALUE, tmp_path / "a.py"
    )
    with pytest.raises(SaveBlocked):
        guard.check({"type": "file", "format": "text", "content": f"t = '{VALUE}'\n"}, "a.py")
    # the same allowlist still accepts a value that is not injected
    other = Scanner(allowlist=Allowlist(bypassed={fingerprint("x" * 5)}))
    assert not other.scan_text("nothing here").findings


@pytest.fixture
def lab_token(policy: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch) -> str:
    """LAB_TOKEN granted to every notebook, from ``$LAB_TOKEN_SOURCE``."""
    monkeypatch.setenv("LAB_TOKEN_SOURCE", VALUE)
    policy(LAB_TOKEN_GRANT)
    return VALUE


@pytest.mark.slow
async def test_a_pragma_on_a_running_kernels_secret_is_refused(
    lab_token: str, jp_fetch: Any, jp_root_dir: Path, audit_events: Any
) -> None:
    session = await open_session(jp_fetch, "analysis.ipynb")
    try:
        nb = notebook(code(f"token = '{lab_token}'  # pragma: allowlist secret"))
        body = await refused(put(jp_fetch, "analysis.ipynb", {"type": "notebook", "content": nb}))
        assert body["findings"][0]["preview"] == "[secret:LAB_TOKEN]"
        assert "no 'pragma: allowlist secret' comment" in body["message"]
        assert lab_token not in json.dumps(body) and lab_token not in json.dumps(audit_events())
        assert not (jp_root_dir / "analysis.ipynb").exists()
    finally:
        await jp_fetch("api", "sessions", session["id"], method="DELETE")


# Stream output in pieces ---------------------------------------------------------------------


def _streams(*texts: str, name: str = "stdout") -> list[dict[str, Any]]:
    return [{"output_type": "stream", "name": name, "text": text} for text in texts]


@pytest.mark.parametrize("pieces", [2, 3])
async def test_a_token_split_across_stream_outputs_is_refused(
    jp_fetch: Any, jp_root_dir: Path, github_token: str, pieces: int
) -> None:
    """nbclient (jupyter execute, papermill) keeps each stream message as an output of its
    own, so output flushed in the middle of a token is saved in pieces; JupyterLab shows
    consecutive stream outputs joined, the token whole."""
    cut = [len(github_token) * i // pieces for i in range(pieces + 1)]
    parts = [github_token[a:b] for a, b in itertools.pairwise(cut)]
    parts[0] = "log line\ncloning from " + parts[0]
    parts[-1] += "\ndone\n"
    nb = notebook(code("!sync", _streams(*parts)))
    body = await refused(put(jp_fetch, "run.ipynb", {"type": "notebook", "content": nb}))
    [finding] = body["findings"]
    assert finding["kind"] == "GitHub token"
    assert (finding["field"], finding["line"]) == ("outputs[0].stdout", 2)
    assert not (jp_root_dir / "run.ipynb").exists()
    # the notebook papermill wrote, copied in
    (jp_root_dir / "executed.ipynb").write_text(json.dumps(nb))
    await refused(
        jp_fetch(
            "api", "contents", "", method="POST", body=json.dumps({"copy_from": "executed.ipynb"})
        )
    )


async def test_a_password_split_from_its_key_across_stream_outputs_is_refused(
    jp_fetch: Any, jp_root_dir: Path
) -> None:
    typed = "Vq8#" + secrets.token_urlsafe(12)
    nb = notebook(code("!cat settings", _streams("[db]\npassword=", f"{typed}\n")))
    body = await refused(put(jp_fetch, "run.ipynb", {"type": "notebook", "content": nb}))
    assert body["findings"][0]["field"] == "outputs[0].stdout"


async def test_separate_streams_are_not_joined(jp_fetch: Any, jp_root_dir: Path) -> None:
    """stdout and stderr, or streams with another output between, are shown apart."""
    outputs = [
        *_streams("token prefix ghp_", name="stdout"),
        *_streams("x" * 36 + "\n", name="stderr"),
    ]
    nb = notebook(code("run()", outputs))
    response = await put(jp_fetch, "ok.ipynb", {"type": "notebook", "content": nb})
    assert response.code == 201


# Forms that were already refused (kept so that they stay so) ---------------------------------


def _held_forms(token: str) -> dict[str, tuple[str, dict[str, Any]]]:
    source = f"t = '{token}'"
    nb_text = json.dumps(notebook(code(source)))
    attachment = {
        "cell_type": "markdown",
        "source": "![x](attachment:x.png)",
        "attachments": {"x.png": {"image/png": base64.b64encode(source.encode()).decode()}},
    }
    widgets = {"state": {"m": {"model_name": "TextModel", "state": {"value": token}}}}
    widget_output = {
        "output_type": "display_data",
        "metadata": {},
        "data": {"application/vnd.jupyter.widget-state+json": widgets},
    }
    return {
        "source split inside the token": (
            "a.ipynb",
            {"type": "notebook", "content": notebook(code([source[:9], source[9:]]))},
        ),
        "CRLF text": (
            "a.py",
            {"type": "file", "format": "text", "content": f"x = 1\r\n{source}\r\n"},
        ),
        "notebook as text with JSON escapes": (
            "a.ipynb",
            {"type": "file", "format": "text", "content": nb_text.replace("gh", "\\u0067h")},
        ),
        "notebook as UTF-16 without BOM": (
            "a.ipynb",
            {
                "type": "file",
                "format": "base64",
                "content": base64.b64encode(nb_text.encode("utf-16-le")).decode(),
            },
        ),
        "image attachment that is base64 of text": (
            "a.ipynb",
            {"type": "notebook", "content": notebook(attachment)},
        ),
        "widget state in notebook metadata": (
            "a.ipynb",
            {
                "type": "notebook",
                "content": notebook(
                    code("w"),
                    metadata={"widgets": {"application/vnd.jupyter.widget-state+json": widgets}},
                ),
            },
        ),
        "widget state in an output": (
            "a.ipynb",
            {"type": "notebook", "content": notebook(code("w", [widget_output]))},
        ),
    }


HELD = list(_held_forms("x"))


@pytest.mark.parametrize("form", HELD)
async def test_a_form_already_refused_stays_refused(
    jp_fetch: Any, jp_root_dir: Path, github_token: str, form: str
) -> None:
    path, model = _held_forms(github_token)[form]
    body = await refused(put(jp_fetch, path, model))
    assert "GitHub token" in {f["kind"] for f in body["findings"]}
    assert not (jp_root_dir / path).exists()
