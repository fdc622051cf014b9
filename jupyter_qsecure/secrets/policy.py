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
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from .._validate import Section
from .refs import SecretRef, SecretRefError, parse_ref

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Names the kernel or the server rely on; a secret must not replace them.
_RESERVED = re.compile(
    r"^(?:PATH|HOME|PYTHONPATH|PYTHONHOME|LD_\w+|JPY_\w+|JUPYTER\w*|QSECURE_\w+)$"
)


#: Variables kernels cannot run without: never an ``env://`` source, which would take
#: them away from every kernel.
_KERNELS_NEED = re.compile(r"^(?:PATH|HOME|PYTHONPATH|PYTHONHOME|LD_\w+)$")


#: The options of the ``[secrets]`` table itself (every other key is a secret's table).
SECRETS_OPTIONS = ("personal_grants",)


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a secret's name (it becomes an environment variable), or None."""
    if not _ENV_NAME.match(name):
        return "a secret's name becomes an environment variable: use letters, digits and _"
    if _RESERVED.match(name):
        return f"{name} is reserved for Jupyter or jupyter-qsecure; choose another name"
    return None


def _nfc(text: str) -> str:
    """``text`` in Unicode's composed form (NFC): ``análisis.ipynb`` typed in a policy and
    the same name as a Mac's file system or a clone from one spells it (decomposed, NFD)
    are the same notebook to a glob."""
    return text if text.isascii() else unicodedata.normalize("NFC", text)


