"""Kernel start with 10 injected keyring secrets versus the plain LocalProvisioner.

Starts alternate between ``local-provisioner`` and ``qsecure-provisioner`` in one run,
10 each (after one warm-up of each, which also fills the provisioner's short value cache,
as the server's first kernel does). Target: p50 at most 10% slower.
"""

from __future__ import annotations

import asyncio
import sys

from kernels import (
    configure_provisioner_context,
    keyring_with_secrets,
    p50_ms,
    start_kernel,
    stop_kernel,
)

STARTS = 10
SECRETS = 10


async def main() -> int:
    with keyring_with_secrets(SECRETS) as root:
        configure_provisioner_context(root)
        times: dict[str, list[float]] = {"local-provisioner": [], "qsecure-provisioner": []}
        cold = 0.0
        for round_ in range(STARTS + 1):
            for name in times:
                manager, client, seconds = await start_kernel(name, root)
                if name == "qsecure-provisioner":
                    reply = await client.execute_interactive(
                        f"import os; assert len(os.environ['QSECURE_SECRET_NAMES'].split(',')) == {SECRETS}",
                        timeout=60,
                    )
                    assert reply["content"]["status"] == "ok", "secrets were not injected"
                await stop_kernel(manager, client)
                if round_ == 0:
                    cold = seconds if name == "qsecure-provisioner" else cold
                else:
                    times[name].append(seconds)
    plain = p50_ms(times["local-provisioner"])
    ours = p50_ms(times["qsecure-provisioner"])
    print(f"kernel start to ready, p50 of {STARTS} (python3, ipykernel):")
    print(f"  local-provisioner:                      {plain:7.1f} ms")
    print(f"  qsecure-provisioner, {SECRETS} keyring secrets: {ours:7.1f} ms")
    print(
        f"  ratio {ours / plain:.3f} (target <= 1.10); first start with an empty cache: {cold * 1000:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
