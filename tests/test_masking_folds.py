"""Values folded across lines or cut into separated pieces are masked whole.

``textwrap.fill(value, 20)`` writes lines shorter than any piece the masker looked for, so
until :mod:`jupyter_qsecure.secrets.unfolding` a value folded narrower than 31 characters
left the kernel whole, line by line. Unit level (both matchers: Hyperscan and the regular
expression), hypothesis over widths and surroundings, and through a real kernel.
"""

from __future__ import annotations

import base64
import json
import secrets
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kernel_client import policy_granting

from jupyter_qsecure.secrets.masking import Masker
from jupyter_qsecure.secrets.unfolding import PROBE_LENGTH

#: The shortest run of a value's characters that counts as a leak in these tests.
RUN = PROBE_LENGTH


def _pem() -> str:
    body = base64.b64encode(secrets.token_bytes(300)).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END PRIVATE KEY-----"


def _values() -> dict[str, str]:
    return {
        "TOKEN": secrets.token_urlsafe(30),  # holds '-' and '_': textwrap breaks at '-'
        "HEX": secrets.token_hex(32),
        "JWT": "eyJ" + secrets.token_urlsafe(60) + "." + secrets.token_urlsafe(40),
        "PEM": _pem(),
    }


def _runs(value: str) -> set[str]:
    """Every run of RUN characters of ``value`` without white space, none made of
    characters a PEM's armour shares with ordinary text."""
    body = "".join(value.split())
    body = body.replace("-----BEGINPRIVATEKEY-----", "").replace("-----ENDPRIVATEKEY-----", "")
    return {body[at : at + RUN] for at in range(len(body) - RUN + 1)}


def _leaked(text: str, values: dict[str, str]) -> list[tuple[str, str]]:
    return [(name, run) for name, value in values.items() for run in _runs(value) if run in text]


def _folds(value: str, width: int) -> list[str]:
    """What folding ``value`` at ``width`` and displaying it writes."""
    body = "".join(value.split("\n")[1:-1]) if value.startswith("-----") else value
    lines = textwrap.wrap(body, width)
    return [
        textwrap.fill(body, width),
        repr(textwrap.fill(body, width)),  # a cell's last expression: '...\n...'
        repr(lines),  # textwrap.wrap as the last expression
        str(tuple(lines)),
        json.dumps(lines),
        json.dumps(lines, indent=2),
        "your key:\n" + textwrap.indent(textwrap.fill(body, width), "    "),
        "\r\n".join(lines),
        "\t".join(lines),
        f"key = {body[:width]}\n{textwrap.fill(body[width:], width)}",
    ]


@pytest.fixture(params=["hyperscan", "regex"])
def masker_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "regex":
        monkeypatch.setitem(sys.modules, "hyperscan", None)  # import fails: the fallback
    return str(request.param)


@pytest.mark.parametrize("width", [6, 7, 8, 9, 12, 16, 20, 24, 30, 31, 40, 63])
def test_a_folded_value_is_masked_whole(masker_kind: str, width: int) -> None:
    values = _values()
    masker = Masker(values)
    assert (masker._matcher._database is None) == (masker_kind == "regex")  # type: ignore[union-attr]
    for name, value in values.items():
        for text in _folds(value, width):
            masked = masker.mask(text)
            assert not _leaked(masked, values), (name, width, text, masked)
            assert "[secret:" in masked


def _numpy_characters(value: str) -> str:
    """``str(np.array(list(value)))``: ``['g' 'h' ...]``, wrapped at NumPy's 75 columns."""
    numpy = pytest.importorskip("numpy")
    return str(numpy.array(list(value)))


