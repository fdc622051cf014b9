"""Every command in the guides is run by this test, so the guides cannot rot.

The convention, in every guide of ``docs/`` (and README.md):

- Commands to run live in fenced blocks whose language is ``console``. In such a block, a
  line that starts with ``$ `` is a command. A command continues on the next line when
  its line ends with ``\\``, and a here-document (``<<'EOF'`` ... ``EOF``) runs to its end
  marker. Every other line of the block is output shown to the reader; it is not checked.
- A command is expected to exit with 0. A different code is written as a shell comment at
  the end of the command: ``$ jupyter qsecure scan config.py  # exit 1``.
- A command that cannot run here says why, in the same way: ``# skip: opens a browser``.
  Those are counted and never run.
- Blocks in any other language (``toml``, ``python``, ``text``, ...) are never run, and a
  block without a language holds no command (checked below).

The commands of one guide run in order, in one bash process (so ``cd`` and ``export``
carry over), in a fresh workspace and home folder: the encrypted-file keyring (as in the
Makefile's ``make lab``, unlocked by the ``'<a long passphrase>'`` the guides export),
``$QSECURE_CONFIG`` = ``~/.jupyter/qsecure.toml`` (created with only
``[injection] timeout = 60``), no ssh-agent, and the venv's ``jupyter`` first on
``PATH``. Each command's standard input is a made-up secret value, so ``jupyter qsecure secrets set NAME`` stores it as if typed at the prompt; the
test also checks that no output ever shows it. The guides run in parallel.

The workspace starts with the files of ``tests/docs_fixtures/``: ``analysis.ipynb`` is a
notebook run in a real kernel and saved through a real server, so it carries real
provenance (its environment fingerprint removed, as it named the machine), with the
``counts.csv`` it read and the ``fidelity.json`` it wrote, and ``audit.jsonl`` is a short
audit trail. Some guides need more, which the test makes before it runs them:

- the reviewer's guide and the signing guide: the test first plays the author. It makes
  Alice's key with ssh-keygen (``~/.ssh/id_ed25519`` for the signing guide), signs
  ``analysis.ipynb`` and a signed attestation of it, writes the lab's
  ``allowed_signers``, and makes ``analysis-edited.ipynb``, a copy whose output was
  changed after signing;
- the guard guide runs in a copy of ``demo/`` instead: its own ``jupyter nbconvert``
  command executes ``1-blocked-save.ipynb``, whose cell makes up a token at run time, so
  no file of the repository holds one;
- the secrets guide gets ``experiments/bell.ipynb``, which prints the token it is granted;
- the provenance guide gets the files of its worked example: ``bell/`` with
  ``analysis.ipynb``, ``summary.ipynb`` and the data they read, ``provenance.sqlite``, the
  store that recorded them, ``copy.sqlite``, a copy with row 3 edited and row 6 deleted,
  and ``experiments/run.ipynb``. The records are made here (the kernel's recording is
  tested elsewhere), chained by the real store and embedded by the real save hook. Where
  the guide then edits the notebook in JupyterLab, the test swaps in the edited version;
- the audit guide gets the trail of its worked example.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import code_cell

from jupyter_qsecure.provenance import ProvenanceStore
from jupyter_qsecure.provenance.embed import embed_provenance
from jupyter_qsecure.signing.canonical import outputs_digest, source_digest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "docs_fixtures"
BIN = Path(sys.executable).parent
DEMO = ROOT / "demo"
GUIDES = (
    "docs/quickstart.md",
    "docs/admin.md",
    "docs/reviewer.md",
    "docs/threat-model.md",
    "docs/guard.md",
    "docs/secrets.md",
    "docs/signing.md",
    "docs/provenance.md",
    "docs/audit.md",
    "docs/jupyterhub.md",
    "docs/jupyterlab.md",
    "docs/reproduce.md",
)
#: How many commands each file holds, run and skipped: an extraction bug cannot pass empty.
EXPECTED = {
    "docs/quickstart.md": (17, 2),
    "docs/admin.md": (11, 0),
    "docs/reviewer.md": (16, 0),
    "docs/threat-model.md": (5, 0),
    "docs/guard.md": (7, 3),
    "docs/secrets.md": (16, 2),
    "docs/signing.md": (4, 1),
    "docs/provenance.md": (9, 0),
    "docs/audit.md": (4, 0),
    "docs/jupyterhub.md": (0, 21),
    "docs/jupyterlab.md": (0, 0),
    "docs/reproduce.md": (3, 0),
    "README.md": (0, 0),
}
#: The keyring's password: the one the guides export, so a guide that exports it again
#: (as a reader on a headless machine does) keeps the keyring it already wrote.
KEYRING_PASSWORD = "<a long passphrase>"

FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")
EXIT = re.compile(r"\s#\s*exit (\d+)\s*$")
SKIP = re.compile(r"\s#\s*skip:\s*(.+?)\s*$")
HEREDOC = re.compile(r"<<-?\s*(['\"]?)(\w+)\1")


@dataclass(frozen=True)
class Command:
    """One ``$ `` command of a console block."""

    file: str
    line: int
    text: str
    exit_code: int
    skip: str | None


def extract(path: Path, name: str) -> list[Command]:
    """The commands of the ``console`` blocks of a Markdown file, in order."""
    commands: list[Command] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    fence: str | None = None
    console = False
    index = 0
    while index < len(lines):
        line = lines[index]
        match = FENCE.match(line)
        if fence is None and match:
            fence, console = match.group(2), match.group(3) == "console"
        elif (
            fence is not None
            and line.strip() == fence[0] * len(line.strip())
            and len(line.strip()) >= len(fence)
        ):
            fence = None
        elif fence is not None and console and line.startswith("$ "):
            start = index + 1
            parts = [line[2:]]
            while parts[-1].endswith("\\") and index + 1 < len(lines):
                index += 1
                parts.append(lines[index])
            heredoc = HEREDOC.search(parts[0])
            if heredoc:
                while index + 1 < len(lines):
                    index += 1
                    parts.append(lines[index])
                    if lines[index] == heredoc.group(2):
                        break
            first = parts[0] if heredoc else parts[-1]
            exit_match, skip_match = EXIT.search(first), SKIP.search(first)
            commands.append(
                Command(
                    name,
                    start,
                    "\n".join(parts),
                    int(exit_match.group(1)) if exit_match else 0,
                    skip_match.group(1) if skip_match else None,
                )
            )
        index += 1
    assert fence is None, f"{name}: a code block is not closed"
    return commands


def environment(home: Path) -> dict[str, str]:
    """A clean environment: nothing of the user's Jupyter, keyring, agent or hub."""
    dropped = ("JUPYTER", "QSECURE_", "JPY_", "XDG_", "SSH_", "DBUS_", "PYTHON_KEYRING")
    env = {key: value for key, value in os.environ.items() if not key.startswith(dropped)}
    env.pop("VIRTUAL_ENV", None)
    env.update(
        HOME=str(home),
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        QSECURE_CONFIG=str(home / ".jupyter" / "qsecure.toml"),
        PYTHON_KEYRING_BACKEND="keyrings.cryptfile.cryptfile.CryptFileKeyring",
        QSECURE_KEYRING_FILE=str(home / ".qsecure-keyring.cfg"),
        QSECURE_KEYRING_PASSWORD=KEYRING_PASSWORD,
        GIT_CONFIG_NOSYSTEM="1",
        LC_ALL="C.UTF-8",
    )
    return env


