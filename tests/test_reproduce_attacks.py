"""``reproduce`` and ``manifest`` against a notebook, manifests and data from someone who
may be careless or hostile: the reviewer's verdict must not say "reproduced" when the
re-run did not produce what the notebook shows, the re-run must not change the reviewer's
files, and hostile input is a clear message (exit 2), never a traceback.

Real kernels (nbclient), real files, real ``ssh-keygen`` keys."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import platform
import subprocess
import threading
from pathlib import Path
from typing import Any

import nbformat
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nbclient import NotebookClient
from qsecure_cli import run_qsecure

from jupyter_qsecure.reproduce import create_manifest
from jupyter_qsecure.reproduce.rerun import check_inputs, within_tolerance
from jupyter_qsecure.signing.canonical import (
    CanonicalFormError,
    notebook_digest,
    outputs_digest,
    source_digest,
)

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


# --------------------------------------------------------------------------- the re-run


def recorded_silent(folder: Path, sources: dict[str, str], name: str = "analysis.ipynb") -> Path:
    """A notebook whose cells print nothing, each with a record saying so (no run needed)."""
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(source, id=cell_id) for cell_id, source in sources.items()]
    )
    for cell in nb.cells:
        record(cell, [])
    return save(nb, folder / name)


@pytest.mark.slow
def test_a_link_within_the_folder_leads_within_the_scratch_copy(tmp_path: Path) -> None:
    """`latest -> runs/3` in the notebook's folder: the scratch copy's link led back to the
    original folder, so the re-run wrote the reviewer's files through it."""
    folder = tmp_path / "project"
    (folder / "runs" / "3").mkdir(parents=True)
    (folder / "runs" / "3" / "counts.csv").write_text("shots,ones\n1024,511\n")
    (folder / "latest").symlink_to("runs/3")
    (folder / "current.csv").symlink_to("runs/3/counts.csv")
    (tmp_path / "shared.csv").write_text("kept\n")
    (folder / "shared.csv").symlink_to("../shared.csv")  # leaves the folder: still read there
    path = recorded_silent(
        folder,
        {
            "write": "_ = open('latest/new.txt', 'w').write('x')\n"
            "_ = open('current.csv', 'a').write('tampered\\n')",
            "read": "assert open('shared.csv').read() == 'kept\\n'",
        },
    )
    code, report = reproduce_json(path)
    assert results(report) == {"write": "reproduced", "read": "reproduced"}, report
    assert code == 0
    assert not (folder / "runs" / "3" / "new.txt").exists()
    assert (folder / "runs" / "3" / "counts.csv").read_text() == "shots,ones\n1024,511\n"
    assert os.readlink(folder / "latest") == "runs/3"


@pytest.mark.slow
@pytest.mark.skipif(not HAS_SSH_KEYGEN, reason="needs ssh-keygen")
def test_a_notebook_that_rewrites_itself_is_not_attested_as_what_it_wrote(
    tmp_path: Path,
) -> None:
    """The re-run's code reaches the original notebook (its absolute path is no secret: the
    reviewer's working folder is the kernel's parent's): it swaps in another notebook
    while it runs. The report is of the notebook read before the run and says the file
    changed; the attestation names that notebook, never the one written meanwhile."""
    forged = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('0.99')")])
    forged.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="0.99\n")]
    record(forged.cells[0])
    forged_text = nbformat.writes(forged)
    target = tmp_path / "analysis.ipynb"
    path = recorded_silent(
        tmp_path,
        {
            "swap": f"_ = open({str(target)!r}, 'w').write({forged_text!r})",
            "after": "x = 1",
        },
    )
    before = json.loads(path.read_text())
    key = tmp_path / "reviewer"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    code, report = reproduce_json(path, "--attest", "repro.json", "--key", str(key))
    assert code == 1
    assert results(report) == {"swap": "reproduced", "after": "reproduced"}
    assert report["inputs"][-1]["state"] == "changed"
    assert "written while it ran" in report["inputs"][-1]["detail"]
    envelope = json.loads((tmp_path / "repro.json").read_text())
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert statement["predicate"]["reproduced"] is False
    [subject] = statement["subject"]
    algorithm, _, digest = notebook_digest(before).partition(":")
    assert subject["digest"] == {algorithm: digest}


