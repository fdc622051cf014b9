"""The secrets part of the policy: ``[secrets.NAME]`` grants, ``[vault]`` and ``[injection]``.

A grant says which secret reaches which kernels::

    [secrets.IBM_QUANTUM_TOKEN]
    source = "keyring://qsecure/ibm-quantum"
    notebooks = ["experiments/**/*.ipynb"]   # globs relative to the server root; default none
    kernels = ["python3"]                    # optional
    users = ["alice"]                        # optional (JupyterHub user names)

One option sits in ``[secrets]`` itself: ``personal_grants = false`` turns off the grants a
researcher makes from JupyterLab (see :mod:`.personal`); they are on by default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from .._validate import PolicyError, expect, expect_strings, reject_unknown_keys
from .refs import SecretRef, SecretRefError, parse_ref

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Names the kernel or the server rely on; a secret must not replace them.
_RESERVED = re.compile(
    r"^(?:PATH|HOME|PYTHONPATH|PYTHONHOME|LD_\w+|JPY_\w+|JUPYTER\w*|QSECURE_\w+)$"
)


#: The options of the ``[secrets]`` table itself (every other key is a secret's table).
SECRETS_OPTIONS = ("personal_grants",)


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a secret's name (it becomes an environment variable), or None."""
    if not _ENV_NAME.match(name):
        return "a secret's name becomes an environment variable: use letters, digits and _"
    if _RESERVED.match(name):
        return f"{name} is reserved for Jupyter or jupyter-qsecure; choose another name"
    return None


@lru_cache(maxsize=512)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """Compile a path glob: ``**`` spans folders, ``*`` and ``?`` stay within one name."""
    out = []
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            out.append("(?:.*/)?")
            index += 3
        elif pattern.startswith("**", index):
            out.append(".*")
            index += 2
        elif pattern[index] == "*":
            out.append("[^/]*")
            index += 1
        elif pattern[index] == "?":
            out.append("[^/]")
            index += 1
        else:
            out.append(re.escape(pattern[index]))
            index += 1
    return re.compile("".join(out) + r"\Z")


@dataclass(frozen=True)
class SecretGrant:
    """One ``[secrets.NAME]`` table."""

    name: str
    source: SecretRef
    notebooks: tuple[str, ...] = ()
    kernels: tuple[str, ...] | None = None
    users: tuple[str, ...] | None = None
    allow_short: bool = False
    #: Made by a researcher from JupyterLab (the personal grants file), not by the policy.
    personal: bool = False

    def grants(self, user: str, notebook: str | None, kernel: str | None) -> bool:
        """Whether a kernel for ``notebook`` (relative to the server root), of kernelspec
        ``kernel``, run by ``user``, receives this secret."""
        if self.users is not None and user not in self.users:
            return False
        if self.kernels is not None and kernel not in self.kernels:
            return False
        if notebook is None:
            return False
        path = notebook.strip("/")
        return any(glob_regex(pattern).match(path) for pattern in self.notebooks)


@dataclass(frozen=True)
class VaultSettings:
    """``[vault]``: how to reach Vault / OpenBao. Credentials come from references."""

    url: str = "http://127.0.0.1:8200"
    namespace: str | None = None
    mount: str = "secret"
    ca_bundle: Path | None = None
    verify: bool = True
    timeout: float = 5.0
    auth: str = "token"
    auth_mount: str | None = None
    role: str | None = None
    role_id: str | None = None
    token_source: SecretRef | None = None
    secret_id_source: SecretRef | None = None
    jwt_source: SecretRef | None = None


@dataclass(frozen=True)
class InjectionSettings:
    """``[injection]``: what a kernel start does when a store fails."""

    on_error: str = "start-without"
    timeout: float = 10.0
    cache_seconds: float = 300.0


@dataclass(frozen=True)
class SecretsPolicy:
    """Everything the secrets capability reads from the policy file."""

    grants: dict[str, SecretGrant] = field(default_factory=dict)
    vault: VaultSettings = field(default_factory=VaultSettings)
    injection: InjectionSettings = field(default_factory=InjectionSettings)
    #: ``[secrets] personal_grants``: whether researchers may grant keyring secrets to
    #: notebooks from JupyterLab.
    personal_grants: bool = True

    def granted(self, user: str, notebook: str | None, kernel: str | None) -> list[SecretGrant]:
        """The grants for one kernel start, in policy order."""
        return [grant for grant in self.grants.values() if grant.grants(user, notebook, kernel)]


