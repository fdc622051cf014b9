"""The vault:// provider: the real hvac client against a protocol double of Vault's HTTP API."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from vault_double import VaultDouble, make_jwt

from jupyter_qsecure.secrets.errors import ProviderError
from jupyter_qsecure.secrets.policy import VaultSettings
from jupyter_qsecure.secrets.providers import provider_class
from jupyter_qsecure.secrets.providers import vault as vault_module
from jupyter_qsecure.secrets.providers.vault import VaultProvider
from jupyter_qsecure.secrets.refs import parse_ref

IBM = "vault://secret/jupyter/shared/ibm#token"
ALICE = "vault://secret/jupyter/users/alice/aws#secret_key"
BOB = "vault://secret/jupyter/users/bob/aws#secret_key"

MakeProvider = Callable[..., VaultProvider]


@pytest.fixture(autouse=True)
def _no_ambient_vault(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither a developer's Vault settings nor a proxy may take part in these tests."""
    for name in (
        "VAULT_TOKEN",
        "VAULT_ADDR",
        "VAULT_NAMESPACE",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def vault() -> Iterator[VaultDouble]:
    """A running double with a few secrets and an ACL policy per user."""
    with VaultDouble() as double:
        double.put_secret("jupyter/shared/ibm", {"token": "ibm-old-value-91c2"})
        double.put_secret("jupyter/shared/ibm", {"token": "ibm-new-value-5f7e", "region": "eu-de"})
        double.put_secret(
            "jupyter/users/alice/aws",
            {"access_key": "AKIAALICE0000EXAMPLE", "secret_key": "alice-s3cr3t-77a1"},
        )
        double.put_secret(
            "jupyter/users/bob/aws",
            {"access_key": "AKIABOB00000EXAMPLE", "secret_key": "bob-s3cr3t-0b0b"},
        )
        double.set_policy("jupyter-shared", "secret/data/jupyter/shared/*")
        double.set_policy(
            "alice", "secret/data/jupyter/users/alice/*", "secret/data/jupyter/shared/*"
        )
        yield double
    assert not double.errors, double.errors


@pytest.fixture
def token_env(vault: VaultDouble, monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """Issue a token and put it in ``$VAULT_TOKEN``."""

    def issue(*policies: str, **options: Any) -> str:
        token = vault.create_token(policies or ("default", "alice"), **options)
        monkeypatch.setenv("VAULT_TOKEN", token)
        return token

    return issue


def fail(provider: VaultProvider, reference: str, vault: VaultDouble) -> ProviderError:
    """The error of fetching ``reference``, checked to hold no value the double knows."""
    with pytest.raises(ProviderError) as caught:
        provider.fetch(parse_ref(reference))
    assert_clean(str(caught.value), vault)
    return caught.value


def assert_clean(text: str, vault: VaultDouble) -> None:
    """No secret, token, role_id, secret_id or JWT of the double in ``text``."""
    leaked = [value for value in vault.sensitive() if value in text]
    assert not leaked, f"leaked {len(leaked)} sensitive value(s) in: {text}"


# -- reading ------------------------------------------------------------------------------


def test_reads_the_latest_version_and_a_pinned_one(
    vault: VaultDouble, make_provider: MakeProvider, token_env: Callable[..., str]
) -> None:
    token = token_env()
    provider = make_provider(token_source="env://VAULT_TOKEN")

    assert provider.fetch(parse_ref(IBM)) == "ibm-new-value-5f7e"
    assert provider.fetch(parse_ref(IBM + "?version=1")) == "ibm-old-value-91c2"
    assert (
        provider.fetch(parse_ref("vault://secret/jupyter/shared/ibm#region?version=2")) == "eu-de"
    )

    reads = vault.calls("GET", "secret/data/jupyter/shared/ibm")
    assert [call.query.get("version") for call in reads] == [None, ["1"], ["2"]]
    assert {call.token for call in reads} == {token}
    assert all(call.status == 200 for call in reads)


def test_the_registry_builds_the_vault_provider() -> None:
    assert provider_class("vault") is VaultProvider


def test_token_from_a_file(vault: VaultDouble, make_provider: MakeProvider, tmp_path: Path) -> None:
    token = vault.create_token(["default", "jupyter-shared"])
    token_file = tmp_path / "vault-token"
    token_file.write_text(token + "\n", encoding="utf-8")
    provider = make_provider(token_source=f"file://{token_file}")

    assert provider.fetch(parse_ref(IBM)) == "ibm-new-value-5f7e"
    assert vault.calls("GET", "secret/data/jupyter/shared/ibm")[0].token == token


def test_a_non_string_field_comes_back_as_json(
    vault: VaultDouble, make_provider: MakeProvider, token_env: Callable[..., str]
) -> None:
    vault.put_secret("jupyter/shared/db", {"port": 5432, "replicas": ["a", "b"]})
    token_env("root")
    provider = make_provider(token_source="env://VAULT_TOKEN")

    assert provider.fetch(parse_ref("vault://secret/jupyter/shared/db#port")) == "5432"
    assert provider.fetch(parse_ref("vault://secret/jupyter/shared/db#replicas")) == '["a", "b"]'


def test_another_kv_mount_and_a_nested_one(
    vault: VaultDouble, make_provider: MakeProvider, token_env: Callable[..., str]
) -> None:
    vault.put_secret("ibm", {"token": "labkv-value-1d3a"}, mount="labkv")
    vault.put_secret("ibm", {"token": "nested-value-8e2b"}, mount="kv/team")
    token_env("root")

    assert (
        make_provider(token_source="env://VAULT_TOKEN").fetch(parse_ref("vault://labkv/ibm#token"))
        == "labkv-value-1d3a"
    )
    nested = make_provider(token_source="env://VAULT_TOKEN", mount="kv/team")
    assert nested.fetch(parse_ref("vault://kv/team/ibm#token")) == "nested-value-8e2b"
    assert vault.calls("GET", "kv/team/data/ibm")


# -- authentication ------------------------------------------------------------------------


@pytest.mark.parametrize("auth_mount", [None, "lab-approle"])
def test_approle_login_once_then_reads(
    vault: VaultDouble,
    make_provider: MakeProvider,
    monkeypatch: pytest.MonkeyPatch,
    auth_mount: str | None,
) -> None:
    mount = auth_mount or "approle"
    role_id, secret_id = vault.add_approle("jupyter", policies=["default", "alice"], mount=mount)
    monkeypatch.setenv("VAULT_SECRET_ID", secret_id)
    provider = make_provider(
        auth="approle",
        auth_mount=auth_mount,
        role_id=role_id,
        secret_id_source="env://VAULT_SECRET_ID",
    )

    assert provider.fetch(parse_ref(ALICE)) == "alice-s3cr3t-77a1"
    assert provider.fetch(parse_ref(IBM)) == "ibm-new-value-5f7e"

    logins = vault.calls("POST", f"auth/{mount}/login")
    assert len(logins) == 1
    issued = vault.issued_tokens()[-1]
    assert logins[0].token is None
    assert {call.token for call in vault.calls("GET")} == {issued}


@pytest.mark.parametrize("auth_mount", [None, "gitlab"])
def test_jwt_login(
    vault: VaultDouble,
    make_provider: MakeProvider,
    monkeypatch: pytest.MonkeyPatch,
    auth_mount: str | None,
) -> None:
    jwt = make_jwt("project_path:lab/analysis")
    vault.add_jwt_role("notebooks", jwt, policies=["jupyter-shared"], mount=auth_mount or "jwt")
    monkeypatch.setenv("CI_JOB_JWT", jwt)
    provider = make_provider(
        auth="jwt", auth_mount=auth_mount, role="notebooks", jwt_source="env://CI_JOB_JWT"
    )

    assert provider.fetch(parse_ref(IBM)) == "ibm-new-value-5f7e"
    assert len(vault.calls("POST", f"auth/{auth_mount or 'jwt'}/login")) == 1


def test_kubernetes_login_with_a_jwt_file(
    vault: VaultDouble, make_provider: MakeProvider, tmp_path: Path
) -> None:
    jwt = make_jwt("system:serviceaccount:jupyter:hub")
    vault.add_kubernetes_role("jupyter", jwt, policies=["jupyter-shared"], mount="k8s-prod")
    jwt_file = tmp_path / "token"
    jwt_file.write_text(jwt, encoding="utf-8")
    provider = make_provider(
        auth="kubernetes", auth_mount="k8s-prod", role="jupyter", jwt_source=f"file://{jwt_file}"
    )

    assert provider.fetch(parse_ref(IBM)) == "ibm-new-value-5f7e"
    assert len(vault.calls("POST", "auth/k8s-prod/login")) == 1


def test_kubernetes_login_reads_the_service_account_token_by_default(
    vault: VaultDouble, make_provider: MakeProvider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jwt = make_jwt("system:serviceaccount:jupyter:hub")
    vault.add_kubernetes_role("jupyter", jwt, policies=["jupyter-shared"])
    account = tmp_path / "serviceaccount" / "token"
    account.parent.mkdir()
    account.write_text(jwt, encoding="utf-8")
    monkeypatch.setattr(vault_module, "SERVICE_ACCOUNT_JWT", f"file://{account}")
    provider = make_provider(auth="kubernetes", role="jupyter")

    assert provider.fetch(parse_ref(IBM)) == "ibm-new-value-5f7e"
    assert len(vault.calls("POST", "auth/kubernetes/login")) == 1


def test_namespace(
    vault: VaultDouble, make_provider: MakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault.put_secret("jupyter/shared/ibm", {"token": "physics-value-3c4d"}, namespace="physics")
    role_id, secret_id = vault.add_approle(
        "jupyter", policies=["jupyter-shared"], namespace="physics"
    )
    monkeypatch.setenv("VAULT_SECRET_ID", secret_id)
    provider = make_provider(
        namespace="physics",
        auth="approle",
        role_id=role_id,
        secret_id_source="env://VAULT_SECRET_ID",
    )

    assert provider.fetch(parse_ref(IBM)) == "physics-value-3c4d"
    assert {call.namespace for call in vault.requests} == {"physics"}
    assert vault.token(vault.issued_tokens()[-1]).namespace == "physics"


def test_a_namespaced_token_is_refused_outside_its_namespace(
    vault: VaultDouble, make_provider: MakeProvider, token_env: Callable[..., str]
) -> None:
    token_env("default", "jupyter-shared", namespace="physics")
    error = fail(make_provider(token_source="env://VAULT_TOKEN"), IBM, vault)
    assert error.reason == "expired"  # to the root namespace, the token does not exist


def test_concurrent_reads_share_one_login(
    vault: VaultDouble, make_provider: MakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    role_id, secret_id = vault.add_approle("jupyter", policies=["alice"])
    monkeypatch.setenv("VAULT_SECRET_ID", secret_id)
    provider = make_provider(
        auth="approle", role_id=role_id, secret_id_source="env://VAULT_SECRET_ID"
    )
    results: list[str] = []

    def read() -> None:
        results.append(provider.fetch(parse_ref(ALICE)))

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results == ["alice-s3cr3t-77a1"] * 8
    assert len(vault.calls("POST", "auth/approle/login")) == 1


def test_describe_reports_ttl_and_policies_never_the_token(
    vault: VaultDouble, make_provider: MakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    role_id, secret_id = vault.add_approle("jupyter", policies=["default", "alice"], ttl=3600)
    monkeypatch.setenv("VAULT_SECRET_ID", secret_id)
    provider = make_provider(
        auth="approle", role_id=role_id, secret_id_source="env://VAULT_SECRET_ID"
    )

    status = provider.describe()

    assert status.startswith(f"Vault at {vault.url}, auth approle at auth/approle: token ttl ")
    assert "renewable, policies default, alice" in status
    assert vault.calls("GET", "auth/token/lookup-self")
    assert_clean(status, vault)


# -- failures ------------------------------------------------------------------------------


def test_denied_outside_the_token_policy(
    vault: VaultDouble, make_provider: MakeProvider, token_env: Callable[..., str]
) -> None:
    token_env("default", "alice")
    error = fail(make_provider(token_source="env://VAULT_TOKEN"), BOB, vault)

    assert error.reason == "denied"
    assert "permission denied" in str(error)
    assert "secret/data/jupyter/users/bob/aws" in str(error)
    assert BOB in str(error)
    assert "env://VAULT_TOKEN" in str(error)


def test_denied_after_login_does_not_log_in_again(
    vault: VaultDouble, make_provider: MakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    role_id, secret_id = vault.add_approle("jupyter", policies=["default", "alice"])
    monkeypatch.setenv("VAULT_SECRET_ID", secret_id)
    provider = make_provider(
        auth="approle", role_id=role_id, secret_id_source="env://VAULT_SECRET_ID"
    )

    error = fail(provider, BOB, vault)

    assert error.reason == "denied"
    assert "secret/data/jupyter/users/bob/aws" in str(error)
    assert len(vault.calls("POST", "auth/approle/login")) == 1  # the token was alive: no re-login


def test_wrong_path_is_not_found(
    vault: VaultDouble, make_provider: MakeProvider, token_env: Callable[..., str]
) -> None:
    token_env("root")
    error = fail(
        make_provider(token_source="env://VAULT_TOKEN"),
        "vault://secret/jupyter/shared/ibmq#token",
        vault,
    )

    assert error.reason == "not-found"
    assert "secret/jupyter/shared/ibmq" in str(error)
    assert "KV version 2" in str(error)


def test_missing_version_is_not_found(
    vault: VaultDouble, make_provider: MakeProvider, token_env: Callable[..., str]
) -> None:
    token_env("root")
    error = fail(make_provider(token_source="env://VAULT_TOKEN"), IBM + "?version=7", vault)

    assert error.reason == "not-found"
    assert "version 7" in str(error)


def test_deleted_and_destroyed_versions(
    vault: VaultDouble, make_provider: MakeProvider, token_env: Callable[..., str]
) -> None:
    vault.delete_version("jupyter/shared/ibm", 1)
    vault.destroy_version("jupyter/users/alice/aws", 1)
    token_env("root")
    provider = make_provider(token_source="env://VAULT_TOKEN")

    deleted = fail(provider, IBM + "?version=1", vault)
    assert deleted.reason == "not-found"
    assert "was deleted at" in str(deleted)
    assert "vault kv undelete -versions=1" in str(deleted)
    destroyed = fail(provider, ALICE, vault)
    assert destroyed.reason == "not-found"
    assert "destroyed" in str(destroyed)
    assert provider.fetch(parse_ref(IBM)) == "ibm-new-value-5f7e"


def test_missing_field_lists_names_never_values(
    vault: VaultDouble, make_provider: MakeProvider, token_env: Callable[..., str]
) -> None:
    token_env("default", "alice")
    error = fail(
        make_provider(token_source="env://VAULT_TOKEN"),
        "vault://secret/jupyter/users/alice/aws#password",
        vault,
    )

    assert error.reason == "not-found"
    assert "'password'" in str(error)
    assert "access_key, secret_key" in str(error)
    assert "alice-s3cr3t-77a1" not in str(error)


def test_vault_down_is_unreachable_quickly(
    make_provider: MakeProvider, vault: VaultDouble, token_env: Callable[..., str]
) -> None:
    token_env("root")
    provider = make_provider(token_source="env://VAULT_TOKEN", timeout=5.0)
    vault.stop()  # nothing listens on the port any more

    started = time.monotonic()
    error = fail(provider, IBM, vault)

    assert time.monotonic() - started < 3
    assert error.reason == "unreachable"
    assert vault.url in str(error)
    assert "check [vault] url" in str(error)


def test_sealed_vault_is_unreachable(
    vault: VaultDouble, make_provider: MakeProvider, token_env: Callable[..., str]
) -> None:
    token_env("root")
    vault.sealed = True
    error = fail(make_provider(token_source="env://VAULT_TOKEN"), IBM, vault)

    assert error.reason == "unreachable"
    assert "sealed or down" in str(error)
    assert "Vault is sealed" in str(error)


def test_slow_vault_times_out_within_the_timeout(
    vault: VaultDouble, make_provider: MakeProvider, token_env: Callable[..., str]
) -> None:
    token_env("root")
    provider = make_provider(token_source="env://VAULT_TOKEN", timeout=0.4)
    vault.delay = 10.0

    started = time.monotonic()
    error = fail(provider, IBM, vault)
    elapsed = time.monotonic() - started

    assert error.reason == "timeout"
    assert 0.3 < elapsed < 2.0
    assert "0.4s" in str(error)


def test_expired_token_says_to_renew_or_log_in(
    vault: VaultDouble, make_provider: MakeProvider, token_env: Callable[..., str]
) -> None:
    token = token_env("default", "alice", ttl=3600)
    provider = make_provider(token_source="env://VAULT_TOKEN")
    assert provider.fetch(parse_ref(ALICE)) == "alice-s3cr3t-77a1"
    vault.expire_token(token)

    error = fail(provider, ALICE, vault)

    assert error.reason == "expired"
    assert "renew" in str(error)
    assert "log in again" in str(error)
    assert "env://VAULT_TOKEN" in str(error)


def test_a_refreshed_token_file_is_read_again(
    vault: VaultDouble, make_provider: MakeProvider, tmp_path: Path
) -> None:
    """Vault Agent rewrites its token sink: after an expiry the file is read once more."""
    token_file = tmp_path / "agent-token"
    old = vault.create_token(["default", "alice"], ttl=60)
    token_file.write_text(old, encoding="utf-8")
    provider = make_provider(token_source=f"file://{token_file}")
    assert provider.fetch(parse_ref(ALICE)) == "alice-s3cr3t-77a1"

    vault.expire_token(old)
    new = vault.create_token(["default", "alice"], ttl=60)
    token_file.write_text(new, encoding="utf-8")

    assert provider.fetch(parse_ref(ALICE)) == "alice-s3cr3t-77a1"
    assert vault.calls("GET", "secret/data/jupyter/users/alice/aws")[-1].token == new


def test_login_auth_logs_in_again_once_after_expiry(
    vault: VaultDouble, make_provider: MakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    role_id, secret_id = vault.add_approle("jupyter", policies=["default", "alice"], ttl=60)
    monkeypatch.setenv("VAULT_SECRET_ID", secret_id)
    provider = make_provider(
        auth="approle", role_id=role_id, secret_id_source="env://VAULT_SECRET_ID"
    )
    assert provider.fetch(parse_ref(ALICE)) == "alice-s3cr3t-77a1"
    first = vault.issued_tokens()[-1]

    vault.expire_token(first)

    assert provider.fetch(parse_ref(ALICE)) == "alice-s3cr3t-77a1"
    assert len(vault.calls("POST", "auth/approle/login")) == 2
    second = vault.issued_tokens()[-1]
    assert second != first
    reads = vault.calls("GET", "secret/data/jupyter/users/alice/aws")
    assert [call.token for call in reads] == [first, first, second]
    assert [call.status for call in reads] == [200, 403, 200]


def test_login_auth_reports_when_logging_in_again_fails(
    vault: VaultDouble, make_provider: MakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    role_id, secret_id = vault.add_approle("jupyter", policies=["default", "alice"], ttl=60)
    monkeypatch.setenv("VAULT_SECRET_ID", secret_id)
    provider = make_provider(
        auth="approle", role_id=role_id, secret_id_source="env://VAULT_SECRET_ID"
    )
    assert provider.fetch(parse_ref(ALICE)) == "alice-s3cr3t-77a1"
    vault.expire_token(vault.issued_tokens()[-1])
    vault.rotate_secret_id("jupyter")  # the secret_id the server holds is stale now

    error = fail(provider, ALICE, vault)

    assert error.reason == "denied"
    assert "Vault refused the approle login at auth/approle/login" in str(error)
    assert "invalid role or secret ID" in str(error)
    assert "secret_id_source" in str(error)
    assert len(vault.calls("POST", "auth/approle/login")) == 2  # once more, not in a loop


@pytest.mark.parametrize(
    ("auth", "expected"),
    [("jwt", "failed to verify id token signature"), ("kubernetes", "permission denied")],
)
def test_a_refused_jwt_login(
    vault: VaultDouble,
    make_provider: MakeProvider,
    monkeypatch: pytest.MonkeyPatch,
    auth: str,
    expected: str,
) -> None:
    if auth == "jwt":
        vault.add_jwt_role("notebooks", make_jwt("expected"))
    else:
        vault.add_kubernetes_role("notebooks", make_jwt("expected"))
    presented = make_jwt("someone-else")
    monkeypatch.setenv("LOGIN_JWT", presented)
    provider = make_provider(auth=auth, role="notebooks", jwt_source="env://LOGIN_JWT")

    error = fail(provider, IBM, vault)

    assert error.reason == "denied"
    assert expected in str(error)
    assert presented not in str(error)


def test_an_unknown_auth_mount_is_refused(
    vault: VaultDouble, make_provider: MakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    role_id, secret_id = vault.add_approle("jupyter", mount="approle")
    monkeypatch.setenv("VAULT_SECRET_ID", secret_id)
    provider = make_provider(
        auth="approle",
        auth_mount="aproll",
        role_id=role_id,
        secret_id_source="env://VAULT_SECRET_ID",
    )

    error = fail(provider, IBM, vault)

    assert error.reason == "denied"
    assert "auth/aproll/login" in str(error)
    assert "auth_mount" in str(error)


def test_missing_token_value_is_misconfigured(
    vault: VaultDouble, make_provider: MakeProvider
) -> None:
    error = fail(make_provider(token_source="env://VAULT_TOKEN"), IBM, vault)

    assert error.reason == "misconfigured"
    assert "token_source" in str(error)
    assert "VAULT_TOKEN" in str(error)
    assert not vault.requests  # nothing was sent without a token


def test_token_auth_without_a_source_is_misconfigured(
    vault: VaultDouble, make_provider: MakeProvider
) -> None:
    error = fail(make_provider(), IBM, vault)

    assert error.reason == "misconfigured"
    assert 'token_source = "env://VAULT_TOKEN"' in str(error)


def test_vault_credentials_cannot_come_from_vault(
    vault: VaultDouble, make_provider: MakeProvider
) -> None:
    error = fail(make_provider(token_source="vault://secret/bootstrap/token#value"), IBM, vault)

    assert error.reason == "misconfigured"
    assert "cannot be a vault:// reference" in str(error)
    assert not vault.requests


def test_hvac_does_not_fall_back_to_the_environment_token(
    vault: VaultDouble, make_provider: MakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """hvac reads $VAULT_TOKEN when given no token; the provider reads only token_source."""
    monkeypatch.setenv("VAULT_TOKEN", vault.create_token(["root"]))
    monkeypatch.setenv("LAB_TOKEN", vault.create_token(["default", "jupyter-shared"]))
    provider = make_provider(token_source="env://LAB_TOKEN")

    assert provider.fetch(parse_ref(IBM)) == "ibm-new-value-5f7e"
    error = fail(provider, ALICE, vault)
    assert error.reason == "denied"


# -- TLS -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A private CA and a server certificate for 127.0.0.1: (ca.pem, cert.pem, key.pem)."""
    pytest.importorskip("cryptography")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "qsecure test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vault.test")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@pytest.fixture
def tls_vault(tls_files: tuple[Path, Path, Path]) -> Iterator[VaultDouble]:
    """The double over HTTPS, with a certificate from the private CA."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls_files[1], tls_files[2])
    with VaultDouble(tls=context) as double:
        double.put_secret("jupyter/shared/ibm", {"token": "tls-value-6a0f"})
        yield double
    assert not double.errors, double.errors


def test_tls_with_the_ca_bundle(
    tls_vault: VaultDouble, tls_files: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VAULT_TOKEN", tls_vault.create_token(["root"]))
    settings = VaultSettings(
        url=tls_vault.url, ca_bundle=tls_files[0], token_source=parse_ref("env://VAULT_TOKEN")
    )

    with VaultProvider(settings) as provider:
        assert provider.fetch(parse_ref(IBM)) == "tls-value-6a0f"


def test_tls_with_an_unknown_ca_is_unreachable(
    tls_vault: VaultDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VAULT_TOKEN", tls_vault.create_token(["root"]))
    settings = VaultSettings(url=tls_vault.url, token_source=parse_ref("env://VAULT_TOKEN"))

    with VaultProvider(settings) as provider:
        error = fail(provider, IBM, tls_vault)

    assert error.reason == "unreachable"
    assert "TLS verification" in str(error)
    assert "ca_bundle" in str(error)
    assert not tls_vault.requests
