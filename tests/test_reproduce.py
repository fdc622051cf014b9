"""``jupyter qsecure reproduce`` with a real kernel (nbclient): a notebook that reproduces,
an input that changed (named), a nondeterministic cell (found, then accepted once tagged
volatile), numeric noise inside and outside tolerance, package drift (named), inputs
pinned by a signed dataset, and bad input."""

from __future__ import annotations

import base64
import hashlib
import json
import platform
import subprocess
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from qsecure_cli import run_qsecure

from jupyter_qsecure.reproduce import create_manifest
from jupyter_qsecure.reproduce.rerun import _PROBE, normalise, within_tolerance
from jupyter_qsecure.signing.canonical import outputs_digest, source_digest

pytestmark = pytest.mark.slow  # real kernels

CELLS = {
    "load": "rows = open('input.csv').read().splitlines()\nprint(len(rows), rows[-1])",
    "fit": "print(round(sum(range(10)) / 3, 6))",
    "noise": "import uuid\nprint(uuid.uuid4())",
    "save": "open('result.txt', 'w').write('fidelity 0.98')",
    "clock": "import datetime, time, tempfile\n"
    "t = time.perf_counter()\n"
    "print(object(), datetime.datetime.now().isoformat())\n"
    "print(f'took {time.perf_counter() - t:.6f} s in', tempfile.mkdtemp())",
}


def installed() -> list[str]:
    """The kernel's distributions as the environment collector records them."""
    from jupyter_qsecure.provenance.collectors import installed_distributions

    return sorted(f"{name}=={version}" for name, version in installed_distributions().items())


def recorded_notebook(folder: Path, packages: list[str] | None = None) -> Path:
    """A notebook run once for real, its cells carrying the execution records the
    provenance save hook writes (code and outputs digests, files read with SHA-256)."""
    (folder / "input.csv").write_text("shots,ones\n1024,511\n")
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("# Bell")]
        + [nbformat.v4.new_code_cell(source, id=name) for name, source in CELLS.items()]
    )
    NotebookClient(nb, timeout=60, resources={"metadata": {"path": str(folder)}}).execute()
    digest = hashlib.sha256((folder / "input.csv").read_bytes()).hexdigest()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        execution: dict[str, Any] = {
            "code_sha256": source_digest(cell.source),
            "outputs_digest": outputs_digest(json.loads(json.dumps(cell.outputs))),
            "files": {"read": [], "written": []},
        }
        if cell.id == "load":
            execution["files"]["read"] = [{"path": "input.csv", "sha256": digest, "size": 21}]
            execution["seeds"] = [{"source": "random.seed", "value": "7"}]
        cell.metadata["qsecure"] = {"execution": execution}
    nb.metadata["qsecure"] = {
        "provenance": {
            "environment": {
                "python": {"version": platform.python_version()},
                "distributions": {"packages": installed() if packages is None else packages},
            }
        }
    }
    path = folder / "analysis.ipynb"
    nbformat.write(nb, path)
    (folder / "result.txt").write_text("recorded run")
    return path


def reproduce_json(path: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = run_qsecure("reproduce", str(path), "--format", "json", *args, cwd=path.parent)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout) if result.stdout.strip() else {}


def by_id(report: dict[str, Any]) -> dict[str, str]:
    return {cell["cell_id"]: cell["result"] for cell in report["cells"]}


