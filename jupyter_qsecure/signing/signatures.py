"""Notebook signatures: stored in ``metadata.qsecure.signatures``, made with SSH keys in
OpenSSH's SSHSIG format over the canonical payload, checked against an allowed_signers file
and a reviewer policy.

Each signature keeps the per-cell digests of what it signed, so a failed verification
names the cells that changed. Signatures are outside the signed view: adding one never
invalidates another.

Trust comes only from an allowed_signers file: without one, every signature is still
checked for validity, but none is trusted, so a notebook is at best "untrusted signer" and
meets no policy that requires a signature.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .allowed_signers import AllowedSigner, trust
from .canonical import payload_and_cell_digests
from .sshsig import SignatureError, openssh_public_key, parse_armored, sign_with_ssh_keygen, verify

NAMESPACE = "notebook@jupyter-qsecure"
ROLES = ("author", "reviewer", "approver")

UNSIGNED = "unsigned"
SIGNED = "signed and valid"
MODIFIED = "modified since signing"
INVALID = "invalid signature"
UNTRUSTED = "untrusted signer"

#: Why a valid signature is not trusted when no allowed_signers file is configured.
NO_ALLOWED_SIGNERS = (
    "no allowed_signers file, so no signature is trusted: pass --allowed-signers FILE "
    "or set [signing] allowed_signers in qsecure.toml"
)


@dataclass(frozen=True)
class SigningPolicy:
    """How many valid, trusted signatures a notebook needs, and which roles among them."""

    require: int = 1
    require_roles: tuple[str, ...] = ()


@dataclass
class SignatureResult:
    """One signature's verdict."""

    index: int
    principal: str
    role: str
    signed_at: str
    fingerprint: str
    valid: bool
    trusted: bool
    reason: str = ""
    changed_cells: list[str] = field(default_factory=list)


@dataclass
class NotebookVerdict:
    """All signatures of a notebook, its status and whether it meets the policy."""

    status: str
    results: list[SignatureResult]
    meets_policy: bool
    policy_message: str

    def to_json(self) -> dict[str, Any]:
        """As the REST API and `jupyter qsecure verify --format json` give it."""
        return {
            "status": self.status,
            "meets_policy": self.meets_policy,
            "policy": self.policy_message,
            "signatures": [asdict(result) for result in self.results],
        }


def signatures_of(notebook: dict[str, Any]) -> list[dict[str, Any]]:
    """The signature entries a notebook carries (a list, possibly empty)."""
    section = notebook.get("metadata", {}).get("qsecure", {})
    entries = section.get("signatures") if isinstance(section, dict) else None
    return (
        [entry for entry in entries if isinstance(entry, dict)] if isinstance(entries, list) else []
    )


