"""The server extension: composes the capabilities into services, wires the guard into the
ContentsManager and registers the audit event schemas and the REST handlers.

The load fails closed. The package's server configuration installs the guard's gate
(:mod:`jupyter_qsecure.gate`) before any extension loads; the gate refuses every save
until this app reports a complete load. Each step of the load is named, and a step that
raises leaves the server refusing writes with the step and the error, kernels without
secrets, and ``GET /qsecure/status`` saying so to the frontend.
"""

from __future__ import annotations

import asyncio
import logging
import os
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_client.provisioning.factory import KernelProvisionerFactory
from jupyter_core.paths import jupyter_data_dir
from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Type, Unicode

from . import events, gate
from ._version import __version__
from .audit import install_audit_sink
from .config import Policy, PolicyError, load_policy, policy_places
from .guard import BypassStore, SaveGuard, UploadStage, plugin_rules, scan_saves_in_a_thread
from .guard.logs import MaskedLog, mask_every_record, stop_masking
from .handlers import handlers
from .identity import server_user
from .provenance import ProvenanceService, ProvenanceStore
from .secrets import (
    PROVISIONER_NAME,
    KernelSecretRegistry,
    KernelServices,
    PersonalGrants,
    Providers,
    SecretsPolicy,
    SecretsService,
    pass_session_paths,
    strip_terminal_environment,
)
from .sessions import NotebookMoves, watch_sessions
from .signing import PersonalSigning, SigningService

if TYPE_CHECKING:  # it imports pycrdt, there only with jupyter-collaboration
    from .guard.collaboration import CollaborationGuard

#: How long a worker thread waits for the loop to take one of its audit events (seconds).
EMIT_TIMEOUT = 30.0

#: tornado's loggers (``tornado.NAME``) whose lines are masked besides the server's own.
TORNADO_LOGGERS = ("access", "application", "general")

#: The fields of an audit event that name a file (masked: see ``QSecureApp._masked_event``).
EVENT_PATHS = ("path", "notebook")

#: The services the load builds, by attribute, and what each serves (for a refusal when
#: the load failed before building it).
SERVICES = {
    "policy": "The policy",
    "save_guard": "The leak guard",
    "upload_stage": "Chunked upload",
    "registry": "The registry of kernel secrets",
    "secrets": "Secrets",
    "signing": "Signing",
    "personal_signing": "Signing setup",
    "provenance": "Provenance",
    "collaboration_guards": "Collaboration notices",
}


class LoadFailed(Exception):
    """A step of the extension's load raised; the server refuses writes meanwhile."""

    def __init__(self, step: str, error: BaseException) -> None:
        self.step = step
        self.error = error
        super().__init__(f"{step}: {type(error).__name__}: {error}")


