"""A personal grant never reads the store entry of a secret the admin's policy defines, nor
the one the server logs in to Vault with."""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_qsecure.secrets.personal import PersonalGrants, merge
from jupyter_qsecure.secrets.policy import parse_secrets_policy


def _policy(source: str) -> object:
    return parse_secrets_policy(
        "qsecure.toml",
        Path("."),
        {"secrets": {"ADMIN_TOKEN": {"source": source, "notebooks": ["admin/*.ipynb"]}}},
    )


def test_personal_grant_of_an_admin_store_entry_is_left_out(tmp_path: Path) -> None:
    grants = PersonalGrants(tmp_path / "personal-grants.json")
    grants.add("alice", "OTHER", "mine.ipynb")
    grants.add("alice", "LAB_KEY", "mine.ipynb")
    grants.add("alice", "Lab_Key_Two", "mine.ipynb")
    for source in ("keyring://qsecure/LAB_KEY", "keyring://QSECURE/lab_key"):
        merged = merge(_policy(source), grants.as_grants("alice"))  # type: ignore[arg-type]
        assert sorted(merged.grants) == ["ADMIN_TOKEN", "Lab_Key_Two", "OTHER"]
        granted = {g.name for g in merged.granted("alice", "mine.ipynb", None)}
        assert granted == {"Lab_Key_Two", "OTHER"}


def test_personal_grants_of_other_entries_still_apply(tmp_path: Path) -> None:
    grants = PersonalGrants(tmp_path / "personal-grants.json")
    grants.add("alice", "MY_TOKEN", "mine.ipynb")
    merged = merge(_policy("vault://secret/lab#MY_TOKEN"), grants.as_grants("alice"))  # type: ignore[arg-type]
    assert [g.name for g in merged.granted("alice", "mine.ipynb", None)] == ["MY_TOKEN"]


@pytest.mark.parametrize(
    ("auth", "key"),
    [
        ({"auth": "token"}, "token_source"),
        ({"auth": "approle", "role_id": "jupyter"}, "secret_id_source"),
        ({"auth": "jwt", "role": "jupyter"}, "jwt_source"),
    ],
)
def test_personal_grant_of_the_servers_vault_credential_is_left_out(
    tmp_path: Path, auth: dict[str, str], key: str
) -> None:
    # The server's Vault login, kept in its keyring: a personal grant named after that
    # entry would put the server's credential into the kernels of any notebook.
    policy = parse_secrets_policy(
        "qsecure.toml",
        Path("."),
        {"vault": {**auth, key: "keyring://qsecure/VAULT_LOGIN"}},
    )
    grants = PersonalGrants(tmp_path / "personal-grants.json")
    grants.add("alice", "VAULT_LOGIN", "mine.ipynb")
    grants.add("alice", "vault_login", "mine.ipynb")
    grants.add("alice", "OTHER", "mine.ipynb")
    merged = merge(policy, grants.as_grants("alice"))
    assert [g.name for g in merged.granted("alice", "mine.ipynb", None)] == ["OTHER"]