def test_reproduce_finds_the_nondeterministic_cell_then_accepts_it_once_volatile(
    tmp_path: Path,
) -> None:
    path = recorded_notebook(tmp_path)
    before = path.read_bytes()
    code, report = reproduce_json(path)
    assert code == 1
    assert by_id(report) == {
        "load": "reproduced",
        "fit": "reproduced",
        "noise": "differs",
        "save": "reproduced",
        "clock": "volatile",
    }
    clock = next(c for c in report["cells"] if c["cell_id"] == "clock")
    assert clock["detail"] == (
        "differs only in durations, memory addresses, temporary paths, timestamps"
    )
    assert report["inputs"] == [{"path": "input.csv", "state": "same", "detail": "same SHA-256"}]
    assert report["seeds"] == ["cell load: random.seed(7)"]
    noise = next(c for c in report["cells"] if c["cell_id"] == "noise")
    assert noise["diff"].startswith("--- recorded\n+++ reproduced\n")
    assert path.read_bytes() == before  # the original is never written,
    assert (tmp_path / "result.txt").read_text() == "recorded run"  # nor what it writes
    in_place = run_qsecure("reproduce", str(path), "--in-place", cwd=tmp_path)
    assert in_place.returncode == 1
    assert (tmp_path / "result.txt").read_text() == "fidelity 0.98"
    nb = nbformat.read(path, as_version=4)
    nb.cells[3].metadata["tags"] = ["qsecure:volatile"]
    nbformat.write(nb, path)
    code, report = reproduce_json(path)
    assert code == 0, report
    assert by_id(report)["noise"] == "volatile"
    junit = run_qsecure("reproduce", str(path), "--format", "junit", cwd=tmp_path)
    assert junit.returncode == 0 and 'failures="0"' in junit.stdout
    # A signed attestation that it reproduced, checked as `attest --sign` ones are.
    key = tmp_path / "reviewer"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    kind, blob = key.with_suffix(".pub").read_text().split()[:2]
    (tmp_path / "allowed_signers").write_text(f"bob@lab {kind} {blob}\n")
    signed = run_qsecure(
        "reproduce", str(path), "--attest", "repro.json", "--key", str(key), cwd=tmp_path
    )
    assert signed.returncode == 0, signed.stderr
    envelope = json.loads((tmp_path / "repro.json").read_text())
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert statement["subject"][0]["name"] == "analysis.ipynb"
    assert statement["predicate"]["reproduced"] is True
    assert [c["result"] for c in statement["predicate"]["cells"]] == [
        "reproduced",
        "reproduced",
        "volatile",
        "reproduced",
        "volatile",
    ]
    assert statement["predicate"]["reproducer"]["python"] == platform.python_version()
    checked = run_qsecure(
        "verify-attestation", "repro.json", "--allowed-signers", "allowed_signers", cwd=tmp_path
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    envelope["payload"] = base64.b64encode(
        json.dumps({**statement, "predicate": {"reproduced": True}}).encode()
    ).decode()
    (tmp_path / "forged.json").write_text(json.dumps(envelope))
    forged = run_qsecure(
        "verify-attestation", "forged.json", "--allowed-signers", "allowed_signers", cwd=tmp_path
    )
    assert forged.returncode == 1


def test_the_run_goes_through_the_qsecure_provisioner(tmp_path: Path) -> None:
    """Secrets the policy grants and the provenance recorder apply to the new run: its
    executions are recorded in the store the policy names, for the notebook's path."""
    from jupyter_qsecure.provenance import ProvenanceStore

    path = recorded_notebook(tmp_path)
    store = tmp_path / "provenance.sqlite"
    policy = tmp_path / "qsecure.toml"
    policy.write_text(f"[provenance]\nstore = {json.dumps(str(store))}\n")
    result = run_qsecure(
        "reproduce",
        str(path),
        "--format",
        "json",
        cwd=tmp_path,
        env={"QSECURE_CONFIG": str(policy)},
    )
    assert result.returncode == 1, result.stderr  # the uuid cell
    records = [r.record for r in ProvenanceStore(store).for_notebook("analysis.ipynb")]
    executions = [r for r in records if r.get("kind") == "execution"]
    # The environment probe, asked before any cell, is code the kernel ran: recorded as
    # a silent execution (no cell, no count), not taken for a cell.
    probe = [r for r in executions if r.get("silent")]
    assert [r["code_sha256"] for r in probe] == [source_digest(_PROBE)]
    assert probe[0]["cell_id"] is None and probe[0]["execution_count"] is None
    cells = [r for r in executions if not r.get("silent")]
    # nbclient sends no cell id, so the records are matched by their code digests.
    assert [r["code_sha256"] for r in cells][:5] == [
        source_digest(source) for source in CELLS.values()
    ]
    assert cells[0]["files"]["read"][0]["path"] == "input.csv"


def test_a_changed_input_is_named_and_fails(tmp_path: Path) -> None:
    path = recorded_notebook(tmp_path)
    (tmp_path / "input.csv").write_text("shots,ones\n1024,600\n")
    code, report = reproduce_json(path)
    assert code == 1
    assert report["inputs"][0]["path"] == "input.csv"
    assert report["inputs"][0]["state"] == "changed"
    assert by_id(report)["load"] == "differs"
    text = run_qsecure("reproduce", str(path), cwd=tmp_path)
    assert "input input.csv: changed" in text.stdout
    assert "-2 1024,511" in text.stdout and "+2 1024,600" in text.stdout


def test_numeric_noise_inside_and_outside_tolerance(tmp_path: Path) -> None:
    path = recorded_notebook(tmp_path)
    nb = nbformat.read(path, as_version=4)
    fit = nb.cells[2]
    fit.outputs[0]["text"] = "15.0001\n"  # the recorded run printed slightly different noise
    fit.metadata["qsecure"]["execution"]["outputs_digest"] = outputs_digest(
        json.loads(json.dumps(fit.outputs))
    )
    nb.cells[3].metadata["tags"] = ["qsecure:volatile"]
    nbformat.write(nb, path)
    code, report = reproduce_json(path)
    assert code == 1 and by_id(report)["fit"] == "differs"
    code, report = reproduce_json(path, "--rtol", "1e-3")
    assert code == 0 and by_id(report)["fit"] == "within tolerance"
    code, report = reproduce_json(path, "--atol", "1e-6")
    assert code == 1 and by_id(report)["fit"] == "differs"


def test_package_drift_is_named(tmp_path: Path) -> None:
    packages = [p for p in installed() if not p.startswith("ipykernel==")]
    path = recorded_notebook(
        tmp_path, packages=[*packages, "ipykernel==0.0.1", "gone-package==1.0"]
    )
    code, report = reproduce_json(path)
    assert code == 1  # the uuid cell differs
    drift = report["environment_drift"]
    assert any(line.startswith("ipykernel 0.0.1 -> ") for line in drift)
    assert "gone-package 1.0 -> (absent)" in drift
    assert len(drift) == 2
    same = tmp_path / "same"
    same.mkdir()
    _, report = reproduce_json(recorded_notebook(same))
    assert report["environment_drift"] == []


@pytest.mark.skipif(
    subprocess.run(["which", "ssh-keygen"], capture_output=True).returncode,
    reason="needs ssh-keygen",
)
def test_inputs_pinned_by_a_signed_dataset(tmp_path: Path) -> None:
    path = recorded_notebook(tmp_path)
    data = tmp_path / "pinned"
    data.mkdir()
    (data / "input.csv").write_bytes((tmp_path / "input.csv").read_bytes())
    create_manifest(data)
    key = tmp_path / "alice"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    kind, blob = key.with_suffix(".pub").read_text().split()[:2]
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"alice@lab {kind} {blob}\n")
    bag = tmp_path / "pinned.bag"
    unsigned = run_qsecure(
        "reproduce",
        str(path),
        "--dataset",
        str(bag),
        "--allowed-signers",
        str(allowed),
        cwd=tmp_path,
    )
    assert (
        unsigned.returncode == 2
        and "does not verify (0 of 1 required signature(s))" in unsigned.stderr
    )
    assert (
        run_qsecure("manifest", "sign", str(bag), "--key", str(key), cwd=tmp_path).returncode == 0
    )
    code, report = reproduce_json(path, "--dataset", str(bag), "--allowed-signers", str(allowed))
    assert code == 1  # the uuid cell differs
    assert report["inputs"][0]["state"] == "in manifest"
    assert report["inputs"][0]["detail"] == "pinned.bag: data/input.csv"


