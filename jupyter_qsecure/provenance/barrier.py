"""The save barrier: a save of a notebook waits until its kernels have stored the record of
every execution that finished before the save arrived.

A kernel's recorder stores records from a background thread after the kernel goes idle,
so a save right after a run (Shift+Enter then Ctrl+S) can come first. Before a notebook
is saved, the server sends each kernel running for it a ``qsecure_flush_request`` on the
kernel's control channel (served by its own thread, so a running cell does not delay the
answer); the recorder stores every execution it has counted as finished, which it does
before the kernel tells any client the execution is over, then replies. The save then
goes on and the pre-save hook embeds what the store holds.

Bounded: a dead kernel is not asked; a kernel that does not answer within ``timeout``
(no recorder in it, or a hung one) does not hold the save longer, and once it has failed
to answer it is given :data:`RETRY_TIMEOUT` on later saves until it answers again.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

import zmq
from jupyter_client.session import Session

from .._shown import logged
from .kernel import FLUSH_REPLY, FLUSH_REQUEST

#: How long a save waits for a kernel's records by default (seconds).
DEFAULT_TIMEOUT = 5.0
#: How long a save waits for a kernel that did not answer before (seconds).
RETRY_TIMEOUT = 0.25

log = logging.getLogger(__name__)


def _control_url(info: dict[str, Any]) -> str:
    transport, ip, port = info["transport"], info["ip"], info["control_port"]
    return f"tcp://{ip}:{port}" if transport == "tcp" else f"{transport}://{ip}-{port}"


def flush_kernel(info: dict[str, Any], timeout: float) -> dict[str, Any] | None:
    """Ask the kernel with connection ``info`` to store its finished executions; its
    answer, or None when none came within ``timeout`` seconds. Blocking."""
    session = Session(
        key=info.get("key", b""),
        signature_scheme=info.get("signature_scheme", "hmac-sha256"),
        username="qsecure-save",
    )
    socket: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.DEALER)
    socket.linger = 0
    try:
        socket.connect(_control_url(info))
        request = session.send(socket, FLUSH_REQUEST, {"timeout": timeout})
        assert request is not None  # None only for a socket closed already
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            if not socket.poll(int(remaining * 1000) + 1):
                return None
            _, reply = session.recv(socket, mode=zmq.NOBLOCK)
            if (
                reply
                and reply["msg_type"] == FLUSH_REPLY
                and reply["parent_header"].get("msg_id") == request["header"]["msg_id"]
            ):
                content = reply["content"]
                return dict(content) if isinstance(content, dict) else None
        return None
    finally:
        socket.close()


class SaveBarrier:
    """Waits for the records of the kernels running for a notebook (see the module)."""

    def __init__(
        self, kernel_manager: Any, session_manager: Any, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        self.kernel_manager = kernel_manager
        self.session_manager = session_manager
        self.timeout = timeout
        #: Kernels that did not answer a flush (they are given RETRY_TIMEOUT).
        self.silent: set[str] = set()

    async def kernels_for(self, path: str) -> list[str]:
        """The ids of the kernels of the sessions open on ``path``."""
        path = path.strip("/")
        sessions = await self.session_manager.list_sessions()
        return sorted(
            {
                str(session["kernel"]["id"])
                for session in sessions
                if str(session.get("path", "")).strip("/") == path and session.get("kernel")
            }
        )

    async def _flush(self, kernel_id: str) -> dict[str, Any] | None:
        try:
            manager = self.kernel_manager.get_kernel(kernel_id)
        except KeyError:
            return None
        alive = manager.is_alive()
        if inspect.isawaitable(alive):
            alive = await alive
        if not alive:
            return None
        timeout = RETRY_TIMEOUT if kernel_id in self.silent else self.timeout
        answer = await asyncio.to_thread(flush_kernel, manager.get_connection_info(), timeout)
        if answer is None:
            if kernel_id not in self.silent:
                log.warning(
                    "jupyter-qsecure: kernel %s did not confirm its provenance records within"
                    " %.2f s; saving without waiting for it",
                    logged(kernel_id),
                    timeout,
                )
            self.silent.add(kernel_id)
        else:
            self.silent.discard(kernel_id)
            if not answer.get("complete", True):
                log.warning(
                    "jupyter-qsecure: kernel %s has not stored every record yet; the save"
                    " embeds those it has",
                    logged(kernel_id),
                )
        return answer

    async def wait(self, path: str) -> dict[str, dict[str, Any] | None]:
        """Flush the kernels running for ``path``; kernel id -> its answer (None: none).
        Never raises: the save goes on whatever happens here."""
        try:
            kernels = await self.kernels_for(path)
            answers = await asyncio.gather(
                *(self._flush(kernel_id) for kernel_id in kernels), return_exceptions=True
            )
        except Exception as error:
            log.error(
                "jupyter-qsecure: save barrier for %s failed: %s", logged(path), logged(error)
            )
            return {}
        result: dict[str, dict[str, Any] | None] = {}
        for kernel_id, answer in zip(kernels, answers, strict=True):
            if isinstance(answer, BaseException):
                log.error(
                    "jupyter-qsecure: save barrier, kernel %s: %s",
                    logged(kernel_id),
                    logged(answer),
                )
                result[kernel_id] = None
            else:
                result[kernel_id] = answer
        return result


def hold_saves(contents_manager: Any, barrier: SaveBarrier) -> None:
    """Make ``contents_manager.save`` of a notebook wait on ``barrier`` first (wrapped on
    the instance, so any ContentsManager class keeps its behaviour). A synchronous
    ContentsManager is left as it is: its saves run on the event loop, which a barrier
    would block."""
    save: Callable[..., Awaitable[Any]] = contents_manager.save
    if getattr(save, "qsecure_barrier", False) or not inspect.iscoroutinefunction(save):
        return

    @wraps(save)
    async def save_after_records(model: dict[str, Any], path: str = "") -> Any:
        if isinstance(model, dict) and model.get("type") == "notebook":
            await barrier.wait(path)
        return await save(model, path)

    save_after_records.qsecure_barrier = True  # type: ignore[attr-defined]
    contents_manager.save = save_after_records
