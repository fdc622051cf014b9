"""Per-user secrets under a real JupyterHub on loopback.

JupyterHub (from PyPI) with configurable-http-proxy (from npm), DummyAuthenticator with a
password and SimpleLocalProcessSpawner runs two users' single-user servers with
jupyter-qsecure and one trusted policy granting ``ALICE_TOKEN`` to alice and ``BOB_TOKEN`` to
bob. Both users log in through the hub's API, start their servers and kernels; each kernel
receives only its own user's secret, masked in output; each user's ``/qsecure/`` API answers
for that user; and one user's token opens nothing on the other's server.

Everything listens on free ports of 127.0.0.1 and is stopped at the end (the hub's own
cleanup, then any process left over, by the ids recorded during the test).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests  # a dependency of jupyterhub
import websocket  # websocket-client, a dependency of jupyter_server

pytestmark = pytest.mark.slow

USERS = ("alice", "bob")
SECRET_OF = {"alice": "ALICE_TOKEN", "bob": "BOB_TOKEN"}
SOURCE_OF = {"alice": "ALICE_SOURCE", "bob": "BOB_SOURCE"}
NOTEBOOK = "analysis/run.ipynb"
#: configurable-http-proxy as `make test` installs it: `npm install --prefix .venv/node ...`
CHP_IN_VENV = Path(sys.prefix) / "node" / "node_modules" / ".bin" / "configurable-http-proxy"
INSTALL_CHP = (
    "npm install --prefix .venv/node --no-save --no-fund --no-audit configurable-http-proxy@5"
)

START_TIMEOUT = 30.0  # the hub answering, a server becoming ready
REQUEST_TIMEOUT = 15.0  # one HTTP request or one websocket round
STOP_TIMEOUT = 20.0  # the hub's cleanup of servers and proxy


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def proxy_command() -> str:
    """The configurable-http-proxy executable; skip only when Node itself is missing."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed: configurable-http-proxy (JupyterHub's proxy) needs it")
    if importlib.util.find_spec("jupyterhub") is None:
        pytest.fail("jupyterhub is not installed in this environment; run: pip install jupyterhub")
    found = (
        os.environ.get("QSECURE_TEST_CHP")
        or (str(CHP_IN_VENV) if CHP_IN_VENV.exists() else None)
        or shutil.which("configurable-http-proxy")
    )
    if not found:
        pytest.fail(f"configurable-http-proxy is not installed; run: {INSTALL_CHP}")
    return found


POLICY = """
[secrets.ALICE_TOKEN]
source = "env://ALICE_SOURCE"
notebooks = ["**/*.ipynb"]
users = ["alice"]

[secrets.BOB_TOKEN]
source = "env://BOB_SOURCE"
notebooks = ["**/*.ipynb"]
users = ["bob"]
"""

#: The hub's addresses, database and proxy, filled by :func:`hub_settings` (shared by the
#: hub configurations of the tests).
HUB_NETWORK = """\
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {proxy_port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.JupyterHub.db_url = {db_url!r}
c.JupyterHub.cookie_secret_file = {cookie_secret!r}
c.JupyterHub.cleanup_servers = True
c.JupyterHub.cleanup_proxy = True
c.ConfigurableHTTPProxy.command = [{chp!r}]
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api_port}"
c.ConfigurableHTTPProxy.pid_file = {proxy_pid_file!r}
"""

#: Single-user servers as local processes of this user, running the venv's jupyterhub-singleuser.
HUB_SPAWNER = """\
c.JupyterHub.spawner_class = SimpleLocalProcessSpawner
c.SimpleLocalProcessSpawner.home_dir_template = {home_template!r}
c.Spawner.cmd = [{singleuser!r}]
c.Spawner.args = ["--allow-root"] if os.geteuid() == 0 else []
c.Spawner.start_timeout = {start_timeout}
c.Spawner.http_timeout = {start_timeout}
c.Spawner.environment = {environment!r}
"""

