"""The quantum hardware context of a cell's record: the Qiskit backend each job ran on, its
version and the calibration (the backend's Target) it ran with, with its digest, in a real
kernel started by a real server, offline with qiskit-aer on Qiskit's fake backends."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from kernel_client import execute, start_session, wait_for_records

pytest.importorskip("qiskit_aer")
import qiskit_aer
from qiskit.providers.fake_provider import GenericBackendV2

SETUP = """
from qiskit import QuantumCircuit, transpile
from qiskit.providers.fake_provider import GenericBackendV2
from qiskit_aer import AerSimulator
bell = QuantumCircuit(2)
bell.h(0)
bell.cx(0, 1)
bell.measure_all()
"""
RUN = """
device = GenericBackendV2(5, seed={seed})
backend = AerSimulator.from_backend(device)
job = backend.run(transpile(bell, backend, seed_transpiler=1), shots=200, seed_simulator=7)
print(job.job_id(), job.result().get_counts())
"""


def text(outputs: list[dict[str, Any]]) -> str:
    return "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")


async def test_jobs_name_their_backend_and_calibration(
    store_path: Path, jp_fetch: Any, jp_serverapp: Any
) -> None:
    _, _, client = await start_session(jp_fetch, jp_serverapp, "bell.ipynb")
    try:
        await execute(client, SETUP, "setup")
        first = await execute(client, RUN.format(seed=11), "first")
        again = await execute(client, RUN.format(seed=11), "again")
        other = await execute(client, RUN.format(seed=12), "other")
        # A fake backend's own run delegates to an Aer simulator: recorded once, as itself.
        direct = await execute(
            client,
            "job = device.run(transpile(bell, device, seed_transpiler=1), shots=10)\n"
            "print(job.job_id())",
            "direct",
        )
        plain = await execute(client, "print('no job here')", "plain")
    finally:
        client.stop_channels()
    assert plain
    records = {r["cell_id"]: r for r in wait_for_records(store_path, 6)}
    assert "quantum_jobs" not in records["plain"]
    assert "quantum_jobs" not in records["setup"]

    [job] = records["first"]["quantum_jobs"]
    assert job["backend"] == "aer_simulator_from(generic_backend_5q)"
    assert job["backend_version"] is None  # Aer's simulators have none
    assert job["software"] == f"qiskit_aer {qiskit_aer.__version__}"
    assert job["backend_class"] == "qiskit_aer.backends.aer_simulator.AerSimulator"
    assert job["job_id"] == text(first).split()[0]
    assert job["num_qubits"] == 5
    snapshot = job["snapshot"]
    # The calibration as the device defines it, rebuilt here from the same seed.
    device = GenericBackendV2(5, seed=11)
    cx = device.target["cx"][(0, 1)]
    assert [[0, 1], cx.duration, cx.error] in snapshot["instructions"]["cx"]
    assert snapshot["qubits"][2]["t1"] == device.target.qubit_properties[2].t1
    assert snapshot["dt"] == device.target.dt
    assert job["target_sha256"] == "sha256:" + hashlib.sha256(rfc8785.dumps(snapshot)).hexdigest()

    [repeat] = records["again"]["quantum_jobs"]
    assert repeat["target_sha256"] == job["target_sha256"]  # the same calibration
    assert "snapshot" not in repeat  # stored once per kernel session
    assert repeat["job_id"] == text(again).split()[0] != job["job_id"]
    [changed] = records["other"]["quantum_jobs"]
    assert changed["target_sha256"] != job["target_sha256"]
    assert changed["snapshot"]["qubits"] != snapshot["qubits"]
    assert text(other)

    [delegated] = records["direct"]["quantum_jobs"]
    assert delegated["backend"] == "generic_backend_5q"
    assert delegated["job_id"] == text(direct).strip()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", delegated["target_sha256"])
