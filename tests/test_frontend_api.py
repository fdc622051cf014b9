"""The REST contract the JupyterLab extension relies on, on a real server: the signing
status of unsaved content, the provenance report, personal grants and their audit events."""

from __future__ import annotations

import json
import secrets
import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest
from conftest import as_notebook, code_cell
from kernel_client import (
    execute,
    save_notebook,
    start_session,
    unsaved_provenance,
    wait_for_records,
)
from tornado.httpclient import HTTPClientError

ADMIN = "LAB_TOKEN"
MINE = "MY_TOKEN"


async def failed(coroutine: Any) -> tuple[int, dict[str, Any]]:
    """Await a request that must fail; return its status and JSON body."""
    with pytest.raises(HTTPClientError) as caught:
        await coroutine
    assert caught.value.response is not None
    return caught.value.code, json.loads(caught.value.response.body)


async def get_json(jp_fetch: Any, *parts: str, **params: str) -> dict[str, Any]:
    response = await jp_fetch(*parts, params=params)
    return dict(json.loads(response.body))


async def post_json(jp_fetch: Any, *parts: str, body: Any) -> dict[str, Any]:
    response = await jp_fetch(*parts, method="POST", body=json.dumps(body))
    return dict(json.loads(response.body))


async def run(jp_fetch: Any, jp_serverapp: Any, path: str, source: str) -> str:
    """Run ``source`` in a new kernel for ``path``, shut it down; return its outputs."""
    session_id, _, client = await start_session(jp_fetch, jp_serverapp, path)
    try:
        return json.dumps(await execute(client, source, "probe"))
    finally:
        client.stop_channels()
        await jp_fetch("api", "sessions", session_id, method="DELETE")


# Signing status of the editor's content ------------------------------------------------


@pytest.fixture
def server_key(tmp_path: Path, policy: Callable[[str], Path]) -> Path:
    if shutil.which("ssh-keygen") is None:
        pytest.skip("needs ssh-keygen (Debian: openssh-client)")
    key = tmp_path / "server-signer"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "signer", "-f", str(key)],
        check=True,
        timeout=60,
    )
    public = key.with_suffix(".pub").read_text().split()
    allowed = tmp_path / "server_allowed"
    allowed.write_text(f"lab-server@lab.example {public[0]} {public[1]}\n")
    policy(
        f'[signing]\nkey = "{key}"\nprincipal = "lab-server@lab.example"\n'
        f'allowed_signers = "{allowed}"\nrequire = 1\nrequire_roles = ["author"]\n'
    )
    return key


