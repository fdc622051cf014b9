"""Verify a signed 1 MB notebook in-process, against nbformat's own signer.

Ours: canonical payload + pure-Python SSHSIG verification (ed25519) + allowed_signers
trust, via `verify_notebook`. Baseline: nbformat's `NotebookNotary.compute_signature`
(an HMAC over its own serialisation) on the same notebook, same run. Target: p50 <= 30 ms.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import nbformat
from nbformat.sign import NotebookNotary
from workload import build_notebook

from jupyter_qsecure.signing.allowed_signers import load_allowed_signers
from jupyter_qsecure.signing.signatures import sign_notebook, verify_notebook


def p50_ms(function: Callable[[], object], repeat: int = 31) -> float:
    function()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> int:
    notebook = build_notebook()
    with tempfile.TemporaryDirectory() as folder:
        key = Path(folder) / "reviewer"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, timeout=60
        )
        sign_notebook(notebook, key, principal="reviewer@lab.example", role="reviewer")
        public = key.with_suffix(".pub").read_text().split()
        allowed = Path(folder) / "allowed_signers"
        allowed.write_text(f"reviewer@lab.example {public[0]} {public[1]}\n")
        signers = load_allowed_signers(allowed)
        verdict = verify_notebook(notebook, signers)
        assert verdict.status == "signed and valid", verdict
        ours = p50_ms(lambda: verify_notebook(notebook, signers))
        notary = NotebookNotary(db_file=":memory:", secret=b"bench")
        node = nbformat.from_dict(notebook)
        theirs = p50_ms(lambda: notary.compute_signature(node))
    size = len(nbformat.writes(nbformat.from_dict(notebook)).encode())
    print(f"verify a signed {size:,}-byte notebook in-process, p50 of 31:")
    print(
        f"  jupyter-qsecure verify_notebook (SSHSIG ed25519 + trust): {ours:6.2f} ms (target <= 30 ms)"
    )
    print(f"  nbformat NotebookNotary.compute_signature (HMAC):          {theirs:6.2f} ms")
    print(f"  ratio (ours / nbformat): {ours / theirs:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
