"""The write-path inventory: every route and method the running server answers (from its
own handler list, jupyter_server's and every enabled extension's), each either proven
guarded by a leaking request or listed with why it writes nothing under the root.

A route or method a future jupyter_server (or jupyter-collaboration, when installed)
adds fails :func:`test_every_route_and_method_is_in_the_inventory` until it is handled
here: guarded and proven, or explained.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError
from tornado.routing import PathMatches, Rule, RuleRouter
from tornado.web import RequestHandler
from traitlets.config import Config

METHODS = ("get", "put", "post", "patch", "delete")
CONTENTS = r"/api/contents(?P<path>(?:(?:/[^/]+)+|/?))"
CHECKPOINT = r"/(?P<checkpoint_id>[\w-]+)"

#: (route, method) -> how a leaking request is made and refused (see LEAKS below).
GUARDED = {
    (CONTENTS, "PUT"): "save",
    (CONTENTS, "POST"): "copy",
    (CONTENTS + "/checkpoints", "POST"): "checkpoint",
    (CONTENTS + "/checkpoints" + CHECKPOINT, "POST"): "restore",
}
#: (route, method) -> why it writes no content under the root.
NOT_WRITING = {
    (CONTENTS, "GET"): "reads",
    (CONTENTS, "PATCH"): "renames within the root; never into or out of where policy is read "
    "(test_write_paths_policy)",
    (CONTENTS, "DELETE"): "deletes; never where policy is read (test_write_paths_policy)",
    (CONTENTS + "/checkpoints", "GET"): "reads",
    (CONTENTS + "/checkpoints" + CHECKPOINT, "DELETE"): "deletes a checkpoint",
    (CONTENTS + "/trust", "POST"): "signs cells in the notary database: hashes, no content",
    (r"/api/notebooks/?(.*)", "*"): "redirects to /api/contents",
    (r"/api/me", "GET"): "reads",
    (r"/api/me", "PATCH"): "updates the user's identity in memory",
    (r"/api/config/(?P<section_name>\w+)", "GET"): "reads",
    (r"/api/config/(?P<section_name>\w+)", "PUT"): "frontend settings in the Jupyter config "
    "folder, outside the served tree (NOT scanned: see docs/guard.md)",
    (r"/api/config/(?P<section_name>\w+)", "PATCH"): "as PUT",
    (r"/api/kernels", "*"): "starts kernels: code run in a kernel is the user's",
    (r"/api/kernels/(?P<kernel_id>\w+-\w+-\w+-\w+-\w+)", "*"): "kernel lifecycle",
    (r"/api/kernels/(?P<kernel_id>\w+-\w+-\w+-\w+-\w+)/(?P<action>restart|interrupt)", "*"): (
        "kernel lifecycle"
    ),
    (r"/api/kernels/(?P<kernel_id>\w+-\w+-\w+-\w+-\w+)/channels", "*"): "kernel messages",
    (r"/api/sessions", "*"): "sessions in memory (no file is created)",
    (r"/api/sessions/(?P<session_id>\w+-\w+-\w+-\w+-\w+)", "*"): "sessions in memory",
    (r"/nbconvert/(?P<format>\w+)", "POST"): "converts the posted notebook into the answer",
    (r"/api/security/csp-report", "POST"): "logs a browser report",
    (r"/api/shutdown", "POST"): "stops the server",
    (r"/api/events", "POST"): "emits an event to registered schemas",
    (r"/login", "POST"): "logs in",
    (r"/.*/", "*"): "redirects",
    (r"/", "*"): "redirects",
    (r"/qsecure/bypass", "POST"): "a fingerprint into the bypass store (never a value)",
    (r"/qsecure/bypass", "DELETE"): "removes one of the user's acceptances from the bypass "
    "store, outside the served tree",
    (r"/qsecure/scan", "POST"): "reads",
    (r"/qsecure/signature", "POST"): "reads",
    (r"/qsecure/provenance", "POST"): "reads",
    (r"/qsecure/provenance/checkpoint", "POST"): "a signed checkpoint line beside the "
    "provenance store, outside the served tree",
    (r"/qsecure/sign", "POST"): "saves through the contents manager: its pre-save hook scans",
    (r"/qsecure/signing/setup", "POST"): "the user's signing setup in the state folder, and "
    "a new key ssh-keygen writes in ~/.ssh (never an existing file)",
    (r"/qsecure/secrets/(?P<name>[A-Za-z_][A-Za-z0-9_]*)", "*"): "writes the secret store",
    (r"/qsecure/grants/(?P<name>[A-Za-z_][A-Za-z0-9_]*)", "*"): "grants in the state folder",
    (r"/qsecure/kernel/refresh", "POST"): "answers a kernel",
    **{
        (route, "GET"): "reads"
        for route in (
            r"/api",
            r"/api/kernelspecs",
            r"/api/kernelspecs/(?P<kernel_name>[\w\.\-%]+)",
            r"/api/nbconvert",
            r"/api/resolvePath",
            r"/api/status",
            r"/login",
            r"/logout",
            r"/metrics",
            r"/nbconvert/(?P<format>\w+)(?P<path>(?:(?:/[^/]+)+|/?))",
            r"/view(?P<path>(?:(?:/[^/]+)+|/?))",
            r"/qsecure/audit",
            r"/qsecure/bypass",
            r"/qsecure/guard/notice",
            r"/qsecure/provenance",
            r"/qsecure/secrets",
            r"/qsecure/signature",
            r"/qsecure/signing/setup",
            r"/qsecure/status",
        )
    },
    (r"/api/events/subscribe", "GET"): "a websocket that only sends server events",
    # jupyter-collaboration: documents live in memory; what reaches the disk is the
    # document's save, through the contents manager and its pre-save hook, and the Y store,
    # jupyter-qsecure's own, outside the served tree (tests/test_collaboration.py).
    (r"/api/collaboration/room/(.*)", "GET"): "the Y document websocket: edits in memory, "
    "saved through the guarded contents manager and the guarded Y store",
    (r"/api/collaboration/session/(.*)", "PUT"): "a room's file id and format, in memory "
    "and in the collaboration sessions file (no document content)",
    (r"/api/collaboration/fork/(.*)", "GET"): "reads",
    (r"/api/collaboration/fork/(.*)", "PUT"): "a fork of a room, in memory",
    (r"/api/collaboration/fork/(.*)", "DELETE"): "merges a fork into its room, in memory: "
    "saved as the room is",
    (r"/api/collaboration/timeline/(.*)", "GET"): "a fork at a point of the room's history, "
    "in memory",
    (r"/api/collaboration/undo_redo/(.*)", "PUT"): "undo or redo in a fork, in memory",
    # JupyterLab and Notebook 7 (jupyterlab_server): pages, and the user's frontend state.
    **{
        (route, "GET"): "pages and what they read"
        for route in (
            r"/(?P<mode>lab|doc)(?P<workspace>/workspaces/[a-zA-Z0-9\-\_]+)?(?P<tree>/tree/.*)?",
            r"/consoles/(.*)",
            r"/custom/custom.css",
            r"/edit(.*)",
            r"/lab/.*",
            r"/notebooks(.*)",
            r"/terminals/(.*)",
            r"/tree(.*)",
        )
    },
    (r"/lab/api/workspaces/?", "PUT"): "a workspace (layout and the frontend's state) in the "
    "Jupyter config folder's lab/workspaces, outside the served tree (NOT scanned: see "
    "docs/guard.md)",
    (r"/lab/api/workspaces/(?P<space_name>.+)", "PUT"): "as PUT /lab/api/workspaces",
    (r"/lab/api/workspaces/?", "DELETE"): "deletes a workspace",
    (r"/lab/api/workspaces/(?P<space_name>.+)", "DELETE"): "deletes a workspace",
    (r"/lab/api/settings/?", "PUT"): "the user's settings in the Jupyter config folder's "
    "lab/user-settings, outside the served tree (NOT scanned: see docs/guard.md)",
    (r"/lab/api/settings/(?P<schema_name>.+)", "PUT"): "as PUT /lab/api/settings",
    (r"/lab/api/plugins", "POST"): "enables or disables a plugin by name in the config folder",
    (r"/lab/api/extensions", "POST"): "installs or enables an extension (a package)",
    (r"/lab/api/build", "POST"): "builds JupyterLab in its application folder",
    (r"/lab/api/build", "DELETE"): "cancels a build",
}


def _handler_rules(router: RuleRouter) -> list[Rule]:
    found: list[Rule] = []
    for rule in router.rules:
        if isinstance(rule.target, RuleRouter):
            found += _handler_rules(rule.target)
        else:
            found.append(rule)
    return found


def served_routes(serverapp: Any) -> dict[tuple[str, str], type]:
    """(route without base URL, METHOD) -> the handler that answers it (the first match,
    as tornado routes), for every handler the running server has."""
    base = serverapp.base_url.rstrip("/")
    routes: dict[tuple[str, str], type] = {}
    for rule in _handler_rules(serverapp.web_app.default_router):
        handler = rule.target
        if not (isinstance(handler, type) and issubclass(handler, RequestHandler)):
            continue
        if not isinstance(rule.matcher, PathMatches):
            continue
        pattern = rule.matcher.regex.pattern.removesuffix("$")
        if not pattern.startswith(base + "/") and pattern != base + "/":
            continue  # static files outside the base URL
        pattern = pattern[len(base) :]
        for method in METHODS:
            own = getattr(handler, method) is not getattr(RequestHandler, method)
            if own and method.upper() in handler.SUPPORTED_METHODS:
                routes.setdefault((pattern, method.upper()), handler)
    return routes


def _listed(route: tuple[str, str]) -> bool:
    pattern, method = route
    if method == "GET" and pattern.startswith("/lab/api/"):
        return True  # JupyterLab's API reads with GET
    return route in GUARDED or route in NOT_WRITING or (pattern, "*") in NOT_WRITING


@pytest.fixture
def jp_server_config(jp_server_config: Config) -> Config:
    # jupyter-collaboration's server extension, when installed
    if importlib.util.find_spec("jupyter_server_ydoc") is not None:
        jp_server_config.ServerApp.jpserver_extensions["jupyter_server_ydoc"] = True
    return jp_server_config


def _unlisted(serverapp: Any) -> list[tuple[str, str]]:
    from tornado.web import StaticFileHandler

    routes = served_routes(serverapp)
    assert (CONTENTS, "PUT") in routes  # the walk found the server's handlers
    return sorted(
        route
        for route, handler in routes.items()
        if not _listed(route) and not issubclass(handler, StaticFileHandler)
    )


COLLABORATION = r"/api/collaboration/"


async def test_every_route_and_method_is_in_the_inventory(jp_serverapp: Any) -> None:
    unlisted = [r for r in _unlisted(jp_serverapp) if not r[0].startswith(COLLABORATION)]
    assert not unlisted, (
        "routes that may write under the root and are neither proven guarded nor explained "
        f"in the write-path inventory: {unlisted}"
    )


async def test_every_collaboration_route_is_in_the_inventory(jp_serverapp: Any) -> None:
    if importlib.util.find_spec("jupyter_server_ydoc") is None:
        pytest.skip("jupyter-collaboration is not installed")
    unlisted = [r for r in _unlisted(jp_serverapp) if r[0].startswith(COLLABORATION)]
    assert not unlisted, f"jupyter-collaboration routes not in the inventory: {unlisted}"


class TestWithJupyterLab:
    """The routes JupyterLab and Notebook 7 add (when installed), as a lab serves them."""

    @pytest.fixture
    def jp_server_config(self, jp_server_config: Config) -> Config:
        for extension in ("jupyterlab", "notebook"):
            if importlib.util.find_spec(extension) is None:
                pytest.skip(f"{extension} is not installed")
            jp_server_config.ServerApp.jpserver_extensions[extension] = True
        return jp_server_config

    async def test_every_route_and_method_is_in_the_inventory(self, jp_serverapp: Any) -> None:
        unlisted = [r for r in _unlisted(jp_serverapp) if not r[0].startswith(COLLABORATION)]
        assert not unlisted, f"JupyterLab routes not in the inventory: {unlisted}"


async def test_every_guarded_route_is_answered_by_a_qsecure_handler(jp_serverapp: Any) -> None:
    routes = served_routes(jp_serverapp)
    for route in GUARDED:
        assert routes[route].__module__ == "jupyter_qsecure.handlers", route


LEAK = "ghp_" + "x7Qm2Lp9Zr4Tb8Wc1Vn6Ks3Hd5Jf0Ya2Ue4Io"


async def _leaking_request(kind: str, jp_fetch: Any, root: Path) -> Any:
    leaking = f"token = '{LEAK}'\n"
    if kind == "save":
        body = json.dumps({"type": "file", "format": "text", "content": leaking})
        return await jp_fetch("api", "contents", "leak.py", method="PUT", body=body)
    if kind == "copy":
        (root / "outside.py").write_text(leaking)
        body = json.dumps({"copy_from": "outside.py"})
        return await jp_fetch("api", "contents", "", method="POST", body=body)
    if kind == "checkpoint":
        (root / "pulled.py").write_text(leaking)
        return await jp_fetch("api", "contents", "pulled.py", "checkpoints", method="POST", body="")
    assert kind == "restore"
    (root / "clean.py").write_text("x = 1\n")
    created = await jp_fetch("api", "contents", "clean.py", "checkpoints", method="POST", body="")
    checkpoint_id = json.loads(created.body)["id"]
    for stored in (root / ".ipynb_checkpoints").iterdir():
        stored.write_text(leaking)
    return await jp_fetch(
        "api", "contents", "clean.py", "checkpoints", checkpoint_id, method="POST", body=""
    )


@pytest.mark.parametrize("route", sorted(GUARDED), ids=lambda r: f"{r[1]} {GUARDED[r]}")
async def test_each_guarded_route_refuses_a_leaking_request(
    jp_fetch: Any, jp_root_dir: Path, audit_events: Any, route: tuple[str, str]
) -> None:
    with pytest.raises(HTTPClientError) as caught:
        await _leaking_request(GUARDED[route], jp_fetch, jp_root_dir)
    assert caught.value.code == 422
    assert caught.value.response is not None
    assert json.loads(caught.value.response.body)["reason"] == "qsecure-leak"
    holding = {
        p.relative_to(jp_root_dir).as_posix()
        for p in jp_root_dir.rglob("*")
        if p.is_file() and LEAK.encode() in p.read_bytes()
    }
    # only what the test itself wrote outside the server
    assert holding <= {"outside.py", "pulled.py", ".ipynb_checkpoints/clean-checkpoint.py"}
    assert [e for e in audit_events() if e["__schema__"].endswith("save-blocked/v1")]
