"""QSecureHubAuthorizer's decisions, with JupyterHub's own identity classes; and the
admin guide's custom ``Authorizer`` example in a real server.

The authorizer is built as ``jupyterhub-singleuser`` builds it for alice's default server
(the hub's environment variables, JupyterHub's ``JupyterHubIdentityProvider`` and
``HubOAuth``); each request's user is JupyterHub's ``JupyterHubUser`` with the scopes the
hub would answer for its token. ``tests/test_jupyterhub_sharing.py`` runs the same
authorizer under a real hub.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import as_notebook, code_cell
from jupyterhub.scopes import _custom_scope_pattern
from jupyterhub.singleuser.extension import JupyterHubIdentityProvider, JupyterHubUser
from tornado.httpclient import HTTPClientError
from traitlets.config import Config

from jupyter_qsecure.authz import (
    AUDIT,
    GUARD,
    PROVENANCE,
    RESOURCES,
    SECRETS,
    SIGNING,
    SIGNING_SETUP,
)
from jupyter_qsecure.hub_authorizer import (
    CUSTOM_SCOPES,
    QSecureHubAuthorizer,
    custom_scope,
    owner_only,
)

ADMIN_GUIDE = Path(__file__).resolve().parents[1] / "docs" / "admin.md"
ALICE_ACCESS = ["access:servers!server=alice/", "access:servers!user=alice"]
#: What a collaborator holds once alice shares her default server with them.
SHARED = ["access:servers!server=alice/"]
#: Jupyter's resources a collaborator keeps, with the actions its routes ask for.
JUPYTER = [
    ("write", "contents"),
    ("read", "contents"),
    ("execute", "kernels"),
    ("read", "sessions"),
]
#: What only the owner (or a holder of the custom scope) may do.
OWNERS = [("write", r) for r in (SECRETS, SIGNING, GUARD, PROVENANCE)] + [("read", AUDIT)]
READS = [("read", r) for r in (SECRETS, SIGNING, GUARD, PROVENANCE)]
#: The personal signing setup: its writes are the owner's too.
SETUP_OWNERS = [("write", SIGNING_SETUP)]


@pytest.fixture
def authorizer(monkeypatch: pytest.MonkeyPatch) -> QSecureHubAuthorizer:
    """The authorizer of alice's default server, configured as the hub starts it."""
    hub_environment = {
        "JUPYTERHUB_USER": "alice",
        "JUPYTERHUB_SERVER_NAME": "",
        "JUPYTERHUB_API_TOKEN": "server-token",
        "JUPYTERHUB_API_URL": "http://127.0.0.1:9/hub/api",
        "JUPYTERHUB_CLIENT_ID": "jupyterhub-user-alice",
        "JUPYTERHUB_OAUTH_ACCESS_SCOPES": json.dumps(ALICE_ACCESS),
    }
    for name, value in hub_environment.items():
        monkeypatch.setenv(name, value)
    return QSecureHubAuthorizer(identity_provider=JupyterHubIdentityProvider())


def hub_user(name: str, scopes: list[str], kind: str = "user") -> Any:
    """The request's user as the hub's identity provider makes it."""
    return JupyterHubUser({"kind": kind, "name": name, "scopes": scopes})


def allowed(
    authorizer: QSecureHubAuthorizer, user: Any, pairs: list[tuple[str, str]]
) -> list[bool]:
    return [authorizer.is_authorized(None, user, action, resource) for action, resource in pairs]


def test_the_owner_may_do_everything(authorizer: QSecureHubAuthorizer) -> None:
    alice = hub_user("alice", ["access:servers!user=alice", "read:users!user=alice"])
    assert allowed(authorizer, alice, JUPYTER + READS + OWNERS) == [True] * 13


def test_a_collaborator_edits_and_runs_but_neither_signs_writes_secrets_nor_reads_the_audit(
    authorizer: QSecureHubAuthorizer,
) -> None:
    bob = hub_user("bob", [*SHARED, "access:servers!user=bob"])
    assert allowed(authorizer, bob, JUPYTER + READS) == [True] * 8
    assert allowed(authorizer, bob, OWNERS) == [False] * 5


@pytest.mark.parametrize(
    ("granted", "expected"),
    [
        ("custom:qsecure:write:signing!server=alice/", [False, True, False, False, False]),
        ("custom:qsecure:write:signing!user=alice", [False, True, False, False, False]),
        ("custom:qsecure:write:signing", [False, True, False, False, False]),
        ("custom:qsecure:read:audit!server=alice/", [False, False, False, False, True]),
        ("custom:qsecure:write:secrets!server=alice/", [True, False, False, False, False]),
        # On another user's server, or another of alice's servers: not here.
        ("custom:qsecure:write:signing!server=carol/", [False] * 5),
        ("custom:qsecure:write:signing!server=alice/lab", [False] * 5),
        ("custom:qsecure:write:signing!user=carol", [False] * 5),
        # Reading the audit trail is not writing it, nor the reverse.
        ("custom:qsecure:read:signing!server=alice/", [False] * 5),
    ],
)
def test_a_custom_scope_delegates_one_capability_on_this_server(
    authorizer: QSecureHubAuthorizer, granted: str, expected: list[bool]
) -> None:
    carol = hub_user("carol", [*SHARED, granted])
    assert allowed(authorizer, carol, OWNERS) == expected
    assert allowed(authorizer, carol, JUPYTER) == [True] * 4


