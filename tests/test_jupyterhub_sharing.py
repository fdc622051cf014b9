"""A shared server under a real JupyterHub: the collaborator edits, the owner signs.

JupyterHub with the admin guide's sharing configuration (its ``python`` block, read from
docs/admin.md and appended to this run's hub configuration, so the documented settings
are the tested ones): custom ``custom:qsecure:*`` scopes, a ``user`` role that may share,
carol allowed to sign on alice's servers, and every single-user server authorized by
``jupyter_qsecure.hub_authorizer.QSecureHubAuthorizer``. alice starts her server and shares
it with bob and carol through the hub's sharing API. On alice's server bob saves, reads and
runs notebooks and reads every status, but is refused (403, ``qsecure-forbidden``) signing,
secrets and grants writes, bypasses and the audit trail; carol may also sign; alice may do
everything, and her audit trail names bob for what bob did.

The hub helpers (free loopback ports, proxy, cleanup by recorded process ids) are
``tests/hub.py``'s.
"""

from __future__ import annotations

import random
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from corpus import expand
from hub import (
    TEST_SERVICE,
    Hub,
    dummy_hub_config,
    execute,
    hub_settings,
    launch_hub,
    log_in_for_token,
    proxy_command,
    start_kernel,
    start_server,
    stop_hub,
    wait_for,
    wait_for_server,
)

from jupyter_qsecure.guard.save_guard import BLOCKED_STATUS, LEAK_REASON

pytestmark = pytest.mark.slow

OWNER, COLLABORATOR, SIGNER = "alice", "bob", "carol"
USERS = (OWNER, COLLABORATOR, SIGNER)
NOTEBOOK = "shared.ipynb"
SECRET = "LAB_KEY"
ADMIN_GUIDE = Path(__file__).resolve().parents[1] / "docs" / "admin.md"
SHARING_SECTION = "### JupyterHub: collaborators edit, owners sign"

#: The hub of this file, before the admin guide's sharing block is appended.
CONFIG = dummy_hub_config("test_jupyterhub_sharing.py")

#: What only alice (and whom she or the admin delegates to) may do on her server, with the
#: action and resource each is refused as.
OWNER_ONLY = [
    ("POST", "/qsecure/sign", {"path": NOTEBOOK, "role": "author"}, "write on qsecure:signing"),
    (
        "PUT",
        f"/qsecure/secrets/{SECRET}",
        {"value": "not-alices-" + "v" * 24},
        "write on qsecure:secrets",
    ),
    ("DELETE", f"/qsecure/secrets/{SECRET}", None, "write on qsecure:secrets"),
    ("PUT", f"/qsecure/grants/{SECRET}", {"notebook": NOTEBOOK}, "write on qsecure:secrets"),
    ("DELETE", f"/qsecure/grants/{SECRET}", None, "write on qsecure:secrets"),
    (
        "POST",
        "/qsecure/bypass",
        {"fingerprint": "0" * 32, "reason": "false-positive"},
        "write on qsecure:guard",
    ),
    ("GET", "/qsecure/audit", None, "read on qsecure:audit"),
]


def documented_sharing_config() -> str:
    """The ``python`` block of the admin guide's JupyterHub sharing section."""
    text = ADMIN_GUIDE.read_text(encoding="utf-8")
    section = text[text.index(SHARING_SECTION) :]
    start = section.index("```python\n") + len("```python\n")
    return section[start : section.index("```", start)]


def signing_key(folder: Path) -> Path:
    """An ed25519 key made by ssh-keygen, the key alice's server signs with (trusted by
    the policy's allowed_signers)."""
    if shutil.which("ssh-keygen") is None:
        pytest.skip("needs ssh-keygen (Debian: openssh-client)")
    key = folder / "signer"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "alice", "-f", str(key)],
        check=True,
        timeout=60,
    )
    return key


