"""Provenance records that name the dataset manifest of each file a cell reads: declared
with ``jupyter_qsecure.use_dataset`` or found beside the data, signed (checked against the
policy's allowed_signers) or not, in a real kernel started by a real server, shown by the
reviewer's verdict."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import as_notebook, code_cell
from kernel_client import execute, save_notebook, start_session, wait_for_records
from qsecure_cli import run_qsecure

from jupyter_qsecure.reproduce import create_manifest, sign_bag

pytestmark = pytest.mark.skipif(
    shutil.which("ssh-keygen") is None, reason="needs ssh-keygen (Debian: openssh-client)"
)


def make_dataset(root: Path) -> Path:
    """``calibration-2026-11/``: five files; ``runs/counts.csv`` is the third by path."""
    data = root / "calibration-2026-11"
    (data / "runs").mkdir(parents=True)
    (data / "a-first.json").write_text('{"q0": 1}\n')
    (data / "b-second.json").write_text('{"q1": 2}\n')
    (data / "runs" / "counts.csv").write_text("shots,ones\n1024,511\n")
    (data / "runs" / "t1.csv").write_text("qubit,t1\n0,81.2\n")
    (data / "z-last.txt").write_text("cooldown 3\n")
    return data


@pytest.fixture
def signed_dataset(
    jp_root_dir: Path, tmp_path: Path, provenance_policy: Callable[[str], Path]
) -> tuple[Path, Path]:
    """A dataset with a detached manifest signed by alice@lab, whom the policy trusts; an
    unsigned bag in place (``beside``); the provenance store's path."""
    key = tmp_path / "alice"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "alice", "-f", str(key)],
        check=True,
        timeout=60,
    )
    kind, blob = key.with_suffix(".pub").read_text().split()[:2]
    signers = tmp_path / "allowed_signers"
    signers.write_text(f"alice@lab {kind} {blob}\n")
    store = provenance_policy(f"[signing]\nallowed_signers = {json.dumps(str(signers))}\n")
    data = make_dataset(jp_root_dir)
    created = create_manifest(data)
    sign_bag(created.bag, key, created.algorithm)
    beside = jp_root_dir / "beside"
    beside.mkdir()
    (beside / "notes.txt").write_text("found beside\n")
    (beside / "later.txt").write_text("as bagged\n")
    create_manifest(beside, in_place=True, name="beside-notes")
    (beside / "data" / "later.txt").write_text("changed after bagging\n")
    (jp_root_dir / "loose.txt").write_text("in no manifest\n")
    return created.bag, store


async def test_reads_name_the_dataset_its_manifest_digest_and_signer(
    signed_dataset: tuple[Path, Path], jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path
) -> None:
    bag, store = signed_dataset
    copy = jp_root_dir / "copied-t1.csv"  # the dataset's file copied elsewhere: same digest
    shutil.copy(jp_root_dir / "calibration-2026-11" / "runs" / "t1.csv", copy)
    sources = {
        "declare": "import jupyter_qsecure\nds = jupyter_qsecure.use_dataset('calibration-2026-11')\nprint(ds)",
        "read": "print(open('calibration-2026-11/runs/counts.csv').read())",
        "copy": "print(open('copied-t1.csv').read())",
        "beside": "print(open('beside/data/notes.txt').read(), open('beside/data/later.txt').read())",
        "loose": "print(open('loose.txt').read())",
        "bad": "jupyter_qsecure.use_dataset('no-such-folder')",
    }
    _, _, client = await start_session(jp_fetch, jp_serverapp, "run.ipynb")
    try:
        outputs = {cid: await execute(client, source, cid) for cid, source in sources.items()}
    finally:
        client.stop_channels()
    assert "calibration-2026-11 (signed by alice@lab)" in outputs["declare"][0]["text"]
    error = outputs["bad"][0]
    assert error["ename"] == "ValueError" and "no manifest found" in error["evalue"]

    records = {r["cell_id"]: r for r in wait_for_records(store, len(sources))}
    tag_digest = (
        "sha256:" + hashlib.sha256((bag / "tagmanifest-sha256.txt").read_bytes()).hexdigest()
    )
    [read] = records["read"]["files"]["read"]
    assert read["dataset"] == {
        "name": "calibration-2026-11",
        "location": "calibration-2026-11.bag",  # relative to the notebook's folder
        "algorithm": "sha256",
        "manifest_sha256": tag_digest,
        "signed_by": ["alice@lab"],
        "signature": "signed",
        "files": 5,
        "path": "runs/counts.csv",
        "file": 3,
        "matches": True,
    }
    [copied] = records["copy"]["files"]["read"]
    assert (copied["dataset"]["path"], copied["dataset"]["file"]) == ("runs/t1.csv", 4)
    by_path = {e["path"]: e for e in records["beside"]["files"]["read"]}
    notes = by_path["beside/data/notes.txt"]["dataset"]
    assert (notes["name"], notes["signature"], notes["signed_by"]) == (
        "beside-notes",
        "unsigned",
        [],
    )
    assert notes["matches"] is True
    assert by_path["beside/data/later.txt"]["dataset"]["matches"] is False
    [loose] = records["loose"]["files"]["read"]
    assert "dataset" not in loose

    notebook = as_notebook(
        *(code_cell(cid, sources[cid], outputs[cid], i + 1) for i, cid in enumerate(sources))
    )
    await save_notebook(jp_fetch, "run.ipynb", notebook)
    result = run_qsecure("provenance", "run.ipynb", cwd=jp_root_dir)
    assert "dataset calibration-2026-11 (signed by alice@lab) file 3 of 5" in result.stdout
    assert "dataset beside-notes (unsigned) file 2 of 2" in result.stdout
    assert "dataset beside-notes (unsigned) file 1 of 2: the file differs from the manifest" in (
        result.stdout
    )
    report = json.loads(
        run_qsecure("provenance", "run.ipynb", "--format", "json", cwd=jp_root_dir).stdout
    )
    [evidence] = [c["evidence"] for c in report["cells"] if c["cell_id"] == "read"]
    assert evidence["files_read"][0]["dataset"]["signed_by"] == ["alice@lab"]


async def test_a_manifest_changed_after_signing_names_no_signer(
    signed_dataset: tuple[Path, Path], jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path
) -> None:
    bag, store = signed_dataset
    # The payload manifest edited after signing: the signed tag manifest no longer covers it.
    manifest = bag / "manifest-sha256.txt"
    manifest.write_text(manifest.read_text().replace("runs/t1.csv", "runs/t1-renamed.csv"))
    _, _, client = await start_session(jp_fetch, jp_serverapp, "tampered.ipynb")
    try:
        await execute(client, "print(open('calibration-2026-11/runs/counts.csv').read())", "r")
    finally:
        client.stop_channels()
    [record] = wait_for_records(store, 1)
    [read] = record["files"]["read"]
    assert read["dataset"]["signed_by"] == []
    assert "does not match its tag manifest" in read["dataset"]["signature"]