async def test_unsaved_content_is_verified_without_an_audit_event(
    server_key: Path, jp_fetch: Any, jp_root_dir: Path, audit_events: Any
) -> None:
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("x = 1", id="a"),
            nbformat.v4.new_markdown_cell("# notes", id="b"),
        ]
    )
    nbformat.write(nb, jp_root_dir / "s.ipynb")
    unsigned = await get_json(jp_fetch, "qsecure", "signature", path="s.ipynb")
    assert unsigned["status"] == "unsigned"
    assert unsigned["required"] == 1 and unsigned["require_roles"] == ["author"]

    signed = await post_json(jp_fetch, "qsecure", "sign", body={"path": "s.ipynb"})
    assert signed["status"] == "signed and valid" and signed["meets_policy"]
    assert signed["required"] == 1 and signed["require_roles"] == ["author"]

    editor = json.loads((jp_root_dir / "s.ipynb").read_text())
    same = await post_json(
        jp_fetch, "qsecure", "signature", body={"path": "s.ipynb", "notebook": editor}
    )
    assert same["status"] == "signed and valid" and same["meets_policy"]
    editor["cells"][0]["source"] = "x = 2"
    status = await post_json(
        jp_fetch, "qsecure", "signature", body={"path": "s.ipynb", "notebook": editor}
    )
    assert set(status) == {
        "path",
        "status",
        "meets_policy",
        "policy",
        "required",
        "require_roles",
        "signatures",
    }
    assert status["path"] == "s.ipynb" and status["status"] == "modified since signing"
    assert not status["meets_policy"]
    assert status["required"] == 1 and status["require_roles"] == ["author"]
    [signature] = status["signatures"]
    assert set(signature) == {
        "index",
        "principal",
        "role",
        "signed_at",
        "fingerprint",
        "valid",
        "trusted",
        "reason",
        "changed_cells",
    }
    assert signature["changed_cells"] == ["a"] and not signature["valid"]
    assert signature["principal"] == "lab-server@lab.example" and signature["role"] == "author"

    on_disk = await get_json(jp_fetch, "qsecure", "signature", path="s.ipynb")
    assert on_disk["status"] == "signed and valid" and on_disk["meets_policy"]
    assert nbformat.read(jp_root_dir / "s.ipynb", as_version=4).cells[0].source == "x = 1"
    verified = [e for e in audit_events() if e["__schema__"].endswith("/signature-verified/v1")]
    assert len(verified) == 2  # the two GETs; the POSTs are not audited


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[]",
        json.dumps({"path": "s.ipynb"}),
        json.dumps({"notebook": {"nbformat": 4, "cells": []}}),
        json.dumps({"path": "s.ipynb", "notebook": {"nbformat": 3, "cells": []}}),
        json.dumps({"path": "s.ipynb", "notebook": {"nbformat": 4, "cells": "x"}}),
        json.dumps({"path": "s.ipynb", "notebook": {"nbformat": 4, "cells": [1]}}),
        json.dumps({"path": "../s.ipynb", "notebook": {"nbformat": 4, "cells": []}}),
    ],
)
@pytest.mark.parametrize("endpoint", ["signature", "provenance"])
async def test_bad_editor_content_is_a_400(jp_fetch: Any, endpoint: str, body: str) -> None:
    code, answer = await failed(jp_fetch("qsecure", endpoint, method="POST", body=body))
    assert code == 400 and answer["reason"] == "qsecure-bad-request"
    assert answer["message"]


async def test_content_without_cell_ids_cannot_be_verified(jp_fetch: Any) -> None:
    signed = {"qsecure": {"signatures": [{"principal": "a@lab.example", "signature": "x"}]}}
    cell = {"cell_type": "code", "source": "", "metadata": {}, "outputs": []}
    nb = {"nbformat": 4, "nbformat_minor": 4, "metadata": signed, "cells": [cell]}
    code, answer = await failed(
        jp_fetch(
            "qsecure",
            "signature",
            method="POST",
            body=json.dumps({"path": "old.ipynb", "notebook": nb}),
        )
    )
    assert code == 422 and answer["reason"] == "qsecure-cannot-verify"
    assert "has no id" in answer["message"]


# Provenance report ------------------------------------------------------------------------


