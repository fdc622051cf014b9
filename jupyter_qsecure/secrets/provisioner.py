"""``qsecure-provisioner``: a LocalProvisioner that injects granted secrets at kernel start.

The server extension makes it the default for every kernel the server starts. Elsewhere
(`jupyter execute`, nbclient, papermill) select it with
``JUPYTER_DEFAULT_PROVISIONER_NAME=qsecure-provisioner`` and name the notebook with
``QSECURE_NOTEBOOK`` (the server passes it itself).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_client.provisioning.local_provisioner import LocalProvisioner
from tornado.web import HTTPError

from .._shown import logged
from ..identity import acting_user, restart_requested, server_user
from ..provenance.policy import ProvenancePolicy
from .injection import SERVER_CREDENTIALS, Injection, notebook_from_environment, resolve
from .policy import SecretsPolicy
from .providers import Providers
from .registry import KernelSecretRegistry, KernelSecrets, new_capability

EventSink = Callable[[str, dict[str, Any]], None]
KERNEL_EXTENSION = "jupyter_qsecure.kernel"
PROVISIONER_NAME = "qsecure-provisioner"


class _RefusalsWithoutTraceback(logging.Filter):
    """Drops the traceback jupyter_client logs with a refused start: the message says it
    all, and a refusal is an expected outcome, not a crash."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], KernelStartRefused):
            record.exc_info, record.exc_text = None, None
        return True


#: The reason a refused kernel start answers with (REST ``reason``).
REFUSED_REASON = "qsecure-secrets-unavailable"


def describe_problems(problems: dict[str, tuple[str, str]]) -> str:
    """The secrets that were not injected and why, one clause per distinct reason:
    ``A, B: wrong keyring password ...; C: not in the keyring`` (a wrong password
    refuses every keyring secret with the same message, said once)."""
    names_by_message: dict[str, list[str]] = {}
    for name, (_, message) in sorted(problems.items()):
        names_by_message.setdefault(message, []).append(name)
    return "; ".join(
        f"{', '.join(names)}: {message}" for message, names in names_by_message.items()
    )


class KernelStartRefused(HTTPError):
    """``[injection] on_error = "refuse"`` and a granted secret could not be fetched: the
    start is answered ``503`` with reason ``qsecure-secrets-unavailable`` and the message
    (names and store errors, never a value), logged as a warning without a traceback."""

    def __init__(self, message: str) -> None:
        super().__init__(503, message.replace("%", "%%"), reason=REFUSED_REASON)
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass
class KernelServices:
    """What a kernel start needs from its surroundings.

    Under a Jupyter server, the jupyter-qsecure app owns one (its secrets service, registry
    and policy) and the provisioner finds it through its kernel manager's parents. Without
    a server (nbclient, `jupyter execute`), the provisioner builds its own from the policy
    file, with the current directory as the root."""

    policy: Callable[[], SecretsPolicy]
    providers: Providers
    registry: KernelSecretRegistry
    provenance: ProvenancePolicy
    root_dir: Path
    server_url: str | None = None
    emit: EventSink | None = field(default=None, repr=False)
    #: Why secrets must not be injected (the server's jupyter-qsecure did not load).
    unavailable: str | None = None
    #: Whether granted secrets are fetched and injected at all.
    inject: bool = True

    @classmethod
    def standalone(cls) -> KernelServices:
        """Services for a kernel started outside a Jupyter server."""
        from ..config import load_policy

        loaded = load_policy()
        return cls(
            policy=lambda: loaded.secrets,
            providers=Providers(loaded.secrets),
            registry=KernelSecretRegistry(),
            provenance=loaded.provenance,
            root_dir=Path.cwd(),
        )


def _withholding_services(reason: str | None) -> KernelServices:
    """Services that inject nothing and withhold the server's credentials and the variables
    the policy file's ``env://`` sources read (when it can be read): for a server whose
    jupyter-qsecure did not load (``reason`` says so in the kernel) or is not enabled."""
    from ..config import load_policy

    try:
        policy = load_policy().secrets
    except Exception:
        policy = SecretsPolicy()
    return KernelServices(
        policy=lambda: policy,
        providers=Providers(SecretsPolicy()),
        registry=KernelSecretRegistry(),
        provenance=ProvenancePolicy(enabled=False),
        root_dir=Path.cwd(),
        unavailable=reason,
        inject=False,
    )


