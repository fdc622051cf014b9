"""Shared set-up for the kernel benchmarks: an encrypted-file keyring with N secrets, a
policy granting them, and kernels started through jupyter_client, with or without
jupyter-qsecure's provisioner."""

from __future__ import annotations

import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning.factory import KernelProvisionerFactory
from traitlets.config import LoggingConfigurable

NOTEBOOK = "bench/run.ipynb"


@contextmanager
def keyring_with_secrets(count: int, *, timeout: float | None = 120) -> Iterator[Path]:
    """A temporary keyring holding ``count`` secrets and a policy granting them all, with
    ``[injection] timeout`` set to ``timeout`` (``None``: the default)."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        os.environ.update(
            {
                "PYTHON_KEYRING_BACKEND": "keyrings.cryptfile.cryptfile.CryptFileKeyring",
                "QSECURE_KEYRING_FILE": str(root / "keyring.cfg"),
                "QSECURE_KEYRING_PASSWORD": secrets.token_hex(8),
            }
        )
        from jupyter_qsecure.secrets.providers.keyring import KeyringProvider
        from jupyter_qsecure.secrets.refs import parse_ref

        provider = KeyringProvider()
        lines = []
        for index in range(count):
            provider.store(
                parse_ref(f"keyring://bench/secret{index}"), f"bench-{secrets.token_hex(16)}"
            )
            lines.append(
                f'[secrets.BENCH_SECRET_{index}]\nsource = "keyring://bench/secret{index}"\nnotebooks = ["bench/*.ipynb"]\n'
            )
        policy = root / "qsecure.toml"
        injection = "" if timeout is None else f"[injection]\ntimeout = {timeout:g}\n\n"
        policy.write_text(injection + "\n".join(lines))
        os.environ["QSECURE_CONFIG"] = str(policy)
        yield root


class KernelHost(LoggingConfigurable):
    """What a Jupyter server with jupyter-qsecure is to its kernel managers: the holder of
    the provisioner's services (policy, providers with their value cache, registry)."""

    kernel_services: Any = None


HOST = KernelHost()


def configure_provisioner_context(root: Path, *, warm: bool = False) -> None:
    """Set up the provisioner's services as the server extension does (policy and
    providers kept across kernel starts, so the value cache stays warm). ``warm``: fill
    the value cache first, as the server does in the background when it starts."""
    from jupyter_qsecure.config import load_policy
    from jupyter_qsecure.secrets.providers import Providers
    from jupyter_qsecure.secrets.provisioner import KernelServices
    from jupyter_qsecure.secrets.registry import KernelSecretRegistry

    loaded = load_policy()
    HOST.kernel_services = KernelServices(
        policy=lambda: loaded.secrets,
        providers=Providers(loaded.secrets),
        registry=KernelSecretRegistry(),
        provenance=loaded.provenance,
        root_dir=root,
    )
    if warm:
        providers = HOST.kernel_services.providers
        providers.wait(
            providers.warm(grant.source for grant in loaded.secrets.grants.values()), None
        )


async def start_kernel(provisioner: str, root: Path) -> tuple[AsyncKernelManager, Any, float]:
    """Start a python3 kernel with the named provisioner; return it, a ready client and the
    seconds from start request to the kernel answering."""
    KernelProvisionerFactory.instance().default_provisioner_name = provisioner
    manager = AsyncKernelManager(kernel_name="python3", parent=HOST)
    begin = time.perf_counter()
    # As a Jupyter server with jupyter-qsecure starts a session's kernel (its path passed).
    env = {**os.environ, "JPY_SESSION_NAME": str(root / NOTEBOOK), "QSECURE_SESSION_PATH": NOTEBOOK}
    await manager.start_kernel(env=env)
    client = manager.client()
    client.start_channels()
    await client.wait_for_ready(timeout=120)
    return manager, client, time.perf_counter() - begin


async def stop_kernel(manager: AsyncKernelManager, client: Any) -> None:
    client.stop_channels()
    await manager.shutdown_kernel(now=True)


def p50_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000
