"""The canonical form of notebooks and outputs (jupyter_qsecure.signing.canonical).

Properties: re-serialising a notebook never changes its canonical bytes; every signed
field changes them (and exactly the affected cell digests); UI state and signatures do
not. Examples: JupyterLab's stream handling, RFC 8785's published vectors, hostile input.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import itertools
import json
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from jupyter_qsecure.signing import canonical
from jupyter_qsecure.signing.canonical import (
    LEGACY_CANONICAL_FORM,
    CanonicalFormError,
    canonical_json,
    canonical_output,
    canonical_outputs,
    cell_digest,
    cell_digests,
    cell_view,
    normalize_text,
    notebook_digest,
    notebook_payload,
    outputs_digest,
    payload_and_cell_digests,
    signed_view,
    source_digest,
)

# --------------------------------------------------------------------------- strategies

# Any Unicode scalar value (astral included), plus the characters JSON escapes or that
# terminals interpret, which random text rarely hits.
SPECIAL = ["\n", "\r", "\b", "\t", "\x00", "\x1b", "\x7f", '"', "\\", "/", "\u2028", "é", "€"]
SPECIAL += ["\U0001f600", "\U0001d11e", "\ufeff", "\ufb33"]
chars = st.one_of(st.characters(exclude_categories=("Cs",)), st.sampled_from(SPECIAL))
texts = st.text(chars, max_size=40)
keys = st.text(chars, max_size=8)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(keys, children, max_size=3),
    max_leaves=12,
)
# Metadata keys that no nbformat schema rule types (so nbformat accepts any value).
meta_keys = st.text("abcxyz_é😀", min_size=1, max_size=6).map(lambda key: "x_" + key)
metadatas = st.dictionaries(meta_keys, json_values, max_size=3)
b64 = st.binary(max_size=48).map(lambda data: base64.b64encode(data).decode())


@st.composite
def mime_bundles(draw: st.DrawFn) -> dict[str, Any]:
    bundle: dict[str, Any] = {"text/plain": draw(texts)}
    if draw(st.booleans()):
        bundle["text/html"] = draw(texts)
    if draw(st.booleans()):
        bundle["image/png"] = draw(b64)
    if draw(st.booleans()):
        bundle["application/json"] = draw(json_values.filter(lambda v: v is not None))
    if draw(st.booleans()):
        # a JSON MIME type whose value is a list of strings: stays a list
        bundle["application/vnd.example+json"] = draw(st.lists(texts, max_size=3))
    return bundle


@st.composite
def outputs(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["stream", "display_data", "execute_result", "error"]))
    if kind == "stream":
        return {
            "output_type": "stream",
            "name": draw(st.sampled_from(["stdout", "stderr"])),
            "text": draw(texts),
        }
    if kind == "error":
        return {
            "output_type": "error",
            "ename": draw(texts),
            "evalue": draw(texts),
            "traceback": draw(st.lists(texts, max_size=3)),
        }
    output: dict[str, Any] = {
        "output_type": kind,
        "data": draw(mime_bundles()),
        "metadata": draw(metadatas),
    }
    if kind == "execute_result":
        output["execution_count"] = draw(st.none() | st.integers(0, 10_000))
    return output


@st.composite
def cells(draw: st.DrawFn, cell_id: str) -> dict[str, Any]:
    kind = draw(st.sampled_from(["code", "markdown", "raw"]))
    cell: dict[str, Any] = {
        "id": cell_id,
        "cell_type": kind,
        "metadata": draw(metadatas),
        "source": draw(texts),
    }
    if draw(st.booleans()):
        tags = st.lists(st.text("abc", min_size=1, max_size=3), max_size=2, unique=True)
        cell["metadata"]["tags"] = draw(tags)
    if draw(st.booleans()):
        cell["metadata"]["qsecure"] = {
            "provenance": {"outputs": draw(texts), "n": draw(st.integers(0, 9))},
            "execution": {"ok": draw(st.booleans())},
        }
    if kind == "code":
        cell["outputs"] = draw(st.lists(outputs(), max_size=4))
        cell["execution_count"] = draw(st.none() | st.integers(0, 10_000))
    elif draw(st.booleans()):
        names = draw(st.lists(st.text("abc.png", min_size=1, max_size=6), max_size=2, unique=True))
        cell["attachments"] = {name: draw(mime_bundles()) for name in names}
    return cell


@st.composite
def notebooks(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(0, 5))
    prefix = draw(st.text("abcdef0123456789", min_size=1, max_size=8))
    metadata = draw(metadatas)
    metadata["kernelspec"] = {"name": "python3", "display_name": draw(texts), "language": "python"}
    if draw(st.booleans()):
        metadata["qsecure"] = {"provenance": {"log": draw(texts)}}
    return {
        "nbformat": 4,
        "nbformat_minor": draw(st.integers(5, 10)),
        "metadata": metadata,
        "cells": [draw(cells(f"{prefix}-{index}")) for index in range(count)],
    }


# --------------------------------------------------------------------------- helpers


def _split(text: str, rng: Any) -> list[str]:
    """``text`` as a list of strings: by lines, or at random points."""
    if rng.random() < 0.5:
        return text.splitlines(keepends=True)
    cuts = sorted(rng.sample(range(len(text) + 1), min(len(text) + 1, rng.randint(0, 4))))
    return [text[a:b] for a, b in itertools.pairwise([0, *cuts, len(text)])]


def reshape(notebook: dict[str, Any], mode: str, seed: int) -> dict[str, Any]:
    """A copy with every multiline field as a list ("list"), a string ("str"), or either."""
    import random

    rng = random.Random(seed)
    nb = copy.deepcopy(notebook)

    def shape(value: Any) -> Any:
        text = normalize_text(value)
        as_list = mode == "list" or (mode == "mixed" and rng.random() < 0.5)
        return _split(text, rng) if as_list else text

    def bundle(data: dict[str, Any]) -> None:
        for mime, value in data.items():
            textual = isinstance(value, str) or (
                isinstance(value, list) and all(isinstance(line, str) for line in value)
            )
            if textual and not canonical._is_json_mime(mime):
                data[mime] = shape(value)

    for cell in nb["cells"]:
        cell["source"] = shape(cell["source"])
        for attachment in cell.get("attachments", {}).values():
            bundle(attachment)
        for output in cell.get("outputs", []):
            if output["output_type"] == "stream":
                output["text"] = shape(output["text"])
            elif "data" in output:
                bundle(output["data"])
    return nb


def digest_map(notebook: dict[str, Any]) -> dict[str, str]:
    return {entry["id"]: entry["digest"] for entry in cell_digests(notebook)}


def stream(text: str | list[str], name: str = "stdout") -> dict[str, Any]:
    return {"output_type": "stream", "name": name, "text": text}


def nb_with(*cell_list: dict[str, Any], minor: int = 5) -> dict[str, Any]:
    return {"nbformat": 4, "nbformat_minor": minor, "metadata": {}, "cells": list(cell_list)}


def code_cell(cell_id: str = "a", source: Any = "x = 1\n", **extra: Any) -> dict[str, Any]:
    cell = {
        "id": cell_id,
        "cell_type": "code",
        "metadata": {},
        "source": source,
        "outputs": [],
        "execution_count": None,
    }
    cell.update(extra)
    return cell


# --------------------------------------------------------------------------- properties

SLOW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SLOW
@given(notebooks())
def test_reserialising_never_changes_the_payload(notebook: dict[str, Any]) -> None:
    payload = notebook_payload(notebook)
    assert payload == canonical_json(signed_view(notebook))
    for indent, sort_keys, ensure_ascii in itertools.product(
        (None, 1, 2, 4), (False, True), (False, True)
    ):
        text = json.dumps(notebook, indent=indent, sort_keys=sort_keys, ensure_ascii=ensure_ascii)
        assert notebook_payload(json.loads(text)) == payload


@SLOW
@given(notebooks(), st.integers(0, 2**32))
def test_list_and_string_forms_give_the_same_payload(notebook: dict[str, Any], seed: int) -> None:
    payload = notebook_payload(notebook)
    digests = cell_digests(notebook)
    for mode in ("list", "str", "mixed"):
        reshaped = reshape(notebook, mode, seed)
        assert notebook_payload(reshaped) == payload
        assert cell_digests(reshaped) == digests
        text = json.dumps(reshaped, indent=1, ensure_ascii=True)
        assert notebook_payload(json.loads(text)) == payload


@SLOW
@given(notebooks())
def test_nbformat_read_and_write_keeps_the_payload(notebook: dict[str, Any]) -> None:
    payload = notebook_payload(notebook)
    node = nbformat.from_dict(copy.deepcopy(notebook))
    written = nbformat.writes(node, version=4)
    assert notebook_payload(nbformat.reads(written, as_version=4)) == payload
    assert notebook_payload(json.loads(written)) == payload


@SLOW
@given(notebooks())
def test_payload_is_utf8_rfc8785_and_digests_match(notebook: dict[str, Any]) -> None:
    payload, digests = payload_and_cell_digests(notebook)
    # Canonical JSON is a fixed point: parsing it and canonicalising again gives it back
    # (a large double comes back from Python's parser as an int and is a double again).
    assert canonical_json(json.loads(payload.decode("utf-8"))) == payload
    assert notebook_digest(notebook) == "sha256:" + hashlib.sha256(payload).hexdigest()
    assert [entry["id"] for entry in digests] == [cell["id"] for cell in notebook["cells"]]
    for entry, cell in zip(digests, notebook["cells"], strict=True):
        assert entry["digest"] == cell_digest(cell)
        assert (
            entry["digest"]
            == "sha256:" + hashlib.sha256(canonical_json(cell_view(cell))).hexdigest()
        )


@SLOW
@given(notebooks())
def test_canonicalising_does_not_change_the_notebook(notebook: dict[str, Any]) -> None:
    before = copy.deepcopy(notebook)
    signed_view(notebook)
    notebook_payload(notebook)
    cell_digests(notebook)
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            outputs_digest(cell["outputs"])
    assert notebook == before


MUTATIONS = ["source", "output", "cell_metadata", "attachment", "cell_type", "execution_count"]


def _mutate_cell(cell: dict[str, Any], how: str) -> bool:
    """Change one signed field of ``cell`` in place; False if it has no such field."""
    if how == "source":
        cell["source"] = normalize_text(cell["source"]) + "changed"
    elif how == "output":
        if cell["cell_type"] != "code" or not cell["outputs"]:
            return False
        output = cell["outputs"][-1]
        if output["output_type"] == "stream":
            # A newline is always appended at the end: no \r or \b can take it back.
            output["text"] = normalize_text(output["text"]) + "\nchanged"
        elif output["output_type"] == "error":
            output["traceback"] = [*output["traceback"], "changed"]
        else:
            output["data"]["text/plain"] = normalize_text(output["data"]["text/plain"]) + "!"
    elif how == "cell_metadata":
        cell["metadata"]["x_changed"] = [cell["metadata"].get("x_changed"), 1]
    elif how == "attachment":
        if cell["cell_type"] == "code":
            return False
        cell.setdefault("attachments", {})["new.png"] = {"image/png": "iVBORw0KGgo="}
    elif how == "cell_type":
        if cell["cell_type"] == "code":
            cell.update(cell_type="markdown")
            del cell["outputs"], cell["execution_count"]
        else:
            cell["cell_type"] = "raw" if cell["cell_type"] == "markdown" else "markdown"
    elif how == "execution_count":
        if cell["cell_type"] != "code":
            return False
        cell["execution_count"] = (cell["execution_count"] or 0) + 1
    return True


@SLOW
@given(notebooks(), st.integers(0, 4), st.sampled_from(MUTATIONS))
def test_a_signed_cell_change_changes_the_payload_and_only_that_cell_digest(
    notebook: dict[str, Any], index: int, how: str
) -> None:
    assume(notebook["cells"])
    index %= len(notebook["cells"])
    changed = copy.deepcopy(notebook)
    assume(_mutate_cell(changed["cells"][index], how))  # some changes fit no cell of its kind
    assert notebook_payload(changed) != notebook_payload(notebook)
    before, after = digest_map(notebook), digest_map(changed)
    cell_id = notebook["cells"][index]["id"]
    assert {key for key in before if before[key] != after[key]} == {cell_id}


@SLOW
@given(notebooks(), st.sampled_from(["minor", "metadata", "order", "kernelspec", "provenance"]))
def test_a_signed_notebook_change_changes_the_payload_and_no_cell_digest(
    notebook: dict[str, Any], how: str
) -> None:
    changed = copy.deepcopy(notebook)
    if how == "minor":
        changed["nbformat_minor"] += 1
    elif how == "metadata":
        changed["metadata"]["x_changed"] = [changed["metadata"].get("x_changed"), 1]
    elif how == "kernelspec":
        changed["metadata"]["kernelspec"]["name"] = "python2"
    elif how == "provenance":
        changed["metadata"].setdefault("qsecure", {})["provenance"] = {"timeline": ["other"]}
        assume(notebook["metadata"].get("qsecure") != changed["metadata"]["qsecure"])
    elif how == "order":
        assume(len(notebook["cells"]) >= 2)
        changed["cells"].reverse()
    assert notebook_payload(changed) != notebook_payload(notebook)
    assert digest_map(changed) == digest_map(notebook)


@SLOW
@given(notebooks(), st.data())
def test_ui_state_and_signatures_are_not_signed(notebook: dict[str, Any], data: Any) -> None:
    payload, digests = payload_and_cell_digests(notebook)
    changed = copy.deepcopy(notebook)
    for cell in changed["cells"]:
        metadata = cell["metadata"]
        if data.draw(st.booleans()):
            metadata["collapsed"] = data.draw(st.booleans())
        if data.draw(st.booleans()):
            metadata["scrolled"] = data.draw(st.sampled_from([True, False, "auto"]))
        if data.draw(st.booleans()):
            jupyter = metadata.setdefault("jupyter", {})
            jupyter["source_hidden"] = data.draw(st.booleans())
            if data.draw(st.booleans()):
                jupyter["outputs_hidden"] = data.draw(st.booleans())
        if data.draw(st.booleans()):
            metadata["trusted"] = data.draw(st.booleans())  # nbformat-transient
    signatures = data.draw(st.lists(st.dictionaries(keys, json_values, max_size=3), max_size=2))
    changed["metadata"].setdefault("qsecure", {})["signatures"] = signatures
    assert payload_and_cell_digests(changed) == (payload, digests)


def test_jupyter_metadata_besides_ui_state_is_signed() -> None:
    plain = nb_with(code_cell())
    hidden = nb_with(code_cell(metadata={"jupyter": {"source_hidden": True}}))
    other = nb_with(code_cell(metadata={"jupyter": {"source_hidden": True, "x": 1}}))
    empty = nb_with(code_cell(metadata={"jupyter": {}}))
    assert notebook_payload(hidden) == notebook_payload(plain) == notebook_payload(empty)
    assert notebook_payload(other) != notebook_payload(plain)
    assert signed_view(other)["cells"][0]["metadata"] == {"jupyter": {"x": 1}}
    signed = nb_with(code_cell())
    signed["metadata"]["qsecure"] = {
        "signatures": [{"key": "k"}],
        "provenance": {"timeline": [1], "chain_head": "sha256:aa", "environment": {}},
    }
    assert signed_view(signed)["metadata"] == {"qsecure": {"provenance": {"timeline": [1]}}}
    assert signed_view(signed, LEGACY_CANONICAL_FORM)["metadata"] == {
        "qsecure": {"provenance": {"timeline": [1], "chain_head": "sha256:aa", "environment": {}}}
    }


@given(
    st.text(max_size=12),
    st.text(max_size=12),
    st.sampled_from(["chain_head", "kernel_session", "environment", "checkpoint", "user"]),
    json_values,
)
def test_what_a_kernel_start_or_a_save_rewrites_is_not_signed(
    version: str, display_name: str, volatile: str, value: Any
) -> None:
    """Form v2: a language patch version, a kernelspec display name and every part of the
    notebook-level provenance but its timeline change without a cell running; none of
    them is signed. The language name, the kernel name and the timeline are."""
    base = nb_with(code_cell())
    base["metadata"] = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python", "version": "3.11.2", "mimetype": "text/x-python"},
        "qsecure": {"provenance": {"timeline": [{"record_id": "r1"}], "chain_head": "h"}},
    }
    drifted = copy.deepcopy(base)
    drifted["metadata"]["language_info"]["version"] = version
    drifted["metadata"]["language_info"]["pygments_lexer"] = "ipython3"
    drifted["metadata"]["kernelspec"]["display_name"] = display_name
    drifted["metadata"]["qsecure"]["provenance"][volatile] = value
    assert notebook_payload(drifted) == notebook_payload(base)
    for field, changed_value in (
        (("language_info", "name"), "R"),
        (("kernelspec", "name"), "ir"),
        (("kernelspec", "language"), "R"),
    ):
        other = copy.deepcopy(base)
        other["metadata"][field[0]][field[1]] = changed_value
        assert notebook_payload(other) != notebook_payload(base)
    other = copy.deepcopy(base)
    other["metadata"]["qsecure"]["provenance"]["timeline"].append({"record_id": "r2"})
    assert notebook_payload(other) != notebook_payload(base)


def test_an_unknown_canonical_form_is_refused() -> None:
    with pytest.raises(CanonicalFormError, match="unknown canonical form 'v9'"):
        notebook_payload(nb_with(code_cell()), "v9")


# --------------------------------------------------------------------------- streams


def jupyterlab_outputs(outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A literal port of JupyterLab 4.4+'s OutputAreaModel._add / Private.processText /
    Private.addText (packages/outputarea/src/model.ts), on BMP text, as a reference."""

    def process_text(index: int, new_text: str, text: str = "") -> tuple[str, int]:
        if not ("\b" in new_text or "\r" in new_text or "\n" in new_text):
            text = text[:index] + new_text + text[index + len(new_text) :]
            return text, index + len(new_text)
        idx0, last_end = index, 0
        while True:
            found = [new_text.find(c, last_end) for c in "\n\b\r"]
            idx1 = min((i for i in found if i >= 0), default=-1)
            prefix = new_text[last_end : len(new_text) if idx1 == -1 else idx1]
            text = text[:idx0] + prefix + text[idx0 + len(prefix) :]
            last_end = idx1 + 1
            idx0 += len(prefix)
            if idx1 == -1:
                break
            char = new_text[idx1]
            if char == "\b":
                if idx0 > 0 and text[idx0 - 1] != "\n":
                    text = text[: idx0 - 1] + text[idx0 + 1 :]
                    idx0 -= 1
            elif char == "\r":
                while idx0 > 0 and text[idx0 - 1] != "\n":
                    idx0 -= 1
            else:
                text = text + "\n"
                idx0 = len(text)
        return text, idx0

    model: list[dict[str, Any]] = []
    last_name, stream_index = "", 0
    for value in copy.deepcopy(outputs):
        if value["output_type"] == "stream":
            value["text"] = (
                "".join(value["text"]) if isinstance(value["text"], list) else value["text"]
            )
            if value["name"] == last_name and model:
                model[-1]["text"], stream_index = process_text(
                    stream_index, value["text"], model[-1]["text"]
                )
                continue
            value["text"], stream_index = process_text(0, value["text"])
            last_name = value["name"]
        else:
            last_name = ""
        model.append(value)
    return model


