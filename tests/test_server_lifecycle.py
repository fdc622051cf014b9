"""Real ``jupyter server`` processes with jupyter-qsecure enabled: a failed load and
jupyter_server's own failing start paths leave no traceback from our code and no process
behind, and a server whose load failed shuts its kernels down.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests  # a dependency of jupyterhub

pytestmark = pytest.mark.slow

START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
BROKEN_MODULE = """
from jupyter_qsecure.signing.service import SigningService


class BrokenSigning(SigningService):
    def __init__(self, *args, **kwargs):
        raise RuntimeError("injected failure for the lifecycle tests")
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server_env(tmp_path: Path) -> dict[str, str]:
    """A hermetic environment: Jupyter's dirs under tmp, the package's server config."""
    config = tmp_path / "config"
    (config / "jupyter_server_config.d").mkdir(parents=True)
    shipped = Path(__file__).parents[1] / "jupyter-config" / "jupyter_server_config.d"
    for file in shipped.glob("*.json"):
        (config / "jupyter_server_config.d" / file.name).write_text(file.read_text())
    (tmp_path / "helpers").mkdir()
    (tmp_path / "helpers" / "qsecure_broken.py").write_text(BROKEN_MODULE)
    (tmp_path / "root").mkdir()
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_CONFIG_PATH": str(config),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTER_PLATFORM_DIRS": "1",
        "PYTHONPATH": str(tmp_path / "helpers"),
        "QSECURE_CONFIG": str(tmp_path / "qsecure.toml"),
    }
    (tmp_path / "qsecure.toml").write_text("")
    return env


def _server(env: dict[str, str], root: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter_server",
            f"--ServerApp.root_dir={root}",
            "--ServerApp.ip=127.0.0.1",
            "--ServerApp.open_browser=False",
            "--ServerApp.allow_root=True",
            "--ServerApp.jpserver_extensions=jupyter_server_terminals=False",
            *args,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _our_tracebacks(output: str) -> list[str]:
    """Traceback blocks that pass through this package's code."""
    blocks = output.split("Traceback (most recent call last):")[1:]
    return [block for block in blocks if "jupyter_qsecure" in block]


def _finish(process: subprocess.Popen[str]) -> str:
    try:
        output, _ = process.communicate(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        pytest.fail(f"the server did not exit:\n{output[-3000:]}")
    return output


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--ServerApp.preferred_dir=/no/such/folder"], id="preferred_dir"),
        pytest.param(["--ServerApp.root_dir=/no/such/root"], id="root_dir"),
    ],
)
def test_failed_server_start_leaves_no_traceback_of_ours(
    server_env: dict[str, str], tmp_path: Path, args: list[str]
) -> None:
    process = _server(server_env, tmp_path / "root", f"--port={free_port()}", *args)
    output = _finish(process)
    assert process.returncode != 0
    assert not _our_tracebacks(output), output[-3000:]
    assert "AttributeError" not in output


def test_port_in_use_leaves_no_traceback_of_ours(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = _server(
            server_env, tmp_path / "root", f"--port={port}", "--ServerApp.port_retries=0"
        )
        output = _finish(process)
    assert process.returncode != 0
    assert not _our_tracebacks(output), output[-3000:]


@pytest.fixture
def running_server(
    server_env: dict[str, str], tmp_path: Path
) -> Iterator[tuple[str, str, subprocess.Popen[str]]]:
    token = secrets.token_hex(16)
    port = free_port()
    process = _server(
        server_env,
        tmp_path / "root",
        f"--port={port}",
        f"--IdentityProvider.token={token}",
        "--QSecureApp.signing_service_class=qsecure_broken.BrokenSigning",
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            requests.get(
                f"{url}/api/status", headers={"Authorization": f"token {token}"}, timeout=10
            )
            break
        except (requests.ConnectionError, requests.Timeout):  # not up yet, or slow to answer
            if process.poll() is not None:
                pytest.fail(f"the server exited:\n{_finish(process)[-3000:]}")
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("the server did not answer")
    yield url, token, process
    if process.poll() is None:
        process.kill()
        process.communicate()


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline:
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads running processes from /proc")
def test_a_server_whose_load_failed_refuses_saves_and_stops_its_kernels(
    running_server: tuple[str, str, subprocess.Popen[str]],
) -> None:
    url, token, process = running_server
    headers = {"Authorization": f"token {token}"}
    status = requests.get(f"{url}/qsecure/status", headers=headers, timeout=10).json()
    assert status["ready"] is False and "signing" in status["message"]
    notebook = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []}
    saved = requests.put(
        f"{url}/api/contents/a.ipynb",
        headers=headers,
        json={"type": "notebook", "content": notebook},
        timeout=10,
    )
    assert saved.status_code == 503 and saved.json()["reason"] == "qsecure-unavailable"
    session = requests.post(
        f"{url}/api/sessions",
        headers=headers,
        json={
            "path": "a.ipynb",
            "type": "notebook",
            "name": "a.ipynb",
            "kernel": {"name": "python3"},
        },
        timeout=60,
    )
    assert session.status_code == 201, session.text
    kernel_id = session.json()["kernel"]["id"]
    assert _processes_mentioning(f"kernel-{kernel_id}")
    process.send_signal(signal.SIGTERM)
    output = _finish(process)
    assert not _our_tracebacks(output), output[-3000:]
    deadline = time.monotonic() + STOP_TIMEOUT
    while _processes_mentioning(f"kernel-{kernel_id}") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _processes_mentioning(f"kernel-{kernel_id}")
    assert "injected failure" in output and json.dumps(status)  # the log names the cause
