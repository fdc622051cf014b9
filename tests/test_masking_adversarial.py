"""Forms a value took out of the kernel that no earlier rule recognised.

- hex with a separator between bytes: ``raw.hex(":")``, ``binascii.hexlify(raw, " ")``,
  a fingerprint's ``AB:CD:...``;
- a hex dump (``!xxd file``, ``!hexdump -C file``, Python's hexdump helpers): its text
  column shows a value 16 characters a line, its hex column all of its bytes;
- the base64 of JSON holding a value JSON escapes (a quote, a backslash, an accent): a
  JWT's claims, Docker's ``X-Registry-Auth`` header;
- a NumPy array of strings (UTF-32) in a comm message's buffer, raw or pickled.

Each left the kernel readable in full. Unit level (both matchers) and through a real
server and a real kernel.
"""

from __future__ import annotations

import base64
import json
import pickle
import secrets
import shutil
import subprocess
import sys
from typing import Any

import pytest
from kernel_client import policy_granting
from test_masking_channels import Kernel

from jupyter_qsecure.secrets.masking import Masker

#: A run of this many bytes of a value, shown in any of the forms here, counts as a leak.
RUN = 12
#: The start of a value JSON escapes (a quote, a backslash).
ESCAPED_START = 'pa"ss\\w'


def _values() -> dict[str, str]:
    return {
        "TOKEN": secrets.token_urlsafe(30),
        "HEX": secrets.token_hex(32),  # a dump's text column of hex digits
        "PASSWORD": ESCAPED_START + secrets.token_urlsafe(18) + "é",  # JSON escapes three
    }


def _hex_leaks(text: str, value: str) -> list[str]:
    """Runs of RUN bytes of ``value`` that ``text`` shows as hex, whatever separates
    the bytes (spaces, colons, line breaks, a dump's offsets between its lines)."""
    raw = value.encode()
    shown = "".join(ch for ch in text.lower() if ch in "0123456789abcdef")
    return [
        raw[at : at + RUN].hex()
        for at in range(len(raw) - RUN + 1)
        if raw[at : at + RUN].hex() in shown
    ]


def _plain_leaks(text: str, value: str) -> list[str]:
    return [
        value[at : at + RUN] for at in range(len(value) - RUN + 1) if value[at : at + RUN] in text
    ]


