"""The masking matrix: every way of printing a value by accident, for every kind of value.

Unit level (the masker alone, every form, hypothesis for arbitrary values) and through a
real server and a real kernel: what the browser receives on the kernel's websocket, the
saved notebook, the provenance store and the server's log (DEBUG, and the file-descriptor
output the kernel echoes to the server's stdout).
"""

from __future__ import annotations

import base64
import html
import json
import secrets
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kernel_client import policy_granting

from jupyter_qsecure.secrets.forms import MIN_SECRET_LENGTH
from jupyter_qsecure.secrets.masking import Masker


def _pem() -> str:
    body = base64.b64encode(secrets.token_bytes(600)).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END PRIVATE KEY-----\n"


def make_values() -> dict[str, str]:
    """One value of each kind, random for each run."""
    core = secrets.token_hex(6)
    pem = _pem()
    account = {
        "type": "service_account",
        "project_id": "lab-project",
        "private_key_id": secrets.token_hex(20),
        "private_key": pem,
        "client_email": f"runner-{core}@lab-project.iam.gserviceaccount.com",
        "client_id": str(secrets.randbelow(10**20)),
    }
    return {
        "TOKEN": f"ghp_{secrets.token_urlsafe(27)}",
        "PASSWORD": f"p\\a&s\"s'<w>é{core}/ord",
        "PEM_KEY": pem,
        "SERVICE_ACCOUNT": json.dumps(account, indent=2),
        "SHORT": f"Z{secrets.token_hex(2)}",
        "UNICODE": f"clé-秘密-{core}-ß",
    }


def needles(value: str) -> set[str]:
    """Texts that must never be seen: the value in each form printing gives it, and each
    distinctive piece (lines, JSON leaves); written independently of the masker's forms."""
    raw = value.encode()
    out = {
        value,
        repr(value)[1:-1],
        repr("\"'" + value)[4:-1],
        repr(raw)[2:-1],
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        html.escape(value),
        html.escape(value, quote=False),
        html.escape(repr(value)[1:-1], quote=False),  # a repr shown as code in HTML
        html.escape(json.dumps(value)[1:-1]),
        quote(value, safe=""),
        quote_plus(value),
        raw.hex(),
    }
    for prefix, skip in ((b"", 0), (b"x", 2), (b"xy", 3)):
        out.add(base64.b64encode(prefix + raw).decode().rstrip("=")[skip:-2])
    pieces = [line for line in value.splitlines() if len(line.strip()) >= 16]
    if value.startswith("{"):
        pieces += [
            leaf
            for leaf in json.loads(value).values()
            if isinstance(leaf, str) and len(leaf) >= 16 and leaf not in ("service_account",)
        ]
    out.update(line.strip() for line in pieces)
    return {item for item in out if len(item) >= min(len(value), MIN_SECRET_LENGTH)}


# Unit level ---------------------------------------------------------------------------

VALUES = make_values()
MASKER = Masker(VALUES)


def _printings(value: str) -> list[str]:
    """What common ways of displaying ``value`` write."""
    raw = value.encode()
    return [
        value,
        repr(value),
        repr({"k": value, "q": "\"'"}),
        repr([value]),
        f"{value!r}",
        ascii(value),
        repr(raw),
        json.dumps(value),
        json.dumps({"k": value}, ensure_ascii=False),
        json.dumps({"outer": json.dumps(value)}),
        html.escape(value),
        html.escape(value, quote=False),
        html.escape(repr(value), quote=False),  # IPython's Code display of a repr
        html.escape(json.dumps(value)),
        quote(value),
        quote_plus(value),
        raw.hex(),
        raw.hex().upper(),
        *(base64.b64encode(b"P" * n + raw + b"S").decode() for n in range(3)),
        *(base64.urlsafe_b64encode(b"P" * n + raw).decode() for n in range(3)),
        value.replace("\n", "\r\n"),
        *value.splitlines(),
    ]


@pytest.mark.parametrize("name", sorted(VALUES))
def test_every_printing_is_masked(name: str) -> None:
    value = VALUES[name]
    for printed in _printings(value):
        masked = MASKER.mask(f"before {printed} after")
        leaked = [n for n in needles(value) if n in masked]
        assert not leaked, (printed, leaked)


