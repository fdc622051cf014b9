"""Vault JWT login with the JWT from the JupyterHub user's auth state (``hub://``).

The real ``hvac`` client talks to the protocol double of Vault's API (``vault_double``);
the single-user server's side of JupyterHub's API (``GET /hub/api/user`` with
``Authorization: token $JUPYTERHUB_API_TOKEN``) is a small HTTP double here that answers
with a new JWT in ``auth_state`` on every call, as a hub whose authenticator refreshes
the user's tokens does. ``test_hub_jwt_under_a_real_jupyterhub`` runs the same flow end to
end under a real JupyterHub.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hub import HUB_NETWORK, HUB_SPAWNER
from vault_double import VaultDouble, make_jwt

from jupyter_qsecure.config import PolicyError
from jupyter_qsecure.secrets import hub as hub_module
from jupyter_qsecure.secrets.errors import ProviderError
from jupyter_qsecure.secrets.hub import HubAuthState, jwt_expiry
from jupyter_qsecure.secrets.policy import parse_secrets_policy
from jupyter_qsecure.secrets.providers.vault import VaultProvider
from jupyter_qsecure.secrets.refs import SecretRefError, parse_ref

ALICE = "vault://secret/jupyter/users/alice/aws#secret_key"
ALICE_VALUE = "alice-s3cr3t-77a1"
HUB_JWT = "hub://auth_state/id_token"


class HubDouble:
    """``GET /hub/api/user`` and ``GET /hub/api/users/alice`` of JupyterHub, for one user
    and one server token (``Authorization: token ...``; 403 as JupyterHub for another).

    ``/user`` answers the name and the token's scopes, as JupyterHub does (never the
    auth_state). Each read of ``/users/alice`` mints a JWT for ``sub = alice`` valid for
    :attr:`lifetime` seconds (unless :attr:`refresh` is off: then the first one is returned
    again). :attr:`show_auth_state` off answers as a hub does for a token without
    ``admin:auth_state!user``: no such scope, and the model without ``auth_state``.
    """

    def __init__(self) -> None:
        self.token = secrets.token_hex(32)
        self.lifetime = 300.0
        self.lifetimes: list[float] = []  # lifetimes of the next JWTs, then `lifetime`
        self.refresh = True
        self.show_auth_state = True
        self.delay = 0.0
        self.issued: list[str] = []
        self.authorizations: list[str | None] = []
        self.reads = 0  # answers of /users/alice
        self._lock = threading.Lock()
        self._stop = threading.Event()
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

            def do_GET(self) -> None:
                status, body = double.answer(self.path, self.headers.get("Authorization"))
                if double.delay and double._stop.wait(double.delay):
                    return
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.api_url = f"http://127.0.0.1:{self._server.server_address[1]}/hub/api"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def answer(self, path: str, authorization: str | None) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.authorizations.append(authorization)
            if path not in ("/hub/api/user", "/hub/api/users/alice"):
                return 404, {"status": 404, "message": "Not Found"}
            if authorization != f"token {self.token}":
                return 403, {"status": 403, "message": "Missing or invalid credentials."}
            scopes = ["access:servers!server=alice/", "users:activity!user=alice"]
            if self.show_auth_state:
                scopes.insert(0, "admin:auth_state!user=alice")
            if path == "/hub/api/user":
                return 200, {"kind": "user", "name": "alice", "scopes": scopes}
            self.reads += 1
            if self.refresh or not self.issued:
                lifetime = self.lifetimes.pop(0) if self.lifetimes else self.lifetime
                self.issued.append(make_jwt("alice", expires=time.time() + lifetime))
            model: dict[str, Any] = {"kind": "user", "name": "alice", "admin": False}
            if self.show_auth_state:
                model["auth_state"] = {
                    "access_token": "opaque-" + secrets.token_hex(8),
                    "id_token": self.issued[-1],
                }
            return 200, model

    def calls(self) -> int:
        """How many times the auth state was read."""
        with self._lock:
            return self.reads

    def __enter__(self) -> HubDouble:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("VAULT_TOKEN", "VAULT_ADDR", "VAULT_NAMESPACE", "JUPYTERHUB_API_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("JUPYTERHUB_API_TOKEN", raising=False)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def vault() -> Iterator[VaultDouble]:
    with VaultDouble() as double:
        double.put_secret("jupyter/users/alice/aws", {"secret_key": ALICE_VALUE})
        double.set_policy("alice", "secret/data/jupyter/users/alice/*")
        double.add_jwt_role(
            "jupyter-user", bound_claims={"sub": "alice"}, policies=["default", "alice"]
        )
        yield double
    assert not double.errors, double.errors


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[HubDouble]:
    with HubDouble() as double:
        monkeypatch.setenv("JUPYTERHUB_API_URL", double.api_url)
        monkeypatch.setenv("JUPYTERHUB_API_TOKEN", double.token)
        yield double


@pytest.fixture
def make_provider(make_provider: Callable[..., VaultProvider]) -> Callable[..., VaultProvider]:
    """conftest's ``make_provider``, logging in by default with the JWT from the hub (role
    ``jupyter-user``, ``jwt_source`` :data:`HUB_JWT`)."""

    def make(**fields: Any) -> VaultProvider:
        fields.setdefault("auth", "jwt")
        fields.setdefault("role", "jupyter-user")
        fields.setdefault("jwt_source", HUB_JWT)
        return make_provider(**fields)

    return make


def logins(vault: VaultDouble) -> list[int]:
    return [call.status for call in vault.calls("POST", "auth/jwt/login")]


def failure(provider: VaultProvider, vault: VaultDouble, hub: HubDouble) -> ProviderError:
    """The error of fetching alice's secret, checked to hold no token, JWT or value."""
    with pytest.raises(ProviderError) as caught:
        provider.fetch(parse_ref(ALICE))
    assert_clean(str(caught.value), vault, hub)
    return caught.value


