"""Every route the extension registers is authorized against its own resource, acts as the
request's user, and never logs a request body.

The route inventory lists each route with the resource and action it must ask for. A route
the extension registers without an entry here, or a handler without a declared resource,
fails the suite. For each entry, a real server with an authorizer that denies exactly that
(action, resource) answers 403 with a JSON reason, and one that denies every other resource
lets the request through to the handler (which then answers its own status).
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
from jupyter_server.auth import Authorizer, IdentityProvider, User
from tornado.httpclient import HTTPClientError
from traitlets.config import Config

from jupyter_qsecure import authz
from jupyter_qsecure.handlers import (
    EventsHandler,
    EventsSocket,
    GuardedCheckpointsHandler,
    GuardedContentsHandler,
    GuardedModifyCheckpointsHandler,
    GuardedTrustHandler,
    KernelRefreshHandler,
    KernelRestartHandler,
    SessionModelHandler,
    SessionsHandler,
    handlers,
)

ALL_RESOURCES = (*authz.RESOURCES, "contents", "sessions", "kernels", "events")
#: jupyter_server's handlers we serve in its place: authorized as Jupyter authorizes them.
GUARDED_CONTENTS = (
    GuardedContentsHandler,
    GuardedCheckpointsHandler,
    GuardedModifyCheckpointsHandler,
    GuardedTrustHandler,
    SessionsHandler,
    SessionModelHandler,
    KernelRestartHandler,
    EventsHandler,
    EventsSocket,
)


class DenyingAuthorizer(Authorizer):
    """Denies the ``action:resource`` pairs in :attr:`denied` (``*:resource`` for both)."""

    denied: ClassVar[set[str]] = set()

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return not ({f"{action}:{resource}", f"*:{resource}"} & self.denied)


class NamedIdentityProvider(IdentityProvider):
    """Token logins are a named person (as JupyterHub's provider makes them)."""

    def generate_anonymous_user(self, handler: Any) -> User:
        return User(username="carol", name="Carol", display_name="Carol")


@pytest.fixture
def jp_server_config(jp_server_config: Config) -> Config:
    jp_server_config.ServerApp.authorizer_class = DenyingAuthorizer
    jp_server_config.ServerApp.identity_provider_class = NamedIdentityProvider
    return jp_server_config


@pytest.fixture(autouse=True)
def _allow_everything(keyring_env: dict[str, str]) -> Any:
    DenyingAuthorizer.denied = set()
    yield
    DenyingAuthorizer.denied = set()


@dataclass(frozen=True)
class Route:
    """One request to a route, what it must be authorized against, and the status the
    handler answers once authorized (bodies are chosen to change nothing)."""

    pattern: str
    method: str
    url: str
    resource: str
    action: str
    allowed_status: int
    body: dict[str, Any] | None = None
    #: Also needs ``read`` on ``contents``: it reads the saved notebook.
    reads_contents: bool = False


#: jupyter_server's pattern of a session's or kernel's id, and an id no kernel has.
UUID_REGEX = r"(?P<{}>\w+-\w+-\w+-\w+-\w+)"
NO_SUCH_ID = "00000000-0000-0000-0000-000000000000"

ROUTES = [
    Route(r"/qsecure/status", "GET", "qsecure/status", authz.GUARD, "read", 200),
    Route(r"/qsecure/scan", "POST", "qsecure/scan", authz.GUARD, "read", 400, {"model": 1}),
    Route(
        r"/qsecure/guard/notice",
        "GET",
        "qsecure/guard/notice?path=missing.ipynb",
        authz.GUARD,
        "read",
        200,
        reads_contents=True,
    ),
    Route(r"/qsecure/bypass", "POST", "qsecure/bypass", authz.GUARD, "write", 400, {"reason": 1}),
    Route(r"/qsecure/bypass", "GET", "qsecure/bypass", authz.GUARD, "read", 200),
    Route(r"/qsecure/bypass", "DELETE", "qsecure/bypass?id=0000", authz.GUARD, "write", 404),
    Route(r"/qsecure/secrets", "GET", "qsecure/secrets", authz.SECRETS, "read", 200),
    Route(
        r"/qsecure/secrets/(?P<name>[A-Za-z_][A-Za-z0-9_]*)",
        "PUT",
        "qsecure/secrets/NO_SUCH_SECRET",
        authz.SECRETS,
        "write",
        400,
        {"value": ""},
    ),
    Route(
        r"/qsecure/secrets/(?P<name>[A-Za-z_][A-Za-z0-9_]*)",
        "DELETE",
        "qsecure/secrets/NO_SUCH_SECRET",
        authz.SECRETS,
        "write",
        404,
    ),
    Route(
        r"/qsecure/grants/(?P<name>[A-Za-z_][A-Za-z0-9_]*)",
        "PUT",
        "qsecure/grants/NO_SUCH_SECRET",
        authz.SECRETS,
        "write",
        400,
        {"notebook": "../outside.ipynb"},
    ),
    Route(
        r"/qsecure/grants/(?P<name>[A-Za-z_][A-Za-z0-9_]*)",
        "DELETE",
        "qsecure/grants/NO_SUCH_SECRET?notebook=..%2Fx.ipynb",
        authz.SECRETS,
        "write",
        400,
    ),
    Route(
        r"/qsecure/signature",
        "GET",
        "qsecure/signature?path=missing.ipynb",
        authz.SIGNING,
        "read",
        404,
        reads_contents=True,
    ),
    Route(r"/qsecure/signature", "POST", "qsecure/signature", authz.SIGNING, "read", 400, {}),
    Route(r"/qsecure/sign", "POST", "qsecure/sign", authz.SIGNING, "write", 400, {}),
    Route(
        r"/qsecure/signing/setup",
        "GET",
        "qsecure/signing/setup",
        authz.SIGNING_SETUP,
        "read",
        200,
    ),
    Route(
        r"/qsecure/signing/setup",
        "POST",
        "qsecure/signing/setup",
        authz.SIGNING_SETUP,
        "write",
        400,
        {"key": "../outside.pub", "principal": "carol@lab.example"},
    ),
    Route(
        r"/qsecure/provenance",
        "GET",
        "qsecure/provenance?path=missing.ipynb",
        authz.PROVENANCE,
        "read",
        404,
        reads_contents=True,
    ),
    Route(r"/qsecure/provenance", "POST", "qsecure/provenance", authz.PROVENANCE, "read", 400, {}),
    Route(
        r"/qsecure/provenance/checkpoint",
        "POST",
        "qsecure/provenance/checkpoint",
        authz.PROVENANCE,
        "write",
        200,
        {},
    ),
    Route(r"/qsecure/audit", "GET", "qsecure/audit", authz.AUDIT, "read", 200),
    # jupyter_server's own, answering a refused kernel start with its reason.
    Route(r"/api/sessions", "GET", "api/sessions", "sessions", "read", 200),
    Route(r"/api/sessions", "POST", "api/sessions", "sessions", "write", 400, {}),
    # jupyter_server's own, acting for the request's user (kernel starts and restarts).
    Route(
        rf"/api/sessions/{UUID_REGEX.format('session_id')}",
        "GET",
        f"api/sessions/{NO_SUCH_ID}",
        "sessions",
        "read",
        404,
    ),
    Route(
        rf"/api/kernels/{UUID_REGEX.format('kernel_id')}/(?P<action>restart|interrupt)",
        "POST",
        f"api/kernels/{NO_SUCH_ID}/interrupt",
        "kernels",
        "write",
        404,
    ),
    Route(r"/api/events", "POST", "api/events", "events", "write", 400, {}),
    Route(
        r"/api/contents(?P<path>(?:(?:/[^/]+)+|/?))", "GET", "api/contents", "contents", "read", 200
    ),
    Route(
        r"/api/contents(?P<path>(?:(?:/[^/]+)+|/?))",
        "PUT",
        "api/contents/clean.txt",
        "contents",
        "write",
        201,
        {"type": "file", "format": "text", "content": "nothing to see\n"},
    ),
    Route(
        r"/api/contents(?P<path>(?:(?:/[^/]+)+|/?))",
        "POST",
        "api/contents",
        "contents",
        "write",
        201,
        {"type": "notebook"},
    ),
    Route(
        r"/api/contents(?P<path>(?:(?:/[^/]+)+|/?))",
        "PATCH",
        "api/contents/missing.txt",
        "contents",
        "write",
        404,
        {"path": "renamed.txt"},
    ),
    Route(
        r"/api/contents(?P<path>(?:(?:/[^/]+)+|/?))",
        "DELETE",
        "api/contents/missing.txt",
        "contents",
        "write",
        404,
    ),
    Route(
        r"/api/contents(?P<path>(?:(?:/[^/]+)+|/?))/checkpoints",
        "POST",
        "api/contents/missing.txt/checkpoints",
        "contents",
        "write",
        404,
    ),
    Route(
        r"/api/contents(?P<path>(?:(?:/[^/]+)+|/?))/checkpoints/(?P<checkpoint_id>[\w-]+)",
        "POST",
        "api/contents/missing.txt/checkpoints/checkpoint",
        "contents",
        "write",
        404,
    ),
    Route(
        r"/api/contents(?P<path>(?:(?:/[^/]+)+|/?))/checkpoints",
        "GET",
        "api/contents/missing.txt/checkpoints",
        "contents",
        "read",
        200,
    ),
    Route(
        r"/api/contents(?P<path>(?:(?:/[^/]+)+|/?))/checkpoints/(?P<checkpoint_id>[\w-]+)",
        "DELETE",
        "api/contents/missing.txt/checkpoints/checkpoint",
        "contents",
        "write",
        404,
    ),
    Route(
        r"/api/contents(?P<path>(?:(?:/[^/]+)+|/?))/trust",
        "POST",
        "api/contents/missing.ipynb/trust",
        "contents",
        "write",
        404,
    ),
]
#: Authenticated by a kernel's capability, not by a user: never by the authorizer.
CAPABILITY_ROUTES = {r"/qsecure/kernel/refresh": KernelRefreshHandler}
#: Websockets, authorized as jupyter_server authorizes them (tested below).
WEBSOCKET_ROUTES = {r"/api/events/subscribe": EventsSocket}


def _ours() -> list[tuple[str, type]]:
    from jupyter_server.services.contents import handlers as contents

    jupyters = {handler for _, handler in contents.default_handlers}
    return [(pattern, handler) for pattern, handler in handlers() if handler not in jupyters]


def test_every_route_is_in_the_inventory_with_a_declared_resource() -> None:
    listed = {route.pattern for route in ROUTES} | set(CAPABILITY_ROUTES) | set(WEBSOCKET_ROUTES)
    for pattern, handler in _ours():
        assert pattern in listed, f"{pattern} ({handler.__name__}) is not in the route inventory"
        resource = getattr(handler, "auth_resource", None)
        assert resource in ALL_RESOURCES, f"{handler.__name__} declares no qsecure resource"
        if handler not in GUARDED_CONTENTS:
            assert resource in authz.RESOURCES, f"{handler.__name__} must use a qsecure:* resource"
        methods = {m for m in ("get", "put", "post", "delete", "patch") if m in vars(handler)}
        tried = {r.method.lower() for r in ROUTES if r.pattern == pattern}
        if pattern not in CAPABILITY_ROUTES and pattern not in WEBSOCKET_ROUTES:
            assert methods <= tried, f"{pattern}: methods {methods - tried} are not tried"
    assert {pattern for pattern, _ in _ours()} == listed


def _id(route: Route) -> str:
    return f"{route.method} {route.url.split('?')[0]}"


async def _status(jp_fetch: Any, route: Route) -> tuple[int, dict[str, Any]]:
    url, _, query = route.url.partition("?")
    params = dict(part.split("=", 1) for part in query.split("&")) if query else None
    kwargs: dict[str, Any] = {"method": route.method}
    if params:
        from urllib.parse import unquote

        kwargs["params"] = {k: unquote(v) for k, v in params.items()}
    if route.body is not None:
        kwargs["body"] = json.dumps(route.body)
    elif route.method in ("POST", "PUT"):
        kwargs["body"] = "{}"
    try:
        response = await jp_fetch(*url.split("/"), **kwargs)
    except HTTPClientError as error:
        raw = error.response.body if error.response is not None else None
        return error.code, json.loads(raw or b"{}")
    return response.code, json.loads(response.body or b"{}")


@pytest.mark.parametrize("route", ROUTES, ids=_id)
async def test_denied_without_its_resource(jp_fetch: Any, route: Route) -> None:
    DenyingAuthorizer.denied = {f"{route.action}:{route.resource}"}
    status, body = await _status(jp_fetch, route)
    assert status == 403
    if route.resource not in ("contents", "sessions", "kernels", "events"):  # jupyter_server's
        assert body["reason"] == "qsecure-forbidden"
        assert route.resource in body["message"]


@pytest.mark.parametrize("route", ROUTES, ids=_id)
async def test_allowed_with_its_resource_alone(jp_fetch: Any, route: Route) -> None:
    DenyingAuthorizer.denied = {f"*:{r}" for r in ALL_RESOURCES if r != route.resource}
    if (route.url.startswith("api/contents") and route.method != "GET") or route.reads_contents:
        DenyingAuthorizer.denied.discard("*:contents")
    status, _ = await _status(jp_fetch, route)
    assert status == route.allowed_status


async def test_read_only_guard_scans_but_cannot_accept(jp_fetch: Any) -> None:
    DenyingAuthorizer.denied = {f"write:{authz.GUARD}"}
    scan = next(r for r in ROUTES if r.url == "qsecure/scan")
    bypass = next(r for r in ROUTES if r.url == "qsecure/bypass")
    assert (await _status(jp_fetch, scan))[0] == 400
    assert (await _status(jp_fetch, bypass))[0] == 403


async def test_the_collaboration_notice_needs_contents_read_too(jp_fetch: Any) -> None:
    """The notice names a file and its findings' places: read on the guard is not enough."""
    DenyingAuthorizer.denied = {"read:contents"}
    notice = next(r for r in ROUTES if r.pattern == r"/qsecure/guard/notice")
    status, body = await _status(jp_fetch, notice)
    assert status == 403 and body["reason"] == "qsecure-forbidden"
    assert "contents" in body["message"]
    DenyingAuthorizer.denied = set()
    assert await _status(jp_fetch, notice) == (200, {"notice": None})


async def test_signing_needs_contents_write_too(jp_fetch: Any, jp_root_dir: Path) -> None:
    (jp_root_dir / "a.ipynb").write_text(
        json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []})
    )
    DenyingAuthorizer.denied = {"write:contents"}
    status, body = await _status(
        jp_fetch,
        Route("", "POST", "qsecure/sign", authz.SIGNING, "write", 0, {"path": "a.ipynb"}),
    )
    assert status == 403 and body["reason"] == "qsecure-forbidden"
    assert "contents" in body["message"]


