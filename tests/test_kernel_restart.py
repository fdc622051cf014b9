"""A kernel restarted from the browser answers again over the browser's websocket (its
secrets injected anew), as JupyterLab's Restart Kernel expects."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kernel_client import execute_over_websocket, open_session, wait_for_iopub

pytestmark = pytest.mark.slow  # real kernels


def _stdout(frames: list[Any]) -> str:
    messages = [json.loads(frame) for frame in frames if isinstance(frame, str)]
    return "".join(m["content"]["text"] for m in messages if m["msg_type"] == "stream")


async def test_a_restarted_kernel_answers_over_the_same_websocket(
    jp_fetch: Any, jp_ws_fetch: Any
) -> None:
    session = await open_session(jp_fetch, "lab/restart.ipynb", name="lab/restart.ipynb")
    kernel_id = session["kernel"]["id"]
    ws = await jp_ws_fetch("api", "kernels", kernel_id, "channels")
    client_session = uuid.uuid4().hex
    try:
        first = await execute_over_websocket(ws, client_session, "import os; print(os.getpid())")
        restarted = await jp_fetch("api", "kernels", kernel_id, "restart", method="POST", body="{}")
        # JupyterLab takes any other status for a failed restart and waits forever.
        assert restarted.code == 200
        assert json.loads(restarted.body)["id"] == kernel_id
        await wait_for_iopub(ws, client_session)
        second = await execute_over_websocket(
            ws, client_session, "import os; print(os.getpid())", 30
        )
    finally:
        ws.close()
    assert _stdout(first).strip() != _stdout(second).strip() != ""


@pytest.fixture
def lab_token(keyring_env: dict[str, str], policy: Callable[[str], Path]) -> str:
    """LAB_TOKEN in the encrypted-file keyring, granted to lab/ notebooks (before the
    server starts: it reads its policy once)."""
    import secrets
    import subprocess
    import sys

    policy(
        '[secrets.LAB_TOKEN]\nsource = "keyring://qsecure/lab-token"\n'
        'notebooks = ["lab/**/*.ipynb"]\n'
    )
    value = f"qsv-{secrets.token_hex(12)}"
    subprocess.run(
        [str(Path(sys.executable).parent / "jupyter"), "qsecure", "secrets", "set", "LAB_TOKEN"],
        input=value + "\n",
        text=True,
        check=True,
        capture_output=True,
        timeout=120,
    )
    return value


async def test_a_restarted_kernel_gets_its_secret_again(
    lab_token: str, jp_fetch: Any, jp_ws_fetch: Any, jp_root_dir: Path
) -> None:
    (jp_root_dir / "lab").mkdir()
    session = await open_session(jp_fetch, "lab/restart.ipynb", name="lab/restart.ipynb")
    kernel_id = session["kernel"]["id"]
    ws = await jp_ws_fetch("api", "kernels", kernel_id, "channels")
    client_session = uuid.uuid4().hex
    check = "import os; print(os.getpid(), 'LAB_TOKEN' in os.environ)"
    try:
        first = await execute_over_websocket(ws, client_session, check)
        await jp_fetch("api", "kernels", kernel_id, "restart", method="POST", body="{}")
        await wait_for_iopub(ws, client_session)
        second = await execute_over_websocket(ws, client_session, check, 30)
    finally:
        ws.close()
    assert _stdout(first).split()[1] == _stdout(second).split()[1] == "True"
    assert _stdout(first).split()[0] != _stdout(second).split()[0]
