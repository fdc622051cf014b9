"""Channels other than a cell's outputs, through a real server and a real kernel holding
granted secrets: what the browser receives on the kernel's websocket for shell replies
(inspection, completion, history, ``is_complete``, kernel and comm info), the debugger
(variables, a stop at a breakpoint: stack, scopes, ``evaluate``, a log point), comm
messages (a widget's state), the stdin channel, errors and warnings; and the files the
kernel writes beside the notebook that the server then serves.

Each value is looked for in every form :func:`test_masking_matrix.needles` lists, quoted
as YAML, CSV, XML and SQL write it, and cut short or folded as displays show it.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kernel_client import policy_granting
from test_masking_angles import _cut_needles, _quoted_needles
from test_masking_matrix import SETUP, _leaks, make_values

Frames = list[Any]


@pytest.fixture
def granted(policy: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The matrix's values and a 64-character key, granted to every notebook."""
    values = {**make_values(), "API_KEY": uuid.uuid4().hex + uuid.uuid4().hex}
    policy(policy_granting(values, monkeypatch))
    return values


def _found(text: str, values: dict[str, str]) -> list[tuple[str, str]]:
    """(name, what was seen) for every value seen in ``text`` in any form it may not be."""
    return _leaks(text, values) + [
        (name, needle)
        for name, value in values.items()
        for needle in _quoted_needles(value) | _cut_needles(value)
        if len(needle) >= 8 and needle in text
    ]


def _parse(frame: str | bytes) -> dict[str, Any]:
    """A message as the server sends it: JSON text, or binary with its buffers after
    (a count, offsets, the JSON, the buffers)."""
    if isinstance(frame, str):
        return dict(json.loads(frame))
    count = int.from_bytes(frame[:4], "big")
    offsets = [int.from_bytes(frame[4 + 4 * i : 8 + 4 * i], "big") for i in range(count)]
    end = offsets[1] if count > 1 else len(frame)
    return dict(json.loads(frame[offsets[0] : end]))


class Kernel:
    """A browser's websocket on a notebook's kernel: requests on any channel, every frame
    received kept."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.session = uuid.uuid4().hex
        self.frames: Frames = []
        self.seq = 0

    def message(self, msg_type: str, content: dict[str, Any], channel: str) -> dict[str, Any]:
        from kernel_client import _websocket_request

        msg = _websocket_request(self.session, msg_type, content)
        msg["channel"] = channel
        return msg

    async def until(self, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """Read frames until one (JSON) for which ``done`` holds; that message."""
        while True:
            frame = await asyncio.wait_for(self.ws.read_message(), 60)
            assert frame is not None, "the websocket closed"
            self.frames.append(frame)
            msg = _parse(frame)
            if done(msg):
                return msg

    async def request(
        self, msg_type: str, content: dict[str, Any], channel: str = "shell", answer: Any = None
    ) -> dict[str, Any]:
        """Send a request; its reply, once the kernel is idle after it (an
        ``input_request`` answered with ``answer``)."""
        msg = self.message(msg_type, content, channel)
        msg_id = msg["header"]["msg_id"]
        await self.ws.write_message(json.dumps(msg))
        reply: dict[str, Any] = {}
        idle = False
        while not (reply and idle):
            got = await self.until(lambda m: m.get("parent_header", {}).get("msg_id") == msg_id)
            kind = got["msg_type"]
            if kind.endswith("_reply"):
                reply = got
            elif kind == "status" and got["content"]["execution_state"] == "idle":
                idle = True
            elif kind == "input_request" and answer is not None:
                back = self.message("input_reply", {"value": answer}, "stdin")
                await self.ws.write_message(json.dumps(back))
        return reply

    async def run(self, code: str, answer: Any = None, **options: Any) -> dict[str, Any]:
        """Execute ``code`` as a cell; its ``execute_reply`` (a prompt answered with
        ``answer``)."""
        content = {
            "code": code,
            "silent": False,
            "store_history": True,
            "user_expressions": {},
            "allow_stdin": False,
            **options,
        }
        return await self.request("execute_request", content, answer=answer)

    async def debug(self, command: str, **arguments: Any) -> dict[str, Any]:
        """A Debug Adapter Protocol request on the control channel; its body."""
        self.seq += 1
        content = {"type": "request", "seq": self.seq, "command": command, "arguments": arguments}
        reply = await self.request("debug_request", content, channel="control")
        return dict(reply["content"])

    def received(self) -> str:
        return "\n".join(f if isinstance(f, str) else f.decode("latin-1") for f in self.frames)


HOLDER = """
class Holder:
    def __init__(self, secret):
        self.secret = secret
    def __repr__(self):
        return f"Holder(secret={self.secret!r})"
