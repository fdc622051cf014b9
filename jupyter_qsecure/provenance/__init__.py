"""Execution provenance: a record per cell execution, a hash-chained store, the notebook
carrying its provenance, a reviewer's verdict and an in-toto attestation.

Public API::

    ProvenanceStore(path).append(record) / .verify() / .for_notebook(path)
    embed_provenance(notebook, records)                  # what the save hook does
    judge(notebook, notebook_dir) -> NotebookVerdict      # offline, from the file alone
    attestation(notebook, name) -> in-toto Statement v1
"""

from .store import ChainProblem, ProvenanceStore, StoredRecord

__all__ = ["ChainProblem", "ProvenanceStore", "StoredRecord"]