def assert_clean(text: str, vault: VaultDouble, hub: HubDouble) -> None:
    leaked = [value for value in {*vault.sensitive(), *hub.issued, hub.token} if value in text]
    assert not leaked, f"leaked {len(leaked)} sensitive value(s) in: {text}"


# -- the reference and the policy ------------------------------------------------------------


def test_the_policy_reads_a_hub_jwt_source(tmp_path: Path) -> None:
    policy = parse_secrets_policy(
        "qsecure.toml",
        tmp_path,
        {"vault": {"auth": "jwt", "role": "jupyter-user", "jwt_source": HUB_JWT}},
    )
    source = policy.vault.jwt_source
    assert source is not None
    assert (source.scheme, source.parts) == ("hub", ["auth_state", "id_token"])
    nested = parse_ref("hub://auth_state/token_response/id_token")
    assert nested.parts == ["auth_state", "token_response", "id_token"]


@pytest.mark.parametrize(
    "text", ["hub://id_token", "hub://auth_state", "hub://auth_state/id_token#x"]
)
def test_a_malformed_hub_reference_names_the_form(text: str, tmp_path: Path) -> None:
    with pytest.raises(SecretRefError, match=r"expected hub://auth_state/KEY"):
        parse_ref(text)
    with pytest.raises(PolicyError) as caught:
        parse_secrets_policy(
            "qsecure.toml", tmp_path, {"vault": {"auth": "jwt", "role": "r", "jwt_source": text}}
        )
    assert "vault.jwt_source" in str(caught.value)
    assert "hub://auth_state/KEY" in str(caught.value)


def test_jwt_expiry_reads_the_exp_claim() -> None:
    moment = time.time() + 120
    assert jwt_expiry(make_jwt("alice", expires=moment)) == int(moment)
    assert jwt_expiry(make_jwt("alice")) is None  # no exp
    assert jwt_expiry("opaque-access-token") is None
    assert jwt_expiry("a.%%%.c") is None
    assert jwt_expiry("a.bnVsbA.c") is None  # "null"


# -- logging in with the hub's JWT -------------------------------------------------------------


def test_first_login_with_the_jwt_from_the_hub(
    vault: VaultDouble, hub: HubDouble, make_provider: Callable[..., VaultProvider]
) -> None:
    provider = make_provider()

    assert provider.fetch(parse_ref(ALICE)) == ALICE_VALUE
    assert provider.fetch(parse_ref(ALICE)) == ALICE_VALUE  # logged in once
    assert hub.authorizations == [f"token {hub.token}"] * 2  # /user, then /users/alice
    assert logins(vault) == [200]
    token = vault.calls("GET", "secret/data/jupyter/users/alice/aws")[0].token
    assert token is not None
    assert vault.token(token).meta == {"role": "jupyter-user"}