@pytest.mark.slow
def test_a_record_planted_in_the_store_by_the_re_run_is_not_the_recorded_run(
    tmp_path: Path,
) -> None:
    """The notebook names the environment record of its run; its code, running in the
    re-run, writes a record of that id into the reviewer's store listing today's
    packages. Read after the run, it hid every drifted distribution."""
    from jupyter_qsecure.provenance.store import ProvenanceStore

    store = ProvenanceStore(tmp_path / "p.sqlite")
    store.append({"record_id": "other", "kind": "environment", "kernel_session": "s"})
    plant = (
        "from jupyter_qsecure.provenance.store import ProvenanceStore\n"
        "from jupyter_qsecure.provenance.collectors import installed_distributions\n"
        "from pathlib import Path\n"
        f"_ = ProvenanceStore(Path({str(store.path)!r})).append({{'record_id': 'env-planted', "
        "'kind': 'environment', 'kernel_session': 's', 'environment': {'distributions': "
        "{'packages': sorted(f'{n}=={v}' for n, v in installed_distributions().items())}}})"
    )
    path = recorded_silent(tmp_path, {"plant": plant})
    nb = nbformat.read(path, as_version=4)
    recorded = ["gone-package==1.0", "numpy==0.0.1"]
    listing = "\n".join(sorted(recorded))
    nb.metadata["qsecure"] = {
        "provenance": {
            "environment_record": "env-planted",
            "environment": {
                "python": {"version": platform.python_version()},
                "distributions": {
                    "count": 2,
                    "digest": "sha256:" + hashlib.sha256(listing.encode()).hexdigest(),
                    "imported": [],
                },
            },
        }
    }
    save(nb, path)
    code, report = reproduce_json(path, "--store", str(store.path))
    assert code == 0
    assert results(report) == {"plant": "reproduced"}
    drift = report["environment_drift"]
    assert any(line.startswith("other installed distributions differ too") for line in drift), drift


# --------------------------------------------------------------------------- the inputs


def read_by(cells: list[dict[str, Any]]) -> dict[str, Any]:
    """A notebook (as JSON) whose cells' records read and wrote the given files."""
    return {
        "cells": [
            {
                "cell_type": "code",
                "metadata": {"qsecure": {"execution": {"files": files}}},
                "source": "",
                "outputs": [],
            }
            for files in cells
        ]
    }


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_every_read_of_a_path_is_checked_not_only_the_first(tmp_path: Path) -> None:
    """One cell read the pinned data, a later one read other bytes at the same path
    (written between them by code the recorder did not see): both cannot match today's
    file. A file an earlier cell's record wrote is the notebook's own."""
    (tmp_path / "data.csv").write_bytes(b"pinned\n")
    pinned, forged = sha(b"pinned\n"), sha(b"forged\n")
    notebook = read_by(
        [
            {"read": [{"path": "data.csv", "sha256": pinned}]},
            {"read": [{"path": "data.csv", "sha256": forged}]},
        ]
    )
    states = [(i["path"], i["state"]) for i in check_inputs(notebook, tmp_path, [])]
    assert states == [("data.csv", "same"), ("data.csv", "changed")]
    notebook = read_by(
        [
            {"read": [{"path": "data.csv", "sha256": pinned}]},
            {"written": [{"path": "data.csv"}]},
            {"read": [{"path": "data.csv", "sha256": forged}]},
        ]
    )
    checked = check_inputs(notebook, tmp_path, [])
    assert [(i["path"], i["state"]) for i in checked] == [
        ("data.csv", "same"),
        ("data.csv", "written by the notebook"),
    ]
    assert checked[1]["detail"].startswith("cell 2 wrote it")


