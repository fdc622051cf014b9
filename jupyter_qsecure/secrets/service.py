"""What the REST API and the CLI do with secrets: describe grants, write and delete values,
check stores, refresh a running kernel. Names and references travel; values only go
into stores and into the kernel they are granted to."""

from __future__ import annotations

import asyncio
import contextvars
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from ..events import PROVIDER_ERROR, SECRET_CHANGED, SECRET_DENIED
from ..identity import acting_user, server_user
from .errors import ProviderError
from .forms import MIN_SECRET_LENGTH
from .injection import api_notebook, fetch_all, named, resolve, too_short
from .personal import GrantInPolicy, PersonalGrants, PersonalGrantsError, default_ref, merge
from .policy import SecretGrant, SecretsPolicy
from .providers import Providers, Read, provider_class
from .refs import SecretRef
from .registry import KernelSecretRegistry, KernelSecrets

EventSink = Callable[[str, dict[str, Any]], None]
Result = TypeVar("Result")


class SecretNotFound(KeyError):
    """A secret name the policy does not define."""


class PersonalGrantsOff(PermissionError):
    """Personal grants are off: ``[secrets] personal_grants = false``, or a policy file
    that cannot be used. The message says which and whom to ask."""


class NotTheServersUser(PermissionError):
    """A personal grant asked for by someone the server does not run for (a collaborator
    on a shared JupyterHub server): the keyring and the kernels are the owner's."""


@dataclass(frozen=True)
class GrantState:
    """Who gets a secret after a personal grant change: the notebooks (exact paths for a
    personal grant, the policy's globs for a policy grant) and whether it is personal."""

    name: str
    notebooks: tuple[str, ...]
    personal: bool

    def to_json(self) -> dict[str, Any]:
        """As ``PUT /qsecure/grants/NAME`` answers."""
        return {"name": self.name, "notebooks": list(self.notebooks), "personal": self.personal}


@dataclass(frozen=True)
class CheckResult:
    """Whether one secret's reference resolves; ``message`` says why not (never the value)."""

    name: str
    source: str
    ok: bool
    reason: str = ""
    message: str = ""


