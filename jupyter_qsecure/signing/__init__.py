"""Signatures reviewers can check: the canonical form of a notebook, SSHSIG signatures in
its metadata, trust from an allowed_signers file, and signed in-toto attestations.

Public API:

- The canonical form (:mod:`.canonical`, specified in ``docs/signing.md``):
  ``CANONICAL_FORM``, ``CanonicalFormError``, ``canonical_json`` (RFC 8785: the one
  canonical JSON of the package), ``canonical_output``, ``canonical_outputs``,
  ``cell_view``, ``signed_view``, ``normalize_text``, ``notebook_payload``,
  ``notebook_digest``, ``payload_and_cell_digests``, ``cell_digest``, ``cell_digests``,
  ``outputs_digest``, ``source_digest``.
- Notebook signatures: ``sign_notebook``, ``verify_notebook`` -> ``NotebookVerdict``,
  under a ``SigningPolicy`` (threshold over distinct keys and principals, roles granted
  by the verifier); each signs a statement (``signed_statement``: payload digest,
  principal, role, time, canonical form); ``SignatureError``.
- Trust: ``load_allowed_signers`` (git's and ssh-keygen 9.x's allowed_signers format,
  certificates through ``cert-authority`` lines), ``load_revoked_keys`` (public key lines
  or a KRL), ``AllowedSignersError``.
- Attestations: ``sign_envelope``, ``verify_envelope`` (DSSE: a plain signature standard
  DSSE tooling checks, and an SSHSIG beside it).
- The server side: ``SigningService``; the ``[signing]`` policy: ``SigningSettings``,
  ``parse_signing_policy``; each user's personal setup (key and principal chosen in
  JupyterLab, a personal allowed_signers): ``PersonalSigning``, ``PersonalSetup``,
  ``KeyCandidate``, ``SetupError``, ``effective_settings``.

``signing.canonical`` is imported inside every kernel (provenance hashes outputs there),
so importing this package stays as light as that module (standard library and
``rfc8785``): everything but the canonical form (SSHSIG needs ``cryptography``) is
imported on first use.
"""

from __future__ import annotations

from .._lazy import lazy_exports
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

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .allowed_signers import AllowedSignersError, load_allowed_signers, load_revoked_keys
    from .dsse import sign_envelope, verify_envelope
    from .policy import SigningSettings, parse_signing_policy
    from .service import SigningService
    from .setup import (
        KeyCandidate,
        PersonalSetup,
        PersonalSigning,
        SetupError,
        effective_settings,
    )
    from .signatures import (
        NotebookVerdict,
        SigningPolicy,
        sign_notebook,
        signed_statement,
        verify_notebook,
    )
    from .sshsig import SignatureError

__all__ = [
    "CANONICAL_FORM",
    "AllowedSignersError",
    "CanonicalFormError",
    "KeyCandidate",
    "NotebookVerdict",
    "PersonalSetup",
    "PersonalSigning",
    "SetupError",
    "SignatureError",
    "SigningPolicy",
    "SigningService",
    "SigningSettings",
    "canonical_json",
    "canonical_output",
    "canonical_outputs",
    "cell_digest",
    "cell_digests",
    "cell_view",
    "effective_settings",
    "load_allowed_signers",
    "load_revoked_keys",
    "normalize_text",
    "notebook_digest",
    "notebook_payload",
    "outputs_digest",
    "parse_signing_policy",
    "payload_and_cell_digests",
    "sign_envelope",
    "sign_notebook",
    "signed_statement",
    "signed_view",
    "source_digest",
    "verify_envelope",
    "verify_notebook",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "AllowedSignersError": ".allowed_signers",
        "load_allowed_signers": ".allowed_signers",
        "load_revoked_keys": ".allowed_signers",
        "sign_envelope": ".dsse",
        "verify_envelope": ".dsse",
        "SigningSettings": ".policy",
        "parse_signing_policy": ".policy",
        "SigningService": ".service",
        "KeyCandidate": ".setup",
        "PersonalSetup": ".setup",
        "PersonalSigning": ".setup",
        "SetupError": ".setup",
        "effective_settings": ".setup",
        "NotebookVerdict": ".signatures",
        "SigningPolicy": ".signatures",
        "sign_notebook": ".signatures",
        "signed_statement": ".signatures",
        "verify_notebook": ".signatures",
        "SignatureError": ".sshsig",
    },
)
