"""Errors of the secrets capability. Messages name what to fix and never hold a value."""

from __future__ import annotations


class ProviderError(RuntimeError):
    """A store that cannot give a value: down, locked, denied, missing. ``reason`` is a
    short machine word (``unreachable``, ``denied``, ``not-found``, ``locked``,
    ``timeout``, ``misconfigured``)."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


def no_answer(source: object, timeout: float) -> ProviderError:
    """The ``timeout`` error of a read of ``source`` whose store answered nothing for
    ``timeout`` seconds (``[injection] timeout``)."""
    return ProviderError("timeout", f"{source}: no answer within {timeout:g} s")


class SecretsPolicyError(ValueError):
    """A ``[secrets.*]`` or ``[vault]`` table that cannot be used (see :class:`~jupyter_qsecure.config.PolicyError`)."""
