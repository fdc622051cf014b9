"""Property-based tests of the notebook walker and the scanner's locations."""

from __future__ import annotations

import base64
import json
import random
import struct
import zlib
from typing import Any

import pytest
from conftest import code, markdown, notebook
from corpus import expand
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyter_qsecure.guard import Scanner
from jupyter_qsecure.guard.binary import binary_payload, decode_text, looks_binary
from jupyter_qsecure.guard.walker import notebook_fragments

SCANNER = Scanner()
# Text without credentials: letters, digits, punctuation and newlines, but short words.
safe_text = st.text(alphabet=st.sampled_from(list("abc xyz 012 =()[]{}:;,.\n#'\"")), max_size=200)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=40,
)


def _cells(sources: list[str], kinds: list[bool]) -> list[dict[str, Any]]:
    return [
        code(text) if is_code else markdown(text)
        for text, is_code in zip(sources, kinds, strict=False)
    ]


@given(st.lists(safe_text, min_size=1, max_size=8), st.lists(st.booleans(), min_size=8, max_size=8))
def test_string_and_list_sources_give_the_same_fragments(
    sources: list[str], kinds: list[bool]
) -> None:
    as_strings = notebook(*_cells(sources, kinds))
    as_lists = json.loads(json.dumps(as_strings))
    for cell in as_lists["cells"]:
        cell["source"] = cell["source"].splitlines(keepends=True)
    assert [f.text for f in notebook_fragments(as_strings)] == [
        f.text for f in notebook_fragments(as_lists)
    ]


@given(json_values)
def test_any_json_is_walked_without_error(value: Any) -> None:
    list(notebook_fragments(value))
    list(notebook_fragments({"nbformat": 4, "cells": [value], "metadata": value}))
    SCANNER.scan_notebook(
        {
            "nbformat": 4,
            "nbformat_minor": 5,
            "cells": [{"cell_type": "code", "source": value, "outputs": [value]}],
        }
    )


@given(st.integers(min_value=1, max_value=20_000))
def test_nesting_depth_does_not_matter(depth: int) -> None:
    nested: Any = "end"
    for _ in range(depth):
        nested = [nested]
    texts = [f.text for f in notebook_fragments(notebook(code("x"), metadata={"deep": nested}))]
    assert texts == ["deep", '"deep": "end"', "x"]


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=60)
@given(
    st.lists(safe_text, min_size=1, max_size=6),
    st.lists(st.booleans(), min_size=6, max_size=6),
    st.data(),
)
def test_a_token_is_located_at_its_cell_and_line(
    sources: list[str], kinds: list[bool], data: st.DataObject
) -> None:
    token = expand("gh" + "p_{A:36}", random.Random(data.draw(st.integers())))
    cells = _cells(sources, kinds)
    index = data.draw(st.integers(min_value=0, max_value=len(cells) - 1))
    lines = cells[index]["source"].split("\n")
    line = data.draw(st.integers(min_value=0, max_value=len(lines)))
    lines.insert(line, f"t = '{token}'")
    cells[index]["source"] = "\n".join(lines)
    if data.draw(st.booleans()):
        cells[index]["source"] = cells[index]["source"].splitlines(keepends=True)
    findings = [
        f for f in SCANNER.scan_notebook(notebook(*cells)).findings if f.rule == "github-token"
    ]
    assert [(f.location.cell_index, f.location.line) for f in findings] == [(index, line + 1)]


@given(st.lists(safe_text, min_size=1, max_size=4), st.sampled_from([None, 1, 2, 4]), st.booleans())
def test_serialisation_does_not_change_findings(
    sources: list[str], indent: int | None, ascii_only: bool
) -> None:
    token = expand("gh" + "p_{A:36}", random.Random(0))
    nb = notebook(*[code(s) for s in sources], code(f"x = '{token}'  # café"))
    reparsed = json.loads(json.dumps(nb, indent=indent, ensure_ascii=ascii_only, sort_keys=True))
    assert SCANNER.scan_notebook(reparsed).findings == SCANNER.scan_notebook(nb).findings


# Binary decided from the bytes, not from a name --------------------------------------------


def _png_bytes(seed: int, size: int = 64) -> bytes:
    rng = random.Random(seed)
    raw = b"".join(b"\x00" + rng.randbytes(size * 3) for _ in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 1))
        + chunk(b"IEND", b"")
    )


def _b64(data: bytes, lines: bool = False) -> str:
    text = base64.b64encode(data).decode()
    return "\n".join(text[i : i + 76] for i in range(0, len(text), 76)) if lines else text


TOKEN = expand("gh" + "p_{A:36}", random.Random(7))
#: An AWS secret access key: 40 characters, every one valid base64.
AWS_SECRET = expand("{A:12}/{A:14}/{A:12}", random.Random(8))  # made at run time


def _found(nb: Any) -> set[str]:
    return {f.rule for f in SCANNER.scan_notebook(nb).findings}


def _with_output(output: dict[str, Any]) -> dict[str, Any]:
    return notebook(code("plot()", [output]))


def _display(mime: str, payload: Any) -> dict[str, Any]:
    return {"output_type": "display_data", "metadata": {}, "data": {mime: payload}}