def qsecure(env: dict[str, str], cwd: Path, *args: str) -> None:
    subprocess.run(
        [str(BIN / "jupyter"), "qsecure", *args],
        cwd=cwd,
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )


def play_the_author(workspace: Path, env: dict[str, str], key: Path) -> None:
    """What the reviewer receives: a signed notebook, a signed attestation, the lab's
    allowed_signers, and a copy changed after signing."""
    key.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "alice", "-f", str(key)],
        check=True,
        timeout=60,
        env=env,
    )
    public = key.with_suffix(".pub").read_text().split()
    (workspace / "allowed_signers").write_text(f"alice@lab.example {public[0]} {public[1]}\n")
    qsecure(
        env,
        workspace,
        "sign",
        "analysis.ipynb",
        "--key",
        str(key),
        "--principal",
        "alice@lab.example",
    )
    qsecure(
        env,
        workspace,
        "attest",
        "analysis.ipynb",
        "--sign",
        "--key",
        str(key),
        "--output",
        "analysis.intoto.json",
    )
    notebook = json.loads((workspace / "analysis.ipynb").read_text(encoding="utf-8"))
    fit = next(cell for cell in notebook["cells"] if cell["id"] == "fit")
    fit["outputs"][0]["data"]["text/plain"] = "0.99"
    (workspace / "analysis-edited.ipynb").write_text(json.dumps(notebook, indent=1) + "\n")


