"""REST API under /qsecure/, and the guarded contents API.

Handlers only translate HTTP to one call on a capability's service. Every one is
authenticated and authorized against its capability's resource (:mod:`.authz`), acts as
the request's user, reads its body without ever logging it, runs store, file and scan
work off the event loop, and answers errors as JSON ``{reason, message, ...}``.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http.client import responses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_server.auth.decorator import allow_unauthenticated, authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.services.contents.handlers import (
    CheckpointsHandler,
    ContentsHandler,
    ModifyCheckpointsHandler,
    TrustNotebooksHandler,
    validate_model,
)
from jupyter_server.services.events.handlers import EventHandler, SubscribeWebsocket
from jupyter_server.services.kernels.handlers import KernelActionHandler
from jupyter_server.services.sessions.handlers import SessionHandler, SessionRootHandler
from jupyter_server.utils import ensure_async
from tornado import web

from . import authz, events
from ._shown import logged, shown_json
from .gate import GuardUnavailable, ServiceUnavailable
from .guard import (
    BYPASS_REASONS,
    AllowlistError,
    SaveBlocked,
    ScanFailed,
    UploadError,
    scanned_in_a_thread,
)
from .guard.save_guard import (
    BLOCKED_STATUS,
    CopyRefused,
    ProtectedPath,
    copies_files,
    prechecked,
)
from .guard.uploads import UploadTooLarge, staged_model
from .identity import (
    act_for_this_task,
    acting_user,
    request_restart,
    request_user_name,
    server_user,
)
from .rest import (
    contents_model_problem,
    contents_path_problem,
    editor_notebook,
    json_body,
    relative_path,
    request_error,
    session_model_problem,
)
from .secrets.errors import ProviderError
from .secrets.personal import GrantInPolicy, PersonalGrantsError
from .secrets.provisioner import KernelStartRefused
from .secrets.service import NotTheServersUser, PersonalGrantsOff
from .signing.service import (
    NoSigningKey,
    NotebookNotFound,
    NotYourPrincipal,
    SigningKeyChanged,
    check_one_reading,
    load_notebook,
)

if TYPE_CHECKING:
    from .app import QSecureApp
    from .signing import SigningService

#: Errors whose own JSON body (findings, path) is the answer.
_SELF_DESCRIBING = (SaveBlocked, ScanFailed, GuardUnavailable, CopyRefused, ProtectedPath)


class ActsForTheRequestUser:
    """A handler whose work (and the audit events and log lines it makes) is the
    request's user's: set for the task serving the request, after the server's own
    ``prepare`` (which authenticates)."""

    current_user: Any
    identity_provider: Any

    async def prepare(self, *args: Any, **kwargs: Any) -> Any:
        await super().prepare(*args, **kwargs)  # type: ignore[misc]
        act_for_this_task(request_user_name(self.current_user, self.identity_provider))


class JSONErrors:
    """Every error as JSON ``{reason, message}``: jupyter-qsecure's routes, and the
    server's routes it serves in the server's place (their errors would otherwise carry
    a null ``reason``, or a traceback)."""

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Every error as JSON ``{reason, message}``, never logged (a refusal's message
        may quote the request, a credential pasted into the wrong field included)."""
        error = kwargs.get("exc_info", (None, None, None))[1]
        handler: Any = self
        if isinstance(error, (*_SELF_DESCRIBING, ServiceUnavailable)):
            answer = error.to_json()
        elif isinstance(error, web.HTTPError):
            message = _http_message(error)
            if error.reason:
                answer = {"reason": error.reason, "message": message}
            else:
                # jupyter_server's own refusals (authorization, XSRF) carry no reason.
                reason = {
                    400: "qsecure-bad-request",
                    403: "qsecure-forbidden",
                    404: "qsecure-not-found",
                }.get(status_code, "qsecure-error")
                answer = {"reason": reason, "message": _refusal_message(message)}
        elif error is not None:  # a fault: no traceback, no exception text
            answer = {
                "reason": "qsecure-error",
                "message": f"the server failed to answer ({type(error).__name__}); "
                "its log has the details",
            }
        else:
            answer = {"reason": "qsecure-error", "message": responses.get(status_code, "Error")}
        handler.set_header("Content-Type", "application/json")
        handler.finish(json.dumps(answer))


class QSecureHandlerMixin(ActsForTheRequestUser, JSONErrors):
    """The extension app, the request's user, a body reader that never logs, and JSON
    errors that always carry a ``reason``."""

    settings: dict[str, Any]
    request: Any
    current_user: Any

    @property
    def qsecure(self) -> QSecureApp:
        app: QSecureApp = self.settings["jupyter_qsecure"]
        return app

    def get_json_body(self) -> dict[str, Any] | None:
        """The body as JSON; a malformed body is answered 400 and never logged (it may
        hold a credential)."""
        if not self.request.body:
            return None
        return json_body(self, "in the request body")

    def require_guard(self, path: str) -> None:
        """Refuse a write of ``path`` while jupyter-qsecure is not fully loaded (503)."""
        self.qsecure.check_writable(path)

    def check_contents_path(self, path: str, *, to_write: bool = False, file: bool = False) -> None:
        """Refuse (400) a contents path that can name no file or folder (a NUL, a name too
        long, a file taken for a folder, or for a write a folder that does not exist): the
        contents manager would fail on it with a 500 and a traceback."""
        handler: Any = self
        root = Path(handler.contents_manager.root_dir)
        problem = contents_path_problem(root, path, to_write=to_write, file=file)
        if problem is not None:
            shown = self.qsecure.save_guard.masked(problem)
            raise request_error(400, "qsecure-bad-path", shown)

    def log_exception(self, typ: Any, value: BaseException | None, tb: Any) -> None:
        """Log a refused request by its status, method, path (no query) and reason only: its
        message may quote the body. A server fault (5xx) keeps its message; an exception
        of ours its traceback. jupyter_server logs every request besides."""
        handler: Any = self
        summary = logged(f"{self.request.method} {self.request.path}")
        if isinstance(value, web.HTTPError):
            if value.status_code >= 500:
                message = logged(_http_message(value))
                handler.log.warning("%d %s: %s", value.status_code, summary, message)
            else:
                reason = logged(value.reason)
                handler.log.debug("%d %s refused: %s", value.status_code, summary, reason)
            return
        handler.log.error("jupyter-qsecure: %s failed", summary, exc_info=(typ, value, tb))


