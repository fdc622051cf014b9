"""Notebook signatures: stored in ``metadata.qsecure.signatures``, made with SSH keys in
OpenSSH's SSHSIG format over a *signed statement*, checked against an allowed_signers file
and the verifier's policy.

The statement (:func:`signed_statement`) is one canonical JSON object holding everything a
verifier relies on: the digest of the notebook's canonical payload, the canonical form and
statement version, the namespace, and the signer's principal, role and signing time. So
none of them can be edited without breaking the signature, and stock
``ssh-keygen -Y verify`` checks the bytes ``jupyter qsecure payload --signature N`` prints.

Signatures made before statements existed (format 1: the SSHSIG signed the payload alone,
principal, role and time were unsigned fields beside it) are still checked for validity,
but reported as legacy and never trusted.

Each signature keeps the per-cell digests of what it signed, so a failed verification
names the cells that changed. Signatures are outside the signed view: adding one never
invalidates another.

Trust comes only from an allowed_signers file (who may sign, when, as which principal),
and roles only from the verifier's policy (:class:`SigningPolicy` ``grants``); without an
allowed_signers file every signature is still checked for validity, but none is trusted.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path

from .._shown import shown, unseen
from .allowed_signers import AllowedSigner, match_pattern_list, trust
from .canonical import (
    CANONICAL_FORM,
    CANONICAL_FORMS,
    LEGACY_CANONICAL_FORM,
    canonical_json,
    notebook_payload,
    payload_and_cell_digests,
)
from .policy import DEFAULT_GRANTS
from .sshsig import (
    ParsedSignature,
    SignatureError,
    openssh_public_key,
    parse_armored,
    plain_public_key,
    sign_with_ssh_keygen,
    verify,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NamedTuple
else:
    from .._records import NamedTuple

NAMESPACE = "notebook@jupyter-qsecure"
ROLES = ("author", "reviewer", "approver")
#: The statement version: in every statement and every entry that holds one.
STATEMENT_TYPE = "jupyter-qsecure-signature-v2"
#: The most signatures one notebook's verification checks; more make it invalid (bounds
#: the work an adversarial notebook can cause: each is a signature check, and the policy
#: search grows with them).
MAX_SIGNATURES = 64
#: How far in the future a signing time may be (clock skew) before it is refused.
CLOCK_SKEW = timedelta(minutes=5)
#: The most characters of a reason a verdict shows (it can name a field, and each field
#: is shown cut at ``_shown.SHOWN_FIELD`` characters).
SHOWN_REASON = 1000

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
#: Why a valid signature in the first format is never trusted.
LEGACY = (
    "legacy signature (format 1): its principal, role and time are not signed, so it is "
    "not trusted; ask the signer to sign again (jupyter qsecure sign)"
)
#: Why the statement does not verify while the signature does over the recorded content.
EDITED = (
    "the signature does not verify over its statement: the principal, role, signing time "
    "or canonical form recorded with it was changed after signing, or the signature is "
    "damaged"
)


class SigningPolicy(NamedTuple):
    """What a notebook needs: ``require`` valid, trusted signatures from distinct keys and
    distinct principals, ``require_roles`` among them (each from a different signer), and
    ``grants``: for each role, the principals (allowed_signers patterns) the verifier lets
    hold it. A signature claiming a role its principal is not granted is not trusted."""

    require: int = 1
    require_roles: tuple[str, ...] = ()
    grants: Mapping[str, tuple[str, ...]] = DEFAULT_GRANTS

    def granted(self, principal: str, role: str) -> bool:
        """Whether the policy lets ``principal`` sign as ``role``."""
        patterns = self.grants.get(role)
        return bool(patterns) and match_pattern_list(principal, patterns or ())


class SignatureResult:
    """One signature's verdict (``principal``, ``role`` and ``signed_at`` as signed),
    filled in while the signature is checked."""

    __slots__ = (
        "changed_cells",
        "fingerprint",
        "index",
        "principal",
        "reason",
        "role",
        "signed_at",
        "trusted",
        "valid",
    )

    def __init__(
        self,
        index: int,
        principal: str,
        role: str,
        signed_at: str,
        fingerprint: str,
        valid: bool = False,
        trusted: bool = False,
        reason: str = "",
        changed_cells: list[str] | None = None,
    ) -> None:
        self.index = index
        self.principal = principal
        self.role = role
        self.signed_at = signed_at
        self.fingerprint = fingerprint
        self.valid = valid
        self.trusted = trusted
        self.reason = reason
        self.changed_cells: list[str] = changed_cells or []

    def to_json(self) -> dict[str, Any]:
        """Every field by name, as the REST API and ``verify --format json`` give it."""
        return {
            "index": self.index,
            "principal": self.principal,
            "role": self.role,
            "signed_at": self.signed_at,
            "fingerprint": self.fingerprint,
            "valid": self.valid,
            "trusted": self.trusted,
            "reason": self.reason,
            "changed_cells": self.changed_cells,
        }

    def __repr__(self) -> str:
        return f"SignatureResult({', '.join(f'{k}={v!r}' for k, v in self.to_json().items())})"


class NotebookVerdict(NamedTuple):
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
            "signatures": [result.to_json() for result in self.results],
        }


def signatures_of(notebook: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The signature entries a notebook carries (a list, possibly empty)."""
    metadata = notebook.get("metadata")
    section = metadata.get("qsecure") if isinstance(metadata, Mapping) else None
    entries = section.get("signatures") if isinstance(section, Mapping) else None
    return (
        [entry for entry in entries if isinstance(entry, dict)] if isinstance(entries, list) else []
    )


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def signed_statement(
    payload_sha256: str, *, principal: str, role: str, signed_at: str, canonical_form: str
) -> bytes:
    """The bytes a notebook signature signs: the canonical JSON of the statement
    ``{type, namespace, canonical_form, payload_sha256, principal, role, signed_at}``."""
    return canonical_json(
        {
            "type": STATEMENT_TYPE,
            "namespace": NAMESPACE,
            "canonical_form": canonical_form,
            "payload_sha256": payload_sha256,
            "principal": principal,
            "role": role,
            "signed_at": signed_at,
        }
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
    if not principal or any(c in principal for c in "\0\r\n"):
        raise ValueError("a signature needs a principal (who signs, e.g. an e-mail address)")
    metadata = notebook.get("metadata", {})
    if not isinstance(metadata, dict):
        raise ValueError("the notebook's metadata is not an object; cannot add a signature")
    section = metadata.get("qsecure", {})
    if not isinstance(section, dict):
        raise ValueError("metadata.qsecure is not an object; cannot add a signature")
    if not isinstance(section.get("signatures", []), list):
        raise ValueError("metadata.qsecure.signatures is not a list; cannot add a signature")
    payload, cells = payload_and_cell_digests(notebook)
    digest = hashlib.sha256(payload).hexdigest()
    signed_at = _timestamp(now or datetime.now(timezone.utc))
    statement = signed_statement(
        digest, principal=principal, role=role, signed_at=signed_at, canonical_form=CANONICAL_FORM
    )
    armored = sign_with_ssh_keygen(statement, key, NAMESPACE)
    parsed = parse_armored(armored)
    entry = {
        "format": STATEMENT_TYPE,
        "canonical_form": CANONICAL_FORM,
        "principal": principal,
        "role": role,
        "signed_at": signed_at,
        "key_fingerprint": parsed.fingerprint,
        "public_key": openssh_public_key(parsed.public_key),
        "payload_sha256": digest,
        "cells": cells,
        "signature": armored,
    }
    # setdefault, not assignment: a NotebookNode copies a dict assigned into it, and the
    # entry must land in the notebook's own section.
    notebook.setdefault("metadata", metadata).setdefault("qsecure", section).setdefault(
        "signatures", []
    ).append(entry)
    return entry


def is_legacy(entry: Mapping[str, Any]) -> bool:
    """Whether a signature entry is of the first format (no signed statement)."""
    return "format" not in entry


def signed_bytes(notebook: Mapping[str, Any], entry: Mapping[str, Any]) -> bytes:
    """What signature ``entry`` must verify over for ``notebook`` as it is now: its
    statement (with the digest of the current payload), or, for a legacy signature, the
    payload itself. Raises CanonicalFormError, or ValueError for an entry whose fields
    cannot make a statement."""
    if is_legacy(entry):
        return notebook_payload(notebook, LEGACY_CANONICAL_FORM)
    form = _statement_fields(entry)["canonical_form"]
    payload = notebook_payload(notebook, form)
    return _statement(entry, hashlib.sha256(payload).hexdigest())


def _statement_fields(entry: Mapping[str, Any]) -> dict[str, str]:
    if entry.get("format") != STATEMENT_TYPE:
        raise ValueError(
            f"signature format {entry.get('format')!r} is not known to this version "
            f"(it knows {STATEMENT_TYPE}); upgrade jupyter-qsecure"
        )
    fields = {}
    for name in ("principal", "role", "signed_at", "canonical_form"):
        value = entry.get(name)
        if not isinstance(value, str):
            raise ValueError(f"the signature's {name} is not a string")
        fields[name] = value
    if fields["canonical_form"] not in CANONICAL_FORMS:
        raise ValueError(
            f"the signature names canonical form {fields['canonical_form']!r}, which this "
            f"version does not know ({', '.join(CANONICAL_FORMS)}); upgrade jupyter-qsecure"
        )
    return fields


def _statement(entry: Mapping[str, Any], digest: str) -> bytes:
    fields = _statement_fields(entry)
    return signed_statement(
        digest,
        principal=fields["principal"],
        role=fields["role"],
        signed_at=fields["signed_at"],
        canonical_form=fields["canonical_form"],
    )


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


#: The one form of a signing time that is judged: RFC 3339 (``sign`` writes
#: ``2026-11-24T23:17:14+00:00``). Python's ``fromisoformat`` also reads ISO week dates,
#: the basic format, a blank before the offset, offsets of hours only or with seconds:
#: texts a reviewer (and JupyterLab, which shows a time it cannot read as its text)
#: reads as another moment than the one judged (``2025-W01-1`` is 30 December 2024).
_SIGNED_TIME = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?"
    r"(?:Z|[+-][0-9]{2}:[0-9]{2})"
)