def test_a_recorded_path_to_a_fifo_or_a_device_is_never_read(tmp_path: Path) -> None:
    """A record naming a FIFO blocked `reproduce` forever before the kernel started, and
    `/dev/zero` hashed forever: only regular files are read."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    notebook = read_by(
        [
            {"read": [{"path": "pipe", "sha256": "0" * 64}]},
            {"read": [{"path": "/dev/zero", "sha256": "0" * 64}]},
            {"read": [{"path": "nul\0byte", "sha256": "0" * 64}]},
        ]
    )
    found: list[Any] = []
    worker = threading.Thread(
        target=lambda: found.append(check_inputs(notebook, tmp_path, [])), daemon=True
    )
    worker.start()
    worker.join(10)
    try:
        assert not worker.is_alive(), "check_inputs blocked on a FIFO or a device"
    finally:
        if worker.is_alive():  # let the blocked open go
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    [checked] = found
    assert [i["state"] for i in checked] == ["missing", "missing", "missing"]
    assert "FIFO" in checked[0]["detail"] and "character device" in checked[1]["detail"]


# --------------------------------------------------------------------------- malformed input

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)
#: Where in a recorded notebook a hostile or damaged value is put.
PLACES = st.sampled_from(
    [
        ("metadata",),
        ("metadata", "qsecure"),
        ("metadata", "qsecure", "provenance"),
        ("metadata", "qsecure", "provenance", "environment"),
        ("metadata", "qsecure", "provenance", "environment", "distributions"),
        ("metadata", "qsecure", "provenance", "environment_record"),
        ("cells", 0, "metadata"),
        ("cells", 0, "metadata", "qsecure"),
        ("cells", 0, "metadata", "qsecure", "execution"),
        ("cells", 0, "metadata", "qsecure", "execution", "files"),
        ("cells", 0, "metadata", "qsecure", "execution", "files", "read"),
        ("cells", 0, "metadata", "qsecure", "execution", "files", "read", 0),
        ("cells", 0, "metadata", "qsecure", "execution", "files", "read", 0, "path"),
        ("cells", 0, "metadata", "qsecure", "execution", "files", "written"),
        ("cells", 0, "metadata", "qsecure", "execution", "seeds"),
        ("cells", 0, "metadata", "qsecure", "execution", "outputs_digest"),
        ("cells", 0, "metadata", "qsecure", "execution", "code_sha256"),
        ("cells", 0, "metadata", "tags"),
        ("cells", 0, "outputs"),
        ("cells", 0, "source"),
        ("cells", 0, "id"),
        ("cells", 0),
        ("cells",),
        (),
    ]
)


def base_notebook() -> dict[str, Any]:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)", id="a")])
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    record(
        nb.cells[0],
        files={"read": [{"path": "in.csv", "sha256": "0" * 64}], "written": []},
        seeds=[{"source": "random.seed", "value": "7"}],
    )
    nb.metadata["qsecure"] = {
        "provenance": {
            "environment_record": "r",
            "environment": {"python": {"version": "3"}, "distributions": {"packages": []}},
        }
    }
    return json.loads(nbformat.writes(nb))


def put(document: Any, place: tuple[Any, ...], value: Any) -> Any:
    """``document`` with ``value`` at ``place`` (the parents that are missing made)."""
    if not place:
        return value
    node = document
    for key in place[:-1]:
        node = node[key]
    node[place[-1]] = value
    return document


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(place=PLACES, value=JSON)
def test_a_damaged_notebook_is_bad_input_or_a_report_never_a_crash(
    tmp_path: Path, place: tuple[Any, ...], value: Any
) -> None:
    """Any value anywhere in the records a notebook carries: `reproduce` (the kernel left
    out: its parsing and comparison are under test) returns a report or refuses the
    notebook with ReproduceError (exit 2), and the attestation of a report is made."""
    from unittest import mock

    from jupyter_qsecure.reproduce.attest import reproduction_statement
    from jupyter_qsecure.reproduce.rerun import ReproduceError, reproduce

    path = tmp_path / "damaged.ipynb"
    path.write_text(json.dumps(put(base_notebook(), place, value)))
    with mock.patch.object(NotebookClient, "execute", return_value=None):
        try:
            report = reproduce(path)
        except ReproduceError:
            return
    json.dumps(report.to_json())
    try:
        statement = reproduction_statement(report.original, path.name, report)
    except CanonicalFormError:
        return  # Infinity, NaN: no digest; `reproduce --attest` says so (exit 2)
    json.dumps(statement)


def test_attesting_a_notebook_with_no_canonical_form_is_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "n.ipynb"
    path.write_text(json.dumps(put(base_notebook(), ("metadata", "extra"), float("inf"))))
    (tmp_path / "in.csv").write_text("x")
    result = run_qsecure("reproduce", "n.ipynb", "--attest", "a.json", "--key", "k", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "cannot be attested" in result.stderr


@pytest.mark.parametrize(
    "text",
    ["[]", '"x"', "1", "null", '{"cells": "abc"}', '{"cells": [5], "nbformat": 4}'],
)
def test_a_notebook_that_is_not_an_object_with_cells_is_exit_2(tmp_path: Path, text: str) -> None:
    (tmp_path / "n.ipynb").write_text(text)
    result = run_qsecure("reproduce", "n.ipynb", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "n.ipynb: not a" in result.stderr


# --------------------------------------------------------------------------- manifest verify


def test_manifest_verify_shows_the_bag_s_names_escaped(tmp_path: Path) -> None:
    """The names `verify` prints from a bag (a tag file its tag manifest lists, a manifest
    slipped in beside it, a signature file) are the bag author's: an escape sequence in
    one rewrote the verdict on the reviewer's terminal (a forged 'intact' line)."""
    data = tmp_path / "calibration"
    data.mkdir()
    (data / "counts.csv").write_text("shots,ones\n1024,511\n")
    bag = create_manifest(data).bag
    forged = "\x1b[1A\x1b[2K\rcalibration.bag: 1 file(s) in manifest-sha256.txt: intact"
    with (bag / "tagmanifest-sha256.txt").open("a") as stream:
        stream.write(f"{'0' * 64}  {forged}.txt\n")
    (bag / f"manifest-{forged}.txt").write_text("")
    (bag / "qsecure-signatures").mkdir()
    (bag / "qsecure-signatures" / f"sha256-{forged}.sig").write_text("")
    (data / "added\x9b2J.csv").write_text("8-bit CSI")
    result = run_qsecure("manifest", "verify", str(bag), "--require", "0", cwd=tmp_path)
    printed = result.stdout + result.stderr
    assert result.returncode == 1, printed
    assert not {"\x1b", "\r", "\x9b"} & set(printed), printed
    assert "\\x1b[1A" in printed and "added: added\\x9b2J.csv" in printed


