"""The scan of an autosave walks only the cells that changed (guard.cellcache): what it
finds is exactly what a full walk finds, whatever changed, moved or repeats."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

from conftest import code, markdown, notebook
from corpus import expand
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyter_qsecure.guard import Scanner
from jupyter_qsecure.guard.cellcache import CellCache
from jupyter_qsecure.guard.context import cell_reads_credential
from jupyter_qsecure.guard.walker import notebook_fragments

PATH = Path("/lab/shared.ipynb")


def credential(rng: random.Random) -> str:
    """A GitHub token-shaped value, made at run time."""
    return expand("gh" + "p_{A:36}", rng)


def findings(scanner: Scanner, nb: dict[str, Any], cells: CellCache | None) -> list[Any]:
    return [f.to_json() for f in scanner.scan_notebook(nb, path=PATH, cells=cells).findings]


def leaky_notebook(rng: random.Random) -> dict[str, Any]:
    """Values in every place the walker reads: source, outputs, metadata, attachments, a
    key nbformat does not define, a cell that is not an object, a printed credential."""
    printed = expand("{H:128}", rng)
    nb = notebook(
        code(f'token = "{credential(rng)}"'),
        markdown("notes"),
        code(
            'print(os.environ["IBM_QUANTUM_TOKEN"])',
            [{"output_type": "stream", "name": "stdout", "text": printed + "\n"}],
        ),
        code(
            "x = 1",
            [
                {
                    "output_type": "execute_result",
                    "execution_count": 1,
                    "data": {"text/plain": f"'{credential(rng)}'"},
                    "metadata": {},
                }
            ],
        ),
        {**markdown("see ![a](attachment:a.txt)"), "attachments": {"a.txt": {"text/plain": ""}}},
        metadata={"kernelspec": {"name": "python3"}, "note": credential(rng)},
    )
    nb["cells"][4]["attachments"]["a.txt"]["text/plain"] = credential(rng)
    nb["cells"][1]["metadata"]["png"] = credential(rng)
    nb["cells"][3]["extra"] = {"nested": [credential(rng)]}
    nb["cells"].append(f"token = {credential(rng)}")
    nb["extra"] = credential(rng)
    return nb


def test_a_cached_walk_gives_the_walkers_fragments_in_its_order() -> None:
    nb = leaky_notebook(random.Random(1))
    cache = CellCache()
    for _ in range(2):  # cold, then every cell a hit
        walked = cache.walk(nb, "k", cell_reads_credential)
        assert walked is not None
        fragments, reading = walked
        assert fragments == list(notebook_fragments(nb))
        assert reading == {2}
    # Not an nbformat 4 notebook: the caller walks it the usual way.
    assert cache.walk({"nbformat": 3, "worksheets": []}, "k", cell_reads_credential) is None
    assert cache.walk([nb], "k", cell_reads_credential) is None


def test_every_finding_is_found_warm_as_cold_with_cells_moved_and_repeated() -> None:
    rng = random.Random(2)
    scanner = Scanner()
    nb = leaky_notebook(rng)
    cache = CellCache()
    expected = findings(scanner, nb, None)
    assert len(expected) >= 9
    assert findings(scanner, nb, cache) == expected
    assert findings(scanner, copy.deepcopy(nb), cache) == expected

    # Cells moved (an insert at the top shifts every index) and one repeated.
    moved = copy.deepcopy(nb)
    moved["cells"].insert(0, code("import qiskit"))
    moved["cells"].append(copy.deepcopy(moved["cells"][1]))
    assert findings(scanner, moved, cache) == findings(scanner, moved, None)
    indices = {f["cell_index"] for f in findings(scanner, moved, cache)}
    assert 0 not in indices and len(moved["cells"]) - 1 in indices


def test_a_value_typed_into_a_cell_seen_before_is_found() -> None:
    """The collaboration autosave: the same notebook again and again, one cell edited."""
    rng = random.Random(3)
    scanner = Scanner()
    cache = CellCache()
    nb = notebook(code("import qiskit"), markdown("# Run"), code("x = 1"))
    assert findings(scanner, nb, cache) == []
    edited = json.loads(json.dumps(nb))
    edited["cells"][2]["source"] += f'\ntoken = "{credential(rng)}"'
    [found] = findings(scanner, edited, cache)
    assert found["cell_index"] == 2 and found["line"] == 2
    # The fix: gone again, though the leaking cell was the one remembered last.
    assert findings(scanner, nb, cache) == []
    # A cell that now prints a credential makes its unchanged output one.
    printed = expand("{H:128}", rng)
    output = {"output_type": "stream", "name": "stdout", "text": printed}
    quiet = notebook(code("print(result)", [output]))
    assert findings(scanner, quiet, cache) == []
    loud = copy.deepcopy(quiet)
    loud["cells"][0]["source"] = 'print(os.environ["IBM_QUANTUM_TOKEN"])'
    [found] = findings(scanner, loud, cache)
    assert found["rule"] == "notebook-context-credential"


def test_only_the_last_notebooks_are_remembered() -> None:
    cache = CellCache(notebooks=2)
    nb = notebook(code("x = 1"))
    for key in ("a", "b", "c"):
        cache.walk(nb, key, cell_reads_credential)
    assert list(cache._cells) == ["b", "c"]
    cache.forget("b")
    assert list(cache._cells) == ["c"]
    cache.forget()
    assert not cache._cells


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    edits=st.lists(
        st.tuples(st.integers(0, 5), st.sampled_from(["source", "metadata", "extra", "swap"])),
        max_size=6,
    ),
    value=json_values,
    seed=st.integers(0, 2**32 - 1),
)
def test_any_sequence_of_edits_finds_what_a_full_walk_finds(
    edits: list[tuple[int, str]], value: Any, seed: int
) -> None:
    rng = random.Random(seed)
    scanner = Scanner()
    cache = CellCache()
    nb = leaky_notebook(rng)
    for index, kind in edits:
        cells = nb["cells"]
        index %= len(cells)
        cell = cells[index]
        if kind == "swap":
            cells[index], cells[-1] = cells[-1], cells[index]
        elif not isinstance(cell, dict):
            cells[index] = {"cell_type": "raw", "source": json.dumps(value), "metadata": {}}
        elif kind == "source":
            cell["source"] = f"{cell.get('source', '')}\ntoken = '{credential(rng)}'"
        elif kind == "metadata":
            cell["metadata"] = {"x": value}
        else:
            cell["extra"] = value
        assert findings(scanner, nb, cache) == findings(scanner, nb, None)
