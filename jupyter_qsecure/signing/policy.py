"""``[signing]`` in the policy file: trust anchors, the reviewer policy, the server's key."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .._validate import Section

ROLES = ("author", "reviewer", "approver")


@dataclass(frozen=True)
class SigningSettings:
    """Where trust comes from and what a notebook needs; the key the server signs with."""

    allowed_signers: Path | None = None
    revoked_keys: Path | None = None
    require: int = 1
    require_roles: tuple[str, ...] = ()
    key: Path | None = None
    principal: str | None = None


def parse_signing_policy(source: str, base: Path, value: object) -> SigningSettings:
    """The ``[signing]`` table (paths relative to the policy file)."""
    section = Section(
        source,
        "signing",
        value,
        {"allowed_signers", "revoked_keys", "require", "require_roles", "key", "principal"},
        base=base,
    )
    roles = section.strings("require_roles", "a list of roles")
    for role in roles:
        if role not in ROLES:
            raise section.error(
                "require_roles", f"{role!r} is not a role; roles are {', '.join(ROLES)}"
            )
    return SigningSettings(
        allowed_signers=section.path("allowed_signers"),
        revoked_keys=section.path("revoked_keys"),
        require=section.integer("require", 1, "a number of signatures", minimum=0),
        require_roles=roles,
        key=section.path("key"),
        principal=section.optional_string("principal", "a principal (e.g. an e-mail address)"),
    )
