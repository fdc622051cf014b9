"""``reproduce`` and ``manifest`` against a hostile notebook, bag or bucket (a second
pass after tests/test_reproduce_attacks.py): the reviewer must not be told "reproduced"
or "verified" when it is not true, and a bag ``create`` writes must be one ``verify``
reads.

Real kernels (nbclient), real files, moto's S3 server."""

from __future__ import annotations

import hashlib
import json
import platform
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from qsecure_cli import run_qsecure

from jupyter_qsecure.signing.canonical import outputs_digest, source_digest


def record(cell: Any, reads: list[dict[str, Any]] | None = None) -> None:
    """The execution record the provenance save hook writes for ``cell`` as it is now,
    claiming it read ``reads`` and wrote nothing."""
    cell.metadata["qsecure"] = {
        "execution": {
            "code_sha256": source_digest(cell.source),
            "outputs_digest": outputs_digest(json.loads(json.dumps(cell.outputs))),
            "files": {"read": reads or [], "written": []},
        }
    }


def reproduce_json(path: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = run_qsecure("reproduce", str(path), "--format", "json", *args, cwd=path.parent)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout) if result.stdout.strip() else {}


# --------------------------------------------------------------------------- the inputs


@pytest.mark.slow
@pytest.mark.parametrize("where", ["in the folder", "through a link out of it"])
@pytest.mark.parametrize("same_cell", [False, True], ids=["earlier cell", "same cell"])
def test_an_input_the_code_rewrites_unrecorded_is_not_the_checked_input(
    tmp_path: Path, where: str, same_cell: bool
) -> None:
    """The record says cell 2 read counts.csv as pinned (its SHA-256 is the file's now)
    and that no cell wrote it; cell 1's code (or cell 2's, before reading it) swaps its
    content. The inputs were hashed before the run and never again: `same`, every cell
    `reproduced`, exit 0, although the result was computed from other bytes than the
    ones checked."""
    folder = tmp_path / "project"
    folder.mkdir()
    pinned = "shots,ones\n1024,511\n"
    data = folder / "counts.csv"
    if where == "in the folder":
        data.write_text(pinned)
    else:
        (tmp_path / "counts.csv").write_text(pinned)
        data.symlink_to("../counts.csv")
    swap = "_ = open('counts.csv', 'w').write('shots,ones\\n1024,1024\\n')"
    load = "print(open('counts.csv').read().splitlines()[-1])"
    sources = {"swap": swap, "load": load}
    if same_cell:
        sources = {"swap": "pass", "load": f"{swap}\n{load}"}
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(source, id=name) for name, source in sources.items()]
    )
    run = tmp_path / "run"
    run.mkdir()
    NotebookClient(nb, timeout=60, resources={"metadata": {"path": str(run)}}).execute()
    digest = hashlib.sha256(pinned.encode()).hexdigest()
    record(nb.cells[0])
    record(nb.cells[1], [{"path": "counts.csv", "sha256": digest, "size": len(pinned)}])
    nb.metadata["qsecure"] = {
        "provenance": {"environment": {"python": {"version": platform.python_version()}}}
    }
    path = folder / "analysis.ipynb"
    nbformat.write(nb, path)
    data.write_text(pinned)  # as pinned again (the link's target too)
    code, report = reproduce_json(path)
    assert code == 1, report
    assert report["reproduced"] is False
    (item,) = report["inputs"]
    assert item["path"] == "counts.csv"
    assert item["state"] == "changed"
    assert "cell 2" in item["detail"], item


# --------------------------------------------------------------------------- the bag


