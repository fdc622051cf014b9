"""``jupyter qsecure secrets list|set|check``: the policy's secrets, never their values."""

from __future__ import annotations

import sys
from typing import Any

from jupyter_core.application import JupyterApp

from .._version import __version__
from ..config import PolicyError, load_policy
from .base import UsageError, _Subcommand


def _secrets_service() -> Any:
    from ..secrets.providers import Providers
    from ..secrets.registry import KernelSecretRegistry
    from ..secrets.service import SecretsService

    try:
        policy = load_policy()
    except PolicyError as error:
        raise UsageError(str(error)) from None
    return policy, SecretsService(policy.secrets, Providers(policy.secrets), KernelSecretRegistry())


class SecretsListApp(_Subcommand):
    """List the secrets of the policy: names, sources, grants. Never values."""

    name = "jupyter-qsecure-secrets-list"
    description = "List secrets: name, source, notebooks, kernels, users (never values)."

    def run(self) -> int:
        policy, _ = _secrets_service()
        print(f"policy: {policy.source}")
        grants = policy.secrets.grants
        if not grants:
            print("no secrets defined; add [secrets.NAME] tables to qsecure.toml")
        for grant in grants.values():
            print(f"{grant.name}  {grant.source}")
            print(
                f"    notebooks: {', '.join(grant.notebooks) or '(none: granted to no notebook)'}"
            )
            if grant.kernels is not None:
                print(f"    kernels:   {', '.join(grant.kernels)}")
            if grant.users is not None:
                print(f"    users:     {', '.join(grant.users)}")
        return 0


class SecretsSetApp(_Subcommand):
    """Store a secret's value: read from a prompt (or standard input), never from arguments."""

    name = "jupyter-qsecure-secrets-set"
    description = """Store the value of secret NAME in its store (the keyring by default).

    jupyter qsecure secrets set NAME        (prompts; or pipe the value on standard input)"""

    def run(self) -> int:
        from ..secrets.errors import ProviderError

        if len(self.extra_args) != 1:
            raise UsageError(
                "name one secret: jupyter qsecure secrets set NAME (the value is read from a prompt or stdin)"
            )
        (name,) = self.extra_args
        if not name.isidentifier():
            raise UsageError(
                f"{name!r}: a secret's name becomes an environment variable; use letters, digits and _"
            )
        policy, service = _secrets_service()
        if sys.stdin.isatty():
            import getpass

            value = getpass.getpass(f"Value for {name} (not shown): ")
        else:
            value = _read_stdin().rstrip("\r\n")
        if not value:
            raise UsageError("no value given")
        try:
            ref = service.set_value(name, value)
        except ValueError as error:
            raise UsageError(str(error)) from None
        except ProviderError as error:
            print(f"jupyter qsecure: error: {error}", file=sys.stderr)
            return 1
        print(f"stored {name} in {ref}")
        if name not in policy.secrets.grants:
            print(
                f"{name} is not in the policy yet; grant it to notebooks in {policy.source if policy.source.endswith('.toml') else 'qsecure.toml'}:"
            )
            print(f'\n[secrets.{name}]\nsource = "{ref}"\nnotebooks = ["**/*.ipynb"]')
        return 0


def _read_stdin() -> str:
    """Standard input as UTF-8 text, whatever the locale's error handler (a strict one
    raised UnicodeDecodeError on other bytes); a UsageError when it is not UTF-8."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:
        return sys.stdin.read()
    data = stream.read()
    try:
        return str(data.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise UsageError(
            f"the value on standard input is not UTF-8 text ({error.reason} at byte "
            f"{error.start}): give it as UTF-8"
        ) from None


class SecretsCheckApp(_Subcommand):
    """Resolve every reference in the policy and say which are reachable, and why not."""

    name = "jupyter-qsecure-secrets-check"
    description = (
        "Check that every secret's store answers: ok, or the reason (exit 1 if any fails)."
    )

    def run(self) -> int:
        policy, service = _secrets_service()
        results = service.check()
        for result in results:
            status = "ok" if result.ok else f"FAILED ({result.reason}): {result.message}"
            print(f"{result.name}  {result.source}  {status}")
        if not results:
            print(f"no secrets defined in {policy.source}")
        return 0 if all(result.ok for result in results) else 1


class SecretsApp(JupyterApp):
    """``jupyter qsecure secrets list|set|check``."""

    name = "jupyter-qsecure-secrets"
    version = __version__
    description = "Manage secrets: list, set NAME, check."
    subcommands = {
        "list": (SecretsListApp, SecretsListApp.description.splitlines()[0]),
        "set": (SecretsSetApp, SecretsSetApp.description.splitlines()[0]),
        "check": (SecretsCheckApp, SecretsCheckApp.description.splitlines()[0]),
    }
