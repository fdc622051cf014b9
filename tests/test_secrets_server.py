"""Secrets from a real keyring reach granted kernels started by a real server, and nowhere else."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import code, notebook
from kernel_client import open_session
from tornado.httpclient import HTTPClientError

JUPYTER = str(Path(sys.executable).parent / "jupyter")
NAME = "IBM_QUANTUM_TOKEN"


@pytest.fixture
def secret_value() -> str:
    """A value no pattern rule knows: only the injected-value matching can find it."""
    return f"qsv-{secrets.token_hex(12)}"


@pytest.fixture
def granted(
    keyring_env: dict[str, str], policy: Callable[[str], Path], secret_value: str, tmp_path: Path
) -> str:
    """A secret set with `jupyter qsecure secrets set` and granted to experiments/ notebooks."""
    path = policy(
        f"""
[secrets.{NAME}]
source = "keyring://qsecure/ibm-quantum"
notebooks = ["experiments/**/*.ipynb"]
kernels = ["python3"]
"""
    )
    result = subprocess.run(
        [JUPYTER, "qsecure", "secrets", "set", NAME],
        input=secret_value + "\n",
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "QSECURE_CONFIG": str(path)},
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "stored IBM_QUANTUM_TOKEN in keyring://qsecure/ibm-quantum" in result.stdout
    assert secret_value not in result.stdout + result.stderr
    return secret_value


async def start_session(jp_fetch: Any, path: str) -> str:
    """A session for ``path`` named by its path (not its file's name, as JupyterLab names
    it); its kernel's id."""
    session = await open_session(jp_fetch, path, name=path)
    return str(session["kernel"]["id"])


