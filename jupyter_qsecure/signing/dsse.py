"""DSSE envelopes whose signatures are SSHSIG signatures over the DSSE pre-authentication
encoding (PAE), so in-toto attestations can be signed and checked with SSH keys."""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import Any

from .canonical import canonical_json
from .sshsig import ParsedSignature, SignatureError, parse_armored, sign_with_ssh_keygen, verify

PAYLOAD_TYPE = "application/vnd.in-toto+json"
NAMESPACE = "attestation@jupyter-qsecure"


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def sign_envelope(statement: dict[str, Any], key: Path) -> dict[str, Any]:
    """A DSSE envelope of ``statement`` signed with an SSH key (file or agent)."""
    payload = canonical_json(statement)
    armored = sign_with_ssh_keygen(pae(PAYLOAD_TYPE, payload), key, NAMESPACE)
    return {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [
            {
                "keyid": parse_armored(armored).fingerprint,
                "sig": base64.b64encode(armored.encode()).decode(),
            }
        ],
    }


def verify_envelope(envelope: Any) -> tuple[dict[str, Any], list[ParsedSignature]]:
    """The statement and each valid signature's key; raises SignatureError when the
    envelope is malformed or any signature fails."""
    if (
        not isinstance(envelope, dict)
        or not isinstance(envelope.get("signatures"), list)
        or not envelope["signatures"]
    ):
        raise SignatureError("malformed", "not a DSSE envelope with signatures")
    try:
        payload = base64.b64decode(envelope["payload"], validate=True)
        statement = json.loads(payload)
    except (KeyError, TypeError, binascii.Error, ValueError):
        raise SignatureError("malformed", "the envelope's payload is not base64 of JSON") from None
    message = pae(str(envelope.get("payloadType", "")), payload)
    keys = []
    for number, signature in enumerate(envelope["signatures"], start=1):
        try:
            armored = base64.b64decode(signature["sig"], validate=True).decode()
        except (KeyError, TypeError, binascii.Error, UnicodeDecodeError):
            raise SignatureError(
                "malformed", f"signature {number} is not base64 of an SSH signature"
            ) from None
        keys.append(verify(message, armored, NAMESPACE))
    return statement, keys