#: The attribute of a Jupyter server's extension app that holds its :class:`KernelServices`.
SERVICES_ATTRIBUTE = "kernel_services"
EXTENSION_NAME = "jupyter_qsecure"


def _enabled(server: Any) -> bool:
    enabled = getattr(server, "jpserver_extensions", None) or {}
    return any(on and name.split(".")[0] == EXTENSION_NAME for name, on in enabled.items())


def server_services(provisioner: Any) -> KernelServices | bool | None:
    """The :class:`KernelServices` of the Jupyter server (or another host holding them as
    ``kernel_services``) that owns this provisioner's kernel manager; None when that server
    enables jupyter-qsecure but it did not load; ``False`` when there is no such server (a
    standalone run)."""
    node = getattr(provisioner, "parent", None)
    seen = 0
    while node is not None and seen < 8:
        held = getattr(node, SERVICES_ATTRIBUTE, None)
        if isinstance(held, KernelServices):
            return held
        manager = getattr(node, "extension_manager", None)
        if manager is not None:
            point = getattr(manager, "extension_points", {}).get(EXTENSION_NAME)
            app = getattr(point, "app", None) if point is not None else None
            services = getattr(app, SERVICES_ATTRIBUTE, None)
            if isinstance(services, KernelServices):
                return services
            if not _enabled(node):
                return _withholding_services(None)
            return None
        node = getattr(node, "parent", None)
        seen += 1
    return False


#: The session model's path (relative to the server root) of the notebook a kernel is
#: started for, set by the server (see :func:`pass_session_paths`).
SESSION_PATH_ENV = "QSECURE_SESSION_PATH"


def pass_session_paths(session_manager: Any) -> None:
    """Make a Jupyter server's session manager give each kernel it starts its session's
    path, the notebook the kernel serves. The client's session ``name`` (which the server
    joins into ``JPY_SESSION_NAME``) and a ``QSECURE_NOTEBOOK`` in the server's own
    environment never decide which notebook's grants a kernel gets."""
    original = session_manager.get_kernel_env
    if getattr(original, "qsecure_session_paths", False):
        return

    def get_kernel_env(path: str | None, name: Any = None) -> dict[str, str]:
        env = dict(original(path, name))
        env.pop("QSECURE_NOTEBOOK", None)
        env[SESSION_PATH_ENV] = (path or "").strip("/")
        return env

    get_kernel_env.qsecure_session_paths = True  # type: ignore[attr-defined]
    session_manager.get_kernel_env = get_kernel_env


_terminal_policy: list[Callable[[], SecretsPolicy]] = []


def strip_terminal_environment(policy: Callable[[], SecretsPolicy]) -> bool:
    """Make the terminals a Jupyter server starts (terminado) lose the same server
    credentials and ``env://`` source variables as kernels do; terminals get no secrets.
    Returns whether terminado is there to be changed."""
    try:
        from terminado.management import TermManagerBase
    except ImportError:
        return False
    _terminal_policy[:] = [policy]  # the latest server's policy decides
    original = TermManagerBase.make_term_env
    if getattr(original, "qsecure_stripped", False):
        return True

    def make_term_env(self: Any, *args: Any, **kwargs: Any) -> dict[str, str]:
        env = dict(original(self, *args, **kwargs))
        try:
            withheld = _withheld_variables(_terminal_policy[0](), set())
        except Exception:  # a policy that cannot be read: withhold what is always withheld
            withheld = set(SERVER_CREDENTIALS)
        for name in withheld:
            env.pop(name, None)
        return env

    make_term_env.qsecure_stripped = True  # type: ignore[attr-defined]
    TermManagerBase.make_term_env = make_term_env  # type: ignore[method-assign]
    return True


#: Run first in every kernel given secrets (as ``PYTHONSTARTUP``): takes them away where
#: the masking extension did not install.
STARTUP = str(Path(__file__).with_name("startup.py"))


def _check_masking_at_start(env: dict[str, str]) -> None:
    """Point the kernel's ``PYTHONSTARTUP`` at :data:`STARTUP`, keeping one of the user's
    own in ``QSECURE_PYTHONSTARTUP`` (run after it)."""
    current = env.get("PYTHONSTARTUP", "")
    if current == STARTUP:
        return
    if current:
        env["QSECURE_PYTHONSTARTUP"] = current
    else:
        env.pop("QSECURE_PYTHONSTARTUP", None)
    env["PYTHONSTARTUP"] = STARTUP


