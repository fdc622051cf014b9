"""``hub://auth_state/KEY``: a credential from the JupyterHub user's auth state.

A single-user server started by JupyterHub holds ``$JUPYTERHUB_API_URL`` and its own
``$JUPYTERHUB_API_TOKEN``. With them (``Authorization: token ...``) it asks the hub who it
runs for and with which scopes (``GET {JUPYTERHUB_API_URL}/user``), then reads that user's
model (``GET .../users/NAME``): JupyterHub puts ``auth_state`` in it when the token has
the ``admin:auth_state!user`` scope (``/user`` itself never shows auth_state).
``hub://auth_state/id_token`` is the ``id_token`` key of that auth state
(``hub://auth_state/a/b`` walks nested tables).

It is read for ``[vault]`` credential sources only (``jwt_source`` above all): the hub
refreshes the user's tokens when it is asked (``Authenticator.refresh_user``), so a
server that re-reads its JWT here keeps logging in to Vault long after the token it was
started with has expired. A JWT is kept until shortly before its ``exp`` claim.

Messages name the reference and what to fix; they never hold the hub token or a value.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import threading
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import requests

from .errors import ProviderError
from .refs import SecretRef

API_URL = "JUPYTERHUB_API_URL"
API_TOKEN = "JUPYTERHUB_API_TOKEN"  # noqa: S105 (the variable's name, not a token)
#: The scope that lets a single-user server's token read its own user's auth state.
AUTH_STATE_SCOPE = "admin:auth_state!user"
#: A JWT is read again when it expires within this many seconds.
REFRESH_MARGIN = 30.0
_MAX_HUB_MESSAGE = 200


def jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT (seconds since the epoch), or ``None`` when ``token`` is
    not a JWT or has no numeric ``exp``. The signature is not checked: Vault checks it."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, binascii.Error):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if isinstance(exp, bool) or not isinstance(exp, (int, float)):
        return None
    return float(exp)


def _safe_url(url: str) -> str:
    """``url`` without credentials, query or fragment."""
    try:
        split = urlsplit(url)
    except ValueError:
        return f"${API_URL}"
    return urlunsplit((split.scheme, split.netloc.rpartition("@")[2], split.path, "", ""))


class _TokenAuth(requests.auth.AuthBase):
    """``Authorization: token ...``; as an auth object, so no ``.netrc`` entry replaces it."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"token {self._token}"
        return request


