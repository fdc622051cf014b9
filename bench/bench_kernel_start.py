"""Kernel start with 10 injected keyring secrets versus the plain LocalProvisioner.

First, two cold starts with the default ``[injection] timeout`` (10 s): one with nothing
cached and no warm-up; one as a server starts, its warm-up of the value cache in flight
when the start comes (JupyterHub spawns the server, the researcher opens a notebook at
once). Each counts the Argon2 key derivations (11: the unlock and one per entry; any more
is a duplicate read) and checks that the kernel got all 10 secrets.

Then starts alternate between ``local-provisioner`` and ``qsecure-provisioner`` in one
run, 10 each (after one warm-up of each), the value cache warm. Target: p50 at most 10%
slower.

Then the keyring password is made wrong (as an admin who mistyped it would) and the
same alternation runs again: every granted secret fails, the kernel starts without them
(``on_error = "start-without"``, the default). Target: at most 1 s added to a start; the
first start pays one key derivation, later starts none (the refusal is remembered for that
password).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import time
from collections import Counter
from pathlib import Path

from kernels import (
    HOST,
    configure_provisioner_context,
    keyring_with_secrets,
    p50_ms,
    start_kernel,
    stop_kernel,
)

STARTS = 10
SECRETS = 10


#: Argon2 key derivations made in this process (the provisioner's keyring reads), by round.
DERIVATIONS: list[int] = []
#: The salts derived with, by round: a salt derived twice is a duplicate read.
SALTS: list[Counter[bytes]] = []


def count_derivations() -> float:
    """Count every Argon2 derivation from now on (keyrings.cryptfile's and ours); return
    the seconds one derivation with the keyring's costs takes here."""
    from argon2 import low_level
    from keyrings.cryptfile.cryptfile import CryptFileKeyring

    derive = low_level.hash_secret_raw

    def counted(*args: object, **kwargs: object) -> bytes:
        if DERIVATIONS:
            DERIVATIONS[-1] += 1
        if SALTS:
            SALTS[-1][bytes(kwargs.get("salt", b""))] += 1  # type: ignore[arg-type]
        return bytes(derive(*args, **kwargs))  # type: ignore[arg-type]

    low_level.hash_secret_raw = counted
    costs = CryptFileKeyring()
    begin = time.perf_counter()
    derive(
        secret=b"timing",
        salt=bytes(16),
        time_cost=costs.time_cost,
        memory_cost=costs.memory_cost,
        parallelism=costs.parallelism,
        hash_len=16,
        type=low_level.Type.ID,
    )
    return time.perf_counter() - begin


async def alternate(root: object, injected: int) -> tuple[dict[str, list[float]], float]:
    """``STARTS`` starts of each provisioner, alternating, after one warm-up of each; the
    samples and the qsecure provisioner's first start in seconds. Each qsecure kernel is
    checked to hold ``injected`` secrets. The derivations of each round are appended to
    :data:`DERIVATIONS`."""
    times: dict[str, list[float]] = {"local-provisioner": [], "qsecure-provisioner": []}
    first = 0.0
    for round_ in range(STARTS + 1):
        DERIVATIONS.append(0)
        for name in times:
            manager, client, seconds = await start_kernel(name, root)  # type: ignore[arg-type]
            if name == "qsecure-provisioner":
                reply = await client.execute_interactive(
                    "import os; assert len([n for n in os.environ.get('QSECURE_SECRET_NAMES',"
                    f" '').split(',') if n]) == {injected}",
                    timeout=60,
                )
                assert reply["content"]["status"] == "ok", f"not {injected} secrets injected"
            await stop_kernel(manager, client)
            if round_ == 0:
                first = seconds if name == "qsecure-provisioner" else first
            else:
                times[name].append(seconds)
    return times, first


async def first_start(root: Path, *, warming: bool) -> tuple[float, int, int, int]:
    """A first start with an empty value cache, the keyring not yet unlocked (a server
    that just started); with ``warming``, the server's warm-up begins just before it.
    Returns the seconds to ready, the secrets the kernel holds, the derivations made by
    then and, once the warm-up is over too, the duplicates (a salt derived again)."""
    from jupyter_qsecure.secrets.registry import KernelSecretRegistry
    from jupyter_qsecure.secrets.service import SecretsService

    configure_provisioner_context(root)  # new providers: nothing cached, keyring locked
    services = HOST.kernel_services
    DERIVATIONS.append(0)
    SALTS.append(Counter())
    service = SecretsService(services.policy(), services.providers, KernelSecretRegistry())
    if warming:
        service.prefetch()  # as the server does when it starts: in the background
    manager, client, seconds = await start_kernel("qsecure-provisioner", root)
    derivations = DERIVATIONS[-1]
    held: list[str] = []
    reply = await client.execute_interactive(
        "import os; print(len([n for n in os.environ.get('QSECURE_SECRET_NAMES', '')"
        ".split(',') if n]))",
        output_hook=lambda message: held.append(message["content"].get("text", "")),
        timeout=60,
    )
    assert reply["content"]["status"] == "ok"
    await stop_kernel(manager, client)
    services.providers.wait(service.warming, None)
    duplicates = sum(count - 1 for count in SALTS[-1].values())
    return seconds, int("".join(held) or 0), derivations, duplicates


async def main() -> int:
    with keyring_with_secrets(SECRETS, timeout=None) as root:
        one_derivation = count_derivations()
        cold: dict[str, tuple[float, int, int, int]] = {}
        for label, warming in (("no warm-up", False), ("warm-up in flight", True)):
            cold[label] = await first_start(root, warming=warming)
        DERIVATIONS.clear()
        SALTS.clear()
        configure_provisioner_context(root, warm=True)
        times, _ = await alternate(root, SECRETS)
        DERIVATIONS.clear()
        os.environ["QSECURE_KEYRING_PASSWORD"] = secrets.token_hex(8)
        configure_provisioner_context(root)  # a server started with the wrong password
        wrong, wrong_first = await alternate(root, 0)
    plain = p50_ms(times["local-provisioner"])
    ours = p50_ms(times["qsecure-provisioner"])
    print(f"kernel start to ready, p50 of {STARTS} (python3, ipykernel):")
    print(f"  local-provisioner:                      {plain:7.1f} ms")
    print(f"  qsecure-provisioner, {SECRETS} keyring secrets: {ours:7.1f} ms")
    print(f"  ratio {ours / plain:.3f} (target <= 1.10)")
    print(
        f"first start, nothing cached, default [injection] timeout ({SECRETS} keyring secrets, "
        f"{SECRETS + 1} derivations needed):"
    )
    for label, (seconds, injected, derivations, duplicates) in cold.items():
        print(
            f"  {label + ':':<20} {seconds * 1000:7.0f} ms, {injected} secrets injected, "
            f"{derivations} derivations by then, {duplicates} duplicates"
        )
    plain_wrong = p50_ms(wrong["local-provisioner"])
    ours_wrong = p50_ms(wrong["qsecure-provisioner"])
    print(f"the keyring password wrong ({SECRETS} granted secrets refused, kernel starts without):")
    print(f"  local-provisioner:                      {plain_wrong:7.1f} ms")
    print(f"  qsecure-provisioner:                    {ours_wrong:7.1f} ms")
    print(
        f"  added p50 {ours_wrong - plain_wrong:+.0f} ms, first start "
        f"{wrong_first * 1000 - plain_wrong:+.0f} ms (target <= 1000 ms added)"
    )
    print(
        f"  Argon2 derivations: first start {DERIVATIONS[0]}, the {STARTS} later ones "
        f"{sum(DERIVATIONS[1:])}; one derivation takes {one_derivation * 1000:.0f} ms here"
    )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
