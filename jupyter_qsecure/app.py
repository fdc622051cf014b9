"""The server extension: loads the policy, wires the guard into the ContentsManager,
registers the audit event schemas and the REST handlers."""

from __future__ import annotations

import copy
from pathlib import Path, PurePosixPath
from typing import Any

from jupyter_client.provisioning.factory import KernelProvisionerFactory
from jupyter_core.paths import jupyter_data_dir
from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Unicode

from . import events
from ._version import __version__
from .audit import install_audit_sink
from .config import Policy, PolicyError, load_policy
from .events import NOTEBOOK_SIGNED, SIGNATURE_VERIFIED
from .guard import BypassStore, SaveGuard, UploadStage
from .handlers import handlers
from .provenance.embed import ProvenanceSaveHook
from .provenance.kernel import default_store_path
from .provenance.report import provenance_report
from .provenance.store import ProvenanceStore
from .secrets.injection import current_user
from .secrets.personal import FILENAME as PERSONAL_GRANTS_FILENAME
from .secrets.personal import PersonalGrants
from .secrets.providers import Providers
from .secrets.provisioner import CONTEXT, PROVISIONER_NAME
from .secrets.registry import REGISTRY, KernelSecretRegistry
from .secrets.service import GrantState, SecretsService
from .sessions import NotebookMoves, watch_sessions
from .signing.service import SigningService
from .signing.signatures import NotebookVerdict


