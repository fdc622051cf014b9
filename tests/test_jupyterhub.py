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

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websocket  # websocket-client, a dependency of jupyter_server
from hub import (
    NOTEBOOK,
    REQUEST_TIMEOUT,
    TEST_SERVICE,
    Hub,
    channels_url,
    dummy_hub_config,
    execute,
    hub_settings,
    launch_hub,
    log_in,
    log_in_for_token,
    proxy_command,
    server_ready,
    start_kernel,
    start_server,
    stop_hub,
    wait_for,
    wait_for_server,
)

pytestmark = pytest.mark.slow

USERS = ("alice", "bob")
SECRET_OF = {"alice": "ALICE_TOKEN", "bob": "BOB_TOKEN"}
SOURCE_OF = {"alice": "ALICE_SOURCE", "bob": "BOB_SOURCE"}

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

CONFIG = dummy_hub_config("test_jupyterhub.py") + TEST_SERVICE


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
        users=set(USERS),
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
