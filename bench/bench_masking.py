"""Masking cost: a cell printing 100,000 lines, in a kernel with 10 injected secrets and
jupyter-qsecure's masking, versus a plain kernel (LocalProvisioner, no extension).

Runs alternate between the two kernels in one process; 5 runs each after a warm-up.
Time is from sending the execute request until the kernel is idle with every output
received. Target: at most 5% slower.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from typing import Any

from kernels import configure_provisioner_context, keyring_with_secrets, start_kernel, stop_kernel

RUNS = 5
CELL = "for i in range(100_000):\n    print(i, 'shots', i * 7 % 1024, 'fidelity', 0.99)"


async def timed_run(client: Any) -> tuple[float, int]:
    lines = 0

    def count(message: dict[str, Any]) -> None:
        nonlocal lines
        if message["msg_type"] == "stream":
            lines += message["content"]["text"].count("\n")

    begin = time.perf_counter()
    reply = await client.execute_interactive(CELL, output_hook=count, timeout=600)
    assert reply["content"]["status"] == "ok"
    return time.perf_counter() - begin, lines


async def main() -> int:
    with keyring_with_secrets(10) as root:
        configure_provisioner_context(root)
        kernels = {
            name: await start_kernel(name, root)
            for name in ("local-provisioner", "qsecure-provisioner")
        }
        times: dict[str, list[float]] = {name: [] for name in kernels}
        try:
            for round_ in range(RUNS + 1):
                for name, (_, client, _) in kernels.items():
                    seconds, lines = await timed_run(client)
                    assert lines == 100_000, f"{name}: {lines} lines received"
                    if round_:
                        times[name].append(seconds)
        finally:
            for manager, client, _ in kernels.values():
                await stop_kernel(manager, client)
    plain = statistics.median(times["local-provisioner"]) * 1000
    masked = statistics.median(times["qsecure-provisioner"]) * 1000
    print(f"a cell printing 100,000 lines, p50 of {RUNS}:")
    print(f"  plain kernel:                              {plain:8.1f} ms")
    print(f"  kernel with 10 secrets, outputs masked:    {masked:8.1f} ms")
    print(f"  ratio {masked / plain:.3f} (target <= 1.05)")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