def test_stream_examples_from_jupyterlab() -> None:
    # The cases of JupyterLab's own test suite (outputarea/test/model.spec.ts).
    cases = [
        (["Jupyter\rj"], "jupyter"),
        (["Jupyter\rj", "\njj\bupyter"], "jupyter\njupyter"),
        (["Jupyter\rj", "\njj\bupyter", "\r\r\njupyter"], "jupyter\njupyter\njupyter"),
        (["abc\r", "\n-"], "abc\n-"),
        (
            ["The meaning of life is....\nSome people... ", "More text."],
            "The meaning of life is....\nSome people... More text.",
        ),
        (["a" * 1000 + "a\b" + "a" * 1000], "a" * 2000),
    ]
    for chunks, expected in cases:
        assert canonical_outputs([stream(chunk) for chunk in chunks]) == [stream(expected)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("50%\r100%\n", "100%\n"),
        ("abcdef\rXY", "XYcdef"),  # overwrites, does not erase the rest of the line
        ("abcdef\rXY\n", "XYcdef\n"),  # a newline goes at the end, not at the cursor
        ("line\r\n", "line\n"),  # Windows line ends lose their \r
        ("abc\b\bX", "aX"),
        ("ab\n\bc", "ab\nc"),  # \b never crosses a newline
        ("\b\b", ""),
        ("abcdef\rXY\bZ", "XZef"),  # \b mid-line deletes before and under the cursor
        ("😀x\rab", "abx"),  # JavaScript strings: 😀 is two code units
        ("a😀\b!", "a\ufffd!"),  # a backspace that splits 😀 leaves U+FFFD
        ("plain 😀 text\n", "plain 😀 text\n"),
        ("", ""),
    ],
)
def test_carriage_return_and_backspace(text: str, expected: str) -> None:
    assert canonical_output(stream(text))["text"] == expected
    assert canonical_outputs([stream(text)]) == [stream(expected)]