HIDING_PLACES = {
    "image/png output": lambda v: _with_output(_display("image/png", v)),
    "image/png output as lines": lambda v: _with_output(_display("image/png", [v[:5], v[5:]])),
    "image/jpeg output": lambda v: _with_output(_display("image/jpeg", v)),
    "audio/wav output": lambda v: _with_output(_display("audio/wav", v)),
    "application/pdf output": lambda v: _with_output(_display("application/pdf", v)),
    "image/png attachment": lambda v: notebook(
        {
            "cell_type": "markdown",
            "source": "![a](attachment:a.png)",
            "attachments": {"a.png": {"image/png": v}},
        }
    ),
    "cell metadata png": lambda v: notebook({**code("x = 1"), "metadata": {"png": v}}),
    "cell metadata image/png": lambda v: notebook(
        {**code("x = 1"), "metadata": {"deep": [{"image/png": v}]}}
    ),
    "notebook metadata jpeg": lambda v: notebook(code("x"), metadata={"jpeg": v}),
    "output metadata image/png": lambda v: _with_output(
        {"output_type": "display_data", "metadata": {"image/png": v}, "data": {"text/plain": "x"}}
    ),
    "unknown output key": lambda v: _with_output(
        {"output_type": "display_data", "metadata": {}, "data": {}, "png": v}
    ),
    "nbformat 3 png output": lambda v: {
        "nbformat": 3,
        "nbformat_minor": 0,
        "metadata": {},
        "worksheets": [
            {
                "cells": [
                    {
                        "cell_type": "code",
                        "input": "plot()",
                        "outputs": [{"output_type": "display_data", "png": v}],
                    }
                ]
            }
        ],
    },
}


@pytest.mark.parametrize("place", list(HIDING_PLACES))
@pytest.mark.parametrize(
    ("value", "rule"),
    [
        (f"token {TOKEN}", "github-token"),
        (TOKEN, "github-token"),
        (_b64(f"GH_TOKEN={TOKEN}\n".encode()), "github-token"),  # base64 of text: decoded
        (f"aws_secret_access_key = {AWS_SECRET}", "aws-secret-key"),
        # valid PNG base64 with the credential appended: not valid base64 of an image
        (_b64(_png_bytes(1)) + f"\n{TOKEN}", "github-token"),
    ],
    ids=["text", "bare", "base64-of-text", "aws-keyword", "png-plus-text"],
)
def test_a_credential_under_a_binary_name_is_found(place: str, value: str, rule: str) -> None:
    found = _found(HIDING_PLACES[place](value))
    assert rule in found or "injected-secret" in found, (place, found)


@pytest.mark.parametrize("place", list(HIDING_PLACES))
@pytest.mark.parametrize("lines", [False, True])
def test_a_real_image_is_not_scanned(place: str, lines: bool) -> None:
    payload = _b64(_png_bytes(2), lines)
    texts = [f.text for f in notebook_fragments(HIDING_PLACES[place](payload))]
    assert not any(payload[:40] in text for text in texts)


@settings(max_examples=60)
@given(st.binary(min_size=40, max_size=3000), st.sampled_from(["image/png", "png", "image/gif"]))
def test_image_data_is_skipped_and_anything_else_is_text(tail: bytes, key: str) -> None:
    image = b"\x89PNG\r\n\x1a\n" + tail
    assert binary_payload(_b64(image))
    assert not binary_payload(_b64(image) + "!")
    assert not binary_payload(_b64(tail[:20]))  # too short to be taken for an image
    # Text (not base64 of an image's signature) under the same key is given to the rules.
    text = tail.decode("latin-1")
    nb = notebook({**code("x"), "metadata": {key: text}})
    assert any(text in fragment.text for fragment in notebook_fragments(nb)) or not text


# UTF-16 and UTF-32 text ----------------------------------------------------------------------

ENCODINGS = ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"]


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_utf16_and_utf32_files_are_decoded_and_scanned(encoding: str) -> None:
    # PowerShell 5 writes UTF-16 LE with a byte order mark ("utf-16" here)
    raw = f"$env:GITHUB_TOKEN = '{TOKEN}'\r\nWrite-Host 'café'\r\n".encode(encoding)
    assert not looks_binary(raw)
    assert decode_text(raw).startswith("$env:GITHUB_TOKEN")
    assert [f.rule for f in SCANNER.scan_bytes(raw).findings] == ["github-token"]


@settings(max_examples=80)
@given(
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=4),
    st.sampled_from(ENCODINGS),
)
def test_ascii_text_in_any_utf16_or_utf32_form_is_text(text: str, encoding: str) -> None:
    raw = text.encode(encoding)
    assert not looks_binary(raw)
    assert decode_text(raw) == text


@pytest.mark.parametrize(
    "raw",
    [
        _png_bytes(3),
        b"\x00\x01\x02\x03" * 100,
        bytes(range(256)) * 8,
        b"PK\x03\x04" + bytes(300),
    ],
)
def test_binary_files_stay_binary(raw: bytes) -> None:
    assert looks_binary(raw)


def test_metadata_that_is_not_an_object_is_still_scanned() -> None:
    """A hostile file's notebook or cell metadata as a list or string hides nothing."""
    value = expand("gh" + "p_{A:36}", random.Random(7))
    top = {"nbformat": 4, "nbformat_minor": 5, "cells": [], "metadata": [f"token = {value}"]}
    cell = notebook(code("x = 1"))
    cell["cells"][0]["metadata"] = f"token = {value}"
    for nb in (top, cell):
        [finding] = SCANNER.scan_notebook(nb).findings
        assert finding.location.field.startswith("metadata")
