"""A collaboration-mode autosave of the 1 MB benchmark notebook, with and without the guard.

Two Jupyter servers with jupyter-collaboration run side by side (one with jupyter-qsecure
disabled). A pycrdt client in each room changes one cell, and the time from the edit to
the notebook on disk holding it is measured; both servers have the same autosave delay
(subtracted), and the rounds alternate between them so that machine noise hits both
alike. Prints p50 of each, the added milliseconds (target: <= 15 ms), the ratio, and the
median of the per-round differences (less sensitive to the machine's load drifting).

On a loaded machine a save takes several times as long and single rounds swing by tens of
milliseconds, more than the guard adds. So each server also records the CPU time its
event loop spends in the ContentsManager's pre-save hooks at each save (the guard's scan
and the provenance hook; nothing in the server without jupyter-qsecure): time spent
waiting for a CPU is not counted there, so that figure holds under load.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from bench_save import Server
from jupyter_ydoc import YNotebook
from pycrdt import Provider, YMessageType
from tornado.websocket import websocket_connect
from workload import build_notebook

SAVES = 30
SAVE_DELAY = 0.05

#: Each server's ``jupyter_server_config.py``: appends, per save, the CPU time of the
#: thread running the pre-save hooks (the event loop's) to ``hooks-<pid>.txt``.
HOOK_TIMER = """
import os, time
from jupyter_server.services.contents.manager import ContentsManager

_run_hooks = ContentsManager.run_pre_save_hooks


def run_pre_save_hooks(self, model, path, **kwargs):
    start = time.thread_time()
    try:
        return _run_hooks(self, model, path, **kwargs)
    finally:
        spent = time.thread_time() - start
        with open(os.path.join({folder!r}, f"hooks-{{os.getpid()}}.txt"), "a") as out:
            out.write(f"{{spent}}\\n")


ContentsManager.run_pre_save_hooks = run_pre_save_hooks
"""


class Channel:
    """A pycrdt provider's channel over a tornado websocket (awareness skipped)."""

    def __init__(self, websocket: Any, path: str) -> None:
        self.websocket = websocket
        self.path = path

    def __aiter__(self) -> Channel:
        return self

    async def __anext__(self) -> bytes:
        while True:
            message = await self.websocket.read_message()
            if message is None:
                raise StopAsyncIteration
            if message[0] != YMessageType.AWARENESS:
                return bytes(message)

    async def send(self, message: bytes) -> None:
        await self.websocket.write_message(message, binary=True)

    async def recv(self) -> bytes:
        return await self.__anext__()


async def open_room(server: Server, path: str) -> tuple[Any, str]:
    session = json.loads(
        server.request(
            "PUT",
            f"/api/collaboration/session/{path}",
            json.dumps({"format": "json", "type": "notebook"}).encode(),
        )
    )
    room = f"json:notebook:{session['fileId']}"
    url = (
        f"ws://127.0.0.1:{server.port}/api/collaboration/room/{room}"
        f"?sessionId={session['sessionId']}&token={server.token}"
    )
    return await websocket_connect(url, max_message_size=64 * 1024 * 1024), room


async def written(file: Path, marker: bytes, timeout: float = 30.0) -> float:
    """Wait until ``file`` holds ``marker``; the time it happened (perf_counter)."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        try:
            if marker in file.read_bytes():
                return time.perf_counter()
        except OSError:
            pass
        await asyncio.sleep(0.001)
    raise RuntimeError(f"{file.name} was not saved with the edit within {timeout} s")


async def measure(servers: dict[str, tuple[Server, Path]]) -> dict[str, list[float]]:
    docs: dict[str, YNotebook] = {}
    times: dict[str, list[float]] = {name: [] for name in servers}
    async with AsyncExitStack() as stack:
        for name, (server, _) in servers.items():
            websocket, room = await open_room(server, "analysis.ipynb")
            stack.callback(websocket.close)
            doc = YNotebook()
            await stack.enter_async_context(Provider(doc.ydoc, Channel(websocket, room)))
            docs[name] = doc
            deadline = time.perf_counter() + 60
            while len(doc.ycells) < 600 and time.perf_counter() < deadline:
                await asyncio.sleep(0.05)
        for round_ in range(SAVES + 3):
            for name, (_, root) in servers.items():
                marker = f"edit_{round_}_{name}"
                source = docs[name].ycells[1]["source"]
                start = time.perf_counter()
                source += f"\n{marker} = {round_}"
                done = await written(root / "analysis.ipynb", marker.encode())
                if round_ >= 3:  # warm-up
                    times[name].append(done - start - SAVE_DELAY)
                await asyncio.sleep(0.3)  # let compaction and the file watcher settle
    return times


def main() -> int:
    notebook = json.dumps(build_notebook())
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "config"
        config.mkdir()
        (config / "jupyter_server_config.json").write_text(
            json.dumps(
                {
                    "YDocExtension": {
                        "document_save_delay": SAVE_DELAY,
                        "file_poll_interval": 60,
                    }
                }
            )
        )
        (config / "jupyter_server_config.py").write_text(HOOK_TIMER.format(folder=folder))
        # The server without jupyter-qsecure keeps its Y store in its working directory.
        os.chdir(folder)
        os.environ["JUPYTER_CONFIG_DIR"] = str(config)
        os.environ["JUPYTER_DATA_DIR"] = str(Path(folder) / "data")
        servers = {}
        for name, with_guard in (("guarded", True), ("plain", False)):
            root = Path(folder) / name
            root.mkdir()
            (root / "analysis.ipynb").write_text(notebook, encoding="utf-8")
            servers[name] = (Server(root, with_guard), root)
        try:
            times = asyncio.run(measure(servers))
        finally:
            for server, _ in servers.values():
                server.stop()
            os.chdir(Path(__file__).parent)
        hooks = {name: hook_times(Path(folder), server) for name, (server, _) in servers.items()}
    guarded = statistics.median(times["guarded"]) * 1000
    plain = statistics.median(times["plain"]) * 1000
    # Each round's two saves ran back to back: their difference is less noisy.
    paired = statistics.median(g - p for g, p in zip(times["guarded"], times["plain"], strict=True))
    print(
        f"collaboration-mode autosave of a {len(notebook):,}-byte notebook (edit to disk, "
        f"autosave delay subtracted), p50 of {SAVES}:"
    )
    print(f"  without jupyter-qsecure: {plain:7.2f} ms")
    print(f"  with the guard:          {guarded:7.2f} ms")
    print(
        f"  added by the guard: {guarded - plain:+.2f} ms (target <= 15 ms), "
        f"ratio {guarded / plain:.2f}"
    )
    print(f"  median of the paired per-round differences: {paired * 1000:+.2f} ms")
    print(
        "  CPU time in the pre-save hooks per autosave, p50: "
        f"{statistics.median(hooks['guarded']) * 1000:.2f} ms with the guard, "
        f"{statistics.median(hooks['plain']) * 1000:.2f} ms without"
    )
    return 0


def hook_times(folder: Path, server: Server) -> list[float]:
    """The CPU time of ``server``'s pre-save hooks at each measured save (the warm-up
    saves left out)."""
    lines = (folder / f"hooks-{server.process.pid}.txt").read_text().split()
    return [float(line) for line in lines][-SAVES:]


if __name__ == "__main__":
    sys.exit(main())
