"""``qsecure-provisioner``: a LocalProvisioner that injects granted secrets at kernel start.

The server extension makes it the default for every kernel the server starts. Elsewhere
(`jupyter execute`, nbclient, papermill) select it with
``JUPYTER_DEFAULT_PROVISIONER_NAME=qsecure-provisioner`` and name the notebook with
``QSECURE_NOTEBOOK`` (the server passes it itself).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_client.provisioning.local_provisioner import LocalProvisioner

from ..provenance.policy import ProvenancePolicy
from .injection import SERVER_CREDENTIALS, current_user, notebook_from_environment, resolve
from .policy import SecretsPolicy
from .providers import Providers
from .registry import REGISTRY, KernelSecrets, new_capability

EventSink = Callable[[str, dict[str, Any]], None]
KERNEL_EXTENSION = "jupyter_qsecure.kernel"
PROVISIONER_NAME = "qsecure-provisioner"


class KernelStartRefused(RuntimeError):
    """``[injection] on_error = "refuse"`` and a granted secret could not be fetched."""


@dataclass
class ProvisionerContext:
    """What the server extension tells the provisioner (set by the app at start).

    Without a server (nbclient, `jupyter execute`), the provisioner loads the policy itself
    and takes the current directory as the root."""

    policy: SecretsPolicy | None = None
    provenance: ProvenancePolicy | None = None
    root_dir: Path | None = None
    server_url: str | None = None
    emit: EventSink | None = None
    providers: Providers | None = field(default=None, repr=False)

    def resolved(self) -> tuple[SecretsPolicy, Providers, Path]:
        """The policy, providers and root in force (loading them once if unset)."""
        if self.policy is None:
            from ..config import load_policy

            loaded = load_policy()
            self.policy, self.provenance = loaded.secrets, loaded.provenance
        if self.providers is None:
            self.providers = Providers(self.policy)
        return self.policy, self.providers, self.root_dir or Path.cwd()


CONTEXT = ProvisionerContext()


def _is_ipykernel(cmd: list[str]) -> bool:
    return any("ipykernel" in part for part in cmd)


def _withheld_variables(policy: SecretsPolicy, granted: set[str]) -> set[str]:
    """Server environment variables a kernel must not inherit: the server's credentials
    and every variable an ``env://`` source or a Vault credential reads."""
    names = set(SERVER_CREDENTIALS)
    refs = [grant.source for grant in policy.grants.values()]
    refs += [
        ref
        for ref in (
            policy.vault.token_source,
            policy.vault.secret_id_source,
            policy.vault.jwt_source,
        )
        if ref
    ]
    names.update(ref.location for ref in refs if ref.scheme == "env")
    return names - granted


def _provenance_environment(
    env: dict[str, str], user: str, notebook: str | None, kernel_id: str
) -> None:
    """Tell the kernel's recorder what it runs for and where the store is."""
    provenance = CONTEXT.provenance or ProvenancePolicy()
    if not provenance.enabled:
        env["QSECURE_PROVENANCE"] = "0"
        return
    from ..provenance.kernel import STORE_ENV, default_store_path

    env[STORE_ENV] = str(provenance.store or default_store_path(user))
    env["QSECURE_PROVENANCE_HASH_LIMIT"] = str(provenance.hash_limit)
    env["QSECURE_KERNEL_ID"] = kernel_id
    if notebook:
        env["QSECURE_NOTEBOOK"] = notebook


class QSecureProvisioner(LocalProvisioner):
    """Injects the secrets granted to this kernel's notebook, user and kernelspec."""

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        """Fetch granted values, strip server credentials, add names, capability and the
        kernel extension; remember the values for the guard."""
        kwargs = await super().pre_launch(**kwargs)
        env: dict[str, str] = kwargs["env"]
        policy, providers, root = CONTEXT.resolved()
        user = current_user()
        notebook = notebook_from_environment(env, root)
        kernel_name = getattr(self.kernel_spec, "name", None) or getattr(
            self.parent, "kernel_name", None
        )
        injection = await asyncio.to_thread(resolve, policy, providers, user, notebook, kernel_name)
        if injection.problems and policy.injection.on_error == "refuse":
            self._emit_problems(injection.problems, notebook, user)
            details = "; ".join(message for _, message in injection.problems.values())
            raise KernelStartRefused(f"kernel start refused by jupyter-qsecure: {details}")
        for name in _withheld_variables(policy, set(injection.values)):
            env.pop(name, None)
        env.update(injection.values)
        env["QSECURE_SECRET_NAMES"] = ",".join(sorted(injection.values))
        if injection.problems:
            env["QSECURE_SECRET_PROBLEMS"] = "; ".join(
                message for _, message in injection.problems.values()
            )
        capability = new_capability()
        env["QSECURE_KERNEL_CAPABILITY"] = capability
        if CONTEXT.server_url:
            env["QSECURE_SERVER_URL"] = CONTEXT.server_url
        _provenance_environment(env, user, notebook, self.kernel_id)
        if _is_ipykernel(kwargs["cmd"]):
            kwargs["cmd"] = [
                *kwargs["cmd"],
                f"--InteractiveShellApp.extra_extensions={KERNEL_EXTENSION}",
            ]
        REGISTRY.remember(
            KernelSecrets(
                self.kernel_id,
                dict(injection.values),
                capability,
                user,
                notebook,
                kernel_name,
                {n: m for n, (_, m) in injection.problems.items()},
            )
        )
        self._emit_injected(sorted(injection.values), notebook, user, kernel_name)
        self._emit_problems(injection.problems, notebook, user)
        return kwargs

    async def cleanup(self, restart: bool = False) -> None:
        """Forget the kernel's values when it goes away (kept across a restart)."""
        await super().cleanup(restart=restart)
        if not restart:
            REGISTRY.forget(self.kernel_id)

    def _emit_injected(
        self, names: list[str], notebook: str | None, user: str, kernel_name: str | None
    ) -> None:
        if CONTEXT.emit is not None and names:
            from ..events import SECRET_INJECTED

            data = {
                "names": names,
                "kernel_id": self.kernel_id,
                "notebook": notebook or "",
                "user": user,
                "kernel_name": kernel_name or "",
            }
            CONTEXT.emit(SECRET_INJECTED, data)

    def _emit_problems(
        self, problems: dict[str, tuple[str, str]], notebook: str | None, user: str
    ) -> None:
        if CONTEXT.emit is None:
            return
        from ..events import PROVIDER_ERROR, SECRET_DENIED

        for name, (reason, message) in problems.items():
            schema = SECRET_DENIED if reason == "too-short" else PROVIDER_ERROR
            CONTEXT.emit(
                schema,
                {
                    "name": name,
                    "reason": reason,
                    "message": message,
                    "kernel_id": self.kernel_id,
                    "notebook": notebook or "",
                    "user": user,
                },
            )