@lru_cache(maxsize=512)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """Compile a path glob: ``**`` spans folders, ``*`` and ``?`` stay within one name.
    The pattern is matched in Unicode's composed form (NFC), as :meth:`SecretGrant.grants`
    matches paths."""
    pattern = _nfc(pattern)
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
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def glob_problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot be a ``notebooks`` glob, or None: it must be relative to the
    server root, without ``..``, and able to match a path as a kernel's session names it
    (no ``./``, empty folder names or trailing ``/``, which such a path never has; folders
    separated by ``/``, as in every Jupyter path)."""
    parts = pattern.split("/")
    if pattern.startswith("/") or ".." in parts:
        return f"{pattern!r}: globs are relative to the server root, without .."
    if "\\" in pattern:
        return f"{pattern!r}: separate folders with / (Jupyter's paths use / on every system)"
    if "." in parts or "" in parts:
        return (
            f"{pattern!r}: no notebook path has an empty folder name, ./ or a trailing /, "
            "so this glob would never match; write it as the path looks, e.g. "
            "experiments/*.ipynb"
        )
    return None


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
        path = _nfc(notebook.strip("/"))
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


def _unquoted(value: object) -> str:
    """``value`` as a policy error shows it where a secret's value may have been pasted
    (``NAME = "..."``, ``source = 12345678``): a boolean as it is, anything else by its type
    only, with where a value belongs."""
    if isinstance(value, bool):
        return repr(value)
    return (
        f"a value of type {type(value).__name__} (a secret's value goes in its store, "
        "`jupyter qsecure secrets set NAME`, never in the policy)"
    )


def _ref(section: Section, key: str) -> SecretRef:
    """The reference under ``key`` of ``section`` (which must be set), parsed."""
    if section.has(key) and not isinstance(section.table[key], str):
        # Not quoted back (a number may be a PIN pasted where its reference belongs).
        raise section.error(
            key,
            "expected a reference such as keyring://SERVICE/USERNAME, got "
            + _unquoted(section.table[key]),
        )
    text = section.get(key, str, "a reference such as keyring://SERVICE/USERNAME")
    try:
        ref = parse_ref(text)
    except SecretRefError as error:
        raise section.error(key, str(error)) from None
    if ref.scheme == "env" and _KERNELS_NEED.match(ref.location):
        raise section.error(
            key,
            f"{ref}: every kernel needs {ref.location}, and the variables env:// sources read "
            "are removed from kernels' environments (and their values masked); keep the "
            "secret's value in a variable of its own",
        )
    return ref


def _optional_ref(section: Section, key: str) -> SecretRef | None:
    return _ref(section, key) if section.has(key) else None


#: Schemes that only name a ``[vault]`` login credential: no provider serves them as a
#: secret's value (``hub://`` is read by the Vault provider itself, see ``hub.py``).
_CREDENTIAL_ONLY_SCHEMES = ("hub",)


def _grant(source: str, name: str, value: object) -> SecretGrant:
    section = Section(
        source,
        f"secrets.{name}",
        value,
        {"source", "notebooks", "kernels", "users", "allow_short"},
    )
    problem = name_problem(name)
    if problem is not None:
        raise section.error(None, problem)
    if not section.has("source"):
        raise section.error(
            "source", "missing: where the value lives, e.g. keyring://qsecure/ibm-quantum"
        )
    notebooks = section.strings("notebooks", "a list of path globs")
    for pattern in notebooks:
        problem = glob_problem(pattern)
        if problem is not None:
            raise section.error("notebooks", problem)
    ref = _ref(section, "source")
    if ref.scheme in _CREDENTIAL_ONLY_SCHEMES:
        raise section.error(
            "source",
            f"{ref.scheme}:// references are for [vault] credentials (jwt_source, token_source, "
            "secret_id_source), not for a secret's value; a secret's source is keyring://, "
            "vault://, file://, env:// or a plug-in provider's scheme",
        )
    from .providers.names import unknown_scheme  # entry points: read when a policy loads

    problem = unknown_scheme(ref.scheme)
    if problem is not None:
        raise section.error("source", f"{ref}: {problem}")
    return SecretGrant(
        name=name,
        source=ref,
        notebooks=notebooks,
        kernels=section.optional_strings("kernels", "a list of kernelspec names"),
        users=section.optional_strings("users", "a list of user names"),
        allow_short=section.boolean("allow_short", False),
    )


_VAULT_AUTH = ("token", "approle", "jwt", "kubernetes")
#: Credentials never written in the policy, and the environment variable to name instead.
_VAULT_CREDENTIALS = {"token": "VAULT_TOKEN", "secret_id": "VAULT_SECRET_ID"}


def _vault(source: str, base: Path, value: object) -> VaultSettings:
    section = Section(
        source,
        "vault",
        value,
        {
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
        },
        base=base,
        refused={
            key: f"never write a Vault credential in the policy; use {key}_source = "
            f'"env://{variable}" (or file://, keyring://)'
            for key, variable in _VAULT_CREDENTIALS.items()
        },
    )
    defaults = VaultSettings()
    auth = section.choice("auth", defaults.auth, _VAULT_AUTH)
    settings = VaultSettings(
        url=section.string("url", defaults.url, "a URL such as https://vault.example.org:8200"),
        namespace=section.optional_string("namespace", "a namespace"),
        mount=section.string("mount", defaults.mount, "the KV v2 mount, e.g. secret"),
        ca_bundle=section.path("ca_bundle"),
        verify=section.boolean("verify", defaults.verify),
        timeout=section.number("timeout", defaults.timeout, "seconds"),
        auth=auth,
        auth_mount=section.optional_string("auth_mount", "the auth method's mount"),
        role=section.optional_string("role", "a role name"),
        role_id=section.optional_string("role_id", "the AppRole role_id"),
        token_source=_optional_ref(section, "token_source"),
        secret_id_source=_optional_ref(section, "secret_id_source"),
        jwt_source=_optional_ref(section, "jwt_source"),
    )
    needs = {
        "approle": ("role_id", "secret_id_source"),
        "jwt": ("role", "jwt_source"),
        "kubernetes": ("role",),
    }
    for key in needs.get(auth, ()):
        if getattr(settings, key) is None:
            raise section.error(key, f"required with auth = {auth!r}")
    if not settings.timeout > 0:
        raise section.error("timeout", f"expected more than 0 seconds, got {settings.timeout}")
    return settings


def _injection(source: str, value: object) -> InjectionSettings:
    section = Section(source, "injection", value, {"on_error", "timeout", "cache_seconds"})
    defaults = InjectionSettings()
    timeout = section.number("timeout", defaults.timeout, "seconds")
    if not 0 < timeout <= 120:
        raise section.error("timeout", f"expected seconds between 0 and 120, got {timeout}")
    cache = section.number("cache_seconds", defaults.cache_seconds, "seconds (0 to disable)")
    if cache < 0:
        raise section.error("cache_seconds", f"expected 0 or more seconds, got {cache}")
    return InjectionSettings(
        on_error=section.choice("on_error", defaults.on_error, ("start-without", "refuse")),
        timeout=timeout,
        cache_seconds=cache,
    )


def _refuse_case_collisions(section: Section, grants: dict[str, SecretGrant]) -> None:
    """Keyring references that differ only by case name one entry in some keyrings (the
    encrypted-file one among them): one secret would overwrite the other's value."""
    seen: dict[str, SecretGrant] = {}
    for grant in grants.values():
        if grant.source.scheme != "keyring":
            continue
        key = grant.source.location.casefold()
        other = seen.setdefault(key, grant)
        if other is not grant and other.source.location != grant.source.location:
            raise section.error(
                grant.name,
                f"{grant.source} and {other.source} (of {other.name}) differ only by case: "
                "some keyrings store them as one entry, so one value would overwrite the "
                "other; rename one of them",
            )


def parse_secrets_policy(source: str, base: Path, data: dict[str, Any]) -> SecretsPolicy:
    """The secrets policy from a parsed policy file's top-level tables."""
    secrets = Section(
        source, "secrets", data.get("secrets", {}), None, expected="tables [secrets.NAME]"
    )
    if isinstance(secrets.table.get("personal_grants"), dict):
        raise secrets.error(
            "personal_grants",
            "personal_grants is an option of [secrets] (true or false), not a secret's name; "
            "rename the secret",
        )
    personal = secrets.boolean("personal_grants", True)
    grants = {}
    for name, value in secrets.table.items():
        if name in SECRETS_OPTIONS:
            continue
        if not isinstance(value, dict):
            raise secrets.error(
                name,
                f"expected a table [secrets.{name}], got {_unquoted(value)}; the options of "
                f"[secrets] itself are: {', '.join(SECRETS_OPTIONS)}",
            )
        grants[name] = _grant(source, name, value)
    _refuse_case_collisions(secrets, grants)
    vault = _vault(source, base, data["vault"]) if "vault" in data else VaultSettings()
    injection = (
        _injection(source, data["injection"]) if "injection" in data else InjectionSettings()
    )
    return SecretsPolicy(grants, vault, injection, personal_grants=personal)
