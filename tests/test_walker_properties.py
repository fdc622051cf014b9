"""Property-based tests of the notebook walker and the scanner's locations."""

from __future__ import annotations

import json
import random
from typing import Any

from conftest import code, markdown, notebook
from corpus import expand
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyter_qsecure.guard import Scanner
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