def _is_ipykernel(cmd: list[str]) -> bool:
    return any("ipykernel" in part for part in cmd)


def _withheld_variables(policy: SecretsPolicy, granted: set[str]) -> set[str]:
    """Server environment variables a kernel must not inherit: the server's credentials,
    every variable an ``env://`` source or a Vault credential reads, and every variable
    named like a secret of the policy that is not in ``granted``."""
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
    # A variable of a secret's name in the server's own environment (a token exported in
    # the shell that started JupyterLab) would reach a kernel the secret is not granted
    # to, or whose store failed, unmasked: the name is the secret's, given or absent.
    names.update(policy.grants)
    return names - granted


def _provenance_environment(
    env: dict[str, str],
    provenance: ProvenancePolicy,
    user: str,
    notebook: str | None,
    kernel_id: str,
) -> None:
    """Tell the kernel's recorder what it runs for and where the store is."""
    if not provenance.enabled:
        env["QSECURE_PROVENANCE"] = "0"
        return
    from ..provenance.kernel import STORE_ENV, default_store_path

    env[STORE_ENV] = str(provenance.store or default_store_path(user))
    env["QSECURE_PROVENANCE_HASH_LIMIT"] = str(provenance.hash_limit)
    env["QSECURE_KERNEL_ID"] = kernel_id
    if notebook:
        env["QSECURE_NOTEBOOK"] = notebook


@dataclass(frozen=True)
class _Starter:
    """Who a kernel start is audited as: ``user`` (empty when no one asked) and, for a
    restart, whether a request asked for it (``requested``) or the server restarted a
    kernel that died (``automatic``)."""

    user: str
    restart: str | None = None

    @classmethod
    def of(cls, kernel_id: str, *, restarting: bool) -> _Starter:
        if not restarting:
            return cls(acting_user())
        if restart_requested(kernel_id):
            return cls(acting_user(), "requested")
        return cls("", "automatic")

    def fields(self) -> dict[str, str]:
        """The audit event's fields naming the starter."""
        if self.restart is None:
            return {"user": self.user}
        return {"user": self.user, "restart": self.restart}