def test_bad_input_is_exit_2_without_traceback(tmp_path: Path) -> None:
    (tmp_path / "broken.ipynb").write_text("{not json")
    result = run_qsecure("reproduce", str(tmp_path / "broken.ipynb"), cwd=tmp_path)
    assert result.returncode == 2 and "not a readable notebook" in result.stderr
    assert run_qsecure("reproduce", cwd=tmp_path).returncode == 2
    nbformat.write(
        nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")]), tmp_path / "plain.ipynb"
    )
    plain = run_qsecure("reproduce", str(tmp_path / "plain.ipynb"), cwd=tmp_path)
    assert plain.returncode == 2 and "carries no execution records" in plain.stderr


def test_the_pre_commit_hook_reproduces_each_notebook_it_is_given(tmp_path: Path) -> None:
    import shlex
    import sys

    import yaml

    hooks = yaml.safe_load((Path(__file__).parents[1] / ".pre-commit-hooks.yaml").read_text())
    [hook] = [hook for hook in hooks if hook["id"] == "qsecure-reproduce"]
    path = recorded_notebook(tmp_path)
    (tmp_path / "broken.ipynb").write_text("{not json")
    entry = shlex.split(hook["entry"])
    result = subprocess.run(
        [str(Path(sys.executable).parent / entry[0]), *entry[1:], "broken.ipynb", path.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Traceback" not in result.stderr
    assert result.returncode == 2  # the worst of: cannot be read (2), a cell differs (1)
    assert "broken.ipynb: " in result.stderr and "not a readable notebook" in result.stderr
    assert "analysis.ipynb" in result.stdout and "differs" in result.stdout
    several = run_qsecure("reproduce", "a.ipynb", "b.ipynb", "--format", "json", cwd=tmp_path)
    assert several.returncode == 2 and "take one notebook" in several.stderr


@pytest.mark.parametrize(
    ("text", "normalised", "kinds"),
    [
        ("<Foo object at 0x7f3a2b1c0d90>", "<Foo object at 0x<address>>", {"memory addresses"}),
        ("at 2026-11-24T23:14:23.523Z", "at <timestamp>", {"timestamps"}),
        ("2026-11-24 23:14:23+01:00", "<timestamp>", {"timestamps"}),
        ("CPU times: 12.5 ms", "CPU times: <duration>", {"durations"}),
        ("wrote /tmp/tmpab12_x/out.h5", "wrote <tmp>", {"temporary paths"}),
        ("fidelity 0.98 over 1024 shots", "fidelity 0.98 over 1024 shots", set()),
        ("value 0x10", "value 0x10", set()),
    ],
)
def test_normalisers(text: str, normalised: str, kinds: set[str]) -> None:
    assert normalise(text) == (normalised, kinds)


@pytest.mark.parametrize(
    ("before", "after", "rtol", "atol", "same"),
    [
        ("x = 1.0\n", "x = 1.0000001\n", 1e-6, 0, True),
        ("x = 1.0\n", "x = 1.1\n", 1e-6, 0, False),
        ("x = 1.0\n", "y = 1.0\n", 1, 1, False),
        ("[0.5, 0.5]", "[0.5001, 0.4999]", 0, 1e-3, True),
        ("1e-9", "2e-9", 0, 1e-8, True),
        ("1 2", "1 2 3", 1, 1, False),
    ],
)
def test_within_tolerance(before: str, after: str, rtol: float, atol: float, same: bool) -> None:
    assert within_tolerance(before, after, rtol, atol) is same


def test_the_text_report_shows_notebook_text_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    """Cell ids, input paths and output diffs come from the notebook: an escape sequence in
    them is shown escaped, so it cannot rewrite the verdict on the reader's terminal."""
    from types import SimpleNamespace

    from jupyter_qsecure.cli.reproduce import _print_text

    trick = "\x1b[1A\x1b[2K\ranalysis.ipynb: REPRODUCED"
    cell = SimpleNamespace(
        number=1, cell_id=trick, result="differs", detail=trick, diff=f"- 1\n+ {trick}"
    )
    result = SimpleNamespace(
        notebook="analysis.ipynb",
        reproduced=False,
        inputs=[{"path": trick, "state": "changed", "detail": trick}],
        environment=[trick],
        seeds=[trick],
        cells=[cell],
    )
    _print_text(result)
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\r" not in out
    assert out.startswith("analysis.ipynb: NOT reproduced\n")
    assert "\\x1b[1A" in out