def start_hub(root: Path) -> Hub:
    """The hub: alice, bob and carol, the guide's sharing configuration, one policy naming
    the signing key, and the embedded encrypted-file keyring for the servers."""
    settings = hub_settings(root, proxy_command())
    password = secrets.token_urlsafe(12)
    service_token = secrets.token_hex(32)
    admin = root / "admin"  # outside the users' homes, as in production
    admin.mkdir()
    key = signing_key(admin)
    kind, public = key.with_suffix(".pub").read_text().split()[:2]
    allowed = admin / "allowed_signers"
    allowed.write_text(f"alice@lab.example {kind} {public}\n", encoding="utf-8")
    policy = admin / "qsecure.toml"
    policy.write_text(
        f'[signing]\nkey = "{key}"\nprincipal = "alice@lab.example"\n'
        f'allowed_signers = "{allowed}"\n',
        encoding="utf-8",
    )
    environment = {
        "QSECURE_CONFIG": str(policy),
        "PYTHON_KEYRING_BACKEND": "keyrings.cryptfile.cryptfile.CryptFileKeyring",
        "QSECURE_KEYRING_FILE": str(admin / "keyring.cfg"),
        "QSECURE_KEYRING_PASSWORD": secrets.token_hex(16),
    }
    config = (
        CONFIG.format(**settings, password=password, users=set(USERS), environment=environment)
        + "\n# --- docs/admin.md, JupyterHub: collaborators edit, owners sign ---\n"
        + documented_sharing_config()
        + TEST_SERVICE.format(service_token=service_token)
    )
    value = f"alice-{secrets.token_hex(16)}"
    return launch_hub(
        root,
        config,
        proxy_port=settings["proxy_port"],
        password=password,
        service_token=service_token,
        values={OWNER: value},
    )


def on_alices_server(
    hub: Hub, user: str, method: str, path: str, body: dict[str, Any] | None = None, **kwargs: Any
) -> Any:
    """``method path`` on alice's server with ``user``'s token."""
    return hub.request(method, f"/user/{OWNER}{path}", hub.tokens[user], json=body, **kwargs)


def notebook_model(source: str) -> dict[str, Any]:
    """A contents model of a one-cell notebook."""
    return {
        "type": "notebook",
        "format": "json",
        "content": {
            "nbformat": 4,
            "nbformat_minor": 5,
            "metadata": {},
            "cells": [
                {
                    "cell_type": "code",
                    "id": "cell-0",
                    "metadata": {},
                    "source": source,
                    "outputs": [],
                    "execution_count": None,
                }
            ],
        },
    }


def share(hub: Hub, user: str) -> None:
    """alice shares her default server with ``user``, with her own token."""
    response = hub.request(
        "POST", f"/hub/api/shares/{OWNER}/", hub.tokens[OWNER], json={"user": user}
    )
    assert response.status_code == 200, response.text
    assert response.json()["scopes"] == [f"access:servers!server={OWNER}/"]


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """The hub with alice's server running, shared with bob and carol, and the notebook
    bob saved on it."""
    hub = start_hub(tmp_path_factory.mktemp("hub"))
    try:
        wait_for("answer from /hub/api", lambda: hub.request("GET", "/hub/api").ok, hub)
        for user in USERS:
            log_in_for_token(hub, user)
        start_server(hub, OWNER)
        hub.servers[OWNER] = wait_for_server(hub, OWNER)
        share(hub, COLLABORATOR)
        share(hub, SIGNER)
        response = on_alices_server(
            hub, COLLABORATOR, "PUT", f"/api/contents/{NOTEBOOK}", notebook_model("x = 1")
        )
        assert response.status_code == 201, response.text
        yield hub
    finally:
        stop_hub(hub)


def test_the_collaborator_edits_reads_and_runs_notebooks(hub: Hub) -> None:
    edited = notebook_model("x = 2\nprint('edited by bob', x)")
    response = on_alices_server(hub, COLLABORATOR, "PUT", f"/api/contents/{NOTEBOOK}", edited)
    assert response.status_code == 200, response.text
    response = on_alices_server(hub, COLLABORATOR, "GET", f"/api/contents/{NOTEBOOK}")
    assert response.status_code == 200, response.text
    assert (
        response.json()["content"]["cells"][0]["source"] == edited["content"]["cells"][0]["source"]
    )
    kernel = start_kernel(hub, COLLABORATOR, NOTEBOOK, server=OWNER)
    text, reply = execute(
        hub,
        COLLABORATOR,
        kernel,
        "import os\nprint('runs as', os.environ['JUPYTERHUB_USER'], os.getpid())",
        server=OWNER,
    )
    assert reply["status"] == "ok", reply
    assert "runs as alice" in text  # bob's code runs in alice's server, as alice
    hub.pids.add(int(text.split()[-1]))


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", f"/qsecure/signature?path={NOTEBOOK}", None),
        ("GET", f"/qsecure/provenance?path={NOTEBOOK}", None),
        ("GET", f"/qsecure/secrets?path={NOTEBOOK}", None),
        ("GET", "/qsecure/status", None),
        ("POST", "/qsecure/scan", {"path": NOTEBOOK, "model": notebook_model("y = 3")}),
    ],
)
def test_the_collaborator_reads_every_status(
    hub: Hub, method: str, path: str, body: dict[str, Any] | None
) -> None:
    response = on_alices_server(hub, COLLABORATOR, method, path, body)
    assert response.status_code == 200, (response.status_code, response.text[:500])