class SecretsService:
    """The secrets capability's operations, over one policy and its providers.

    ``policy`` is the policy file's; with ``personal`` (the personal grants file), the
    service works with :attr:`policy` = the policy file's grants plus this user's personal
    grants, recomputed after each change (see :meth:`reload_personal`)."""

    def __init__(
        self,
        policy: SecretsPolicy,
        providers: Providers,
        registry: KernelSecretRegistry,
        emit: EventSink | None = None,
        *,
        personal: PersonalGrants | None = None,
        policy_source: str = "(embedded defaults)",
        personal_off_reason: str = "personal grants are not available here",
    ) -> None:
        self.admin_policy = policy
        self.policy = policy
        self.policy_source = policy_source
        self.providers = providers
        self.registry = registry
        self.personal = personal
        self._personal_off_reason = personal_off_reason
        self._emit = emit or (lambda schema, data: None)
        #: Why the personal grants file could not be read (none of its grants apply then).
        self.personal_error: str | None = None
        #: The warm-up's reads still under way (see :meth:`prefetch`): weak references, so
        #: a finished read, and the value it carries, is not kept here.
        self.warming: weakref.WeakSet[Read] = weakref.WeakSet()
        # Store writes take long (the encrypted-file keyring derives its key each time) and
        # are serialized by the store anyway: one worker of their own keeps them from
        # filling the shared pool that scans and file reads wait on.
        self._store_worker = ThreadPoolExecutor(1, thread_name_prefix="qsecure-secret-store")
        if personal is not None:
            self.reload_personal()

    async def in_store_worker(self, function: Callable[..., Result], /, *args: Any) -> Result:
        """``function(*args)`` on the service's one store-writing thread, in the caller's
        context (the acting user included); for writes of values and grants."""
        call = partial(contextvars.copy_context().run, function, *args)
        return await asyncio.get_running_loop().run_in_executor(self._store_worker, call)

    def close(self) -> None:
        """Close the stores' connections and stop the store worker (writes under way end)."""
        self._store_worker.shutdown(wait=False)
        self.providers.close()

    @property
    def personal_enabled(self) -> bool:
        """Whether researchers may grant secrets from JupyterLab on this server."""
        return self.personal is not None and self.admin_policy.personal_grants

    def reload_personal(self) -> str | None:
        """Merge the personal grants file into the policy again; return why it could not
        be read (its grants are left out then), else None."""
        self.personal_error = None
        personal: dict[str, SecretGrant] = {}
        if self.personal is not None and self.admin_policy.personal_grants:
            try:
                personal = self.personal.as_grants(server_user())
            except PersonalGrantsError as error:
                self.personal_error = str(error)
        self.policy = merge(self.admin_policy, personal)
        return self.personal_error

    def _personal_store(self) -> PersonalGrants:
        if not self.admin_policy.personal_grants:
            raise PersonalGrantsOff(
                f"personal grants are turned off by the policy file {self.policy_source} "
                "([secrets] personal_grants = false): ask its admin to grant the secret"
            )
        if self.personal is None:
            raise PersonalGrantsOff(self._personal_off_reason)
        return self.personal

    def grant_personal(self, name: str, notebook: str) -> GrantState:
        """Grant the keyring secret ``name`` to ``notebook`` for the current user.

        Raises PersonalGrantsOff, GrantInPolicy (a name the policy file defines, unless
        its grant already covers the notebook: then nothing changes), ValueError for a bad
        name or path, PersonalGrantsError for an unusable grants file."""
        personal = self._personal_store()
        user = _the_servers_user()
        notebook = notebook.strip("/")
        policy_grant = self.admin_policy.grants.get(name)
        if policy_grant is not None:
            kernel = policy_grant.kernels[0] if policy_grant.kernels else None
            if policy_grant.grants(user, notebook, kernel):
                return GrantState(name, policy_grant.notebooks, personal=False)
            raise GrantInPolicy(name, self.policy_source)
        notebooks, changed = personal.add(user, name, notebook)
        if changed:
            self._emit(
                SECRET_CHANGED,
                {"action": "grant", "name": name, "user": user, "notebook": notebook},
            )
        self.reload_personal()
        return GrantState(name, notebooks, personal=True)

    def revoke_personal(self, name: str, notebook: str | None = None) -> tuple[str, ...]:
        """Withdraw the current user's personal grant of ``name`` from ``notebook`` (from
        every notebook when None); return the notebooks it was withdrawn from. Raises
        as :meth:`grant_personal` does."""
        personal = self._personal_store()
        if name in self.admin_policy.grants:
            raise GrantInPolicy(name, self.policy_source)
        user = _the_servers_user()
        removed = personal.remove(user, name, notebook)
        for path in removed:
            self._emit(
                SECRET_CHANGED, {"action": "revoke", "name": name, "user": user, "notebook": path}
            )
        self.reload_personal()
        return removed

    def grant(self, name: str) -> SecretGrant:
        """The policy's grant for ``name``."""
        try:
            return self.policy.grants[name]
        except KeyError:
            raise SecretNotFound(name) from None

    def describe(self, user: str, notebook: str | None) -> list[dict[str, Any]]:
        """Every secret in the policy: source, grants, whether this notebook is granted it
        and whether a running kernel of this notebook received it. ``notebook`` is judged
        as a kernel's session path is (``./a.ipynb`` is ``a.ipynb``)."""
        notebook = api_notebook(notebook)
        kernels = [
            k for k in self.registry.kernels() if notebook is not None and k.notebook == notebook
        ]
        kernel_name = kernels[0].kernel_name if kernels else None
        rows = []
        for grant in self.policy.grants.values():
            if grant.users is not None and user not in grant.users:
                continue  # another user's secret: not even its name is this user's business
            rows.append(
                {
                    "name": grant.name,
                    "source": str(grant.source),
                    "provider": grant.source.scheme,
                    "writable": self.providers.for_ref(grant.source).writable
                    if _known(grant.source)
                    else False,
                    "notebooks": list(grant.notebooks),
                    "kernels": None if grant.kernels is None else list(grant.kernels),
                    "users": None if grant.users is None else list(grant.users),
                    # Without a running kernel, the kernelspec condition is not judged yet.
                    "granted": grant.grants(
                        user, notebook, kernel_name or (grant.kernels or [None])[0]
                    ),
                    "personal": grant.personal,
                    "in_kernel": any(grant.name in k.values for k in kernels),
                    "problem": next(
                        (k.problems[grant.name] for k in kernels if grant.name in k.problems), None
                    ),
                }
            )
        return rows

    def ref_for(self, name: str) -> SecretRef:
        """The reference a value for ``name`` is written to."""
        grant = self.policy.grants.get(name)
        return grant.source if grant is not None else default_ref(name)

    def set_value(self, name: str, value: str) -> SecretRef:
        """Write ``value`` to the store of ``name`` (the keyring for a name not in the policy)."""
        grant = self.policy.grants.get(name)
        if len(value) < MIN_SECRET_LENGTH and not (grant and grant.allow_short):
            raise ValueError(
                f"values under {MIN_SECRET_LENGTH} characters are not injected; set allow_short = true for {name}"
            )
        if "\x00" in value:
            raise ValueError(
                f"the value of {name} holds a NUL character, which an environment variable "
                "cannot hold: give the value without it"
            )
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError(
                    f"the value of {name} is not UTF-8 text (bytes that are not, or a lone "
                    "surrogate): give it as UTF-8"
                ) from None
        ref = self.ref_for(name)
        self.providers.for_ref(ref).store(ref, value)
        self.providers.invalidate(ref)
        self._emit(SECRET_CHANGED, {"action": "set", "name": name, "user": acting_user()})
        return ref

    def delete_value(self, name: str) -> SecretRef:
        """Remove the value of ``name`` from its store."""
        ref = self.ref_for(name)
        self.providers.for_ref(ref).delete(ref)
        self.providers.invalidate(ref)
        self._emit(SECRET_CHANGED, {"action": "delete", "name": name, "user": acting_user()})
        return ref

    def check(self) -> list[CheckResult]:
        """Resolve every reference in the policy, concurrently, one result per secret,
        judged as a kernel start judges it (a value too short is a failure too)."""
        grants = list(self.policy.grants.values())
        outcome = fetch_all(self.providers, grants, self.policy.injection.timeout, fresh=True)
        results = []
        for grant in grants:
            result = outcome[grant.name]
            if isinstance(result, ProviderError):
                error = named(result, grant.name)
                results.append(
                    CheckResult(grant.name, str(grant.source), False, error.reason, str(error))
                )
            elif too_short(grant, result):
                problem = str(too_short(grant, result))
                results.append(
                    CheckResult(grant.name, str(grant.source), False, "too-short", problem)
                )
            else:
                results.append(CheckResult(grant.name, str(grant.source), True))
        return results

    def prefetch(self) -> None:
        """Warm the value cache in the background, so the first kernel does not wait for a
        slow store (an encrypted-file keyring derives a key per secret, 0.4 s or more).
        A kernel start that comes meanwhile joins these reads and has its own secrets read
        first. Failures are left for the kernel start to report; the values go only into
        the cache, for ``cache_seconds``."""
        if self.policy.injection.cache_seconds > 0:
            self.warming = weakref.WeakSet(
                self.providers.warm(grant.source for grant in self.policy.grants.values())
            )

    def refresh(
        self, record: KernelSecrets, names: list[str]
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Fresh values for a running kernel: only what is granted to it now. Returns
        (values, problems by name)."""
        injection = resolve(
            self.policy,
            self.providers,
            record.user,
            record.notebook,
            record.kernel_name,
            fresh=True,
        )
        wanted = set(names) or set(injection.values) | set(injection.problems)
        values = {name: value for name, value in injection.values.items() if name in wanted}
        problems: dict[str, str] = {}
        for name, (reason, message) in injection.problems.items():
            if name not in wanted:
                continue
            problems[name] = message
            # As at kernel start: a store's failure is a provider error, a value too short
            # to mask safely is a denial. Names, reasons and references; never a value.
            self._emit(
                SECRET_DENIED if reason == "too-short" else PROVIDER_ERROR,
                {
                    "name": name,
                    "reason": reason,
                    "message": message,
                    "kernel_id": record.kernel_id,
                    "notebook": record.notebook or "",
                    "user": record.user,
                },
            )
        unknown = sorted(wanted - set(injection.values) - set(injection.problems))
        # The kernel names what it asks for: a value passed in place of its name
        # (refresh(token)) is masked as the kernel's outputs are, a short one included
        # (the server's log masking leaves values under 8 characters alone).
        shown = _masked_names(unknown, record, injection.values)
        for name in unknown:
            problems[name] = f"{shown[name]} is not granted to this kernel"
            self._emit(
                SECRET_DENIED,
                {
                    "name": shown[name],
                    "reason": "not-granted",
                    "message": problems[name],
                    "kernel_id": record.kernel_id,
                    "notebook": record.notebook or "",
                    "user": record.user,
                },
            )
        self.registry.update_values(record.kernel_id, values)
        return values, problems


def _masked_names(names: list[str], record: KernelSecrets, fresh: dict[str, str]) -> dict[str, str]:
    """Each of ``names`` with the values of the kernel of ``record`` (held, replaced by a
    refresh, or ``fresh``) in it written ``[secret:NAME]``."""
    if not names:
        return {}
    from .masking import Masker

    masker = Masker({name: value for value, name in record.retired.items()})
    masker.update({**record.values, **fresh})
    return {name: masker.mask(name) for name in names}


def _known(ref: SecretRef) -> bool:
    try:
        provider_class(ref.scheme)
    except ProviderError:
        return False
    return True


def _the_servers_user() -> str:
    """The request's user, when it is the user the server runs for: only they grant their
    keyring's secrets to their kernels. Raises :class:`NotTheServersUser` for anyone else."""
    user, owner = acting_user(), server_user()
    if user != owner:
        raise NotTheServersUser(
            f"Personal grants give {owner}'s keyring secrets to {owner}'s kernels; "
            f"{user} cannot change them on this server. Ask {owner}, or grant the secret "
            "in your own server."
        )
    return user
