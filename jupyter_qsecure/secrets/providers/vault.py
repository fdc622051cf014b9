"""``vault://MOUNT/PATH#FIELD``: HashiCorp Vault / OpenBao KV version 2, read-only.

The provider talks to Vault through the ``hvac`` client. It logs in lazily, on the first
read, with the method ``[vault] auth`` names:

- ``token``: the token is read through ``token_source`` (``env://``, ``file://`` or
  ``keyring://``; never ``vault://``). When Vault refuses it as expired, the source is read
  again once, so a token file that Vault Agent refreshes keeps working.
- ``approle``, ``jwt``, ``kubernetes``: a login with ``role_id`` + ``secret_id_source``,
  ``role`` + ``jwt_source``, or ``role`` + the pod's service account token. When a read is
  refused because the token expired, the provider logs in again, once, then reports.

A JWT login that Vault refuses (400/403, e.g. an expired JWT) reads ``jwt_source`` again,
fresh, and retries once when that gives another JWT. With ``jwt_source =
"hub://auth_state/id_token"`` the JWT comes from the JupyterHub user's auth state through
the hub's API (:mod:`..hub`): the hub refreshes it, and a JWT is asked for again shortly
before its ``exp``, so a server keeps logging in long after the token it started with
expired.

Every failure becomes a :class:`ProviderError` whose message names the reference and what
to fix; a message never holds a secret value, a token, a secret_id or a JWT.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import hvac
import requests  # hvac's transport

from ..errors import ProviderError
from ..hub import HubAuthState, jwt_expiry
from ..policy import SecretsPolicy, VaultSettings
from ..refs import SecretRef, parse_ref
from .base import SecretProvider
from .schemes import provider_class

#: The pod's service account token, read for ``auth = "kubernetes"`` without ``jwt_source``.
SERVICE_ACCOUNT_JWT = "file:///var/run/secrets/kubernetes.io/serviceaccount/token"

_MAX_VAULT_ERRORS = 300


def _safe_url(url: str) -> str:
    """``url`` without any ``user:password@`` part."""
    try:
        split = urlsplit(url)
    except ValueError:
        return "the configured URL"
    host = split.netloc.rpartition("@")[2]
    return urlunsplit((split.scheme, host, split.path, "", ""))


def _duration(seconds: int) -> str:
    """``2h5m``, ``45s``: a TTL for people."""
    if seconds <= 0:
        return "0s"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = (
        (f"{hours}h" if hours else "")
        + (f"{minutes}m" if minutes else "")
        + (f"{secs}s" if secs else "")
    )
    return text


def _as_text(value: Any) -> str:
    """A KV field as a string: strings as they are, other JSON values as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


