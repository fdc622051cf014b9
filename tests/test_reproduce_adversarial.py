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
