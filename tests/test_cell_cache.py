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
from jupyter_qsecure.guard.engine import encode
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
        fragments, encoded, reading, code_cells = walked
        assert fragments == list(notebook_fragments(nb))
        # The bytes the engine scans, remembered with each cell, are each fragment's.
        assert encoded == [encode(fragment.text) for fragment in fragments]
        assert reading == {2}
        assert code_cells == {0, 2, 3}  # not the Markdown cells, nor the bare string
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


def test_a_change_a_cell_keeps_looking_the_same_after_is_found() -> None:
    """Changes that leave a cell's id, length, type and every other field as they were
    (one character of the source, only an output, only metadata, a value's type, a key
    renamed) are scanned: the cell is walked again, not taken from what was remembered."""
    rng = random.Random(5)
    scanner = Scanner()
    value = credential(rng)
    base = notebook(
        code(f'name = "{"x" * len(value)}"'),
        code(
            "print(result)",
            [{"output_type": "stream", "name": "stdout", "text": "counts: 512\n"}],
        ),
        markdown("# Notes"),
        metadata={"kernelspec": {"name": "python3", "language": "python"}},
    )
    for cell, cell_id in zip(base["cells"], ("a1", "b2", "c3"), strict=True):
        cell["id"] = cell_id

    def edited(change: Any) -> dict[str, Any]:
        nb = copy.deepcopy(base)
        change(nb["cells"])
        return nb

    def source(cells: list[dict[str, Any]]) -> None:
        before = cells[0]["source"]
        cells[0]["source"] = f'name = "{value}"'
        assert len(cells[0]["source"]) == len(before)

    def output(cells: list[dict[str, Any]]) -> None:
        cells[1]["outputs"][0]["text"] = f"{value}\n"

    def metadata(cells: list[dict[str, Any]]) -> None:
        cells[2]["metadata"] = {"note": value}

    word = expand("{W:20}", rng)  # random, but no credential's shape of its own

    def renamed(cells: list[dict[str, Any]]) -> None:
        cells[2]["metadata"] = {"secret": word}

    def quiet(cells: list[dict[str, Any]]) -> None:
        cells[2]["metadata"] = {"sector": word}

    cache = CellCache()
    for change, leaking in (
        (source, True),  # the same length, the same id
        (output, True),
        (metadata, True),
        (quiet, False),
        (renamed, True),  # the same value under a key of the same length naming it
    ):
        nb = edited(change)
        expected = findings(scanner, nb, None)
        assert bool(expected) == leaking
        # Warm: the other cells are remembered from the last scan of this path.
        assert findings(scanner, nb, cache) == expected
        assert findings(scanner, base, cache) == findings(scanner, base, None) == []


def test_equal_looking_values_of_another_type_are_not_taken_for_each_other() -> None:
    """A cell whose values compare equal but differ in type (1, 1.0, True) or in how its
    strings are shared is a different serialisation: walked again, never a wrong hit."""
    cache = CellCache()
    for value in (1, 1.0, True, "1", [1], {"1": 1}):
        nb = notebook(code("x = 1"))
        nb["cells"][0]["metadata"] = {"v": value}
        walked = cache.walk(nb, "k", cell_reads_credential)
        assert walked is not None
        assert walked.fragments == list(notebook_fragments(nb))
    # The same cell built from separate strings (json.loads shares a document's keys).
    nb = notebook(code("token = 1"))
    again = json.loads(json.dumps(nb))
    assert cache.walk(nb, "k", cell_reads_credential) == cache.walk(
        again, "k", cell_reads_credential
    )


def test_only_the_changed_cells_are_walked(monkeypatch: Any) -> None:
    """An autosave with one cell edited walks that cell alone; cells moved, inserted or
    deleted are recognised wherever they went; what comes out is always the full walk's."""
    import jupyter_qsecure.guard.cellcache as cellcache

    walked: list[int] = []
    real = cellcache.cell_fragments

    def counting(cell: object, index: int) -> Any:
        walked.append(index)
        return real(cell, index)

    monkeypatch.setattr(cellcache, "cell_fragments", counting)
    rng = random.Random(7)
    nb = leaky_notebook(rng)
    # (A cell that is not an object is walked at every save: left out here.)
    nb["cells"] = [cell for cell in nb["cells"] if isinstance(cell, dict)]
    nb["cells"] += [code(f"x = {n}") for n in range(10)]
    cache = CellCache()

    def walk(notebook: dict[str, Any]) -> list[int]:
        walked.clear()
        result = cache.walk(json.loads(json.dumps(notebook)), "k", cell_reads_credential)
        assert result is not None
        assert result.fragments == list(notebook_fragments(notebook))
        return sorted(walked)

    assert walk(nb) == list(range(len(nb["cells"])))
    assert walk(nb) == []
    nb["cells"][7]["source"] += "\ny = 2"  # typing in one cell
    assert walk(nb) == [7]
    nb["cells"][8], nb["cells"][9] = nb["cells"][9], nb["cells"][8]  # two cells swapped
    assert walk(nb) == [8, 9]  # few changes: walked again, not looked up
    nb["cells"].reverse()  # every cell moved
    assert walk(nb) == []
    nb["cells"].insert(3, code("import os"))
    del nb["cells"][10]
    assert walk(nb) == [3]