async def test_a_user_token_is_no_kernel_capability(jp_fetch: Any) -> None:
    status, body = await _status(
        jp_fetch, Route("", "POST", "qsecure/kernel/refresh", authz.SECRETS, "write", 0, {})
    )
    assert status == 403 and body["reason"] == "qsecure-bad-capability"


async def test_actions_are_attributed_to_the_request_user(
    jp_fetch: Any, audit_events: Any, jp_root_dir: Path
) -> None:
    fingerprint = "0" * 32
    await jp_fetch(
        "qsecure",
        "bypass",
        method="POST",
        body=json.dumps({"fingerprint": fingerprint, "reason": "test_credential", "path": "x.py"}),
    )
    token = "ghp_" + secrets.token_hex(18)
    with pytest.raises(HTTPClientError) as refused:
        await jp_fetch(
            "api",
            "contents",
            "leak.py",
            method="PUT",
            body=json.dumps({"type": "file", "format": "text", "content": f"t = '{token}'\n"}),
        )
    assert refused.value.code == 422
    by_kind = {e["__schema__"].rsplit("/", 2)[-2]: e for e in audit_events()}
    assert by_kind["save-bypassed"]["user"] == "carol"
    assert by_kind["save-blocked"]["user"] == "carol"


MALFORMED_ROUTES = [
    ("POST", "qsecure/scan"),
    ("POST", "qsecure/bypass"),
    ("POST", "qsecure/sign"),
    ("POST", "qsecure/signature"),
    ("POST", "qsecure/provenance"),
    ("PUT", "qsecure/secrets/MY_TOKEN"),
    ("PUT", "qsecure/grants/MY_TOKEN"),
    ("POST", "qsecure/kernel/refresh"),
    ("PUT", "api/contents/leak.ipynb"),
    ("POST", "api/contents"),
    ("PATCH", "api/contents/leak.ipynb"),
    ("POST", "qsecure/signing/setup"),
    ("POST", "api/sessions"),
    ("POST", "api/events"),
]