def test_streams_merge_only_when_consecutive_and_same_name() -> None:
    display = {"output_type": "display_data", "data": {"text/plain": "x"}, "metadata": {}}
    got = canonical_outputs(
        [stream("a"), stream(["b\n"]), stream("e", "stderr"), stream("c"), display, stream("d")]
    )
    assert got == [stream("ab\n"), stream("e", "stderr"), stream("c"), display, stream("d")]
    # Overwrite state carries across merged chunks, and a new stream starts afresh.
    assert canonical_outputs([stream("abc\r"), stream("X")]) == [stream("Xbc")]
    assert canonical_outputs([stream("abc\r"), stream("e", "stderr"), stream("X")]) == [
        stream("abc"),
        stream("e", "stderr"),
        stream("X"),
    ]


stream_text = st.text(st.sampled_from(list("ab\n\r\b é")), max_size=30)


@settings(max_examples=300)
@given(st.lists(st.tuples(st.sampled_from(["stdout", "stderr"]), stream_text), max_size=6))
def test_streams_match_jupyterlab_and_chunking_does_not_matter(
    chunks: list[tuple[str, str]],
) -> None:
    outputs = [stream(text, name) for name, text in chunks]
    expected = jupyterlab_outputs(outputs)
    assert canonical_outputs(outputs) == expected
    # What JupyterLab saved canonicalises to itself (so kernel and file digests agree).
    assert canonical_outputs(expected) == expected
    assert outputs_digest(outputs) == outputs_digest(expected)
    # One character a message gives the same result as the whole text at once.
    whole = [stream(text, name) for name, text in chunks if text]
    by_char = [stream(c, name) for name, text in chunks for c in text]
    assert canonical_outputs(by_char) == canonical_outputs(whole) == jupyterlab_outputs(whole)