class QSecureApp(ExtensionApp):
    """jupyter-qsecure's server extension."""

    name = "jupyter_qsecure"
    version = __version__
    description = "Secure notebooks: leak guard, secrets, provenance, signatures."
    load_other_extensions = True

    data_dir = Unicode(
        help="Where jupyter-qsecure keeps its state (bypasses, personal grants, audit trail); "
        "defaults to <jupyter data dir>/qsecure.",
    ).tag(config=True)

    inject_secrets = Bool(
        True,
        help="Make qsecure-provisioner the default kernel provisioner, so kernels receive their granted secrets.",
    ).tag(config=True)

    save_guard_class = Type(
        SaveGuard, klass=SaveGuard, help="The leak guard run on every write."
    ).tag(config=True)
    kernel_registry_class = Type(
        KernelSecretRegistry,
        klass=KernelSecretRegistry,
        help="What the server remembers about running kernels' secrets (in memory).",
    ).tag(config=True)
    secrets_service_class = Type(
        SecretsService, klass=SecretsService, help="The secrets capability's operations."
    ).tag(config=True)
    provenance_store_class = Type(
        ProvenanceStore, klass=ProvenanceStore, help="The hash-chained provenance store."
    ).tag(config=True)
    signing_service_class = Type(
        SigningService, klass=SigningService, help="Signing and verification."
    ).tag(config=True)
    notebook_moves_class = Type(
        NotebookMoves,
        klass=NotebookMoves,
        help="Moves running kernels with their notebook when it is renamed.",
    ).tag(config=True)

    policy: Policy
    #: Why the policy file could not be used (the embedded defaults apply meanwhile).
    policy_error: str | None = None
    #: Why the load did not complete (None once it did).
    load_error: str | None = None
    save_guard: SaveGuard
    upload_stage: UploadStage
    registry: KernelSecretRegistry
    secrets: SecretsService
    signing: SigningService
    #: Each user's own signing setup, where the policy names no key or allowed_signers.
    personal_signing: PersonalSigning
    provenance: ProvenanceService
    #: What the kernel provisioner reads, found through its kernel manager's parents.
    kernel_services: KernelServices | None = None
    #: jupyter-collaboration's guards, one per YDocExtension (none without it).
    collaboration_guards: list[CollaborationGuard]

    if not TYPE_CHECKING:  # for mypy, the services are the attributes declared above

        def __getattr__(self, name: str) -> Any:
            """A service the load did not build (it failed first): a request for it is
            answered ``503 qsecure-unavailable`` naming the load's error, not a 500."""
            what = SERVICES.get(name)
            if what is None:
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
            raise gate.ServiceUnavailable(what, self.load_error or "its load has not run")

    # Loading ----------------------------------------------------------------------------

    def _link_jupyter_server_extension(self, serverapp: Any) -> None:
        """Linked before any extension loads: jupyter-lsp's virtual documents are placed
        out of the served folder before it reads where they go."""
        super()._link_jupyter_server_extension(serverapp)
        try:
            self._private_language_server_documents(serverapp)
        except Exception as error:
            self.log.error("jupyter-qsecure: cannot place jupyter-lsp's documents: %s", error)

    def _private_language_server_documents(self, serverapp: Any) -> None:
        """With jupyter-lsp enabled: the code it writes for language servers goes to the
        state folder, not the served one (see :mod:`jupyter_qsecure.guard.lsp`)."""
        if not serverapp.jpserver_extensions.get("jupyter_lsp"):
            return
        from .guard.lsp import configured_virtual_documents, private_virtual_documents

        configured = configured_virtual_documents(serverapp.config)
        root = Path(serverapp.root_dir)
        private = private_virtual_documents(configured, root, self._state_dir(), self.log)
        if private is not None:
            serverapp.config.LanguageServerManager.virtual_documents_dir = str(private)

    def initialize_settings(self) -> None:
        """Build the services step by step; never raise: a failed step is reported to
        the gate (writes refused), logged with its step and audited where possible."""
        assert self.serverapp is not None
        contents_manager = self.serverapp.contents_manager
        self._install_gate(contents_manager)
        if self.inject_secrets:
            # First: a kernel started while the load failed still goes through our
            # provisioner, which then injects nothing and withholds the server's credentials.
            KernelProvisionerFactory.instance(
                parent=self.serverapp
            ).default_provisioner_name = PROVISIONER_NAME
        try:
            # Before the load too: a terminal started while it failed must not inherit
            # the server's credentials and env:// source variables either.
            strip_terminal_environment(self._terminal_secrets_policy)
        except Exception as error:
            self.log.error("jupyter-qsecure: cannot strip terminals' environment: %s", error)
        try:
            self._load(contents_manager)
        except LoadFailed as failure:
            self._report_failure(contents_manager, failure)
        else:
            guard = "on" if self.policy.guard.enabled else "off"
            gate.report(contents_manager, gate.GateState(ready=True, guard=guard))
            self._announce_guard(guard)

    def _load(self, contents_manager: Any) -> None:
        with self._step("policy", "policy"):
            self.policy = self._load_policy()
        with self._step("audit trail"):
            event_logger = self.serverapp.event_logger  # type: ignore[union-attr]
            assert event_logger is not None
            for schema in events.schema_files():
                event_logger.register_event_schema(schema)
            install_audit_sink(event_logger, self.policy.audit, self._state_dir(), self.log)
        with self._step("kernel registry", "registry"):
            self.registry = self.kernel_registry_class()
        with self._step("leak guard", "save_guard", "upload_stage"):
            self.save_guard = self._build_guard()
            for plugin in plugin_rules():
                if plugin.problem is not None:
                    self.log.error("jupyter-qsecure: %s", plugin.describe())
            self.upload_stage = UploadStage(self.policy.guard.max_bytes)
            contents_manager.register_pre_save_hook(self.save_guard.pre_save_hook)
            scan_saves_in_a_thread(contents_manager, self.save_guard)
            self._mask_logs(self.save_guard)
        with self._step("provenance", "provenance"):
            self.provenance = ProvenanceService(
                self.policy.provenance,
                Path(contents_manager.root_dir),
                self.provenance_store_class,
            )
            # What is embedded comes after the guard's scan: the guard masks it.
            self.provenance.redact = self.save_guard.redact
            if self.provenance.enabled:
                # After the guard: nothing is embedded into a save the guard refuses.
                contents_manager.register_pre_save_hook(self.provenance.save_hook())
                self.provenance.hold_saves(
                    contents_manager,
                    self.serverapp.kernel_manager,  # type: ignore[union-attr]
                    self.serverapp.session_manager,  # type: ignore[union-attr]
                )
        with self._step("secrets", "secrets"):
            self.secrets = self._build_secrets()
        with self._step("signing", "signing", "personal_signing"):
            self.signing = self.signing_service_class(self.policy.signing, self._emit)
            self.personal_signing = PersonalSigning(self._state_dir() / "signing")
        with self._step("notebook moves"):
            self._follow_renames()
        with self._step("collaboration", "collaboration_guards"):
            self._guard_collaboration()
        with self._step("kernel provisioner"):
            self._serve_kernels()
        self.log.info("jupyter-qsecure %s: policy from %s", __version__, self.policy.source)

    @contextmanager
    def _step(self, name: str, *services: str) -> Iterator[None]:
        """Run one step of the load; if it raises, the ``services`` it set are dropped
        (a half-built service is never served: its routes answer 503)."""
        try:
            yield
        except Exception as error:
            for service in services:
                vars(self).pop(service, None)
            raise LoadFailed(name, error) from error

    def _install_gate(self, contents_manager: Any) -> None:
        """Refuse writes until the load completes, also where the server configuration
        did not install the gate (an extension enabled on the command line)."""
        configured = getattr(contents_manager, "pre_save_hook", None)
        if configured is not gate.refuse_until_ready:
            contents_manager.register_pre_save_hook(gate.refuse_until_ready)
            self.log.warning(
                "jupyter-qsecure: ContentsManager.pre_save_hook is not %s.refuse_until_ready "
                "(the package's jupyter_server_config.d file is not in use): a failure to "
                "import this package would leave saves unguarded",
                gate.__name__,
            )

    def _report_failure(self, contents_manager: Any, failure: LoadFailed) -> None:
        self.load_error = str(failure)
        # A step that failed after the kernel provisioner's services were set (or a later
        # one) must not leave kernels receiving secrets from a server refusing saves.
        self.kernel_services = None
        frames = "".join(traceback.format_tb(failure.error.__traceback__))
        self.log.error(
            "jupyter-qsecure could not load (%s). Every save is refused (503 qsecure-unavailable) "
            "and kernels get no secrets until the server is restarted with this fixed.\n%s",
            failure,
            frames,
        )
        gate.report(
            contents_manager,
            gate.GateState(ready=False, guard="unavailable", error=f"load failed at {failure}"),
        )
        self._audit_guard_state("unavailable", str(failure))

    def _announce_guard(self, guard: str) -> None:
        if guard == "off":
            self.log.warning(
                "jupyter-qsecure: the leak guard is OFF by the policy file %s "
                "([guard] enabled = false): saves are written unscanned",
                self.policy.source,
            )
        self._audit_guard_state(guard, None)

    def _audit_guard_state(self, state: str, error: str | None) -> None:
        data = {"state": state, "user": server_user(), "version": __version__}
        policy = getattr(self, "policy", None)
        if policy is not None:
            data["policy"] = policy.source
        if error:
            data["error"] = error
        try:
            self._emit(events.GUARD_STATE, data)
        except Exception as emit_error:  # the audit trail may be what failed to load
            self.log.error("jupyter-qsecure: cannot audit the guard's state: %s", emit_error)

    def _state_dir(self) -> Path:
        return Path(self.data_dir) if self.data_dir else Path(jupyter_data_dir()) / "qsecure"

    def _load_policy(self) -> Policy:
        """The policy file; a bad one keeps the safe defaults (guard on, blocking) and
        says what to fix."""
        try:
            return load_policy()
        except PolicyError as error:
            self.policy_error = str(error)
            self.log.error(
                "jupyter-qsecure: %s. Using the built-in defaults (guard on); fix it and restart the server.",
                error,
            )
            return Policy()

    def _build_guard(self) -> SaveGuard:
        assert self.serverapp is not None
        guard_policy = self.policy.guard
        return self.save_guard_class(
            guard_policy,
            Path(self.serverapp.root_dir),
            BypassStore(guard_policy.bypass_store or self._state_dir() / "bypasses.json"),
            emit=self._emit,
            log=self.log,
            injected=self.registry.live_values,
            protected=self._protected_paths(),
        )

    def _mask_logs(self, guard: SaveGuard) -> None:
        """No log line of the server spells a credential, whichever logger writes it
        (the server's, tornado's, the kernel manager's, another extension's, a library's)
        and in whichever part (its message, the traceback attached, an event's fields):
        see :class:`MaskedLog`. The contents and sessions services' lines show a path's
        control characters escaped (``Saving file at a\\nWARNING ...`` is one line). The
        server's own login token, which its start-up lines show on purpose, is kept."""
        import jupyter_server

        assert self.serverapp is not None
        server = Path(jupyter_server.__file__).parent
        services = [server / "services" / name for name in ("contents", "sessions")]
        identity = self.serverapp.identity_provider
        self._log_filter = MaskedLog(
            guard.masked,
            _source_prefixes(services),
            kept=lambda: (str(getattr(identity, "token", "") or ""),),
        )
        mask_every_record(self._log_filter)
        for logger in self._masked_loggers():  # records built without the factory
            logger.addFilter(self._log_filter)

    def _masked_loggers(self) -> list[logging.Logger]:
        loggers = [self.log, getattr(self.serverapp, "log", None)]
        loggers += [logging.getLogger(f"tornado.{name}") for name in TORNADO_LOGGERS]
        unique = {id(logger): logger for logger in loggers if isinstance(logger, logging.Logger)}
        return list(unique.values())

    def _protected_paths(self) -> list[Path]:
        """What no write through the server may change: where the policy is read from,
        the baseline it names, the bypass store and this extension's state."""
        guard_policy = self.policy.guard
        paths = [*policy_places(), self._state_dir()]
        paths += [p for p in (guard_policy.baseline, guard_policy.bypass_store) if p is not None]
        return paths

    def _build_secrets(self) -> SecretsService:
        # A policy file that cannot be used may have turned personal grants off: they stay
        # off until it is fixed, rather than fall back to the default (on).
        personal = (
            PersonalGrants(self._state_dir() / PersonalGrants.FILENAME)
            if self.policy_error is None
            else None
        )
        service = self.secrets_service_class(
            self.policy.secrets,
            Providers(self.policy.secrets),
            self.registry,
            self._emit,
            personal=personal,
            policy_source=self.policy.source,
            personal_off_reason="personal grants are off until the policy file can be used "
            f"({self.policy_error}); fix it and restart the server",
        )
        if service.personal_error:
            self.log.error(
                "jupyter-qsecure: personal grants not applied: %s", service.personal_error
            )
        return service

    def _serve_kernels(self) -> None:
        """Give the kernel provisioner its services."""
        assert self.serverapp is not None
        secrets = self.secrets
        self.kernel_services = KernelServices(
            policy=lambda: secrets.policy,
            providers=secrets.providers,
            registry=self.registry,
            provenance=self.policy.provenance,
            root_dir=Path(self.serverapp.root_dir),
            server_url=self._kernel_facing_url(),
            emit=self._emit,
            inject=self.inject_secrets,
        )
        pass_session_paths(self.serverapp.session_manager)
        if self.inject_secrets:
            secrets.prefetch()

    def _terminal_secrets_policy(self) -> SecretsPolicy:
        """The secrets policy terminals are stripped by: the secrets service's, else (the
        load failed before building it) the policy file's; if that cannot be read either,
        the stripper withholds the server's credentials alone."""
        secrets = getattr(self, "secrets", None)
        if secrets is not None:
            return secrets.policy  # type: ignore[no-any-return]
        policy = getattr(self, "policy", None)
        return policy.secrets if policy is not None else load_policy().secrets

    def _follow_renames(self) -> None:
        """Running kernels follow their notebook when it is renamed or moved (a session's
        path changes, or the file is renamed): see :mod:`jupyter_qsecure.sessions`."""
        assert self.serverapp is not None and self.serverapp.event_logger is not None
        provenance = self.provenance
        moves = self.notebook_moves_class(
            self.registry,
            Path(self.serverapp.root_dir),
            self.serverapp.kernel_manager,
            lambda: provenance.store() if provenance.enabled else None,
            self.log,
        )
        watch_sessions(self.serverapp.session_manager, moves)
        self.serverapp.event_logger.add_listener(
            schema_id=self.serverapp.contents_manager.event_schema_id,
            listener=moves.on_contents_event,
        )

    def _guard_collaboration(self) -> None:
        """With jupyter-collaboration enabled: its Y store private and compacted, and a
        refused save of a shared document shown to every collaborator (see
        :mod:`jupyter_qsecure.guard.collaboration`)."""
        assert self.serverapp is not None
        self.collaboration_guards = []
        apps = self.serverapp.extension_manager.extension_apps.get("jupyter_server_ydoc")
        if not apps:
            return
        from .guard.collaboration import CollaborationGuard

        for ydoc_app in apps:
            guard = CollaborationGuard(ydoc_app, self.serverapp, self.log)
            guard.install(self._state_dir())
            self.collaboration_guards.append(guard)

    # What handlers ask ------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Whether the guard runs: ``GET /qsecure/status``."""
        assert self.serverapp is not None
        state = gate.state_of(self.serverapp.contents_manager)
        answer: dict[str, Any] = {
            "ready": state.ready,
            "version": __version__,
            "guard": state.guard,
        }
        if not state.ready:
            answer["reason"] = gate.UNAVAILABLE_REASON
            answer["message"] = (
                f"jupyter-qsecure could not load ({state.error}); saves are refused until "
                "it does; see the server log"
            )
        return answer

    def audit_summary(self, since: str = "") -> dict[str, Any]:
        """The audit trail's summary and anomalies: ``GET /qsecure/audit``. Raises
        ValueError for a bad ``since`` or an unreadable trail."""
        from .audit import AUDIT_FILENAME
        from .audit.summary import trail_summary

        settings = self.policy.audit
        return trail_summary(settings.file or self._state_dir() / AUDIT_FILENAME, settings, since)

    def collaboration_notice(self, path: str) -> dict[str, Any] | None:
        """The notice of the last refused save of the shared document at ``path``, while
        its saves are refused; None otherwise (and without jupyter-collaboration):
        ``GET /qsecure/guard/notice``."""
        for guard in self.collaboration_guards:
            notice = guard.notice(path)
            if notice is not None:
                return notice
        return None

    def check_writable(self, path: str) -> None:
        """Raise GuardUnavailable (503) for a write of ``path`` unless the load completed."""
        assert self.serverapp is not None
        gate.check(self.serverapp.contents_manager, path)

    # Teardown ---------------------------------------------------------------------------

    async def stop_extension(self) -> None:
        """Close the secret stores' connections and drop cached values; whatever part of
        the load ran, never raise (the server's own cleanup, kernels included, follows)."""
        log_filter = vars(self).pop("_log_filter", None)
        if log_filter is not None:  # the loggers outlive this server (tests start many)
            stop_masking(log_filter)
            for logger in self._masked_loggers():
                logger.removeFilter(log_filter)
        secrets = getattr(self, "secrets", None)
        if secrets is not None:
            try:
                secrets.close()
            except Exception as error:
                self.log.error("jupyter-qsecure: closing the secret stores failed: %s", error)
        self.kernel_services = None

    # Plumbing ---------------------------------------------------------------------------

    def _kernel_facing_url(self) -> str | None:
        """The URL a local kernel reaches this server at (None for a Unix socket)."""
        assert self.serverapp is not None
        if self.serverapp.sock:
            return None
        scheme = "https" if self.serverapp.certfile else "http"
        # A server listening on every interface is reached by its kernels on loopback.
        everywhere = {"", "0.0.0.0", "localhost", "*"}  # noqa: S104
        host = "127.0.0.1" if self.serverapp.ip in everywhere else self.serverapp.ip
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"{scheme}://{host}:{self.serverapp.port}{self.serverapp.base_url}"

    def _emit(self, schema_id: str, data: dict[str, Any]) -> None:
        """Emit an audit event from the loop or from a worker thread (scans, keyring writes
        and signing run in threads). jupyter_events hands events to its listeners (the
        frontend's event websocket) as tasks of the running loop, so an event from a thread
        is emitted on the server's loop, and the thread waits until it was, keeping the
        order of the trail."""
        assert self.serverapp is not None and self.serverapp.event_logger is not None
        data = self._masked_event(data)
        event_logger = self.serverapp.event_logger
        loop = self._server_loop()
        if loop is None or _running_loop() is loop:
            event_logger.emit(schema_id=schema_id, data=data)
            return

        async def emit_on_loop() -> None:
            event_logger.emit(schema_id=schema_id, data=data)

        asyncio.run_coroutine_threadsafe(emit_on_loop(), loop).result(EMIT_TIMEOUT)

    def _masked_event(self, data: dict[str, Any]) -> dict[str, Any]:
        """An audit event's paths (``path``, ``notebook``) with a credential in a name
        written as its masked preview: a token-named notebook's kernel start, signature or
        acceptance is recorded without spelling it."""
        guard: SaveGuard | None = vars(self).get("save_guard")
        if guard is None:
            return data
        masked = {
            key: guard.masked(value)
            for key in EVENT_PATHS
            if isinstance(value := data.get(key), str) and value
        }
        changed = {key: value for key, value in masked.items() if value != data[key]}
        return {**data, **changed} if changed else data

    def _server_loop(self) -> asyncio.AbstractEventLoop | None:
        """The server's running event loop (None before it runs or once it stopped)."""
        io_loop = getattr(self.serverapp, "io_loop", None)
        loop = getattr(io_loop, "asyncio_loop", None)
        if loop is None or loop.is_closed() or not loop.is_running():
            return None
        return loop  # type: ignore[no-any-return]

    def initialize_handlers(self) -> None:
        """The guarded contents API and the /qsecure/ REST API (registered even when the
        load failed: they answer 503 then)."""
        self.handlers.extend(handlers())


def _source_prefixes(paths: list[Path]) -> tuple[str, ...]:
    """What a log record's ``pathname`` starts with when logged by code in one of
    ``paths`` (a folder or a module), as given and resolved."""
    prefixes = set()
    for path in paths:
        for form in (path, path.resolve()):
            prefixes.add(str(form) + (os.sep if path.suffix != ".py" else ""))
    return tuple(sorted(prefixes))


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
