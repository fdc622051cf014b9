"""Signatures reviewers can check: the canonical form of a notebook (``canonical``).

``jupyter_qsecure.signing.canonical`` is imported inside every kernel (provenance hashes
outputs there), so importing this package must stay as light as that module: standard
library and ``rfc8785`` only. Import heavier signing modules (SSHSIG, allowed_signers)
by their own module path, not from here.
"""

from __future__ import annotations

from .canonical import (
    CANONICAL_FORM,
    CanonicalFormError,
    canonical_json,
    canonical_output,
    canonical_outputs,
    cell_digest,
    cell_digests,
    cell_view,
    normalize_text,
    notebook_digest,
    notebook_payload,
    outputs_digest,
    payload_and_cell_digests,
    signed_view,
    source_digest,
)

__all__ = [
    "CANONICAL_FORM",
    "CanonicalFormError",
    "canonical_json",
    "canonical_output",
    "canonical_outputs",
    "cell_digest",
    "cell_digests",
    "cell_view",
    "normalize_text",
    "notebook_digest",
    "notebook_payload",
    "outputs_digest",
    "payload_and_cell_digests",
    "signed_view",
    "source_digest",
]
