"""Fail closed: when jupyter-qsecure cannot load, nothing is saved unguarded, kernels get no
secrets, and the frontend is told.

Each step of the load is made to fail in turn through configuration (a service class whose
construction raises, set on the app's ``Type`` traits); the import of the extension itself
is made to fail by hiding its module. Each time a real server refuses saves of a clean and
of a leaking notebook, uploads and folder copies with ``503 qsecure-unavailable``, leaves
the files on disk as they were, starts kernels without secrets or the server's
credentials, and says why on ``GET /qsecure/status``.
"""

from __future__ import annotations

import base64
import json
import secrets
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import LAB_TOKEN_GRANT
from kernel_client import execute, start_session
from tornado.httpclient import HTTPClientError
from traitlets.config import Config

from jupyter_qsecure.guard import SaveGuard
from jupyter_qsecure.provenance import ProvenanceStore
from jupyter_qsecure.secrets.registry import KernelSecretRegistry
from jupyter_qsecure.secrets.service import SecretsService
from jupyter_qsecure.sessions import NotebookMoves
from jupyter_qsecure.signing.service import SigningService

INJECTED = "injected failure for the fail-closed tests"


def _broken(base: type) -> type:
    def refuse(self: Any, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError(INJECTED)

    return type(f"Broken{base.__name__}", (base,), {"__init__": refuse})


class PrefetchFails(SecretsService):
    """Secrets built, then the kernel provisioner's step fails (after its services were
    handed over): a half-started load."""

    def prefetch(self) -> Any:
        raise RuntimeError(INJECTED)


#: The load's steps, the trait that builds each one's service, and a class that cannot be built.
STEPS = {
    "kernel registry": ("kernel_registry_class", _broken(KernelSecretRegistry)),
    "leak guard": ("save_guard_class", _broken(SaveGuard)),
    "provenance": ("provenance_store_class", _broken(ProvenanceStore)),
    "secrets": ("secrets_service_class", _broken(SecretsService)),
    "signing": ("signing_service_class", _broken(SigningService)),
    "notebook moves": ("notebook_moves_class", _broken(NotebookMoves)),
    "kernel provisioner": ("secrets_service_class", PrefetchFails),
}


@pytest.fixture
def failing_step(request: pytest.FixtureRequest) -> str | None:
    return getattr(request, "param", None)


@pytest.fixture
def jp_server_config(jp_server_config: Config, failing_step: str | None) -> Config:
    if failing_step is not None:
        trait, broken = STEPS[failing_step]
        jp_server_config.QSecureApp[trait] = broken
    return jp_server_config


@pytest.fixture
def granted_secret(policy: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    value = f"lab-{secrets.token_hex(16)}"
    monkeypatch.setenv("LAB_TOKEN_SOURCE", value)
    monkeypatch.setenv("QSECURE_KEYRING_PASSWORD", f"server-{secrets.token_hex(8)}")
    policy(LAB_TOKEN_GRANT)
    return value


def _notebook(source: str) -> dict[str, Any]:
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [
            {
                "cell_type": "code",
                "id": "c1",
                "metadata": {},
                "source": source,
                "outputs": [],
                "execution_count": None,
            }
        ],
    }


async def _refused(jp_fetch: Any, *path: str, method: str, body: dict[str, Any]) -> dict[str, Any]:
    with pytest.raises(HTTPClientError) as refused:
        await jp_fetch(*path, method=method, body=json.dumps(body))
    assert refused.value.code == 503
    assert refused.value.response is not None
    answer: dict[str, Any] = json.loads(refused.value.response.body)
    assert answer["reason"] == "qsecure-unavailable"
    return answer


async def _assert_fails_closed(
    jp_fetch: Any, jp_serverapp: Any, root: Path, secret: str, why: str, *, loaded: bool = True
) -> None:
    (root / "kept.ipynb").write_text(json.dumps(_notebook("x = 1")), encoding="utf-8")
    before = (root / "kept.ipynb").read_bytes()
    leak = "token = 'ghp_" + secrets.token_hex(18) + "'"
    for name, source in (("kept.ipynb", "x = 2"), ("leak.ipynb", leak), ("new.ipynb", "y = 1")):
        answer = await _refused(
            jp_fetch,
            "api",
            "contents",
            name,
            method="PUT",
            body={"type": "notebook", "content": _notebook(source)},
        )
        assert why in answer["message"] and "still in the editor" in answer["message"]
    assert (root / "kept.ipynb").read_bytes() == before
    assert not (root / "leak.ipynb").exists() and not (root / "new.ipynb").exists()
    chunk = base64.b64encode(b"data\n").decode()
    await _refused(
        jp_fetch,
        "api",
        "contents",
        "upload.txt",
        method="PUT",
        body={"type": "file", "format": "base64", "chunk": 1, "content": chunk},
    )
    (root / "folder").mkdir()
    (root / "folder" / ".env").write_text(leak + "\n", encoding="utf-8")
    if loaded:  # folder copies are refused by our contents handler (see docs/admin.md)
        await _refused(jp_fetch, "api", "contents", method="POST", body={"copy_from": "folder"})
    await _refused(jp_fetch, "api", "contents", method="POST", body={"copy_from": "kept.ipynb"})
    assert sorted(p.name for p in root.iterdir()) == ["folder", "kept.ipynb"]

    session = await start_session(jp_fetch, jp_serverapp, "kept.ipynb")
    try:
        outputs = await execute(
            session.client,
            "import os; print(sorted(k for k in ('LAB_TOKEN', 'QSECURE_KEYRING_PASSWORD',"
            " 'LAB_TOKEN_SOURCE') if k in os.environ), os.environ.get('QSECURE_SECRET_PROBLEMS'))",
            "c1",
        )
    finally:
        session.client.stop_channels()
    text = "".join(o.get("text", "") for o in outputs)
    assert text.startswith("[] ") and "did not load" in text
    assert secret not in text


@pytest.mark.parametrize("failing_step", list(STEPS), indirect=True)
async def test_a_failed_step_refuses_every_write(
    failing_step: str,
    granted_secret: str,
    jp_fetch: Any,
    jp_serverapp: Any,
    jp_root_dir: Path,
    audit_events: Any,
) -> None:
    status = json.loads((await jp_fetch("qsecure", "status")).body)
    assert status["ready"] is False and status["guard"] == "unavailable"
    assert status["reason"] == "qsecure-unavailable"
    assert failing_step in status["message"] and INJECTED in status["message"]
    await _assert_fails_closed(jp_fetch, jp_serverapp, jp_root_dir, granted_secret, failing_step)


async def test_a_complete_load_saves_and_says_so(
    granted_secret: str, jp_fetch: Any, jp_root_dir: Path
) -> None:
    status = json.loads((await jp_fetch("qsecure", "status")).body)
    assert status == {"ready": True, "version": status["version"], "guard": "on"}
    await jp_fetch(
        "api",
        "contents",
        "clean.ipynb",
        method="PUT",
        body=json.dumps({"type": "notebook", "content": _notebook("x = 1")}),
    )
    assert (jp_root_dir / "clean.ipynb").exists()


@pytest.fixture
def guard_off(policy: Any) -> None:
    policy("[guard]\nenabled = false\n")


async def test_guard_off_is_explicit_logged_and_audited(
    guard_off: None, jp_fetch: Any, qsecure_app: Any, jp_root_dir: Path
) -> None:
    status = json.loads((await jp_fetch("qsecure", "status")).body)
    assert status["ready"] is True and status["guard"] == "off"
    leak = "token = 'ghp_" + secrets.token_hex(18) + "'"
    await jp_fetch(
        "api",
        "contents",
        "leak.ipynb",
        method="PUT",
        body=json.dumps({"type": "notebook", "content": _notebook(leak)}),
    )
    assert (jp_root_dir / "leak.ipynb").exists()  # the admin's explicit choice
    trail = (qsecure_app._state_dir() / "audit.jsonl").read_text(encoding="utf-8")
    [started] = [json.loads(line) for line in trail.splitlines() if "guard-state" in line]
    assert started["state"] == "off" and started["policy"].endswith("qsecure.toml")


@pytest.fixture
def extension_unimportable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The extension's module cannot be imported (a broken dependency, say)."""
    monkeypatch.setitem(sys.modules, "jupyter_qsecure.app", None)


async def test_an_extension_that_cannot_import_refuses_every_write(
    extension_unimportable: None,
    granted_secret: str,
    jp_fetch: Any,
    jp_serverapp: Any,
    jp_root_dir: Path,
) -> None:
    with pytest.raises(HTTPClientError) as missing:
        await jp_fetch("qsecure", "status")
    assert missing.value.code == 404  # the frontend reads this as unavailable
    await _assert_fails_closed(
        jp_fetch, jp_serverapp, jp_root_dir, granted_secret, "did not load", loaded=False
    )


@pytest.mark.parametrize("failing_step", list(STEPS), indirect=True)
async def test_after_a_failed_step_every_route_answers_json_with_a_reason(
    failing_step: str, keyring_env: dict[str, str], jp_fetch: Any, server_log: Any
) -> None:
    """A route whose service the load did not build answers 503 qsecure-unavailable naming
    the step; none answers jupyter_server's 500 without a reason (or a traceback)."""
    from test_server_authorization import ROUTES

    unavailable: set[str] = set()
    for route in ROUTES:
        if route.resource in ("sessions", "kernels", "events"):  # jupyter_server's answers
            continue
        url, _, query = route.url.partition("?")
        params = dict(p.split("=", 1) for p in query.split("&")) if query else None
        body = json.dumps(route.body if route.body is not None else {})
        refused: HTTPClientError | None = None
        try:
            await jp_fetch(
                *url.split("/"),
                method=route.method,
                params=params,
                body=body if route.method in ("POST", "PUT", "PATCH") else None,
            )
        except HTTPClientError as error:
            refused = error
        if refused is None:
            continue
        assert refused.response is not None
        status, answer = refused.code, json.loads(refused.response.body or b"{}")
        where = f"{route.method} {url}"
        assert status != 500 or answer.get("reason") != "qsecure-error", where
        assert isinstance(answer.get("reason"), str) and answer["reason"], where
        assert "traceback" not in answer, where
        if url.startswith("api/contents") and route.method != "GET":
            # A rename, a delete, a checkpoint's creation or restore: refused as saves are.
            assert (status, answer["reason"]) == (503, "qsecure-unavailable"), where
        if status == 503 and answer["reason"] == "qsecure-unavailable":
            assert failing_step in answer["message"], where
            unavailable.add(where)
    if failing_step in UNBUILT:
        assert UNBUILT[failing_step] in unavailable
    assert "Traceback" not in server_log()


#: A route answered by the service a failed step did not build.
UNBUILT = {
    "kernel registry": "GET qsecure/secrets",
    "leak guard": "GET qsecure/bypass",
    "provenance": "POST qsecure/provenance/checkpoint",
    "secrets": "GET qsecure/secrets",
    "signing": "GET qsecure/signing/setup",
}


@pytest.fixture
def terminal_environment(monkeypatch: pytest.MonkeyPatch) -> Any:
    """terminado's environment for a new terminal, as a server that has not stripped it
    yet makes it (set before the server starts)."""
    import os

    from terminado.management import TermManagerBase

    monkeypatch.setattr(TermManagerBase, "make_term_env", lambda self, **_: dict(os.environ))
    return lambda: TermManagerBase(shell_command=["sh"]).make_term_env()


@pytest.mark.parametrize("failing_step", ["kernel registry", "secrets"], indirect=True)
async def test_after_a_failed_load_terminals_get_no_server_credentials(
    failing_step: str, granted_secret: str, terminal_environment: Any, jp_serverapp: Any
) -> None:
    """As kernels: a terminal started while the load failed loses the server's
    credentials and the variables the policy's env:// sources read."""
    env = terminal_environment()
    assert "LAB_TOKEN_SOURCE" not in env and "QSECURE_KEYRING_PASSWORD" not in env
    assert granted_secret not in json.dumps(env)