def _ref(source: str, key: str, value: object) -> SecretRef:
    text = expect(source, key, value, str, "a reference such as keyring://SERVICE/USERNAME")
    try:
        return parse_ref(text)
    except SecretRefError as error:
        raise PolicyError(source, key, str(error)) from None


#: Schemes that only name a ``[vault]`` login credential: no provider serves them as a
#: secret's value (``hub://`` is read by the Vault provider itself, see ``hub.py``).
_CREDENTIAL_ONLY_SCHEMES = ("hub",)


def _grant(source: str, name: str, value: object) -> SecretGrant:
    section = f"secrets.{name}"
    table: dict[str, Any] = expect(source, section, value, dict, f"a table [{section}]")
    reject_unknown_keys(
        source, section, table, {"source", "notebooks", "kernels", "users", "allow_short"}
    )
    problem = name_problem(name)
    if problem is not None:
        raise PolicyError(source, section, problem)
    if "source" not in table:
        raise PolicyError(
            source,
            f"{section}.source",
            "missing: where the value lives, e.g. keyring://qsecure/ibm-quantum",
        )
    notebooks = expect_strings(
        source, f"{section}.notebooks", table.get("notebooks", []), "a list of path globs"
    )
    for pattern in notebooks:
        if pattern.startswith("/") or ".." in pattern.split("/"):
            raise PolicyError(
                source,
                f"{section}.notebooks",
                f"{pattern!r}: globs are relative to the server root, without ..",
            )
    ref = _ref(source, f"{section}.source", table["source"])
    if ref.scheme in _CREDENTIAL_ONLY_SCHEMES:
        raise PolicyError(
            source,
            f"{section}.source",
            f"{ref.scheme}:// references are for [vault] credentials (jwt_source, token_source, "
            "secret_id_source), not for a secret's value; a secret's source is keyring://, "
            "vault://, file://, env:// or a plug-in provider's scheme",
        )
    kernels = table.get("kernels")
    users = table.get("users")
    return SecretGrant(
        name=name,
        source=ref,
        notebooks=notebooks,
        kernels=None
        if kernels is None
        else expect_strings(source, f"{section}.kernels", kernels, "a list of kernelspec names"),
        users=None
        if users is None
        else expect_strings(source, f"{section}.users", users, "a list of user names"),
        allow_short=expect(
            source, f"{section}.allow_short", table.get("allow_short", False), bool, "true or false"
        ),
    )


_VAULT_AUTH = ("token", "approle", "jwt", "kubernetes")