CONFIG = (
    """\
# Written by tests/test_jupyterhub.py for one run; every path and port is this run's.
import os

from jupyterhub.spawner import SimpleLocalProcessSpawner

c = get_config()  # noqa: F821

"""
    + HUB_NETWORK
    + """
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = {password!r}
c.Authenticator.allowed_users = {{"alice", "bob"}}

"""
    + HUB_SPAWNER
    + """
# The test's own client: starts nothing itself, reads server state to find processes.
c.JupyterHub.services = [{{"name": "qsecure-test", "api_token": {service_token!r}}}]
c.JupyterHub.load_roles = [
    {{
        "name": "qsecure-test",
        "scopes": ["admin:users", "admin:servers"],
        "services": ["qsecure-test"],
    }}
]
"""
)


@dataclass
class Hub:
    """A running JupyterHub and what the test learned about it."""

    url: str
    service_token: str
    password: str
    values: dict[str, str]
    process: subprocess.Popen[bytes]
    log_path: Path
    proxy_pid_file: Path
    tokens: dict[str, str] = field(default_factory=dict)
    kernels: dict[str, str] = field(default_factory=dict)
    servers: dict[str, int] = field(default_factory=dict)  # user -> single-user server pid
    pids: set[int] = field(default_factory=set)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def request(
        self, method: str, path: str, token: str | None = None, **kwargs: Any
    ) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"token {token}"
        kwargs.setdefault("allow_redirects", False)
        return requests.request(
            method, self.url + path, headers=headers, timeout=REQUEST_TIMEOUT, **kwargs
        )

    def admin(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.request(method, "/hub/api" + path, self.service_token, **kwargs)


def wait_for(what: str, check: Callable[[], Any], hub: Hub, timeout: float = START_TIMEOUT) -> Any:
    """Poll ``check`` until it returns something true, for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if hub.process.poll() is not None:
            pytest.fail(f"jupyterhub exited ({hub.process.returncode}) while waiting for {what}")
        with contextlib.suppress(requests.RequestException):
            result = check()
            if result:
                return result
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {timeout:g} s; hub log tail:\n{hub.log()[-4000:]}")
        time.sleep(0.2)


def hub_settings(root: Path, chp: str) -> dict[str, Any]:
    """The placeholders every hub configuration of these tests has (this file's
    :data:`CONFIG`, ``test_vault_hub_jwt.HUB_CONFIG``): free ports on 127.0.0.1, this run's
    files under ``root``, the proxy ``chp`` and the single-user server's command."""
    return {
        "proxy_port": free_port(),
        "hub_port": free_port(),
        "proxy_api_port": free_port(),
        "db_url": f"sqlite:///{root / 'jupyterhub.sqlite'}",
        "cookie_secret": str(root / "jupyterhub_cookie_secret"),
        "chp": chp,
        "proxy_pid_file": str(root / "proxy.pid"),
        "home_template": str(root / "home" / "{username}"),
        "singleuser": str(Path(sys.executable).parent / "jupyterhub-singleuser"),
        "start_timeout": int(START_TIMEOUT),
    }


def launch_hub(
    root: Path,
    config: str,
    *,
    proxy_port: int,
    password: str,
    service_token: str,
    values: dict[str, str],
    drop: tuple[str, ...] = (),
    environ: dict[str, str] | None = None,
) -> Hub:
    """Write ``config`` to ``root/jupyterhub_config.py`` and start JupyterHub with it in
    ``root`` (its own process group, output in ``root/jupyterhub.log``), without the test
    run's Jupyter and qsecure settings or variables starting with ``drop``, with
    ``environ`` added; the running :class:`Hub`."""
    config_path = root / "jupyterhub_config.py"
    config_path.write_text(config, encoding="utf-8")
    # The hub passes only Spawner.env_keep (PATH, LANG, ...) and Spawner.environment on;
    # drop the test run's own Jupyter and qsecure settings anyway.
    prefixes = ("QSECURE_", "JUPYTER", "JPY_", "PYTHON_KEYRING", *drop)
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(environ or {})
    log_path = root / "jupyterhub.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(config_path)],
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    hub = Hub(
        url=f"http://127.0.0.1:{proxy_port}",
        service_token=service_token,
        password=password,
        values=values,
        process=process,
        log_path=log_path,
        proxy_pid_file=root / "proxy.pid",
    )
    hub.pids.add(process.pid)
    return hub


def start_hub(root: Path) -> Hub:
    """The hub of this file: alice and bob, each granted their own secret."""
    settings = hub_settings(root, proxy_command())
    password = secrets.token_urlsafe(12)
    service_token = secrets.token_hex(32)
    values = {user: f"{user}-{secrets.token_hex(16)}" for user in USERS}
    policy = root / "admin" / "qsecure.toml"  # outside the users' homes, as in production
    policy.parent.mkdir(parents=True)
    policy.write_text(POLICY, encoding="utf-8")
    config = CONFIG.format(
        **settings,
        password=password,
        environment={
            "QSECURE_CONFIG": str(policy),
            SOURCE_OF["alice"]: values["alice"],
            SOURCE_OF["bob"]: values["bob"],
        },
        service_token=service_token,
    )
    return launch_hub(
        root,
        config,
        proxy_port=settings["proxy_port"],
        password=password,
        service_token=service_token,
        values=values,
    )


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_hub(hub: Hub) -> None:
    """The hub's own cleanup (servers, then proxy), then whatever is left, by recorded id."""
    with contextlib.suppress(FileNotFoundError, ValueError):
        hub.pids.add(int(hub.proxy_pid_file.read_text().strip()))
    if hub.process.poll() is None:
        hub.process.send_signal(signal.SIGTERM)
        try:
            hub.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(hub.process.pid, signal.SIGKILL)
            hub.process.wait(timeout=5)
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in hub.pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in hub.pids:
        if alive(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def log_in(hub: Hub, user: str, password: str) -> requests.Response:
    """Log in through the hub's API: the Authenticator checks the password, and the hub
    answers with a new API token for that user."""
    return hub.request(
        "POST",
        f"/hub/api/users/{user}/tokens",
        json={"auth": {"username": user, "password": password}, "note": "qsecure test"},
    )


def server_ready(hub: Hub, user: str) -> dict[str, Any] | None:
    response = hub.admin("GET", f"/users/{user}")
    response.raise_for_status()
    server = response.json()["servers"].get("")
    return server if server and server.get("ready") else None


def log_in_for_token(hub: Hub, user: str) -> None:
    """Log ``user`` in with the hub's password; keep their new API token in ``hub.tokens``."""
    response = log_in(hub, user, hub.password)
    assert response.status_code == 201, response.text
    hub.tokens[user] = response.json()["token"]


def wait_for_server(hub: Hub, user: str) -> int:
    """Wait until ``user``'s server is ready; its process id, recorded for the cleanup."""
    server = wait_for(f"{user}'s server ready", lambda: server_ready(hub, user), hub)
    pid = int(server["state"]["pid"])  # visible with the admin:server_state scope
    hub.pids.add(pid)
    return pid


def start_server(hub: Hub, user: str) -> None:
    """The user starts their own server with their own token."""
    response = hub.request("POST", f"/hub/api/users/{user}/server", hub.tokens[user])
    assert response.status_code in (201, 202), response.text


def start_kernel(hub: Hub, user: str) -> str:
    body = {
        "path": NOTEBOOK,
        "type": "notebook",
        "name": NOTEBOOK,
        "kernel": {"name": "python3"},
    }
    response = hub.request("POST", f"/user/{user}/api/sessions", hub.tokens[user], json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["kernel"]["id"])


def channels_url(hub: Hub, user: str, kernel_id: str) -> str:
    return (
        hub.url.replace("http://", "ws://", 1)
        + f"/user/{user}/api/kernels/{kernel_id}/channels?session_id={uuid.uuid4().hex}"
    )


def execute(hub: Hub, user: str, kernel_id: str, source: str) -> tuple[str, dict[str, Any]]:
    """Run ``source`` over the kernel websocket, as JupyterLab does; return the text of its
    outputs and the execute_reply's content."""
    ws = websocket.create_connection(
        channels_url(hub, user, kernel_id),
        header=[f"Authorization: token {hub.tokens[user]}"],
        timeout=REQUEST_TIMEOUT,
    )
    try:
        msg_id = uuid.uuid4().hex
        ws.send(
            json.dumps(
                {
                    "header": {
                        "msg_id": msg_id,
                        "msg_type": "execute_request",
                        "username": user,
                        "session": uuid.uuid4().hex,
                        "date": "",
                        "version": "5.3",
                    },
                    "parent_header": {},
                    "metadata": {},
                    "content": {
                        "code": source,
                        "silent": False,
                        "store_history": True,
                        "user_expressions": {},
                        "allow_stdin": False,
                        "stop_on_error": True,
                    },
                    "channel": "shell",
                    "buffers": [],
                }
            )
        )
        outputs: list[str] = []
        reply: dict[str, Any] | None = None
        idle = False
        deadline = time.monotonic() + START_TIMEOUT
        while (reply is None or not idle) and time.monotonic() < deadline:
            message = json.loads(ws.recv())
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = message["msg_type"]
            if kind == "stream":
                outputs.append(message["content"]["text"])
            elif kind in ("execute_result", "display_data", "error"):
                outputs.append(json.dumps(message["content"]))
            elif kind == "execute_reply":
                reply = message["content"]
            elif kind == "status" and message["content"]["execution_state"] == "idle":
                idle = True
        assert reply is not None, f"no execute_reply from {user}'s kernel within {START_TIMEOUT} s"
        return "".join(outputs), reply
    finally:
        ws.close()


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """The hub with alice and bob logged in, their servers ready and one kernel each."""
    root = tmp_path_factory.mktemp("hub")
    hub = start_hub(root)
    try:
        # Through the proxy: both the hub and the proxy's route to it are up.
        wait_for("answer from /hub/api", lambda: hub.request("GET", "/hub/api").ok, hub)
        for user in USERS:
            log_in_for_token(hub, user)
        for user in USERS:  # both spawns run at once
            start_server(hub, user)
        for user in USERS:
            hub.servers[user] = wait_for_server(hub, user)
        for user in USERS:
            hub.kernels[user] = start_kernel(hub, user)
        yield hub
    finally:
        stop_hub(hub)


def test_each_kernel_receives_only_its_users_secret(hub: Hub) -> None:
    environ = Path("/proc", str(hub.servers["alice"]), "environ")
    if environ.exists():
        # Both servers hold both sources (one Spawner.environment for all): only the
        # `users` grants keep a user's secret out of the other's kernels.
        names = {entry.split(b"=", 1)[0] for entry in environ.read_bytes().split(b"\0")}
        assert {b"ALICE_SOURCE", b"BOB_SOURCE", b"QSECURE_CONFIG"} <= names
    for user in USERS:
        mine, theirs = SECRET_OF[user], SECRET_OF["bob" if user == "alice" else "alice"]
        text, reply = execute(
            hub,
            user,
            hub.kernels[user],
            "import os\n"
            "names = ('ALICE_TOKEN', 'BOB_TOKEN', 'ALICE_SOURCE', 'BOB_SOURCE', 'JUPYTERHUB_API_TOKEN')\n"
            "print('present', sorted(k for k in names if k in os.environ))\n"
            "print('user', os.environ.get('JUPYTERHUB_USER'))\n"
            f"print('value', os.environ['{mine}'])\n"
            f"print('length', len(os.environ['{mine}']))\n"
            "print('pid', os.getpid())\n",
        )
        assert reply["status"] == "ok", reply
        assert f"present ['{mine}']" in text, text
        assert f"user {user}" in text
        assert f"value [secret:{mine}]" in text
        assert f"length {len(hub.values[user])}" in text  # the real value, masked in output
        assert theirs not in text
        for value in hub.values.values():
            assert value not in text
        hub.pids.add(int(text.split("pid ", 1)[1].split()[0]))


def test_each_user_sees_their_own_grants(hub: Hub) -> None:
    for user in USERS:
        response = hub.request(
            "GET", f"/user/{user}/qsecure/secrets", hub.tokens[user], params={"path": NOTEBOOK}
        )
        assert response.status_code == 200, response.text
        rows = {row["name"]: row for row in response.json()["secrets"]}
        mine = rows[SECRET_OF[user]]
        assert mine["granted"] and mine["in_kernel"] and mine["users"] == [user]
        for name, row in rows.items():
            if name != SECRET_OF[user]:
                assert not row["granted"] and not row["in_kernel"], row
        for value in hub.values.values():
            assert value not in response.text


def test_login_needs_the_password_and_an_allowed_user(hub: Hub) -> None:
    assert log_in(hub, "alice", "not-the-password").status_code == 403
    assert log_in(hub, "mallory", hub.password).status_code == 403


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/qsecure/secrets?path=" + NOTEBOOK, None),
        ("PUT", "/qsecure/secrets/ALICE_TOKEN", {"value": "bob-overwrites-alice"}),
        ("DELETE", "/qsecure/secrets/ALICE_TOKEN", None),
        ("GET", "/qsecure/signature?path=" + NOTEBOOK, None),
        ("POST", "/qsecure/sign", {"path": NOTEBOOK, "role": "author"}),
        ("POST", "/qsecure/scan", {"path": NOTEBOOK, "model": {}}),
        ("POST", "/qsecure/bypass", {"fingerprint": "x", "reason": "false-positive"}),
        ("GET", "/api/contents", None),
        ("GET", "/api/contents/" + NOTEBOOK, None),
        ("PUT", "/api/contents/bob.txt", {"type": "file", "format": "text", "content": "x"}),
        ("GET", "/api/sessions", None),
        ("POST", "/api/sessions", {"path": "x.ipynb", "type": "notebook", "kernel": {}}),
        ("GET", "/api/kernels", None),
    ],
)
def test_bobs_token_opens_nothing_on_alices_server(
    hub: Hub, method: str, path: str, body: dict[str, Any] | None
) -> None:
    response = hub.request(method, "/user/alice" + path, hub.tokens["bob"], json=body)
    # The single-user server asks the hub who the token belongs to and refuses a user
    # without access to this server; API routes answer 403 rather than redirect to login.
    assert response.status_code == 403, (response.status_code, response.text[:500])
    assert hub.values["alice"] not in response.text


