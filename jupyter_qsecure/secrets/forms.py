"""The encodings in which an injected value is recognised: as is, base64, URL-encoded, hex.

Used by the masking in the kernel and by the guard on the server; stdlib only, as the
kernel side must import nothing heavy.
"""

from __future__ import annotations

import base64
from urllib.parse import quote, quote_plus

#: Values shorter than this are never injected without ``allow_short = true``: masking or
#: matching them would hit ordinary text.
MIN_SECRET_LENGTH = 8


def encoded_forms(value: str) -> list[str]:
    """``value`` and the forms it takes when encoded, longest first, without duplicates.

    Base64 forms drop their padding and, for standard and URL-safe alphabets, the last
    character (which depends on what follows the value when it is embedded in more data).
    """
    raw = value.encode("utf-8")
    forms = {value, quote(value, safe=""), quote_plus(value), raw.hex(), raw.hex().upper()}
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        encoded = encode(raw).decode("ascii").rstrip("=")
        forms.add(encoded if len(raw) % 3 == 0 else encoded[:-1])
    return sorted((form for form in forms if len(form) >= MIN_SECRET_LENGTH), key=len, reverse=True)
