"""Save a 1 MB notebook through a real Jupyter server, with and without the guard.

Two servers run side by side (one with jupyter-qsecure disabled), and saves alternate
between them so that machine noise hits both alike. Prints p50 of each, the added
milliseconds (target: <= 15 ms) and the ratio.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from workload import build_notebook

SAVES = 40


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A `jupyter server` subprocess on loopback with a token."""

    def __init__(self, root: Path, with_guard: bool) -> None:
        self.port = free_port()
        self.token = secrets.token_hex(16)
        args = [
            str(Path(sys.executable).parent / "jupyter"),
            "server",
            "--no-browser",
            f"--ServerApp.port={self.port}",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.root_dir={root}",
            f"--IdentityProvider.token={self.token}",
            "--ServerApp.port_retries=0",
            "--allow-root",
        ]
        if not with_guard:
            args.append("--ServerApp.jpserver_extensions=jupyter_qsecure=False")
        env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(root.parent / f"runtime-{self.port}")}
        self.process = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=None if os.environ.get("BENCH_VERBOSE") else subprocess.DEVNULL,
            env=env,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                self.request("GET", "/api/status")
                return
            except OSError:
                time.sleep(0.2)
        self.process.kill()
        raise RuntimeError("the server did not start within 60 s")

    def request(self, method: str, path: str, body: bytes | None = None) -> bytes:
        headers = {"Authorization": f"token {self.token}", "Content-Type": "application/json"}
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        data = response.read()
        if response.status >= 400:
            raise RuntimeError(f"{method} {path}: {response.status} {data[:200]!r}")
        return data

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def main() -> int:
    body = json.dumps({"type": "notebook", "format": "json", "content": build_notebook()}).encode()
    with tempfile.TemporaryDirectory() as folder:
        servers = {}
        for name, with_guard in (("guarded", True), ("plain", False)):
            root = Path(folder) / name
            root.mkdir()
            servers[name] = Server(root, with_guard)
        try:
            times: dict[str, list[float]] = {name: [] for name in servers}
            for round_ in range(SAVES + 3):
                for name, server in servers.items():
                    start = time.perf_counter()
                    server.request("PUT", "/api/contents/analysis.ipynb", body)
                    if round_ >= 3:  # warm-up
                        times[name].append(time.perf_counter() - start)
        finally:
            for server in servers.values():
                server.stop()
    guarded = statistics.median(times["guarded"]) * 1000
    plain = statistics.median(times["plain"]) * 1000
    print(f"save of a {len(body):,}-byte notebook model through jupyter_server, p50 of {SAVES}:")
    print(f"  without jupyter-qsecure: {plain:7.2f} ms")
    print(f"  with the guard:          {guarded:7.2f} ms")
    print(
        f"  added by the guard: {guarded - plain:+.2f} ms (target <= 15 ms), ratio {guarded / plain:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
