"""What the server remembers about running kernels' secrets: in memory only.

The provisioner records the values it injected, so that the guard can find them verbatim
in any file saved later, and a capability per kernel, so that a kernel (and only that
kernel) can ask the server to refresh its secrets. Everything is forgotten when the
kernel shuts down.
"""

from __future__ import annotations

import hmac
import secrets as _random
import threading
from dataclasses import dataclass, field


@dataclass
class KernelSecrets:
    """One kernel's injected values, and what it was started for."""

    kernel_id: str
    values: dict[str, str]
    capability: str
    user: str
    notebook: str | None
    kernel_name: str | None
    problems: dict[str, str] = field(default_factory=dict)
    #: Values replaced by a refresh: the kernel may still hold them, so the guard does too.
    retired: dict[str, str] = field(default_factory=dict)


class KernelSecretRegistry:
    """Thread-safe map kernel id -> :class:`KernelSecrets`."""

    def __init__(self) -> None:
        self._kernels: dict[str, KernelSecrets] = {}
        self._lock = threading.Lock()
        self._generation = 0

    def remember(self, record: KernelSecrets) -> None:
        """Record (or replace, on restart) what a kernel received."""
        with self._lock:
            self._kernels[record.kernel_id] = record
            self._generation += 1

    def update_values(self, kernel_id: str, values: dict[str, str]) -> None:
        """Replace some values of a kernel after a refresh."""
        with self._lock:
            record = self._kernels.get(kernel_id)
            if record is not None:
                for name, value in values.items():
                    old = record.values.get(name)
                    if old is not None and old != value:
                        record.retired[old] = name
                record.values.update(values)
                self._generation += 1

    def rename(self, kernel_id: str, old: str | None, new: str) -> bool:
        """Attribute a running kernel to notebook ``new`` if it runs for ``old`` now (its
        notebook was renamed or moved); return whether it did. Grants, refresh and the
        secrets list then judge ``new``; the values already injected stay (a running
        process's environment cannot change) and the guard keeps knowing them."""
        with self._lock:
            record = self._kernels.get(kernel_id)
            if record is None or record.notebook != old:
                return False
            record.notebook = new
            return True

    def forget(self, kernel_id: str) -> None:
        """Drop a kernel's values (it shut down)."""
        with self._lock:
            if self._kernels.pop(kernel_id, None) is not None:
                self._generation += 1

    def get(self, kernel_id: str) -> KernelSecrets | None:
        """The record of one kernel."""
        with self._lock:
            return self._kernels.get(kernel_id)

    def by_capability(self, capability: str) -> KernelSecrets | None:
        """The kernel holding this capability (constant-time comparison)."""
        with self._lock:
            for record in self._kernels.values():
                if _same(record.capability, capability):
                    return record
        return None

    def for_refresh(self, capability: str, kernel_id: str, remote_ip: str) -> KernelSecrets | None:
        """The kernel a refresh request comes from, or None: the capability must come with
        that kernel's id and from loopback (the kernel runs beside its server), so a
        capability copied out of a kernel is useless elsewhere and for another kernel."""
        import ipaddress

        try:
            loopback = ipaddress.ip_address(remote_ip.split("%")[0]).is_loopback
        except ValueError:
            loopback = False
        record = self.by_capability(capability) if capability and loopback else None
        if record is None or not _same(record.kernel_id, kernel_id):
            return None
        return record

    def live_values(self) -> tuple[int, dict[str, str]]:
        """(generation, value -> secret name) over all running kernels, the values their
        refreshes replaced included (still masked in the kernel, maybe still valid); the
        generation changes whenever the values do, so callers can cache what they build
        from them."""
        with self._lock:
            values = {
                value: name
                for record in self._kernels.values()
                for value, name in record.retired.items()
            }
            values.update(
                (value, name)
                for record in self._kernels.values()
                for name, value in record.values.items()
            )
            # The refresh capability is a credential: the guard finds it as it finds values.
            values.update(
                (record.capability, "QSECURE_KERNEL_CAPABILITY")
                for record in self._kernels.values()
            )
            return self._generation, values

    def kernels(self) -> list[KernelSecrets]:
        """Every running kernel's record."""
        with self._lock:
            return list(self._kernels.values())


def new_capability() -> str:
    """A fresh per-kernel capability token."""
    return _random.token_urlsafe(32)


def _same(known: str, given: str) -> bool:
    """Whether ``given`` (a request's header) is ``known``, in constant time: compared as
    UTF-8, since ``hmac.compare_digest`` raises TypeError for text beyond ASCII (a refresh
    with such a header was a 500 and a traceback, not a 403)."""
    return hmac.compare_digest(
        known.encode("utf-8", "surrogatepass"), given.encode("utf-8", "surrogatepass")
    )