def test_bob_cannot_reach_alices_kernel_or_server(hub: Hub) -> None:
    with pytest.raises(websocket.WebSocketBadStatusException) as caught:
        websocket.create_connection(
            channels_url(hub, "alice", hub.kernels["alice"]),
            header=[f"Authorization: token {hub.tokens['bob']}"],
            timeout=REQUEST_TIMEOUT,
        )
    assert caught.value.status_code == 403
    # Nor can he stop her server through the hub (404: not even visible to him).
    response = hub.request("DELETE", "/hub/api/users/alice/server", hub.tokens["bob"])
    assert response.status_code == 404, response.text
    assert server_ready(hub, "alice")


def test_pages_refuse_another_user_and_send_strangers_to_log_in(hub: Hub) -> None:
    # A page of alice's server with bob's token: refused, not redirected.
    assert hub.request("GET", "/user/alice/lab", hub.tokens["bob"]).status_code == 403
    # Without any credential, API routes answer 403 and pages go to the hub's OAuth.
    assert hub.request("GET", "/user/alice/api/contents").status_code == 403
    response = hub.request("GET", "/user/alice/lab")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/hub/api/oauth2/authorize?")


def test_no_secret_value_in_any_log(hub: Hub) -> None:
    log = hub.log()
    # Both single-user servers ran jupyter-qsecure (jupyter_server's own message).
    assert log.count("jupyter_qsecure | extension was successfully loaded") == 2
    for value in hub.values.values():
        assert value not in log