def stream(text: str) -> dict[str, Any]:
    return {"output_type": "stream", "name": "stdout", "text": text}


def result(text: str, count: int) -> dict[str, Any]:
    return {
        "output_type": "execute_result",
        "execution_count": count,
        "data": {"text/plain": text},
        "metadata": {},
    }


def write_notebook(path: Path, cells: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    notebook = {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(notebook, indent=1) + "\n", encoding="utf-8")


def file_entry(path: Path, name: str) -> dict[str, Any]:
    data = path.read_bytes()
    return {"path": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


class LabSession:
    """Records as a kernel of the worked example would have made them, in a real store."""

    def __init__(self, store: ProvenanceStore) -> None:
        self.store = store
        self.clock = 1795558464.0  # 2026-11-24T22:14:24Z

    def stamp(self, step: float) -> str:
        self.clock += step
        millis = round(self.clock * 1000) % 1000
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.clock)) + f".{millis:03d}Z"

    def start(self, notebook: str) -> dict[str, Any]:
        session = {"kernel_session": str(uuid.uuid4()), "kernel_id": str(uuid.uuid4())}
        environment = {"python": {"version": "3.12"}, "collected_at": self.stamp(0.05)}
        environment["digest"] = (
            "sha256:" + hashlib.sha256(json.dumps(environment["python"]).encode()).hexdigest()
        )
        record_id = str(uuid.uuid4())
        self.store.append(
            {
                "kind": "environment",
                "record_id": record_id,
                "user": "ada",
                "notebook": notebook,
                "environment": environment,
                **session,
            }
        )
        return {**session, "notebook": notebook, "environment_record": record_id}

    def run(
        self,
        session: dict[str, Any],
        cell: dict[str, Any],
        count: int,
        outputs: list[dict[str, Any]],
        **extra: Any,
    ) -> dict[str, Any]:
        """Run a cell: set its outputs and count, and record the execution."""
        cell["outputs"], cell["execution_count"] = outputs, count
        started = self.stamp(0.01)
        record = {
            "kind": "execution",
            "record_id": str(uuid.uuid4()),
            "user": "ada",
            "cell_id": cell["id"],
            "execution_count": count,
            "code_sha256": source_digest(cell["source"]),
            "outputs_digest": outputs_digest(outputs),
            "started": started,
            "ended": self.stamp(0.002),
            "duration_ms": 2.0,
            "status": "ok",
            "ename": None,
            "files": {"read": [], "written": []},
            "subprocesses": [],
            "network": [],
            "seeds": [],
            "notes": {},
            **session,
            **extra,
        }
        self.store.append(record)
        return record

    def save(self, path: Path, name: str, cells: list[dict[str, Any]]) -> None:
        """Save through the save hook: embed the notebook's records."""
        write_notebook(path, cells)
        notebook = json.loads(path.read_text(encoding="utf-8"))
        embed_provenance(notebook, self.store.for_notebook(name))
        path.write_text(json.dumps(notebook, indent=1) + "\n", encoding="utf-8")


