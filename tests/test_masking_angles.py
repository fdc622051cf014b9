"""Ways out of a kernel beyond the masking matrix (:mod:`test_masking_matrix`).

Message content jupyter_client serializes from more than strings, lists and dicts (bytes
as base64, sets, generators and arrays as lists, tuple keys as their ``str``); replies
other than ``execute_reply`` (inspection, completion, history, user expressions); a
``input()`` prompt; output written past ``sys.stdout`` (``sys.__stdout__``, C's
``printf``, a forked child); warnings and exceptions raised in threads; every
``IPython.display`` kind. Through a real server and a real kernel, checked in what the
browser receives, the saved notebook, the provenance store and the server's log.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import string
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jupyter_client.session import json_packer
from kernel_client import policy_granting
from test_masking_matrix import SETUP, _leaks, _outputs, make_values

from jupyter_qsecure.secrets.masking import (
    PIECE_LENGTH,
    PIECE_STRIDE,
    SHORTEST_MASKED_RUN,
    Masker,
    masked_run,
)

#: No more than this many first characters of a value may be seen where a display cut it.
SHOWN = 24
#: No more than this many characters of a value in a row may be seen anywhere.
RUN = 31


def _cut_needles(value: str) -> set[str]:
    """The beginnings a display shows of ``value`` or of its lines when it cuts them at
    50 characters (pandas): none of it may be seen from ``SHOWN`` characters on; nor their
    last ``SHOWN`` characters and runs of ``RUN`` characters anywhere in them (folded
    across lines, cut in the middle)."""
    needles = set()
    for part in [value, *value.splitlines()]:
        if len(part) > 50:
            needles.update((part[:SHOWN], part[-SHOWN:]))
            needles.update(part[at : at + RUN] for at in range(0, len(part) - RUN + 1, 5))
    return needles


def test_a_value_cut_short_or_folded_is_masked() -> None:
    """pandas shows 46 characters of a longer value and ``...``; the debugger's variables
    view cuts long reprs in the middle; ``textwrap`` breaks a long word across lines: the
    beginning shown is masked, and so is any run of ``RUN`` characters."""
    import textwrap

    import pandas as pd

    key = uuid.uuid4().hex + uuid.uuid4().hex
    values = {**make_values(), "API_KEY": key}
    masker = Masker(values)
    frame = pd.DataFrame({"k": [key, *values["PEM_KEY"].splitlines()]})
    for shown in (repr(frame), frame._repr_html_(), f"x {key[:SHOWN]}… y"):
        masked = masker.mask(shown)
        leaked = [n for v in values.values() for n in _cut_needles(v) if n in masked]
        assert not leaked and "[secret:API_KEY]" in masked, (leaked, masked)
    assert PIECE_LENGTH <= SHOWN and PIECE_LENGTH + PIECE_STRIDE - 1 <= RUN
    # Folded across lines (textwrap breaks long words), cut in the middle.
    for shown in (
        textwrap.fill("Authorization: Bearer " + key + key, 40),
        f"{key[:20]}...{key[-35:]}",
        "\n".join(textwrap.wrap(values["PEM_KEY"].replace("\n", ""), 50)),
    ):
        masked = masker.mask(shown)
        leaked = [n for v in values.values() for n in _cut_needles(v) if n in masked]
        leaked += [n for n in _cut_needles(key + key) if n in masked]
        assert not leaked, (leaked, masked)
    assert masker.mask(key[: PIECE_LENGTH - 1]) == key[: PIECE_LENGTH - 1]
    # Where the text stops being the value, the masking stops too (inside a character).
    value = "k" * PIECE_LENGTH + "秘密-" + key
    assert Masker({"V": value}).mask(f"<{value[:PIECE_LENGTH]}秙>") == "<[secret:V]秙>"


def _longest_shown_run(value: str, text: str) -> int:
    """The most characters of ``value`` in a row that ``text`` shows."""
    return max(
        (
            n
            for n in range(len(value), 0, -1)
            for at in range(len(value) - n + 1)
            if value[at : at + n] in text
        ),
        default=0,
    )


@settings(max_examples=150, deadline=None)
@given(
    value=st.text(alphabet=string.ascii_letters + string.digits + "-_/+", min_size=13, max_size=70),
    data=st.data(),
)
def test_a_slice_that_leaves_too_little_hidden_is_masked(value: str, data: st.DataObject) -> None:
    """``key[:30]`` of a 32-character key shows all but 2 characters: wherever a slice of
    a value leaves fewer than 16 of its characters hidden (or shows 31 in a row of a
    longer one), it is masked; shorter slices (``key[:4]``) stay as they are."""
    run = masked_run(len(value))
    assert run == max(12, min(31, len(value) - 16))
    start = data.draw(st.integers(0, len(value) - run), label="start")
    end = data.draw(st.integers(start + run, len(value)), label="end")
    masker = Masker({"V": value})
    for shown in (value[start:end], repr(value[start:end]), f"{value[start:end]}…"):
        masked = masker.mask(f"key: {shown} (cut)")
        assert _longest_shown_run(value, masked) < run, (shown, masked)
    short = value[start : start + SHORTEST_MASKED_RUN - 1]
    assert masker.mask(f"key: {short}...") == f"key: {short}..."


@settings(max_examples=150, deadline=None)
@given(
    value=st.text(alphabet=string.ascii_letters + string.digits + "-_/+", min_size=13, max_size=70),
    data=st.data(),
)
def test_a_slice_written_in_pieces_is_masked_as_one_write_is(
    value: str, data: st.DataObject
) -> None:
    """A slice from the middle of a value, written a few characters at a time (each
    piece alone too short to mask, none of them the value's start): the stream's writes
    joined, as JupyterLab shows them, leave as much hidden as one write would."""
    run = masked_run(len(value))
    start = data.draw(st.integers(1, len(value) - run), label="start")
    end = data.draw(st.integers(start + run, len(value)), label="end")
    cuts = data.draw(st.lists(st.integers(start + 1, end - 1), max_size=12), label="cuts")
    points = [start, *sorted(set(cuts)), end]
    masker = Masker({"V": value})
    held, sent, shown = "", "", ""
    for begin, stop in itertools.pairwise(points):
        text = held + value[begin:stop]
        head, held = masker.split_held(text, sent)
        sent += text[: len(text) - len(held)]
        shown += head
    shown += masker.mask_after(sent, held)
    assert "[secret:V]" in shown
    assert _longest_shown_run(value, shown) < run, (points, shown)


def test_a_32_character_key_shows_at_most_15_characters() -> None:
    key = uuid.uuid4().hex
    masker = Masker({"API_KEY": key})
    assert masker.mask(f"{key[:16]}...") == "[secret:API_KEY]..."
    assert masker.mask(f"...{key[-16:]}") == "...[secret:API_KEY]"
    assert masker.mask(f"{key[:15]}...") == f"{key[:15]}..."
    assert masker.mask(f"{key[:4]}…{key[-4:]}") == f"{key[:4]}…{key[-4:]}"


def test_content_is_masked_as_jupyter_client_serializes_it() -> None:
    """What goes on the wire is masked, whatever Python objects the content held, and
    binary buffers that hold a value's bytes among bytes that are not UTF-8."""
    import pickle

    import numpy as np

    values = make_values()
    masker = Masker(values)
    token, password = values["TOKEN"], values["PASSWORD"]
    contents: list[Any] = [
        {"data": {"application/octet-stream": token.encode()}},
        {"metadata": {"s": {token}, "f": frozenset([password])}},
        {"g": (value for value in [token])},
        {"a": np.array([token, password])},
        {(token, 1): 1},
        {"deep": [{"b": b"x" + password.encode() + b"y"}]},
    ]
    for content in contents:
        wire = json_packer(masker.mask_content(content)).decode()
        assert _leaks(wire, values) == [], wire
    for buffer in (pickle.dumps({"t": token}), b"\x89PNG\xff" + token.encode() + b"\xfe"):
        masked = masker.mask_buffer(memoryview(buffer))
        assert token.encode() not in masked and b"[secret:TOKEN]" in masked
        assert masked.startswith(buffer[:4])
    binary = bytes(range(256)) * 4
    assert masker.mask_buffer(binary) is binary
    plain = {"b": b"\x89PNG not a secret", "n": [1, 2.5, None, True], 3: "x"}
    assert masker.mask_content(plain) == {**plain, "n": [1, 2.5, None, True]}
    assert masker.mask_content(plain)["b"] is plain["b"]


CELLS = [
    # Content jupyter_client serializes from Python objects other than str/list/dict.
    "display({'text/plain': 'x', 'application/octet-stream': V[0].encode()}, raw=True)",
    "display(HTML('x'), metadata={'s': {V[0]}, 'f': frozenset([V[1]])})",
    "display({'text/plain': 'x'}, metadata={(V[0], 1): 1}, raw=True)",
    "c2 = Comm(target_name='qsecure-test', data={'s': {V[0]}, 'b': V[1].encode()})",
    "c3 = Comm(target_name='qsecure-test', data={'g': (v for v in V[:1])})",
    "import numpy as np\nc4 = Comm(target_name='qsecure-test', data={'a': np.array(V[:2])})",
    # Binary buffers that are not UTF-8 text but hold a value's bytes (a pickle, a file).
    "c5 = Comm(target_name='qsecure-test', buffers=[pickle.dumps({'t': V[0]}),"
    " b'\\x89PNG\\xff' + V[0].encode()])",
    # Held by the code before this change.
    "warnings.warn('careful ' + V[0])",
    "def f():\n  raise RuntimeError(V[0])\nt = threading.Thread(target=f, name=V[1]); t.start(); t.join()",
    "print(V[0], file=sys.__stdout__, flush=True); print(V[1], file=sys.__stderr__, flush=True)",
    "ctypes.CDLL(None).printf(b'%s\\n', V[0].encode()); ctypes.CDLL(None).fflush(None)",
    "display(Javascript('var t = ' + json.dumps(V[0])), Markdown('**' + V[1] + '**'),"
    " Latex('$' + V[4] + '$'), Pretty(V[5]), SVG('<svg>' + html.escape(V[1]) + '</svg>'))",
    "h = display(HTML('a'), display_id=True); h.update(HTML(V[0]))",
    "for c in V[0]: print(c, end='', flush=True)\nclear_output(wait=True); print('done')",
    "get_ipython().set_next_input(V[0])",
    "%whos",
    "V?",
    "p = mp.get_context('fork').Process(target=print, args=(V[0],)); p.start(); p.join()",
    "pprint.pprint(dict(os.environ))",
    "try:\n  raise KeyError(V[0])\nexcept KeyError: pass\n%tb",
    "%xmode Verbose",
    "def g(key=V[6], pem=V[2]):\n  raise ValueError('no')\ng()",
    "%xmode Context",
    "!printenv TOKEN PASSWORD",
    "x = !printenv UNICODE API_KEY\nx",
    "with open('/dev/stdout', 'w') as out: print(V[0], file=out)",
    "from IPython.display import Code\ndisplay(Code('t = ' + repr(V[1])))",
    # Fields noted into the cell's provenance record, embedded in the notebook at save.
    "import jupyter_qsecure\njupyter_qsecure.note(**{V[0]: V[1], 'k': {V[4]: [V[5]]}})",
    # Values cut short by the display.
    "display(pd.DataFrame({'k': [V[6], *V[2].splitlines()]}))",
    "import textwrap\nprint(textwrap.fill('key: ' + V[6], 40))",
    # Quoting of other formats: YAML, CSV, XML (ElementTree writes ASCII), SQL.
    "print(yaml.safe_dump({'v': [V[0], V[1], V[4], V[5]]}, width=10**6))",
    "print(pd.DataFrame({'v': V}).to_csv())",
    "print(ET.tostring(ET.Element('c', {f'a{i}': v for i, v in enumerate(V)})).decode())",
    'print("SELECT 1 WHERE p = \'" + V[1].replace("\'", "\'\'") + "\'")',
]
IMPORTS = (
    "\nimport sys, warnings, threading, ctypes, pprint, pickle, multiprocessing as mp"
    "\nfrom IPython.display import Javascript, Markdown, Latex, SVG, Pretty, clear_output"
    "\nimport yaml, xml.etree.ElementTree as ET"
)
#: Requests other than execute_request, each answered with what the kernel holds.
REQUESTS = [
    ("inspect_request", {"code": "V[0]", "cursor_pos": 4, "detail_level": 0}),
    ("inspect_request", {"code": "V", "cursor_pos": 1, "detail_level": 1}),
    ("complete_request", {"code": "os.environ['", "cursor_pos": 12}),
    ("history_request", {"output": True, "raw": True, "hist_access_type": "tail", "n": 100}),
    # The debugger's variables view, on the control channel.
    ("debug_request", {"type": "request", "seq": 1, "command": "inspectVariables"}),
    (
        "debug_request",
        {
            "type": "request",
            "seq": 2,
            "command": "richInspectVariables",
            "arguments": {"variableName": "V"},
        },
    ),
]


async def _exchange(ws: Any, request: dict[str, Any], answer: Any = None) -> list[Any]:
    """Send ``request``; every frame until its reply and the kernel's idle status (an
    ``input_request`` answered by ``answer(frame)``)."""
    from kernel_client import _websocket_request

    msg_id = request["header"]["msg_id"]
    await ws.write_message(json.dumps(request))
    frames: list[Any] = []
    seen: set[str] = set()
    while seen != {"reply", "idle"}:
        frame = await asyncio.wait_for(ws.read_message(), 60)
        assert frame is not None, "the websocket closed"
        frames.append(frame)
        if not isinstance(frame, str):
            continue
        msg = json.loads(frame)
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        if msg["msg_type"].endswith("_reply"):
            seen.add("reply")
        elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            seen.add("idle")
        elif msg["msg_type"] == "input_request" and answer is not None:
            reply = _websocket_request(request["header"]["session"], "input_reply", answer)
            reply["channel"] = "stdin"
            await ws.write_message(json.dumps(reply))
    return frames


@pytest.fixture
def injected(
    provenance_policy: Any, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, str], Path]:
    """The matrix's values and a 64-character key (longer than pandas shows), granted to
    every notebook; the provenance store's path."""
    values = {**make_values(), "API_KEY": uuid.uuid4().hex + uuid.uuid4().hex}
    return values, provenance_policy(policy_granting(values, monkeypatch))


