"""The one policy file, ``qsecure.toml``: where it is read from, what it may say, and errors
that name the file, the key and what is expected.

Policy is read only from trusted places: ``$QSECURE_CONFIG`` if set, else the first
``qsecure.toml`` in the Jupyter config path (user, environment, system). Never from a
notebook's folder: a cloned repository must not be able to change the policy.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ._validate import PolicyError, reject_unknown_keys
from .audit.policy import AuditPolicy, parse_audit_policy
from .guard.policy import GuardPolicy, parse_guard_policy
from .policy_files import ENV_POLICY, POLICY_FILENAME, find_policy, parse_toml
from .provenance.policy import ProvenancePolicy, parse_provenance_policy
from .secrets.policy import SecretsPolicy, parse_secrets_policy
from .signing.policy import SigningSettings, parse_signing_policy

__all__ = ["GuardPolicy", "Policy", "PolicyError", "load_policy", "parse_policy"]


@dataclass(frozen=True)
class Policy:
    """The whole policy; sections are added by the capabilities that use them."""

    source: str = "(embedded defaults)"
    guard: GuardPolicy = field(default_factory=GuardPolicy)
    secrets: SecretsPolicy = field(default_factory=SecretsPolicy)
    provenance: ProvenancePolicy = field(default_factory=ProvenancePolicy)
    signing: SigningSettings = field(default_factory=SigningSettings)
    audit: AuditPolicy = field(default_factory=AuditPolicy)


def parse_policy(text: str, source: str = POLICY_FILENAME, base: Path | None = None) -> Policy:
    """Parse and validate policy text; relative paths in it are relative to ``base``."""
    data = parse_toml(text, source)
    reject_unknown_keys(
        source,
        "(top level)",
        data,
        {"guard", "secrets", "vault", "injection", "provenance", "signing", "audit"},
    )
    base = base or Path.cwd()
    guard = parse_guard_policy(source, base, data["guard"]) if "guard" in data else GuardPolicy()
    provenance = (
        parse_provenance_policy(source, base, data["provenance"])
        if "provenance" in data
        else ProvenancePolicy()
    )
    return Policy(
        source=source,
        guard=guard,
        secrets=parse_secrets_policy(source, base, data),
        provenance=provenance,
        signing=parse_signing_policy(source, base, data["signing"])
        if "signing" in data
        else SigningSettings(),
        audit=parse_audit_policy(source, base, data["audit"]) if "audit" in data else AuditPolicy(),
    )


def load_policy() -> Policy:
    """The policy in force: the first trusted policy file, or the embedded defaults.

    A ``$QSECURE_CONFIG`` that names a missing file is an error, not a silent default;
    so is a policy file others can write (see :func:`.policy_files.find_policy`).
    """
    found = find_policy()
    if found is None:
        return Policy()
    path, text = found
    return parse_policy(text, str(path), path.parent)


def policy_places() -> list[Path]:
    """Where policy and configuration are read from: ``$QSECURE_CONFIG`` (a file) and
    every Jupyter config folder (which also say whether this extension loads)."""
    from .config_path import jupyter_config_path

    env = os.environ.get(ENV_POLICY)
    return ([Path(env).expanduser()] if env else []) + [Path(d) for d in jupyter_config_path()]