async def test_provenance_report_of_a_real_run(
    store_path: Path, jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path
) -> None:
    folder = jp_root_dir / "exp"
    folder.mkdir()
    (folder / "input.csv").write_text("shots,counts\n1024,512\n")
    path = "exp/run.ipynb"
    source = "rows = open('input.csv').read().splitlines()\nprint(len(rows))"
    _, _, client = await start_session(jp_fetch, jp_serverapp, path)
    try:
        outputs = await execute(client, source, "a")  # the kernel runs in exp/
    finally:
        client.stop_channels()
    assert "2" in json.dumps(outputs)
    [record] = wait_for_records(store_path, 1)
    wait_for_records(store_path, 1, kind="environment")

    # The editor's content, never saved: the records are embedded as a save would.
    editor = as_notebook(code_cell("a", source, outputs, 1), code_cell("new", "y = 1", [], 1))
    report = await unsaved_provenance(jp_fetch, path, editor)
    assert set(report) == {
        "path",
        "ok",
        "user",
        "kernel_session",
        "environment",
        "timeline",
        "out_of_order",
        "hidden_state",
        "files_changed",
        "cannot_judge",
        "deleted_cells",
        "cells",
    }
    assert report["cannot_judge"] == [] and report["deleted_cells"] == []
    assert report["path"] == path and report["user"] == record["user"]
    assert report["kernel_session"] == record["kernel_session"]
    assert isinstance(report["environment"], dict) and report["environment"]
    assert [e["cell_id"] for e in report["timeline"]] == ["a"]
    first, second = report["cells"]
    assert set(first) == {
        "number",
        "cell_id",
        "verdict",
        "badge",
        "detail",
        "execution",
        "evidence",
    }
    assert (first["number"], first["cell_id"], first["badge"]) == (1, "a", "executed")
    assert first["verdict"] == "executed as shown"
    execution = first["execution"]
    assert execution["record_id"] == record["record_id"] and execution["status"] == "ok"
    assert {"started", "ended", "duration_ms", "execution_count"} <= set(execution)
    [read] = execution["files"]["read"]
    assert read["path"] == "input.csv" and len(read["sha256"]) == 64
    assert (second["badge"], second["execution"]) == ("never-executed", None)
    assert not report["ok"] and report["files_changed"] == []
    assert "qsecure" not in editor["metadata"]  # the request's content is not changed

    await save_notebook(jp_fetch, path, as_notebook(code_cell("a", source, outputs, 1)))
    saved = await get_json(jp_fetch, "qsecure", "provenance", path=path)
    assert saved["ok"] and [c["badge"] for c in saved["cells"]] == ["executed"]

    edited = json.loads((folder / "run.ipynb").read_text())
    edited["cells"][0]["source"] = source + "  # tweaked"
    report = await unsaved_provenance(jp_fetch, path, edited)
    [cell] = report["cells"]
    assert cell["badge"] == "edited" and cell["verdict"] == "source edited after execution"
    assert cell["execution"]["record_id"] == record["record_id"]

    edited["cells"][0]["source"] = source
    edited["cells"][0]["outputs"] = [nbformat.v4.new_output("stream", text="3\n")]
    report = await unsaved_provenance(jp_fetch, path, edited)
    assert report["cells"][0]["badge"] == "outputs-changed"

    (folder / "input.csv").write_text("changed\n")
    report = await get_json(jp_fetch, "qsecure", "provenance", path=path)
    assert report["files_changed"] == ["input.csv: changed since the run read it"]


async def test_provenance_of_a_missing_notebook_is_a_404(jp_fetch: Any) -> None:
    code, answer = await failed(jp_fetch("qsecure", "provenance", params={"path": "nope.ipynb"}))
    assert code == 404 and answer["reason"] == "qsecure-not-found"


async def test_provenance_without_records(jp_fetch: Any, jp_root_dir: Path) -> None:
    nbformat.write(
        nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1", id="x")]),
        jp_root_dir / "plain.ipynb",
    )
    report = await get_json(jp_fetch, "qsecure", "provenance", path="plain.ipynb")
    assert report["user"] is None and report["environment"] is None and report["timeline"] == []
    assert [(c["badge"], c["execution"]) for c in report["cells"]] == [("never-executed", None)]


# Personal grants --------------------------------------------------------------------------


@pytest.fixture
def lab_policy(keyring_env: dict[str, str], policy: Callable[[str], Path]) -> Path:
    """An admin policy that defines one secret for the lab/ folder."""
    return policy(
        f'[secrets.{ADMIN}]\nsource = "keyring://qsecure/lab"\nnotebooks = ["lab/*.ipynb"]\n'
    )


@pytest.fixture
def value() -> str:
    """A value no pattern rule knows."""
    return f"qsv-{secrets.token_hex(12)}"