def _http_message(error: web.HTTPError) -> str:
    """An HTTPError's message, its arguments filled in."""
    message = error.log_message or responses.get(error.status_code, "Error")
    if error.args:
        with suppress(TypeError, ValueError):
            message = message % error.args
    return message


class QSecureAPIHandler(QSecureHandlerMixin, APIHandler):
    """A /qsecure/ route: acts as the request's user."""


class SessionsHandler(ActsForTheRequestUser, JSONErrors, SessionRootHandler):
    """``/api/sessions`` as jupyter_server serves it, except that a kernel start refused
    by jupyter-qsecure keeps its answer: jupyter_server turns every error of a start into a
    500 without a reason; this one is a 503 ``qsecure-secrets-unavailable`` naming the
    secrets and their stores' errors (never a value). A kernel it starts is audited as
    started by the request's user."""

    def get_json_body(self) -> dict[str, Any] | None:
        """The body as a session model; a malformed one is a 400 and never logged (jupyter
        server's reader logs it at DEBUG)."""
        return _session_body(self)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Answer a refused start with its own status and reason, and a refusal of the
        request that the server wrapped in its 500 (a path the contents manager refuses)
        with its own 4xx; anything else as the other routes do."""
        exc_info = kwargs.get("exc_info")
        refused = _start_refusal(exc_info)
        if refused is not None:
            self.set_status(refused.status_code)
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps({"reason": refused.reason, "message": refused.message}))
            return
        error = exc_info[1] if exc_info else None
        cause = getattr(error, "__cause__", None)
        if isinstance(cause, web.HTTPError) and 400 <= cause.status_code < 500:
            self.set_status(cause.status_code)
            kwargs["exc_info"] = (type(cause), cause, cause.__traceback__)
            status_code = cause.status_code
        super().write_error(status_code, **kwargs)


class SessionModelHandler(ActsForTheRequestUser, JSONErrors, SessionHandler):
    """``/api/sessions/ID`` as jupyter_server serves it; a kernel a ``PATCH`` starts (a
    change of kernel) is audited as started by the request's user."""

    def get_json_body(self) -> dict[str, Any] | None:
        """The body as a session model; a malformed one is a 400 and never logged (jupyter
        server's reader logs it, and answers 500 to a body that is not UTF-8)."""
        return _session_body(self)


def _session_body(handler: Any) -> dict[str, Any] | None:
    """A request's session model, None without a body; 400 for a body that is no JSON
    object, or whose fields have the wrong types (jupyter_server answers those 500)."""
    if not handler.request.body:
        return None
    model = json_body(handler, "in the request body")
    problem = session_model_problem(model)
    if problem is not None:
        raise request_error(400, "qsecure-bad-request", f"send a session model: {problem}")
    return model


#: Kernel id -> the lock its restarts take turns on, and how many restarts hold or await it.
_restart_turns: dict[str, tuple[asyncio.Lock, int]] = {}


class KernelRestartHandler(ActsForTheRequestUser, JSONErrors, KernelActionHandler):
    """``/api/kernels/ID/restart`` and ``.../interrupt`` as jupyter_server serves them; a
    restart is audited as asked for by the request's user (JupyterLab's Restart Kernel).
    Restarts of one kernel take turns: jupyter_client runs two at once on one kernel
    manager, and then one answers 500 and leaves a kernel process running, its secrets
    in its environment, that nothing manages or stops."""

    async def prepare(self) -> None:  # type: ignore[override]  # as APIHandler
        await super().prepare()
        if self.path_kwargs.get("action") == "restart":
            request_restart(self.path_kwargs["kernel_id"])

    @web.authenticated
    @authorized
    async def post(self, kernel_id: str, action: str) -> None:
        """jupyter_server's answer; a restart once the one under way ended."""
        if action != "restart":
            await ensure_async(super().post(kernel_id, action))
            return
        if kernel_id not in self.kernel_manager:  # jupyter_server: a 500 and a traceback
            raise request_error(404, "qsecure-not-found", f"no kernel {kernel_id} is running")
        lock, count = _restart_turns.get(kernel_id, (asyncio.Lock(), 0))
        _restart_turns[kernel_id] = (lock, count + 1)
        try:
            async with lock:
                await ensure_async(super().post(kernel_id, action))
        finally:
            lock, count = _restart_turns[kernel_id]
            if count == 1:
                del _restart_turns[kernel_id]
            else:
                _restart_turns[kernel_id] = (lock, count - 1)


class EventsHandler(JSONErrors, EventHandler):
    """``POST /api/events`` as jupyter_server serves it (``write`` on ``events``), except
    for jupyter-qsecure's audit events: only the server emits them, so no request can
    write a forged or backdated entry into the audit trail."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        """Refuse an event of jupyter-qsecure's schemas (403); emit any other."""
        payload = self.get_json_body()
        schema_id = payload.get("schema_id") if isinstance(payload, dict) else None
        if isinstance(schema_id, str) and schema_id.startswith(events.SCHEMA_BASE):
            raise request_error(
                403,
                "qsecure-forbidden",
                "jupyter-qsecure's audit events are emitted by the server itself, "
                "never through POST /api/events",
            )
        await ensure_async(super().post())

    def get_json_body(self) -> dict[str, Any] | None:
        """The body, read once, never logged."""
        if not hasattr(self, "_qsecure_body"):
            self._qsecure_body = (
                json_body(self, "in the request body") if self.request.body else None
            )
        return self._qsecure_body


class EventsSocket(SubscribeWebsocket):
    """``/api/events/subscribe`` as jupyter_server serves it, except that jupyter-qsecure's
    audit events go only to a subscriber who may read the audit trail (``read`` on
    ``qsecure:audit``), as ``GET /qsecure/audit`` does."""

    _reads_audit = False

    async def pre_get(self) -> None:
        """Authorize the subscription as jupyter_server does, and note whether this user
        may read the audit trail."""
        await super().pre_get()
        self._reads_audit = bool(
            await ensure_async(
                self.authorizer.is_authorized(self, self.current_user, "read", authz.AUDIT)
            )
        )

    async def event_listener(self, logger: Any, schema_id: str, data: dict[str, Any]) -> None:
        """Send the event unless it is an audit event this subscriber may not read."""
        if schema_id.startswith(events.SCHEMA_BASE) and not self._reads_audit:
            return
        await super().event_listener(logger, schema_id, data)