def provenance_worked_example(workspace: Path, stage: Path) -> None:
    """``bell/`` as the worked example leaves it after the first save, the edited state in
    ``stage``, the store and a tampered copy of it, and ``experiments/run.ipynb``."""
    bell = workspace / "bell"
    bell.mkdir()
    counts = bell / "counts.csv"
    counts.write_text("outcome,count\n00,498\n01,13\n10,9\n11,504\n")
    lab = LabSession(ProvenanceStore(workspace / "provenance.sqlite"))
    session = lab.start("bell/analysis.ipynb")
    load = code_cell(
        "load",
        'import csv\n\nrows = list(csv.DictReader(open("counts.csv")))\n'
        'print(len(rows), "outcomes")',
    )
    fit = code_cell(
        "fit",
        'import random\n\nrandom.seed(1234)\nshots = sum(int(r["count"]) for r in rows)\n'
        'fidelity = (int(rows[0]["count"]) + int(rows[-1]["count"])) / shots\nfidelity',
    )
    save = code_cell(
        "save",
        'import json\n\nwith open("fidelity.json", "w") as f:\n'
        '    json.dump({"fidelity": fidelity, "shots": shots}, f)',
    )
    report = code_cell("report", 'print(open("fidelity.json").read())')
    fidelity = bell / "fidelity.json"
    fidelity.write_text('{"fidelity": 0.9785156250, "shots": 1024}')
    lab.run(
        session,
        load,
        1,
        [stream("4 outcomes\n")],
        files={"read": [file_entry(counts, "counts.csv")], "written": []},
    )
    lab.run(
        session,
        fit,
        2,
        [result("0.978515625", 2)],
        seeds=[{"source": "random.seed", "value": "1234"}],
    )
    lab.run(
        session, save, 3, [], files={"read": [], "written": [file_entry(fidelity, "fidelity.json")]}
    )
    lab.run(
        session,
        report,
        4,
        [stream(fidelity.read_text() + "\n")],
        files={"read": [file_entry(fidelity, "fidelity.json")], "written": []},
    )
    lab.save(bell / "analysis.ipynb", "bell/analysis.ipynb", [load, fit, save, report])
    # In JupyterLab: a scratch cell run and deleted, fit re-run, load cleared, report
    # edited, a new cell; and later the acquisition script rewrote counts.csv.
    tweak = code_cell("tweak", "rows = [r for r in rows if r['outcome'] in ('00', '11')]")
    lab.run(session, tweak, 5, [])
    lab.run(session, fit, 6, [result("1.0", 6)], seeds=[{"source": "random.seed", "value": "1234"}])
    load["outputs"] = []
    report["source"] = "print(open('fidelity.json').read().upper())"
    done = code_cell("done", "print('done')")
    lab.save(stage / "analysis.ipynb", "bell/analysis.ipynb", [load, fit, save, report, done])
    (stage / "counts.csv").write_text("outcome,count\n00,510\n01,8\n10,11\n11,495\n")
    summary_a = code_cell(
        "summary-a", 'import json\n\nresult = json.load(open("fidelity.json"))\nresult'
    )
    summary_b = code_cell(
        "summary-b",
        "import json\n\nprint(f\"F = {json.load(open('fidelity.json'))['fidelity']:.3f}\")",
    )
    first = lab.start("bell/summary.ipynb")
    lab.run(
        first,
        summary_a,
        1,
        [result("{'fidelity': 0.978515625, 'shots': 1024}", 1)],
        files={"read": [file_entry(fidelity, "fidelity.json")], "written": []},
    )
    restarted = lab.start("bell/summary.ipynb")
    lab.run(
        restarted,
        summary_b,
        1,
        [stream("F = 0.979\n")],
        files={"read": [file_entry(fidelity, "fidelity.json")], "written": []},
    )
    lab.save(bell / "summary.ipynb", "bell/summary.ipynb", [summary_a, summary_b])
    shutil.copy(workspace / "provenance.sqlite", workspace / "copy.sqlite")
    with sqlite3.connect(workspace / "copy.sqlite") as connection:
        connection.execute("UPDATE records SET body = replace(body, '1234', '4321') WHERE seq = 3")
        connection.execute("DELETE FROM records WHERE seq = 6")
    connection.close()
    write_notebook(
        workspace / "experiments" / "run.ipynb",
        [
            code_cell("write", 'open("out.txt", "w").write("run")'),
            code_cell("fail", "1 / 0"),
        ],
    )