@pytest.mark.slow
async def test_other_ways_out_through_a_real_server(
    injected: tuple[dict[str, str], Path],
    jp_fetch: Any,
    jp_ws_fetch: Any,
    jp_root_dir: Path,
    server_log: Any,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from conftest import code, notebook
    from kernel_client import _websocket_request, open_session

    values, store = injected
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)  # fd capture, as in production
    session = await open_session(jp_fetch, "lab/angles.ipynb")
    kernel_id = session["kernel"]["id"]
    ws = await jp_ws_fetch("api", "kernels", kernel_id, "channels")
    client = uuid.uuid4().hex

    def execute(source: str, allow_stdin: bool = False) -> dict[str, Any]:
        content = {
            "code": source,
            "silent": False,
            "store_history": True,
            "allow_stdin": allow_stdin,
            "user_expressions": {"u": "V[0]", "e": "{V[1]: V[2]}"},
        }
        return _websocket_request(client, "execute_request", content)

    received: list[Any] = []
    cells = []
    try:
        await _exchange(ws, execute(SETUP.format(names=list(values)) + IMPORTS))
        for source in CELLS:
            frames = await _exchange(ws, execute(source))
            received += frames
            cells.append(code(source, _outputs(frames)))
        received += await _exchange(
            ws, execute("input(V[0] + ' ? ')", allow_stdin=True), {"value": "ok"}
        )
        for msg_type, content in REQUESTS:
            request = _websocket_request(client, msg_type, content)
            if msg_type == "debug_request":
                request["channel"] = "control"
            received += await _exchange(ws, request)
    finally:
        ws.close()

    browser = "\n".join(f if isinstance(f, str) else f.decode("latin-1") for f in received)
    assert browser.count("[secret:TOKEN]") > len(CELLS)  # user_expressions in each reply
    assert '"input_request"' in browser and '"inspect_reply"' in browser
    debugger = [f for f in received if isinstance(f, str) and '"debug_reply"' in f]
    assert len(debugger) == 2 and all("[secret:TOKEN]" in reply for reply in debugger)
    leaks = _leaks(browser, values) + [
        (name, needle)
        for name, value in values.items()
        for needle in _quoted_needles(value) | _cut_needles(value)
        if len(needle) >= 8 and needle in browser
    ]
    assert not leaks, [
        (n, browser[max(0, browser.find(x) - 300) : browser.find(x) + 80]) for n, x in leaks[:2]
    ]

    (jp_root_dir / "lab").mkdir(exist_ok=True)
    body = {"type": "notebook", "content": notebook(*cells)}
    await jp_fetch("api", "contents", "lab/angles.ipynb", method="PUT", body=json.dumps(body))
    saved = (jp_root_dir / "lab" / "angles.ipynb").read_text(encoding="utf-8")
    assert "[secret:TOKEN]" in saved and _leaks(saved, values) == []

    await jp_fetch("api", "kernels", kernel_id, method="DELETE")
    recorded = b"".join(p.read_bytes() for p in store.parent.glob(store.name + "*"))
    assert recorded, "nothing recorded"
    assert _leaks(recorded.decode("utf-8", "replace"), values) == []

    captured = capfd.readouterr()
    logged = server_log() + captured.out + captured.err
    leaks = _leaks(logged, values)
    assert not leaks, [
        logged[max(0, logged.find(x) - 200) : logged.find(x) + 50] for _, x in leaks[:3]
    ]