def _xxd(data: bytes, group: int = 2) -> str:
    """``data`` as ``xxd`` writes it (groups of ``group`` bytes, 16 to a line)."""
    lines = []
    for offset in range(0, len(data), 16):
        chunk = data[offset : offset + 16]
        groups = " ".join(chunk[i : i + group].hex() for i in range(0, len(chunk), group))
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{offset:08x}: {groups:<{16 * 2 + 16 // group - 1}}  {text}")
    return "\n".join(lines) + "\n"


def _canonical(data: bytes) -> str:
    """``data`` as ``hexdump -C`` writes it."""
    lines = []
    for offset in range(0, len(data), 16):
        chunk = data[offset : offset + 16]
        first = " ".join(f"{b:02x}" for b in chunk[:8])
        second = " ".join(f"{b:02x}" for b in chunk[8:])
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{offset:08x}  {first:<23}  {second:<23}  |{text}|")
    lines.append(f"{len(data):08x}")
    return "\n".join(lines) + "\n"


def _dumps(value: str) -> list[str]:
    shown = []
    for prefix in (b"", b"k=", b"Authorization: Bearer "):
        data = prefix + value.encode() + b"\n-- the rest of the file --\n"
        shown += [_xxd(data), _xxd(data, 1), _xxd(data, 4), _canonical(data)]
        shown.append("header line\n" + _canonical(data) + "trailer")
        if shutil.which("xxd"):
            shown.append(subprocess.run(["xxd"], input=data, capture_output=True).stdout.decode())
        if shutil.which("hexdump"):
            dumped = subprocess.run(["hexdump", "-C"], input=data, capture_output=True)
            shown.append(dumped.stdout.decode())
    return shown


@pytest.fixture(params=["hyperscan", "regex"])
def masker_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "regex":
        monkeypatch.setitem(sys.modules, "hyperscan", None)  # import fails: the fallback
    else:
        pytest.importorskip("hyperscan")
    return str(request.param)


def _masker(kind: str, values: dict[str, str]) -> Masker:
    """A masker of ``values`` on the matcher ``kind`` (a form Hyperscan refused would
    silently fall back to the regular expression)."""
    masker = Masker(values)
    assert (masker._matcher._database is None) == (kind == "regex")  # type: ignore[union-attr]
    return masker


def test_hex_with_separators_is_masked(masker_kind: str) -> None:
    values = _values()
    masker = _masker(masker_kind, values)
    for name, value in values.items():
        raw = value.encode()
        for shown in (
            raw.hex(":"),
            raw.hex(" "),
            raw.hex(":").upper(),
            f"fingerprint {raw.hex(':').upper()} (sha256)",
            (b"prefix" + raw + b"suffix").hex(" "),
        ):
            masked = masker.mask(shown)
            assert not _hex_leaks(masked, value), (name, shown, masked)
            assert f"[secret:{name}]" in masked


def test_a_hex_dump_is_masked(masker_kind: str) -> None:
    values = _values()
    masker = _masker(masker_kind, values)
    for name, value in values.items():
        for shown in _dumps(value):
            masked = masker.mask(shown)
            assert not _hex_leaks(masked, value), (name, shown, masked)
            assert not _plain_leaks(masked, value), (name, shown, masked)
            assert f"[secret:{name}]" in masked
            assert "the rest" in masked or "rest of" in masked or "00000030" in masked


def test_an_ordinary_hex_dump_is_left_as_it_is() -> None:
    masker = Masker(_values())
    for shown in (_xxd(b"an ordinary file, " * 5), _canonical(b"\x00\x01 binary data" * 4)):
        assert masker.mask(shown) == shown


def _encoded_claims(claims: dict[str, Any], value: str) -> list[tuple[str, int, int]]:
    """``claims`` as JSON, base64-encoded as a JWT, Docker's auth header and a Kubernetes
    secret write it; with where the value's characters are in each."""
    encoded = []
    for text, encode in (
        (json.dumps(claims, separators=(",", ":")), base64.urlsafe_b64encode),
        (json.dumps(claims), base64.b64encode),
        (json.dumps(claims, ensure_ascii=False), base64.urlsafe_b64encode),
    ):
        data = text.encode()
        escaped = json.dumps(value, ensure_ascii="\\u" in text)[1:-1].encode()
        at = data.index(escaped)
        shown = encode(data).decode().rstrip("=")
        encoded.append((shown, 4 * at // 3 + 2, 4 * (at + len(escaped)) // 3 - 2))
    return encoded


def test_a_value_json_escapes_is_masked_in_base64_json(masker_kind: str) -> None:
    values = _values()
    masker = _masker(masker_kind, values)
    value = values["PASSWORD"]
    for claims in ({"password": value}, {"sub": "alice", "pw": value, "n": 1}):
        for shown, first, last in _encoded_claims(claims, value):
            masked = masker.mask(shown)
            assert "[secret:PASSWORD]" in masked, (shown, masked)
            runs = [shown[at : at + 8] for at in range(first, last - 8)]
            assert not [run for run in runs if run in masked], (shown, masked)
            assert masked.startswith(shown[: first - 4])  # the claims before are kept


def test_a_numpy_string_array_in_a_buffer_is_masked(masker_kind: str) -> None:
    np = pytest.importorskip("numpy")
    values = _values()
    masker = _masker(masker_kind, values)
    for name, value in values.items():
        if not value.isascii():
            continue
        array = np.array(["an ordinary cell", value, "another"])
        for buffer in (
            array.tobytes(),
            memoryview(array),
            pickle.dumps(array),
            array.astype(array.dtype.newbyteorder(">")).tobytes(),
        ):
            masked = bytes(masker.mask_buffer(buffer))
            for codec in ("utf-32-le", "utf-32-be"):
                wide = value.encode(codec)
                assert not any(
                    wide[at : at + 4 * RUN] in masked for at in range(0, len(wide) - 4 * RUN, 4)
                ), (name, codec)
            assert f"[secret:{name}]".encode() in masked
        ordinary = np.array(["an ordinary cell", "another"]).tobytes()
        assert masker.mask_buffer(ordinary) == ordinary


@pytest.fixture
def granted(policy: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The values granted to every notebook (before the server starts)."""
    values = _values()
    policy(policy_granting(values, monkeypatch))
    return values


@pytest.mark.slow
async def test_these_forms_never_reach_the_browser(
    granted: dict[str, str], jp_fetch: Any, jp_ws_fetch: Any, tmp_path: Any
) -> None:
    from kernel_client import open_session

    session = await open_session(jp_fetch, "lab/adversarial.ipynb")
    ws = await jp_ws_fetch("api", "kernels", session["kernel"]["id"], "channels")
    k = Kernel(ws)
    names = list(granted)
    dump = tmp_path / "blob.bin"
    cells = [
        f"import base64, json, os, pickle\nV = [os.environ[n] for n in {names!r}]",
        "for v in V:\n    print(v.encode().hex(':'))\n    print(v.encode().hex(' ').upper())",
        f"with open({str(dump)!r}, 'wb') as f:\n"
        "    for v in V:\n        f.write(b'Authorization: Bearer ' + v.encode() + b'\\n')",
        "claims = json.dumps({'password': V[2]}, separators=(',', ':')).encode()\n"
        "print(base64.urlsafe_b64encode(claims).decode().rstrip('='))",
        "from ipykernel.comm import Comm\nimport numpy as np\n"
        "a = np.array(V[:2])\n"
        "Comm(target_name='qsecure.probe', data={'n': 1}, "
        "buffers=[a.tobytes(), pickle.dumps(a)])",
    ]
    if shutil.which("xxd"):
        cells.append(f"!xxd {dump}")
    if shutil.which("hexdump"):
        cells.append(f"import subprocess\nsubprocess.run(['hexdump', '-C', {str(dump)!r}])")
        cells.append(
            f"print(subprocess.run(['hexdump', '-C', {str(dump)!r}], capture_output=True, text=True).stdout)"
        )
    try:
        for cell in cells:
            reply = await k.run(cell)
            assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        ws.close()
    browser = k.received()
    for name, value in granted.items():
        assert not _hex_leaks(browser, value), name
        assert not _plain_leaks(browser, value), name
        if value.isascii():
            for codec in ("utf-32-le", "utf-32-be"):
                wide = value.encode(codec).decode("latin-1")
                assert wide[: 4 * RUN] not in browser, (name, codec)
        assert f"[secret:{name}]" in browser
    claims = json.dumps({"password": granted["PASSWORD"]}, separators=(",", ":")).encode()
    encoded = base64.urlsafe_b64encode(claims).decode().rstrip("=")
    assert not any(encoded[at : at + 16] in browser for at in range(16, len(encoded) - 16))


def test_a_form_hyperscan_refuses_is_said_in_the_log_without_it(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Hyperscan refusing a form made masking fall back to regular expressions (right, and
    slower) without a word; the warning names no form, since forms hold the values."""
    hyperscan = pytest.importorskip("hyperscan")

    class Refusing:
        def __init__(self, **_: Any) -> None:
            pass

        def compile(self, **_: Any) -> None:
            raise hyperscan.error("a literal it cannot hold")

    monkeypatch.setattr(hyperscan, "Database", Refusing)
    values = _values()
    with caplog.at_level("WARNING", logger="jupyter_qsecure.secrets.masking"):
        masker = Masker(values)
    assert masker._matcher._database is None  # type: ignore[union-attr]
    assert "[secret:TOKEN]" in masker.mask(f"token {values['TOKEN']} used")
    [record] = [r for r in caplog.records if "Hyperscan refused" in r.getMessage()]
    assert "regular expressions" in record.getMessage()
    assert not any(value in caplog.text for value in values.values())
