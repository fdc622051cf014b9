"""``reproduce`` and ``manifest`` against a notebook, manifests and data from someone who
may be careless or hostile: the reviewer's verdict must not say "reproduced" when the
re-run did not produce what the notebook shows, the re-run must not change the reviewer's
files, and hostile input is a clear message (exit 2), never a traceback.

Real kernels (nbclient), real files, real ``ssh-keygen`` keys."""

from __future__ import annotations

import base64
import json
import platform
import subprocess
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from qsecure_cli import run_qsecure

from jupyter_qsecure.reproduce.rerun import within_tolerance
from jupyter_qsecure.signing.canonical import outputs_digest, source_digest

HAS_SSH_KEYGEN = not subprocess.run(["which", "ssh-keygen"], capture_output=True).returncode


def record(cell: Any, outputs: list[dict[str, Any]] | None = None, **extra: Any) -> None:
    """Give ``cell`` the execution record the provenance save hook writes, as if the
    recorded run had printed ``outputs`` (default: the ones it holds now)."""
    if outputs is not None:
        cell.outputs = [nbformat.from_dict(output) for output in outputs]
    execution: dict[str, Any] = {
        "code_sha256": source_digest(cell.source),
        "outputs_digest": outputs_digest(json.loads(json.dumps(cell.outputs))),
        "files": {"read": [], "written": []},
        **extra,
    }
    cell.metadata["qsecure"] = {"execution": execution}


def run_once(folder: Path, cells: dict[str, str]) -> Any:
    """A notebook of ``cells`` (id -> source) run for real in ``folder``, every code cell
    carrying an execution record of what it printed."""
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(source, id=name) for name, source in cells.items()]
    )
    NotebookClient(nb, timeout=60, resources={"metadata": {"path": str(folder)}}).execute()
    for cell in nb.cells:
        record(cell)
    nb.metadata["qsecure"] = {
        "provenance": {"environment": {"python": {"version": platform.python_version()}}}
    }
    return nb


def save(nb: Any, path: Path) -> Path:
    nbformat.write(nb, path)
    return path


def reproduce_json(path: Path, *args: str, cwd: Path | None = None) -> tuple[int, dict[str, Any]]:
    result = run_qsecure("reproduce", str(path), "--format", "json", *args, cwd=cwd or path.parent)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout) if result.stdout.strip() else {}


def results(report: dict[str, Any]) -> dict[str, str]:
    return {cell["cell_id"]: cell["result"] for cell in report["cells"]}


def cell_of(nb: Any, cell_id: str) -> Any:
    return next(cell for cell in nb.cells if cell.id == cell_id)


# --------------------------------------------------------------------------- the verdict

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