class QSecureApp(ExtensionApp):
    """jupyter-qsecure's server extension."""

    name = "jupyter_qsecure"
    version = __version__
    description = "Secure notebooks: leak guard, secrets, provenance, signatures."
    load_other_extensions = True

    data_dir = Unicode(
        help="Where jupyter-qsecure keeps its state (bypasses); defaults to <jupyter data dir>/qsecure.",
    ).tag(config=True)

    policy: Policy
    #: Why the policy file could not be used (the embedded defaults apply meanwhile).
    policy_error: str | None = None
    save_guard: SaveGuard
    upload_stage: UploadStage
    secrets: SecretsService
    signing: SigningService
    registry: KernelSecretRegistry = REGISTRY

    inject_secrets = Bool(
        True,
        help="Make qsecure-provisioner the default kernel provisioner, so kernels receive their granted secrets.",
    ).tag(config=True)

    def _state_dir(self) -> Path:
        return Path(self.data_dir) if self.data_dir else Path(jupyter_data_dir()) / "qsecure"

    def initialize_settings(self) -> None:
        """Load the policy and build the guard; a bad policy keeps the safe defaults
        (guard on, blocking) and says what to fix."""
        assert self.serverapp is not None
        try:
            self.policy = load_policy()
        except PolicyError as error:
            self.policy_error = str(error)
            self.log.error(
                "jupyter-qsecure: %s. Using the built-in defaults (guard on); fix it and restart the server.",
                error,
            )
            self.policy = Policy()
        event_logger = self.serverapp.event_logger
        assert event_logger is not None
        for schema in events.schema_files():
            event_logger.register_event_schema(schema)
        install_audit_sink(event_logger, self.policy.audit, self._state_dir(), self.log)
        guard_policy = self.policy.guard
        self.save_guard = SaveGuard(
            guard_policy,
            Path(self.serverapp.root_dir),
            BypassStore(guard_policy.bypass_store or self._state_dir() / "bypasses.json"),
            emit=self._emit,
            log=self.log,
            injected=self.registry.live_values,
        )
        self.upload_stage = UploadStage(guard_policy.max_bytes)
        self._setup_secrets()
        self.signing = SigningService(self.policy.signing)
        contents_manager = self.serverapp.contents_manager
        contents_manager.register_pre_save_hook(self.save_guard.pre_save_hook)
        if self.policy.provenance.enabled:
            # After the guard: nothing is embedded into a save the guard refuses.
            contents_manager.register_pre_save_hook(
                ProvenanceSaveHook(self.provenance_store(), self.policy.provenance.timeline_limit)
            )
        self._follow_renames()
        self.log.info("jupyter-qsecure %s: policy from %s", __version__, self.policy.source)

    def _follow_renames(self) -> None:
        """Running kernels follow their notebook when it is renamed or moved (a session's
        path changes, or the file is renamed): see :mod:`jupyter_qsecure.sessions`."""
        assert self.serverapp is not None and self.serverapp.event_logger is not None
        moves = NotebookMoves(
            self.registry,
            Path(self.serverapp.root_dir),
            self.serverapp.kernel_manager,
            lambda: self.provenance_store() if self.policy.provenance.enabled else None,
            self.log,
        )
        watch_sessions(self.serverapp.session_manager, moves)
        self.serverapp.event_logger.add_listener(
            schema_id=self.serverapp.contents_manager.event_schema_id,
            listener=moves.on_contents_event,
        )

    def _setup_secrets(self) -> None:
        assert self.serverapp is not None
        providers = Providers(self.policy.secrets)
        # A policy file that cannot be used may have turned personal grants off: they stay
        # off until it is fixed, rather than fall back to the default (on).
        personal = (
            PersonalGrants(self._state_dir() / PERSONAL_GRANTS_FILENAME)
            if self.policy_error is None
            else None
        )
        self.secrets = SecretsService(
            self.policy.secrets,
            providers,
            self.registry,
            self._emit,
            personal=personal,
            policy_source=self.policy.source,
            personal_off_reason="personal grants are off until the policy file can be used "
            f"({self.policy_error}); fix it and restart the server",
        )
        self._log_personal_error()
        CONTEXT.policy = self.secrets.policy
        CONTEXT.provenance = self.policy.provenance
        CONTEXT.providers = providers
        CONTEXT.root_dir = Path(self.serverapp.root_dir)
        CONTEXT.server_url = self._kernel_facing_url()
        CONTEXT.emit = self._emit
        if self.inject_secrets:
            KernelProvisionerFactory.instance(
                parent=self.serverapp
            ).default_provisioner_name = PROVISIONER_NAME
            self.secrets.prefetch()

    def _log_personal_error(self) -> None:
        if self.secrets.personal_error:
            self.log.error(
                "jupyter-qsecure: personal grants not applied: %s", self.secrets.personal_error
            )

    def grant_personal(self, name: str, notebook: str) -> GrantState:
        """Grant a keyring secret to a notebook for this user (a personal grant); kernels
        started from now on, refresh, the secrets list and the guard see it."""
        try:
            return self.secrets.grant_personal(name, notebook)
        finally:
            CONTEXT.policy = self.secrets.policy
            self._log_personal_error()

    def revoke_personal(self, name: str, notebook: str | None) -> tuple[str, ...]:
        """Withdraw a personal grant (from one notebook, or all of them)."""
        try:
            return self.secrets.revoke_personal(name, notebook)
        finally:
            CONTEXT.policy = self.secrets.policy
            self._log_personal_error()

    def signature_status(self, notebook: dict[str, Any]) -> tuple[NotebookVerdict, dict[str, Any]]:
        """The signing verdict of ``notebook`` and its JSON for the REST API, with the
        policy's required number of signatures and roles. Raises ValueError when the
        notebook or the trust anchors cannot be checked."""
        verdict = self.signing.verify(notebook)
        settings = self.signing.settings
        return verdict, {
            **verdict.to_json(),
            "required": settings.require,
            "require_roles": list(settings.require_roles),
        }

    def check_unsaved(self, notebook: dict[str, Any], path: str) -> dict[str, Any]:
        """The signing status of content not saved yet, as it would be once saved (with
        its provenance embedded). Not audited: the editor asks after every change."""
        saved = copy.deepcopy(notebook)
        self.embed_provenance(saved, path)
        return self.signature_status(saved)[1]

    def provenance_report(self, notebook: dict[str, Any], path: str) -> dict[str, Any]:
        """The provenance panel's report: ``notebook`` with this notebook's records
        embedded into a copy, as a save would, judged cell by cell."""
        assert self.serverapp is not None
        store = self.provenance_store() if self.policy.provenance.enabled else None
        # A read creates no store: without one there is nothing to embed.
        records = store.for_notebook(path) if store is not None and store.path.exists() else None
        folder = Path(self.serverapp.contents_manager.root_dir) / PurePosixPath(path).parent
        return provenance_report(
            notebook, path, folder, records, self.policy.provenance.timeline_limit
        )

    def provenance_store(self) -> ProvenanceStore:
        """This user's provenance store (the policy's path, else the default per user)."""
        path = self.policy.provenance.store or default_store_path(current_user())
        return ProvenanceStore(path)

    def embed_provenance(self, notebook: dict[str, Any], path: str) -> None:
        """Embed provenance as a save of ``path`` would (so a signature covers it)."""
        if self.policy.provenance.enabled:
            ProvenanceSaveHook(self.provenance_store(), self.policy.provenance.timeline_limit)(
                {"type": "notebook", "content": notebook}, path
            )

    def emit_signed(self, path: str, entry: dict[str, Any]) -> None:
        """Audit: a notebook signed through the server."""
        data = {
            "path": path,
            "user": current_user(),
            **{k: entry[k] for k in ("principal", "role", "key_fingerprint")},
        }
        self._emit(NOTEBOOK_SIGNED, data)

    def emit_signature_verified(self, path: str, verdict: Any) -> None:
        """Audit: a notebook's signatures checked (status and policy verdict)."""
        data = {
            "path": path,
            "user": current_user(),
            "status": verdict.status,
            "meets_policy": verdict.meets_policy,
            "signatures": len(verdict.results),
        }
        self._emit(SIGNATURE_VERIFIED, data)

    async def stop_extension(self) -> None:
        """Close the secret stores' connections and drop cached values."""
        self.secrets.providers.close()

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
        assert self.serverapp is not None and self.serverapp.event_logger is not None
        self.serverapp.event_logger.emit(schema_id=schema_id, data=data)

    def initialize_handlers(self) -> None:
        """The guarded contents API and the /qsecure/ REST API."""
        self.handlers.extend(handlers())
