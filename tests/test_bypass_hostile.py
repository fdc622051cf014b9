"""Careless and hostile clients of the accepted-findings store, through a real server: a
value sent as the kind or as a "preview" split around the ellipsis is never kept nor
listed, and undoing an acceptance keeps the entries this version does not understand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import code, notebook
from test_bypass_review import accept, accepted, refused_finding
from tornado.httpclient import HTTPClientError

from jupyter_qsecure.identity import acting_user


async def test_a_github_token_sent_as_the_kind_is_not_kept(
    jp_fetch: Any, qsecure_app: Any, github_token: str
) -> None:
    nb = notebook(code(f'token = "{github_token}"'))
    finding = await refused_finding(jp_fetch, "k.ipynb", nb)
    await accept(jp_fetch, finding, "k.ipynb", kind=github_token)
    [entry] = await accepted(jp_fetch)
    assert entry["kind"] == ""
    assert github_token not in qsecure_app.save_guard.bypasses.path.read_text()


async def test_a_short_password_split_around_the_ellipsis_is_not_kept(
    jp_fetch: Any, qsecure_app: Any
) -> None:
    value = "".join(("Xk9#mQ2", "$vL7p"))  # 12 characters: the scanner shows only "…(12 chars)"
    nb = notebook(code(f'password = "{value}"'))
    finding = await refused_finding(jp_fetch, "p.ipynb", nb)
    assert finding["preview"] == "…(12 chars)"
    for preview in (f"{value[:9]}\u2026{value[9:]}", f"{value}\u2026"):
        await accept(jp_fetch, finding, "p.ipynb", preview=preview)
    response = await jp_fetch("qsecure", "bypass", method="GET")
    listed = json.loads(response.body)["accepted"]
    assert [entry["preview"] for entry in listed] == ["", ""]
    stored = qsecure_app.save_guard.bypasses.path.read_text()
    assert value not in stored and value[:9] not in stored
    # A real masked preview is still kept.
    await accept(jp_fetch, finding, "p.ipynb", preview=finding["preview"])
    assert (await accepted(jp_fetch))[0]["preview"] == "…(12 chars)"


async def test_a_preview_the_server_did_not_report_is_not_kept(
    jp_fetch: Any, qsecure_app: Any, github_token: str
) -> None:
    """A preview shaped like a masked one can still carry 19 characters of a 40-character
    value (16 before the ellipsis, 3 after): only the preview the server itself reported
    for that fingerprint is kept, and the kind likewise."""
    nb = notebook(code(f'token = "{github_token}"'))
    finding = await refused_finding(jp_fetch, "m.ipynb", nb)
    partial = f"{github_token[:16]}\u2026{github_token[-3:]}"
    await accept(jp_fetch, finding, "m.ipynb", preview=partial, kind="Slack token")
    [entry] = await accepted(jp_fetch)
    assert entry["preview"] == "" and entry["kind"] == ""
    assert github_token[:16] not in qsecure_app.save_guard.bypasses.path.read_text()
    await accept(jp_fetch, finding, "m.ipynb", preview=finding["preview"], kind=finding["kind"])
    newest = (await accepted(jp_fetch))[0]
    assert (newest["preview"], newest["kind"]) == (finding["preview"], finding["kind"])


async def test_undoing_keeps_entries_this_version_does_not_understand(
    jp_fetch: Any, qsecure_app: Any, github_token: str
) -> None:
    nb = notebook(code(f'token = "{github_token}"'))
    finding = await refused_finding(jp_fetch, "s.ipynb", nb)
    store = qsecure_app.save_guard.bypasses
    theirs = {
        "fingerprint": "b" * 32,
        "reason": "false_positive",
        "user": "bob",
        "path": "s.ipynb",
        "created": "2026-12-01T00:00:00+00:00",
        "expires": "2027-01-01",  # written by a later version
    }
    Path(store.path).parent.mkdir(parents=True, exist_ok=True)
    Path(store.path).write_text(json.dumps([theirs]))
    await accept(jp_fetch, finding, "s.ipynb")
    [mine] = await accepted(jp_fetch)
    assert mine["user"] == acting_user()
    await jp_fetch("qsecure", "bypass", method="DELETE", params={"id": mine["id"]})
    assert json.loads(Path(store.path).read_text()) == [theirs]


async def test_accepting_into_an_unreadable_store_is_the_servers_fault_and_keeps_it(
    jp_fetch: Any, qsecure_app: Any, github_token: str
) -> None:
    nb = notebook(code(f'token = "{github_token}"'))
    finding = await refused_finding(jp_fetch, "u.ipynb", nb)
    store = Path(qsecure_app.save_guard.bypasses.path)
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_text("[{broken")
    body = {"fingerprint": finding["fingerprint"], "reason": "test_credential", "path": "u.ipynb"}
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("qsecure", "bypass", method="POST", body=json.dumps(body))
    assert caught.value.response is not None
    answer = json.loads(caught.value.response.body)
    assert caught.value.code == 500 and answer["reason"] == "qsecure-bypass-store-unreadable"
    assert "move it aside" in answer["message"]
    assert store.read_text() == "[{broken"  # kept to read, never overwritten