class HubAuthState:
    """Reads ``hub://auth_state/KEY`` references through the JupyterHub REST API.

    Thread-safe. ``environ`` defaults to the server's environment (read on every call, so
    a test or a restarted hub can change it); ``timeout`` bounds each request.
    """

    def __init__(self, timeout: float = 5.0, environ: Mapping[str, str] | None = None) -> None:
        self.timeout = timeout
        self._environ = environ
        self._session: requests.Session | None = None
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[str, float]] = {}

    def read(self, ref: SecretRef, *, fresh: bool = False) -> str:
        """The value ``ref`` names. A JWT read before is returned again until
        :data:`REFRESH_MARGIN` seconds before its ``exp``; ``fresh`` asks the hub anyway."""
        with self._lock:
            cached = self._cache.get(ref.text)
            if not fresh and cached is not None and cached[1] - REFRESH_MARGIN > time.time():
                return cached[0]
            value = self._ask(ref)
            exp = jwt_expiry(value)
            if exp is None:
                self._cache.pop(ref.text, None)
            else:
                self._cache[ref.text] = (value, exp)
            return value

    def close(self) -> None:
        """Forget cached values and release the HTTP connections."""
        with self._lock:
            self._cache.clear()
            session, self._session = self._session, None
        if session is not None:
            session.close()

    # -- the request ----------------------------------------------------------------------

    def _ask(self, ref: SecretRef) -> str:
        keys = ref.parts[1:]
        if not ref.parts or ref.parts[0] != "auth_state" or not keys:
            raise ProviderError("misconfigured", f"{ref}: expected hub://auth_state/KEY")
        environ = os.environ if self._environ is None else self._environ
        api_url, token = environ.get(API_URL, ""), environ.get(API_TOKEN, "")
        if not api_url or not token:
            missing = " and ".join(
                f"${name}" for name, v in ((API_URL, api_url), (API_TOKEN, token)) if not v
            )
            raise ProviderError(
                "misconfigured",
                f"{ref}: {missing} {'is' if ' and ' not in missing else 'are'} not set; hub:// works in a single-user server that "
                "JupyterHub started (it sets both variables)",
            )
        base = api_url.rstrip("/")
        who = self._get(ref, base + "/user", token)
        user = str(who["name"])
        scopes = who.get("scopes")
        if isinstance(scopes, list) and not any(
            str(scope).partition("!")[0] in ("admin:auth_state", "admin:users") for scope in scopes
        ):
            raise ProviderError("denied", self._no_scope(ref, user))
        model = self._get(ref, f"{base}/users/{quote(user, safe='')}", token, user=user)
        if "auth_state" not in model:
            raise ProviderError("denied", self._no_scope(ref, user))
        return self._walk(ref, user, model["auth_state"])

    @staticmethod
    def _no_scope(ref: SecretRef, user: str) -> str:
        return (
            f"{ref}: JupyterHub does not show {user}'s auth_state to this server: "
            f"${API_TOKEN} lacks the {AUTH_STATE_SCOPE} scope; add it to the scopes of "
            'the "server" and "user" roles (c.JupyterHub.load_roles) and restart the server'
        )

    def _get(self, ref: SecretRef, url: str, token: str, user: str = "") -> dict[str, Any]:
        """The JSON object at ``url`` of the hub's API."""
        where = _safe_url(url)
        if self._session is None:
            self._session = requests.Session()
        try:
            response = self._session.get(
                url, auth=_TokenAuth(token), timeout=self.timeout, allow_redirects=False
            )
        except requests.exceptions.Timeout:
            raise ProviderError(
                "timeout",
                f"{ref}: JupyterHub at {where} did not answer within {self.timeout:g}s; "
                "check that the hub is up (or raise [vault] timeout)",
            ) from None
        except requests.exceptions.RequestException as error:
            raise ProviderError(
                "unreachable",
                f"{ref}: cannot reach JupyterHub at {where} ({type(error).__name__}); "
                f"check ${API_URL} and that the hub is running",
            ) from None
        status = response.status_code
        if user and status in (403, 404):  # the token is good (/user answered): a scope
            raise ProviderError("denied", self._no_scope(ref, user))
        if status in (401, 403):
            raise ProviderError(
                "denied",
                f"{ref}: JupyterHub at {where} refused ${API_TOKEN} (HTTP {status}"
                f"{self._hub_message(response, token)}); the server's token is invalid, expired "
                "or revoked: restart the server from the hub so that it gets a new one",
            )
        if status != 200:
            raise ProviderError(
                "misconfigured" if status in (404, 405) or 300 <= status < 400 else "unreachable",
                f"{ref}: GET {where} answered HTTP {status}{self._hub_message(response, token)}; "
                f"check that ${API_URL} is the hub's API URL (e.g. http://hub:8081/hub/api)",
            )
        try:
            model: Any = response.json()
        except ValueError:
            model = None
        if not isinstance(model, dict) or "name" not in model:
            raise ProviderError(
                "misconfigured",
                f"{ref}: {where} did not answer like JupyterHub; check ${API_URL}",
            )
        return model

    @staticmethod
    def _walk(ref: SecretRef, user: str, state: Any) -> str:
        """The string at ``ref``'s keys in the auth state."""
        if state is None:
            raise ProviderError(
                "misconfigured",
                f"{ref}: JupyterHub holds no auth_state for {user}: set "
                "c.Authenticator.enable_auth_state = True (with $JUPYTERHUB_CRYPT_KEY) and "
                "log in to the hub again",
            )
        walked = ["auth_state"]
        for key in ref.parts[1:]:
            if not isinstance(state, dict) or key not in state:
                names = sorted(str(name) for name in state) if isinstance(state, dict) else []
                raise ProviderError(
                    "not-found",
                    f"{ref}: {user}'s {'.'.join(walked)} has no key {key!r}; its keys are: "
                    f"{', '.join(names) or 'none'}",
                )
            state = state[key]
            walked.append(key)
        if not isinstance(state, str) or not state.strip():
            raise ProviderError(
                "misconfigured",
                f"{ref}: {user}'s {'.'.join(walked)} is {'empty' if state in ('', None) else 'not a string'}; "
                "point the reference at the key that holds the token",
            )
        return state.strip()

    @staticmethod
    def _hub_message(response: requests.Response, token: str) -> str:
        """``: <the hub's message>``, short and without the token, or nothing."""
        try:
            body = response.json()
        except ValueError:
            return ""
        message = body.get("message") if isinstance(body, dict) else None
        if not isinstance(message, str) or not message:
            return ""
        return ": " + message.replace(token, "***")[:_MAX_HUB_MESSAGE]


__all__ = [
    "API_TOKEN",
    "API_URL",
    "AUTH_STATE_SCOPE",
    "REFRESH_MARGIN",
    "HubAuthState",
    "jwt_expiry",
]
