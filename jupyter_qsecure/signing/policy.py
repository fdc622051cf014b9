"""``[signing]`` in the policy file: trust anchors, the reviewer policy, the server's key."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._validate import PolicyError, expect, expect_strings, reject_unknown_keys

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
    table: dict[str, Any] = expect(source, "signing", value, dict, "a table [signing]")
    reject_unknown_keys(
        source,
        "signing",
        table,
        {"allowed_signers", "revoked_keys", "require", "require_roles", "key", "principal"},
    )

    def path(key: str) -> Path | None:
        if key not in table:
            return None
        return (
            base
            / Path(expect(source, f"signing.{key}", table[key], str, "a file path")).expanduser()
        ).resolve()

    require = expect(
        source, "signing.require", table.get("require", 1), int, "a number of signatures"
    )
    if require < 0:
        raise PolicyError(source, "signing.require", f"expected 0 or more, got {require}")
    roles = expect_strings(
        source, "signing.require_roles", table.get("require_roles", []), "a list of roles"
    )
    for role in roles:
        if role not in ROLES:
            raise PolicyError(
                source,
                "signing.require_roles",
                f"{role!r} is not a role; roles are {', '.join(ROLES)}",
            )
    principal = table.get("principal")
    return SigningSettings(
        allowed_signers=path("allowed_signers"),
        revoked_keys=path("revoked_keys"),
        require=require,
        require_roles=roles,
        key=path("key"),
        principal=None
        if principal is None
        else expect(
            source, "signing.principal", principal, str, "a principal (e.g. an e-mail address)"
        ),
    )