async def test_personal_grant_end_to_end(
    lab_policy: Path,
    value: str,
    jp_fetch: Any,
    jp_serverapp: Any,
    jp_root_dir: Path,
    jp_data_dir: Path,
    audit_events: Any,
    server_log: Any,
) -> None:
    (jp_root_dir / "mine").mkdir()  # the kernel's folder: the notebook's path comes from it
    bodies: list[str] = []

    async def call(*parts: str, method: str = "GET", body: Any = None, **params: str) -> Any:
        response = await jp_fetch(
            *parts,
            method=method,
            body=None if body is None else json.dumps(body),
            params=params or None,
        )
        bodies.append(response.body.decode())
        return json.loads(response.body) if response.body else None

    stored = await call("qsecure", "secrets", MINE, method="PUT", body={"value": value})
    assert stored == {"name": MINE, "source": f"keyring://qsecure/{MINE}", "in_policy": False}
    granted = await call(
        "qsecure", "grants", MINE, method="PUT", body={"notebook": "mine/run.ipynb"}
    )
    assert granted == {"name": MINE, "notebooks": ["mine/run.ipynb"], "personal": True}
    again = await call(
        "qsecure", "grants", MINE, method="PUT", body={"notebook": "/mine/run.ipynb"}
    )
    assert again == granted

    listed = await call("qsecure", "secrets", path="mine/run.ipynb")
    assert listed["personal_grants"] is True
    rows = {row["name"]: row for row in listed["secrets"]}
    assert rows[MINE]["personal"] and rows[MINE]["granted"]
    assert rows[MINE]["source"] == f"keyring://qsecure/{MINE}"
    assert rows[MINE]["notebooks"] == ["mine/run.ipynb"] and rows[MINE]["users"]
    assert not rows[ADMIN]["personal"] and not rows[ADMIN]["granted"]

    probe = f"import os; print('got', os.environ.get('{MINE}') == {value!r}, os.environ.get('QSECURE_SECRET_NAMES'))"
    text = await run(jp_fetch, jp_serverapp, "mine/run.ipynb", probe)
    assert f"got True {MINE}" in text
    text = await run(jp_fetch, jp_serverapp, "mine/other.ipynb", probe)
    assert "got False" in text and MINE not in text.replace(f"'{MINE}'", "")

    grants_file = jp_data_dir / "qsecure" / "personal-grants.json"
    assert stat.S_IMODE(grants_file.stat().st_mode) == 0o600
    assert MINE in grants_file.read_text() and value not in grants_file.read_text()
    assert not list(jp_root_dir.rglob("personal-grants.json"))
    assert [p.name for p in grants_file.parent.iterdir() if p.name.startswith(".")] == []

    await call("qsecure", "grants", MINE, method="PUT", body={"notebook": "mine/b.ipynb"})
    response = await jp_fetch(
        "qsecure", "grants", MINE, method="DELETE", params={"notebook": "mine/run.ipynb"}
    )
    assert response.code == 204
    rows = {
        r["name"]: r for r in (await call("qsecure", "secrets", path="mine/run.ipynb"))["secrets"]
    }
    assert rows[MINE]["notebooks"] == ["mine/b.ipynb"] and not rows[MINE]["granted"]
    response = await jp_fetch("qsecure", "grants", MINE, method="DELETE")
    assert response.code == 204
    listed = await call("qsecure", "secrets", path="mine/b.ipynb")
    assert MINE not in [r["name"] for r in listed["secrets"]]
    text = await run(jp_fetch, jp_serverapp, "mine/run.ipynb", probe)
    assert "got False" in text
    response = await jp_fetch("qsecure", "secrets", MINE, method="DELETE")
    assert response.code == 204

    changes = [
        (e["action"], e["name"], e.get("notebook"))
        for e in audit_events()
        if e["__schema__"].endswith("/secret-changed/v1")
    ]
    assert changes == [
        ("set", MINE, None),
        ("grant", MINE, "mine/run.ipynb"),
        ("grant", MINE, "mine/b.ipynb"),
        ("revoke", MINE, "mine/run.ipynb"),
        ("revoke", MINE, "mine/b.ipynb"),
        ("delete", MINE, None),
    ]
    everything = "".join(bodies) + json.dumps(audit_events()) + server_log()
    assert value not in everything