def test_kernel_side_digest_equals_the_saved_notebooks() -> None:
    # What a kernel sent (tqdm-like progress, several flushes, str and list forms) ...
    sent = [
        stream("  0%|          | 0/3\r"),
        stream(" 33%|###       | 1/3\r 67%|######    | 2/3"),
        stream(["\r100%|##########| 3/3\n", "done\n"]),
        {
            "output_type": "execute_result",
            "execution_count": 3,
            "data": {"text/plain": "4"},
            "metadata": {},
            "transient": {"display_id": "x"},
        },
    ]
    # ... and what JupyterLab saved, then nbformat split into lines.
    saved = [
        stream(["100%|##########| 3/3\n", "done\n"]),
        {
            "output_type": "execute_result",
            "execution_count": 3,
            "data": {"text/plain": ["4"]},
            "metadata": {},
        },
    ]
    assert outputs_digest(sent) == outputs_digest(saved)
    expected = canonical_json(
        [
            {"output_type": "stream", "name": "stdout", "text": "100%|##########| 3/3\ndone\n"},
            {
                "output_type": "execute_result",
                "execution_count": 3,
                "data": {"text/plain": "4"},
                "metadata": {},
            },
        ]
    )
    assert outputs_digest(sent) == "sha256:" + hashlib.sha256(expected).hexdigest()