def test_dict_keys_metadata_and_text_buffers() -> None:
    token = VALUES["TOKEN"]
    assert MASKER.mask_content({token: 1, "a": [{token: token}]}) == {
        "[secret:TOKEN]": 1,
        "a": [{"[secret:TOKEN]": "[secret:TOKEN]"}],
    }
    assert MASKER.mask_buffer(f"x{token}".encode()) == b"x[secret:TOKEN]"
    binary = bytes(range(256))
    assert MASKER.mask_buffer(binary) is binary


def test_pieces_are_held_only_while_they_could_start_a_value() -> None:
    token = VALUES["TOKEN"]
    text = "progress 10%\n" + token[:7]
    assert text[MASKER.held_from(text) :] == token[:7]
    assert MASKER.held_from("progress 10%\n") == len("progress 10%\n")
    # A multi-line value's first line ends in a line break: still held, and released
    # only as part of the whole value, masked.
    first_line = VALUES["PEM_KEY"].split("\n")[0] + "\n"
    assert MASKER.held_from("key:\n" + first_line) == len("key:\n")
    head, held = MASKER.split_held("key:\n" + first_line)
    head2, held2 = MASKER.split_held(held + VALUES["PEM_KEY"][len(first_line) :] + "\n")
    assert head + head2 + held2 == "key:\n[secret:PEM_KEY]\n"


def test_threads_mask_at_the_same_time() -> None:
    """The kernel masks from several threads at once (IOPub, log records in the main
    thread, the fd relays): none of them fails or lets a value through (one shared
    Hyperscan scratch space made concurrent scans raise, and the output was lost)."""
    import threading

    token = VALUES["TOKEN"]
    text = ("x" * 50_000 + token) * 20
    failures: list[str] = []

    def work() -> None:
        for _ in range(15):
            try:
                masked = MASKER.mask(text)
            except Exception as error:  # what the kernel's sender would have died of
                failures.append(type(error).__name__)
                continue
            if token in masked or masked.count("[secret:TOKEN]") != 20:
                failures.append("unmasked")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures


def test_texts_shorter_than_every_form_are_left_as_they_are() -> None:
    """Keys, stream names and short words are not scanned (each scan of the kernel's
    IOPub thread is time a flush=True write waits for); a short allowed value is still
    masked in a text exactly its length."""
    masker = Masker({"PIN": "4096"})
    assert masker.mask("409") == "409"
    assert masker.mask("4096") == "[secret:PIN]"
    assert MASKER.mask_content({"name": "stdout"}) == {"name": "stdout"}


@settings(max_examples=200, deadline=None)
@given(
    value=st.text(min_size=MIN_SECRET_LENGTH, max_size=40).filter(lambda v: v.strip() == v),
    before=st.text(max_size=5),
    after=st.text(max_size=5),
)
def test_any_value_in_any_form_is_masked(value: str, before: str, after: str) -> None:
    masker = Masker({"V": value})
    for printed in (
        value,
        repr(value),
        json.dumps(value),
        html.escape(value),
        repr(value.encode()),
    ):
        assert "[secret:V]" in masker.mask(before + printed + after)


@settings(max_examples=100, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=60), max_size=6))
def test_stream_pieces_joined_hide_the_value(cuts: list[int]) -> None:
    """Whatever the write boundaries, what is released never holds the value."""
    token = VALUES["TOKEN"]
    text = f"a {token} b {token}"
    points = sorted({min(c, len(text)) for c in cuts})
    pieces = [text[i:j] for i, j in zip([0, *points], [*points, len(text)], strict=True)]
    held, released = "", ""
    for piece in pieces:
        head, held = MASKER.split_held(held + piece)
        released += head
    released += MASKER.mask(held)
    assert released == "a [secret:TOKEN] b [secret:TOKEN]"


# Through a real server and kernel ----------------------------------------------------