async def run_cell(
    jp_serverapp: Any, kernel_id: str, source: str
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Execute in a kernel the server started; return iopub messages and the reply, as a
    browser would receive them."""
    client = jp_serverapp.kernel_manager.get_kernel(kernel_id).client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=60)
        messages: list[dict[str, Any]] = []
        reply = await client.execute_interactive(source, output_hook=messages.append, timeout=60)
    finally:
        client.stop_channels()
    return messages, reply


def outputs_text(messages: list[dict[str, Any]]) -> str:
    return json.dumps(
        [
            m["content"]
            for m in messages
            if m["msg_type"] in ("stream", "execute_result", "display_data", "error")
        ]
    )


async def test_granted_kernel_has_the_secret_and_output_is_masked(
    granted: str,
    jp_fetch: Any,
    jp_serverapp: Any,
    jp_root_dir: Path,
    audit_events: Any,
    server_log: Any,
) -> None:
    kernel_id = await start_session(jp_fetch, "experiments/2026/run.ipynb")
    messages, reply = await run_cell(
        jp_serverapp,
        kernel_id,
        "import os, base64, logging\n"
        f"token = os.environ['{NAME}']\n"
        f"print('has', token == {granted!r}, os.environ['QSECURE_SECRET_NAMES'])\n"
        "print(token)\n"
        "print(base64.b64encode(token.encode()).decode())\n"
        "logging.getLogger('demo').warning('using %s', token)\n"
        "token",
    )
    text = outputs_text(messages)
    assert "has True IBM_QUANTUM_TOKEN" in text
    assert text.count(f"[secret:{NAME}]") >= 4
    assert granted not in text
    assert base64.b64encode(granted.encode()).decode().rstrip("=")[:-1] not in text
    assert granted not in json.dumps(reply["content"])

    messages, reply = await run_cell(
        jp_serverapp, kernel_id, f"raise ValueError(os.environ['{NAME}'])"
    )
    assert reply["content"]["status"] == "error"
    assert f"[secret:{NAME}]" in json.dumps(reply["content"])
    assert granted not in outputs_text(messages) + json.dumps(reply["content"])

    [event] = [e for e in audit_events() if e["__schema__"].endswith("secret-injected/v1")]
    assert event["names"] == [NAME] and event["notebook"] == "experiments/2026/run.ipynb"
    assert granted not in json.dumps(audit_events()) + server_log()


async def test_ungranted_kernel_does_not_have_it(
    granted: str, jp_fetch: Any, jp_serverapp: Any
) -> None:
    kernel_id = await start_session(jp_fetch, "scratch/other.ipynb")
    messages, _ = await run_cell(
        jp_serverapp,
        kernel_id,
        f"import os; print(repr(os.environ.get('{NAME}')), repr(os.environ.get('QSECURE_SECRET_NAMES')))",
    )
    assert "None ''" in outputs_text(messages)


async def test_saving_the_value_is_refused_and_forgotten_after_shutdown(
    granted: str, jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path
) -> None:
    (jp_root_dir / "experiments").mkdir()
    kernel_id = await start_session(jp_fetch, "experiments/a.ipynb")
    for content in (granted, base64.b64encode(granted.encode()).decode(), granted.encode().hex()):
        nb = notebook(code(f"token = '{content}'"))
        with pytest.raises(HTTPClientError) as caught:
            await jp_fetch(
                "api",
                "contents",
                "experiments/pasted.ipynb",
                method="PUT",
                body=json.dumps({"type": "notebook", "content": nb}),
            )
        body = json.loads(caught.value.response.body)
        assert body["findings"][0]["kind"] == "Injected secret"
        assert body["findings"][0]["preview"] == f"[secret:{NAME}]"
        assert granted not in caught.value.response.body.decode()
    assert not (jp_root_dir / "experiments" / "pasted.ipynb").exists()

    await jp_fetch("api", "kernels", kernel_id, method="DELETE")
    nb = notebook(code(f"label = '{granted}'"))  # no keyword: only the injected value was found
    response = await jp_fetch(
        "api",
        "contents",
        "experiments/pasted.ipynb",
        method="PUT",
        body=json.dumps({"type": "notebook", "content": nb}),
    )
    assert response.code == 201  # the server no longer knows the value


async def test_server_credentials_do_not_reach_the_kernel(
    granted: str, monkeypatch: pytest.MonkeyPatch, jp_fetch: Any, jp_serverapp: Any
) -> None:
    monkeypatch.setenv("VAULT_TOKEN", "hvs.server-only-credential")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "hub-api-token-of-the-server")
    kernel_id = await start_session(jp_fetch, "experiments/b.ipynb")
    messages, _ = await run_cell(
        jp_serverapp,
        kernel_id,
        "import os; print([k for k in ('VAULT_TOKEN', 'JUPYTERHUB_API_TOKEN', 'QSECURE_KEYRING_PASSWORD') if k in os.environ])",
    )
    assert "[]" in outputs_text(messages)


async def test_refresh_reads_a_rotated_value(
    granted: str, keyring_env: dict[str, str], jp_fetch: Any, jp_serverapp: Any, tmp_path: Path
) -> None:
    kernel_id = await start_session(jp_fetch, "experiments/c.ipynb")
    rotated = f"qsv-{secrets.token_hex(12)}"
    result = subprocess.run(
        [JUPYTER, "qsecure", "secrets", "set", NAME],
        input=rotated,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    messages, _ = await run_cell(
        jp_serverapp,
        kernel_id,
        f"import os, jupyter_qsecure\nprint(jupyter_qsecure.refresh())\nprint(os.environ['{NAME}'] == {rotated!r})\nprint(os.environ['{NAME}'])",
    )
    text = outputs_text(messages)
    assert "['IBM_QUANTUM_TOKEN']" in text and "True" in text
    assert rotated not in text and f"[secret:{NAME}]" in text
    messages, _ = await run_cell(jp_serverapp, kernel_id, "%qsecure refresh NOT_GRANTED")
    assert "NOT_GRANTED is not granted to this kernel" in outputs_text(messages)


async def test_refresh_failure_is_audited(
    granted: str, jp_fetch: Any, jp_serverapp: Any, audit_events: Any, server_log: Any
) -> None:
    kernel_id = await start_session(jp_fetch, "experiments/f.ipynb")
    response = await jp_fetch("qsecure", "secrets", NAME, method="DELETE")  # the store loses it
    assert response.code == 204
    messages, _ = await run_cell(
        jp_serverapp, kernel_id, "import jupyter_qsecure\nprint(jupyter_qsecure.refresh())"
    )
    text = outputs_text(messages)
    assert "not refreshed: keyring://qsecure/ibm-quantum" in text and "[]" in text
    events = audit_events()
    [injected] = [e for e in events if e["__schema__"].endswith("secret-injected/v1")]
    [event] = [e for e in events if e["__schema__"].endswith("provider-error/v1")]
    assert (event["name"], event["reason"]) == (NAME, "not-found")
    assert event["kernel_id"] == kernel_id and event["notebook"] == "experiments/f.ipynb"
    assert event["user"] == injected["user"] and event["user"]
    assert "keyring://qsecure/ibm-quantum" in event["message"]
    assert granted not in json.dumps(events) + server_log()


async def test_refresh_needs_the_kernel_capability(granted: str, jp_fetch: Any) -> None:
    # The browser's token is not enough: only a kernel's capability opens refresh.
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("qsecure", "kernel", "refresh", method="POST", body="{}")
    assert caught.value.code == 403
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch(
            "qsecure",
            "kernel",
            "refresh",
            method="POST",
            body="{}",
            headers={"Authorization": "qsecure-capability forged"},
        )
    assert caught.value.code == 403


async def test_locked_store_starts_the_kernel_and_says_why(
    granted: str,
    monkeypatch: pytest.MonkeyPatch,
    jp_fetch: Any,
    jp_serverapp: Any,
    audit_events: Any,
) -> None:
    monkeypatch.setenv("QSECURE_KEYRING_PASSWORD", "wrong-password")
    from jupyter_qsecure.secrets.providers import Providers

    app = jp_serverapp.web_app.settings["jupyter_qsecure"]  # fresh providers: no cached unlock
    monkeypatch.setattr(app.kernel_services, "providers", Providers(app.secrets.policy))
    kernel_id = await start_session(jp_fetch, "experiments/d.ipynb")
    messages, _ = await run_cell(
        jp_serverapp, kernel_id, f"import os; print('{NAME}' in os.environ)"
    )
    text = outputs_text(messages)
    assert "False" in text
    assert "started without some secrets" in text and "does not unlock" in text
    assert f"{NAME}: wrong keyring password" in text
    [event] = [e for e in audit_events() if e["__schema__"].endswith("provider-error/v1")]
    assert event["name"] == NAME and event["reason"] == "locked"


async def test_a_wrong_keyring_password_costs_one_key_derivation_once(
    granted: str,
    keyring_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    jp_fetch: Any,
    jp_serverapp: Any,
) -> None:
    """A wrong password is refused with one Argon2 derivation (keyrings.cryptfile alone
    tries two: with and without associated data), then with none for that keyring file,
    even by a policy reload's new providers; a changed file is tried again; the right
    password still opens it. Derivations are counted in the server's process."""
    import hashlib

    from argon2 import low_level

    from jupyter_qsecure.secrets.providers import Providers
    from jupyter_qsecure.secrets.providers.keyring import KeyringProvider
    from jupyter_qsecure.secrets.refs import parse_ref

    app = jp_serverapp.web_app.settings["jupyter_qsecure"]
    # The server's warm-up (right password) ends first.
    await asyncio.to_thread(app.secrets.providers.wait, app.secrets.warming, None)
    derivations: list[int] = []
    derive = low_level.hash_secret_raw

    def counted(*args: Any, **kwargs: Any) -> bytes:
        derivations.append(1)
        return bytes(derive(*args, **kwargs))

    monkeypatch.setattr(low_level, "hash_secret_raw", counted)

    def server_restarted_with(password: str) -> None:
        monkeypatch.setenv("QSECURE_KEYRING_PASSWORD", password)
        monkeypatch.setattr(app.kernel_services, "providers", Providers(app.secrets.policy))

    server_restarted_with(secrets.token_hex(12))
    kernel_id = await start_session(jp_fetch, "experiments/w1.ipynb")
    assert len(derivations) == 1
    messages, _ = await run_cell(
        jp_serverapp, kernel_id, f"import os; print('{NAME}' in os.environ)"
    )
    text = outputs_text(messages)
    assert "False" in text and "started without some secrets" in text
    assert f"{NAME}: wrong keyring password: $QSECURE_KEYRING_PASSWORD does not unlock" in text
    assert keyring_env["QSECURE_KEYRING_FILE"] in text and "was created with" in text

    wrong = os.environ["QSECURE_KEYRING_PASSWORD"]
    server_restarted_with(wrong)  # new providers (a policy reload): still remembered
    await start_session(jp_fetch, "experiments/w2.ipynb")
    assert len(derivations) == 1

    # The keyring file changes (a value stored with the right password): tried again.
    monkeypatch.setenv("QSECURE_KEYRING_PASSWORD", keyring_env["QSECURE_KEYRING_PASSWORD"])
    KeyringProvider().store(parse_ref("keyring://qsecure/other"), f"qsv-{secrets.token_hex(8)}")
    server_restarted_with(wrong)
    derivations.clear()
    await start_session(jp_fetch, "experiments/w3.ipynb")
    assert len(derivations) == 1

    # A refusal never stands for another password: the right one opens the keyring.
    server_restarted_with(keyring_env["QSECURE_KEYRING_PASSWORD"])
    kernel_id = await start_session(jp_fetch, "experiments/w4.ipynb")
    digest = hashlib.sha256(granted.encode()).hexdigest()
    messages, _ = await run_cell(
        jp_serverapp,
        kernel_id,
        f"import hashlib, os; print(hashlib.sha256(os.environ['{NAME}'].encode()).hexdigest())",
    )
    assert digest in outputs_text(messages)


async def test_rest_lists_names_and_grants_never_values(granted: str, jp_fetch: Any) -> None:
    kernel_id = await start_session(jp_fetch, "experiments/e.ipynb")
    assert kernel_id
    response = await jp_fetch("qsecure", "secrets", params={"path": "experiments/e.ipynb"})
    body = json.loads(response.body)
    [row] = body["secrets"]
    assert (
        row["name"] == NAME and row["provider"] == "keyring" and row["granted"] and row["in_kernel"]
    )
    assert granted not in response.body.decode()
    response = await jp_fetch("qsecure", "secrets", params={"path": "notes/x.ipynb"})
    assert not json.loads(response.body)["secrets"][0]["granted"]


async def test_rest_writes_and_deletes_values(granted: str, jp_fetch: Any) -> None:
    new_value = f"qsv-{secrets.token_hex(12)}"
    response = await jp_fetch(
        "qsecure", "secrets", NAME, method="PUT", body=json.dumps({"value": new_value})
    )
    assert json.loads(response.body) == {
        "name": NAME,
        "source": "keyring://qsecure/ibm-quantum",
        "in_policy": True,
    }
    assert new_value not in response.body.decode()
    result = subprocess.run(
        [JUPYTER, "qsecure", "secrets", "check"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and f"{NAME}  keyring://qsecure/ibm-quantum  ok" in result.stdout
    response = await jp_fetch("qsecure", "secrets", NAME, method="DELETE")
    assert response.code == 204
    result = subprocess.run(
        [JUPYTER, "qsecure", "secrets", "check"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1 and "FAILED (not-found)" in result.stdout
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch(
            "qsecure", "secrets", NAME, method="PUT", body=json.dumps({"value": "short"})
        )
    assert caught.value.code == 400


@pytest.mark.parametrize(
    ("method", "body"), [("GET", None), ("PUT", '{"value": "abcdefghijkl"}'), ("DELETE", None)]
)
async def test_secrets_endpoints_require_authentication(
    granted: str, jp_fetch: Any, method: str, body: str | None
) -> None:
    parts = ("qsecure", "secrets") if method == "GET" else ("qsecure", "secrets", NAME)
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch(*parts, method=method, body=body, headers={"Authorization": ""})
    assert caught.value.code == 403  # API routes answer 403 without a token (docs/jupyterhub.md)


@pytest.fixture
def refusing_policy(
    keyring_env: dict[str, str], policy: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    policy(
        f'[secrets.{NAME}]\nsource = "keyring://qsecure/absent"\nnotebooks = ["**/*.ipynb"]\n\n[injection]\non_error = "refuse"\n'
    )


async def test_refuse_policy_stops_the_kernel_start_with_the_reason(
    refusing_policy: None, jp_fetch: Any
) -> None:
    with pytest.raises(HTTPClientError) as caught:
        await start_session(jp_fetch, "x.ipynb")
    message = json.loads(caught.value.response.body)["message"]
    assert "kernel start refused by jupyter-qsecure" in message
    assert "keyring://qsecure/absent: not in the keyring" in message


@pytest.fixture
def short_secret(policy: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHORT_PIN", "1234")
    monkeypatch.setenv("LONG_PIN", "12345678")
    policy(
        '[secrets.PIN]\nsource = "env://SHORT_PIN"\nnotebooks = ["*.ipynb"]\n\n'
        '[secrets.PIN_OK]\nsource = "env://SHORT_PIN"\nnotebooks = ["*.ipynb"]\nallow_short = true\n\n'
        '[secrets.LONG]\nsource = "env://LONG_PIN"\nnotebooks = ["*.ipynb"]\n'
    )


async def test_short_values_need_allow_short(
    short_secret: None, jp_fetch: Any, jp_serverapp: Any, audit_events: Any
) -> None:
    kernel_id = await start_session(jp_fetch, "pin.ipynb")
    messages, _ = await run_cell(
        jp_serverapp,
        kernel_id,
        "import os; print(sorted(k for k in ('PIN', 'PIN_OK', 'LONG', 'SHORT_PIN', 'LONG_PIN') if k in os.environ))",
    )
    text = outputs_text(messages)
    assert "['LONG', 'PIN_OK']" in text
    assert "values under 8 characters are not injected" in text
    [event] = [e for e in audit_events() if e["__schema__"].endswith("secret-denied/v1")]
    assert event["name"] == "PIN" and event["reason"] == "too-short"


def test_problems_are_said_once_per_reason_with_the_secrets_named() -> None:
    from jupyter_qsecure.secrets.provisioner import describe_problems

    locked = ("locked", "wrong keyring password: $QSECURE_KEYRING_PASSWORD does not unlock k")
    missing = ("not-found", "keyring://lab/c: not in the keyring")
    assert describe_problems({"B": locked, "C": missing, "A": locked}) == (
        f"A, B: {locked[1]}; C: {missing[1]}"
    )
