"""`secrets check` judges values as a kernel start does, and its hints name the secret."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from jupyter_qsecure.secrets.policy import parse_secrets_policy
from jupyter_qsecure.secrets.providers import Providers
from jupyter_qsecure.secrets.registry import KernelSecretRegistry
from jupyter_qsecure.secrets.service import SecretsService

#: Not the keyring's password (made at run time: the repository holds no credential).
WRONG_PASSWORD = secrets.token_hex(12)


def test_check_applies_the_injection_rules(
    keyring_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIN_SOURCE", "1234")
    tables = {
        "PIN": {"source": "env://PIN_SOURCE", "notebooks": ["*.ipynb"]},
        "PIN_OK": {"source": "env://PIN_SOURCE", "notebooks": ["*.ipynb"], "allow_short": True},
        "ABSENT_TOKEN": {"source": "keyring://qsecure/absent", "notebooks": ["*.ipynb"]},
    }
    policy = parse_secrets_policy("qsecure.toml", Path("."), {"secrets": tables})
    service = SecretsService(policy, Providers(policy), KernelSecretRegistry())
    try:
        results = {result.name: result for result in service.check()}
    finally:
        service.close()
    assert (results["PIN"].ok, results["PIN"].reason) == (False, "too-short")
    assert "allow_short = true" in results["PIN"].message and "1234" not in results["PIN"].message
    assert results["PIN_OK"].ok
    absent = results["ABSENT_TOKEN"]
    assert (absent.ok, absent.reason) == (False, "not-found")
    assert "jupyter qsecure secrets set ABSENT_TOKEN" in absent.message


def test_keyring_references_differing_only_by_case_are_refused() -> None:
    from jupyter_qsecure.config import PolicyError

    tables = {
        "A": {"source": "keyring://qsecure/Lab-Key", "notebooks": ["*.ipynb"]},
        "B": {"source": "keyring://qsecure/lab-key", "notebooks": ["*.ipynb"]},
    }
    with pytest.raises(PolicyError) as caught:
        parse_secrets_policy("qsecure.toml", Path("."), {"secrets": tables})
    message = str(caught.value)
    assert "differ only by case" in message and "keyring://qsecure/Lab-Key" in message
    same = {"A": tables["A"], "B": {**tables["B"], "source": "keyring://qsecure/Lab-Key"}}
    assert len(parse_secrets_policy("qsecure.toml", Path("."), {"secrets": same}).grants) == 2


def test_a_wrong_keyring_password_is_found_once(
    keyring_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from jupyter_qsecure.secrets.errors import ProviderError
    from jupyter_qsecure.secrets.providers.keyring import KeyringProvider
    from jupyter_qsecure.secrets.refs import parse_ref

    KeyringProvider().store(parse_ref("keyring://qsecure/one"), "value-one-1234")
    monkeypatch.setenv("QSECURE_KEYRING_PASSWORD", WRONG_PASSWORD)
    provider = KeyringProvider()
    with pytest.raises(ProviderError) as first:
        provider.fetch(parse_ref("keyring://qsecure/one"))
    assert first.value.reason == "locked" and "wrong keyring password" in str(first.value)
    begin = time.monotonic()
    for _ in range(10):
        with pytest.raises(ProviderError) as again:
            provider.fetch(parse_ref("keyring://qsecure/one"))
        assert again.value is first.value
    assert time.monotonic() - begin < 0.5  # no key derivation after the first
    monkeypatch.setenv("QSECURE_KEYRING_PASSWORD", keyring_env["QSECURE_KEYRING_PASSWORD"])
    assert provider.fetch(parse_ref("keyring://qsecure/one")) == "value-one-1234"