@pytest.mark.parametrize(("method", "url"), MALFORMED_ROUTES)
async def test_malformed_bodies_are_never_logged(
    jp_fetch: Any, server_log: Any, method: str, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = "ghp_" + secrets.token_hex(18)
    body = '{"value": "' + token + '", "notebook": {"cells": [' + token  # not JSON
    with pytest.raises(HTTPClientError) as refused:
        await jp_fetch(*url.split("/"), method=method, body=body)
    assert refused.value.code == (403 if url.endswith("refresh") else 400)
    assert token not in server_log()
    assert token not in caplog.text
    assert refused.value.response is not None
    assert token.encode() not in (refused.value.response.body or b"")


def _credential() -> tuple[str, list[str]]:
    """A credential with characters every encoding changes, and the forms it must never be
    logged in: raw, JSON-escaped, URL-encoded and base64 (all hold its random core but
    base64, which is listed as well)."""
    import base64
    from urllib.parse import quote

    core = secrets.token_hex(16)
    value = f'pw/{core}+"{secrets.token_hex(4)}='
    forms = [
        core,
        value,
        json.dumps(value)[1:-1],
        quote(value, safe=""),
        base64.b64encode(value.encode()).decode().rstrip("="),
    ]
    return value, forms


#: Valid JSON whose fields hold a credential where a name, a path or an enum was expected
#: (a paste into the wrong field): the refusal may say what was wrong, the log never.
WRONG_FIELD_BODIES: list[tuple[str, str, Any]] = [
    ("POST", "qsecure/bypass", lambda v: {"fingerprint": "0" * 32, "reason": v, "path": "a"}),
    ("POST", "qsecure/bypass", lambda v: {"fingerprint": v, "reason": "test_credential"}),
    ("POST", "qsecure/signing/setup", lambda v: {"key": v, "principal": "carol@lab.example"}),
    ("POST", "qsecure/signing/setup", lambda v: {"generate": True, "principal": v}),
    ("POST", "qsecure/signing/setup", lambda v: {"generate": v, "principal": "c@lab.example"}),
    ("PUT", "qsecure/grants/MY_TOKEN", lambda v: {"notebook": v}),
    ("PUT", "qsecure/secrets/MY_TOKEN", lambda v: {"value": v}),  # the right field: stored
    ("POST", "qsecure/sign", lambda v: {"path": v}),
    ("POST", "qsecure/sign", lambda v: {"path": "missing.ipynb", "role": v}),
    ("POST", "qsecure/signature", lambda v: {"path": v, "notebook": {"nbformat": v}}),
    ("POST", "qsecure/provenance", lambda v: {"path": "a.ipynb", "notebook": {"nbformat": v}}),
    ("POST", "qsecure/scan", lambda v: {"path": "a.py", "model": {"type": "file", "content": v}}),
    ("PUT", "api/contents/a.txt", lambda v: {"type": "file", "format": v, "content": "x"}),
    ("PUT", "api/contents/a.txt", lambda v: {"type": v, "content": "x"}),
    ("PUT", "api/contents/a.txt", lambda v: {"type": "file", "format": "base64", "content": v}),
    ("PUT", "api/contents/u.txt", lambda v: {"type": "file", "chunk": v, "content": "eA=="}),
    ("PATCH", "api/contents/missing.txt", lambda v: {"path": v}),
]


@pytest.mark.parametrize(
    ("method", "url", "make"),
    WRONG_FIELD_BODIES,
    ids=[f"{m} {u}" for m, u, _ in WRONG_FIELD_BODIES],
)
async def test_a_credential_in_a_wrong_field_is_never_logged(
    jp_fetch: Any,
    server_log: Any,
    qsecure_app: Any,
    method: str,
    url: str,
    make: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    value, forms = _credential()
    refused: HTTPClientError | None = None
    try:
        await jp_fetch(*url.split("/"), method=method, body=json.dumps(make(value)))
    except HTTPClientError as error:
        refused = error
    if refused is not None:  # answered as every error: JSON, a reason, no traceback
        assert refused.code < 500 and refused.response is not None
        answer = json.loads(refused.response.body or b"{}")
        assert isinstance(answer.get("reason"), str) and answer["reason"]
        assert "traceback" not in answer
    trail = qsecure_app._state_dir() / "audit.jsonl"
    logged = server_log() + caplog.text + (trail.read_text() if trail.exists() else "")
    for form in forms:
        assert form not in logged, f"the credential is in the log as {form!r}"


def _documented_routes() -> dict[str, str]:
    """docs/admin.md's table of resources and routes: each resource's rows, as text."""
    text = (Path(__file__).parent.parent / "docs" / "admin.md").read_text(encoding="utf-8")
    table = text.split("### Resources and routes", 1)[1].split("\n\n", 2)[1]
    rows: dict[str, str] = {}
    resource = ""
    for line in table.splitlines()[2:]:
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        resource = cells[0].split()[0].strip("`") if cells[0] else resource
        rows[resource] = rows.get(resource, "") + " | ".join(cells[1:]) + "\n"
    return rows


def test_every_route_is_documented_with_its_resource_and_action() -> None:
    """The admin guide's table names each /qsecure/ route and method under the resource,
    on a row with the action, that the route is authorized against."""
    documented = _documented_routes()
    for route in ROUTES:
        if not route.url.startswith("qsecure/"):
            continue
        path = "/" + re.sub(r"(NO_SUCH_SECRET|MY_TOKEN)", "NAME", route.url.split("?")[0])
        rows = [row for row in documented.get(route.resource, "").splitlines() if path in row]
        assert any(
            re.search(rf"`{route.method} {re.escape(path)}`|{route.method}`, ", row)
            and f"`{route.action}`" in row
            for row in rows
        ), f"{route.method} {path}: not in docs/admin.md under {route.resource} ({route.action})"


def _event(kind: str, **data: Any) -> dict[str, Any]:
    return {
        "schema_id": f"https://events.jupyter.org/jupyter_qsecure/{kind}/v1",
        "version": 1,
        "data": data,
        "timestamp": "2020-01-01T00:00:00+00:00Z",
    }


async def test_no_request_writes_into_the_audit_trail(jp_fetch: Any, qsecure_app: Any) -> None:
    """jupyter_server's POST /api/events emits any registered schema, with any user and
    timestamp: a forged, backdated 'notebook-signed' by alice went into the audit trail."""
    trail = qsecure_app._state_dir() / "audit.jsonl"
    before = trail.read_bytes()
    forged = _event(
        "notebook-signed",
        path="x.ipynb",
        user="alice",
        principal="alice@lab.example",
        role="author",
        key_fingerprint="SHA256:" + secrets.token_hex(8),
    )
    with pytest.raises(HTTPClientError) as refused:
        await jp_fetch("api", "events", method="POST", body=json.dumps(forged))
    assert refused.value.code == 403 and refused.value.response is not None
    assert json.loads(refused.value.response.body)["reason"] == "qsecure-forbidden"
    assert trail.read_bytes() == before


async def _events_until_contents_save(socket: Any) -> list[str]:
    """Schema ids received until jupyter_server's event for a save arrives."""
    import asyncio

    seen: list[str] = []
    while True:
        message = await asyncio.wait_for(socket.read_message(), 30)
        assert message is not None, "the events socket closed"
        schema = json.loads(message)["schema_id"]
        seen.append(schema)
        if "contents_service" in schema:
            return seen


@pytest.mark.parametrize("reads_audit", [False, True])
async def test_audit_events_reach_only_subscribers_who_may_read_the_audit_trail(
    jp_fetch: Any, jp_ws_fetch: Any, reads_audit: bool
) -> None:
    if not reads_audit:
        DenyingAuthorizer.denied = {f"read:{authz.AUDIT}"}
    socket = await jp_ws_fetch("api", "events", "subscribe")
    try:
        token = "ghp_" + secrets.token_hex(18)
        with pytest.raises(HTTPClientError):
            await jp_fetch(
                "api",
                "contents",
                "leak.py",
                method="PUT",
                body=json.dumps({"type": "file", "format": "text", "content": f"t = '{token}'"}),
            )
        await jp_fetch(
            "api",
            "contents",
            "clean.py",
            method="PUT",
            body=json.dumps({"type": "file", "format": "text", "content": "x = 1\n"}),
        )
        seen = await _events_until_contents_save(socket)
    finally:
        socket.close()
    blocked = any("jupyter_qsecure/save-blocked" in schema for schema in seen)
    assert blocked is reads_audit, seen


@pytest.mark.parametrize(
    "url",
    [
        "qsecure/signature?path=a.ipynb",
        "qsecure/provenance?path=a.ipynb",
        "qsecure/signing/setup?path=a.ipynb",
    ],
)
async def test_reading_a_saved_notebook_needs_read_on_contents(
    jp_fetch: Any, jp_root_dir: Path, url: str
) -> None:
    """A user who may not open notebooks cannot learn about one through a capability's
    route either (its signature, provenance timeline, accepted findings)."""
    (jp_root_dir / "a.ipynb").write_text(
        json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []})
    )
    route = Route("", "GET", url, "contents", "read", 0)
    DenyingAuthorizer.denied = {"read:contents"}
    status, body = await _status(jp_fetch, route)
    assert status == 403 and body["reason"] == "qsecure-forbidden"
    assert "read on contents" in body["message"]
    DenyingAuthorizer.denied = set()
    assert (await _status(jp_fetch, route))[0] == 200