def audit_worked_example(path: Path) -> None:
    """The worked example's trail: seven weeks of a two-person lab server, 40 events and a
    truncated last line."""
    events: list[tuple[str, str, dict[str, Any]]] = []

    def event(when: str, schema: str, /, **fields: Any) -> None:
        events.append((when, schema, fields))

    fingerprint = "602a92cf8c3f979b3ddb346ff349471f"
    finding = {
        "rule": "ibm-quantum-token",
        "kind": "IBM Quantum token",
        "fingerprint": fingerprint,
        "cell_index": 1,
        "field": "source",
        "line": 2,
    }
    event(
        "2026-10-02T09:14:03",
        "save-blocked",
        path="calibration.ipynb",
        user="alice",
        outcome="blocked",
        findings=[finding],
    )
    event(
        "2026-10-02T09:15:40",
        "save-bypassed",
        path="calibration.ipynb",
        user="alice",
        fingerprint=fingerprint,
        reason="will_rotate",
    )
    days = [
        f"2026-{month}-{day:02d}"
        for month, day in [
            ("10", d)
            for d in (5, 6, 7, 8, 9, 12, 13, 14, 15, 16, 19, 20, 21, 22, 23, 26, 27, 28, 29)
        ]
        + [("11", d) for d in (2, 3, 4, 5, 6, 9)]
    ]
    for number, day in enumerate(days):
        user = "alice" if number < 19 else "bob"
        names = ["IBM_QUANTUM_TOKEN"] if user == "alice" else ["IBM_QUANTUM_TOKEN", "DB_PASSWORD"]
        notebook = ("experiments/bell.ipynb", "experiments/ghz.ipynb")[number % 2]
        event(
            f"{day}T09:30:00",
            "secret-injected",
            names=names,
            kernel_id=str(uuid.uuid4()),
            notebook=notebook,
            user=user,
            kernel_name="python3",
        )
    event(
        "2026-11-10T11:00:00",
        "notebook-signed",
        path="experiments/bell.ipynb",
        user="alice",
        principal="alice@lab.example",
        role="author",
        key_fingerprint="SHA256:Q7VdyVTeqt5jWQUsVLhYpSUUSTevRsS8tCH3fbACC7I",
    )
    event(
        "2026-11-12T15:20:00",
        "signature-verified",
        path="experiments/bell.ipynb",
        user="bob",
        status="signed and valid",
        meets_policy=True,
        signatures=1,
    )
    for minute in ("00:02", "12:45", "37:30"):
        event(
            f"2026-11-21T10:{minute}",
            "provider-error",
            name="DB_PASSWORD",
            reason="denied",
            message="vault://secret/jupyter/lab/db#password: permission denied",
            kernel_id=str(uuid.uuid4()),
            notebook="experiments/bell.ipynb",
            user="bob",
        )
    aws = {
        "rule": "aws-access-key-id",
        "kind": "AWS access key ID",
        "fingerprint": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        "cell_index": 0,
        "field": "source",
        "line": 1,
    }
    for number, minute in enumerate(("02:10", "03:30", "04:45", "06:00", "07:20", "09:05")):
        event(
            f"2026-11-22T14:{minute}",
            "save-blocked",
            path=("aws.ipynb", "aws_copy.ipynb")[number % 2],
            user="bob",
            outcome="blocked",
            findings=[aws],
        )
    event(
        "2026-11-23T21:47:10",
        "secret-injected",
        names=["IBM_QUANTUM_TOKEN"],
        kernel_id=str(uuid.uuid4()),
        notebook="scratch/Untitled3.ipynb",
        user="bob",
        kernel_name="python3",
    )
    event(
        "2026-11-24T09:01:12",
        "save-blocked",
        path="calibration.ipynb",
        user="alice",
        outcome="blocked",
        findings=[{**finding, "fingerprint": "1d2c3b4a59687f8e9dacbbcaf9e8d7c6"}],
    )
    events.sort(key=lambda item: item[0])
    lines = [
        json.dumps(
            {
                "__timestamp__": f"{when}+00:00Z",
                "__schema__": f"https://events.jupyter.org/jupyter_qsecure/{name}/v1",
                "__schema_version__": "1",
                "__metadata_version__": 1,
                **fields,
            }
        )
        for when, name, fields in events
    ]
    path.write_text("\n".join(lines) + '\n{"__timestamp__": "2026-11-24T09:0\n')


