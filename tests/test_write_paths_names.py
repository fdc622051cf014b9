"""A credential in a notebook's names rather than its text, through a real server: a cell's
id, an attachment's name, a MIME type, a metadata key, a key nbformat does not define.
Each is refused, and the refusal (its message, its findings' fields and cell ids, the
audit event) names the place without ever spelling the value."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import code, markdown, notebook
from tornado.httpclient import HTTPClientError

from jupyter_qsecure.guard import GuardPolicy
from jupyter_qsecure.guard.allowlist import BypassStore
from jupyter_qsecure.guard.save_guard import SaveBlocked, SaveGuard


def _cell_id(token: str, other: str) -> dict[str, Any]:
    return notebook({**code("x = 1"), "id": token})


def _cell_id_and_source(token: str, other: str) -> dict[str, Any]:
    return notebook({**code(f"t = '{other}'"), "id": token})


def _attachment_name(token: str, other: str) -> dict[str, Any]:
    cell = markdown("![x](attachment:x.txt)")
    return notebook({**cell, "attachments": {token: {"text/plain": other}}})


def _mime_type(token: str, other: str) -> dict[str, Any]:
    output = {"output_type": "display_data", "metadata": {}, "data": {token: "hello"}}
    return notebook(code("show()", [output]))


def _mime_type_and_payload(token: str, other: str) -> dict[str, Any]:
    output = {"output_type": "display_data", "metadata": {}, "data": {token: other}}
    return notebook(code("show()", [output]))


def _stream_name(token: str, other: str) -> dict[str, Any]:
    output = {"output_type": "stream", "name": token, "text": other}
    return notebook(code("show()", [output]))


def _output_metadata_key(token: str, other: str) -> dict[str, Any]:
    output = {"output_type": "stream", "name": "stdout", "text": "x", "metadata": {token: {}}}
    return notebook(code("show()", [output]))


def _metadata_key(token: str, other: str) -> dict[str, Any]:
    return notebook(code("x"), metadata={"lab": {token: {"note": other}}})


def _cell_key(token: str, other: str) -> dict[str, Any]:
    return notebook({**code("x"), token: 1})


def _output_key(token: str, other: str) -> dict[str, Any]:
    output = {"output_type": "stream", "name": "stdout", "text": "x", token: {}}
    return notebook(code("show()", [output]))


def _notebook_key(token: str, other: str) -> dict[str, Any]:
    return {**notebook(code("x")), token: [1]}


def _cell_type(token: str, other: str) -> dict[str, Any]:
    return notebook({**code("x"), "cell_type": token})


def _execution_count(token: str, other: str) -> dict[str, Any]:
    return notebook({**code("x"), "execution_count": token})


def _nbformat_minor(token: str, other: str) -> dict[str, Any]:
    return {**notebook(code("x")), "nbformat_minor": token}


PLACES: dict[str, Callable[[str, str], dict[str, Any]]] = {
    "cell id": _cell_id,
    "cell id and source": _cell_id_and_source,
    "attachment name": _attachment_name,
    "MIME type": _mime_type,
    "MIME type and payload": _mime_type_and_payload,
    "stream name": _stream_name,
    "output metadata key": _output_metadata_key,
    "metadata key": _metadata_key,
    "cell key": _cell_key,
    "output key": _output_key,
    "notebook key": _notebook_key,
    "cell type": _cell_type,
    "execution count": _execution_count,
    "nbformat_minor": _nbformat_minor,
}


@pytest.mark.parametrize("place", list(PLACES))
async def test_a_credential_in_a_name_is_refused_and_never_spelled(
    jp_fetch: Any, jp_root_dir: Path, github_token: str, audit_events: Any, place: str
) -> None:
    other = "gh" + "p_" + secrets.token_hex(18)
    nb = PLACES[place](github_token, other)
    model = {"type": "notebook", "content": nb}
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("api", "contents", "named.ipynb", method="PUT", body=json.dumps(model))
    assert caught.value.code == 422 and caught.value.response is not None
    raw = caught.value.response.body.decode()
    body = json.loads(raw)
    assert body["reason"] == "qsecure-leak"
    assert body["findings"]
    assert github_token not in raw and other not in raw
    events = json.dumps(audit_events())
    assert github_token not in events and other not in events
    assert not (jp_root_dir / "named.ipynb").exists()


async def test_an_uploaded_notebook_file_with_a_credential_as_cell_id_is_refused(
    jp_fetch: Any, jp_root_dir: Path, github_token: str
) -> None:
    """The same notebook uploaded as a file (JupyterLab's upload of an .ipynb, or the
    editor's save) is parsed and walked alike."""
    text = json.dumps(_cell_id(github_token, ""))
    model = {"type": "file", "format": "text", "content": text}
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("api", "contents", "up.ipynb", method="PUT", body=json.dumps(model))
    assert caught.value.code == 422 and caught.value.response is not None
    assert github_token not in caught.value.response.body.decode()
    assert not (jp_root_dir / "up.ipynb").exists()


async def test_generated_cell_ids_and_mime_types_are_not_findings(
    jp_fetch: Any, jp_root_dir: Path
) -> None:
    """What JupyterLab and nbformat write (uuid cell ids, MIME types, known keys) is saved."""
    import uuid

    output = {
        "output_type": "display_data",
        "metadata": {"image/png": {"width": 10}},
        "data": {"text/plain": "<Figure>", "application/vnd.jupyter.widget-view+json": {}},
    }
    cells = [{**code("x = 1", [output]), "id": str(uuid.UUID(int=i * 7919))} for i in range(40)]
    cells += [{**code("y = 2"), "id": uuid.uuid4().hex[:8]} for _ in range(40)]
    cells += [{**code("z = 3"), "id": uuid.uuid4().hex} for _ in range(40)]
    model = {"type": "notebook", "content": notebook(*cells)}
    response = await jp_fetch("api", "contents", "ok.ipynb", method="PUT", body=json.dumps(model))
    assert response.code == 201


VALUE = f"lab-{secrets.token_hex(16)}"


@pytest.mark.parametrize("place", list(PLACES))
def test_an_injected_value_in_a_name_is_refused_and_never_spelled(
    tmp_path: Path, place: str
) -> None:
    guard = SaveGuard(
        GuardPolicy(),
        tmp_path,
        BypassStore(tmp_path / "bypasses.json"),
        injected=lambda: (1, {VALUE: "LAB_TOKEN"}),
    )
    nb = PLACES[place](VALUE, "x")
    with pytest.raises(SaveBlocked) as caught:
        guard.check({"type": "notebook", "content": nb}, "a.ipynb")
    assert "[secret:LAB_TOKEN]" in {f.preview for f in caught.value.findings}
    assert VALUE not in json.dumps(caught.value.to_json())


def test_a_long_key_is_cut_short_in_the_reported_field(tmp_path: Path) -> None:
    """A key is the user's text: a refusal names it, but not a megabyte of it."""
    guard = SaveGuard(GuardPolicy(), tmp_path, BypassStore(tmp_path / "bypasses.json"))
    token = "gh" + "p_" + secrets.token_hex(18)
    nb = notebook(code("x"), metadata={"k" * 5000: {"note": token}})
    with pytest.raises(SaveBlocked) as caught:
        guard.check({"type": "notebook", "content": nb}, "a.ipynb")
    [finding] = caught.value.findings
    assert finding.location.field.startswith("metadata/kkk")
    assert len(finding.location.field) == 200 and finding.location.field.endswith("…")
