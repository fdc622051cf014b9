"""Terminals lose the server's credentials and env:// source variables, as kernels do."""

from __future__ import annotations

from pathlib import Path

import pytest
from terminado.management import TermManagerBase

from jupyter_qsecure.secrets.policy import parse_secrets_policy
from jupyter_qsecure.secrets.provisioner import strip_terminal_environment


def test_terminal_environment_is_stripped(monkeypatch: pytest.MonkeyPatch) -> None:
    policy = parse_secrets_policy(
        "qsecure.toml",
        Path("."),
        {"secrets": {"LAB": {"source": "env://LAB_SOURCE", "notebooks": ["*.ipynb"]}}},
    )
    for name in ("JUPYTERHUB_API_TOKEN", "VAULT_TOKEN", "QSECURE_KEYRING_PASSWORD"):
        monkeypatch.setenv(name, f"{name.lower()}-value")
    monkeypatch.setenv("LAB_SOURCE", "lab-source-value")
    monkeypatch.setenv("ORDINARY", "kept")
    monkeypatch.setattr(TermManagerBase, "make_term_env", TermManagerBase.make_term_env)
    assert strip_terminal_environment(lambda: policy)
    assert strip_terminal_environment(lambda: policy)  # once only
    env = TermManagerBase(shell_command=["sh"]).make_term_env()
    assert env["ORDINARY"] == "kept"
    for name in ("JUPYTERHUB_API_TOKEN", "VAULT_TOKEN", "QSECURE_KEYRING_PASSWORD", "LAB_SOURCE"):
        assert name not in env
    assert "LAB" not in env
