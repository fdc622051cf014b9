"""Verify a signed 1 MB notebook: from the shell, and in-process, each against a baseline
measured in the same run.

- Shell: ``jupyter-qsecure verify NB --allowed-signers F`` (a new process, as a reviewer or
  a CI job runs it) against stock ``ssh-keygen -Y verify`` of the same signature, fed the
  notebook's 1 MB canonical payload (what ssh-keygen hashes when a reviewer checks a
  notebook's content with it), and, for reference, fed the signature's short signed
  statement (``jupyter qsecure payload --signature 0``). Target: <= 4x ssh-keygen on the
  payload. For scale, the same run times the interpreter alone (``python -c pass``) and
  the least work any verifier written in Python does (start, parse the notebook, write
  it as sorted JSON, hash it: ``FLOOR``).
- In-process: ``verify_notebook`` (canonical payload, signed statement, pure-Python SSHSIG
  ed25519, allowed_signers trust, policy) against nbformat's
  ``NotebookNotary.check_signature`` (an HMAC over its own serialisation, looked up in its
  database) on the same notebook. Target: <= 1.5x.

Run from the repository: ``.venv/bin/python bench/bench_verify.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
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
from jupyter_qsecure.signing.canonical import notebook_payload
from jupyter_qsecure.signing.signatures import (
    NAMESPACE,
    sign_notebook,
    signed_bytes,
    verify_notebook,
)
from jupyter_qsecure.signing.sshsig import sign_with_ssh_keygen

BIN = Path(sys.executable).parent
#: The least any verifier written in Python does from the shell: start, read and parse the
#: notebook, write it back as sorted compact JSON (the shape of the canonical payload) and
#: hash that; no view of the notebook, no signature, no trust, no policy.
FLOOR = (
    "import hashlib, json, sys\n"
    "with open(sys.argv[1], encoding='utf-8') as file:\n"
    "    notebook = json.loads(file.read())\n"
    "text = json.dumps(notebook, sort_keys=True, separators=(',', ':'), ensure_ascii=False)\n"
    "hashlib.sha256(text.encode()).digest()\n"
)
#: Children run as installed code does: compiled modules are written on the first run and
#: read afterwards (with PYTHONDONTWRITEBYTECODE=1, every run would compile anew).
CHILD_ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def p50_ms(function: Callable[[], object], repeat: int = 31) -> float:
    function()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def p50_interleaved(functions: list[Callable[[], object]], repeat: int) -> list[float]:
    """The p50 of each function in ms, run in turn (one of each, ``repeat`` times), so that
    the load of a shared machine weighs on all of them alike."""
    for function in functions:
        function()
    times: list[list[float]] = [[] for _ in functions]
    for _ in range(repeat):
        for function, kept in zip(functions, times, strict=True):
            start = time.perf_counter()
            function()
            kept.append(time.perf_counter() - start)
    return [statistics.median(kept) * 1000 for kept in times]


def run(command: list[str], data: bytes | None = None) -> Callable[[], None]:
    def once() -> None:
        result = subprocess.run(
            command, input=data, capture_output=True, check=False, env=CHILD_ENV
        )
        if result.returncode != 0:
            raise SystemExit(f"{command[0]} failed: {result.stdout!r} {result.stderr!r}")

    return once


def main() -> int:
    notebook = build_notebook()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        key = folder / "reviewer"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, timeout=60
        )
        sign_notebook(notebook, key, principal="reviewer@lab.example")
        path = folder / "bench.ipynb"
        path.write_text(json.dumps(notebook, indent=1), encoding="utf-8")
        public = key.with_suffix(".pub").read_text().split()
        allowed = folder / "allowed_signers"
        allowed.write_text(f"reviewer@lab.example {public[0]} {public[1]}\n")
        signers = load_allowed_signers(allowed)
        verdict = verify_notebook(notebook, signers)
        assert verdict.status == "signed and valid" and verdict.meets_policy, verdict

        # Shell: a fresh process each time, as a reviewer runs it.
        payload = notebook_payload(notebook)
        statement = signed_bytes(notebook, notebook["metadata"]["qsecure"]["signatures"][0])
        payload_sig = folder / "payload.sig"
        payload_sig.write_text(sign_with_ssh_keygen(payload, key, NAMESPACE))
        statement_sig = folder / "statement.sig"
        statement_sig.write_text(notebook["metadata"]["qsecure"]["signatures"][0]["signature"])
        keygen = ["ssh-keygen", "-Y", "verify", "-f", str(allowed), "-I", "reviewer@lab.example"]
        keygen += ["-n", NAMESPACE, "-s"]
        shell = [
            str(BIN / "jupyter-qsecure"),
            "verify",
            str(path),
            "--allowed-signers",
            str(allowed),
        ]
        ours_shell, keygen_payload, keygen_statement, interpreter, floor = p50_interleaved(
            [
                run(shell),
                run([*keygen, str(payload_sig)], payload),
                run([*keygen, str(statement_sig)], statement),
                run([sys.executable, "-c", "pass"]),
                run([sys.executable, "-c", FLOOR, str(path)]),
            ],
            repeat=15,
        )

        # In-process.
        ours = p50_ms(lambda: verify_notebook(notebook, signers))
        notary = NotebookNotary(db_file=":memory:", secret=b"bench")
        node = nbformat.from_dict(json.loads(json.dumps(notebook)))
        notary.sign(node)
        assert notary.check_signature(node)
        theirs = p50_ms(lambda: notary.check_signature(node))

    size = path_size = len(json.dumps(notebook, indent=1).encode())
    del path_size
    print(f"verify a signed {size:,}-byte notebook ({len(payload):,}-byte canonical payload)")
    print("from the shell, p50 of 15 runs each, interleaved:")
    print(f"  jupyter-qsecure verify NB --allowed-signers F:      {ours_shell:7.1f} ms")
    print(f"  ssh-keygen -Y verify, the 1 MB payload on stdin:     {keygen_payload:7.1f} ms")
    print(f"  ssh-keygen -Y verify, the signed statement on stdin: {keygen_statement:7.1f} ms")
    print(f"  python -c pass (the interpreter alone):              {interpreter:7.1f} ms")
    print(
        f"  ratio (ours / ssh-keygen on the payload): {ours_shell / keygen_payload:.2f} (target <= 4)"
    )
    print(f"  ratio (ours / ssh-keygen on the statement): {ours_shell / keygen_statement:.2f}")
    print(f"  python: read, parse, write sorted JSON, sha256 (floor): {floor:7.1f} ms")
    print(
        f"  ratio (the interpreter alone / ssh-keygen on the payload): {interpreter / keygen_payload:.2f}"
    )
    print(f"  ratio (the floor / ssh-keygen on the payload): {floor / keygen_payload:.2f}")
    print("in-process, p50 of 31:")
    print(f"  verify_notebook (statement, SSHSIG ed25519, trust, policy): {ours:6.2f} ms")
    print(f"  nbformat NotebookNotary.check_signature (HMAC + db):      {theirs:6.2f} ms")
    print(f"  ratio (ours / nbformat): {ours / theirs:.2f} (target <= 1.5)")
    digest = hashlib.sha256(payload).hexdigest()[:12]
    print(f"(payload sha256 {digest}...)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
