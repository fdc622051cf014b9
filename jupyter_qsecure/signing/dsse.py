"""DSSE envelopes of in-toto Statements, signed with SSH keys.

Each signature's ``sig`` is a plain signature over the DSSE pre-authentication encoding
(PAE) with the key itself (:mod:`.raw`), so stock DSSE tooling checks it
(securesystemslib's ``Envelope.verify`` with the signer's public key, whose ``keyid`` is the
key's ``SHA256:...`` fingerprint). Beside it, ``sshsig`` holds an SSHSIG over the same PAE
in namespace ``attestation@jupyter-qsecure``, which names the key and which stock
``ssh-keygen -Y verify`` checks against an allowed_signers file. A FIDO key cannot make a
plain signature: its ``sig`` then holds the armored SSHSIG (base64), as envelopes of
earlier versions do.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Any

from .._json import loads
from .canonical import canonical_json
from .raw import raw_signature, verify_raw
from .sshsig import ParsedSignature, SignatureError, parse_armored, sign_with_ssh_keygen, verify

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
NAMESPACE = "attestation@jupyter-qsecure"


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def sign_envelope(statement: dict[str, Any], key: Path) -> dict[str, Any]:
    """A DSSE envelope of ``statement`` signed with an SSH key (file or agent)."""
    check_statement(statement)
    payload = canonical_json(statement)
    message = pae(PAYLOAD_TYPE, payload)
    armored = sign_with_ssh_keygen(message, key, NAMESPACE)
    keyid = parse_armored(armored).fingerprint
    raw = raw_signature(message, key)
    signature: dict[str, Any] = (
        {"keyid": keyid, "sig": base64.b64encode(raw).decode(), "sshsig": armored}
        if raw is not None
        else {"keyid": keyid, "sig": base64.b64encode(armored.encode()).decode()}
    )
    return {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [signature],
    }


def check_statement(statement: Any) -> None:
    """Raise SignatureError (``malformed``) unless ``statement`` is an in-toto Statement
    v1: ``_type``, a non-empty ``subject`` list of ``{name, digest: {alg: hex}}`` objects,
    a ``predicateType`` string."""

    def bad(problem: str) -> SignatureError:
        return SignatureError("malformed", f"not an in-toto Statement v1: {problem}")

    if not isinstance(statement, dict):
        raise bad("the payload is not a JSON object")
    if statement.get("_type") != STATEMENT_TYPE:
        raise bad(f"_type is {statement.get('_type')!r}, not {STATEMENT_TYPE!r}")
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or not subjects:
        raise bad("subject is not a non-empty list")
    for number, subject in enumerate(subjects, start=1):
        digest = subject.get("digest") if isinstance(subject, dict) else None
        if (
            not isinstance(subject, dict)
            or not isinstance(subject.get("name", ""), str)
            or not isinstance(digest, dict)
            or not digest
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in digest.items())
        ):
            raise bad(f"subject {number} is not an object with a name and a digest map")
    if not isinstance(statement.get("predicateType"), str):
        raise bad("predicateType is not a string")


def verify_envelope(envelope: Any) -> tuple[dict[str, Any], list[ParsedSignature]]:
    """The statement and each valid signature's key; raises SignatureError when the
    envelope is malformed, is not an in-toto Statement v1, or any signature fails."""
    if (
        not isinstance(envelope, dict)
        or not isinstance(envelope.get("signatures"), list)
        or not envelope["signatures"]
    ):
        raise SignatureError("malformed", "not a DSSE envelope with signatures")
    if envelope.get("payloadType") != PAYLOAD_TYPE:
        raise SignatureError(
            "malformed",
            f"payloadType is {envelope.get('payloadType')!r}, not {PAYLOAD_TYPE!r}",
        )
    try:
        payload = base64.b64decode(envelope["payload"], validate=True)
    except (KeyError, TypeError, binascii.Error, ValueError):
        raise SignatureError("malformed", "the envelope's payload is not base64") from None
    try:
        # A key repeated in the statement ("subject" twice) is read one way here and
        # another way by a verifier that keeps the first: refused.
        statement = loads(payload.decode("utf-8"), unique_keys=True)
    except ValueError as error:  # UnicodeDecodeError and JSONTextError included
        raise SignatureError("malformed", f"the envelope's payload is not JSON: {error}") from None
    check_statement(statement)
    message = pae(PAYLOAD_TYPE, payload)
    keys = []
    for number, signature in enumerate(envelope["signatures"], start=1):
        keys.append(_verify_one(number, signature, message))
    return statement, keys


def _verify_one(number: int, signature: Any, message: bytes) -> ParsedSignature:
    if not isinstance(signature, dict):
        raise SignatureError("malformed", f"signature {number} is not an object")
    try:
        sig = base64.b64decode(signature["sig"], validate=True)
    except (KeyError, TypeError, binascii.Error, ValueError):
        raise SignatureError("malformed", f"signature {number}: sig is not base64") from None
    armored = signature.get("sshsig")
    if armored is not None and not sig:
        # Stock DSSE verifiers check only sig: an empty one beside a valid sshsig would
        # be an envelope this verifies and they refuse.
        raise SignatureError("malformed", f"signature {number}: sig is empty")
    if armored is None:  # a FIDO key's, or an earlier version's: sig holds the SSHSIG
        try:
            armored = sig.decode("ascii")
        except UnicodeDecodeError:
            raise SignatureError(
                "malformed", f"signature {number} has no sshsig naming its key"
            ) from None
        sig = b""
    if not isinstance(armored, str):
        raise SignatureError("malformed", f"signature {number}: sshsig is not text")
    parsed = verify(message, armored, NAMESPACE)
    if signature.get("keyid") != parsed.fingerprint:
        raise SignatureError(
            "bad-signature", f"signature {number}: keyid is not the fingerprint of its key"
        )
    if sig and not verify_raw(parsed.public_key, sig, message):
        raise SignatureError(
            "bad-signature", f"signature {number}: sig does not verify with the key of its sshsig"
        )
    return parsed