def test_canonical_output_shapes() -> None:
    assert canonical_output(
        {
            "output_type": "display_data",
            "data": {
                "text/plain": ["a\n", "b"],
                "application/json": ["a\n", "b"],
                "application/geo+json": {"x": [1]},
                "image/png": "iVBO\n",
                "text/html": ("<b>", "x</b>"),
                "text/x-not-text": ["a", 1, None],
            },
            "metadata": {"image/png": {"width": 3}},
            "transient": {"display_id": "d"},
            "extra": 1,
        }
    ) == {
        "output_type": "display_data",
        "data": {
            "text/plain": "a\nb",
            "application/json": ["a\n", "b"],
            "application/geo+json": {"x": [1]},
            "image/png": "iVBO\n",
            "text/html": "<b>x</b>",
            "text/x-not-text": ["a", 1, None],  # not all strings: kept as it is
        },
        "metadata": {"image/png": {"width": 3}},
    }
    assert canonical_output({"output_type": "execute_result", "data": {}}) == {
        "output_type": "execute_result",
        "execution_count": None,
        "data": {},
        "metadata": {},
    }
    assert canonical_output(
        {"output_type": "error", "ename": "E", "evalue": "v", "traceback": ("t",), "x": 1}
    ) == {"output_type": "error", "ename": "E", "evalue": "v", "traceback": ["t"]}
    assert canonical_output(
        {"output_type": "stream", "name": "stderr", "text": ["a", "b"], "metadata": {}}
    ) == stream("ab", "stderr")