@dataclass
class Run:
    """A guide's commands, running or run, in their own folder."""

    name: str
    commands: list[Command]
    folder: Path
    value: str
    process: subprocess.Popen[bytes] | None = None


def prepare(name: str, folder: Path) -> tuple[dict[str, str], list[str]]:
    """The guide's home folder and workspace, and what the test does before each command
    (by position among the commands that run)."""
    home, workspace = folder / "home", folder / "work"
    for created in (home / ".jupyter", workspace, folder / "results"):
        created.mkdir(parents=True)
    # Not empty: an encrypted-file keyring read costs two Argon2 derivations, which on a
    # loaded 2-core machine passed the default 10 s limit of a secret read.
    (home / ".jupyter" / "qsecure.toml").write_text("[injection]\ntimeout = 60\n")
    source = DEMO if name == "docs/guard.md" else FIXTURES
    for fixture in source.iterdir():
        if fixture.is_file():
            shutil.copy(fixture, workspace / fixture.name)
    env = environment(home)
    stages: dict[str, str] = {}
    if name == "docs/reviewer.md":
        play_the_author(workspace, env, folder / "alice-keys" / "id_ed25519")
    elif name == "docs/signing.md":
        play_the_author(workspace, env, home / ".ssh" / "id_ed25519")
    elif name == "docs/secrets.md":
        write_notebook(
            workspace / "experiments" / "bell.ipynb",
            [code_cell("token", 'import os\n\nprint(os.environ["IBM_QUANTUM_TOKEN"])')],
        )
    elif name == "docs/provenance.md":
        stage = folder / "edited-in-jupyterlab"
        stage.mkdir()
        provenance_worked_example(workspace, stage)
        # Before the second look at bell/analysis.ipynb, the guide edits it in JupyterLab.
        stages["jupyter qsecure provenance bell/analysis.ipynb#2"] = (
            f'cp "{stage}/analysis.ipynb" "{stage}/counts.csv" bell/'
        )
    elif name == "docs/audit.md":
        audit_worked_example(workspace / "audit.jsonl")
    seen: dict[str, int] = {}
    before = []
    for command in extract(ROOT / name, name):
        if command.skip is None:
            text = EXIT.sub("", command.text).rstrip()
            seen[text] = seen.get(text, 0) + 1
            before.append(stages.pop(f"{text}#{seen[text]}", ""))
    assert not stages, f"{name}: no command for the stages {list(stages)}"
    return env, before


def script(commands: list[Command], results: Path, stdin: Path, before: list[str]) -> str:
    """One bash script: each command with its own output file and exit code file."""
    lines = ["set +e"]
    for number, command in enumerate(commands):
        if before[number]:
            lines.append(f"{before[number]} > /dev/null 2>&1")
        lines += [
            f"{{ {command.text}",
            f'}} < "{stdin}" > "{results}/{number}.out" 2>&1',
            f'echo $? > "{results}/{number}.rc"',
        ]
    # An ssh-agent a guide started is ours to stop, by its process id.
    lines.append('if [ -n "${SSH_AGENT_PID:-}" ]; then kill "$SSH_AGENT_PID"; fi')
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """Every guide's commands, run at once, each guide in its own folders."""
    started: dict[str, Run] = {}
    try:
        for name in [*GUIDES, "README.md"]:
            commands = [c for c in extract(ROOT / name, name) if c.skip is None]
            if not commands:
                continue
            folder = tmp_path_factory.mktemp(Path(name).stem)
            run = Run(name, commands, folder, f"doc-test-value-{secrets.token_hex(12)}")
            env, before = prepare(name, folder)
            stdin = folder / "stdin.txt"
            stdin.write_text(run.value + "\n")
            runner = folder / "commands.sh"
            runner.write_text(script(commands, folder / "results", stdin, before))
            run.process = subprocess.Popen(
                ["bash", "--noprofile", "--norc", str(runner)],
                cwd=folder / "work",
                env=env,
                stdin=subprocess.DEVNULL,
            )
            started[name] = run
        deadline = time.monotonic() + 150
        for run in started.values():
            assert run.process is not None
            run.process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        for run in started.values():
            if run.process is not None and run.process.poll() is None:
                run.process.kill()
                run.process.wait()
    return started


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen (openssh-client)")
@pytest.mark.slow
@pytest.mark.parametrize("name", [*GUIDES, "README.md"])
def test_every_command_of_the_guide_runs(name: str, runs: dict[str, Run]) -> None:
    commands = extract(ROOT / name, name)
    runnable = [command for command in commands if command.skip is None]
    skipped = [command for command in commands if command.skip is not None]
    assert (len(runnable), len(skipped)) == EXPECTED[name], (
        f"{name}: {len(runnable)} commands to run and {len(skipped)} skipped; update EXPECTED "
        "if the guide changed on purpose"
    )
    if not runnable:
        return
    run = runs[name]
    assert run.process is not None and run.process.returncode == 0
    results = run.folder / "results"
    failures = []
    for number, command in enumerate(runnable):
        output = (results / f"{number}.out").read_text(errors="replace")
        code = int((results / f"{number}.rc").read_text())
        if code != command.exit_code:
            failures.append(
                f"{name}:{command.line}: `{command.text}` exited {code}, "
                f"the guide says {command.exit_code}\n{output}"
            )
        if run.value in output:
            failures.append(f"{name}:{command.line}: `{command.text}` printed the secret value")
    assert not failures, "\n\n".join(failures)


