"""Reproduction against pinned data: signed BagIt manifests of datasets.

Public API::

    result = create_manifest(Path("calibration"))          # -> calibration.bag (detached)
    sign_bag(result.bag, key, result.algorithm)             # SSHSIG over the tag manifest
    check = verify_manifest(result.bag, quick=False)        # added / removed / changed
    report = check_signatures(bag, check.algorithm, signers, revoked=..., require=1)

- Manifests (:mod:`.manifest`): ``create_manifest`` -> ``CreateResult``,
  ``verify_manifest`` -> ``VerifyResult``, ``bag_algorithm``, ``ManifestError`` (bad
  input); ``AlgorithmUnavailable`` (blake3 without its package).
- Signatures (:mod:`.signatures`): ``sign_bag``, ``check_signatures`` ->
  ``SignatureReport``, ``signed_algorithm``, ``NAMESPACE``.
- Reproduction (:mod:`.rerun`): ``reproduce(notebook, bags=..., rtol=..., atol=...)`` ->
  ``Reproduction`` (inputs checked, environment drift, seeds, per-cell ``CellResult``),
  ``ReproduceError`` (bad input); ``reproduction_statement`` (:mod:`.attest`: the in-toto
  statement ``reproduce --attest`` signs).
- The format (:mod:`.bagit`): ``encode_path``, ``decode_path``, ``parse_manifest``,
  ``BagFormatError``; the walk (:mod:`.tree`): ``Problem``.

Everything is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from .attest import reproduction_statement
    from .bagit import BagFormatError, decode_path, encode_path, parse_manifest
    from .hashing import AlgorithmUnavailable
    from .manifest import (
        CreateResult,
        ManifestError,
        VerifyResult,
        bag_algorithm,
        create_manifest,
        verify_manifest,
    )
    from .rerun import CellResult, ReproduceError, Reproduction, reproduce
    from .signatures import (
        NAMESPACE,
        SignatureReport,
        check_signatures,
        sign_bag,
        signed_algorithm,
    )
    from .tree import Problem

__all__ = [
    "NAMESPACE",
    "AlgorithmUnavailable",
    "BagFormatError",
    "CellResult",
    "CreateResult",
    "ManifestError",
    "Problem",
    "ReproduceError",
    "Reproduction",
    "SignatureReport",
    "VerifyResult",
    "bag_algorithm",
    "check_signatures",
    "create_manifest",
    "decode_path",
    "encode_path",
    "parse_manifest",
    "reproduce",
    "reproduction_statement",
    "sign_bag",
    "signed_algorithm",
    "verify_manifest",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "reproduction_statement": ".attest",
        "BagFormatError": ".bagit",
        "decode_path": ".bagit",
        "encode_path": ".bagit",
        "parse_manifest": ".bagit",
        "AlgorithmUnavailable": ".hashing",
        "CreateResult": ".manifest",
        "ManifestError": ".manifest",
        "VerifyResult": ".manifest",
        "bag_algorithm": ".manifest",
        "create_manifest": ".manifest",
        "verify_manifest": ".manifest",
        "NAMESPACE": ".signatures",
        "SignatureReport": ".signatures",
        "check_signatures": ".signatures",
        "sign_bag": ".signatures",
        "signed_algorithm": ".signatures",
        "CellResult": ".rerun",
        "ReproduceError": ".rerun",
        "Reproduction": ".rerun",
        "reproduce": ".rerun",
        "Problem": ".tree",
    },
)