def parse_signed_time(value: Any) -> datetime | None:
    """A signing time as a timezone-aware datetime; None unless it is an RFC 3339 time
    (``YYYY-MM-DDTHH:MM:SS[.fraction]`` and ``Z`` or ``+HH:MM``): a signature's time is
    never guessed, and is judged only in a form every reader reads as the same moment."""
    if not isinstance(value, str) or not re.fullmatch(_SIGNED_TIME, value):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


class _Checked:
    """A signature's result as it is checked, the key that made it, and whether its role
    counts for the policy (claimed, signed and granted)."""

    __slots__ = ("public_key", "result", "role_granted")

    def __init__(self, result: SignatureResult) -> None:
        self.result = result
        self.public_key = b""
        self.role_granted = False


class _Notebook:
    """The payload of a notebook in each canonical form, computed once; its cell digests
    only when a signature does not verify (to name the cells that changed)."""

    def __init__(self, notebook: Mapping[str, Any]) -> None:
        self.notebook = notebook
        self._payloads: dict[str, bytes] = {}
        self._cells: dict[str, list[dict[str, str]]] = {}

    def payload(self, form: str) -> bytes:
        if form not in self._payloads:
            self._payloads[form] = notebook_payload(self.notebook, form)
        return self._payloads[form]

    def cells(self, form: str) -> list[dict[str, str]]:
        if form not in self._cells:
            self._cells[form] = payload_and_cell_digests(self.notebook, form)[1]
        return self._cells[form]


