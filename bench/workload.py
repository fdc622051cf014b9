"""The benchmark notebook: about 1 MB, 600 cells, code, markdown, text outputs and PNGs.

Built deterministically, so every run and every machine measures the same bytes.
"""

from __future__ import annotations

import base64
import json
import random
import struct
import zlib
from typing import Any


def _png(rng: random.Random, width: int = 96, height: int = 64) -> str:
    """A real, random-noise PNG (incompressible, like a plot's anti-aliased pixels)."""
    raw = b"".join(b"\x00" + rng.randbytes(width * 3) for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 1))
        + chunk(b"IEND", b"")
    )
    return base64.b64encode(png).decode()


def build_notebook(cells: int = 600, images: int = 20, seed: int = 1) -> dict[str, Any]:
    """A research notebook: qiskit code, tables, logs, markdown and a few plots."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for index in range(cells):
        if index % 5 == 0:
            out.append(
                {
                    "cell_type": "markdown",
                    "id": f"m{index}",
                    "metadata": {},
                    "source": f"## Step {index}\n\nWe prepare a Bell state and measure it with {rng.randint(100, 9000)} shots.\n",
                }
            )
            continue
        source = [
            "from qiskit import QuantumCircuit, transpile\n",
            "from qiskit_aer import AerSimulator\n",
            f"qc = QuantumCircuit({rng.randint(2, 8)})\n",
            "qc.h(0)\nqc.cx(0, 1)\nqc.measure_all()\n",
            f"result = AerSimulator().run(transpile(qc), shots={rng.randint(100, 9000)}, seed_simulator={rng.randint(0, 99)}).result()\n",
            "counts = result.get_counts()\nprint(counts)",
        ]
        table = "".join(
            f"{i:4d}  {rng.random():.6f}  {rng.random():.6f}  {rng.getrandbits(64):016x}\n"
            for i in range(rng.randint(5, 12))
        )
        outputs: list[dict[str, Any]] = [
            {
                "output_type": "stream",
                "name": "stdout",
                "text": [f"{{'00': {rng.randint(0, 600)}, '11': {rng.randint(0, 600)}}}\n", table],
            },
            {
                "output_type": "execute_result",
                "execution_count": index,
                "metadata": {},
                "data": {"text/plain": [f"<Result job_id={rng.getrandbits(32):08x}>"]},
            },
        ]
        if index % (cells // images) == 1:
            outputs.append(
                {
                    "output_type": "display_data",
                    "metadata": {},
                    "data": {
                        "image/png": _png(rng),
                        "text/plain": ["<Figure size 640x480 with 1 Axes>"],
                    },
                }
            )
        out.append(
            {
                "cell_type": "code",
                "id": f"c{index}",
                "execution_count": index,
                "metadata": {},
                "source": source,
                "outputs": outputs,
            }
        )
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "cells": out,
    }


def notebook_bytes(**kwargs: Any) -> bytes:
    """The notebook as nbformat writes it (indent 1)."""
    return json.dumps(build_notebook(**kwargs), indent=1).encode()


if __name__ == "__main__":
    data = notebook_bytes()
    print(f"{len(data):,} bytes")
