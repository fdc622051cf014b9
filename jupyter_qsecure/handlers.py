"""REST API under /qsecure/, and the guarded contents API.

Handlers only translate HTTP to calls on the capabilities; every one is authenticated and
authorized, and errors are JSON ``{reason, message, ...}``.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_server.auth.decorator import allow_unauthenticated, authorized
from jupyter_server.base.handlers import APIHandler, path_regex
from jupyter_server.services.contents.handlers import ContentsHandler
from jupyter_server.utils import ensure_async
from tornado import web

from .guard import BYPASS_REASONS, UploadError
from .guard.save_guard import BLOCKED_STATUS, SaveBlocked, ScanFailed
from .secrets.errors import ProviderError
from .secrets.injection import current_user
from .secrets.personal import GrantInPolicy, PersonalGrantsError
from .secrets.service import PersonalGrantsOff

if TYPE_CHECKING:
    from .app import QSecureApp


class QSecureHandlerMixin:
    """Access to the extension app and JSON errors that carry a ``reason``."""

    settings: dict[str, Any]

    @property
    def qsecure(self) -> QSecureApp:
        app: QSecureApp = self.settings["jupyter_qsecure"]
        return app

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(error, (SaveBlocked, ScanFailed)):
            handler: Any = self
            handler.set_header("Content-Type", "application/json")
            handler.finish(json.dumps(error.to_json()))
            return
        super().write_error(status_code, **kwargs)  # type: ignore[misc]


def _json_error(status: int, reason: str, message: str) -> web.HTTPError:
    return web.HTTPError(status, message, reason=reason)


#: A secret's name, as in the URL of /qsecure/secrets/NAME and /qsecure/grants/NAME.
NAME_REGEX = r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)"


def _json_body(handler: Any, expected: str) -> dict[str, Any]:
    """The request's JSON object. Unlike ``get_json_body``, a body that is not JSON is
    never logged (it may hold a secret's value): the answer is a 400 naming ``expected``."""
    raw = handler.request.body
    try:
        body = json.loads(raw.decode("utf-8")) if raw.strip() else {}
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise _json_error(400, "qsecure-bad-request", f"send a JSON object {expected}")
    return body


def _relative_path(value: object, what: str) -> str:
    """A path relative to the server root, from a request (400 if it is not one)."""
    if not isinstance(value, str) or not value.strip("/"):
        raise _json_error(400, "qsecure-bad-request", f"{what}: give the notebook's path")
    path = value.strip("/")
    if ".." in path.split("/") or "\\" in path:
        raise _json_error(
            400, "qsecure-bad-request", f"{what}: a path relative to the server root, without .."
        )
    return path


def _notebook_problem(notebook: Any) -> str | None:
    """Why ``notebook`` is not an nbformat 4 notebook as an editor holds it, or None."""
    if not isinstance(notebook, dict):
        return "notebook must be the nbformat 4 JSON of the notebook"
    if notebook.get("nbformat") != 4 or isinstance(notebook.get("nbformat"), bool):
        return f"notebook must be nbformat 4, not {notebook.get('nbformat')!r}"
    if not isinstance(notebook.get("metadata", {}), dict):
        return "notebook.metadata must be an object"
    cells = notebook.get("cells")
    if not isinstance(cells, list):
        return "notebook.cells must be a list"
    for index, cell in enumerate(cells, 1):
        if not isinstance(cell, dict) or not isinstance(cell.get("metadata", {}), dict):
            return f"cell {index} must be an object whose metadata is an object"
    return None


def _editor_notebook(handler: Any) -> tuple[str, dict[str, Any]]:
    """``{path, notebook}`` from a request: the editor's (unsaved) content."""
    body = _json_body(handler, "{path, notebook}")
    path = _relative_path(body.get("path"), "path")
    notebook = body.get("notebook")
    problem = _notebook_problem(notebook)
    if problem is not None:
        raise _json_error(400, "qsecure-bad-request", f"send JSON {{path, notebook}}: {problem}")
    assert isinstance(notebook, dict)
    return path, notebook


class GuardedContentsHandler(QSecureHandlerMixin, ContentsHandler):
    """Jupyter's contents API with the guard's findings in refused writes' JSON, chunked
    uploads staged until the whole file is scanned, and directory copies scanned first.

    Ordinary saves are guarded by the ContentsManager pre-save hook, whoever calls it; this
    handler adds what a hook cannot see."""

    _parsed_body: Any = None

    def get_json_body(self) -> Any:
        # Parsed once: our put/post read the body before the base class does (1 MB: ~4 ms).
        if self._parsed_body is None:
            self._parsed_body = super().get_json_body()
        return self._parsed_body

    @web.authenticated
    @authorized
    async def put(self, path: str = "") -> None:
        model = self.get_json_body()
        if model and model.get("chunk") is not None:
            await self._staged_chunk(model, path)
            return
        await ensure_async(super().put(path))

    async def _staged_chunk(self, model: dict[str, Any], path: str) -> None:
        path = path.strip("/")
        chunk = model["chunk"]
        if not isinstance(chunk, int) or chunk == 0 or chunk < -1:
            raise _json_error(
                400, "qsecure-bad-upload", f"chunk must be 1, 2, ... or -1, not {chunk!r}"
            )
        content = model.get("content")
        if not isinstance(content, str):
            raise _json_error(400, "qsecure-bad-upload", "a chunk needs string content")
        try:
            whole = self.qsecure.upload_stage.add(path, chunk, content, model.get("format"))
        except UploadError as error:
            raise _json_error(BLOCKED_STATUS, "qsecure-bad-upload", str(error)) from None
        if whole is None:
            self.set_status(201 if chunk == 1 else 200)
            self.finish(json.dumps(self._staged_model(path)))
            return
        final = {
            "type": "file",
            "format": "base64",
            "content": base64.b64encode(whole).decode("ascii"),
        }
        saved = await ensure_async(self.contents_manager.save(final, path))
        self.set_status(201)
        self._finish_model(saved)

    def _staged_model(self, path: str) -> dict[str, Any]:
        """A contents model for a chunk held in memory (JupyterLab only checks its shape)."""
        from datetime import datetime, timezone

        now = datetime.now(timezone.utc).isoformat()
        return {
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "type": "file",
            "writable": True,
            "created": now,
            "last_modified": now,
            "mimetype": None,
            "content": None,
            "format": None,
            "size": None,
            "hash": None,
            "hash_algorithm": None,
        }

    @web.authenticated
    @authorized
    async def post(self, path: str = "") -> None:
        model = self.get_json_body()
        copy_from = model.get("copy_from") if model else None
        if isinstance(copy_from, str):
            await self._check_directory_copy(copy_from.strip("/"))
        await ensure_async(super().post(path))

    async def _check_directory_copy(self, source: str) -> None:
        """Copying a folder copies files the server never saw: scan them first."""
        cm = self.contents_manager
        if not await ensure_async(cm.dir_exists(source)):
            return
        root = Path(cm.root_dir)
        guard = self.qsecure.save_guard
        for file in sorted((root / source).rglob("*")):
            if file.is_file() and not file.is_symlink():
                relative = file.relative_to(root).as_posix()
                guard.check(
                    {
                        "type": "file",
                        "format": "base64",
                        "content": base64.b64encode(file.read_bytes()).decode("ascii"),
                    },
                    relative,
                )


class BypassHandler(QSecureHandlerMixin, APIHandler):
    """``POST /qsecure/bypass``: accept a finding by fingerprint, with a reason (audited)."""

    auth_resource = "contents"

    @web.authenticated
    @authorized
    def post(self) -> None:
        body = self.get_json_body() or {}
        fingerprint = body.get("fingerprint")
        reason = body.get("reason")
        path = body.get("path", "")
        if (
            not isinstance(fingerprint, str)
            or not isinstance(reason, str)
            or not isinstance(path, str)
        ):
            raise _json_error(
                400,
                "qsecure-bad-request",
                f"send JSON {{fingerprint, reason, path}}; reason is one of {', '.join(BYPASS_REASONS)}",
            )
        try:
            self.qsecure.save_guard.bypass(fingerprint, reason, path)
        except ValueError as error:
            raise _json_error(400, "qsecure-bad-request", str(error)) from None
        self.set_status(201)
        self.finish(
            json.dumps({"fingerprint": fingerprint, "reason": reason, "path": path.strip("/")})
        )


class ScanHandler(QSecureHandlerMixin, APIHandler):
    """``POST /qsecure/scan``: the findings the guard would report for a contents model,
    without saving (the frontend checks before it saves)."""

    auth_resource = "contents"

    @web.authenticated
    @authorized
    def post(self) -> None:
        body = self.get_json_body() or {}
        model = body.get("model")
        path = body.get("path", "")
        if not isinstance(model, dict) or not isinstance(path, str):
            raise _json_error(
                400, "qsecure-bad-request", "send JSON {path, model} with a contents model"
            )
        try:
            self.qsecure.save_guard.check(model, path, audit=False)
        except SaveBlocked as blocked:
            self.finish(
                json.dumps({"path": blocked.path, "findings": blocked.to_json()["findings"]})
            )
            return
        self.finish(json.dumps({"path": path.strip("/"), "findings": []}))


class SecretsHandler(QSecureHandlerMixin, APIHandler):
    """``GET /qsecure/secrets?path=NOTEBOOK``: names, sources and grants; never values."""

    auth_resource = "contents"

    @web.authenticated
    @authorized
    def get(self) -> None:
        path = self.get_argument("path", "").strip("/") or None
        app = self.qsecure
        rows = app.secrets.describe(current_user(), path)
        self.finish(
            json.dumps(
                {
                    "path": path,
                    "policy": app.policy.source,
                    "policy_error": app.policy_error,
                    "personal_grants": app.secrets.personal_enabled,
                    "secrets": rows,
                }
            )
        )


class SecretValueHandler(QSecureHandlerMixin, APIHandler):
    """``PUT /qsecure/secrets/NAME`` with ``{"value": ...}`` (write-only) and ``DELETE``."""

    auth_resource = "contents"

    @web.authenticated
    @authorized
    def put(self, name: str) -> None:
        body = _json_body(self, '{"value": "..."}')
        value = body.get("value")
        if not isinstance(value, str) or not value:
            raise _json_error(400, "qsecure-bad-request", 'send JSON {"value": "..."}')
        try:
            ref = self.qsecure.secrets.set_value(name, value)
        except ValueError as error:
            raise _json_error(400, "qsecure-bad-request", str(error)) from None
        except ProviderError as error:
            raise _json_error(
                _provider_status(error), f"qsecure-provider-{error.reason}", str(error)
            ) from None
        self.finish(
            json.dumps(
                {
                    "name": name,
                    "source": str(ref),
                    "in_policy": name in self.qsecure.policy.secrets.grants,
                }
            )
        )

    @web.authenticated
    @authorized
    def delete(self, name: str) -> None:
        try:
            self.qsecure.secrets.delete_value(name)
        except ProviderError as error:
            raise _json_error(
                _provider_status(error), f"qsecure-provider-{error.reason}", str(error)
            ) from None
        self.set_status(204)
        self.finish()


def _provider_status(error: ProviderError) -> int:
    return {"not-found": 404, "read-only": 405, "denied": 403, "misconfigured": 400}.get(
        error.reason, 503
    )


class KernelRefreshHandler(QSecureHandlerMixin, APIHandler):
    """``POST /qsecure/kernel/refresh``, called by a kernel to re-read its secrets.

    Authenticated by the kernel's capability (``Authorization: qsecure-capability ...``),
    which only that kernel holds, not by the server's token: a kernel never gets server
    credentials. It returns only the values granted to that kernel now. No cookie is
    involved, so there is nothing for a cross-site request to forge."""

    auth_resource = "contents"

    def check_xsrf_cookie(self) -> None:
        return None

    @allow_unauthenticated
    async def post(self) -> None:
        scheme, _, capability = self.request.headers.get("Authorization", "").partition(" ")
        record = (
            self.qsecure.registry.by_capability(capability)
            if scheme == "qsecure-capability" and capability
            else None
        )
        if record is None:
            raise _json_error(
                403,
                "qsecure-bad-capability",
                "refresh is only for a kernel started with jupyter-qsecure",
            )
        body = self.get_json_body() or {}
        names = body.get("names", [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise _json_error(400, "qsecure-bad-request", 'send JSON {"names": [...]}')
        values, problems = await asyncio.to_thread(self.qsecure.secrets.refresh, record, names)
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps({"values": values, "problems": problems}))


async def _notebook_content(handler: Any, path: str) -> dict[str, Any]:
    cm = handler.contents_manager
    if not path.endswith(".ipynb") or not await ensure_async(cm.file_exists(path)):
        raise _json_error(404, "qsecure-not-found", f"no notebook at {path!r}")
    model = await ensure_async(cm.get(path, content=True, type="notebook"))
    return dict(json.loads(json.dumps(model["content"])))


async def _saved_notebook(handler: Any) -> tuple[str, dict[str, Any]]:
    """``?path=NB`` of a request: the path and the saved notebook's content (404 if none)."""
    path = handler.get_argument("path", "").strip("/")
    return path, await _notebook_content(handler, path)


class SignatureHandler(QSecureHandlerMixin, APIHandler):
    """``GET /qsecure/signature?path=NB``: the saved notebook's signing status and the
    policy verdict (audited). ``POST`` with ``{path, notebook}``: the same for the editor's
    unsaved content, as it would be saved (not audited: the editor asks after each edit)."""

    auth_resource = "contents"

    @web.authenticated
    @authorized
    async def get(self) -> None:
        path, notebook = await _saved_notebook(self)
        try:
            verdict, answer = self.qsecure.signature_status(notebook)
        except ValueError as error:  # unreadable allowed_signers, a notebook without cell ids
            raise _json_error(422, "qsecure-cannot-verify", str(error)) from None
        self.qsecure.emit_signature_verified(path, verdict)
        self.finish(json.dumps({"path": path, **answer}))

    @web.authenticated
    @authorized
    async def post(self) -> None:
        path, notebook = _editor_notebook(self)
        try:
            answer = await asyncio.to_thread(self.qsecure.check_unsaved, notebook, path)
        except ValueError as error:
            raise _json_error(422, "qsecure-cannot-verify", str(error)) from None
        self.finish(json.dumps({"path": path, **answer}))


class SignHandler(QSecureHandlerMixin, APIHandler):
    """``POST /qsecure/sign`` with ``{path, role, principal?}``: sign on the server with the
    configured key or agent (private keys never travel over HTTP), then save."""

    auth_resource = "contents"

    @web.authenticated
    @authorized
    async def post(self) -> None:
        from .signing.sshsig import SignatureError

        body = self.get_json_body() or {}
        path = str(body.get("path", "")).strip("/")
        role = body.get("role", "author")
        principal = body.get("principal")
        if principal is not None and not isinstance(principal, str):
            raise _json_error(400, "qsecure-bad-request", "principal must be a string")
        notebook = await _notebook_content(self, path)
        self.qsecure.embed_provenance(notebook, path)  # what the save will embed, signed too
        try:
            entry = await asyncio.to_thread(
                self.qsecure.signing.sign, notebook, principal=principal, role=role
            )
        except ValueError as error:
            raise _json_error(400, "qsecure-bad-request", str(error)) from None
        except SignatureError as error:
            raise _json_error(422, f"qsecure-sign-{error.reason}", str(error)) from None
        await ensure_async(
            self.contents_manager.save({"type": "notebook", "content": notebook}, path)
        )
        self.qsecure.emit_signed(path, entry)
        _, answer = self.qsecure.signature_status(notebook)
        self.finish(
            json.dumps(
                {
                    "path": path,
                    "signature": {
                        k: entry[k] for k in ("principal", "role", "key_fingerprint", "signed_at")
                    },
                    **answer,
                }
            )
        )


class ProvenanceHandler(QSecureHandlerMixin, APIHandler):
    """``GET /qsecure/provenance?path=NB`` (the saved notebook) and ``POST`` with
    ``{path, notebook}`` (the editor's content): the notebook with its records embedded as
    a save would, judged cell by cell, for the provenance panel."""

    auth_resource = "contents"

    @web.authenticated
    @authorized
    async def get(self) -> None:
        path, notebook = await _saved_notebook(self)
        await self._answer(path, notebook)

    @web.authenticated
    @authorized
    async def post(self) -> None:
        path, notebook = _editor_notebook(self)
        await self._answer(path, notebook)

    async def _answer(self, path: str, notebook: dict[str, Any]) -> None:
        try:
            report = await asyncio.to_thread(self.qsecure.provenance_report, notebook, path)
        except ValueError as error:  # content with no canonical form (cannot be hashed)
            raise _json_error(422, "qsecure-cannot-judge", str(error)) from None
        self.finish(json.dumps(report))


class GrantHandler(QSecureHandlerMixin, APIHandler):
    """``PUT /qsecure/grants/NAME`` with ``{notebook}``: grant a keyring secret to a
    notebook for this user (a personal grant). ``DELETE ...?notebook=PATH`` withdraws it
    from one notebook, without ``notebook`` from all. Names the policy file defines are the
    admin's (409); the policy may turn personal grants off (403)."""

    auth_resource = "contents"

    @web.authenticated
    @authorized
    def put(self, name: str) -> None:
        body = _json_body(self, '{"notebook": "PATH"}')
        notebook = _relative_path(body.get("notebook"), "notebook")
        with _grant_errors():
            state = self.qsecure.grant_personal(name, notebook)
        self.finish(json.dumps(state.to_json()))

    @web.authenticated
    @authorized
    def delete(self, name: str) -> None:
        notebook = self.get_argument("notebook", None)
        if notebook is not None:
            notebook = _relative_path(notebook, "notebook")
        with _grant_errors():
            self.qsecure.revoke_personal(name, notebook)
        self.set_status(204)
        self.finish()


@contextmanager
def _grant_errors() -> Iterator[None]:
    """Personal grant errors as JSON answers."""
    try:
        yield
    except PersonalGrantsOff as error:
        raise _json_error(403, "qsecure-personal-grants-off", str(error)) from None
    except GrantInPolicy as error:
        raise _json_error(409, "qsecure-grant-in-policy", str(error)) from None
    except PersonalGrantsError as error:
        raise _json_error(500, "qsecure-personal-grants-unreadable", str(error)) from None
    except ValueError as error:
        raise _json_error(400, "qsecure-bad-request", str(error)) from None


def _contents_subresources() -> list[tuple[str, type]]:
    """jupyter_server's routes under a contents path (checkpoints, trust). Ours for
    ``/api/contents/PATH`` would otherwise take ``PATH/checkpoints`` for a file path."""
    from jupyter_server.services.contents import handlers as contents

    return [
        (pattern, handler)
        for pattern, handler in contents.default_handlers
        if pattern.startswith("/api/contents") and handler is not ContentsHandler
    ]


def handlers() -> list[tuple[str, type]]:
    """The extension's routes (the server prefixes its base URL)."""
    return [
        *_contents_subresources(),
        (rf"/api/contents{path_regex}", GuardedContentsHandler),
        (r"/qsecure/bypass", BypassHandler),
        (r"/qsecure/scan", ScanHandler),
        (r"/qsecure/secrets", SecretsHandler),
        (rf"/qsecure/secrets/{NAME_REGEX}", SecretValueHandler),
        (rf"/qsecure/grants/{NAME_REGEX}", GrantHandler),
        (r"/qsecure/kernel/refresh", KernelRefreshHandler),
        (r"/qsecure/signature", SignatureHandler),
        (r"/qsecure/sign", SignHandler),
        (r"/qsecure/provenance", ProvenanceHandler),
    ]