h = Holder(V[0])
d = {V[0]: V[1], 'pem': V[2], 'key': V[6], 'nested': {'a': [V[5], V[3]]}}
s = V[6]
"""


async def shell_replies(k: Kernel) -> None:
    """Contextual help, completion, history with outputs, is_complete, kernel and comm info."""
    for code in ("V[0]", "d", "h", "s"):
        await k.run(code)  # results in the output history
    for code in ("h", "d", "s", "h.secret", "V[2]", "d['key']"):
        for level in (0, 1):
            await k.request(
                "inspect_request", {"code": code, "cursor_pos": len(code), "detail_level": level}
            )
    for code in ("d['", 'd["', "h.", "h.secret.", "d['nested']['", "os.environ['SRC"):
        await k.request("complete_request", {"code": code, "cursor_pos": len(code)})
    for content in (
        {"output": True, "raw": True, "hist_access_type": "tail", "n": 100},
        {"output": True, "raw": False, "hist_access_type": "range", "session": 0, "start": 0},
        {"output": True, "raw": True, "hist_access_type": "search", "pattern": "*", "n": 100},
    ):
        await k.request("history_request", content)
    await k.run("%history -o -n -p")
    await k.run("%history -o -g d")
    for code in ("print(V[0]", "d", "h.secret +"):
        await k.request("is_complete_request", {"code": code})
    await k.request("kernel_info_request", {})
    await k.request("comm_info_request", {})


async def debugger(k: Kernel) -> None:
    """JupyterLab's debugger: variables panel, a stop at a breakpoint (stack, scopes,
    variables, evaluate in each context, rich inspection) and a log point."""
    body = await k.debug(
        "initialize",
        clientID="jupyterlab",
        clientName="JupyterLab",
        adapterID="python",
        pathFormat="path",
        linesStartAt1=True,
        columnsStartAt1=True,
        supportsVariableType=True,
        supportsVariablePaging=True,
        supportsRunInTerminalRequest=True,
        locale="en",
    )
    assert body.get("success"), body
    await k.debug("attach")
    await k.debug("debugInfo")
    listed = await k.debug("inspectVariables")
    for variable in listed["body"]["variables"]:
        if variable["name"] in ("d", "h", "V") and variable.get("variablesReference"):
            await k.debug("variables", variablesReference=variable["variablesReference"])
    for name in ("d", "h", "s", "V"):
        await k.debug("richInspectVariables", variableName=name)
    code = "def f(x):\n    y = {'x': x, 'h': h}\n    return len(y)\nf(V[0])\n"
    dumped = await k.debug("dumpCell", code=code)
    source = dumped["body"]["sourcePath"]
    await k.debug(
        "setBreakpoints",
        source={"path": source},
        breakpoints=[{"line": 3}, {"line": 2, "logMessage": "x is {x}"}],
        sourceModified=False,
    )
    await k.debug("configurationDone")
    msg = k.message(
        "execute_request",
        {"code": code, "silent": False, "store_history": True, "allow_stdin": False},
        "shell",
    )
    await k.ws.write_message(json.dumps(msg))
    stopped = await k.until(
        lambda m: m["msg_type"] == "debug_event" and m["content"].get("event") == "stopped"
    )
    thread = stopped["content"]["body"]["threadId"]
    stack = await k.debug("stackTrace", threadId=thread)
    frame = stack["body"]["stackFrames"][0]["id"]
    scopes = await k.debug("scopes", frameId=frame)
    for scope in scopes["body"]["scopes"]:
        found = await k.debug("variables", variablesReference=scope["variablesReference"])
        for variable in found["body"]["variables"]:
            if variable.get("variablesReference"):
                await k.debug("variables", variablesReference=variable["variablesReference"])
    for context in ("watch", "repl", "hover", "clipboard"):
        for expression in ("x", "y", "h", "V"):
            await k.debug("evaluate", expression=expression, frameId=frame, context=context)
    for name in ("x", "y"):
        await k.debug("richInspectVariables", variableName=name, frameId=frame)
    await k.debug("continue", threadId=thread)
    await k.until(
        lambda m: (
            m.get("parent_header", {}).get("msg_id") == msg["header"]["msg_id"]
            and m["msg_type"] == "status"
            and m["content"]["execution_state"] == "idle"
        )
    )
    await k.debug("disconnect", restart=False, terminateDebuggee=True)


async def comms(k: Kernel) -> None:
    """A widget's state as ipywidgets sends it (open, update, echo), a comm the browser
    opens and the kernel answers on, comm info."""
    await k.run(
        "from ipykernel.comm import Comm\n"
        "w = Comm(target_name='jupyter.widget', data={'state': {'_model_name': 'TextModel',"
        " 'value': V[0], 'description': V[5], 'placeholder': V[6]}, 'buffer_paths': []},"
        " metadata={'version': '2.1.0'})\n"
        "w.send({'method': 'update', 'state': {'value': V[1]}, 'buffer_paths': []})\n"
        "w.send({'method': 'echo_update', 'state': {'value': V[2]}, 'buffer_paths': []})\n"
        "def target(comm, opened):\n"
        "    comm.send({'answer': V[0], 'opened': opened['content']['data']})\n"
        "    comm.on_msg(lambda m: comm.send({'again': V[3]}, buffers=[V[6].encode()]))\n"
        "get_ipython().kernel.comm_manager.register_target('qsecure.echo', target)\n"
    )
    comm_id = uuid.uuid4().hex
    opened = k.message(
        "comm_open",
        {"comm_id": comm_id, "target_name": "qsecure.echo", "data": {"hello": 1}},
        "shell",
    )
    await k.ws.write_message(json.dumps(opened))
    await k.until(lambda m: m["msg_type"] == "comm_msg" and "answer" in m["content"]["data"])
    sent = k.message("comm_msg", {"comm_id": comm_id, "data": {"ping": 1}}, "shell")
    await k.ws.write_message(json.dumps(sent))
    await k.until(lambda m: m["msg_type"] == "comm_msg" and "again" in m["content"]["data"])
    await k.request("comm_info_request", {})
    await k.request("comm_info_request", {"target_name": "jupyter.widget"})


async def stdin_errors_displays(k: Kernel) -> None:
    """Prompts, exceptions (message, chained, notes, a syntax error quoting its line),
    warnings, displays updated and cleared."""
    await k.run("input(V[0] + ': ')", answer="ok", allow_stdin=True)
    await k.run("import getpass\ngetpass.getpass(V[1] + ': ')", answer="ok", allow_stdin=True)
    for code in (
        "raise ValueError(V[0])",
        "raise KeyError(V[6])",
        "try:\n    {}[V[1]]\nexcept KeyError as e:\n    raise RuntimeError('lookup') from e",
        "e = ValueError('x')\ne.add_note(V[5])\nraise e",
        "raise ExceptionGroup('many', [ValueError(V[0]), KeyError(V[1])])",
        "eval(repr(V[0]) + ' +')",
        "exec(f'{V[0]!r} = 1')",
        "import warnings\nwarnings.warn(V[6], DeprecationWarning, stacklevel=1)",
        "import warnings\nwarnings.warn_explicit(V[0], UserWarning, V[1], 1)",
        "from IPython.display import display, clear_output\n"
        "handle = display('x', display_id=True)\nhandle.update(V[0])\n"
        "clear_output(wait=True)\ndisplay(V[1], metadata={'m': V[0]})",
        "assert not V[0], V[0]",
        "import json\njson.loads(V[3][:-3])",
        "int(V[0])",
    ):
        await k.run(code)


async def subshells(k: Kernel) -> None:
    """Cells run in an ipykernel subshell (its own thread), while the main shell runs one."""
    reply = await k.request("create_subshell_request", {}, channel="control")
    subshell = reply["content"]["subshell_id"]
    busy = k.message(
        "execute_request",
        {
            "code": "import time\nfor _ in range(5):\n    print(V[3]); time.sleep(0.1)",
            "silent": False,
            "store_history": True,
            "allow_stdin": False,
        },
        "shell",
    )
    await k.ws.write_message(json.dumps(busy))
    for code in ("print(V[0], flush=True); V[1]", "raise ValueError(V[6])", "d"):
        msg = k.message(
            "execute_request",
            {"code": code, "silent": False, "store_history": False, "allow_stdin": False},
            "shell",
        )
        msg["header"]["subshell_id"] = subshell
        await k.ws.write_message(json.dumps(msg))
        await k.until(
            lambda m, i=msg["header"]["msg_id"]: (
                m.get("parent_header", {}).get("msg_id") == i and m["msg_type"] == "execute_reply"
            )
        )
    await k.until(
        lambda m: (
            m.get("parent_header", {}).get("msg_id") == busy["header"]["msg_id"]
            and m["msg_type"] == "execute_reply"
        )
    )
    await k.request("delete_subshell_request", {"subshell_id": subshell}, channel="control")


GROUPS: dict[str, Callable[[Kernel], Any]] = {
    "shell replies": shell_replies,
    "debugger": debugger,
    "comms": comms,
    "stdin, errors, displays": stdin_errors_displays,
    "subshells": subshells,
}


@pytest.mark.slow
@pytest.mark.parametrize("group", GROUPS)
async def test_nothing_but_masked_values_reach_the_browser(
    granted: dict[str, str],
    jp_fetch: Any,
    jp_ws_fetch: Any,
    group: str,
) -> None:
    from kernel_client import open_session

    session = await open_session(jp_fetch, "lab/channels.ipynb")
    ws = await jp_ws_fetch("api", "kernels", session["kernel"]["id"], "channels")
    k = Kernel(ws)
    try:
        await k.run(SETUP.format(names=list(granted)) + HOLDER)
        await GROUPS[group](k)
    finally:
        ws.close()
    browser = k.received()
    assert "[secret:TOKEN]" in browser
    leaks = _found(browser, granted)
    assert not leaks, [
        (n, browser[max(0, browser.find(x) - 300) : browser.find(x) + 80]) for n, x in leaks[:3]
    ]


@pytest.mark.slow
async def test_files_the_kernel_writes_beside_the_notebook(
    granted: dict[str, str],
    jp_fetch: Any,
    jp_ws_fetch: Any,
    jp_root_dir: Path,
    hermetic_environment: Path,
) -> None:
    """What IPython writes to disk itself. Its history database keeps inputs only (no
    output, so no value), ``%save`` writes inputs: nothing to find. ``%logstart -o``,
    ``%history -o -f`` and ``%store`` write outputs and values as they are: files the
    kernel's code writes are not masked (docs/secrets.md says so); the server serves them
    as they are, and the guard refuses any copy or save of them through the server."""
    from kernel_client import open_session
    from tornado.httpclient import HTTPClientError

    (jp_root_dir / "lab").mkdir()
    session = await open_session(jp_fetch, "lab/disk.ipynb")
    ws = await jp_ws_fetch("api", "kernels", session["kernel"]["id"], "channels")
    k = Kernel(ws)
    try:
        await k.run(SETUP.format(names=list(granted)) + HOLDER)
        await k.run("%logstart -o -q ipython_log.py")
        for code in ("V[0]", "d", "h", "%logstop", "%save -f saved.py 1-6"):
            await k.run(code)
        await k.run("%history -o -f history.txt")
        await k.run("%store d")
    finally:
        ws.close()
    ipython = hermetic_environment / ".ipython" / "profile_default"
    history = (ipython / "history.sqlite").read_bytes()
    assert b"logstart" in history and _found(history.decode("utf-8", "replace"), granted) == []
    saved = (jp_root_dir / "lab" / "saved.py").read_text(encoding="utf-8")
    assert "class Holder" in saved and _found(saved, granted) == []
    stored = (ipython / "db" / "autorestore" / "d").read_bytes()
    assert granted["TOKEN"].encode() in stored  # pickled under IPython's own folder
    for name in ("ipython_log.py", "history.txt"):
        assert granted["TOKEN"] in (jp_root_dir / "lab" / name).read_text(encoding="utf-8")
        served = await jp_fetch("api", "contents", "lab", name)
        assert granted["TOKEN"] in json.loads(served.body)["content"]
        copy = json.dumps({"copy_from": f"lab/{name}"})
        with pytest.raises(HTTPClientError) as refused:
            await jp_fetch("api", "contents", "lab", method="POST", body=copy)
        assert refused.value.code == 422, name
        body = json.loads(served.body)
        put = json.dumps({"type": "file", "format": "text", "content": body["content"]})
        with pytest.raises(HTTPClientError) as refused:
            await jp_fetch("api", "contents", "lab", f"again-{name}", method="PUT", body=put)
        assert refused.value.code == 422, name


def _kernelspecs(kernel_dir: Path, tmp_path: Path) -> dict[str, dict[str, Any]]:
    """ipykernel kernels the masking extension cannot load in: a Python whose environment
    lacks jupyter-qsecure (a per-project virtual environment, a conda kernel), and a
    wrapper that starts ipykernel through a shell (the extension's option reaches the
    shell, not the kernel)."""
    import sys

    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "jupyter_qsecure").mkdir(parents=True)
    (elsewhere / "jupyter_qsecure" / "__init__.py").write_text("", encoding="utf-8")
    specs = {
        "py-elsewhere": {
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "env": {"PYTHONPATH": str(elsewhere)},
        },
        "py-wrapped": {
            "argv": [
                "/bin/sh",
                "-c",
                'exec "$0" -m ipykernel_launcher -f "$1"',
                sys.executable,
                "{connection_file}",
            ],
        },
    }
    for name, spec in specs.items():
        folder = kernel_dir / name
        folder.mkdir()
        spec = {"display_name": name, "language": "python", **spec}
        (folder / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    return specs


@pytest.mark.slow
@pytest.mark.parametrize("kernel", ["py-elsewhere", "py-wrapped"])
async def test_a_kernel_that_cannot_mask_holds_no_secret(
    granted: dict[str, str],
    jp_fetch: Any,
    jp_ws_fetch: Any,
    jp_kernel_dir: Path,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    kernel: str,
) -> None:
    """An ipykernel kernel the masking extension did not load in runs without the granted
    values (and without the refresh capability), and the first cell says why: before, it
    held them in its environment and printed them as they are."""
    _kernelspecs(jp_kernel_dir, tmp_path)
    body = {
        "path": "lab/elsewhere.ipynb",
        "type": "notebook",
        "name": "elsewhere.ipynb",
        "kernel": {"name": kernel},
    }
    response = await jp_fetch("api", "sessions", method="POST", body=json.dumps(body))
    session = json.loads(response.body)
    ws = await jp_ws_fetch("api", "kernels", session["kernel"]["id"], "channels")
    k = Kernel(ws)
    try:
        await k.run(
            "import os\n"
            f"for name in {list(granted)!r}:\n"
            "    print(name, os.environ.get(name))\n"
            "print(dict(os.environ))"
        )
        await k.run("import subprocess\nprint(subprocess.run(['env'], capture_output=True).stdout)")
    finally:
        ws.close()
    browser = k.received()
    assert "TOKEN None" in browser, browser[-3000:]
    assert "QSECURE_KERNEL_CAPABILITY" not in browser
    assert "their masking did not install in it" in browser  # the first cell says why
    logged = capfd.readouterr().err
    assert "holds none of its granted secrets (API_KEY, PASSWORD," in logged
    leaks = _found(browser, granted)
    assert not leaks, [
        (n, browser[max(0, browser.find(x) - 300) : browser.find(x) + 80]) for n, x in leaks[:3]
    ]


@pytest.mark.slow
async def test_a_masked_kernel_keeps_its_secrets_and_the_users_startup_file(
    granted: dict[str, str],
    jp_fetch: Any,
    jp_ws_fetch: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where masking installed, the check at start changes nothing: the values are there
    (masked in output), and a ``PYTHONSTARTUP`` of the user's own runs in the user's
    namespace and is what subprocesses see; the check itself leaves no name behind."""
    from kernel_client import open_session

    mine = tmp_path / "mine.py"
    mine.write_text("STARTED_BY_ME = __file__\n", encoding="utf-8")
    monkeypatch.setenv("PYTHONSTARTUP", str(mine))
    session = await open_session(jp_fetch, "lab/startup.ipynb")
    ws = await jp_ws_fetch("api", "kernels", session["kernel"]["id"], "channels")
    k = Kernel(ws)
    try:
        await k.run(
            "import os\n"
            "print('started', STARTED_BY_ME, os.environ['PYTHONSTARTUP'])\n"
            "print('left', [n for n in globals() if 'qsecure' in n.lower()],"
            " os.environ.get('QSECURE_PYTHONSTARTUP'))\n"
            "print(os.environ['TOKEN'], os.environ['QSECURE_SECRET_NAMES'])"
        )
    finally:
        ws.close()
    browser = k.received()
    assert f"started {mine} {mine}" in browser
    assert "left [] None" in browser
    assert "[secret:TOKEN] API_KEY,PASSWORD" in browser
    assert "masking did not install" not in browser
    assert _found(browser, granted) == []