@pytest.mark.parametrize(
    "display",
    [
        lambda v: " ".join(v),  # print(*value)
        lambda v: "\n".join(v),  # one character a line
        lambda v: repr(list(v)),
        lambda v: json.dumps(list(v)),
        lambda v: ", ".join(v),
        lambda v: repr(tuple(v)),
        lambda v: _numpy_characters(v),
    ],
    ids=["spaces", "lines", "list", "json-list", "commas", "tuple", "numpy-array"],
)
def test_a_value_cut_into_characters_is_masked(masker_kind: str, display: Any) -> None:
    values = _values()
    masker = Masker(values)
    for name in ("TOKEN", "HEX", "JWT"):
        masked = masker.mask("it is: " + display(values[name]) + " (done)")
        assert masked.startswith("it is: ") and masked.endswith(" (done)")
        assert f"[secret:{name}]" in masked
        body = masked[len("it is: ") : -len(" (done)")]
        assert sum(ch.isalnum() for ch in body.replace(f"[secret:{name}]", "")) <= 1, masked


def test_text_around_a_folded_value_is_kept() -> None:
    token = secrets.token_hex(24)
    masker = Masker({"TOKEN": token})
    text = f"before, it said:\n{textwrap.fill(token, 10)}\nand after, 'quoted' words."
    assert masker.mask(text) == "before, it said:\n[secret:TOKEN]\nand after, 'quoted' words."


def test_a_value_not_found_whole_is_left_to_the_other_rules() -> None:
    """Probes alone mask nothing: the start of a value, folded, then other text."""
    token = secrets.token_hex(24)
    masker = Masker({"TOKEN": token})
    for text in (
        f"{token[:10]}\n{token[10:20]}\nunrelated",
        f"{token[:7]} and {token[:7]} again",
        "ordinary output, with 'quotes', commas\nand lines",
    ):
        assert masker.mask(text) == text


def test_a_value_split_by_separators_inside_it_is_masked() -> None:
    """A value that holds separators itself (a passphrase) is found, folded or not."""
    phrase = "correct horse, 'battery' staple " + secrets.token_hex(4)
    masker = Masker({"PHRASE": phrase})
    assert masker.mask(textwrap.fill(phrase, 9)) == "[secret:PHRASE]"
    assert masker.mask(f"<{phrase}>") == "<[secret:PHRASE]>"


def test_a_short_value_is_not_looked_for_folded() -> None:
    """Below FOLDED_MINIMUM characters, eight characters of a value are too likely in
    ordinary text: its folds are not looked for (the value itself still is)."""
    short = "Zq" + secrets.token_hex(5)
    masker = Masker({"SHORT": short})
    assert masker.mask(f"x {short} y") == "x [secret:SHORT] y"
    folded = f"{short[:6]}\n{short[6:]}"
    assert masker.mask(folded) == folded


def test_a_refreshed_value_stays_masked_folded() -> None:
    old, new = secrets.token_hex(20), secrets.token_hex(20)
    masker = Masker({"TOKEN": old})
    masker.update({"TOKEN": new})
    for value in (old, new):
        assert masker.mask(textwrap.fill(value, 11)) == "[secret:TOKEN]"


@pytest.mark.parametrize("first", ["n", "r", "t"])
@pytest.mark.parametrize("separator", ["\n", "\\n", " "])
def test_a_backslash_before_a_fold_that_starts_like_an_escape(first: str, separator: str) -> None:
    """A backslash just before a value starting with n, r or t reads as the escape of a
    line break or tab, which took the value's first character with it (the hypothesis
    test below found it when its random value started so)."""
    value = first + secrets.token_urlsafe(30)
    masker = Masker({"V": value})
    folded = separator.join(value[i : i + 6] for i in range(0, len(value), 6))
    assert masker.mask("\\" + folded) == "\\[secret:V]"


@settings(max_examples=150, deadline=None)
@given(
    width=st.integers(min_value=PROBE_LENGTH, max_value=50),
    before=st.text(max_size=40),
    after=st.text(max_size=40),
    separator=st.sampled_from(["\n", "\r\n", "\\n", " ", "', '", '", "', "\n    ", "\t"]),
)
def test_any_fold_in_any_text_is_masked(
    width: int, before: str, after: str, separator: str
) -> None:
    token = VALUE
    lines = [token[i : i + width] for i in range(0, len(token), width)]
    text = before + separator.join(lines) + after
    masked = MASKER.mask(text)
    assert not any(run in masked for run in _runs(token) if run not in before + after)