def test_digests_of_text() -> None:
    text = "print('héllo 😀')\nx = 1"
    expected = "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert source_digest(text) == expected
    assert source_digest(text.splitlines(keepends=True)) == expected
    assert source_digest(list(text)) == expected
    assert source_digest([]) == source_digest("") == "sha256:" + hashlib.sha256(b"").hexdigest()
    with pytest.raises(CanonicalFormError, match="lone surrogate"):
        source_digest("a\ud800")
    with pytest.raises(CanonicalFormError, match=r"item 2 .* not a string"):
        normalize_text(["a", 1])
    with pytest.raises(CanonicalFormError, match="not an object"):
        normalize_text({"a": 1})


# --------------------------------------------------------------------------- RFC 8785

# RFC 8785 Appendix B: IEEE 754 binary64 values and their canonical serialisation.
APPENDIX_B = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


@pytest.mark.parametrize(("bits", "expected"), APPENDIX_B)
def test_rfc8785_number_vectors(bits: str, expected: str) -> None:
    (value,) = struct.unpack(">d", bytes.fromhex(bits))
    assert canonical_json(value) == expected.encode()
    assert canonical_json([value]) == f"[{expected}]".encode()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1e30, "1e+30"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (1e-7, "1e-7"),
        (4.50, "4.5"),
        (2e-3, "0.002"),
        (-0.0, "0"),
        (2**53 - 1, "9007199254740991"),
        # Integers beyond 2**53 are numbers: the nearest double, as JavaScript holds them.
        (2**53 + 1, "9007199254740992"),
        (2**64, "18446744073709552000"),
        (18446744073709552000, "18446744073709552000"),
        (-(2**70), "-1.1805916207174113e+21"),
        (True, "true"),
        (None, "null"),
    ],
)
def test_rfc8785_numbers(value: Any, expected: str) -> None:
    assert canonical_json(value) == expected.encode()


def test_rfc8785_sample_object_and_key_order() -> None:
    # RFC 8785 section 3.2.2's sample input and its canonical form (section 3.2.4).
    sample = (
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        ' "literals": [null, true, false]}'
    )
    expected = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert canonical_json(json.loads(sample)) == expected.encode("utf-8")
    # Section 3.2.3: members sorted by their UTF-16 code units (😀 before U+FB33).
    names = ["\u20ac", "\r", "\ufb33", "1", "\U0001f600", "\u0080", "\u00f6"]
    ordered = json.loads(canonical_json({name: 0 for name in names}))
    assert list(ordered) == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (float("nan"), "at the top level: NaN"),
        ({"a": [1, float("inf")]}, "at /a/1: Infinity"),
        ({"a/b": {"c~": float("-inf")}}, "at /a~1b/c~0: Infinity"),
        ({1: "x"}, "key that is a number"),
        ({"x": {b"k": 1}}, "at /x: an object key that is a Python bytes"),
        ({"x": "\udc00"}, "at /x: a lone surrogate U\\+DC00"),
        ({"\ud800": 1}, "object key with a lone surrogate"),
        ({"x": {1, 2}}, "at /x: a Python set"),
        ([10**400], "at /0: an integer too large"),
    ],
)
def test_values_json_cannot_hold(value: Any, message: str) -> None:
    with pytest.raises(CanonicalFormError, match=message):
        canonical_json(value)
    assert issubclass(CanonicalFormError, ValueError)


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    value: Any = 1
    for _ in range(sys.getrecursionlimit() + 10):
        value = [value]
    with pytest.raises(CanonicalFormError, match="nested too deeply"):
        canonical_json(value)


# --------------------------------------------------------------------------- hostile input


