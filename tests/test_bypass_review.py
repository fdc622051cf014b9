"""The findings accepted on a server, reviewed and undone through the REST API on a real
server: ``GET /qsecure/bypass`` lists the user's own acceptances (never a value),
``DELETE /qsecure/bypass`` undoes one, and the next save of that value is refused again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import code, notebook
from tornado.httpclient import HTTPClientError

from jupyter_qsecure.identity import acting_user


def notebook_model(nb: dict[str, Any]) -> dict[str, Any]:
    return {"type": "notebook", "format": "json", "content": nb}


async def save(jp_fetch: Any, path: str, nb: dict[str, Any]) -> int:
    """PUT the notebook; the status code (422 when the guard refuses it)."""
    try:
        response = await jp_fetch(
            "api", "contents", path, method="PUT", body=json.dumps(notebook_model(nb))
        )
    except HTTPClientError as error:
        return error.code
    return int(response.code)


async def failure(coroutine: Any) -> tuple[int, dict[str, Any]]:
    """Await a request that must fail; its status and JSON body."""
    with pytest.raises(HTTPClientError) as caught:
        await coroutine
    assert caught.value.response is not None
    return caught.value.code, json.loads(caught.value.response.body)


async def accepted(jp_fetch: Any) -> list[dict[str, Any]]:
    response = await jp_fetch("qsecure", "bypass", method="GET")
    body = json.loads(response.body)
    return list(body["accepted"])


async def refused_finding(jp_fetch: Any, path: str, nb: dict[str, Any]) -> dict[str, Any]:
    status, body = await failure(
        jp_fetch("api", "contents", path, method="PUT", body=json.dumps(notebook_model(nb)))
    )
    assert status == 422
    [finding] = body["findings"]
    return dict(finding)


async def accept(jp_fetch: Any, finding: dict[str, Any], path: str, **extra: str) -> None:
    body = {
        "fingerprint": finding["fingerprint"],
        "reason": "test_credential",
        "path": path,
        "kind": finding["kind"],
        "preview": finding["preview"],
        **extra,
    }
    response = await jp_fetch("qsecure", "bypass", method="POST", body=json.dumps(body))
    assert response.code == 201


async def test_accept_review_undo_and_the_next_save_is_refused_again(
    jp_fetch: Any, jp_root_dir: Path, github_token: str, audit_events: Any
) -> None:
    (jp_root_dir / "runs").mkdir()
    nb = notebook(code(f'token = "{github_token}"'))
    finding = await refused_finding(jp_fetch, "runs/b.ipynb", nb)
    assert await accepted(jp_fetch) == []
    await accept(jp_fetch, finding, "/runs/b.ipynb")
    assert await save(jp_fetch, "runs/b.ipynb", nb) == 201

    response = await jp_fetch("qsecure", "bypass", method="GET")
    assert github_token not in response.body.decode()
    [entry] = json.loads(response.body)["accepted"]
    assert entry["path"] == "runs/b.ipynb"
    assert entry["kind"] == "GitHub token"
    assert entry["fingerprint"] == finding["fingerprint"]
    assert entry["preview"] == f"ghp_…{github_token[-3:]}"
    assert entry["reason"] == "test_credential"
    assert entry["user"] == acting_user()
    assert entry["created"][:4].isdigit() and len(entry["id"]) == 16

    response = await jp_fetch("qsecure", "bypass", method="DELETE", params={"id": entry["id"]})
    undone = json.loads(response.body)
    assert undone["id"] == entry["id"] and undone["still_accepted"] is False
    [event] = [e for e in audit_events() if e["__schema__"].endswith("/bypass-withdrawn/v1")]
    assert (event["fingerprint"], event["reason"], event["path"]) == (
        finding["fingerprint"],
        "test_credential",
        "runs/b.ipynb",
    )
    assert event["user"] == acting_user() and event["still_accepted"] is False
    assert github_token not in json.dumps(audit_events())
    assert await accepted(jp_fetch) == []
    assert await save(jp_fetch, "runs/b.ipynb", nb) == 422

    status, body = await failure(
        jp_fetch("qsecure", "bypass", method="DELETE", params={"id": entry["id"]})
    )
    assert status == 404 and body["reason"] == "qsecure-not-found"
    assert entry["id"] in body["message"]


async def test_undo_by_fingerprint_and_path(
    jp_fetch: Any, jp_root_dir: Path, github_token: str
) -> None:
    nb = notebook(code(f'token = "{github_token}"'))
    finding = await refused_finding(jp_fetch, "f.ipynb", nb)
    await accept(jp_fetch, finding, "f.ipynb")
    status, body = await failure(
        jp_fetch(
            "qsecure",
            "bypass",
            method="DELETE",
            params={"fingerprint": finding["fingerprint"], "path": "other.ipynb"},
        )
    )
    assert status == 404 and "other.ipynb" in body["message"]
    await jp_fetch(
        "qsecure",
        "bypass",
        method="DELETE",
        params={"fingerprint": finding["fingerprint"], "path": "f.ipynb"},
    )
    assert await save(jp_fetch, "f.ipynb", nb) == 422


async def test_a_value_sent_as_preview_or_kind_is_not_stored(
    jp_fetch: Any, qsecure_app: Any, github_token: str
) -> None:
    nb = notebook(code(f'token = "{github_token}"'))
    finding = await refused_finding(jp_fetch, "v.ipynb", nb)
    await accept(jp_fetch, finding, "v.ipynb", preview=github_token, kind=f"{github_token}\n")
    [entry] = await accepted(jp_fetch)
    assert entry["preview"] == "" and entry["kind"] == ""
    assert github_token not in qsecure_app.save_guard.bypasses.path.read_text()


async def test_only_the_users_own_acceptances_are_listed_and_undone(
    jp_fetch: Any, qsecure_app: Any, github_token: str
) -> None:
    nb = notebook(code(f'token = "{github_token}"'))
    finding = await refused_finding(jp_fetch, "shared.ipynb", nb)
    store = qsecure_app.save_guard.bypasses
    theirs = store.add(finding["fingerprint"], "false_positive", "bob", "shared.ipynb")
    await accept(jp_fetch, finding, "shared.ipynb")
    [mine] = await accepted(jp_fetch)
    assert mine["user"] == acting_user() != "bob"

    status, body = await failure(
        jp_fetch("qsecure", "bypass", method="DELETE", params={"id": theirs.id})
    )
    assert status == 404 and body["reason"] == "qsecure-not-found"
    response = await jp_fetch("qsecure", "bypass", method="DELETE", params={"id": mine["id"]})
    # Bob's acceptance still covers the value: the answer says so, and the save goes through.
    assert json.loads(response.body)["still_accepted"] is True
    assert await save(jp_fetch, "shared.ipynb", nb) == 201
    assert [b.user for b in store.load()] == ["bob"]


async def test_delete_without_a_name_and_an_unreadable_store_answer_json(
    jp_fetch: Any, qsecure_app: Any
) -> None:
    status, body = await failure(jp_fetch("qsecure", "bypass", method="DELETE"))
    assert status == 400 and body["reason"] == "qsecure-bad-request"
    assert "?id=" in body["message"] and "fingerprint" in body["message"]

    store_path = qsecure_app.save_guard.bypasses.path
    store_path.parent.mkdir(parents=True, exist_ok=True)
    store_path.write_text("{not json", encoding="utf-8")
    status, body = await failure(jp_fetch("qsecure", "bypass", method="GET"))
    assert status == 500 and body["reason"] == "qsecure-bypass-store-unreadable"
    assert str(store_path) in body["message"] and ".broken" in body["message"]


def test_a_store_written_before_kind_and_preview_were_kept_still_loads(tmp_path: Path) -> None:
    from jupyter_qsecure.guard import BypassStore

    path = tmp_path / "bypasses.json"
    old = {
        "fingerprint": "a" * 32,
        "reason": "will_rotate",
        "user": "alice",
        "path": "n.ipynb",
        "created": "2026-01-01T00:00:00+00:00",
    }
    path.write_text(json.dumps([old]), encoding="utf-8")
    store = BypassStore(path)
    [bypass] = store.load()
    assert bypass.kind == "" and bypass.preview == ""
    assert store.fingerprints() == {"a" * 32}
    store.remove("alice", id_=bypass.id)
    assert store.load() == []


def test_the_audit_command_reads_a_withdrawal(tmp_path: Path) -> None:
    from datetime import datetime, timezone

    from jupyter_events import EventLogger

    from jupyter_qsecure import events
    from jupyter_qsecure.audit import AuditFileHandler, read_trail

    logger = EventLogger()
    for schema in events.schema_files():
        logger.register_event_schema(schema)
    handler = AuditFileHandler(tmp_path / "audit.jsonl")
    logger.register_handler(handler)
    data = {
        "path": "n.ipynb",
        "user": "alice",
        "fingerprint": "a" * 32,
        "reason": "will_rotate",
        "still_accepted": False,
    }
    logger.emit(
        schema_id=events.BYPASS_WITHDRAWN, data=data, timestamp_override=datetime.now(timezone.utc)
    )
    handler.close()
    trail = read_trail(tmp_path / "audit.jsonl")
    [event] = trail.events
    assert event.kind == "bypass-withdrawn" and event.data["fingerprint"] == "a" * 32