def sign_notebook(
    notebook: dict[str, Any],
    key: Path,
    *,
    principal: str,
    role: str = "author",
    now: datetime | None = None,
) -> dict[str, Any]:
    """Sign with ``key`` (a private key file, or a public key whose private half is in
    ssh-agent) and append the signature to the notebook's metadata; return the entry."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if not principal:
        raise ValueError("a signature needs a principal (who signs, e.g. an e-mail address)")
    payload, cells = payload_and_cell_digests(notebook)
    armored = sign_with_ssh_keygen(payload, key, NAMESPACE)
    parsed = parse_armored(armored)
    entry = {
        "principal": principal,
        "role": role,
        "key_fingerprint": parsed.fingerprint,
        "public_key": openssh_public_key(parsed.public_key),
        "signed_at": (now or datetime.now(timezone.utc)).isoformat(timespec="seconds"),
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
        "cells": cells,
        "signature": armored,
    }
    metadata = notebook.setdefault("metadata", {})
    section = metadata.setdefault("qsecure", {})
    if not isinstance(section, dict):
        raise ValueError("metadata.qsecure is not an object; cannot add a signature")
    section.setdefault("signatures", []).append(entry)
    return entry


def _changed_cells(recorded: Any, current: list[dict[str, str]]) -> list[str]:
    if not isinstance(recorded, list):
        return []
    before = {str(c.get("id")): c.get("digest") for c in recorded if isinstance(c, dict)}
    after = {c["id"]: c["digest"] for c in current}
    changed = [cell_id for cell_id, digest in after.items() if before.get(cell_id) != digest]
    changed += [f"{cell_id} (deleted)" for cell_id in before if cell_id not in after]
    if not changed and [str(c.get("id")) for c in recorded if isinstance(c, dict)] != list(after):
        changed.append("(cells reordered)")
    return changed


def _parse_time(value: Any) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _check_one(
    index: int,
    entry: dict[str, Any],
    payload: bytes,
    cells: list[dict[str, str]],
    signers: list[AllowedSigner] | None,
    revoked: set[bytes],
    now: datetime,
) -> SignatureResult:
    result = SignatureResult(
        index=index,
        principal=str(entry.get("principal", "")),
        role=str(entry.get("role", "")),
        signed_at=str(entry.get("signed_at", "")),
        fingerprint=str(entry.get("key_fingerprint", "")),
        valid=False,
        trusted=False,
    )
    armored = entry.get("signature")
    if not isinstance(armored, str):
        result.reason = "no signature text in this entry"
        return result
    try:
        parsed = verify(payload, armored, NAMESPACE)
    except SignatureError as error:
        result.changed_cells = _changed_cells(entry.get("cells"), cells)
        content_changed = bool(result.changed_cells) or _payload_differs(entry, payload)
        # A good signature over other content is "modified"; a broken one is "invalid".
        result.reason = (
            MODIFIED if content_changed and error.reason == "bad-signature" else str(error)
        )
        return result
    result.valid = True
    result.fingerprint = parsed.fingerprint
    signed_at = _parse_time(entry.get("signed_at"))
    if signers is None:
        result.reason = NO_ALLOWED_SIGNERS
        return result
    if signed_at is None:
        result.reason = "signed_at is not a date; trust cannot be checked"
        return result
    verdict = trust(
        signers,
        parsed.public_key,
        NAMESPACE,
        signed_at=signed_at,
        now=now,
        principal=result.principal,
        revoked=revoked,
    )
    result.trusted = verdict.trusted
    result.reason = verdict.reason
    return result


def _payload_differs(entry: dict[str, Any], payload: bytes) -> bool:
    return entry.get("payload_sha256") not in (None, hashlib.sha256(payload).hexdigest())


def _policy(results: Iterable[SignatureResult], policy: SigningPolicy) -> tuple[bool, str]:
    good = [r for r in results if r.valid and r.trusted]
    keys = {r.fingerprint for r in good}
    roles = {r.role for r in good}
    missing = [role for role in policy.require_roles if role not in roles]
    met = len(keys) >= policy.require and not missing
    message = f"{len(keys)} of {policy.require} required signature(s)"
    if policy.require_roles:
        message += f"; roles required: {', '.join(policy.require_roles)}" + (
            f" (missing: {', '.join(missing)})" if missing else ""
        )
    return met, message


def verify_notebook(
    notebook: dict[str, Any],
    signers: list[AllowedSigner] | None,
    *,
    policy: SigningPolicy | None = None,
    revoked: set[bytes] | None = None,
    now: datetime | None = None,
) -> NotebookVerdict:
    """Check every signature: valid over the notebook as it is now, trusted by
    ``signers``, and the notebook against ``policy``.

    ``signers`` is ``None`` when no allowed_signers file is configured: validity is still
    checked, but no signature is trusted (its reason says how to name the file), so the
    status of a notebook whose signatures are all valid is "untrusted signer" and only a
    policy requiring no signature is met."""
    policy = policy or SigningPolicy()
    entries = signatures_of(notebook)
    if not entries:
        return NotebookVerdict(
            UNSIGNED,
            [],
            policy.require == 0 and not policy.require_roles,
            f"0 of {policy.require} required signature(s)",
        )
    payload, cells = payload_and_cell_digests(notebook)
    moment = now or datetime.now(timezone.utc)
    results = [
        _check_one(i, e, payload, cells, signers, revoked or set(), moment)
        for i, e in enumerate(entries)
    ]
    if any(not r.valid and r.reason == MODIFIED for r in results):
        status = MODIFIED
    elif any(not r.valid for r in results):
        status = INVALID
    elif any(not r.trusted for r in results):
        status = UNTRUSTED
    else:
        status = SIGNED
    met, message = _policy(results, policy)
    if signers is None:
        message += "; no allowed_signers file, so no signature is trusted"
    # An extra, untrusted signature does not spoil a notebook that meets the policy with
    # trusted ones; an invalid one (or content changed since) always does.
    return NotebookVerdict(status, results, met and all(r.valid for r in results), message)
