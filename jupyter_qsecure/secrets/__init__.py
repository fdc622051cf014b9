"""Secrets in, never out: references to secret stores, the policy granting them to
notebooks, the providers reading them, and the masking that keeps their values out of
outputs and logs.

Public API:

- References: ``SecretRef``, ``parse_ref("keyring://SERVICE/USERNAME")``, ``SecretRefError``.
- The policy: ``SecretsPolicy`` (grants, ``[vault]``, ``[injection]``), ``SecretGrant``,
  ``parse_secrets_policy``.
- Stores: ``Providers`` (one provider per scheme, a short cache), ``SecretProvider`` (the
  base class plug-ins subclass), ``provider_class(scheme)``, ``ProviderError``.
- The server side: ``SecretsService`` (list, set, grant, check), ``KernelSecretRegistry``
  (the values each running kernel received, in memory), ``PersonalGrants`` (grants a
  researcher makes from JupyterLab), ``PROVISIONER_NAME`` (the kernel provisioner that
  injects them), ``KernelServices`` (what it needs from the server that hosts it) and
  ``pass_session_paths`` (kernels learn their session's path from the server) and
  ``strip_terminal_environment`` (terminals lose the server's credentials).
- The kernel side: ``Masker``, which replaces known values (and their encoded forms).

This package is imported inside every kernel (``secrets.masking``): only the references,
the errors and the masker are imported with it; the rest (keyring, hvac, jupyter_client)
on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports
from .errors import ProviderError
from .masking import Masker
from .refs import SecretRef, SecretRefError, parse_ref

if TYPE_CHECKING:
    from .personal import PersonalGrants
    from .policy import SecretGrant, SecretsPolicy, parse_secrets_policy
    from .providers import Providers, SecretProvider, provider_class
    from .provisioner import (
        PROVISIONER_NAME,
        KernelServices,
        pass_session_paths,
        strip_terminal_environment,
    )
    from .registry import KernelSecretRegistry
    from .service import SecretsService

__all__ = [
    "PROVISIONER_NAME",
    "KernelSecretRegistry",
    "KernelServices",
    "Masker",
    "PersonalGrants",
    "ProviderError",
    "Providers",
    "SecretGrant",
    "SecretProvider",
    "SecretRef",
    "SecretRefError",
    "SecretsPolicy",
    "SecretsService",
    "parse_ref",
    "parse_secrets_policy",
    "pass_session_paths",
    "provider_class",
    "strip_terminal_environment",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "PersonalGrants": ".personal",
        "SecretGrant": ".policy",
        "SecretsPolicy": ".policy",
        "parse_secrets_policy": ".policy",
        "Providers": ".providers",
        "SecretProvider": ".providers",
        "provider_class": ".providers",
        "PROVISIONER_NAME": ".provisioner",
        "KernelServices": ".provisioner",
        "pass_session_paths": ".provisioner",
        "strip_terminal_environment": ".provisioner",
        "KernelSecretRegistry": ".registry",
        "SecretsService": ".service",
    },
)