class QSecureProvisioner(LocalProvisioner):
    """Injects the secrets granted to this kernel's notebook, user and kernelspec."""

    #: Whether this provisioner prepared a start of its kernel before (jupyter_client keeps
    #: a kernel's provisioner across its restarts, and makes a new one for a new kernel).
    _prepared_before = False

    _services: KernelServices | None = None

    def services(self) -> KernelServices:
        """The server's services for this kernel, or a standalone run's own."""
        if self._services is None:
            found = server_services(self)
            if found is False:
                self._services = KernelServices.standalone()
            elif found is None:
                self._services = _withholding_services(
                    "jupyter-qsecure did not load on this server: no secrets were injected "
                    "(see the server log)"
                )
            else:
                assert isinstance(found, KernelServices)
                self._services = found
        return self._services

    def _served(self) -> bool:
        """Whether a Jupyter server started this kernel (else nbclient, papermill...)."""
        return server_services(self) is not False

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        """Fetch granted values, strip server credentials, add names, capability and the
        kernel extension; remember the values for the guard."""
        # The session's path as the server's session manager passed it, read before the
        # kernelspec's env stanza is applied (it must not name the notebook) and only from
        # a start that passed an environment (a kernel without a session inherits the
        # server's own, which must not name one either).
        passed = kwargs.get("env")
        session_path = passed.get(SESSION_PATH_ENV) if isinstance(passed, dict) else None
        kwargs = await super().pre_launch(**kwargs)
        env: dict[str, str] = kwargs["env"]
        # Not the kernel's to keep: a server started from it would pass it on.
        env.pop(SESSION_PATH_ENV, None)
        services = self.services()
        policy = services.policy()
        user = server_user()
        served = self._served()
        # Only a restart of this kernel continues its record: a new kernel started under
        # the id of one that died (``POST /api/kernels`` takes the id from the client, and
        # a kernel the server gave up restarting is dropped without a cleanup) gets
        # nothing of that record, neither its notebook's grants nor its restart's name.
        previous = (
            services.registry.get(self.kernel_id) if served and self._prepared_before else None
        )
        # The kernel runs as the server's user, with its grants; the audit trail names who
        # asked for this start: the request's user (a collaborator on a shared server,
        # else the same user), no one for a restart the server makes by itself.
        starter = _Starter.of(self.kernel_id, restarting=previous is not None)
        # A restart keeps the notebook the server tracks for the kernel (renames included).
        notebook = (
            previous.notebook
            if previous is not None
            else notebook_from_environment(
                {SESSION_PATH_ENV: session_path or ""} if served else env,
                services.root_dir,
                served=served,
            )
        )
        kernel_name = getattr(self.kernel_spec, "name", None) or getattr(
            self.parent, "kernel_name", None
        )
        if not services.inject:
            injection = Injection()
        else:
            injection = await asyncio.to_thread(
                resolve, policy, services.providers, user, notebook, kernel_name
            )
        for name, (reason, message) in sorted(injection.problems.items()):
            self.log.warning(
                "jupyter-qsecure: kernel %s for %s: %s not injected (%s): %s",
                logged(self.kernel_id),
                logged(notebook) if notebook else "(no notebook)",
                logged(name),
                logged(reason),
                logged(message),
            )
        if injection.problems and policy.injection.on_error == "refuse":
            self._emit_problems(injection.problems, notebook, starter)
            details = describe_problems(injection.problems)
            for log in (getattr(self.parent, "log", None), self.log):
                if isinstance(log, logging.Logger) and not any(
                    isinstance(f, _RefusalsWithoutTraceback) for f in log.filters
                ):
                    log.addFilter(_RefusalsWithoutTraceback())
            raise KernelStartRefused(f"kernel start refused by jupyter-qsecure: {details}")
        for name in _withheld_variables(policy, set(injection.values)):
            env.pop(name, None)
        env.update(injection.values)
        env["QSECURE_SECRET_NAMES"] = ",".join(sorted(injection.values))
        if injection.values:
            _check_masking_at_start(env)
        problems = [describe_problems(injection.problems)] if injection.problems else []
        if services.unavailable:
            problems.append(services.unavailable)
        if problems:
            env["QSECURE_SECRET_PROBLEMS"] = "; ".join(problems)
        capability = new_capability()
        # The kernel extension takes both out of its environment as it loads; the server
        # accepts the capability only with this kernel id, from loopback.
        env["QSECURE_KERNEL_CAPABILITY"] = capability
        env["QSECURE_KERNEL_ID"] = self.kernel_id
        if services.server_url:
            env["QSECURE_SERVER_URL"] = services.server_url
        _provenance_environment(env, services.provenance, user, notebook, self.kernel_id)
        if _is_ipykernel(kwargs["cmd"]):
            kwargs["cmd"] = [
                *kwargs["cmd"],
                f"--InteractiveShellApp.extra_extensions={KERNEL_EXTENSION}",
            ]
        services.registry.remember(
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
        self._prepared_before = True
        self._emit_injected(sorted(injection.values), notebook, starter, kernel_name)
        self._emit_problems(injection.problems, notebook, starter)
        return kwargs

    async def cleanup(self, restart: bool = False) -> None:
        """Forget the kernel's values when it goes away (kept across a restart)."""
        await super().cleanup(restart=restart)
        if not restart:
            self.services().registry.forget(self.kernel_id)

    def _emit(self, schema: str, data: dict[str, Any]) -> None:
        emit = self.services().emit
        if emit is not None:
            emit(schema, data)

    def _emit_injected(
        self, names: list[str], notebook: str | None, starter: _Starter, kernel_name: str | None
    ) -> None:
        if names:
            from ..events import SECRET_INJECTED

            data = {
                "names": names,
                "kernel_id": self.kernel_id,
                "notebook": notebook or "",
                **starter.fields(),
                "kernel_name": kernel_name or "",
            }
            self._emit(SECRET_INJECTED, data)

    def _emit_problems(
        self, problems: dict[str, tuple[str, str]], notebook: str | None, starter: _Starter
    ) -> None:
        from ..events import PROVIDER_ERROR, SECRET_DENIED

        for name, (reason, message) in problems.items():
            schema = SECRET_DENIED if reason == "too-short" else PROVIDER_ERROR
            self._emit(
                schema,
                {
                    "name": name,
                    "reason": reason,
                    "message": message,
                    "kernel_id": self.kernel_id,
                    "notebook": notebook or "",
                    **starter.fields(),
                },
            )
