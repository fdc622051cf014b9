"""Every command in the guides is run by this test, so the guides cannot rot.

The convention, in docs/quickstart.md, docs/admin.md, docs/reviewer.md,
docs/threat-model.md (and README.md):

- Commands to run live in fenced blocks whose language is ``console``. In such a block, a
  line that starts with ``$ `` is a command. A command continues on the next line when
  its line ends with ``\\``, and a here-document (``<<'EOF'`` ... ``EOF``) runs to its end
  marker. Every other line of the block is output shown to the reader; it is not checked.
- A command is expected to exit with 0. A different code is written as a shell comment at
  the end of the command: ``$ jupyter qsecure scan config.py  # exit 1``.
- A command that cannot run here says why, in the same way: ``# skip: opens a browser``.
  Those are counted and never run.
- Blocks in any other language (``toml``, ``python``, ``text``, ...) are never run.

The commands of one guide run in order, in one bash process (so ``cd`` and ``export``
carry over), in a fresh workspace and home folder: the encrypted-file keyring (as in the
Makefile's ``make lab``), ``$QSECURE_CONFIG`` = ``~/.jupyter/qsecure.toml`` (created
empty), no ssh-agent, and the venv's ``jupyter`` first on ``PATH``. Each command's
standard input is a made-up secret value, so ``jupyter qsecure secrets set NAME`` stores
it as if typed at the prompt; the test also checks that no output ever shows it.

The workspace starts with the files of ``tests/docs_fixtures/``: ``analysis.ipynb`` is a
notebook run in a real kernel and saved through a real server, so it carries real
provenance (its environment fingerprint removed, as it named the machine), with the
``counts.csv`` it read and the ``fidelity.json`` it wrote, and ``audit.jsonl`` is a short
audit trail. For the reviewer's guide, the test first plays the author: it makes Alice's
key with ssh-keygen, signs ``analysis.ipynb`` and a signed attestation of it, writes the
lab's ``allowed_signers``, and makes ``analysis-edited.ipynb``, a copy whose output was
changed after signing.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "docs_fixtures"
BIN = Path(sys.executable).parent
GUIDES = ("docs/quickstart.md", "docs/admin.md", "docs/reviewer.md", "docs/threat-model.md")
#: How many commands each file holds, run and skipped: an extraction bug cannot pass empty.
EXPECTED = {
    "docs/quickstart.md": (17, 2),
    "docs/admin.md": (11, 0),
    "docs/reviewer.md": (16, 0),
    "docs/threat-model.md": (5, 0),
    "README.md": (0, 0),
}

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
        QSECURE_KEYRING_PASSWORD="doc-test-keyring-password",
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


def play_the_author(workspace: Path, env: dict[str, str]) -> None:
    """What the reviewer receives: a signed notebook, a signed attestation, the lab's
    allowed_signers, and a copy changed after signing."""
    keys = workspace.parent / "alice-keys"
    keys.mkdir()
    key = keys / "id_ed25519"
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


def script(commands: list[Command], results: Path, stdin: Path) -> str:
    """One bash script: each command with its own output file and exit code file."""
    lines = ["set +e"]
    for number, command in enumerate(commands):
        lines += [
            f"{{ {command.text}",
            f'}} < "{stdin}" > "{results}/{number}.out" 2>&1',
            f'echo $? > "{results}/{number}.rc"',
        ]
    # An ssh-agent a guide started is ours to stop, by its process id.
    lines.append('if [ -n "${SSH_AGENT_PID:-}" ]; then kill "$SSH_AGENT_PID"; fi')
    return "\n".join(lines) + "\n"


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen (openssh-client)")
@pytest.mark.parametrize("name", [*GUIDES, "README.md"])
def test_every_command_of_the_guide_runs(name: str, tmp_path: Path) -> None:
    commands = extract(ROOT / name, name)
    runnable = [command for command in commands if command.skip is None]
    skipped = [command for command in commands if command.skip is not None]
    assert (len(runnable), len(skipped)) == EXPECTED[name], (
        f"{name}: {len(runnable)} commands to run and {len(skipped)} skipped; update EXPECTED "
        "if the guide changed on purpose"
    )
    if not runnable:
        return
    home, workspace, results = tmp_path / "home", tmp_path / "work", tmp_path / "results"
    for folder in (home / ".jupyter", workspace, results):
        folder.mkdir(parents=True)
    (home / ".jupyter" / "qsecure.toml").write_text("")
    for fixture in FIXTURES.iterdir():
        shutil.copy(fixture, workspace / fixture.name)
    env = environment(home)
    if name == "docs/reviewer.md":
        play_the_author(workspace, env)
    value = f"doc-test-value-{secrets.token_hex(12)}"
    stdin = tmp_path / "stdin.txt"
    stdin.write_text(value + "\n")
    runner = tmp_path / "commands.sh"
    runner.write_text(script(runnable, results, stdin))
    subprocess.run(
        ["bash", "--noprofile", "--norc", str(runner)],
        cwd=workspace,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=50,
        check=True,
    )
    failures = []
    for number, command in enumerate(runnable):
        output = (results / f"{number}.out").read_text(errors="replace")
        code = int((results / f"{number}.rc").read_text())
        if code != command.exit_code:
            failures.append(
                f"{name}:{command.line}: `{command.text}` exited {code}, "
                f"the guide says {command.exit_code}\n{output}"
            )
        if value in output:
            failures.append(f"{name}:{command.line}: `{command.text}` printed the secret value")
    assert not failures, "\n\n".join(failures)


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