def test_after_the_jwt_expires_a_fresh_one_comes_from_the_hub(
    vault: VaultDouble,
    hub: HubDouble,
    make_provider: Callable[..., VaultProvider],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    hub.lifetime = 1.5  # the JWT: seconds, as an ID token's minutes
    vault.add_jwt_role("jupyter-user", bound_claims={"sub": "alice"}, policies=["alice"], ttl=1)
    provider = make_provider()
    assert provider.fetch(parse_ref(ALICE)) == ALICE_VALUE
    time.sleep(1.6)  # both the Vault token and the JWT have expired

    assert provider.fetch(parse_ref(ALICE)) == ALICE_VALUE

    assert len(hub.issued) == 2
    assert logins(vault) == [200, 200]
    tokens = {call.token for call in vault.calls("GET", "secret/data/jupyter/users/alice/aws")}
    assert len(tokens - {None}) == 2  # a new Vault token from the second JWT
    assert_clean(caplog.text, vault, hub)


def test_a_jwt_far_from_expiry_is_reused_and_one_near_it_is_not(
    vault: VaultDouble,
    hub: HubDouble,
    make_provider: Callable[..., VaultProvider],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vault.add_jwt_role("jupyter-user", bound_claims={"sub": "alice"}, policies=["alice"], ttl=1)
    provider = make_provider()
    assert provider.fetch(parse_ref(ALICE)) == ALICE_VALUE
    time.sleep(1.1)  # the Vault token expires; the JWT (300 s) does not
    assert provider.fetch(parse_ref(ALICE)) == ALICE_VALUE
    assert (hub.calls(), logins(vault)) == (1, [200, 200])  # the same JWT, twice

    # Within REFRESH_MARGIN of its exp, the JWT is asked for again before the login.
    monkeypatch.setattr(hub_module, "REFRESH_MARGIN", 400.0)
    time.sleep(1.1)
    assert provider.fetch(parse_ref(ALICE)) == ALICE_VALUE
    assert (hub.calls(), logins(vault)) == (2, [200, 200, 200])


def test_a_jwt_vault_refuses_as_expired_is_fetched_again_once(
    vault: VaultDouble, hub: HubDouble, make_provider: Callable[..., VaultProvider]
) -> None:
    # Vault's clock runs 200 s ahead: a JWT valid for 100 s more here is expired there.
    vault.add_jwt_role(
        "jupyter-user", bound_claims={"sub": "alice"}, policies=["alice"], leeway=-200
    )
    hub.lifetimes = [100.0, 600.0]
    provider = make_provider()

    assert provider.fetch(parse_ref(ALICE)) == ALICE_VALUE

    assert logins(vault) == [400, 200]  # refused as expired, fetched again, accepted
    assert len(hub.issued) == 2


def test_a_second_refusal_is_reported_without_a_third_try(
    vault: VaultDouble, hub: HubDouble, make_provider: Callable[..., VaultProvider]
) -> None:
    vault.add_jwt_role(
        "jupyter-user", bound_claims={"sub": "alice"}, policies=["alice"], leeway=-200
    )
    hub.lifetime = 100.0
    error = failure(make_provider(), vault, hub)

    assert logins(vault) == [400, 400]
    assert len(hub.issued) == 2
    assert error.reason == "denied"
    assert "Vault refused the jwt login at auth/jwt/login (error validating claims: " in str(error)
    assert "token is expired (exp)); check [vault] auth_mount, role and jwt_source" in str(error)


def test_a_hub_that_does_not_refresh_gets_a_message_saying_so(
    vault: VaultDouble, hub: HubDouble, make_provider: Callable[..., VaultProvider]
) -> None:
    hub.refresh = False  # the same JWT on every call, expired 5 s ago
    hub.lifetime = -5.0
    error = failure(make_provider(), vault, hub)

    assert logins(vault) == [400]  # the hub gave the same JWT again: no second login
    assert hub.calls() == 2
    assert error.reason == "denied"
    assert "; the JWT from hub://auth_state/id_token expired at 20" in str(error)
    assert "JupyterHub did not refresh it: its authenticator must refresh" in str(error)


def test_an_env_jwt_that_expired_says_how_to_get_a_fresh_one(
    vault: VaultDouble,
    make_provider: Callable[..., VaultProvider],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QSECURE_VAULT_JWT", make_jwt("alice", expires=time.time() - 60))
    with pytest.raises(ProviderError) as caught:
        make_provider(jwt_source="env://QSECURE_VAULT_JWT").fetch(parse_ref(ALICE))
    text = str(caught.value)
    assert "the JWT from env://QSECURE_VAULT_JWT expired at " in text
    assert 'jwt_source = "hub://auth_state/id_token"' in text
    assert logins(vault) == [400]
    assert not [value for value in vault.sensitive() if value in text]


# -- what goes wrong on the hub's side ---------------------------------------------------------


def test_a_wrong_hub_token_names_jupyterhub_api_token(
    vault: VaultDouble,
    hub: HubDouble,
    make_provider: Callable[..., VaultProvider],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    wrong = secrets.token_hex(32)
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", wrong)
    caplog.set_level(logging.DEBUG)
    provider = make_provider()

    error = failure(provider, vault, hub)

    assert error.reason == "denied"
    text = str(error)
    assert "cannot read [vault] jwt_source: hub://auth_state/id_token:" in text
    assert "refused $JUPYTERHUB_API_TOKEN (HTTP 403: Missing or invalid credentials.)" in text
    assert "restart the server from the hub" in text
    assert hub.authorizations == [f"token {wrong}"]
    assert wrong not in text
    assert not logins(vault)
    assert wrong not in caplog.text
    assert_clean(caplog.text, vault, hub)


def test_a_token_without_the_auth_state_scope_names_the_scope(
    vault: VaultDouble, hub: HubDouble, make_provider: Callable[..., VaultProvider]
) -> None:
    hub.show_auth_state = False
    error = failure(make_provider(), vault, hub)
    assert error.reason == "denied"
    assert "does not show alice's auth_state to this server" in str(error)
    assert "$JUPYTERHUB_API_TOKEN lacks the admin:auth_state!user scope" in str(error)
    assert 'the "server" and "user" roles (c.JupyterHub.load_roles)' in str(error)


def test_a_missing_key_lists_the_keys_of_the_auth_state(
    vault: VaultDouble, hub: HubDouble, make_provider: Callable[..., VaultProvider]
) -> None:
    error = failure(make_provider(jwt_source="hub://auth_state/oidc_token"), vault, hub)
    assert error.reason == "misconfigured"
    assert "alice's auth_state has no key 'oidc_token'; its keys are: access_token, id_token" in (
        str(error)
    )


def test_outside_a_hub_spawned_server(
    vault: VaultDouble, make_provider: Callable[..., VaultProvider]
) -> None:
    with pytest.raises(ProviderError) as caught:
        make_provider().fetch(parse_ref(ALICE))
    assert caught.value.reason == "misconfigured"
    assert "$JUPYTERHUB_API_URL and $JUPYTERHUB_API_TOKEN are not set" in str(caught.value)


def test_a_hub_that_does_not_answer_is_bounded(
    vault: VaultDouble, hub: HubDouble, make_provider: Callable[..., VaultProvider]
) -> None:
    hub.delay = 5.0
    provider = make_provider(timeout=0.5)
    started = time.monotonic()
    error = failure(provider, vault, hub)
    assert time.monotonic() - started < 3.0
    assert error.reason == "timeout"
    assert "did not answer within 0.5s" in str(error)


def test_hub_auth_state_reads_nested_keys_and_never_shows_values(hub: HubDouble) -> None:
    reader = HubAuthState(
        timeout=5.0,
        environ={"JUPYTERHUB_API_URL": hub.api_url + "/", "JUPYTERHUB_API_TOKEN": hub.token},
    )
    try:
        assert reader.read(parse_ref(HUB_JWT)) == hub.issued[-1]
        assert reader.read(parse_ref(HUB_JWT)) == hub.issued[-1]  # kept until near its exp
        assert hub.calls() == 1
        assert reader.read(parse_ref(HUB_JWT), fresh=True) == hub.issued[-1]
        assert len(hub.issued) == 2
        assert reader.read(parse_ref("hub://auth_state/access_token")).startswith("opaque-")
        with pytest.raises(ProviderError) as caught:
            reader.read(parse_ref("hub://auth_state/id_token/claims"))
        assert "alice's auth_state.id_token has no key 'claims'" in str(caught.value)
        assert_clean_hub(str(caught.value), hub)
    finally:
        reader.close()


def assert_clean_hub(text: str, hub: HubDouble) -> None:
    leaked = [value for value in {*hub.issued, hub.token} if value in text]
    assert not leaked, f"leaked {len(leaked)} sensitive value(s) in: {text}"


# -- end to end: a real JupyterHub ---------------------------------------------------------------

HUB_CONFIG = (
    """\
# Written by tests/test_vault_hub_jwt.py for one run; every path and port is this run's.
import base64
import json
import os
import secrets
import time

from jupyterhub.auth import DummyAuthenticator
from jupyterhub.spawner import SimpleLocalProcessSpawner

c = get_config()  # noqa: F821

PASSWORD = {password!r}
JWT_LIFETIME = {jwt_lifetime}


# An ID token as an identity provider would issue it (the test's Vault double checks
# its claims, not its signature).
def make_jwt(name):
    def part(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    now = int(time.time())
    claims = {{"iss": "https://idp.test", "sub": name, "aud": "jupyterhub", "iat": now,
              "exp": now + JWT_LIFETIME, "jti": secrets.token_hex(8)}}
    return ".".join([part(b'{{"alg":"RS256","typ":"JWT"}}'), part(json.dumps(claims).encode()),
                     part(secrets.token_bytes(32))])


def expiry(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"]


# A password, and an ID token in auth_state that refresh_user renews once expired, as
# OAuthenticator does with a refresh token.
class TokenAuthenticator(DummyAuthenticator):

    async def authenticate(self, handler, data):
        if data.get("password") != PASSWORD:
            return None
        return {{"name": data["username"], "auth_state": {{"id_token": make_jwt(data["username"])}}}}

    async def refresh_user(self, user, handler=None):
        state = await user.get_auth_state() or {{}}
        token = state.get("id_token")
        if token and expiry(token) - 1 > time.time():
            return True
        return {{"name": user.name, "auth_state": {{**state, "id_token": make_jwt(user.name)}}}}


"""
    + HUB_NETWORK
    + """
c.JupyterHub.authenticator_class = TokenAuthenticator
c.Authenticator.allowed_users = {{"alice"}}
c.Authenticator.enable_auth_state = True  # needs $JUPYTERHUB_CRYPT_KEY
c.Authenticator.auth_refresh_age = 1  # refresh_user at most once a second

"""
    + HUB_SPAWNER
    + """
c.JupyterHub.services = [{{"name": "qsecure-test", "api_token": {service_token!r}}}]
c.JupyterHub.load_roles = [
    # A user may read their own auth state, and so may their server's token
    # ($JUPYTERHUB_API_TOKEN gets the scopes of the "server" role that its user holds).
    {{"name": "user", "scopes": ["self", "admin:auth_state!user"]}},
    {{
        "name": "server",
        "scopes": ["users:activity!user", "access:servers!server", "admin:auth_state!user"],
    }},
    {{
        "name": "qsecure-test",
        "scopes": ["admin:users", "admin:servers"],
        "services": ["qsecure-test"],
    }},
]
"""
)

HUB_POLICY = """
[vault]
url = "{vault_url}"
auth = "jwt"
role = "jupyter-user"
jwt_source = "hub://auth_state/id_token"
timeout = 5

[injection]
cache_seconds = 0

[secrets.ALICE_AWS_SECRET]
source = "{source}"
notebooks = ["**/*.ipynb"]
users = ["alice"]
"""


def browser_login(url: str, password: str) -> None:
    """Log alice in through the hub's login form, as a browser does."""
    import requests

    with requests.Session() as browser:
        page = browser.get(url + "/hub/login", timeout=15)
        page.raise_for_status()
        xsrf = browser.cookies.get("_xsrf", path="/hub/") or browser.cookies.get("_xsrf") or ""
        response = browser.post(
            url + "/hub/login",
            data={"username": "alice", "password": password, "_xsrf": xsrf},
            allow_redirects=False,
            timeout=15,
        )
        assert response.status_code == 302, (response.status_code, response.text[:300])


@pytest.mark.slow
def test_hub_jwt_under_a_real_jupyterhub(
    tmp_path: Path, vault: VaultDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hub as real  # the hub helpers: proxy, waits, kernels, cleanup

    chp = real.proxy_command()
    jwt_lifetime, vault_ttl = 3, 2
    vault.add_jwt_role(
        "jupyter-user", bound_claims={"sub": "alice"}, policies=["alice"], ttl=vault_ttl
    )
    password, service_token = secrets.token_urlsafe(12), secrets.token_hex(32)
    crypt_key = secrets.token_hex(32)
    policy = tmp_path / "admin" / "qsecure.toml"
    policy.parent.mkdir()
    policy.write_text(HUB_POLICY.format(vault_url=vault.url, source=ALICE), encoding="utf-8")
    settings = real.hub_settings(tmp_path, chp)
    config = HUB_CONFIG.format(
        **settings,
        password=password,
        jwt_lifetime=jwt_lifetime,
        environment={"QSECURE_CONFIG": str(policy)},
        service_token=service_token,
    )
    hub = real.launch_hub(
        tmp_path,
        config,
        proxy_port=settings["proxy_port"],
        password=password,
        service_token=service_token,
        values={"alice": ALICE_VALUE},
        drop=("VAULT_",),
        environ={"JUPYTERHUB_CRYPT_KEY": crypt_key},
    )
    try:
        real.wait_for("answer from /hub/api", lambda: hub.request("GET", "/hub/api").ok, hub)
        browser_login(hub.url, password)  # the hub stores alice's auth_state
        real.log_in_for_token(hub, "alice")
        real.start_server(hub, "alice")
        real.wait_for_server(hub, "alice")

        # 1. The first kernel: the server reads the ID token from the hub, logs in to Vault.
        probe = "import os\nprint('secret', len(os.environ.get('ALICE_AWS_SECRET', '')))\n"
        text, reply = real.execute(hub, "alice", real.start_kernel(hub, "alice"), probe)
        assert reply["status"] == "ok", reply
        assert f"secret {len(ALICE_VALUE)}" in text, text
        assert logins(vault) == [200]

        # 2. Both the ID token and the Vault token expire; the next kernel start logs in
        # again with a fresh ID token that the hub's refresh_user issued.
        time.sleep(jwt_lifetime + 1)
        second = {
            "path": "analysis/later.ipynb",  # another notebook: a new session and kernel
            "type": "notebook",
            "name": "later.ipynb",
            "kernel": {"name": "python3"},
        }
        response = hub.request("POST", "/user/alice/api/sessions", hub.tokens["alice"], json=second)
        assert response.status_code == 201, response.text
        text, reply = real.execute(hub, "alice", response.json()["kernel"]["id"], probe)
        assert reply["status"] == "ok", reply
        assert f"secret {len(ALICE_VALUE)}" in text, text
        assert logins(vault) == [200, 200], [(c.method, c.path, c.status) for c in vault.requests]
        presented = vault.sensitive() - {ALICE_VALUE}
        jwts = {value for value in presented if value.count(".") == 2}
        assert len(jwts) == 2, "the second login used another ID token"

        # 3. What a server sees with a wrong token, or a token without the scope.
        api = hub.url + "/hub/api"
        wrong = HubAuthState(
            environ={"JUPYTERHUB_API_URL": api, "JUPYTERHUB_API_TOKEN": secrets.token_hex(32)}
        )
        with pytest.raises(ProviderError) as caught:
            wrong.read(parse_ref(HUB_JWT))
        assert caught.value.reason == "denied"
        assert "refused $JUPYTERHUB_API_TOKEN (HTTP 403" in str(caught.value)
        response = hub.request(
            "POST",
            "/hub/api/users/alice/tokens",
            json={
                "auth": {"username": "alice", "password": password},
                "scopes": ["read:users:name!user"],
            },
        )
        assert response.status_code == 201, response.text
        narrow = HubAuthState(
            environ={"JUPYTERHUB_API_URL": api, "JUPYTERHUB_API_TOKEN": response.json()["token"]}
        )
        with pytest.raises(ProviderError) as caught:
            narrow.read(parse_ref(HUB_JWT))
        assert "lacks the admin:auth_state!user scope" in str(caught.value)
        for reader in (wrong, narrow):
            reader.close()
    finally:
        real.stop_hub(hub)

    hub_log = hub.log()
    assert "jupyter_qsecure | extension was successfully loaded" in hub_log
    leaked = [value for value in {*vault.sensitive(), crypt_key} if value in hub_log]
    assert not leaked, f"{len(leaked)} token(s) or value(s) in the hub's log"
