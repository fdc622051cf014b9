"""A protocol double of HashiCorp Vault's HTTP API: the subset jupyter-qsecure uses.

This is not a mock of ``hvac``: it is a small HTTP server on ``127.0.0.1`` that answers
the requests a real Vault (or OpenBao) answers, with the same paths, headers, status codes
and JSON bodies as Vault's API documentation shows, so the tests drive the real ``hvac``
client and ``requests`` over a real socket. Implemented:

- ``GET /v1/{mount}/data/{path}[?version=N]``: KV version 2 read (``data.data`` and
  ``data.metadata`` with ``version``, ``created_time``, ``deletion_time``, ``destroyed``);
  404 ``{"errors": []}`` for a missing path or version; a deleted or destroyed version
  answers 404 with its metadata and ``"data": null``, as Vault does.
- ``GET /v1/auth/token/lookup-self``, ``POST /v1/auth/token/renew-self``.
- ``POST /v1/auth/{mount}/login`` for AppRole (``role_id``, ``secret_id``), JWT and
  Kubernetes (``role``, ``jwt``), on the default or a custom mount path. A JWT role made
  with ``bound_claims`` accepts any JWT whose claims match and whose ``exp`` has not
  passed (400 ``error validating claims: ...`` otherwise, as Vault's JWT plugin answers).
- ``X-Vault-Token`` on every other request (403 ``{"errors": ["permission denied"]}`` when
  missing, unknown or expired), ``X-Vault-Namespace`` (secrets, auth mounts and tokens live
  in a namespace; a token works in its namespace and the ones below it), ACL policies by
  name with Vault's path globs (a trailing ``*``, ``+`` for one segment) and the implicit
  ``default`` policy's lookup-self/renew-self.

Pass an :class:`ssl.SSLContext` to serve HTTPS. Switches for tests: :attr:`VaultDouble.sealed` (503 ``{"errors": ["Vault is sealed"]}``),
:attr:`VaultDouble.delay` (seconds before each answer), :meth:`VaultDouble.expire_token`,
and :attr:`VaultDouble.requests`, the log of what was called with which token.

Simplifications: JWTs are compared with the one a role was given, or their claims with
the role's ``bound_claims`` (no signature checks; ``exp`` without Vault's default 150 s of
leeway unless ``leeway`` is given), policies grant ``read`` only and match paths relative
to the request's namespace.
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import socket
import ssl
import sys
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Answer = tuple[int, dict[str, Any] | None]

PERMISSION_DENIED: Answer = (403, {"errors": ["permission denied"]})
SEALED: Answer = (503, {"errors": ["Vault is sealed"]})
#: Paths the built-in ``default`` policy lets every token use.
DEFAULT_POLICY_PATHS = ("auth/token/lookup-self", "auth/token/renew-self")


def _now_text(moment: float | None = None) -> str:
    """RFC 3339 with nanoseconds, as Vault writes times."""
    stamp = datetime.fromtimestamp(time.time() if moment is None else moment, tz=timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


def _glob_match(pattern: str, path: str) -> bool:
    """Vault ACL paths: ``+`` is one segment, a trailing ``*`` is any suffix."""
    prefix = pattern.endswith("*")
    pattern_parts = (pattern[:-1] if prefix else pattern).split("/")
    path_parts = path.split("/")
    if prefix:
        if len(path_parts) < len(pattern_parts):
            return False
        head, last = pattern_parts[:-1], pattern_parts[-1]
        candidate = path_parts[: len(head)]
        rest = "/".join(path_parts[len(head) :])
        return all(p in ("+", c) for p, c in zip(head, candidate, strict=True)) and rest.startswith(
            last
        )
    return len(pattern_parts) == len(path_parts) and all(
        p in ("+", c) for p, c in zip(pattern_parts, path_parts, strict=True)
    )


def make_jwt(
    subject: str, issuer: str = "https://issuer.example.org", *, expires: float | None = None
) -> str:
    """A JWT-shaped string (header.claims.signature); the double does not check signatures.
    ``expires`` (seconds since the epoch) becomes the ``exp`` claim."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = part(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    body: dict[str, Any] = {"sub": subject, "iss": issuer, "nonce": secrets.token_hex(8)}
    if expires is not None:
        body["iat"] = int(time.time())
        body["exp"] = int(expires)
    claims = part(json.dumps(body).encode())
    return f"{header}.{claims}.{part(secrets.token_bytes(32))}"


