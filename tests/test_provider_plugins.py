"""Secret providers plugged in through the ``jupyter_qsecure.providers`` entry point group,
installed as a real distribution."""

from __future__ import annotations

from pathlib import Path

import pytest
from plugin_dist import install_plugin

from jupyter_qsecure.secrets.errors import ProviderError
from jupyter_qsecure.secrets.policy import SecretsPolicy
from jupyter_qsecure.secrets.providers import ENTRY_POINT_GROUP, Providers, provider_class
from jupyter_qsecure.secrets.providers.vault import VaultProvider
from jupyter_qsecure.secrets.refs import parse_ref

PLUGIN = """
from jupyter_qsecure.secrets.providers import SecretProvider

class LabProvider(SecretProvider):
    scheme = "lab"

    def fetch(self, ref):
        return "value-of-" + "/".join(ref.parts)

class NotAProvider:
    pass
"""


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_plugin(
        tmp_path / "site",
        monkeypatch,
        "qsecure-lab-provider",
        {
            ENTRY_POINT_GROUP: {
                "lab": "qsecure_lab_provider:LabProvider",
                "odd": "qsecure_lab_provider:NotAProvider",
            }
        },
        PLUGIN,
    )


def test_a_plugin_serves_its_scheme(plugin: None) -> None:
    assert provider_class("lab").__name__ == "LabProvider"
    providers = Providers(SecretsPolicy())
    assert providers.fetch(parse_ref("lab://group/token")) == "value-of-group/token"


def test_a_plugin_that_is_not_a_provider_is_named(plugin: None) -> None:
    with pytest.raises(
        ProviderError, match=r"plug-in qsecure_lab_provider:NotAProvider for odd://"
    ):
        provider_class("odd")


def test_builtins_and_unknown_schemes(plugin: None) -> None:
    assert provider_class("vault") is VaultProvider
    assert provider_class("env").__name__ == "EnvProvider"
    with pytest.raises(ProviderError, match=r"no provider for nope:// \(built in: keyring, vault"):
        provider_class("nope")