async def test_a_scan_names_a_path_under_the_root(jp_fetch: Any) -> None:
    """The guard reads a .secrets.baseline from the file's git repository: a scan of a
    path outside the root would read one there (accepting what it lists) and probe
    folders the server does not serve."""
    model = {"type": "file", "format": "text", "content": "x = 1\n"}
    status, body = await _status(
        jp_fetch,
        Route(
            "", "POST", "qsecure/scan", authz.GUARD, "read", 0, {"path": "../x.py", "model": model}
        ),
    )
    assert status == 400 and body["reason"] == "qsecure-bad-request"
    assert "without .." in body["message"]


@pytest.fixture
def lab_grant(policy: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """LAB_TOKEN granted to every notebook (before the server starts)."""
    from conftest import LAB_TOKEN_GRANT

    monkeypatch.setenv("LAB_TOKEN_SOURCE", f"lab-{secrets.token_hex(16)}")
    policy(LAB_TOKEN_GRANT)


async def test_a_kernel_start_is_attributed_to_the_user_who_started_it(
    lab_grant: None, jp_fetch: Any, audit_events: Any
) -> None:
    """On a shared server the kernel runs as its owner with the owner's grants, but the
    audit trail names who started it (its unusual-notebook anomaly says 'for <user>')."""
    from kernel_client import open_session

    session = await open_session(jp_fetch, "a.ipynb")
    try:
        [injected] = [e for e in audit_events() if e["__schema__"].endswith("secret-injected/v1")]
    finally:
        await jp_fetch("api", "sessions", session["id"], method="DELETE")
    assert injected["names"] == ["LAB_TOKEN"] and injected["user"] == "carol"


def _injections(audit_events: Any) -> list[tuple[str, str | None]]:
    """Who each secret-injected event names, and its restart (None for a start)."""
    return [
        (e["user"], e.get("restart"))
        for e in audit_events()
        if e["__schema__"].endswith("secret-injected/v1")
    ]


async def test_a_change_of_kernel_is_attributed_to_the_user_who_asked(
    lab_grant: None, jp_fetch: Any, audit_events: Any
) -> None:
    """JupyterLab's Change Kernel (``PATCH /api/sessions/ID``) starts a kernel for the
    notebook: audited as started by the request's user, as the session's first one."""
    from kernel_client import open_session

    session = await open_session(jp_fetch, "a.ipynb")
    try:
        await jp_fetch(
            "api",
            "sessions",
            session["id"],
            method="PATCH",
            body=json.dumps({"kernel": {"name": "python3"}}),
        )
    finally:
        await jp_fetch("api", "sessions", session["id"], method="DELETE")
    assert _injections(audit_events) == [("carol", None), ("carol", None)]


async def test_a_kernel_restart_names_who_asked_and_an_automatic_one_no_one(
    lab_grant: None, jp_fetch: Any, jp_serverapp: Any, audit_events: Any
) -> None:
    """JupyterLab's Restart Kernel (``POST /api/kernels/ID/restart``) is audited as asked
    for by the request's user; when the kernel then dies and the server restarts it by
    itself, the record says so and names no one (neither the server's user nor whoever
    started or last restarted the kernel)."""
    import asyncio
    import os
    import signal

    from kernel_client import open_session

    from jupyter_qsecure.events import SECRET_INJECTED

    injected: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    restarted: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    kernel_actions = "https://events.jupyter.org/jupyter_server/kernel_actions/v1"

    async def listener(logger: Any, schema_id: str, data: dict[str, Any]) -> None:
        if schema_id == SECRET_INJECTED:
            injected.put_nowait(data)
        elif data.get("action") == "restart":
            restarted.put_nowait(data)

    events = jp_serverapp.event_logger
    for schema_id in (SECRET_INJECTED, kernel_actions):
        events.add_listener(schema_id=schema_id, listener=listener)
    session = await open_session(jp_fetch, "a.ipynb")
    kernel_id = session["kernel"]["id"]
    try:
        await asyncio.wait_for(injected.get(), 60)
        await jp_fetch("api", "kernels", kernel_id, "restart", method="POST", body="{}")
        await asyncio.wait_for(restarted.get(), 60)
        process = jp_serverapp.kernel_manager.get_kernel(kernel_id).provisioner.process
        os.kill(process.pid, signal.SIGKILL)
        await asyncio.wait_for(restarted.get(), 60)  # the restarter polls every 3 s
    finally:
        events.remove_listener(listener=listener)
        await jp_fetch("api", "sessions", session["id"], method="DELETE")
    *_, automatic = [injected.get_nowait() for _ in range(injected.qsize())]
    assert automatic["kernel_id"] == kernel_id and automatic["names"] == ["LAB_TOKEN"]
    assert _injections(audit_events) == [
        ("carol", None),
        ("carol", "requested"),
        ("", "automatic"),
    ]
