"""The server extension: loads the policy, wires the guard into the ContentsManager,
registers the audit event schemas and the REST handlers."""

from __future__ import annotations

from pathlib import Path
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
from .provenance.store import ProvenanceStore
from .secrets.injection import current_user
from .secrets.providers import Providers
from .secrets.provisioner import CONTEXT, PROVISIONER_NAME
from .secrets.registry import REGISTRY, KernelSecretRegistry
from .secrets.service import SecretsService
from .signing.service import SigningService


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
        self.log.info("jupyter-qsecure %s: policy from %s", __version__, self.policy.source)

    def _setup_secrets(self) -> None:
        assert self.serverapp is not None
        providers = Providers(self.policy.secrets)
        self.secrets = SecretsService(self.policy.secrets, providers, self.registry, self._emit)
        CONTEXT.policy = self.policy.secrets
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
