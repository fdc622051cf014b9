"""binder/postBuild in a fresh virtualenv: the demo it seeds opens and works.

The build runs as repo2docker would (from the repository root, the environment's tools
first on PATH), with HOME, the Jupyter config dir and the demo folder in tmp_path, and
without qiskit to stay fast. Then the fresh venv's own tools check the result, and a real
server started through binder/start serves the secret and refuses the blocked save.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parent.parent
BUILD_TIMEOUT = 600  # pip install of the package and its dependencies (pip's cache helps)
TIMEOUT = 120  # any other command
SERVER_START = 60

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="binder images are Linux"),
    pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def binder(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | dict[str, str]]:
    """A fresh venv and the demo binder/postBuild seeded with it."""
    base = tmp_path_factory.mktemp("binder")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=TIMEOUT)
    home, work = base / "home", base / "work"
    home.mkdir()
    work.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("JUPYTER", "QSECURE", "XDG_", "PYTHON", "VIRTUAL_ENV", "KEYRING"))
    }
    env.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        HOME=str(home),
        JUPYTER_CONFIG_DIR=str(home / ".jupyter"),
        QSECURE_DEMO_DIR=str(work / "demo"),
        QSECURE_DEMO_SKIP_QISKIT="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
    )
    build = subprocess.run(
        [str(REPO / "binder" / "postBuild")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    # The build is idempotent: a second run keeps the keyring and succeeds.
    again = subprocess.run(
        [str(REPO / "binder" / "postBuild")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    return {"venv": venv, "home": home, "work": work, "demo": work / "demo", "env": env}


def run(binder: dict, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """A command of the fresh venv, through binder/start as the Binder server gets it."""
    command = [str(REPO / "binder" / "start"), str(binder["venv"] / "bin" / args[0]), *args[1:]]
    return subprocess.run(
        command,
        cwd=cwd or binder["work"],
        env=binder["env"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def test_build_wrote_no_secret_into_the_policy(binder: dict) -> None:
    policy = (binder["home"] / ".jupyter" / "qsecure.toml").read_text(encoding="utf-8")
    assert 'source = "keyring://qsecure/ibm-quantum"' in policy
    password = binder["home"] / ".qsecure" / "keyring-password"
    assert password.stat().st_mode & 0o077 == 0
    assert password.read_text(encoding="utf-8").strip() not in policy
    assert sorted(p.name for p in binder["demo"].glob("*.ipynb")) == [
        "1-blocked-save.ipynb",
        "2-token-from-environment.ipynb",
        "3-token-from-secret.ipynb",
        "4-signed-with-provenance.ipynb",
    ]


def test_extension_enabled_and_secret_answers(binder: dict) -> None:
    listed = run(binder, "jupyter", "server", "extension", "list")
    text = re.sub(r"\x1b\[[0-9;]*m", "", listed.stdout + listed.stderr)  # colours
    assert listed.returncode == 0, text
    assert "jupyter_qsecure enabled" in text
    assert re.search(r"jupyter_qsecure \S+ OK", text), text
    check = run(binder, "jupyter", "qsecure", "secrets", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "IBM_QUANTUM_TOKEN" in check.stdout and "ok" in check.stdout


def test_signed_notebook_verifies_and_carries_provenance(binder: dict) -> None:
    signed = binder["demo"] / "4-signed-with-provenance.ipynb"
    allowed = binder["home"] / ".jupyter" / "allowed_signers"
    verify = run(
        binder, "jupyter", "qsecure", "verify", str(signed), "--allowed-signers", str(allowed)
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "signed and valid" in verify.stdout
    provenance = run(binder, "jupyter", "qsecure", "provenance", str(signed))
    assert provenance.returncode == 0, provenance.stdout + provenance.stderr
    assert "every cell executed as shown" in provenance.stdout
    # The secret reached the kernel and was masked in the saved outputs.
    assert "[secret:IBM_QUANTUM_TOKEN]" in signed.read_text(encoding="utf-8")


def test_blocked_save_demo_is_refused_by_the_scanner(binder: dict, tmp_path: Path) -> None:
    clean = run(binder, "jupyter", "qsecure", "scan", str(binder["demo"]))
    assert clean.returncode == 0, clean.stdout + clean.stderr
    executed = tmp_path / "executed.ipynb"
    shutil.copy(binder["demo"] / "1-blocked-save.ipynb", executed)
    execute = run(binder, "jupyter", "execute", "--inplace", str(executed), cwd=tmp_path)
    assert execute.returncode == 0, execute.stdout + execute.stderr
    scan = run(binder, "jupyter", "qsecure", "scan", str(executed))
    assert scan.returncode == 1, scan.stdout + scan.stderr
    assert "IBM Quantum token" in scan.stdout


def test_server_serves_the_secret_and_refuses_the_blocked_save(
    binder: dict, tmp_path: Path
) -> None:
    # The notebook the server is asked to save: the blocked-save demo, executed.
    executed = tmp_path / "executed.ipynb"
    shutil.copy(binder["demo"] / "1-blocked-save.ipynb", executed)
    execute = run(binder, "jupyter", "execute", "--inplace", str(executed), cwd=tmp_path)
    assert execute.returncode == 0, execute.stdout + execute.stderr
    content = json.loads(executed.read_text(encoding="utf-8"))

    port, token = free_port(), secrets.token_hex(16)
    command = [
        str(REPO / "binder" / "start"),
        str(binder["venv"] / "bin" / "jupyter"),
        "server",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={binder['work']}",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        command, cwd=binder["work"], env=binder["env"], stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"token {token}"}

    def request(method: str, path: str, body: object = None) -> tuple[int, str]:
        response = requests.request(method, base + path, json=body, headers=headers, timeout=30)
        return response.status_code, response.text

    try:
        deadline = time.monotonic() + SERVER_START
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            try:
                status, _ = request("GET", "/api/status")
                if status == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "server.log").read_text()
            time.sleep(0.3)

        status, body = request("GET", "/qsecure/secrets?path=demo/3-token-from-secret.ipynb")
        assert status == 200, body
        answer = json.loads(body)
        assert answer["policy_error"] in (None, "")
        assert "IBM_QUANTUM_TOKEN" in body

        status, body = request(
            "PUT", "/api/contents/demo/executed.ipynb", {"type": "notebook", "content": content}
        )
        assert status == 422, body
        assert "IBM Quantum token" in body
        assert not (binder["demo"] / "executed.ipynb").exists()

        # A notebook without the token saves.
        clean = json.loads((binder["demo"] / "2-token-from-environment.ipynb").read_text("utf-8"))
        status, body = request(
            "PUT", "/api/contents/demo/copy.ipynb", {"type": "notebook", "content": clean}
        )
        assert status in (200, 201), body
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        log.close()