def _start_refusal(exc_info: Any) -> KernelStartRefused | None:
    """The refusal behind a server error, if a kernel start was refused."""
    error = exc_info[1] if exc_info else None
    while error is not None:
        if isinstance(error, KernelStartRefused):
            return error
        error = error.__cause__ or error.__context__
    return None


class GuardedContentsHandler(QSecureHandlerMixin, ContentsHandler):
    """Jupyter's contents API with the guard's findings in refused writes' JSON, saves
    scanned off the event loop, chunked uploads staged until the whole file is scanned,
    and folder copies scanned first. Authorized as Jupyter's ``contents``.

    Every save is also checked by the ContentsManager pre-save hook, whoever calls it;
    this handler adds what a hook cannot see."""

    _parsed_body: Any = None

    def get_json_body(self) -> dict[str, Any] | None:
        # Parsed once: our put/post read the body before the base class does (1 MB: ~4 ms).
        # Any body but a JSON object (an array, a number, bad JSON) is a 400, never logged.
        if self._parsed_body is None:
            self._parsed_body = super().get_json_body()
        return self._parsed_body  # type: ignore[no-any-return]

    async def _finish_error(self, code: int, message: str) -> None:
        """jupyter_server's 404 of a GET, as JSON ``{reason, message}`` (its own is text)."""
        self.set_status(code)
        self.set_header("Content-Type", "application/json")
        reason = "qsecure-not-found" if code == 404 else "qsecure-error"
        await self.finish(json.dumps({"reason": reason, "message": message}))

    def _check_model(self, path: str, model: Any) -> None:
        """Refuse (400) a PUT body that is no contents model, or a PUT to the root,
        before the contents manager fails on it with a 500."""
        if not model:
            return
        if not path.strip("/"):
            raise request_error(
                400, "qsecure-bad-path", "give the path to write: PUT /api/contents/PATH"
            )
        self._check_model_fields(model)

    @staticmethod
    def _check_model_fields(model: Any) -> None:
        """Refuse (400) a body (when there is one) whose fields are not a contents
        model's (:func:`contents_model_problem`)."""
        problem = contents_model_problem(model) if model else None
        if problem is not None:
            raise request_error(400, "qsecure-bad-model", f"send a contents model: {problem}")

    @web.authenticated
    @authorized
    async def get(self, path: str = "") -> None:
        self.check_contents_path(path)
        await ensure_async(super().get(path))

    @web.authenticated
    @authorized
    async def put(self, path: str = "") -> None:
        self.require_guard(path)
        self.check_contents_path(path)
        model = self.get_json_body()
        self._check_model(path, model)
        guard = self.qsecure.save_guard
        # Before the ContentsManager logs the path, a name holding a credential is
        # refused (with content, by guard.check below). Without a body: a new untitled
        # file in the folder ``path``.
        if not model:
            self._check_new_name(path, None)
        elif model.get("chunk") is not None or model.get("content") is None:
            guard.check_name(path, directory=model.get("type") == "directory")
        if model and model.get("chunk") is not None:
            self.check_contents_path(path, to_write=True, file=True)
            await self._staged_chunk(model, path.strip("/"))
            return
        if isinstance(model, dict) and model.get("content") is not None:
            await asyncio.to_thread(guard.check, model, path)
            prechecked.set(model)  # the pre-save hook need not scan it again
        # The guard first (a credential in a name is refused and audited wherever it goes).
        is_file = model is not None and bool(model) and model.get("type") != "directory"
        self.check_contents_path(path, to_write=bool(model), file=is_file)
        await ensure_async(super().put(path))

    async def _staged_chunk(self, model: dict[str, Any], path: str) -> None:
        try:
            whole = self.qsecure.upload_stage.receive(path, model)
        except UploadTooLarge as error:
            raise request_error(413, "qsecure-upload-too-large", str(error)) from None
        except UploadError as error:
            raise request_error(BLOCKED_STATUS, "qsecure-bad-upload", str(error)) from None
        if whole is None:
            self.set_status(201 if model["chunk"] == 1 else 200)
            self.finish(json.dumps(staged_model(path)))
            return
        await asyncio.to_thread(self.qsecure.save_guard.check, whole, path)
        prechecked.set(whole)
        saved = await ensure_async(self.contents_manager.save(whole, path))
        self.set_status(201)
        self._finish_model(saved)

    @web.authenticated
    @authorized
    async def post(self, path: str = "") -> None:
        self.require_guard(path)
        self.check_contents_path(path, to_write=True)
        model = self.get_json_body()
        self._check_model_fields(model)
        self._check_new_name(path, model)
        await ensure_async(super().post(path))

    def _check_new_name(self, folder: str, model: dict[str, Any] | None) -> None:
        """Refuse a new file or copy whose name would hold a credential, before the
        ContentsManager logs it: the server picks the name from the folder, the
        extension asked for, or the copied file's name."""
        guard = self.qsecure.save_guard
        model = model if isinstance(model, dict) else {}
        copy_from = model.get("copy_from")
        if isinstance(copy_from, str) and copy_from.strip("/"):
            source = copy_from.strip("/").rsplit("/", 1)[-1]
            guard.check_name(f"{folder.strip('/')}/{source}", write="copy")
            return
        ext = model.get("ext")
        name = f"untitled{ext}" if isinstance(ext, str) and ext else "untitled"
        guard.check_name(f"{folder.strip('/')}/{name}", write="new")

    @web.authenticated
    @authorized
    async def patch(self, path: str = "") -> None:
        self.require_guard(path)
        self.check_contents_path(path)
        model = self.get_json_body()
        guard = self.qsecure.save_guard
        guard.check_not_protected(path, moved=True)
        self._check_model_fields(model)
        if isinstance(model, dict) and isinstance(model.get("path"), str):
            self.check_contents_path(model["path"])
            guard.check_name(model["path"], write="rename")
            guard.check_not_protected(model["path"])
            self.check_contents_path(model["path"], to_write=True)
        await ensure_async(super().patch(path))

    @web.authenticated
    @authorized
    async def delete(self, path: str = "") -> None:
        self.require_guard(path)
        self.check_contents_path(path)
        self.qsecure.save_guard.check_not_protected(path, moved=True)
        await ensure_async(super().delete(path))

    async def _copy(self, copy_from: str, copy_to: str | None = None) -> None:
        """A file copy is scanned off the event loop as the save of the copy it is. A
        folder copy is checked before (no symbolic link, no credential) and what it wrote
        after (a file swapped meanwhile): refused, the copy is removed."""
        cm = self.contents_manager
        guard = self.qsecure.save_guard
        source = copy_from.strip("/")
        if not await ensure_async(cm.dir_exists(source)):
            with scanned_in_a_thread():
                await ensure_async(super()._copy(copy_from, copy_to))
            return
        guard.check_not_protected(f"{copy_to or ''}/{source.rsplit('/', 1)[-1]}")
        await asyncio.to_thread(guard.check_folder_copy, source)
        model = await ensure_async(cm.copy(copy_from, copy_to))
        await asyncio.to_thread(guard.check_copied_folder, model["path"], source)
        self.set_status(201)
        validate_model(model)
        self._finish_model(model)