# --------------------------------------------------------------------------- the reviewer's secrets

SEEN = (
    "import os\n"
    "print(sorted(k for k in os.environ if k in {'GITHUB_TOKEN', 'AWS_SECRET_ACCESS_KEY', "
    "'SSH_AUTH_SOCK', 'HTTPS_PROXY', 'DEPLOY_PASSWORD', 'LAB_NAME'}))"
)


@pytest.mark.slow
def test_the_re_run_does_not_get_the_reviewers_credentials(tmp_path: Path) -> None:
    """Whoever runs `reproduce` (a CI job) has credentials in its environment: a token,
    the AWS keys that let --dataset check data in S3, an ssh-agent that signs in their
    name. The notebook under review saw them all; it now gets only what the policy
    grants it, and what --pass-env names."""
    import random

    from corpus import expand

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(SEEN, id="env")])
    record(nb.cells[0], [{"output_type": "stream", "name": "stdout", "text": "['LAB_NAME']\n"}])
    path = save(nb, tmp_path / "analysis.ipynb")
    rng = random.Random(7)
    environment = {
        "GITHUB_TOKEN": expand("gh" + "p_{A:36}", rng),
        "AWS_SECRET_ACCESS_KEY": expand("{A:40}", rng),
        "SSH_AUTH_SOCK": str(tmp_path / "agent.sock"),
        "HTTPS_PROXY": "http://proxy-user:" + expand("{A:12}", rng) + "@127.0.0.1:3128",
        "DEPLOY_PASSWORD": expand("{A:16}", rng),
        "LAB_NAME": "bell",
    }
    result = run_qsecure("reproduce", str(path), "--format", "json", cwd=tmp_path, env=environment)
    report = json.loads(result.stdout)
    assert results(report) == {"env": "reproduced"}, report["cells"]
    withheld = report["withheld_environment"]
    assert set(environment) - {"LAB_NAME"} <= set(withheld) and "LAB_NAME" not in withheld
    text = run_qsecure("reproduce", str(path), cwd=tmp_path, env=environment)
    assert "kept from the re-run" in text.stdout and "GITHUB_TOKEN" in text.stdout
    assert environment["GITHUB_TOKEN"] not in text.stdout + text.stderr
    passed = run_qsecure(
        "reproduce",
        str(path),
        "--format",
        "json",
        "--pass-env",
        "DEPLOY_PASSWORD",
        cwd=tmp_path,
        env=environment,
    )
    assert results(json.loads(passed.stdout)) == {"env": "differs"}  # it saw one more