@pytest.mark.slow
def test_what_differs_outside_the_plain_text_is_not_volatile(tmp_path: Path) -> None:
    """Each cell printed something else in the recorded run, in a part of its outputs
    that is not text/plain: a Markdown result, an image, HTML, the stream (stderr, not
    stdout), an error rather than a print. The re-run differs, and says so; only the
    execution count (a cell run again) is allowed to differ."""
    cells = {
        "markdown": "from IPython.display import Markdown\nMarkdown('**fidelity 0.91**')",
        "image": "from IPython.display import display\n"
        f"display({{'image/png': {PNG!r}, 'text/plain': '<Figure size 640x480 with 1 Axes>'}}, raw=True)",
        "html": "from IPython.display import display\n"
        "display({'text/html': '<b>fidelity 0.91</b>', 'text/plain': 'result'}, raw=True)",
        "stderr": "print('fidelity 0.91')",
        "error": "print('ValueError: fidelity below 0.9', end='')",
        "tolerant": "from IPython.display import display\n"
        f"display({{'image/png': {PNG!r}, 'text/plain': 'fidelity 0.98'}}, raw=True)",
        "count": "40 + 2",
    }
    nb = run_once(tmp_path, cells)
    markdown = cell_of(nb, "markdown").outputs[0]
    record(
        cell_of(nb, "markdown"),
        [{**markdown, "data": {**markdown["data"], "text/markdown": "**fidelity 0.99**"}}],
    )
    other_png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"another plot").decode()
    image = cell_of(nb, "image").outputs[0]
    record(cell_of(nb, "image"), [{**image, "data": {**image["data"], "image/png": other_png}}])
    html = cell_of(nb, "html").outputs[0]
    record(
        cell_of(nb, "html"),
        [{**html, "data": {**html["data"], "text/html": "<b>fidelity 0.99</b>"}}],
    )
    stream = cell_of(nb, "stderr").outputs[0]
    record(cell_of(nb, "stderr"), [{**stream, "name": "stderr"}])
    record(
        cell_of(nb, "error"),
        [
            {
                "output_type": "error",
                "ename": "ValueError",
                "evalue": "fidelity below 0.9",
                "traceback": [],
            }
        ],
    )
    tolerant = cell_of(nb, "tolerant").outputs[0]
    record(
        cell_of(nb, "tolerant"),
        [{**tolerant, "data": {"image/png": other_png, "text/plain": "fidelity 0.98000001"}}],
    )
    count = cell_of(nb, "count").outputs[0]
    record(cell_of(nb, "count"), [{**count, "execution_count": 99}])
    path = save(nb, tmp_path / "analysis.ipynb")
    code, report = reproduce_json(path, "--rtol", "1e-6")
    assert code == 1
    assert results(report) == {
        "markdown": "differs",
        "image": "differs",
        "html": "differs",
        "stderr": "differs",
        "error": "differs",
        "tolerant": "differs",
        "count": "volatile",
    }
    details = {cell["cell_id"]: cell["detail"] for cell in report["cells"]}
    assert "image/png" in details["image"]
    assert "text/markdown" in details["markdown"]
    assert "stderr" in details["stderr"]
    assert details["count"] == "differs only in execution counts"


@pytest.mark.slow
def test_code_and_shown_outputs_must_be_the_recorded_ones(tmp_path: Path) -> None:
    """A cell's record is only evidence for the code it ran and the outputs it printed:
    code edited after the run, or outputs shown that the run did not print, is not a
    reproduction even when the re-run prints what the record says. Outputs cleared
    before saving show nothing, and the re-run matching the record still reproduces."""
    cells = {
        "edited": "print(42)",
        "shown": "print('fidelity 0.91')",
        "cleared": "print(42)",
        "plain": "print(7)",
    }
    nb = run_once(tmp_path, cells)
    edited = cell_of(nb, "edited")
    edited.metadata["qsecure"]["execution"]["code_sha256"] = source_digest(
        "rows = open('pinned.csv').read()\nprint(42)"
    )
    shown = cell_of(nb, "shown")
    shown.outputs[0]["text"] = "fidelity 0.99\n"  # what the reader sees; the record says 0.91
    cell_of(nb, "cleared").outputs = []
    path = save(nb, tmp_path / "analysis.ipynb")
    code, report = reproduce_json(path)
    assert results(report) == {
        "edited": "differs",
        "shown": "differs",
        "cleared": "reproduced",
        "plain": "reproduced",
    }
    assert code == 1
    details = {cell["cell_id"]: cell["detail"] for cell in report["cells"]}
    assert "code" in details["edited"]
    assert "not the recorded ones" in details["shown"]
    shown_cell = next(c for c in report["cells"] if c["cell_id"] == "shown")
    assert "-fidelity 0.99" in shown_cell["diff"] and "+fidelity 0.91" in shown_cell["diff"]


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("energy 1e400", "energy 9e999"),  # both overflow to inf
        ("energy " + "1" * 400, "energy " + "9" * 400),
        ("energy 1e400", "energy -1e400"),
    ],
)
def test_numbers_beyond_a_float_are_not_within_tolerance(before: str, after: str) -> None:
    assert within_tolerance(before, after, 1e-9, 0.0) is False
    assert within_tolerance(before, before, 1e-9, 0.0) is True


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "-inf"])
@pytest.mark.parametrize("option", ["--rtol", "--atol"])
def test_a_tolerance_that_is_not_a_finite_non_negative_number_is_bad_input(
    tmp_path: Path, option: str, value: str
) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")])
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    record(nb.cells[0])
    path = save(nb, tmp_path / "analysis.ipynb")
    result = run_qsecure("reproduce", str(path), f"{option}={value}", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert option.lstrip("-") in result.stderr