VALUE = secrets.token_urlsafe(36)
MASKER = Masker({"VALUE": VALUE})


# Through a real server and kernel ----------------------------------------------------

CELLS = [
    "for v in V: print(textwrap.fill(v, 16))",
    "textwrap.fill(V[0], 12)",
    "textwrap.wrap(V[1], 10)",
    "print(*textwrap.wrap(V[2], 20), sep='\\n')",
    "display({'text/plain': textwrap.fill(V[3], 30)}, raw=True)",
]


@pytest.fixture
def granted(provenance_policy: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """One value of each kind granted to every notebook (the policy is written before the
    server starts)."""
    values = _values()
    provenance_policy(policy_granting(values, monkeypatch))
    return values


@pytest.mark.slow
async def test_folded_values_never_reach_the_browser_or_the_saved_notebook(
    granted: dict[str, str], jp_fetch: Any, jp_ws_fetch: Any, jp_root_dir: Path
) -> None:
    from conftest import code, notebook
    from kernel_client import execute_over_websocket, open_session
    from test_masking_matrix import _outputs

    values = granted
    session = await open_session(jp_fetch, "lab/folds.ipynb")
    kernel_id = session["kernel"]["id"]
    ws = await jp_ws_fetch("api", "kernels", kernel_id, "channels")
    client_session = uuid.uuid4().hex
    received: list[Any] = []
    cells = []
    try:
        setup = await execute_over_websocket(
            ws,
            client_session,
            f"import os, textwrap\nV = [os.environ[n] for n in {list(values)!r}]",
        )
        assert not [m for m in _outputs(setup) if m.get("output_type") == "error"], _outputs(setup)
        for source in CELLS:
            frames = await execute_over_websocket(ws, client_session, source)
            received += frames
            cells.append(code(source, _outputs(frames)))
    finally:
        ws.close()
        await jp_fetch("api", "kernels", kernel_id, method="DELETE")
    browser = "\n".join(f if isinstance(f, str) else f.decode("latin-1") for f in received)
    errors = [m for m in _outputs(received) if m.get("output_type") == "error"]
    assert not errors, errors
    for name in values:
        assert f"[secret:{name}]" in browser
    assert not _leaked(browser, values)

    (jp_root_dir / "lab").mkdir(exist_ok=True)
    await jp_fetch(
        "api",
        "contents",
        "lab/folds.ipynb",
        method="PUT",
        body=json.dumps({"type": "notebook", "content": notebook(*cells)}),
    )
    saved = (jp_root_dir / "lab" / "folds.ipynb").read_text(encoding="utf-8")
    assert "[secret:TOKEN]" in saved
    assert not _leaked(saved, values)


@pytest.mark.parametrize("kind", ["TOKEN", "HEX", "JWT", "QUOTED"])
def test_a_value_in_highlighted_code_is_masked(masker_kind: str, kind: str) -> None:
    """IPython's ``Code(..., language='python')`` (Pygments) puts each token of a string
    literal in its own ``<span>``: a value holding an escape or a quote was split into
    pieces by tags, each too short to be found."""
    import html
    import re

    from IPython.display import Code

    values = {**_values(), "QUOTED": "p\\a&s\"s'<w>é" + secrets.token_hex(8) + "/ord"}
    masker = Masker(values)
    value = values[kind]
    for source in (f"t = {value!r}", f"t = {json.dumps(value)}", f"d = {{'k': {value!r}}}"):
        shown = Code(source, language="python")._repr_html_()
        masked = masker.mask(shown)
        assert f"[secret:{kind}]" in masked, masked[-400:]
        text = html.unescape(re.sub(r"<[^<>]*>", "", masked))
        assert not _leaked(text, {kind: value}), (source, masked[-400:])
        # The HTML stays whole: tags inside the value go with it, never half a tag.
        assert masked.count("<span") == masked.count("</span>")
        assert masked.count("<") == masked.count(">")