def jwt_claims(token: str) -> dict[str, Any] | None:
    """The claims of a JWT-shaped string, or ``None`` when it is not one."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    return claims if isinstance(claims, dict) else None


@dataclass
class Token:
    """A token Vault issued."""

    value: str
    accessor: str
    policies: tuple[str, ...]
    namespace: str
    ttl: int
    renewable: bool
    path: str
    display_name: str
    meta: dict[str, str] | None = None
    issued: float = field(default_factory=time.time)
    expires: float | None = None
    entity_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def alive(self) -> bool:
        """Whether the token is still valid."""
        return self.expires is None or time.time() < self.expires

    def remaining(self) -> int:
        """Seconds left (0 for a token without expiry)."""
        return 0 if self.expires is None else max(0, int(self.expires - time.time()))


@dataclass
class Version:
    """One version of a KV v2 secret."""

    data: dict[str, Any]
    created: str = field(default_factory=_now_text)
    deletion_time: str = ""
    destroyed: bool = False


@dataclass
class Role:
    """A role of an auth method: what a login must present and the token it gets."""

    kind: str
    name: str
    policies: tuple[str, ...]
    ttl: int
    role_id: str = ""
    secret_id: str = ""
    jwt: str = ""
    bound_claims: dict[str, str] | None = None
    leeway: int = 0


@dataclass(frozen=True)
class LoggedRequest:
    """One request the double answered: ``path`` is after ``/v1/``, without the query."""

    method: str
    path: str
    query: dict[str, list[str]]
    namespace: str
    token: str | None
    status: int


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True  # server_close() joins the handler threads

    def __init__(self, double: VaultDouble, tls: ssl.SSLContext | None) -> None:
        self.double = double
        super().__init__(("127.0.0.1", 0), _Handler)
        if tls is not None:  # the handshake happens in the handler's thread, on first read
            self.socket = tls.wrap_socket(
                self.socket, server_side=True, do_handshake_on_connect=False
            )

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError, ssl.SSLError)):
            return  # the client went away (it timed out first, or refused our certificate)
        if error is not None:
            self.double.errors.append(error)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Vault's Go server
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.double._track(self.connection, add=True)

    def finish(self) -> None:
        self.server.double._track(self.connection, add=False)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the double keeps its own log in :attr:`VaultDouble.requests`."""

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")

    def do_PUT(self) -> None:
        self._answer("PUT")

    def do_LIST(self) -> None:
        self._answer("LIST")

    def _answer(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        double = self.server.double
        if double.delay and double._stopping.wait(double.delay):
            self.close_connection = True
            return
        split = urlsplit(self.path)
        status, payload = double.handle(
            method,
            split.path,
            parse_qs(split.query),
            self.headers.get("X-Vault-Namespace"),
            self.headers.get("X-Vault-Token"),
            body,
        )
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        if payload is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class VaultDouble:
    """A running protocol double of Vault's HTTP API; use as a context manager.

    >>> with VaultDouble() as vault:
    ...     vault.put_secret("jupyter/shared/ibm", {"token": "..."})
    ...     token = vault.create_token(policies=["root"])
    """

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self.sealed = False
        self.delay = 0.0
        self.requests: list[LoggedRequest] = []
        self.errors: list[BaseException] = []
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._kv: dict[tuple[str, str], dict[str, list[Version]]] = {}
        self._policies: dict[str, tuple[str, ...]] = {}
        self._tokens: dict[str, Token] = {}
        self._auth: dict[tuple[str, str], dict[str, Role]] = {}
        self._presented: set[str] = set()  # every JWT a login presented
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # -- life cycle ---------------------------------------------------------------------

    def start(self) -> VaultDouble:
        """Listen on ``127.0.0.1`` on a free port; :attr:`url` is where."""
        self._server = _Server(self, self.tls)
        port = self._server.server_address[1]
        self.url = f"{'https' if self.tls else 'http'}://127.0.0.1:{port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and close every connection: afterwards nothing answers at :attr:`url`."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by its handler
                connection.shutdown(socket.SHUT_RDWR)
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> VaultDouble:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _track(self, connection: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    # -- set-up for tests ---------------------------------------------------------------

    def put_secret(
        self, path: str, data: dict[str, Any], *, mount: str = "secret", namespace: str = ""
    ) -> int:
        """Write a new version of a KV v2 secret (mounting the engine if needed); its number."""
        with self._lock:
            versions = self._kv.setdefault((namespace.strip("/"), mount.strip("/")), {})
            history = versions.setdefault(path.strip("/"), [])
            history.append(Version(dict(data)))
            return len(history)

    def delete_version(
        self, path: str, version: int, *, mount: str = "secret", namespace: str = ""
    ) -> None:
        """Soft-delete one version (``vault kv delete -versions=N``)."""
        self._version(namespace, mount, path, version).deletion_time = _now_text()

    def destroy_version(
        self, path: str, version: int, *, mount: str = "secret", namespace: str = ""
    ) -> None:
        """Destroy one version (``vault kv destroy -versions=N``)."""
        entry = self._version(namespace, mount, path, version)
        entry.destroyed = True
        entry.data = {}

    def _version(self, namespace: str, mount: str, path: str, version: int) -> Version:
        with self._lock:
            return self._kv[(namespace.strip("/"), mount.strip("/"))][path.strip("/")][version - 1]

    def set_policy(self, name: str, *paths: str) -> None:
        """An ACL policy granting ``read`` on each path glob (e.g. ``secret/data/team/*``)."""
        with self._lock:
            self._policies[name] = tuple(paths)

    def create_token(
        self,
        policies: Iterable[str] = ("default",),
        *,
        ttl: int = 0,
        namespace: str = "",
        renewable: bool = True,
    ) -> str:
        """Issue a token (``vault token create``); ``ttl=0`` means no expiry."""
        return self._issue(
            tuple(policies), namespace, ttl, renewable, "auth/token/create", "token"
        ).value

    def expire_token(self, token: str) -> None:
        """Make a token expire now (Vault then refuses it and revokes it)."""
        with self._lock:
            self._tokens[token].expires = time.time() - 1

    def token(self, value: str) -> Token:
        """The record of an issued token."""
        with self._lock:
            return self._tokens[value]

    def issued_tokens(self) -> list[str]:
        """Every token issued so far, oldest first."""
        with self._lock:
            return list(self._tokens)

    def add_approle(
        self,
        role: str,
        *,
        policies: Iterable[str] = ("default",),
        ttl: int = 3600,
        mount: str = "approle",
        namespace: str = "",
    ) -> tuple[str, str]:
        """An AppRole role; returns its ``(role_id, secret_id)``."""
        entry = Role(
            "approle",
            role,
            tuple(policies),
            ttl,
            role_id=str(uuid.uuid4()),
            secret_id=str(uuid.uuid4()),
        )
        self._add_role(namespace, mount, entry)
        return entry.role_id, entry.secret_id

    def rotate_secret_id(self, role: str, *, mount: str = "approle", namespace: str = "") -> str:
        """Replace an AppRole's secret_id; the old one stops working."""
        with self._lock:
            entry = self._auth[(namespace.strip("/"), mount.strip("/"))][role]
            entry.secret_id = str(uuid.uuid4())
            return entry.secret_id

    def add_jwt_role(
        self,
        role: str,
        jwt: str = "",
        *,
        bound_claims: dict[str, str] | None = None,
        leeway: int = 0,
        policies: Iterable[str] = ("default",),
        ttl: int = 3600,
        mount: str = "jwt",
        namespace: str = "",
    ) -> None:
        """A JWT auth role that accepts ``jwt``, or, with ``bound_claims`` (e.g.
        ``{"sub": "alice"}``), any unexpired JWT with those claims (``exp`` plus ``leeway``
        seconds must be in the future, as ``expiration_leeway`` in Vault)."""
        entry = Role(
            "jwt", role, tuple(policies), ttl, jwt=jwt, bound_claims=bound_claims, leeway=leeway
        )
        self._add_role(namespace, mount, entry)

    def add_kubernetes_role(
        self,
        role: str,
        jwt: str,
        *,
        policies: Iterable[str] = ("default",),
        ttl: int = 3600,
        mount: str = "kubernetes",
        namespace: str = "",
    ) -> None:
        """A Kubernetes auth role that accepts the service account token ``jwt``."""
        self._add_role(namespace, mount, Role("kubernetes", role, tuple(policies), ttl, jwt=jwt))

    def _add_role(self, namespace: str, mount: str, role: Role) -> None:
        with self._lock:
            self._auth.setdefault((namespace.strip("/"), mount.strip("/")), {})[role.name] = role

    def sensitive(self) -> set[str]:
        """Every value a message must never show: secret fields, tokens, role and secret
        IDs, JWTs (non-string fields as JSON)."""
        with self._lock:
            values = set(self._tokens)
            for versions in self._kv.values():
                for history in versions.values():
                    for version in history:
                        values.update(
                            v if isinstance(v, str) else json.dumps(v)
                            for v in version.data.values()
                        )
            for roles in self._auth.values():
                for role in roles.values():
                    values.update(item for item in (role.role_id, role.secret_id, role.jwt) if item)
            values.update(self._presented)
        return values

    def calls(self, method: str | None = None, path: str | None = None) -> list[LoggedRequest]:
        """The logged requests, filtered by method and/or path."""
        with self._lock:
            return [
                entry
                for entry in self.requests
                if (method is None or entry.method == method)
                and (path is None or entry.path == path)
            ]

    # -- the API ------------------------------------------------------------------------

    def handle(
        self,
        method: str,
        url_path: str,
        query: dict[str, list[str]],
        namespace: str | None,
        token: str | None,
        body: Any,
    ) -> Answer:
        """Answer one request as Vault would; logs it."""
        namespace = (namespace or "").strip("/")
        with self._lock:
            status, payload = self._route(method, url_path, query, namespace, token, body)
            path = url_path.removeprefix("/v1/")
            self.requests.append(LoggedRequest(method, path, query, namespace, token, status))
        return status, payload

    def _route(
        self,
        method: str,
        url_path: str,
        query: dict[str, list[str]],
        namespace: str,
        token: str | None,
        body: Any,
    ) -> Answer:
        if not url_path.startswith("/v1/"):
            return 404, {"errors": []}
        if self.sealed:
            return SEALED
        path = url_path.removeprefix("/v1/")
        if body is None:
            return 400, {"errors": ["failed to parse JSON input"]}
        if method in ("POST", "PUT") and path.startswith("auth/") and path.endswith("/login"):
            login = self._login(namespace, path.removeprefix("auth/").removesuffix("/login"), body)
            if login is not None:
                return login
        issued = self._check_token(token, namespace)
        if issued is None or not self._allowed(issued, path):
            return PERMISSION_DENIED
        if path == "auth/token/lookup-self" and method in ("GET", "POST"):
            return 200, self._envelope(data=self._lookup(issued))
        if path == "auth/token/renew-self" and method in ("POST", "PUT"):
            return self._renew(issued, body)
        route = self._kv_route(namespace, path)
        if route is None:
            return 404, {"errors": [f"no handler for route {path!r}. route entry not found."]}
        if method != "GET":
            return 405, {"errors": ["1 error occurred:\n\t* unsupported operation\n\n"]}
        return self._kv_read(*route, query)

    @staticmethod
    def _envelope(*, data: Any = None, auth: Any = None, warnings: Any = None) -> dict[str, Any]:
        return {
            "request_id": str(uuid.uuid4()),
            "lease_id": "",
            "renewable": False,
            "lease_duration": 0,
            "data": data,
            "wrap_info": None,
            "warnings": warnings,
            "auth": auth,
            "mount_type": "",
        }

    def _check_token(self, token: str | None, namespace: str) -> Token | None:
        issued = self._tokens.get(token or "")
        if issued is None:
            return None
        if not issued.alive():
            return None
        if (
            issued.namespace
            and namespace != issued.namespace
            and not namespace.startswith(issued.namespace + "/")
        ):
            return None
        return issued

    def _allowed(self, token: Token, path: str) -> bool:
        if "root" in token.policies:
            return True
        if "default" in token.policies and path in DEFAULT_POLICY_PATHS:
            return True
        return any(
            _glob_match(pattern, path)
            for name in token.policies
            for pattern in self._policies.get(name, ())
        )

    def _issue(
        self,
        policies: tuple[str, ...],
        namespace: str,
        ttl: int,
        renewable: bool,
        path: str,
        display: str,
    ) -> Token:
        value = "hvs." + secrets.token_urlsafe(24)
        token = Token(
            value=value,
            accessor=secrets.token_urlsafe(18),
            policies=policies,
            namespace=namespace.strip("/"),
            ttl=ttl,
            renewable=renewable and ttl > 0,
            path=path,
            display_name=display,
        )
        token.expires = token.issued + ttl if ttl else None
        with self._lock:
            self._tokens[value] = token
        return token

    def _auth_block(self, token: Token) -> dict[str, Any]:
        return {
            "client_token": token.value,
            "accessor": token.accessor,
            "policies": list(token.policies),
            "token_policies": list(token.policies),
            "identity_policies": None,
            "metadata": token.meta,
            "lease_duration": token.remaining(),
            "renewable": token.renewable,
            "entity_id": token.entity_id,
            "token_type": "service",
            "orphan": True,
            "mfa_requirement": None,
            "num_uses": 0,
        }

    def _login(self, namespace: str, mount: str, body: dict[str, Any]) -> Answer | None:
        """A login answer, or ``None`` when no auth method is mounted there (the request
        then needs a token, as in Vault, and is refused)."""
        roles = self._auth.get((namespace, mount))
        if roles is None:
            return None
        kind = next(iter(roles.values())).kind
        role = self._find_role(kind, roles, body)
        if isinstance(role, tuple):
            return role
        token = self._issue(
            role.policies, namespace, role.ttl, True, f"auth/{mount}/login", f"{mount}-{role.name}"
        )
        token.meta = {"role": role.name} if kind != "approle" else {"role_name": role.name}
        return 200, self._envelope(auth=self._auth_block(token))

    @staticmethod
    def _check_claims(role: Role, jwt: str) -> str | None:
        """Why Vault's JWT plugin refuses ``jwt`` for ``role`` (claims mode), or ``None``."""
        claims = jwt_claims(jwt)
        if claims is None:
            return (
                "error validating token: square/go-jose: compact JWS format must have three parts"
            )
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or exp + role.leeway <= time.time():
            return "error validating claims: square/go-jose/jwt: validation failed, token is expired (exp)"
        for claim, expected in (role.bound_claims or {}).items():
            if claims.get(claim) != expected:
                return f'error validating claims: claim "{claim}" does not match any associated bound claim values'
        return None

    def _find_role(self, kind: str, roles: dict[str, Role], body: dict[str, Any]) -> Role | Answer:
        if kind == "approle":
            if not body.get("role_id"):
                return 400, {"errors": ["missing role_id"]}
            for role in roles.values():
                if role.role_id == body["role_id"] and role.secret_id == body.get("secret_id"):
                    return role
            return 400, {"errors": ["invalid role or secret ID"]}
        name = body.get("role")
        if not body.get("jwt"):
            return 400, {"errors": ["missing jwt"]}
        self._presented.add(str(body["jwt"]))
        found = roles.get(str(name))
        if found is None:
            message = (
                f'role "{name}" could not be found'
                if kind == "jwt"
                else f'invalid role name "{name}"'
            )
            return 400, {"errors": [message]}
        if found.bound_claims is not None:
            refused = VaultDouble._check_claims(found, str(body["jwt"]))
            return found if refused is None else (400, {"errors": [refused]})
        if found.jwt != body["jwt"]:
            if kind == "jwt":
                return 400, {
                    "errors": ["error validating token: failed to verify id token signature"]
                }
            return PERMISSION_DENIED
        return found

    def _lookup(self, token: Token) -> dict[str, Any]:
        return {
            "accessor": token.accessor,
            "creation_time": int(token.issued),
            "creation_ttl": token.ttl,
            "display_name": token.display_name,
            "entity_id": token.entity_id,
            "expire_time": None if token.expires is None else _now_text(token.expires),
            "explicit_max_ttl": 0,
            "id": token.value,  # as Vault: lookup-self returns the token itself
            "issue_time": _now_text(token.issued),
            "meta": token.meta,
            "namespace_path": token.namespace + "/" if token.namespace else "",
            "num_uses": 0,
            "orphan": True,
            "path": token.path,
            "policies": list(token.policies),
            "renewable": token.renewable,
            "ttl": token.remaining(),
            "type": "service",
        }

    def _renew(self, token: Token, body: dict[str, Any]) -> Answer:
        if not token.renewable:
            return 400, {"errors": ["lease is not renewable"]}
        increment = body.get("increment")
        seconds = token.ttl
        if isinstance(increment, int):
            seconds = increment
        elif isinstance(increment, str) and increment[:-1].isdigit():
            seconds = int(increment[:-1]) * {"s": 1, "m": 60, "h": 3600}.get(increment[-1], 1)
        token.expires = time.time() + seconds
        return 200, self._envelope(auth=self._auth_block(token))

    def _kv_route(self, namespace: str, path: str) -> tuple[dict[str, list[Version]], str] | None:
        """(the mount's secrets, the secret's path) for ``{mount}/data/{path}``."""
        for (space, mount), versions in sorted(self._kv.items(), key=lambda item: -len(item[0][1])):
            if space == namespace and path.startswith(mount + "/data/"):
                return versions, path[len(mount) + len("/data/") :]
        return None

    def _kv_read(
        self, versions: dict[str, list[Version]], path: str, query: dict[str, list[str]]
    ) -> Answer:
        history = versions.get(path)
        if not history:
            return 404, {"errors": []}
        try:
            number = int(query.get("version", ["0"])[0]) or len(history)
        except ValueError:
            return 400, {"errors": ["invalid version"]}
        if not 1 <= number <= len(history):
            return 404, {"errors": []}
        version = history[number - 1]
        metadata = {
            "created_time": version.created,
            "custom_metadata": None,
            "deletion_time": version.deletion_time,
            "destroyed": version.destroyed,
            "version": number,
        }
        if version.deletion_time or version.destroyed:
            return 404, self._envelope(data={"data": None, "metadata": metadata})
        answer = self._envelope(data={"data": dict(version.data), "metadata": metadata})
        answer["mount_type"] = "kv"
        return 200, answer