class GuardedCheckpointsHandler(QSecureHandlerMixin, CheckpointsHandler):
    """Jupyter's checkpoint creation, refused (422, audited) when the file on disk holds
    a credential: the checkpoint would keep a copy of it. Authorized as ``contents``."""

    @web.authenticated
    @authorized
    async def get(self, path: str = "") -> None:
        self.check_contents_path(path)
        await ensure_async(super().get(path))

    @web.authenticated
    @authorized
    async def post(self, path: str = "") -> None:
        self.require_guard(path)
        self.check_contents_path(path)
        cm = self.contents_manager
        if not await ensure_async(cm.file_exists(path)):
            raise request_error(
                404, "qsecure-not-found", f"{path.strip('/')} is not a file: nothing to checkpoint"
            )
        guard = self.qsecure.save_guard
        os_path = getattr(cm, "_get_os_path", None)
        if copies_files(cm.checkpoints) and callable(os_path):
            # The checkpoint copies the file's bytes: those are scanned, not the model the
            # contents manager reads from them (a notebook parsed drops a repeated key).
            await asyncio.to_thread(guard.check_checkpoint_source, Path(os_path(path)), path)
        else:
            model = await ensure_async(cm.get(path, content=True))
            await asyncio.to_thread(guard.check, model, path, write="checkpoint")
        await ensure_async(super().post(path))


class GuardedModifyCheckpointsHandler(QSecureHandlerMixin, ModifyCheckpointsHandler):
    """Jupyter's checkpoint restore, refused (422, audited) when the checkpoint holds a
    credential, and its deletion; both wait for the load (503). Authorized as
    ``contents``."""

    @web.authenticated
    @authorized
    async def post(self, path: str, checkpoint_id: str) -> None:
        self.require_guard(path)
        self.check_contents_path(path)
        checkpoints = self.contents_manager.checkpoints
        self.qsecure.save_guard.check_not_protected(path)
        await asyncio.to_thread(
            self.qsecure.save_guard.check_checkpoint_restore, checkpoints, checkpoint_id, path
        )
        await ensure_async(super().post(path, checkpoint_id))

    @web.authenticated
    @authorized
    async def delete(self, path: str, checkpoint_id: str) -> None:
        self.require_guard(path)
        self.check_contents_path(path)
        await ensure_async(super().delete(path, checkpoint_id))


class GuardedTrustHandler(QSecureHandlerMixin, TrustNotebooksHandler):
    """Jupyter's ``POST /api/contents/PATH/trust`` (sign a notebook as trusted), answered
    in JSON, and refused (404) for what is no notebook: jupyter_server answers 500 with a
    traceback for a folder, and an HTML page for a file that does not exist. Authorized
    as ``contents``."""

    auth_resource = "contents"

    @web.authenticated
    @authorized
    async def post(self, path: str = "") -> None:
        self.require_guard(path)
        self.check_contents_path(path)
        cm = self.contents_manager
        if not path.strip("/").endswith(".ipynb") or not await ensure_async(cm.file_exists(path)):
            raise request_error(
                404, "qsecure-not-found", "no notebook at this path: only a notebook is trusted"
            )
        await ensure_async(super().post(path))


class StatusHandler(QSecureAPIHandler):
    """``GET /qsecure/status``: whether the guard runs (``ready``, ``guard`` on / off /
    unavailable, and why not)."""

    auth_resource = authz.GUARD

    @web.authenticated
    @authorized
    def get(self) -> None:
        self.finish(json.dumps(self.qsecure.status()))


class BypassHandler(QSecureAPIHandler):
    """``/qsecure/bypass``: the findings accepted on this server (bypasses by fingerprint,
    with a reason; audited). ``POST`` accepts one, ``GET`` lists this user's acceptances
    (no value is ever kept), ``DELETE`` undoes one of them."""

    auth_resource = authz.GUARD

    @web.authenticated
    @authorized
    async def get(self) -> None:
        try:
            accepted = await asyncio.to_thread(self.qsecure.save_guard.accepted)
        except AllowlistError as error:
            raise request_error(500, "qsecure-bypass-store-unreadable", str(error)) from None
        self.finish(json.dumps({"accepted": accepted}))

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = json_body(self, "{fingerprint, reason, path}")
        fields = ("fingerprint", "reason", "path", "kind", "preview")
        fingerprint, reason, path, kind, preview = (body.get(k, "") for k in fields)
        if not all(isinstance(v, str) for v in (fingerprint, reason, path, kind, preview)) or (
            not fingerprint
        ):
            raise request_error(
                400,
                "qsecure-bad-request",
                f"send JSON {{fingerprint, reason, path}}; reason is one of {', '.join(BYPASS_REASONS)}",
            )
        try:
            await asyncio.to_thread(
                self.qsecure.save_guard.bypass, fingerprint, reason, path, kind, preview
            )
        except AllowlistError as error:  # the store, not the request, is at fault
            raise request_error(500, "qsecure-bypass-store-unreadable", str(error)) from None
        except ValueError as error:
            raise request_error(400, "qsecure-bad-request", str(error)) from None
        shown = await asyncio.to_thread(self.qsecure.save_guard.masked, path.strip("/"))
        self.set_status(201)
        self.finish(json.dumps({"fingerprint": fingerprint, "reason": reason, "path": shown}))

    @web.authenticated
    @authorized
    async def delete(self) -> None:
        id_, fingerprint, path = (self.get_argument(k, "") for k in ("id", "fingerprint", "path"))
        if not id_ and not (fingerprint and path):
            raise request_error(
                400,
                "qsecure-bad-request",
                "name the acceptance to undo: ?id=ID (as GET /qsecure/bypass lists it), "
                "or ?fingerprint=FINGERPRINT&path=NOTEBOOK",
            )
        try:
            undone = await asyncio.to_thread(
                self.qsecure.save_guard.undo_bypass, id_, fingerprint, path
            )
        except LookupError as error:
            raise request_error(404, "qsecure-not-found", str(error)) from None
        except AllowlistError as error:
            raise request_error(500, "qsecure-bypass-store-unreadable", str(error)) from None
        self.finish(json.dumps(undone))