class VaultProvider(SecretProvider):
    """Secrets in a Vault / OpenBao KV v2 mount, read through ``hvac``.

    Thread-safe: kernels starting together share one client and one login. Call
    :meth:`close` (or use the provider as a context manager) to release its connections.
    """

    scheme = "vault"
    #: Network round trips, not CPU: more at once than there are cores.
    read_concurrency = 8

    def __init__(
        self, settings: VaultSettings | None = None, policy: SecretsPolicy | None = None
    ) -> None:
        self._settings = settings if settings is not None else VaultSettings()
        self._policy = policy if policy is not None else SecretsPolicy(vault=self._settings)
        self._client: Any = None
        self._lock = threading.Lock()
        self._credentials: set[str] = set()
        self._hub: HubAuthState | None = None
        #: The JWT source and JWT of the login under way, for the message when it is refused.
        self._last_jwt: tuple[SecretRef, str] | None = None

    @classmethod
    def from_policy(cls, policy: SecretsPolicy) -> VaultProvider:
        return cls(policy.vault, policy)

    # -- public API ---------------------------------------------------------------------

    def fetch(self, ref: SecretRef) -> str:
        """The field ``ref`` names, from the latest version or ``?version=N``."""
        try:
            return self._fetch(ref)
        except ProviderError as error:
            raise ProviderError(error.reason, self._scrub(str(error))) from None

    def describe(self) -> str:
        """A one-line status for ``jupyter qsecure secrets check``: URL, namespace, auth
        method and the token's TTL and policies (never the token). Logs in if needed;
        raises :class:`ProviderError` when Vault cannot be reached or refuses."""
        try:
            return self._describe()
        except ProviderError as error:
            raise ProviderError(error.reason, self._scrub(str(error))) from None

    def close(self) -> None:
        """Release the HTTP connections; a later call opens new ones (and logs in again)."""
        with self._lock:
            client, self._client = self._client, None
            hub, self._hub = self._hub, None
        if client is not None:
            client.adapter.close()
        if hub is not None:
            hub.close()

    def __enter__(self) -> VaultProvider:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- reading ------------------------------------------------------------------------

    def _split(self, ref: SecretRef) -> tuple[str, str]:
        """(mount, path): the first part is the mount, unless ``[vault] mount`` has a ``/``
        and the reference starts with it (nested mounts such as ``kv/team``)."""
        mount = self._settings.mount.strip("/")
        location = "/".join(ref.parts)
        if "/" in mount and location.startswith(mount + "/"):
            return mount, location[len(mount) + 1 :]
        return ref.parts[0], "/".join(ref.parts[1:])

    def _fetch(self, ref: SecretRef) -> str:
        name = str(ref) or f"vault://{ref.location}#{ref.field}"
        if len(ref.parts) < 2 or not ref.field:
            raise ProviderError("misconfigured", f"{name}: expected vault://MOUNT/PATH#FIELD")
        mount, path = self._split(ref)
        api_path = f"{mount}/data/{path}"

        def read(client: Any) -> Any:
            return client.secrets.kv.v2.read_secret_version(
                path=path, mount_point=mount, version=ref.version, raise_on_deleted_version=True
            )

        try:
            response = self._authenticated(name, read)
        except hvac.exceptions.Forbidden:
            raise ProviderError(
                "denied",
                f"{name}: permission denied: the Vault {self._who()} lacks read on {api_path}{self._in_ns()}; "
                f'ask the Vault admin for a policy with path "{api_path}" {{ capabilities = ["read"] }}',
            ) from None
        except hvac.exceptions.InvalidPath as error:
            raise ProviderError(
                "not-found", self._not_found(name, ref, mount, path, error)
            ) from None
        except (hvac.exceptions.VaultError, requests.exceptions.RequestException) as error:
            raise self._translate(name, error) from None
        return self._field(name, ref, api_path, response)

    def _field(self, name: str, ref: SecretRef, api_path: str, response: Any) -> str:
        data = response.get("data") if isinstance(response, dict) else None
        fields = data.get("data") if isinstance(data, dict) else None
        if not isinstance(fields, dict):
            raise ProviderError(
                "misconfigured",
                f"{name}: {_safe_url(self._settings.url)} did not answer like a Vault KV v2 read of "
                f"{api_path}; check [vault] url and that {api_path.partition('/')[0]} is a KV version 2 mount",
            )
        if ref.field not in fields:
            names = ", ".join(sorted(str(key) for key in fields)) or "none"
            raise ProviderError(
                "not-found",
                f"{name}: {api_path}{self._in_ns()} has no field {ref.field!r}; its fields are: {names}",
            )
        return _as_text(fields[ref.field])

    def _not_found(self, name: str, ref: SecretRef, mount: str, path: str, error: Any) -> str:
        body = error.json if isinstance(error.json, dict) else {}
        data = body.get("data")
        metadata = data.get("metadata") if isinstance(data, dict) else None
        which = f"version {ref.version} of {mount}/{path}" if ref.version else f"{mount}/{path}"
        number = metadata.get("version") if isinstance(metadata, dict) else ref.version
        version = f"version {number} of {mount}/{path}"
        if isinstance(metadata, dict) and metadata.get("destroyed"):
            return f"{name}: {version} was destroyed; point the reference at another version"
        if isinstance(metadata, dict) and metadata.get("deletion_time"):
            return (
                f"{name}: {version} was deleted at {metadata['deletion_time']}; "
                f"undelete it (vault kv undelete -versions={number} -mount={mount} {path}) or point the reference at another version"
            )
        return (
            f"{name}: no {which}{self._in_ns()} in Vault at {_safe_url(self._settings.url)}; "
            f"check the path{' and version' if ref.version else ''} (vault kv get -mount={mount} {path}) "
            f"and that {mount} is a KV version 2 mount"
        )

    def _describe(self) -> str:
        settings = self._settings
        context = f"Vault at {_safe_url(settings.url)}"
        try:
            answer = self._authenticated(context, lambda client: client.auth.token.lookup_self())
        except hvac.exceptions.Forbidden:
            raise ProviderError(
                "denied",
                f"{context}: the {self._who()} may not look itself up (auth/token/lookup-self)",
            ) from None
        except (hvac.exceptions.VaultError, requests.exceptions.RequestException) as error:
            raise self._translate(context, error) from None
        data = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(data, dict):
            raise ProviderError(
                "misconfigured", f"{context} did not answer like Vault; check [vault] url"
            )
        ttl = int(data.get("ttl") or 0)
        lifetime = f"token ttl {_duration(ttl)}" if ttl > 0 else "token without expiry"
        renewable = "renewable" if data.get("renewable") else "not renewable"
        policies = ", ".join(str(policy) for policy in data.get("policies") or []) or "none"
        method = (
            settings.auth
            if settings.auth == "token"
            else f"{settings.auth} at auth/{self._auth_mount()}"
        )
        return (
            f"{context}{self._in_ns()}, auth {method}: {lifetime}, {renewable}, policies {policies}"
        )

    # -- authentication -----------------------------------------------------------------

    def _authenticated(self, context: str, operation: Callable[[Any], Any]) -> Any:
        """Run ``operation(client)`` logged in; after a 403 with a dead token, log in again
        (or re-read the token) once and retry. A 403 with a live token is re-raised."""
        client, token = self._session(context)
        try:
            return operation(client)
        except hvac.exceptions.Forbidden:
            if self._token_alive(client):
                raise
        with self._lock:
            if client.token == token:  # no other thread has logged in again meanwhile
                self._login(client, context)
                if client.token == token:
                    raise ProviderError("expired", self._expired(context))
        return operation(client)

    def _session(self, context: str) -> tuple[Any, str]:
        """The client, logged in, and the token it holds."""
        with self._lock:
            if self._client is None:
                settings = self._settings
                self._client = hvac.Client(
                    url=settings.url,
                    token="",  # never hvac's fallbacks ($VAULT_TOKEN, ~/.vault-token)
                    namespace=settings.namespace or None,
                    verify=str(settings.ca_bundle) if settings.ca_bundle else settings.verify,
                    timeout=settings.timeout,
                )
            client = self._client
            if not client.token:
                self._login(client, context)
            return client, str(client.token)

    def _token_alive(self, client: Any) -> bool:
        """Whether Vault still knows the client's token (lookup-self, in every default policy)."""
        try:
            client.auth.token.lookup_self()
        except hvac.exceptions.Forbidden:
            return False
        return True

    def _login(self, client: Any, context: str) -> None:
        """Set ``client.token``: read it (token auth) or log in (the other methods)."""
        settings = self._settings
        if settings.auth == "token":
            client.token = self._credential(settings.token_source, "token_source", context)
            return
        mount = self._auth_mount()
        self._last_jwt = None
        try:
            if settings.auth == "approle":
                secret_id = self._credential(settings.secret_id_source, "secret_id_source", context)
                client.auth.approle.login(
                    role_id=settings.role_id, secret_id=secret_id, mount_point=mount
                )
            elif settings.auth == "jwt":
                self._jwt_login(
                    settings.jwt_source,
                    context,
                    lambda jwt: client.auth.jwt.jwt_login(role=settings.role, jwt=jwt, path=mount),
                )
            elif settings.auth == "kubernetes":
                self._jwt_login(
                    settings.jwt_source or parse_ref(SERVICE_ACCOUNT_JWT),
                    context,
                    lambda jwt: client.auth.kubernetes.login(
                        role=settings.role, jwt=jwt, mount_point=mount
                    ),
                )
            else:
                raise ProviderError(
                    "misconfigured",
                    f"{context}: [vault] auth = {settings.auth!r} is not token, approle, jwt or kubernetes",
                )
        except (
            hvac.exceptions.Forbidden,
            hvac.exceptions.InvalidRequest,
            hvac.exceptions.Unauthorized,
        ) as error:
            raise ProviderError(
                "denied",
                f"{context}: Vault refused the {settings.auth} login at auth/{mount}/login{self._in_ns()} "
                f"({self._vault_errors(error)}); {self._jwt_hint() or f'check [vault] {self._login_keys()}'}",
            ) from None
        except hvac.exceptions.InvalidPath:
            raise ProviderError(
                "misconfigured",
                f"{context}: no {settings.auth} auth method at auth/{mount}{self._in_ns()}; check [vault] auth_mount",
            ) from None
        except (KeyError, TypeError):
            raise ProviderError(
                "misconfigured",
                f"{context}: the login answer holds no token; is [vault] url a Vault server?",
            ) from None
        except (hvac.exceptions.VaultError, requests.exceptions.RequestException) as error:
            raise self._translate(context, error) from None
        self._credentials.add(str(client.token))

    def _jwt_login(
        self, source: SecretRef | None, context: str, login: Callable[[str], Any]
    ) -> None:
        """``login(jwt)`` with the JWT from ``source``. When Vault refuses it (400/403: an
        expired or rotated JWT), read ``source`` again, fresh, and retry once if that gives
        another JWT (a hub refreshes it, a projected token file is rotated)."""
        jwt = self._credential(source, "jwt_source", context)
        assert source is not None  # _credential refuses a missing source
        self._last_jwt = (source, jwt)
        try:
            login(jwt)
        except (hvac.exceptions.Forbidden, hvac.exceptions.InvalidRequest):
            again = self._credential(source, "jwt_source", context, fresh=True)
            if again == jwt:
                raise
            self._last_jwt = (source, again)
            login(again)
        self._last_jwt = None

    def _jwt_hint(self) -> str:
        """For a refused JWT login: when and why the JWT presented had expired, or ``""``."""
        if self._last_jwt is None:
            return ""
        source, jwt = self._last_jwt
        self._last_jwt = None
        exp = jwt_expiry(jwt)
        if exp is None or exp > time.time():
            return ""
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(exp))
        if source.scheme == "hub":
            fix = (
                "JupyterHub did not refresh it: its authenticator must refresh the user's tokens "
                "(refresh_user, within Authenticator.auth_refresh_age), or the user logs in to the "
                "hub again"
            )
        else:
            fix = (
                f"{source} is not refreshed while the server runs: restart the server, or read the "
                'JWT from the hub with jwt_source = "hub://auth_state/id_token"'
            )
        return f"the JWT from {source} expired at {when}; {fix}"

    def _credential(
        self, source: SecretRef | None, key: str, context: str, *, fresh: bool = False
    ) -> str:
        """A login credential read through the env, file or keyring provider, or from the
        JupyterHub user's auth state (``hub://``; ``fresh`` skips its cached JWT)."""
        if source is None:
            raise ProviderError(
                "misconfigured",
                f'{context}: [vault] auth = "{self._settings.auth}" needs {key}, e.g. {key} = "env://VAULT_TOKEN"',
            )
        if source.scheme == "vault":
            raise ProviderError(
                "misconfigured",
                f"{context}: [vault] {key} cannot be a vault:// reference; use env://, file:// or keyring://",
            )
        try:
            if source.scheme == "hub":
                value = self._hub_state().read(source, fresh=fresh)
            else:
                value = (
                    provider_class(source.scheme).from_policy(self._policy).fetch(source).strip()
                )
        except ProviderError as error:
            reason = "misconfigured" if error.reason == "not-found" else error.reason
            raise ProviderError(reason, f"{context}: cannot read [vault] {key}: {error}") from None
        if not value:
            raise ProviderError("misconfigured", f"{context}: [vault] {key} ({source}) is empty")
        self._credentials.add(value)
        return value

    def _hub_state(self) -> HubAuthState:
        if self._hub is None:
            self._hub = HubAuthState(timeout=self._settings.timeout)
        return self._hub

    # -- messages -----------------------------------------------------------------------

    def _auth_mount(self) -> str:
        return (self._settings.auth_mount or self._settings.auth).strip("/")

    def _in_ns(self) -> str:
        return f" in namespace {self._settings.namespace}" if self._settings.namespace else ""

    def _who(self) -> str:
        settings = self._settings
        if settings.auth == "token":
            return f"token from {settings.token_source}"
        if settings.auth == "approle":
            return f"AppRole login (auth/{self._auth_mount()})"
        return f"{settings.auth} role {settings.role!r} (auth/{self._auth_mount()})"

    def _login_keys(self) -> str:
        return {
            "approle": "auth_mount, role_id and secret_id_source",
            "jwt": "auth_mount, role and jwt_source",
            "kubernetes": "auth_mount, role and the service account token (jwt_source)",
        }.get(self._settings.auth, "auth")

    def _expired(self, context: str) -> str:
        source = self._settings.token_source
        return (
            f"{context}: the Vault token from {source} is expired, revoked or unknown to Vault{self._in_ns()}; "
            f"renew it (vault token renew) or log in again (vault login) and update {source}"
        )

    def _vault_errors(self, error: Any) -> str:
        errors = error.errors if isinstance(error.errors, list) else []
        text = "; ".join(str(item) for item in errors) or f"HTTP error {type(error).__name__}"
        return self._scrub(text)[:_MAX_VAULT_ERRORS]

    def _scrub(self, text: str) -> str:
        """``text`` with every credential this provider has seen replaced by ``***``."""
        for value in sorted(self._credentials, key=len, reverse=True):
            if value:
                text = text.replace(value, "***")
        return text

    def _translate(self, context: str, error: Exception) -> ProviderError:
        """A transport or HTTP error as a :class:`ProviderError` naming the fix."""
        url = _safe_url(self._settings.url)
        errors = hvac.exceptions
        transport = requests.exceptions
        if isinstance(error, transport.Timeout):
            return ProviderError(
                "timeout",
                f"{context}: Vault at {url} did not answer within {self._settings.timeout:g}s; check that it is up, or raise [vault] timeout",
            )
        if isinstance(error, transport.SSLError):
            return ProviderError(
                "unreachable",
                f"{context}: TLS verification of {url} failed; set [vault] ca_bundle to the CA that signed Vault's certificate",
            )
        if isinstance(error, transport.ConnectionError):
            text = str(error)
            if (
                "NameResolution" in text
                or "Name or service not known" in text
                or "getaddrinfo" in text
            ):
                return ProviderError(
                    "unreachable", f"{context}: cannot resolve the host of {url}; check [vault] url"
                )
            return ProviderError(
                "unreachable",
                f"{context}: cannot connect to Vault at {url} (connection refused or network down); check [vault] url and that Vault is running",
            )
        if isinstance(error, transport.RequestException):
            return ProviderError(
                "misconfigured",
                f"{context}: [vault] url {url!r} is not usable ({type(error).__name__})",
            )
        if isinstance(error, errors.VaultDown):
            return ProviderError(
                "unreachable",
                f"{context}: Vault at {url} is sealed or down ({self._vault_errors(error)}); unseal it or wait for it",
            )
        if isinstance(error, errors.VaultNotInitialized):
            return ProviderError("unreachable", f"{context}: Vault at {url} is not initialized")
        if isinstance(error, errors.RateLimitExceeded):
            return ProviderError(
                "unreachable",
                f"{context}: Vault at {url} is rate limiting this server; try again later",
            )
        if isinstance(error, errors.Unauthorized):
            return ProviderError(
                "denied",
                f"{context}: Vault at {url} refused the request ({self._vault_errors(error)})",
            )
        if isinstance(error, errors.InvalidRequest):
            return ProviderError(
                "misconfigured",
                f"{context}: Vault at {url} rejected the request ({self._vault_errors(error)})",
            )
        return ProviderError(
            "unreachable", f"{context}: Vault at {url} failed ({self._vault_errors(error)})"
        )


__all__ = ["SERVICE_ACCOUNT_JWT", "VaultProvider"]