def _check_one(
    index: int,
    entry: dict[str, Any],
    notebook: _Notebook,
    signers: list[AllowedSigner] | None,
    revoked: Any,
    policy: SigningPolicy,
    now: datetime,
) -> _Checked:
    result = SignatureResult(
        index=index,
        principal=str(entry.get("principal", "")),
        role=str(entry.get("role", "")),
        signed_at=str(entry.get("signed_at", "")),
        fingerprint=str(entry.get("key_fingerprint", "")),
        valid=False,
        trusted=False,
    )
    checked = _Checked(result)
    armored = entry.get("signature")
    if not isinstance(armored, str):
        result.reason = "no signature text in this entry"
        return checked
    legacy = is_legacy(entry)
    try:
        form = LEGACY_CANONICAL_FORM if legacy else _statement_fields(entry)["canonical_form"]
    except ValueError as error:
        result.reason = str(error)
        return checked
    payload = notebook.payload(form)  # CanonicalFormError: the notebook cannot be checked
    message = payload if legacy else _statement(entry, hashlib.sha256(payload).hexdigest())
    try:
        parsed = verify(message, armored, NAMESPACE)
    except SignatureError as error:
        result.reason = _why_not(entry, legacy, armored, payload, error)
        if result.reason == MODIFIED:
            result.changed_cells = _changed_cells(entry.get("cells"), notebook.cells(form))
        return checked
    checked.public_key = parsed.public_key
    result.fingerprint = parsed.fingerprint
    problem = _entry_disagrees(entry, parsed)
    if problem:
        result.reason = problem
        return checked
    result.valid = True
    if legacy:
        result.reason = LEGACY
        return checked
    if signers is None:
        result.reason = NO_ALLOWED_SIGNERS
        return checked
    _judge_trust(checked, signers, revoked, policy, now)
    return checked