class ScanHandler(QSecureAPIHandler):
    """``POST /qsecure/scan``: the findings the guard would report for a contents model,
    without saving (the frontend checks before it saves). Only looks: ``read``."""

    auth_resource = authz.GUARD

    @web.authenticated
    @authorized(action="read")  # type: ignore[untyped-decorator]
    async def post(self) -> None:
        body = json_body(self, "{path, model}")
        model, path = body.get("model"), body.get("path", "")
        if not isinstance(model, dict) or not isinstance(path, str):
            raise request_error(
                400, "qsecure-bad-request", "send JSON {path, model} with a contents model"
            )
        if path.strip("/"):  # the guard looks for baselines beside it: never outside the root
            path = relative_path(path, "path")
        guard = self.qsecure.save_guard
        findings = await asyncio.to_thread(guard.findings_json, model, path)
        shown = await asyncio.to_thread(guard.masked, path.strip("/"))
        self.finish(json.dumps({"path": shown, "findings": findings}))


class GuardNoticeHandler(QSecureAPIHandler):
    """``GET /qsecure/guard/notice?path=PATH``: ``{"notice": ...}``, the notice of the last
    refused save of the shared document at ``path`` (real-time collaboration) while its
    saves are refused, else ``null``. The frontends show only this answer: a notice in the
    document's awareness is anyone's writing. It names the file and its findings' places:
    ``read`` on ``contents`` too."""

    auth_resource = authz.GUARD

    @web.authenticated
    @authorized
    async def get(self) -> None:
        await _require_contents_read(
            self, "the notice names a file and where its findings are: it needs read on contents"
        )
        path = relative_path(self.get_argument("path", ""), "path")
        self.finish(json.dumps({"notice": self.qsecure.collaboration_notice(path)}))


class SecretsHandler(QSecureAPIHandler):
    """``GET /qsecure/secrets?path=NOTEBOOK``: names, sources and grants; never values."""

    auth_resource = authz.SECRETS

    @web.authenticated
    @authorized
    def get(self) -> None:
        path = self.get_argument("path", "").strip("/") or None
        app = self.qsecure
        self.finish(
            json.dumps(
                {
                    "path": path,
                    "policy": app.policy.source,
                    "policy_error": app.policy_error,
                    "personal_grants": app.secrets.personal_enabled,
                    # As the kernels judge it: they run as the server's user, whoever
                    # starts them (a collaborator's kernels get the owner's grants).
                    "secrets": app.secrets.describe(server_user(), path),
                }
            )
        )


class SecretValueHandler(QSecureAPIHandler):
    """``PUT /qsecure/secrets/NAME`` with ``{"value": ...}`` (write-only) and ``DELETE``."""

    auth_resource = authz.SECRETS

    @web.authenticated
    @authorized
    async def put(self, name: str) -> None:
        value = json_body(self, '{"value": "..."}').get("value")
        if not isinstance(value, str) or not value:
            raise request_error(400, "qsecure-bad-request", 'send JSON {"value": "..."}')
        with _secret_errors():
            ref = await self.qsecure.secrets.in_store_worker(
                self.qsecure.secrets.set_value, name, value
            )
        in_policy = name in self.qsecure.policy.secrets.grants
        self.finish(json.dumps({"name": name, "source": str(ref), "in_policy": in_policy}))

    @web.authenticated
    @authorized
    async def delete(self, name: str) -> None:
        with _secret_errors():
            await self.qsecure.secrets.in_store_worker(self.qsecure.secrets.delete_value, name)
        self.set_status(204)
        self.finish()


