"""Resolve which secrets a kernel gets and fetch their values, waiting only while their
stores answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .errors import ProviderError, no_answer
from .forms import MIN_SECRET_LENGTH
from .policy import SecretGrant, SecretsPolicy
from .providers import Providers

#: The server's own credentials: never passed to a kernel unless granted as secrets.
SERVER_CREDENTIALS = (
    "JUPYTERHUB_API_TOKEN",
    "JPY_API_TOKEN",
    "VAULT_TOKEN",
    "BAO_TOKEN",
    "VAULT_SECRET_ID",
    "QSECURE_KEYRING_PASSWORD",
    "JUPYTER_TOKEN",
)


@dataclass
class Injection:
    """The outcome for one kernel start: values to inject, and problems by secret name."""

    values: dict[str, str] = field(default_factory=dict)
    problems: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (reason, message)


def named(error: ProviderError, name: str) -> ProviderError:
    """``error`` with its hint naming the secret (a provider knows only the reference)."""
    message = str(error)
    if "<secret name>" not in message:
        return error
    return ProviderError(error.reason, message.replace("<secret name>", name))


def too_short(grant: SecretGrant, value: str) -> str | None:
    """Why ``value`` is not injected for ``grant`` (too short without ``allow_short``)."""
    if len(value) >= MIN_SECRET_LENGTH or grant.allow_short:
        return None
    return (
        f"{grant.name}: values under {MIN_SECRET_LENGTH} characters are not injected (masking "
        "them would hit ordinary text); set allow_short = true in its [secrets] table to "
        "inject it anyway"
    )


def fetch_all(
    providers: Providers, grants: list[SecretGrant], timeout: float, fresh: bool
) -> dict[str, str | ProviderError]:
    """Every grant's value or the error of its store. Reads run concurrently (a read
    already in flight, the warm-up's included, is joined, not repeated); the wait ends
    when every read is done, or with reason ``timeout`` for those whose store has
    finished nothing for ``timeout`` seconds: a slow store that keeps answering is waited
    for, one that stopped answering is not."""
    asked = providers.now()
    reads = {grant.name: providers.read(grant.source, fresh=fresh) for grant in grants}
    providers.wait(list(reads.values()), timeout, since=asked)
    outcome: dict[str, str | ProviderError] = {}
    for grant in grants:
        read = reads[grant.name]
        if not read.done:
            outcome[grant.name] = no_answer(grant.source, timeout)
        elif read.error is not None:
            outcome[grant.name] = named(read.error, grant.name)
        else:
            outcome[grant.name] = read.result()
    return outcome


def resolve(
    policy: SecretsPolicy,
    providers: Providers,
    user: str,
    notebook: str | None,
    kernel: str | None,
    *,
    fresh: bool = False,
) -> Injection:
    """The values granted to a kernel for ``notebook`` (relative to the server root);
    ``fresh`` reads every store again instead of the short cache."""
    grants = policy.granted(user, notebook, kernel)
    injection = Injection()
    for name, result in fetch_all(providers, grants, policy.injection.timeout, fresh).items():
        grant = policy.grants[name]
        if isinstance(result, ProviderError):
            injection.problems[name] = (result.reason, str(result))
        elif too_short(grant, result):
            injection.problems[name] = ("too-short", str(too_short(grant, result)))
        else:
            injection.values[name] = result
    return injection


def notebook_from_environment(
    env: dict[str, str], root: Path, *, served: bool = False
) -> str | None:
    """The notebook a kernel is for, relative to ``root``.

    For a kernel a Jupyter server starts (``served``): only its session's path, which
    jupyter-qsecure passes as ``QSECURE_SESSION_PATH`` (never the client's session name,
    nor a ``QSECURE_NOTEBOOK`` in the server's environment); no session, no notebook.
    Without a server (`jupyter execute`, nbclient, papermill): ``QSECURE_NOTEBOOK``, else
    ``JPY_SESSION_NAME``."""
    if served:
        raw = env.get("QSECURE_SESSION_PATH")
    else:
        raw = env.get("QSECURE_NOTEBOOK") or env.get("JPY_SESSION_NAME")
    if not raw:
        return None
    path = Path(raw)
    if not path.is_absolute():
        return api_notebook(raw)
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return None  # outside the root: no glob can grant it


def api_notebook(path: str | None) -> str | None:
    """The notebook an API path names, as grants judge it: relative to the server root,
    without ``.`` parts, doubled or trailing slashes; None for an empty path or one with
    ``..`` (no glob can grant it). A kernel's notebook and the secrets panel's both come
    from here, so the panel says what the kernel gets."""
    parts = [part for part in PurePosixPath((path or "").strip("/")).parts if part != "."]
    return None if ".." in parts or not parts else PurePosixPath(*parts).as_posix()