def _why_not(
    entry: Mapping[str, Any],
    legacy: bool,
    armored: str,
    payload: bytes,
    error: SignatureError,
) -> str:
    """Why a signature does not verify: the content changed since signing ("modified":
    the signature still verifies over the content it recorded), the signed fields were
    edited, or the signature itself is broken."""
    if error.reason != "bad-signature":
        return str(error)
    recorded = entry.get("payload_sha256")
    if not isinstance(recorded, str) or recorded == hashlib.sha256(payload).hexdigest():
        return str(error) if legacy else EDITED
    if not legacy:
        try:
            verify(_statement(entry, recorded), armored, NAMESPACE)
        except (SignatureError, ValueError):
            return EDITED
    return MODIFIED


def _entry_disagrees(entry: Mapping[str, Any], parsed: ParsedSignature) -> str:
    """The unsigned key fields of an entry must name the key that signed."""
    public_key = entry.get("public_key")
    if public_key is not None and (
        not isinstance(public_key, str)
        or public_key.split()[:2] != openssh_public_key(parsed.public_key).split()
    ):
        return "the entry's public_key is not the key that made the signature: it was edited"
    fingerprint = entry.get("key_fingerprint")
    if fingerprint is not None and fingerprint != parsed.fingerprint:
        return "the entry's key_fingerprint is not the key that made the signature: it was edited"
    return ""


def _judge_trust(
    checked: _Checked,
    signers: list[AllowedSigner],
    revoked: Any,
    policy: SigningPolicy,
    now: datetime,
) -> None:
    result = checked.result
    signed_at = parse_signed_time(result.signed_at)
    if signed_at is None:
        result.reason = (
            "the signed time is not an RFC 3339 time (YYYY-MM-DDTHH:MM:SS and Z or "
            "+HH:MM, as jupyter qsecure sign writes it)"
        )
        return
    if signed_at > now + CLOCK_SKEW:
        result.reason = f"signed in the future ({result.signed_at}): the signer's clock is wrong"
        return
    if result.role not in ROLES:
        result.reason = f"the signed role {result.role!r} is not one of {', '.join(ROLES)}"
        return
    if unseen(result.principal):
        result.reason = (
            "the signed principal holds control, invisible or space characters (shown "
            "escaped): no allowed_signers principal is written so, and a report could not "
            "show it as it is"
        )
        return
    verdict = trust(
        signers,
        checked.public_key,
        NAMESPACE,
        signed_at=signed_at,
        principal=result.principal,
        revoked=revoked,
    )
    result.reason = verdict.reason
    if not verdict.trusted:
        return
    if not policy.granted(result.principal, result.role):
        result.reason = (
            f"{result.principal} is not granted the role {result.role} by the verifier's "
            f"policy (grant it with [signing.roles] {result.role} = [...] or --grant "
            f"{result.role}=PATTERN)"
        )
        return
    result.trusted = True
    checked.role_granted = True


# --------------------------------------------------------------------------- the policy


class _Signer(NamedTuple):
    key: bytes
    principal: str
    role: str


def _max_matching(edges: Iterable[tuple[bytes, str]]) -> int:
    """The most (key, principal) pairs with pairwise distinct keys and principals."""
    by_key: dict[bytes, list[str]] = {}
    for key, principal in edges:
        by_key.setdefault(key, []).append(principal)
    owner: dict[str, bytes] = {}

    def augment(key: bytes, seen: set[str]) -> bool:
        for principal in by_key[key]:
            if principal in seen:
                continue
            seen.add(principal)
            if principal not in owner or augment(owner[principal], seen):
                owner[principal] = key
                return True
        return False

    return sum(augment(key, set()) for key in by_key)