class KernelRefreshHandler(QSecureAPIHandler):
    """``POST /qsecure/kernel/refresh``, called by a kernel to re-read its secrets.

    Authenticated by the kernel's capability (``Authorization: qsecure-capability ...``),
    which only that kernel holds, not by the server's token or a user: a kernel never gets
    server credentials. It returns only the values granted to that kernel now. No cookie is
    involved, so there is nothing for a cross-site request to forge."""

    auth_resource = authz.SECRETS
    #: Not a user's request: the capability is the authorization (see the route inventory).
    capability_authenticated = True

    def check_xsrf_cookie(self) -> None:
        return None

    @allow_unauthenticated
    async def post(self) -> None:
        scheme, _, capability = self.request.headers.get("Authorization", "").partition(" ")
        registry = getattr(self.qsecure, "registry", None)
        record = (
            registry.for_refresh(
                capability,
                self.request.headers.get("X-QSecure-Kernel-Id", ""),
                _peer_address(self.request),
            )
            if registry is not None and scheme == "qsecure-capability"
            else None
        )
        if record is None:
            raise request_error(
                403,
                "qsecure-bad-capability",
                "refresh is only for a kernel started with jupyter-qsecure",
            )
        names = json_body(self, '{"names": [...]}').get("names", [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise request_error(400, "qsecure-bad-request", 'send JSON {"names": [...]}')
        values, problems = await asyncio.to_thread(self.qsecure.secrets.refresh, record, names)
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps({"values": values, "problems": problems}))


def _peer_address(request: Any) -> str:
    """The address the request's connection comes from, as its socket saw it; not
    ``request.remote_ip``, which ``trust_xheaders`` takes from X-Real-Ip and
    X-Forwarded-For, headers any client can send (``127.0.0.1`` included). "" when the
    connection is not over IP (a Unix socket)."""
    context = getattr(getattr(request, "connection", None), "context", None)
    address = getattr(context, "address", None)
    if isinstance(address, tuple) and address and isinstance(address[0], str):
        return address[0]
    return ""


class SignatureHandler(QSecureAPIHandler):
    """``GET /qsecure/signature?path=NB``: the saved notebook's signing status and the
    policy verdict (audited). ``POST`` with ``{path, notebook}``: the same for the editor's
    unsaved content, as it would be saved (only looks: ``read``; not audited)."""

    auth_resource = authz.SIGNING

    @web.authenticated
    @authorized
    async def get(self) -> None:
        path = relative_path(self.get_argument("path", ""), "path")
        notebook = await _saved(self, path)
        signing = await _user_signing(self)
        with _cannot_verify():
            await check_one_reading(self.contents_manager, path)
            policy_trust = self.qsecure.signing.settings.allowed_signers is not None
            answer = await asyncio.to_thread(
                signing.audited_status, notebook, path, "policy" if policy_trust else "personal"
            )
        self.finish(json.dumps({"path": path, **answer}))

    @web.authenticated
    @authorized(action="read")  # type: ignore[untyped-decorator]
    async def post(self) -> None:
        path, notebook = editor_notebook(self)
        app = self.qsecure
        signing = await _user_signing(self)
        with _cannot_verify():
            answer = await asyncio.to_thread(
                signing.unsaved_status, notebook, path, app.provenance.embed
            )
        self.finish(json.dumps({"path": path, **answer}))


class SignHandler(QSecureAPIHandler):
    """``POST /qsecure/sign`` with ``{path, role, principal?}``: sign on the server with the
    configured key or agent, else the user's personal setup (private keys never travel
    over HTTP), then save. Needs
    ``write`` on signing, and on ``contents`` since it saves."""

    auth_resource = authz.SIGNING

    @web.authenticated
    @authorized
    async def post(self) -> None:
        from .signing.sshsig import SignatureError

        body = json_body(self, "{path, role, principal?}")
        path = relative_path(body.get("path"), "path")
        role, principal = body.get("role", "author"), body.get("principal")
        if not isinstance(role, str) or (principal is not None and not isinstance(principal, str)):
            raise request_error(400, "qsecure-bad-request", "role and principal must be strings")
        if not await ensure_async(
            self.authorizer.is_authorized(self, self.current_user, "write", "contents")
        ):
            raise request_error(
                403, "qsecure-forbidden", "signing saves: it needs write on contents"
            )
        self.require_guard(path)
        app = self.qsecure
        signing = await _user_signing(self)
        try:
            with scanned_in_a_thread():  # the signed notebook's save: its scan off the loop
                answer = await signing.sign_and_save(
                    self.contents_manager,
                    path,
                    role=role,
                    principal=principal,
                    embed=app.provenance.embed,
                )
        except NotebookNotFound as error:
            raise request_error(404, "qsecure-not-found", str(error)) from None
        except NoSigningKey as error:
            raise request_error(409, "qsecure-no-signing-key", str(error)) from None
        except NotYourPrincipal as error:
            raise request_error(403, "qsecure-not-your-principal", str(error)) from None
        except SigningKeyChanged as error:
            raise request_error(409, "qsecure-sign-key-changed", str(error)) from None
        except ValueError as error:
            message = _key_paths_hidden(str(error), signing.settings.key, app.personal_signing.home)
            raise request_error(400, "qsecure-bad-request", message) from None
        except SignatureError as error:
            message = _key_paths_hidden(str(error), signing.settings.key, app.personal_signing.home)
            raise request_error(422, f"qsecure-sign-{error.reason}", message) from None
        self.finish(json.dumps(answer))


def _key_paths_hidden(message: str, key: Path | None, home: Path) -> str:
    """A signing failure's message without the server's folders, as the setup names keys:
    the home as ``~``, the folder of a key outside it (the policy's) left out."""
    home_text = str(home).rstrip("/")
    if key is not None and not str(key).startswith(home_text + "/"):
        message = message.replace(str(key.parent).rstrip("/") + "/", "")
    return message.replace(home_text + "/", "~/")


class SigningSetupHandler(QSecureAPIHandler):
    """``GET /qsecure/signing/setup[?path=NB]``: the request user's signing setup, what
    signing would use (key fingerprint, principal, trust, granted roles), the keys to
    choose from (public fingerprints only) and, with ``path``, the saved notebook's
    accepted findings. ``POST`` with ``{key, principal}`` or ``{generate: true,
    no_passphrase: true, name?, comment?, principal}``: choose or generate the key."""

    auth_resource = authz.SIGNING_SETUP

    @web.authenticated
    @authorized
    async def get(self) -> None:
        path = self.get_argument("path", "")
        answer = await asyncio.to_thread(self._describe)
        if path:
            path = relative_path(path, "path")
            notebook = await _saved(self, path)
            guard = self.qsecure.save_guard
            try:
                accepted = await asyncio.to_thread(guard.accepted_findings_json, notebook, path)
            except ScanFailed as error:
                raise request_error(422, "qsecure-cannot-scan", str(error.log_message)) from None
            answer = {**answer, "path": path, "accepted_findings": accepted}
        self.finish(json.dumps(answer))

    @web.authenticated
    @authorized
    async def post(self) -> None:
        from .signing.setup import KeyOfAnotherUser, SetupError

        body = json_body(
            self, "{key, principal} or {generate: true, no_passphrase: true, principal}"
        )
        personal = self.qsecure.personal_signing
        user = acting_user()
        try:
            if body.get("generate") is True:
                await asyncio.to_thread(
                    personal.generate,
                    user,
                    body.get("principal"),
                    name=body.get("name"),
                    comment=body.get("comment"),
                    no_passphrase=body.get("no_passphrase", False),
                )
            elif body.get("generate", False) is not False:
                raise SetupError("generate: true to generate a key, or leave it out")
            else:
                await asyncio.to_thread(
                    personal.choose, user, body.get("key"), body.get("principal")
                )
        except KeyOfAnotherUser as error:
            raise request_error(409, "qsecure-key-of-another-user", str(error)) from None
        except SetupError as error:
            raise request_error(400, "qsecure-bad-setup", str(error)) from None
        except OSError as error:
            raise request_error(
                500, "qsecure-setup-unwritable", f"cannot store the setup: {error.strerror}"
            ) from None
        self.finish(json.dumps(await asyncio.to_thread(self._describe)))

    def _describe(self) -> dict[str, Any]:
        from .signing.service import default_principal
        from .signing.setup import describe

        app = self.qsecure
        settings = app.signing.settings
        return describe(
            app.personal_signing,
            settings,
            acting_user(),
            default_principal(settings),
            trust=app.policy_error is None,
        )


class ProvenanceHandler(QSecureAPIHandler):
    """``GET /qsecure/provenance?path=NB`` (the saved notebook) and ``POST`` with
    ``{path, notebook}`` (the editor's content; only looks: ``read``): the notebook with
    its records embedded as a save would, judged cell by cell, for the provenance panel."""

    auth_resource = authz.PROVENANCE

    @web.authenticated
    @authorized
    async def get(self) -> None:
        path = relative_path(self.get_argument("path", ""), "path")
        await self._answer(path, await _saved(self, path))

    @web.authenticated
    @authorized(action="read")  # type: ignore[untyped-decorator]
    async def post(self) -> None:
        path, notebook = editor_notebook(self)
        # The report re-hashes the files the records say were read, at paths and against
        # digests the request chose: whether a file exists and holds the bytes guessed.
        await _require_contents_read(
            self,
            "the report re-reads the files a notebook's records name: it needs read on contents",
        )
        await self._answer(path, notebook)

    async def _answer(self, path: str, notebook: dict[str, Any]) -> None:
        provenance = self.qsecure.provenance
        try:
            report = await asyncio.wait_for(
                asyncio.to_thread(provenance.report, notebook, path), provenance.report_seconds
            )
        except ValueError as error:  # metadata of the wrong shape, content with no canonical form
            raise request_error(422, "qsecure-cannot-judge", str(error)) from None
        except TimeoutError:
            raise request_error(
                504,
                "qsecure-timeout",
                f"the provenance report took more than {provenance.report_seconds:g} s",
            ) from None
        self.finish(json.dumps(_report_shown(report)))


#: The most characters of one string of a provenance report the browser is sent.
REPORT_SHOWN_LIMIT = 4096


def _report_shown(report: dict[str, Any]) -> dict[str, Any]:
    """A provenance report with every string the notebook wrote (the records' paths,
    datasets and seeds, the user, the environment, the timeline) escaped as
    :func:`~jupyter_qsecure._shown.shown` does, as the verdict's own strings already are:
    raw, a bidirectional control in a recorded path (``invoice.\\u202egpj.exe``) read as
    another name in the provenance panel."""

    def show(value: Any) -> Any:
        try:
            return shown_json(value, REPORT_SHOWN_LIMIT)
        except RecursionError:
            return None

    answer = dict(report)
    for key in ("user", "kernel_session", "environment", "timeline"):
        if key in answer:
            answer[key] = show(answer[key])
    if isinstance(answer.get("cells"), list):
        answer["cells"] = [
            {**cell, "execution": show(cell.get("execution"))} if isinstance(cell, dict) else cell
            for cell in answer["cells"]
        ]
    return answer


class CheckpointHandler(QSecureAPIHandler):
    """``POST /qsecure/provenance/checkpoint``: sign a checkpoint of the provenance
    store's chain now, append it beside the store, answer ``{note, public_key}``; 409
    when the chain is broken (nothing signed)."""

    auth_resource = authz.PROVENANCE

    @web.authenticated
    @authorized
    async def post(self) -> None:
        from .provenance.checkpoint import BrokenChainError, CheckpointError
        from .provenance.store import StoreError
        from .signing.sshsig import openssh_public_key

        provenance = self.qsecure.provenance
        if not provenance.enabled:
            raise request_error(409, "qsecure-provenance-off", "provenance is off in the policy")
        checkpointer = provenance.checkpointer()
        try:
            note = await asyncio.to_thread(provenance.checkpoint)
        except BrokenChainError as error:
            raise request_error(409, "qsecure-broken-chain", str(error)) from None
        except (CheckpointError, StoreError, OSError) as error:
            raise request_error(503, "qsecure-checkpoint-failed", str(error)) from None
        public = openssh_public_key(checkpointer.public_key)
        self.finish(json.dumps({"note": note, "public_key": public}))


class GrantHandler(QSecureAPIHandler):
    """``PUT /qsecure/grants/NAME`` with ``{notebook}``: grant a keyring secret to a
    notebook for this user (a personal grant). ``DELETE ...?notebook=PATH`` withdraws it
    from one notebook, without ``notebook`` from all. Names the policy file defines are the
    admin's (409); the policy may turn personal grants off (403)."""

    auth_resource = authz.SECRETS

    @web.authenticated
    @authorized
    async def put(self, name: str) -> None:
        notebook = relative_path(
            json_body(self, '{"notebook": "PATH"}').get("notebook"), "notebook"
        )
        with _grant_errors():
            state = await self.qsecure.secrets.in_store_worker(
                self.qsecure.secrets.grant_personal, name, notebook
            )
        self.finish(json.dumps(state.to_json()))

    @web.authenticated
    @authorized
    async def delete(self, name: str) -> None:
        notebook = self.get_argument("notebook", None)
        if notebook is not None:
            notebook = relative_path(notebook, "notebook")
        with _grant_errors():
            await self.qsecure.secrets.in_store_worker(
                self.qsecure.secrets.revoke_personal, name, notebook
            )
        self.set_status(204)
        self.finish()


class AuditHandler(QSecureAPIHandler):
    """``GET /qsecure/audit?since=7d``: the audit trail's summary with its anomalies, as
    ``jupyter qsecure audit --format json`` prints it."""

    auth_resource = authz.AUDIT

    @web.authenticated
    @authorized
    async def get(self) -> None:
        since = self.get_argument("since", "")
        try:
            report = await asyncio.to_thread(self.qsecure.audit_summary, since)
        except ValueError as error:
            raise request_error(400, "qsecure-bad-request", str(error)) from None
        self.finish(json.dumps(report))


async def _user_signing(handler: Any) -> SigningService:
    """The signing service for the request's user: the policy's ``[signing]`` settings,
    completed by the user's personal setup where the policy leaves a gap; its personal
    trust stays off while the policy file cannot be used (what it requires is unknown)."""
    app: QSecureApp = handler.qsecure
    settings = await asyncio.to_thread(
        app.personal_signing.effective,
        app.signing.settings,
        acting_user(),
        trust=app.policy_error is None,
    )
    return app.signing.with_settings(settings)


async def _saved(handler: Any, path: str) -> dict[str, Any]:
    """The saved notebook at ``path``; reading it needs ``read`` on ``contents`` too, as
    opening it does (403), and it must exist (404)."""
    await _require_contents_read(handler, "reading the saved notebook needs read on contents")
    try:
        return await load_notebook(handler.contents_manager, path)
    except NotebookNotFound as error:
        raise request_error(404, "qsecure-not-found", str(error)) from None


async def _require_contents_read(handler: Any, why: str) -> None:
    """Refuse (403, ``why``) a request whose user may not read ``contents``."""
    if not await ensure_async(
        handler.authorizer.is_authorized(handler, handler.current_user, "read", "contents")
    ):
        raise request_error(403, "qsecure-forbidden", f"{why}; ask the server's owner or admin")


@contextmanager
def _cannot_verify() -> Iterator[None]:
    try:
        yield
    except ValueError as error:  # unreadable allowed_signers, a notebook without cell ids
        raise request_error(422, "qsecure-cannot-verify", str(error)) from None


def _provider_status(error: ProviderError) -> int:
    return {"not-found": 404, "read-only": 405, "denied": 403, "misconfigured": 400}.get(
        error.reason, 503
    )


@contextmanager
def _secret_errors() -> Iterator[None]:
    try:
        yield
    except ValueError as error:
        raise request_error(400, "qsecure-bad-request", str(error)) from None
    except ProviderError as error:
        raise request_error(
            _provider_status(error), f"qsecure-provider-{error.reason}", str(error)
        ) from None


@contextmanager
def _grant_errors() -> Iterator[None]:
    """Personal grant errors as JSON answers."""
    try:
        yield
    except PersonalGrantsOff as error:
        raise request_error(403, "qsecure-personal-grants-off", str(error)) from None
    except NotTheServersUser as error:
        raise request_error(403, "qsecure-not-the-servers-user", str(error)) from None
    except GrantInPolicy as error:
        raise request_error(409, "qsecure-grant-in-policy", str(error)) from None
    except PersonalGrantsError as error:
        raise request_error(500, "qsecure-personal-grants-unreadable", str(error)) from None
    except ValueError as error:
        raise request_error(400, "qsecure-bad-request", str(error)) from None


_NOT_AUTHORIZED = re.compile(r"User is not authorized to (\w+) on resource: ([\w:]+)\.?")


def _refusal_message(message: str) -> str:
    """jupyter_server's authorization refusal, said for the person who was refused."""
    match = _NOT_AUTHORIZED.fullmatch(message)
    if match is None:
        return message
    action, resource = match.groups()
    verb = "read" if action == "read" else "change"
    what = resource.removeprefix("qsecure:")
    return (
        f"Your role on this server does not allow you to {verb} {what} "
        f"({action} on {resource}); ask the server's owner or admin."
    )


#: jupyter_server's contents routes that write, and the guarded handler answering each.
_GUARDED_CONTENTS: dict[type, type] = {
    ContentsHandler: GuardedContentsHandler,
    CheckpointsHandler: GuardedCheckpointsHandler,
    ModifyCheckpointsHandler: GuardedModifyCheckpointsHandler,
    TrustNotebooksHandler: GuardedTrustHandler,
}


def _contents_routes() -> list[tuple[str, type]]:
    """jupyter_server's routes under ``/api/contents``, each writing one guarded (the
    order kept: ``PATH/checkpoints`` must not be taken for a file path)."""
    from jupyter_server.services.contents import handlers as contents

    return [
        (pattern, _GUARDED_CONTENTS.get(handler, handler))
        for pattern, handler in contents.default_handlers
        if pattern.startswith("/api/contents")
    ]


def _kernel_routes() -> list[tuple[str, type]]:
    """jupyter_server's routes that start or restart a notebook's kernel (``/api/sessions``
    aside), each served by its subclass that acts for the request's user. (A kernel started
    through ``/api/kernels`` has no notebook: no secret is granted to it, nothing audited.)"""
    from jupyter_server.services.kernels import handlers as kernels
    from jupyter_server.services.sessions import handlers as sessions

    ours: dict[type, type] = {
        KernelActionHandler: KernelRestartHandler,
        SessionHandler: SessionModelHandler,
    }
    return [
        (pattern, ours[handler])
        for pattern, handler in [*kernels.default_handlers, *sessions.default_handlers]
        if handler in ours
    ]


#: A secret's name, as in the URL of /qsecure/secrets/NAME and /qsecure/grants/NAME.
NAME_REGEX = r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)"


def handlers() -> list[tuple[str, type]]:
    """The extension's routes (the server prefixes its base URL)."""
    return [
        *_contents_routes(),
        *_kernel_routes(),
        (r"/api/sessions", SessionsHandler),
        (r"/api/events", EventsHandler),
        (r"/api/events/subscribe", EventsSocket),
        (r"/qsecure/status", StatusHandler),
        (r"/qsecure/bypass", BypassHandler),
        (r"/qsecure/scan", ScanHandler),
        (r"/qsecure/guard/notice", GuardNoticeHandler),
        (r"/qsecure/secrets", SecretsHandler),
        (rf"/qsecure/secrets/{NAME_REGEX}", SecretValueHandler),
        (rf"/qsecure/grants/{NAME_REGEX}", GrantHandler),
        (r"/qsecure/kernel/refresh", KernelRefreshHandler),
        (r"/qsecure/signature", SignatureHandler),
        (r"/qsecure/sign", SignHandler),
        (r"/qsecure/signing/setup", SigningSetupHandler),
        (r"/qsecure/provenance", ProvenanceHandler),
        (r"/qsecure/provenance/checkpoint", CheckpointHandler),
        (r"/qsecure/audit", AuditHandler),
    ]
