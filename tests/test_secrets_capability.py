"""The refresh capability: out of the kernel's environment, masked, and useless without
its kernel's id from loopback."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import LAB_TOKEN_GRANT
from kernel_client import open_session
from test_secrets_server import outputs_text, run_cell
from tornado.httpclient import HTTPClientError

from jupyter_qsecure.secrets.registry import KernelSecretRegistry, KernelSecrets


@pytest.fixture
def lab_token(policy: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    value = "lab-token-0123456789abcdef"
    monkeypatch.setenv("LAB_TOKEN_SOURCE", value)
    policy(LAB_TOKEN_GRANT)
    return value


async def _refresh(jp_fetch: Any, capability: str, kernel_id: str | None) -> int:
    headers = {"Authorization": f"qsecure-capability {capability}"}
    if kernel_id is not None:
        headers["X-QSecure-Kernel-Id"] = kernel_id
    try:
        response = await jp_fetch(
            "qsecure", "kernel", "refresh", method="POST", body="{}", headers=headers
        )
    except HTTPClientError as error:
        return int(error.code)
    return int(response.code)


async def test_capability_is_hidden_masked_and_bound_to_its_kernel(
    lab_token: str, jp_fetch: Any, jp_serverapp: Any, qsecure_app: Any
) -> None:
    first = (await open_session(jp_fetch, "a.ipynb"))["kernel"]["id"]
    second = (await open_session(jp_fetch, "b.ipynb"))["kernel"]["id"]
    capability = qsecure_app.registry.get(first).capability
    messages, _ = await run_cell(
        jp_serverapp,
        first,
        "import os, jupyter_qsecure.kernel as k\n"
        "print(sorted(n for n in os.environ if n in ('QSECURE_KERNEL_CAPABILITY', 'QSECURE_SERVER_URL')))\n"
        "print(k._connection['QSECURE_KERNEL_CAPABILITY'])\n"
        "print(jupyter_qsecure.refresh() if False else 'ok')",
    )
    text = outputs_text(messages)
    assert "[]" in text and "[secret:QSECURE_KERNEL_CAPABILITY]" in text
    assert capability not in text

    assert await _refresh(jp_fetch, capability, first) == 200
    assert await _refresh(jp_fetch, capability, None) == 403
    assert await _refresh(jp_fetch, capability, second) == 403
    response = await jp_fetch(
        "api",
        "contents",
        "leak.ipynb",
        method="PUT",
        body=json.dumps({"type": "file", "format": "text", "content": f"cap = {capability}\n"}),
        raise_error=False,
    )
    assert response.code != 201 and capability not in response.body.decode()


def test_capability_needs_loopback() -> None:
    registry = KernelSecretRegistry()
    registry.remember(KernelSecrets("k1", {}, "cap-123", "alice", None, None))
    assert registry.for_refresh("cap-123", "k1", "127.0.0.1") is not None
    assert registry.for_refresh("cap-123", "k1", "::1") is not None
    assert registry.for_refresh("cap-123", "k1", "10.0.0.7") is None
    assert registry.for_refresh("cap-123", "k2", "127.0.0.1") is None
    assert registry.for_refresh("", "k1", "127.0.0.1") is None
    assert registry.for_refresh("cap-123", "k1", "not an address") is None


def test_a_capability_or_kernel_id_beyond_ascii_is_refused_not_a_crash() -> None:
    # hmac.compare_digest raises TypeError for such text: POST /qsecure/kernel/refresh
    # answered 500 with a traceback in the log, to anyone (the route takes no login).
    registry = KernelSecretRegistry()
    registry.remember(KernelSecrets("k1", {}, "cap-123", "alice", None, None))
    for capability, kernel_id in (("cap-é", "k1"), ("cap-123", "k1-é"), ("\ud800", "k1")):
        assert registry.for_refresh(capability, kernel_id, "127.0.0.1") is None
    assert registry.for_refresh("cap-123", "k1", "127.0.0.1") is not None


async def test_a_refresh_with_a_header_beyond_ascii_is_a_403(
    lab_token: str, jp_fetch: Any, qsecure_app: Any
) -> None:
    kernel = (await open_session(jp_fetch, "a.ipynb"))["kernel"]["id"]
    capability = qsecure_app.registry.get(kernel).capability
    assert await _refresh(jp_fetch, "cap-\u00e9", kernel) == 403
    assert await _refresh(jp_fetch, capability, f"{kernel}\u00e9") == 403
    assert await _refresh(jp_fetch, capability, kernel) == 200