#: First words of a shell command: a block without a language must not start a line so.
SHELL_WORDS = re.compile(
    r"^\s*(\$ |# (install|for) |jupyter (?!qsecure:)|ssh-keygen |git |pre-commit |curl |detect-secrets |"
    r"python |pip |kubectl |vault |sudo |npm |make |papermill )"
)


@pytest.mark.parametrize("name", GUIDES)
def test_no_command_outside_console_blocks(name: str) -> None:
    """A command in a block without a language would never run: it belongs in a
    ``console`` block (or, for a synopsis of options, a ``text`` one)."""
    fence: str | None = None
    language = ""
    problems = []
    for number, line in enumerate((ROOT / name).read_text(encoding="utf-8").splitlines(), 1):
        match = FENCE.match(line)
        if fence is None and match:
            fence, language = match.group(2), match.group(3)
        elif (
            fence is not None
            and line.strip().startswith(fence)
            and not line.strip().strip(fence[0])
        ):
            fence = None
        elif fence is not None and language == "" and SHELL_WORDS.match(line):
            problems.append(f"{name}:{number}: {line.strip()}")
    assert not problems, "commands in a block without a language:\n" + "\n".join(problems)


def test_extraction_conventions(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "```console\n$ echo a  # exit 1\nout\n$ jupyter lab  # skip: opens a browser\n"
        "$ cat > f <<'EOF'\nx  # exit 3\nEOF\n$ ls \\\n    -l\n```\n\n"
        "```toml\n$ not = 'a command'\n```\n"
    )
    commands = extract(page, "page.md")
    assert [(c.text, c.exit_code, c.skip, c.line) for c in commands] == [
        ("echo a  # exit 1", 1, None, 2),
        ("jupyter lab  # skip: opens a browser", 0, "opens a browser", 4),
        ("cat > f <<'EOF'\nx  # exit 3\nEOF", 0, None, 5),
        ("ls \\\n    -l", 0, None, 8),
    ]


def test_readme_make_targets_exist() -> None:
    """README.md's block runs `make lab` (opens a browser) and `make test` (every suite):
    too slow to run here, so check that make knows both targets (a dry run)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"^make (\w+)", text, flags=re.MULTILINE)
    assert targets, "README.md names no make target"
    for target in targets:
        result = subprocess.run(
            ["make", "-n", "-C", str(ROOT), target], capture_output=True, text=True, timeout=30
        )
        assert result.returncode == 0, f"make {target}: {result.stderr}"


def test_every_guide_is_run() -> None:
    """A new guide in docs/ has its commands run too: it must be listed here."""
    guides = {path.relative_to(ROOT).as_posix() for path in (ROOT / "docs").glob("*.md")}
    assert guides <= set(GUIDES), f"add to GUIDES and EXPECTED: {sorted(guides - set(GUIDES))}"
