"""A real JupyterHub on loopback for the tests: start it, log users in, start their servers
and kernels, run code over the kernel websocket, and stop everything.

JupyterHub (from PyPI) with configurable-http-proxy (from npm) and
``SimpleLocalProcessSpawner``: every port is a free port of 127.0.0.1, every file is under
the test's folder, and :func:`stop_hub` stops the hub (which stops the servers and the
proxy), then any process left over, by the ids recorded during the test.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests  # a dependency of jupyterhub
import websocket  # websocket-client, a dependency of jupyter_server

#: The notebook path kernels are started for, unless a test names another.
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
    """A TCP port of 127.0.0.1 that nothing listens on now."""
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


#: The test's own client of the hub: reads server state to find processes, starts nothing
#: itself (appended to a configuration; ``{service_token}`` is filled by ``format``).
TEST_SERVICE = """
c.JupyterHub.services = [{{"name": "qsecure-test", "api_token": {service_token!r}}}]
c.JupyterHub.load_roles.append(
    {{
        "name": "qsecure-test",
        "scopes": ["admin:users", "admin:servers"],
        "services": ["qsecure-test"],
    }}
)
"""


def dummy_hub_config(test_file: str) -> str:
    """The configuration template of a hub for ``test_file``: the network and spawner of
    :func:`hub_settings`, JupyterHub's dummy authenticator with one shared ``{password}``
    for the ``{users}`` allowed; fill it with ``format(**hub_settings(...), password=...,
    users=..., environment=...)``."""
    header = f"# Written by tests/{test_file} for one run; every path and port is this run's.\n"
    return (
        header
        + """import os

from jupyterhub.spawner import SimpleLocalProcessSpawner

c = get_config()  # noqa: F821

"""
        + HUB_NETWORK
        + """
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = {password!r}
c.Authenticator.allowed_users = {users!r}

"""
        + HUB_SPAWNER
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
        """Everything the hub, the proxy and the servers logged so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def request(
        self, method: str, path: str, token: str | None = None, **kwargs: Any
    ) -> requests.Response:
        """``method path`` through the proxy, with ``token`` if given; never follows a
        redirect."""
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"token {token}"
        kwargs.setdefault("allow_redirects", False)
        return requests.request(
            method, self.url + path, headers=headers, timeout=REQUEST_TIMEOUT, **kwargs
        )

    def admin(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A call of the hub's API (``/hub/api`` + ``path``) with the test service's token."""
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
    """The placeholders every hub configuration of the tests has (:data:`HUB_NETWORK`,
    :data:`HUB_SPAWNER`): free ports on 127.0.0.1, this run's files under ``root``, the
    proxy ``chp`` and the single-user server's command."""
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


def alive(pid: int) -> bool:
    """Whether a process ``pid`` exists."""
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
    """``user``'s default server as the hub's API describes it, once it is ready."""
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


def start_kernel(hub: Hub, user: str, path: str = NOTEBOOK, server: str | None = None) -> str:
    """``user`` opens a session for the notebook ``path`` on ``server``'s server (their
    own by default), with their own token; the new kernel's id."""
    body = {"path": path, "type": "notebook", "name": path, "kernel": {"name": "python3"}}
    response = hub.request(
        "POST", f"/user/{server or user}/api/sessions", hub.tokens[user], json=body
    )
    assert response.status_code == 201, response.text
    return str(response.json()["kernel"]["id"])


def channels_url(hub: Hub, user: str, kernel_id: str) -> str:
    """The websocket URL of a kernel's channels on ``user``'s server."""
    return (
        hub.url.replace("http://", "ws://", 1)
        + f"/user/{user}/api/kernels/{kernel_id}/channels?session_id={uuid.uuid4().hex}"
    )


def execute(
    hub: Hub, user: str, kernel_id: str, source: str, server: str | None = None
) -> tuple[str, dict[str, Any]]:
    """Run ``source`` over the kernel websocket of ``server``'s server (``user``'s own by
    default) with ``user``'s token, as JupyterLab does; return the text of its outputs and
    the execute_reply's content."""
    ws = websocket.create_connection(
        channels_url(hub, server or user, kernel_id),
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