@pytest.mark.parametrize(
    ("notebook", "message"),
    [
        ([], "not a notebook: expected an object .* got an array"),
        ("nb", "not a notebook"),
        ({"cells": []}, "has no nbformat"),
        ({"nbformat": 4}, "has no cells"),
        ({"nbformat": 3, "nbformat_minor": 0, "worksheets": [], "cells": []}, "nbformat 3"),
        ({"nbformat": True, "nbformat_minor": 5, "cells": []}, "nbformat True"),
        ({"nbformat": 4, "nbformat_minor": "5", "cells": []}, "nbformat_minor"),
        ({"nbformat": 4, "nbformat_minor": 5, "cells": {}}, "cells are an object"),
        ({"nbformat": 4, "nbformat_minor": 5, "metadata": [], "cells": []}, "notebook metadata"),
        (nb_with(code_cell(), 7), "cell 2: the cell is a number"),
        (nb_with(code_cell(), code_cell()), "cells 1 and 2 have the same id 'a'"),
        (nb_with({"id": "z", "cell_type": "heading", "source": ""}), "cell 1 .*'heading'"),
        (nb_with(code_cell(source=5)), "cell 1 \\(id 'a'\\): source: expected text"),
        (
            nb_with({"id": "m", "cell_type": "markdown"}),
            "cell 1 \\(id 'm'\\): the cell has no source",
        ),
        (nb_with(code_cell(cell_id="")), "cell 1 .*not a non-empty string"),
        (nb_with(code_cell(outputs={})), "outputs are an object"),
        (
            nb_with(code_cell(outputs=[stream("a"), {"output_type": "x"}])),
            "output 2: unknown output_type",
        ),
        (
            nb_with(code_cell(outputs=[{"output_type": "stream", "text": "a"}])),
            "output 1: stream output has no 'name'",
        ),
        (nb_with(code_cell(outputs=[stream(["a", None])])), "stream output text: item 2"),
        (nb_with(code_cell(outputs=[{"output_type": "error", "ename": "E"}])), "has no 'evalue'"),
        (nb_with(code_cell(execution_count="1")), "execution_count is a string"),
        (nb_with(code_cell(metadata=[])), "cell metadata is an array"),
        (
            nb_with({"id": "m", "cell_type": "markdown", "source": "", "attachments": {"a": 1}}),
            "attachment 'a' is a number",
        ),
    ],
)
def test_hostile_notebooks_get_a_clear_error(notebook: Any, message: str) -> None:
    for function in (notebook_payload, signed_view, cell_digests, notebook_digest):
        with pytest.raises(CanonicalFormError, match=message):
            function(notebook)


def test_values_json_cannot_hold_are_located_in_the_notebook() -> None:
    bad = nb_with(code_cell(), code_cell("b", metadata={"x": [float("nan")]}))
    for function in (notebook_payload, cell_digests, notebook_digest):
        with pytest.raises(
            CanonicalFormError, match=r"^cell 2 \(id 'b'\): .* at /metadata/x/0: NaN"
        ):
            function(bad)
    bad = nb_with(code_cell())
    bad["metadata"]["seed"] = float("inf")
    with pytest.raises(CanonicalFormError, match=r"^notebook metadata: .* at /metadata/seed: Inf"):
        notebook_payload(bad)


def test_cells_without_ids_name_the_cell_and_the_fix() -> None:
    old = {
        "nbformat": 4,
        "nbformat_minor": 4,
        "metadata": {},
        "cells": [{"cell_type": "markdown", "metadata": {}, "source": "hi"}] * 3,
    }
    with pytest.raises(CanonicalFormError) as caught:
        notebook_payload(old)
    message = str(caught.value)
    assert message.startswith("cell 1 has no id; cell ids came with nbformat 4.5")
    assert "nbformat 4.4" in message and "nbformat.v4.upgrade" in message
    # The fix the message gives works.
    upgraded = nbformat.v4.upgrade(nbformat.from_dict(copy.deepcopy(old)))
    assert notebook_payload(upgraded)
    with pytest.raises(CanonicalFormError, match="the cell has no id"):
        cell_view({"cell_type": "code", "source": ""})


@settings(max_examples=200)
@given(json_values, st.sampled_from(["notebook", "cell", "output", "metadata"]))
def test_any_json_gives_bytes_or_a_canonical_form_error(value: Any, where: str) -> None:
    if where == "notebook":
        candidate: Any = value
    elif where == "cell":
        candidate = nb_with(value)
    elif where == "output":
        candidate = nb_with(code_cell(outputs=[value]))
    else:
        candidate = nb_with(code_cell(metadata=value))
    for function, argument in ((notebook_payload, candidate), (outputs_digest, value)):
        try:
            result: Any = function(argument)
        except CanonicalFormError as error:  # the only exception allowed, with a message
            result = str(error)
        assert result


# --------------------------------------------------------------------------- the module


def test_the_module_imports_nothing_heavy() -> None:
    code = (
        "import sys, jupyter_qsecure.signing.canonical; "
        "print(' '.join(sorted(m.split('.')[0] for m in sys.modules)))"
    )
    loaded = set(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.split()
    )
    # rfc8785 too is loaded only for values Python's JSON does not write as RFC 8785 does
    assert "json" in loaded and "rfc8785" not in loaded
    heavy = {
        "nbformat",
        "jupyter_server",
        "jupyter_client",
        "tornado",
        "traitlets",
        "zmq",
        "jsonschema",
        "IPython",
        "ipykernel",
        "fastjsonschema",
    }
    assert not loaded & heavy


def test_the_benchmark_notebook() -> None:
    bench = str(Path(__file__).resolve().parent.parent / "bench")
    sys.path.insert(0, bench)
    try:
        from workload import build_notebook
    finally:
        sys.path.remove(bench)
    notebook = build_notebook()
    payload, digests = payload_and_cell_digests(notebook)
    assert payload == canonical_json(signed_view(notebook))
    assert len(digests) == len(notebook["cells"])
    assert notebook_payload(nbformat.reads(json.dumps(notebook), as_version=4)) == payload