async def test_a_running_kernel_gets_a_new_personal_grant_on_refresh(
    lab_policy: Path, value: str, jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path
) -> None:
    """The blocked-save dialog's flow: grant, store, then refresh the open notebook's kernel."""
    (jp_root_dir / "mine").mkdir()
    session_id, _, client = await start_session(jp_fetch, jp_serverapp, "mine/live.ipynb")
    try:
        await jp_fetch(
            "qsecure",
            "grants",
            MINE,
            method="PUT",
            body=json.dumps({"notebook": "mine/live.ipynb"}),
        )
        await jp_fetch("qsecure", "secrets", MINE, method="PUT", body=json.dumps({"value": value}))
        outputs = await execute(
            client,
            "import os, jupyter_qsecure\n"
            "print(jupyter_qsecure.refresh())\n"
            f"print('same', os.environ.get('{MINE}') == {value!r})",
            "refresh",
        )
    finally:
        client.stop_channels()
        await jp_fetch("api", "sessions", session_id, method="DELETE")
    text = json.dumps(outputs)
    assert f"['{MINE}']" in text and "same True" in text and value not in text


async def test_names_the_policy_defines_are_the_admins(
    lab_policy: Path, jp_fetch: Any, jp_data_dir: Path
) -> None:
    response = await jp_fetch(
        "qsecure", "grants", ADMIN, method="PUT", body=json.dumps({"notebook": "lab/a.ipynb"})
    )
    assert json.loads(response.body) == {
        "name": ADMIN,
        "notebooks": ["lab/*.ipynb"],
        "personal": False,
    }
    code, answer = await failed(
        jp_fetch(
            "qsecure", "grants", ADMIN, method="PUT", body=json.dumps({"notebook": "mine/a.ipynb"})
        )
    )
    assert code == 409 and answer["reason"] == "qsecure-grant-in-policy"
    assert str(lab_policy) in answer["message"] and "ask the admin" in answer["message"]
    code, answer = await failed(jp_fetch("qsecure", "grants", ADMIN, method="DELETE"))
    assert code == 409 and answer["reason"] == "qsecure-grant-in-policy"
    assert not (jp_data_dir / "qsecure" / "personal-grants.json").exists()


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("PATH", {"notebook": "a.ipynb"}),
        ("JUPYTER_TOKEN", {"notebook": "a.ipynb"}),
        (MINE, {"notebook": "*.ipynb"}),
        (MINE, {"notebook": "../a.ipynb"}),
        (MINE, {"notebook": "notes.txt"}),
        (MINE, {"notebook": 3}),
        (MINE, {}),
        (MINE, "not json"),
    ],
)
async def test_bad_grants_are_a_400(lab_policy: Path, jp_fetch: Any, name: str, body: Any) -> None:
    text = body if isinstance(body, str) else json.dumps(body)
    code, answer = await failed(jp_fetch("qsecure", "grants", name, method="PUT", body=text))
    assert code == 400 and answer["reason"] == "qsecure-bad-request"


@pytest.fixture
def personal_off(
    keyring_env: dict[str, str], policy: Callable[[str], Path], jp_data_dir: Path
) -> Path:
    """A policy turning personal grants off, and a grants file made while they were on."""
    grants = jp_data_dir / "qsecure" / "personal-grants.json"
    grants.parent.mkdir(parents=True, exist_ok=True)
    from jupyter_qsecure.identity import server_user as current_user

    grants.write_text(
        json.dumps({"version": 1, "grants": {current_user(): {MINE: ["mine/run.ipynb"]}}})
    )
    return policy("[secrets]\npersonal_grants = false\n")


