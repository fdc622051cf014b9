"""On a server shared with a collaborator, the secrets panel says what the collaborator's
kernels get: they run as the server's user, with that user's grants (docs/jupyterhub.md),
so the panel judges `users = [...]` for the server's user, not for the request's. Real
server, real kernels, a hub-like identity named by a request header."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from header_identity import USER_HEADER, header_identity
from tornado.httpclient import HTTPClientError
from traitlets.config import Config


@pytest.fixture
def jp_server_config(jp_server_config: Config) -> Config:
    jp_server_config.ServerApp.identity_provider_class = header_identity("alice")
    return jp_server_config


@pytest.fixture
def alices_server(policy: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """alice's server; one secret granted to alice's kernels, one to bob's."""
    monkeypatch.setenv("JUPYTERHUB_USER", "alice")
    for name in ("FOR_ALICE", "FOR_BOB"):
        monkeypatch.setenv(f"{name}_SOURCE", f"lab-{secrets.token_hex(16)}")
    policy(
        "".join(
            f'[secrets.{name}]\nsource = "env://{name}_SOURCE"\n'
            f'notebooks = ["**/*.ipynb"]\nusers = ["{user}"]\n'
            for name, user in (("FOR_ALICE", "alice"), ("FOR_BOB", "bob"))
        )
    )


@pytest.mark.usefixtures("alices_server")
@pytest.mark.parametrize("requester", ["alice", "bob"])
async def test_the_panel_says_what_the_requesters_kernel_gets(
    jp_fetch: Any, qsecure_app: Any, requester: str
) -> None:
    headers = {USER_HEADER: requester}
    body = {
        "path": "nb.ipynb",
        "type": "notebook",
        "name": "nb.ipynb",
        "kernel": {"name": "python3"},
    }
    response = await jp_fetch(
        "api", "sessions", method="POST", body=json.dumps(body), headers=headers
    )
    session = json.loads(response.body)
    try:
        record = qsecure_app.registry.get(session["kernel"]["id"])
        assert sorted(record.values) == ["FOR_ALICE"]
        response = await jp_fetch(
            "qsecure", "secrets", params={"path": "nb.ipynb"}, headers=headers
        )
        rows = {r["name"]: r for r in json.loads(response.body)["secrets"]}
        # FOR_BOB never reaches a kernel of alice's server: bob is not told it does.
        assert sorted(rows) == ["FOR_ALICE"]
        assert (rows["FOR_ALICE"]["granted"], rows["FOR_ALICE"]["in_kernel"]) == (True, True)
    finally:
        await jp_fetch("api", "sessions", session["id"], method="DELETE", headers=headers)


@pytest.mark.usefixtures("alices_server")
async def test_only_the_servers_user_changes_its_personal_grants(jp_fetch: Any) -> None:
    """bob's personal grant on alice's server was stored under his name and never applied:
    alice's keyring and kernels are hers. It is refused, and alice's own still works."""
    body = json.dumps({"notebook": "nb.ipynb"})
    for method, args in (("PUT", {"body": body}), ("DELETE", {})):
        with pytest.raises(HTTPClientError) as caught:
            await jp_fetch(
                "qsecure", "grants", "LAB_KEY", method=method, headers={USER_HEADER: "bob"}, **args
            )
        assert caught.value.code == 403
        answer = json.loads(caught.value.response.body)
        assert answer["reason"] == "qsecure-not-the-servers-user"
        assert "alice" in answer["message"]
    granted = await jp_fetch(
        "qsecure", "grants", "LAB_KEY", method="PUT", body=body, headers={USER_HEADER: "alice"}
    )
    assert json.loads(granted.body)["notebooks"] == ["nb.ipynb"]