# The worked example of docs/signing.md ("Canonical form"): a vector for other implementations.
DOC_EXAMPLE = r"""{
 "cells": [
  {"cell_type": "markdown", "id": "intro", "metadata": {"jupyter": {"source_hidden": true}},
   "source": ["# Bell state\n", "Prepared with qiskit."]},
  {"cell_type": "code", "execution_count": 3, "id": "run",
   "metadata": {"collapsed": false, "tags": ["main"]},
   "outputs": [
    {"name": "stdout", "output_type": "stream", "text": ["50%\r"]},
    {"name": "stdout", "output_type": "stream", "text": ["100%\n", "h\u00e9llo \ud83d\ude00\n"]},
    {"data": {"text/plain": ["2"]}, "execution_count": 3, "metadata": {}, "output_type": "execute_result"}
   ],
   "source": ["print('h\u00e9llo \ud83d\ude00')\n", "1 + 1"]}
 ],
 "metadata": {
  "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
  "qsecure": {"signatures": [{"signer": "ada@example.org"}]}
 },
 "nbformat": 4,
 "nbformat_minor": 5
}"""
DOC_PAYLOAD = (
    r'{"cells":[{"cell_type":"markdown","id":"intro","metadata":{},"source":"# Bell state\n'
    r'Prepared with qiskit."},{"cell_type":"code","execution_count":3,"id":"run","metadata":'
    r'{"tags":["main"]},"outputs":[{"name":"stdout","output_type":"stream","text":"100%\nhéllo'
    r' 😀\n"},{"data":{"text/plain":"2"},"execution_count":3,"metadata":{},"output_type":'
    r'"execute_result"}],"source":"print(\'héllo 😀\')\n1 + 1"}],"metadata":{"kernelspec":'
    r'{"language":"python","name":"python3"}},"nbformat":4,"nbformat_minor":5}'
)


def test_the_documented_example() -> None:
    notebook = json.loads(DOC_EXAMPLE)
    payload = notebook_payload(notebook)
    assert payload == DOC_PAYLOAD.replace("\\'", "'").encode("utf-8")
    assert len(payload) == 502
    assert notebook_digest(notebook) == (
        "sha256:b1802b99bac90c91b36be3db43ff4bbfb29c9e5e84c977856d4ddf56ee41d25f"
    )
    # The legacy form v1 (old signatures) also signed the kernelspec's display name.
    legacy = notebook_payload(notebook, LEGACY_CANONICAL_FORM)
    assert len(legacy) == 528
    assert hashlib.sha256(legacy).hexdigest() == (
        "ec62ba4351010f42e1c0a26d7e9a06aa82b6733dfd2e55afec55f5bacd09e439"
    )
    assert cell_digests(notebook) == [
        {
            "id": "intro",
            "digest": "sha256:7c191a555ced90c3c5e60038e67c13f30a5fb8725fb74200f16105f13252cabf",
        },
        {
            "id": "run",
            "digest": "sha256:c8f1fad5b0c811b9970dc1a3b434879c5c1b77ee2c9d68692ab576e4c9e325d7",
        },
    ]
    run = notebook["cells"][1]
    assert outputs_digest(run["outputs"]) == (
        "sha256:f58801b8936f39ae04efb42de53f9070876b766cfcb9262fea5b8c70c660879b"
    )
    assert source_digest(run["source"]) == (
        "sha256:0ddc77ce3db48b83612e7778304d66969c32cb9d2d69b4bbcd79b52dbfecc117"
    )


@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.floats(min_value=1e-5, max_value=1e17)
        | st.text(),
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
        ),
        max_leaves=30,
    )
)
def test_fast_path_equals_rfc8785(value: object) -> None:
    """The plain-JSON fast path gives exactly RFC 8785's bytes."""
    import rfc8785

    # Hypothesis's text has no lone surrogates (both forms refuse those: the error tests).
    assert canonical_json(value) == rfc8785.dumps(value)


@given(st.floats(allow_nan=False, allow_infinity=False))
@settings(max_examples=3000)
def test_plain_floats_are_written_as_ecmascript_writes_them(number: float) -> None:
    """Every float the fast path takes serialises to RFC 8785's bytes; near the range's
    edges and for integral values the two forms differ, which is why they are left out."""
    import rfc8785

    from jupyter_qsecure.signing.canonical import _plain_float

    if _plain_float(number):
        assert json.dumps(number).encode() == rfc8785.dumps(number)


def test_plain_float_edges() -> None:
    """The edges of the range where Python and ECMAScript agree."""
    import rfc8785

    from jupyter_qsecure.signing.canonical import _plain_float

    assert json.dumps(1e-5) != rfc8785.dumps(1e-5).decode()  # 1e-05 against 0.00001
    assert json.dumps(1e16 + 2.5) == "1.0000000000000002e+16"
    assert json.dumps(100.0) != rfc8785.dumps(100.0).decode()  # 100.0 against 100
    assert not _plain_float(1e-5) and not _plain_float(100.0) and not _plain_float(1e16 + 2.5)
    assert _plain_float(12.345) and _plain_float(-0.0001234)
    assert canonical_json({"duration_ms": 12.345}) == b'{"duration_ms":12.345}'