def _meet(signers: list[_Signer], policy: SigningPolicy) -> tuple[int, list[str]]:
    """The best the signers can do: how many independent signers (distinct keys, distinct
    principals) and which required roles stay missing, each required role held by a
    different signer. Fewest missing roles first, then most signers."""
    roles = list(dict.fromkeys(policy.require_roles))
    #: No choice can do better than this many signers: stop once a choice reaches it.
    ceiling = min(len({s.key for s in signers}), len({s.principal for s in signers}))
    best: tuple[int, int] = (len(roles) + 1, -1)
    best_missing: list[str] = roles

    def search(at: int, chosen: list[_Signer], missing: list[str]) -> None:
        nonlocal best, best_missing
        if at == len(roles):
            keys = {s.key for s in chosen}
            principals = {s.principal for s in chosen}
            rest = [
                (s.key, s.principal)
                for s in signers
                if s.key not in keys and s.principal not in principals
            ]
            count = len(chosen) + _max_matching(rest)
            score = (len(missing), -count)
            if score < (best[0], -best[1]):
                best, best_missing = (len(missing), count), list(missing)
            return
        role = roles[at]
        for signer in signers:
            if signer.role == role and all(
                signer.key != c.key and signer.principal != c.principal for c in chosen
            ):
                search(at + 1, [*chosen, signer], missing)
                if best[0] == 0 and best[1] >= min(policy.require, ceiling):
                    return
        search(at + 1, chosen, [*missing, role])

    search(0, [], [])
    return best[1], best_missing


def _policy(checked: list[_Checked], policy: SigningPolicy) -> tuple[bool, str]:
    signers = list(
        dict.fromkeys(
            _Signer(plain_public_key(c.public_key), c.result.principal, c.result.role)
            for c in checked
            if c.result.valid and c.result.trusted and c.role_granted
        )
    )
    count, missing = _meet(signers, policy)
    met = count >= policy.require and not missing
    message = f"{count} of {policy.require} required signature(s)"
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
    revoked: Any = frozenset(),
    now: datetime | None = None,
) -> NotebookVerdict:
    """Check every signature: its statement valid over the notebook as it is now, its
    key trusted by ``signers`` for its signed principal at its signed time, its role
    granted by ``policy``; and the notebook against ``policy``: ``require`` signers with
    distinct keys and distinct principals, each required role held by a different one.

    ``revoked`` is anything with ``in`` over key blobs (a set, or a revocation list).
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
    forms = _Notebook(notebook)
    moment = now or datetime.now(timezone.utc)
    checked = [
        _check_one(i, e, forms, signers, revoked, policy, moment)
        for i, e in enumerate(entries[:MAX_SIGNATURES])
    ]
    for index, entry in enumerate(entries[MAX_SIGNATURES:], start=MAX_SIGNATURES):
        extra = _Checked(
            SignatureResult(
                index=index,
                principal=str(entry.get("principal", "")),
                role=str(entry.get("role", "")),
                signed_at=str(entry.get("signed_at", "")),
                fingerprint=str(entry.get("key_fingerprint", "")),
                valid=False,
                trusted=False,
                reason=f"not checked: a notebook may carry at most {MAX_SIGNATURES} signatures",
            )
        )
        checked.append(extra)
    results = [c.result for c in checked]
    if any(not r.valid and r.reason == MODIFIED for r in results):
        status = MODIFIED
    elif any(not r.valid for r in results):
        status = INVALID
    elif any(not r.trusted for r in results):
        status = UNTRUSTED
    else:
        status = SIGNED
    met, message = _policy(checked, policy)
    for result in results:
        _make_shown(result)
    if signers is None:
        message += "; no allowed_signers file, so no signature is trusted"
    # An extra, untrusted signature does not spoil a notebook that meets the policy with
    # trusted ones; an invalid one (or content changed since) always does.
    return NotebookVerdict(status, results, met and all(r.valid for r in results), message)


# --------------------------------------------------------------------------- display


def _make_shown(result: SignatureResult) -> None:
    """Escape and cut every field of ``result`` a reviewer reads (after the policy, which
    compares the fields as signed)."""
    result.principal = shown(result.principal)
    result.role = shown(result.role)
    result.signed_at = shown(result.signed_at)
    result.fingerprint = shown(result.fingerprint)
    result.reason = shown(result.reason, SHOWN_REASON)
    result.changed_cells = [shown(cell) for cell in result.changed_cells]
