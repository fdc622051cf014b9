"""``[signing]`` in the policy file: trust anchors, the reviewer policy (how many signers,
which roles, who may hold each role), the server's key."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from .._validate import Section

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple
else:
    from .._records import NamedTuple

ROLES = ("author", "reviewer", "approver")
#: Without ``[signing.roles]``: every trusted principal may sign as author, and only that.
DEFAULT_GRANTS: Mapping[str, tuple[str, ...]] = MappingProxyType({"author": ("*",)})


class SigningSettings(NamedTuple):
    """Where trust comes from and what a notebook needs; the key the server signs with
    (immutable: ``settings._replace(key=...)`` makes a changed copy).

    ``grants`` maps each role to the principals (allowed_signers patterns: ``*``, ``?``,
    ``!`` to exclude) the verifier lets hold it; a signer's claimed role counts only when
    granted."""

    allowed_signers: Path | None = None
    revoked_keys: Path | None = None
    require: int = 1
    require_roles: tuple[str, ...] = ()
    key: Path | None = None
    principal: str | None = None
    grants: Mapping[str, tuple[str, ...]] = DEFAULT_GRANTS
    #: The public key (``TYPE BASE64``) ``key`` must sign with, when one was shown for it
    #: (a personal setup's): a signature by any other key is not made.
    key_public: str | None = None


def parse_signing_policy(source: str, base: Path, value: object) -> SigningSettings:
    """The ``[signing]`` table (paths relative to the policy file), with its optional
    ``[signing.roles]`` table: ``role = ["pattern", ...]``."""
    section = Section(
        source,
        "signing",
        value,
        {
            "allowed_signers",
            "revoked_keys",
            "require",
            "require_roles",
            "key",
            "principal",
            "roles",
        },
        base=base,
    )
    roles = section.strings("require_roles", "a list of roles")
    for role in roles:
        if role not in ROLES:
            raise section.error(
                "require_roles", f"{role!r} is not a role; roles are {', '.join(ROLES)}"
            )
    grants: Mapping[str, tuple[str, ...]] = dict(DEFAULT_GRANTS)
    if section.has("roles"):
        table = Section(
            source,
            "signing.roles",
            section.table["roles"],
            ROLES,
            expected="a table [signing.roles] of role = [principal patterns]",
        )
        grants = {
            role: table.strings(role, 'a list of principal patterns (e.g. "*@lab.example")')
            for role in ROLES
            if table.has(role)
        }
    return SigningSettings(
        allowed_signers=section.path("allowed_signers"),
        revoked_keys=section.path("revoked_keys"),
        require=section.integer("require", 1, "a number of signatures", minimum=0),
        require_roles=roles,
        key=section.path("key"),
        principal=section.optional_string("principal", "a principal (e.g. an e-mail address)"),
        grants=grants,
    )


def parse_grants(values: list[str]) -> dict[str, tuple[str, ...]]:
    """``ROLE=PATTERN[,PATTERN...]`` command-line grants as a role -> patterns map.
    Raises ValueError naming the bad value."""
    grants: dict[str, list[str]] = {}
    for value in values:
        role, sep, patterns = value.partition("=")
        if not sep or role not in ROLES or not patterns:
            raise ValueError(
                f"--grant {value!r}: expected ROLE=PATTERN[,PATTERN...] with ROLE one of "
                f"{', '.join(ROLES)} (e.g. --grant reviewer='*@lab.example')"
            )
        grants.setdefault(role, []).extend(patterns.split(","))
    return {role: tuple(patterns) for role, patterns in grants.items()}