def _quoted_needles(value: str) -> set[str]:
    """``value`` as YAML, CSV, ElementTree and SQL quoting write it, taken from what those
    writers produce (not from the masker's forms)."""
    import csv
    import io
    import xml.etree.ElementTree as ET

    import yaml

    out = set()
    dumped = yaml.safe_dump({"p": value}, width=10**6)
    if "\n" not in dumped.rstrip("\n"):  # one line: not a block scalar
        out.add(dumped.rstrip("\n")[len("p: ") :].strip("'\""))
    row = io.StringIO()
    csv.writer(row).writerow([value])
    out.add(row.getvalue().rstrip("\r\n").strip('"'))
    attribute = ET.tostring(ET.Element("c", p=value)).decode()
    out.add(attribute[len('<c p="') : -len('" />')])
    element = ET.Element("c")
    element.text = value
    out.add(ET.tostring(element).decode()[len("<c>") : -len("</c>")])
    out.add(value.replace("'", "''"))
    return {needle for needle in out if needle and "\n" not in needle}


def test_yaml_csv_xml_and_sql_quoting_are_masked() -> None:
    """A configuration printed as YAML, a table as CSV, an XML document, a SQL literal:
    each quotes a password with quotes, backslashes or other characters than ASCII its own
    way (``\\xE9``, ``""``, ``&#233;``, ``''``)."""
    values = {
        **make_values(),
        "QUOTES": "ab'cd: \"ef#gh12-" + uuid.uuid4().hex[:6],
        "CONTROL": "tab\there-é-" + uuid.uuid4().hex[:6],
    }
    masker = Masker(values)
    for name, value in values.items():
        needles = _quoted_needles(value)
        assert needles, name
        for needle in needles:
            masked = masker.mask(f"x {needle} y")
            assert needle not in masked and f"[secret:{name}]" in masked, (name, needle)


