"""Execution provenance: a record per cell execution, a hash-chained store, the notebook
carrying its provenance, a reviewer's verdict and an in-toto attestation.

Public API::

    ProvenanceStore(path).append(record) / .verify() / .for_notebook(path)
    embed_provenance(notebook, records)                  # what the save hook does
    judge(notebook, notebook_dir) -> NotebookVerdict      # offline, from the file alone
    attestation(notebook, name) -> in-toto Statement v1

- The store: ``ProvenanceStore``, its rows ``StoredRecord``, and ``ChainProblem`` (what
  ``verify()`` reports); ``default_store_path(user)``.
- Signed checkpoints of the store's chain (size and head, a C2SP-style signed note with
  an SSHSIG by the server's key): ``Checkpointer``, ``CHECKPOINT_NAMESPACE``.
- The notebook: ``embed_provenance``, ``provenance_report`` (the provenance panel),
  ``judge`` and its ``NotebookVerdict``, ``attestation``; ``execution_record(cell)``, the
  record a cell carries (reproduce reads it too).
- The environment fingerprint: ``collect_environment`` (collectors plug in through the
  ``jupyter_qsecure.collectors`` entry point group).
- The server side: ``ProvenanceService``; the ``[provenance]`` policy:
  ``ProvenancePolicy``, ``parse_provenance_policy``.

Every kernel imports ``provenance.kernel``, which runs this module: only the store is
imported with it; the rest on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports
from .store import ChainProblem, ProvenanceStore, StoredRecord

if TYPE_CHECKING:
    from .attest import attestation
    from .checkpoint import CHECKPOINT_NAMESPACE, Checkpointer
    from .collectors import collect_environment
    from .embed import embed_provenance
    from .kernel import default_store_path
    from .policy import ProvenancePolicy, parse_provenance_policy
    from .report import provenance_report
    from .schema import execution_record
    from .service import ProvenanceService
    from .verdict import NotebookVerdict, judge

__all__ = [
    "CHECKPOINT_NAMESPACE",
    "ChainProblem",
    "Checkpointer",
    "NotebookVerdict",
    "ProvenancePolicy",
    "ProvenanceService",
    "ProvenanceStore",
    "StoredRecord",
    "attestation",
    "collect_environment",
    "default_store_path",
    "embed_provenance",
    "execution_record",
    "judge",
    "parse_provenance_policy",
    "provenance_report",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "attestation": ".attest",
        "Checkpointer": ".checkpoint",
        "CHECKPOINT_NAMESPACE": ".checkpoint",
        "collect_environment": ".collectors",
        "embed_provenance": ".embed",
        "default_store_path": ".kernel",
        "ProvenancePolicy": ".policy",
        "parse_provenance_policy": ".policy",
        "provenance_report": ".report",
        "execution_record": ".schema",
        "ProvenanceService": ".service",
        "NotebookVerdict": ".verdict",
        "judge": ".verdict",
    },
)
