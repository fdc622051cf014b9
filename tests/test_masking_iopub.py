"""Masking never stalls a kernel's output: a real server's kernel, with a secret.

ipykernel sends output from its IOPub thread; every other thread wakes that thread through
its own event pipe, which holds about 2,000 wake-ups. A cell printing with ``flush=True``
fills the main thread's pipe, and the next message the main thread sends blocks until the
IOPub thread reads it. The masking must never make the IOPub thread wait for that sender
(it did: the sender held the masking's lock while blocked, and the IOPub thread, flushing
buffered output, waited for the lock; the kernel hung without a word).
"""

from __future__ import annotations

import json
import os
import queue
from pathlib import Path
from typing import Any

from kernel_client import TIMEOUT, start_session

from jupyter_qsecure.secrets.masking import masked_run

#: The main thread blocks in its full event pipe while sending a comm message (no stream
#: flush first, as widgets send); the IOPub thread then flushes buffered output, as its
#: flush timer does. Forced, but each step is what a cell mixing prints and widget updates
#: does under load (ipykernel internals: the IOPub thread's schedule and event pipes).
INTERLEAVING = r"""
import os, sys, threading, time, zmq
from comm import create_comm
token = os.environ["LAB_TOKEN"]
iopub = get_ipython().kernel.iopub_thread
comm = create_comm(target_name="qsecure-pipe-test")
held, go, main_blocked = threading.Event(), threading.Event(), []

def hold_then_flush():
    held.set()
    go.wait(TIMEOUT)
    sys.stdout._flush()

sys.stdout.write("buffered " + token + "\n")
iopub.schedule(hold_then_flush)
held.wait(TIMEOUT)
pipe = iopub._event_pipe
while True:
    try:
        pipe.send(b"", zmq.NOBLOCK)
    except zmq.Again:
        break

def open_when_main_blocks():
    deadline = time.monotonic() + TIMEOUT
    main = threading.main_thread().ident
    while time.monotonic() < deadline:
        frame, names = sys._current_frames().get(main), set()
        while frame is not None:
            names.add(frame.f_code.co_name)
            frame = frame.f_back
        if "schedule" in names:
            main_blocked.append(True)
            break
        time.sleep(0.001)
    go.set()

threading.Thread(target=open_when_main_blocks, daemon=True).start()
comm.send({"token": token})
print("sent; main thread was blocked in the event pipe:", bool(main_blocked))
""".replace("TIMEOUT", str(TIMEOUT // 2))


async def _run_until_idle(client: Any, source: str) -> list[dict[str, Any]]:
    """The cell's output messages, in order, once the kernel is idle after it."""
    msg_id = client.execute(source)
    received: list[dict[str, Any]] = []
    while True:
        try:
            msg = await client.get_iopub_msg(timeout=TIMEOUT)
        except queue.Empty:
            raise AssertionError(
                f"the kernel hung: no output for {TIMEOUT} s, after {received}"
            ) from None
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return received
        if msg["msg_type"] in ("stream", "comm_msg", "error"):
            received.append({"msg_type": msg["msg_type"], **msg["content"]})


async def test_a_sender_blocked_in_the_iopub_event_pipe_does_not_hang_the_kernel(
    store_with_secret: Path, jp_fetch: Any, jp_serverapp: Any
) -> None:
    value = os.environ["LAB_TOKEN_SOURCE"]
    session = await start_session(jp_fetch, jp_serverapp, "lab/pipe.ipynb")
    try:
        received = await _run_until_idle(session.client, INTERLEAVING)
    finally:
        session.client.stop_channels()
    assert [m["msg_type"] for m in received] == ["comm_msg", "stream", "stream"], received
    comm, buffered, sent = received
    assert comm["data"] == {"token": "[secret:LAB_TOKEN]"}
    assert buffered["text"] == "buffered [secret:LAB_TOKEN]\n"
    assert sent["text"] == "sent; main thread was blocked in the event pipe: True\n"
    assert value not in json.dumps(received)


#: A slice from the middle of the value, written a few characters at a time, each write
#: sent at once (``flush=True``) and apart by more than the hold of a stream's tail.
SLICES_IN_PIECES = {
    "one character at a time": ("for c in token[3:]: print(c, end='', flush=True)\nprint()"),
    "two writes, apart": (
        "print(token[2:14], end='', flush=True); time.sleep(0.3)\nprint(token[14:30], flush=True)"
    ),
    "three at a time, apart": (
        "for at in range(1, 34, 3):\n"
        "    print(token[at:at + 3], end='', flush=True); time.sleep(0.15)\nprint()"
    ),
}


async def test_a_slice_written_in_pieces_shows_no_more_than_one_write(
    store_with_secret: Path, jp_fetch: Any, jp_serverapp: Any
) -> None:
    """JupyterLab joins a cell's stream writes into one text: pieces of a value sent in
    separate messages must leave as much of it hidden as one write of them would."""
    value = os.environ["LAB_TOKEN_SOURCE"]
    run = masked_run(len(value))
    session = await start_session(jp_fetch, jp_serverapp, "lab/pieces.ipynb")
    try:
        await _run_until_idle(session.client, "import os, time; token = os.environ['LAB_TOKEN']")
        for name, source in SLICES_IN_PIECES.items():
            received = await _run_until_idle(session.client, source)
            writes = [m["text"] for m in received if m["msg_type"] == "stream"]
            shown = "".join(writes)
            assert len(writes) > 1, name
            assert "[secret:LAB_TOKEN]" in shown, (name, shown)
            longest = max(
                n
                for n in range(len(value), 0, -1)
                for at in range(len(value) - n + 1)
                if value[at : at + n] in shown
            )
            assert longest < run, (name, shown)
    finally:
        session.client.stop_channels()