def test_a_refreshed_secret_keeps_its_old_value_masked() -> None:
    """A rotated value may still be valid (a lease until it expires) and still held by
    objects made before the refresh: it stays masked under its name."""
    old, new = f"old-{uuid.uuid4().hex}", f"new-{uuid.uuid4().hex}"
    masker = Masker({"DB_PASSWORD": old, "OTHER": f"other-{uuid.uuid4().hex}"})
    masker.update({"DB_PASSWORD": new})
    assert masker.mask(f"{old} {new}") == "[secret:DB_PASSWORD] [secret:DB_PASSWORD]"


@pytest.fixture
def rotating(policy: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """A secret granted to every notebook from the server's environment; (the value a
    kernel starts with, the value a refresh reads)."""
    # Words, not a random token: the guard refuses it only as a live value.
    number = uuid.uuid4().int % 10_000
    old, new = f"autumn-harbour-{number}", f"winter-meadow-{number}"
    monkeypatch.setenv("SRC_DB_PASSWORD", old)
    policy('[secrets.DB_PASSWORD]\nsource = "env://SRC_DB_PASSWORD"\nnotebooks = ["**/*.ipynb"]\n')
    return old, new


@pytest.mark.slow
async def test_a_refreshed_secret_keeps_its_old_value_out_through_a_real_server(
    rotating: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    jp_fetch: Any,
    jp_ws_fetch: Any,
    jp_root_dir: Path,
) -> None:
    """After ``refresh()`` the old value, still held by a variable, is masked in the
    kernel's output and refused by the guard in a save, while the kernel runs."""
    from conftest import code, notebook
    from kernel_client import _websocket_request, open_session
    from tornado.httpclient import HTTPClientError

    old, new = rotating
    session = await open_session(jp_fetch, "lab/rotate.ipynb")
    ws = await jp_ws_fetch("api", "kernels", session["kernel"]["id"], "channels")
    client = uuid.uuid4().hex

    def execute(source: str) -> dict[str, Any]:
        content = {"code": source, "silent": False, "store_history": True, "allow_stdin": False}
        return _websocket_request(client, "execute_request", content)

    try:
        await _exchange(ws, execute("import os, jupyter_qsecure\nold = os.environ['DB_PASSWORD']"))
        monkeypatch.setenv("SRC_DB_PASSWORD", new)
        frames = await _exchange(ws, execute("print(jupyter_qsecure.refresh(), old)"))
    finally:
        ws.close()
    shown = "\n".join(f for f in frames if isinstance(f, str))
    assert "['DB_PASSWORD'] [secret:DB_PASSWORD]" in shown, shown[-2000:]
    assert old not in shown

    (jp_root_dir / "lab").mkdir(exist_ok=True)
    body = {"type": "notebook", "content": notebook(code(f"place = {old!r}"))}
    with pytest.raises(HTTPClientError) as refused:
        await jp_fetch("api", "contents", "lab/rotate.ipynb", method="PUT", body=json.dumps(body))
    assert refused.value.code == 422
    assert not (jp_root_dir / "lab" / "rotate.ipynb").exists()
    await jp_fetch("api", "kernels", session["kernel"]["id"], method="DELETE")