CELLS = [
    "for v in V: print(v)",
    "V",
    "{'k': V[0], 'q': '\"\\''}",
    "for v in V: print(f'{v!r}')",
    "print(os.environ)",
    "%env",
    "for v in V: print(json.dumps(v)); print(json.dumps({'k': v}, ensure_ascii=False))",
    "for v in V: print(repr(v.encode()))",
    "for v in V: print(html.escape(v))",
    "display(HTML(pd.DataFrame({'v': V}).to_html()))",
    "for v in V: display(JSON({v: 1}))",
    "for v in V:\n for n in range(3): print(base64.b64encode(b'x' * n + v.encode()).decode())",
    "for v in V: print(v.encode().hex(), urllib.parse.quote(v), urllib.parse.quote_plus(v))",
    "for v in V:\n for c in v: print(c, end='', flush=True)\n print()",
    "for v in V:\n print(v[:5], end='', flush=True); time.sleep(0.03); print(v[5:], flush=True)",
    "for v in V:\n for line in v.splitlines(): print(line)\n print(v.replace('\\n', '\\r\\n'))",
    "json.loads(V[3])",
    "for v in V: logging.getLogger('demo').warning('value %s', v)",
    "for v in V: os.system('printf %s ' + shlex.quote(v))",
    "subprocess.run(['printf', '%s', V[0]])",
    "comm = Comm(target_name='qsecure-test', data={'d': V[0]}, metadata={'m': V[1]}, buffers=[V[2].encode()])",
    "raise ValueError(V[0] + ' ' + V[1])",
]
SETUP = (
    "import os, json, html, base64, time, logging, urllib.parse, subprocess, shlex\n"
    "import pandas as pd\n"
    "from IPython.display import HTML, JSON, display\n"
    "from ipykernel.comm import Comm\n"
    "V = [os.environ[n] for n in {names!r}]"
)


@pytest.fixture
def injected(
    provenance_policy: Any, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, str], Path]:
    """Every kind of value granted to every notebook (from the server's environment), and
    the provenance store's path."""
    values = make_values()
    return values, provenance_policy(policy_granting(values, monkeypatch))


def _outputs(frames: list[Any]) -> list[dict[str, Any]]:
    import nbformat

    outputs = []
    for frame in frames:
        if isinstance(frame, str):
            msg = json.loads(frame)
            if msg["msg_type"] in ("stream", "execute_result", "display_data", "error"):
                msg["header"]["msg_type"] = msg["msg_type"]
                outputs.append(nbformat.v4.output_from_msg(msg))
    return outputs


def _leaks(text: str, values: dict[str, str]) -> list[tuple[str, str]]:
    return [(name, n) for name, value in values.items() for n in needles(value) if n in text]


@pytest.mark.slow
@pytest.mark.parametrize("fd_capture", [True, False], ids=["fd-captured", "fd-not-captured"])
async def test_masking_matrix_through_a_real_server(
    injected: tuple[dict[str, str], Path],
    jp_fetch: Any,
    jp_ws_fetch: Any,
    jp_root_dir: Path,
    server_log: Any,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    fd_capture: bool,
) -> None:
    from conftest import code, notebook
    from kernel_client import execute_over_websocket, open_session

    values, store = injected
    if fd_capture:  # ipykernel captures fd output only outside pytest, as in production
        monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    session = await open_session(jp_fetch, "lab/matrix.ipynb")
    kernel_id = session["kernel"]["id"]
    ws = await jp_ws_fetch("api", "kernels", kernel_id, "channels")
    client_session = uuid.uuid4().hex
    try:
        await execute_over_websocket(ws, client_session, SETUP.format(names=list(values)))
        cells = []
        received: list[Any] = []
        for source in CELLS:
            frames = await execute_over_websocket(ws, client_session, source)
            received += frames
            cells.append(code(source, _outputs(frames)))
    finally:
        ws.close()
    browser = "\n".join(f if isinstance(f, str) else f.decode("latin-1") for f in received)
    assert "[secret:TOKEN]" in browser and "[secret:PEM_KEY]" in browser
    assert "[secret:SHORT]" in browser and "[secret:UNICODE]" in browser
    assert "QSECURE_KERNEL_CAPABILITY" not in browser  # not in os.environ any more
    leaks = _leaks(browser, values)
    assert not leaks, [
        (n, browser[max(0, browser.find(x) - 300) : browser.find(x) + 80]) for n, x in leaks[:2]
    ]

    (jp_root_dir / "lab").mkdir(exist_ok=True)
    await jp_fetch(
        "api",
        "contents",
        "lab/matrix.ipynb",
        method="PUT",
        body=json.dumps({"type": "notebook", "content": notebook(*cells)}),
    )
    saved = (jp_root_dir / "lab" / "matrix.ipynb").read_text(encoding="utf-8")
    assert "[secret:PASSWORD]" in saved
    assert _leaks(saved, values) == []

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