@pytest.mark.slow
@pytest.mark.skipif(not HAS_SSH_KEYGEN, reason="needs ssh-keygen")
def test_a_bag_written_by_one_notebook_does_not_pin_the_next_ones_inputs(tmp_path: Path) -> None:
    """Several notebooks (the pre-commit hook) are checked against bags verified once: the
    first notebook's code added a line to the bag's manifest for its forged data, and the
    next notebook's input was reported 'in manifest' of the signed dataset."""
    data = tmp_path / "pinned"
    data.mkdir()
    (data / "counts.csv").write_text("shots,ones\n1024,511\n")
    bag = create_manifest(data).bag
    key = tmp_path / "alice"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    kind, blob = key.with_suffix(".pub").read_text().split()[:2]
    (tmp_path / "allowed_signers").write_text(f"alice@lab {kind} {blob}\n")
    assert (
        run_qsecure("manifest", "sign", str(bag), "--key", str(key), cwd=tmp_path).returncode == 0
    )
    forged = b"shots,ones\n1024,1024\n"
    (tmp_path / "forged.csv").write_bytes(forged)
    line = f"{sha(forged)}  data/forged.csv\n"
    recorded_silent(
        tmp_path,
        {"widen": f"_ = open({str(bag / 'manifest-sha256.txt')!r}, 'a').write({line!r})"},
        "a.ipynb",
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1", id="use")])
    record(nb.cells[0], [], files={"read": [{"path": "forged.csv", "sha256": sha(forged)}]})
    save(nb, tmp_path / "b.ipynb")
    result = run_qsecure(
        "reproduce",
        "a.ipynb",
        "b.ipynb",
        "--dataset",
        str(bag),
        "--allowed-signers",
        "allowed_signers",
        cwd=tmp_path,
    )
    assert "Traceback" not in result.stderr, result.stderr
    assert "input forged.csv: same" in result.stdout, result.stdout
    assert "in manifest" not in result.stdout


@pytest.mark.slow
def test_the_notebook_cannot_answer_for_the_reproducing_environment(tmp_path: Path) -> None:
    """The kernel's Python version and distributions were asked by a cell run after the
    notebook's: the notebook's code replaced what that cell called, and the report (and
    the attestation) showed the environment it chose, with no drift."""
    lie = (
        "import platform\n"
        "import jupyter_qsecure.provenance.collectors as collectors\n"
        "platform.python_version = lambda: '2.7.18'\n"
        "collectors.installed_distributions = lambda: {'numpy': '0.0.1'}"
    )
    path = recorded_silent(tmp_path, {"lie": lie})
    nb = nbformat.read(path, as_version=4)
    nb.metadata["qsecure"] = {
        "provenance": {
            "environment": {
                "python": {"version": "2.7.18"},
                "distributions": {"packages": ["numpy==0.0.1"]},
            }
        }
    }
    save(nb, path)
    code, report = reproduce_json(path)
    assert code == 0 and results(report) == {"lie": "reproduced"}
    drift = report["environment_drift"]
    assert f"Python 2.7.18 -> {platform.python_version()}" in drift, drift
    assert len(drift) > 2  # numpy and every other installed distribution


def test_a_record_without_its_code_digest_is_not_recorded_never_reproduced() -> None:
    """A record that names no code digest cannot say which code ran: the cell is 'not
    recorded' (which fails the run), not 'differs: edited', whatever its outputs."""
    from jupyter_qsecure.reproduce.compare import NOT_RECORDED, compare_cell
    from jupyter_qsecure.signing.canonical import outputs_digest

    outputs = [{"output_type": "stream", "name": "stdout", "text": "1\n"}]
    cell = {
        "cell_type": "code",
        "id": "c1",
        "source": "print(1)",
        "outputs": outputs,
        "metadata": {"qsecure": {"execution": {"outputs_digest": outputs_digest(outputs)}}},
    }
    result = compare_cell(1, cell, outputs, 1e-9, 0.0)
    assert (result.result, result.detail) == (NOT_RECORDED, "no recorded code digest")