def _vault(source: str, base: Path, value: object) -> VaultSettings:
    table: dict[str, Any] = expect(source, "vault", value, dict, "a table [vault]")
    if "token" in table or "secret_id" in table:
        key = "token" if "token" in table else "secret_id"
        raise PolicyError(
            source,
            f"vault.{key}",
            f"never write a Vault credential in the policy; use {key}_source = "
            f'"env://{"VAULT_TOKEN" if key == "token" else "VAULT_SECRET_ID"}" (or file://, keyring://)',
        )
    known = {
        "url",
        "namespace",
        "mount",
        "ca_bundle",
        "verify",
        "timeout",
        "auth",
        "auth_mount",
        "role",
        "role_id",
        "token_source",
        "secret_id_source",
        "jwt_source",
    }
    reject_unknown_keys(source, "vault", table, known)
    auth = table.get("auth", "token")
    if auth not in _VAULT_AUTH:
        raise PolicyError(
            source, "vault.auth", f"expected one of {', '.join(_VAULT_AUTH)}, got {auth!r}"
        )
    settings = VaultSettings(
        url=expect(
            source,
            "vault.url",
            table.get("url", VaultSettings.url),
            str,
            "a URL such as https://vault.example.org:8200",
        ),
        namespace=table.get("namespace")
        and expect(source, "vault.namespace", table["namespace"], str, "a namespace"),
        mount=expect(
            source, "vault.mount", table.get("mount", "secret"), str, "the KV v2 mount, e.g. secret"
        ),
        ca_bundle=(
            base / expect(source, "vault.ca_bundle", table["ca_bundle"], str, "a file path")
        ).resolve()
        if "ca_bundle" in table
        else None,
        verify=expect(source, "vault.verify", table.get("verify", True), bool, "true or false"),
        timeout=float(
            expect(source, "vault.timeout", table.get("timeout", 5.0), (int, float), "seconds")
        ),
        auth=auth,
        auth_mount=table.get("auth_mount")
        and expect(source, "vault.auth_mount", table["auth_mount"], str, "the auth method's mount"),
        role=table.get("role") and expect(source, "vault.role", table["role"], str, "a role name"),
        role_id=table.get("role_id")
        and expect(source, "vault.role_id", table["role_id"], str, "the AppRole role_id"),
        token_source=_ref(source, "vault.token_source", table["token_source"])
        if "token_source" in table
        else None,
        secret_id_source=_ref(source, "vault.secret_id_source", table["secret_id_source"])
        if "secret_id_source" in table
        else None,
        jwt_source=_ref(source, "vault.jwt_source", table["jwt_source"])
        if "jwt_source" in table
        else None,
    )
    needs = {
        "approle": ("role_id", "secret_id_source"),
        "jwt": ("role", "jwt_source"),
        "kubernetes": ("role",),
    }
    for key in needs.get(auth, ()):
        if getattr(settings, key) is None:
            raise PolicyError(source, f"vault.{key}", f"required with auth = {auth!r}")
    return settings


def _injection(source: str, value: object) -> InjectionSettings:
    table: dict[str, Any] = expect(source, "injection", value, dict, "a table [injection]")
    reject_unknown_keys(source, "injection", table, {"on_error", "timeout", "cache_seconds"})
    on_error = table.get("on_error", "start-without")
    if on_error not in ("start-without", "refuse"):
        raise PolicyError(
            source, "injection.on_error", f'expected "start-without" or "refuse", got {on_error!r}'
        )
    timeout = float(
        expect(source, "injection.timeout", table.get("timeout", 10.0), (int, float), "seconds")
    )
    if not 0 < timeout <= 120:
        raise PolicyError(
            source, "injection.timeout", f"expected seconds between 0 and 120, got {timeout}"
        )
    cache = float(
        expect(
            source,
            "injection.cache_seconds",
            table.get("cache_seconds", 300),
            (int, float),
            "seconds (0 to disable)",
        )
    )
    if cache < 0:
        raise PolicyError(
            source, "injection.cache_seconds", f"expected 0 or more seconds, got {cache}"
        )
    return InjectionSettings(on_error=on_error, timeout=timeout, cache_seconds=cache)


def parse_secrets_policy(source: str, base: Path, data: dict[str, Any]) -> SecretsPolicy:
    """The secrets policy from a parsed policy file's top-level tables."""
    secrets_table: dict[str, Any] = expect(
        source, "secrets", data.get("secrets", {}), dict, "tables [secrets.NAME]"
    )
    personal = secrets_table.get("personal_grants", True)
    if isinstance(personal, dict):
        raise PolicyError(
            source,
            "secrets.personal_grants",
            "personal_grants is an option of [secrets] (true or false), not a secret's name; "
            "rename the secret",
        )
    personal = expect(source, "secrets.personal_grants", personal, bool, "true or false")
    grants = {}
    for name, value in secrets_table.items():
        if name in SECRETS_OPTIONS:
            continue
        if not isinstance(value, dict):
            raise PolicyError(
                source,
                f"secrets.{name}",
                f"expected a table [secrets.{name}], got {value!r}; the options of [secrets] "
                f"itself are: {', '.join(SECRETS_OPTIONS)}",
            )
        grants[name] = _grant(source, name, value)
    vault = _vault(source, base, data["vault"]) if "vault" in data else VaultSettings()
    injection = (
        _injection(source, data["injection"]) if "injection" in data else InjectionSettings()
    )
    return SecretsPolicy(grants, vault, injection, personal_grants=personal)
