"""What the CLI and the REST API do with signatures: trust anchors from the policy (or
given on the command line), default principal, sign and verify."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

from .allowed_signers import load_allowed_signers, load_revoked_keys
from .policy import SigningSettings
from .signatures import NotebookVerdict, SigningPolicy, sign_notebook, verify_notebook


def default_principal(settings: SigningSettings) -> str:
    """The policy's principal, else git's user.email, else the user name."""
    if settings.principal:
        return settings.principal
    git = shutil.which("git")
    if git:
        try:
            email = subprocess.run(
                [git, "config", "user.email"], capture_output=True, text=True, timeout=5
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            email = ""
        if email:
            return email
    from ..secrets.injection import current_user

    return current_user()


class SigningService:
    """Signing and verification under one ``[signing]`` policy."""

    def __init__(self, settings: SigningSettings) -> None:
        self.settings = settings

    def with_overrides(
        self,
        *,
        allowed_signers: Path | None = None,
        require: int | None = None,
        require_roles: tuple[str, ...] | None = None,
    ) -> SigningService:
        """The same service with command-line choices taking precedence over the policy."""
        settings = self.settings
        if allowed_signers is not None:
            settings = replace(settings, allowed_signers=allowed_signers)
        if require is not None:
            settings = replace(settings, require=require)
        if require_roles is not None:
            settings = replace(settings, require_roles=require_roles)
        return SigningService(settings)

    def verify(self, notebook: dict[str, Any]) -> NotebookVerdict:
        """Check a notebook's signatures against the trust anchors and the policy.
        Raises AllowedSignersError for an unreadable allowed_signers or revocation file."""
        signers = (
            load_allowed_signers(self.settings.allowed_signers)
            if self.settings.allowed_signers
            else None
        )
        revoked = (
            load_revoked_keys(self.settings.revoked_keys) if self.settings.revoked_keys else set()
        )
        policy = SigningPolicy(self.settings.require, self.settings.require_roles)
        return verify_notebook(notebook, signers, policy=policy, revoked=revoked)

    def sign(
        self,
        notebook: dict[str, Any],
        *,
        key: Path | None = None,
        principal: str | None = None,
        role: str = "author",
    ) -> dict[str, Any]:
        """Sign with ``key`` (else the policy's key) and return the new entry."""
        chosen = key or self.settings.key
        if chosen is None:
            raise ValueError(
                "no signing key: pass --key PATH (a private key, or a .pub whose key is in ssh-agent) or set [signing] key"
            )
        return sign_notebook(
            notebook, chosen, principal=principal or default_principal(self.settings), role=role
        )
