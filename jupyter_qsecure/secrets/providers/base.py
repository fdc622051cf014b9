"""What every secret provider implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from ..errors import ProviderError
from ..policy import SecretsPolicy
from ..refs import SecretRef


class SecretProvider(ABC):
    """A store of secret values for one reference scheme.

    Plug-ins subclass this and register under the entry point group
    ``jupyter_qsecure.providers`` with the scheme as the entry point's name.
    """

    scheme: ClassVar[str]
    #: Whether ``jupyter qsecure secrets set`` and the REST API may write to this store.
    writable: ClassVar[bool] = False
    #: At most this many reads of the store at once (``fetch`` runs in that many threads);
    #: ``None``: as many as the CPUs can run, right for a store whose reads cost CPU time.
    read_concurrency: ClassVar[int | None] = None
    #: How many CPUs one read keeps busy (a key derivation computed in parallel lanes):
    #: with ``read_concurrency = None``, at most ``CPUs // threads_per_read`` reads at once.
    threads_per_read: ClassVar[int] = 1

    @classmethod
    def from_policy(cls, policy: SecretsPolicy) -> SecretProvider:
        """Build the provider from the policy (e.g. its ``[vault]`` table)."""
        return cls()

    @abstractmethod
    def fetch(self, ref: SecretRef) -> str:
        """The value ``ref`` names; raises :class:`ProviderError` with a reason and a fix.

        Called in a worker thread, possibly for several references at once (see
        :attr:`read_concurrency`). A kernel start waits while the store shows signs of
        life; a provider with a long step of its own before the reads (an unlock) calls
        :func:`~jupyter_qsecure.secrets.providers.report_progress` when it is done."""

    def store(self, ref: SecretRef, value: str) -> None:
        """Write a value (only for writable stores)."""
        raise ProviderError(
            "read-only", f"{ref}: {self.scheme}:// secrets are managed outside jupyter-qsecure"
        )

    def delete(self, ref: SecretRef) -> None:
        """Remove a value (only for writable stores)."""
        raise ProviderError(
            "read-only", f"{ref}: {self.scheme}:// secrets are managed outside jupyter-qsecure"
        )