async def test_policy_can_turn_personal_grants_off(
    personal_off: Path, jp_fetch: Any, jp_serverapp: Any
) -> None:
    listed = json.loads(
        (await jp_fetch("qsecure", "secrets", params={"path": "mine/run.ipynb"})).body
    )
    assert listed["personal_grants"] is False and listed["secrets"] == []
    for method, body in (("PUT", json.dumps({"notebook": "mine/run.ipynb"})), ("DELETE", None)):
        code, answer = await failed(jp_fetch("qsecure", "grants", MINE, method=method, body=body))
        assert code == 403 and answer["reason"] == "qsecure-personal-grants-off"
        assert "personal_grants = false" in answer["message"]


@pytest.fixture
def earlier_grant(lab_policy: Path, jp_data_dir: Path) -> Path:
    """A grants file the server wrote before it was restarted."""
    grants = jp_data_dir / "qsecure" / "personal-grants.json"
    grants.parent.mkdir(parents=True, exist_ok=True)
    from jupyter_qsecure.identity import server_user as current_user

    grants.write_text(
        json.dumps(
            {
                "version": 1,
                "grants": {
                    current_user(): {MINE: ["mine/run.ipynb"], ADMIN: ["mine/run.ipynb"]},
                    "someone-else": {"OTHER_TOKEN": ["mine/run.ipynb"]},
                },
            }
        )
    )
    return grants


async def test_grants_made_before_a_restart_apply(earlier_grant: Path, jp_fetch: Any) -> None:
    listed = json.loads(
        (await jp_fetch("qsecure", "secrets", params={"path": "mine/run.ipynb"})).body
    )
    rows = {row["name"]: row for row in listed["secrets"]}
    assert set(rows) == {MINE, ADMIN}  # not another user's; the policy's LAB_TOKEN wins
    assert rows[MINE]["personal"] and rows[MINE]["granted"]
    assert not rows[ADMIN]["personal"] and not rows[ADMIN]["granted"]


@pytest.fixture
def broken_grants(lab_policy: Path, jp_data_dir: Path) -> Path:
    grants = jp_data_dir / "qsecure" / "personal-grants.json"
    grants.parent.mkdir(parents=True, exist_ok=True)
    grants.write_text("{not json")
    return grants


async def test_broken_grants_file_is_reported_and_kept(broken_grants: Path, jp_fetch: Any) -> None:
    listed = json.loads((await jp_fetch("qsecure", "secrets")).body)
    assert [row["name"] for row in listed["secrets"]] == [ADMIN]
    code, answer = await failed(
        jp_fetch("qsecure", "grants", MINE, method="PUT", body=json.dumps({"notebook": "a.ipynb"}))
    )
    assert code == 500 and answer["reason"] == "qsecure-personal-grants-unreadable"
    assert str(broken_grants) in answer["message"] and "not JSON" in answer["message"]
    assert broken_grants.read_text() == "{not json"


async def test_malformed_secret_body_is_not_logged(
    lab_policy: Path, value: str, jp_fetch: Any, server_log: Any
) -> None:
    code, answer = await failed(
        jp_fetch("qsecure", "secrets", MINE, method="PUT", body='{"value": "' + value)
    )
    assert code == 400 and answer["reason"] == "qsecure-bad-request"
    assert value not in json.dumps(answer) + server_log()


@pytest.mark.parametrize(
    ("method", "parts", "params", "body"),
    [
        ("POST", ("qsecure", "signature"), None, "{}"),
        ("GET", ("qsecure", "provenance"), {"path": "x.ipynb"}, None),
        ("POST", ("qsecure", "provenance"), None, "{}"),
        ("PUT", ("qsecure", "grants", MINE), None, '{"notebook": "a.ipynb"}'),
        ("DELETE", ("qsecure", "grants", MINE), None, None),
    ],
)
async def test_new_endpoints_require_authentication(
    jp_fetch: Any,
    method: str,
    parts: tuple[str, ...],
    params: dict[str, str] | None,
    body: str | None,
) -> None:
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch(
            *parts, method=method, params=params, body=body, headers={"Authorization": ""}
        )
    assert caught.value.code == 403, caught.value.code