@pytest.mark.parametrize(("method", "path", "body", "refused_as"), OWNER_ONLY)
def test_the_collaborator_is_refused_what_is_the_owners(
    hub: Hub, method: str, path: str, body: dict[str, Any] | None, refused_as: str
) -> None:
    response = on_alices_server(hub, COLLABORATOR, method, path, body)
    assert response.status_code == 403, (response.status_code, response.text[:500])
    assert response.headers["Content-Type"].startswith("application/json")
    answer = response.json()
    assert answer["reason"] == "qsecure-forbidden", answer
    assert answer["message"].startswith("Your role on this server does not allow you to "), answer
    assert f"({refused_as})" in answer["message"], answer


def test_nothing_was_signed_by_the_refused_request(hub: Hub) -> None:
    response = on_alices_server(hub, COLLABORATOR, "GET", f"/qsecure/signature?path={NOTEBOOK}")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "unsigned", response.json()


@pytest.mark.parametrize(("method", "path", "body", "refused_as"), OWNER_ONLY[1:])
def test_the_delegated_signer_is_refused_everything_else(
    hub: Hub, method: str, path: str, body: dict[str, Any] | None, refused_as: str
) -> None:
    response = on_alices_server(hub, SIGNER, method, path, body)
    assert response.status_code == 403, (response.status_code, response.text[:500])
    answer = response.json()
    assert answer["reason"] == "qsecure-forbidden", answer
    assert f"({refused_as})" in answer["message"], answer


def test_the_owner_stores_grants_and_signs_and_the_delegated_signer_signs(hub: Hub) -> None:
    value = hub.values[OWNER]
    response = on_alices_server(hub, OWNER, "PUT", f"/qsecure/secrets/{SECRET}", {"value": value})
    assert response.status_code == 200, response.text
    assert value not in response.text
    body = {"notebook": NOTEBOOK}
    response = on_alices_server(hub, OWNER, "PUT", f"/qsecure/grants/{SECRET}", body)
    assert response.status_code == 200, response.text
    for user in (OWNER, SIGNER):
        body = {"path": NOTEBOOK, "role": "author"}
        response = on_alices_server(hub, user, "POST", "/qsecure/sign", body)
        assert response.status_code == 200, (user, response.text)
        assert response.json()["status"] == "signed and valid", (user, response.json())


def test_the_collaborator_cannot_write_into_the_audit_trail(hub: Hub) -> None:
    """jupyter_server's POST /api/events is everyone's who may reach the server (``write``
    on ``events``); an entry of jupyter-qsecure's audit trail is not."""
    forged = {
        "schema_id": "https://events.jupyter.org/jupyter_qsecure/notebook-signed/v1",
        "version": 1,
        "timestamp": "2020-01-01T00:00:00+00:00Z",
        "data": {
            "path": NOTEBOOK,
            "user": OWNER,
            "principal": f"{OWNER}@lab.example",
            "role": "author",
            "key_fingerprint": "SHA256:" + secrets.token_hex(8),
        },
    }
    response = on_alices_server(hub, COLLABORATOR, "POST", "/api/events", forged)
    assert response.status_code == 403, (response.status_code, response.text[:500])
    assert response.json()["reason"] == "qsecure-forbidden"


def test_the_owners_audit_trail_names_each_user(hub: Hub) -> None:
    leaky = notebook_model(f'token = "{expand("gh" + "p_{A:36}", random.Random())}"')
    response = on_alices_server(hub, COLLABORATOR, "PUT", "/api/contents/leak.ipynb", leaky)
    assert response.status_code == BLOCKED_STATUS, response.text
    assert response.json()["reason"] == LEAK_REASON
    response = on_alices_server(hub, OWNER, "GET", "/qsecure/audit")
    assert response.status_code == 200, response.text
    by_user = response.json()["by_user"]
    assert by_user[COLLABORATOR].get("save-blocked") == 1, by_user
    assert by_user[OWNER].get("notebook-signed") == 1, by_user
    assert by_user[SIGNER].get("notebook-signed") == 1, by_user


def test_the_authorizer_logged_each_refusal_without_a_value(hub: Hub) -> None:
    log = hub.log()
    assert "jupyter_qsecure | extension was successfully loaded" in log
    assert "bob may not write qsecure:signing on alice's server" in log
    assert "bob may not read qsecure:audit on alice's server" in log
    assert hub.values[OWNER] not in log