def test_no_access_to_the_server_means_nothing_even_with_a_custom_scope(
    authorizer: QSecureHubAuthorizer,
) -> None:
    # The hub answers for any token; only access:servers on this server lets it in.
    mallory = hub_user("mallory", ["access:servers!user=mallory", "custom:qsecure:write:signing"])
    assert allowed(authorizer, mallory, JUPYTER + READS + OWNERS) == [False] * 13
    # alice's own token without the access scope (a token made with only `identify`).
    alice = hub_user("alice", ["read:users:name!user=alice"])
    assert allowed(authorizer, alice, JUPYTER + OWNERS) == [False] * 9


def test_a_service_named_like_the_owner_is_not_the_owner(
    authorizer: QSecureHubAuthorizer,
) -> None:
    service = hub_user("alice", ["access:servers!server=alice/"], kind="service")
    assert allowed(authorizer, service, JUPYTER + READS) == [True] * 8
    assert allowed(authorizer, service, OWNERS) == [False] * 5


def test_without_a_hub_identity_nothing_is_allowed(authorizer: QSecureHubAuthorizer) -> None:
    from jupyter_server.auth import User

    assert allowed(authorizer, User(username="alice"), JUPYTER + READS + OWNERS) == [False] * 13


def test_with_no_owner_known_only_scope_holders_write(
    authorizer: QSecureHubAuthorizer,
) -> None:
    authorizer.owner = ""
    alice = hub_user("alice", ["access:servers!server=alice/"])
    holder = hub_user("carol", ["access:servers!server=alice/", "custom:qsecure:write:signing"])
    assert not authorizer.is_authorized(None, alice, "write", SIGNING)
    assert authorizer.is_authorized(None, holder, "write", SIGNING)


def test_owner_only_covers_every_qsecure_write_and_the_audit_trail() -> None:
    for resource in RESOURCES:
        assert owner_only("write", resource)
        assert owner_only("read", resource) is (resource == AUDIT)
    assert owner_only("write", "qsecure:a-capability-added-later")
    for action, resource in JUPYTER:
        assert not owner_only(action, resource)


def test_each_owner_only_pair_has_a_documented_custom_scope_jupyterhub_accepts() -> None:
    names = {custom_scope(action, resource) for action, resource in [*OWNERS, *SETUP_OWNERS]}
    assert names == set(CUSTOM_SCOPES)
    guide = ADMIN_GUIDE.read_text(encoding="utf-8")
    for name, definition in CUSTOM_SCOPES.items():
        assert _custom_scope_pattern.match(name), name
        assert definition["description"]
        assert re.search(rf"`{re.escape(name)}`", guide), f"{name} is not in docs/admin.md"


# The admin guide's own Authorizer example, in a real server -------------------------------

AUTHORIZER_SECTION = "### Your own `Authorizer`"


def documented_authorizer_config() -> str:
    """The ``python`` block of the admin guide's custom Authorizer example."""
    text = ADMIN_GUIDE.read_text(encoding="utf-8")
    section = text[text.index(AUTHORIZER_SECTION) :]
    start = section.index("```python\n") + len("```python\n")
    return section[start : section.index("```", start)]


@pytest.fixture
def jp_server_config(jp_server_config: Config) -> Config:
    """The suite's server, configured by the guide's ``jupyter_server_config.py`` example."""
    exec(documented_authorizer_config(), {"c": jp_server_config})  # noqa: S102  # the guide's text
    return jp_server_config


async def test_the_guides_authorizer_leaves_jupyter_and_reads_and_refuses_the_rest(
    jp_fetch: Any, jp_serverapp: Any
) -> None:
    assert type(jp_serverapp.authorizer).__name__ == "ReadOnlyQsecure"
    model = {"type": "notebook", "format": "json", "content": as_notebook(code_cell("a", "x = 1"))}
    saved = await jp_fetch("api", "contents", "kiosk.ipynb", method="PUT", body=json.dumps(model))
    assert saved.code == 201
    scan = {"path": "kiosk.ipynb", "model": model}
    for parts, method, body in [
        (("qsecure", "status"), "GET", None),
        (("qsecure", "signature"), "GET", None),
        (("qsecure", "scan"), "POST", scan),
    ]:
        params = {"path": "kiosk.ipynb"} if parts[-1] == "signature" else {}
        answer = await jp_fetch(
            *parts, method=method, params=params, body=None if body is None else json.dumps(body)
        )
        assert answer.code == 200, parts
    for parts, method, body in [
        (("qsecure", "sign"), "POST", {"path": "kiosk.ipynb"}),
        (("qsecure", "secrets", "LAB_KEY"), "PUT", {"value": "v" * 32}),
        (("qsecure", "grants", "LAB_KEY"), "PUT", {"notebook": "kiosk.ipynb"}),
        (("qsecure", "bypass"), "POST", {"fingerprint": "0" * 32, "reason": "false-positive"}),
        (("qsecure", "audit"), "GET", None),
    ]:
        with pytest.raises(HTTPClientError) as refused:
            await jp_fetch(*parts, method=method, body=None if body is None else json.dumps(body))
        assert refused.value.code == 403, parts
        assert refused.value.response is not None
        assert json.loads(refused.value.response.body)["reason"] == "qsecure-forbidden", parts