def test_a_huge_tag_file_is_hashed_in_blocks_not_read_whole(tmp_path: Path) -> None:
    """A bag's tag manifest may list any file of the bag. A hostile one lists a 2 GiB
    sparse file (a few bytes in an archive): `verify` read it whole into memory to hash
    it (a resident size of the file's, an out-of-memory kill on a small machine)."""
    import subprocess
    import sys

    data = tmp_path / "calibration"
    data.mkdir()
    (data / "counts.csv").write_text("shots,ones\n1024,511\n")
    assert run_qsecure("manifest", "create", str(data), cwd=tmp_path).returncode == 0
    bag = tmp_path / "calibration.bag"
    with (bag / "notes.txt").open("wb") as sparse:
        sparse.truncate(2 << 30)
    with (bag / "tagmanifest-sha256.txt").open("a", encoding="utf-8") as tags:
        tags.write(f"{'0' * 64}  notes.txt\n")
    measure = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "print(done.stdout, done.stderr)\n"
    )
    command = [sys.executable, "-m", "jupyter_qsecure.cli", "manifest", "verify", str(bag)]
    result = subprocess.run(
        [sys.executable, "-c", measure, *command, "--require", "0"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    code, peak_kib = map(int, result.stdout.split("\n", 1)[0].split())
    assert code == 1, result.stdout
    assert "notes.txt: changed" in result.stdout
    assert "Traceback" not in result.stdout
    assert peak_kib < 512 << 10, f"peak resident size {peak_kib} KiB"


# --------------------------------------------------------------------------- re-checks


def _input_check(folder: Path, content: bytes) -> Any:
    """An InputCheck of a one-cell notebook whose record read counts.csv as ``content``."""
    from jupyter_qsecure.reproduce.inputs import InputCheck

    (folder / "counts.csv").write_bytes(content)
    read = {"path": "counts.csv", "sha256": hashlib.sha256(content).hexdigest()}
    cell = nbformat.v4.new_code_cell("print(open('counts.csv').read())", id="load")
    record(cell, [read])
    return InputCheck(nbformat.v4.new_notebook(cells=[cell]), folder, [])


def _after_the_next_tick(path: Path) -> None:
    """Return once a file changed now gets a later change time than ``path`` has (file
    times move in clock ticks): a write from here on moves its change time."""
    probe = path.with_name(".tick")
    while True:
        probe.write_bytes(b"")
        if probe.stat().st_ctime_ns > path.stat().st_ctime_ns:
            probe.unlink()
            return


def _counting_hashes(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    from jupyter_qsecure.reproduce import inputs

    hashed: list[Path] = []
    real = inputs.current_sha256

    def counting(target: Path) -> tuple[str | None, str]:
        hashed.append(target)
        return real(target)

    monkeypatch.setattr(inputs, "current_sha256", counting)
    return hashed


def test_an_unchanged_input_is_hashed_once_not_around_every_cell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 20-cell notebook reading a 10 MB input hashed it 40 times (+70% on the re-run)."""
    from jupyter_qsecure.reproduce import inputs

    monkeypatch.setattr(inputs, "SETTLE_NS", 0)  # counts.csv is new: settled at once
    check = _input_check(tmp_path, b"shots,ones\n1024,511\n")
    hashed = _counting_hashes(monkeypatch)
    for _ in range(20):
        check.before_cell(0, tmp_path)
        check.after_cell(0, tmp_path)
    assert len(hashed) == 1
    assert [item["state"] for item in check.inputs] == ["same"]


def test_a_rewrite_keeping_size_and_times_is_seen_by_its_change_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same size, modification time put back (os.utime): the change time still moves."""
    import os

    from jupyter_qsecure.reproduce import inputs

    monkeypatch.setattr(inputs, "SETTLE_NS", 0)
    check = _input_check(tmp_path, b"shots,ones\n1024,511\n")
    data = tmp_path / "counts.csv"
    check.before_cell(0, tmp_path)  # hashed: as recorded
    times = data.stat()
    _after_the_next_tick(data)
    data.write_bytes(b"shots,ones\n1024,999\n")
    os.utime(data, ns=(times.st_atime_ns, times.st_mtime_ns))
    check.after_cell(0, tmp_path)
    (item,) = check.inputs
    assert item["state"] == "changed", item
    assert "cell 1 had run again" in item["detail"]


def test_an_input_changed_just_before_its_hash_is_hashed_every_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write in the same clock tick as the hash may leave the file's times as they
    were: a file changed less than SETTLE_NS before it was hashed is not vouched for."""
    from jupyter_qsecure.reproduce import inputs

    monkeypatch.setattr(inputs, "SETTLE_NS", 10**18)
    check = _input_check(tmp_path, b"shots,ones\n1024,511\n")
    hashed = _counting_hashes(monkeypatch)
    for _ in range(3):
        check.before_cell(0, tmp_path)
    assert len(hashed) == 3
