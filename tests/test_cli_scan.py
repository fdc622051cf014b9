"""`jupyter qsecure scan` as users and pre-commit run it: real files; the command in process,
and its entry points (`jupyter qsecure`, `jupyter-qsecure`, `python -m`) as real processes."""

from __future__ import annotations

import json
import os
import random
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import code, notebook
from corpus import expand
from qsecure_cli import run_qsecure

ROOT = Path(__file__).resolve().parents[1]
JUPYTER = str(Path(sys.executable).parent / "jupyter")


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``jupyter qsecure ARGS``, in process (the entry points have their own tests below)."""
    return run_qsecure(*args, cwd=cwd, env=env)


@pytest.fixture
def token() -> str:
    return expand("gh" + "p_{A:36}", random.Random())


@pytest.fixture
def project(tmp_path: Path, token: str) -> Path:
    (tmp_path / "clean.py").write_text("import os\ntoken = os.environ['GH_TOKEN']\n")
    (tmp_path / "analysis.ipynb").write_text(
        json.dumps(notebook(code("x = 1"), code(f"gh = '{token}'")))
    )
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "plot.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00" + token.encode())
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text(f"token = '{token}'\n")  # never entered
    return tmp_path


def test_text_report_and_exit_code(project: Path, token: str) -> None:
    result = run("scan", ".", cwd=project)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"analysis.ipynb: cell 2, line 1: GitHub token (ghp_…{token[-3:]}) [github-token]"
    ]
    assert "1 finding(s) in 1 of 3 file(s)" in result.stderr
    assert token not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "command",
    [
        [JUPYTER, "qsecure"],
        [sys.executable, "-m", "jupyter_qsecure"],
        [sys.executable, "-m", "jupyter_qsecure.cli"],
    ],
    ids=["jupyter qsecure", "python -m jupyter_qsecure", "python -m jupyter_qsecure.cli"],
)
def test_entry_points_give_the_same_report_and_exit_codes(
    project: Path, token: str, command: list[str]
) -> None:
    in_process = run("scan", ".", cwd=project)
    process = subprocess.run(
        [*command, "scan", "."], cwd=project, capture_output=True, text=True, timeout=120
    )
    assert (process.returncode, process.stdout, process.stderr) == (
        1,
        in_process.stdout,
        in_process.stderr,
    )
    assert token not in process.stdout + process.stderr
    usage = subprocess.run(
        [*command, "scan"], cwd=project, capture_output=True, text=True, timeout=120
    )
    assert usage.returncode == 2 and "name at least one file or folder" in usage.stderr
    assert "Traceback" not in usage.stderr


def test_a_value_a_repeated_key_hides_is_reported(tmp_path: Path, token: str) -> None:
    """A merge left two "cells" keys: notebook readers show the last, git carries both."""
    shown = json.dumps(notebook(code("x = 1")))
    hidden = json.dumps([code(f"gh = '{token}'")])
    (tmp_path / "merged.ipynb").write_text(
        shown.replace('"cells": ', f'"cells": {hidden}, "cells": ', 1)
    )
    result = run("scan", "merged.ipynb", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"merged.ipynb: the first of two 'cells' keys/0/source, line 1: GitHub token"
        f" (ghp_…{token[-3:]}) [github-token]"
    ]
    assert token not in result.stdout + result.stderr


def test_clean_files_exit_zero(project: Path) -> None:
    result = run("scan", "clean.py", "data/plot.png", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "data/plot.png: skipped: binary file" in result.stderr


def test_json_report(project: Path, token: str) -> None:
    result = run("scan", "--format", "json", ".", cwd=project)
    report = json.loads(result.stdout)
    [entry] = [f for f in report["files"] if f["findings"]]
    assert entry["path"] == "analysis.ipynb"
    assert entry["findings"][0]["cell_index"] == 1 and entry["findings"][0]["cell_id"] == "cell-1"
    assert token not in result.stdout


def test_sarif_report_for_code_scanning(project: Path, token: str) -> None:
    result = run("scan", "--format=sarif", ".", cwd=project)
    assert result.returncode == 1
    sarif = json.loads(result.stdout)
    assert sarif["version"] == "2.1.0"
    run_ = sarif["runs"][0]
    assert run_["tool"]["driver"]["name"] == "jupyter-qsecure"
    assert [rule["id"] for rule in run_["tool"]["driver"]["rules"]] == ["github-token"]
    [finding] = run_["results"]
    location = finding["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "analysis.ipynb"
    nb_lines = (project / "analysis.ipynb").read_text().splitlines()
    assert '"cell-1"' in nb_lines[location["region"]["startLine"] - 1]
    assert token not in result.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "not a notebook: not valid JSON"),
        (b"[1, 2]", "not a notebook (no 'cells' list)"),
        (b"[" * 100_000 + b"]" * 100_000, "not a notebook: JSON nested too deeply"),
        (b"\x00\x01binary", "not a notebook (binary content)"),
    ],
)
def test_bad_notebooks_get_one_clear_line_and_exit_2(
    tmp_path: Path, content: bytes, message: str, token: str
) -> None:
    (tmp_path / "bad.ipynb").write_bytes(content)
    (tmp_path / "leak.py").write_text(f"t = '{token}'\n")
    result = run("scan", ".", cwd=tmp_path)
    assert result.returncode == 2
    assert f"bad.ipynb: error: {message}" in result.stderr
    assert "Traceback" not in result.stderr
    assert "leak.py: line 1: GitHub token" in result.stdout  # the scan went on


def test_too_large_file(tmp_path: Path) -> None:
    policy = tmp_path / "qsecure.toml"
    policy.write_text("[guard]\nmax_bytes = 1000\n")
    (tmp_path / "big.txt").write_text("x" * 2000)
    result = run("scan", "big.txt", cwd=tmp_path, env={"QSECURE_CONFIG": str(policy)})
    assert result.returncode == 2
    assert "big.txt: error: too large to scan (2,000 bytes; the limit is 1,000)" in result.stderr


def test_nbformat3_notebook_is_scanned(tmp_path: Path, token: str) -> None:
    old = {
        "nbformat": 3,
        "nbformat_minor": 0,
        "metadata": {},
        "worksheets": [
            {"cells": [{"cell_type": "code", "input": f"k = '{token}'", "outputs": []}]}
        ],
    }
    (tmp_path / "old.ipynb").write_text(json.dumps(old))
    result = run("scan", "old.ipynb", cwd=tmp_path)
    assert result.returncode == 1
    assert "GitHub token" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "name at least one file or folder"),
        (("--format", "xml", "."), "expected any of ['text', 'json', 'sarif']"),
        (("missing.ipynb",), "missing.ipynb: error: no such file or folder"),
        (("--baseline", "nope.json", "."), "nope.json: cannot read the baseline"),
        (("a" * 300,), "a" * 300 + ": error: cannot read (File name too long)"),
        (("a" * 300 + "/x.py",), "/x.py: error: cannot read (File name too long)"),
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    result = run("scan", *args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_links_met_in_a_folder_are_not_followed_even_dangling(tmp_path: Path) -> None:
    """A link that leads nowhere (or to itself) met in a folder was reported as a file
    that does not exist, exit 2: a repository holding one failed every scan. It is
    skipped as any link met in a folder is; named on the command line, it is an error."""
    (tmp_path / "clean.py").write_text("x = 1\n")
    (tmp_path / "broken").symlink_to("nowhere")
    (tmp_path / "loop-a").symlink_to("loop-b")
    (tmp_path / "loop-b").symlink_to("loop-a")
    result = run("scan", ".", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    result = run("scan", "broken", "loop-a", cwd=tmp_path)
    assert result.returncode == 2
    assert "broken: error: no such file or folder" in result.stderr
    assert "loop-a: error: cannot read (Too many levels of symbolic links)" in result.stderr


def test_detect_secrets_baseline_is_honoured(project: Path, token: str) -> None:
    (project / "settings.py").write_text(f"GITHUB_TOKEN = '{token}'\n")
    baseline = subprocess.run(
        [str(Path(sys.executable).parent / "detect-secrets"), "scan", "settings.py"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    (project / ".secrets.baseline").write_text(baseline)
    assert "settings.py" in json.loads(baseline)["results"], baseline
    result = run("scan", "--baseline", ".secrets.baseline", "settings.py", cwd=project)
    assert result.returncode == 0, (result.stdout, result.stderr, baseline)
    # The baseline names settings.py only: the same token in the notebook is still reported.
    assert (
        run("scan", "--baseline", ".secrets.baseline", "analysis.ipynb", cwd=project).returncode
        == 1
    )


def test_pre_commit_hook_definition_runs(project: Path, token: str) -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    [hook] = [hook for hook in hooks if hook["id"] == "qsecure-scan"]
    entry = shlex.split(hook["entry"])
    executable = str(Path(sys.executable).parent / entry[0])
    result = subprocess.run(
        [executable, *entry[1:], "analysis.ipynb", "clean.py"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "analysis.ipynb: cell 2, line 1" in result.stdout


def test_rules_subcommand_lists_ids(tmp_path: Path) -> None:
    result = run("rules", cwd=tmp_path)
    assert result.returncode == 0
    assert "github-token" in result.stdout and "ibm-quantum-token" in result.stdout


@pytest.mark.slow
def test_server_extension_is_enabled_by_installing(tmp_path: Path) -> None:
    result = subprocess.run(
        [JUPYTER, "server", "extension", "list"], capture_output=True, text=True, timeout=120
    )
    output = result.stdout + result.stderr
    assert "jupyter_qsecure enabled" in output.replace("\x1b[32m", "").replace("\x1b[0m", "")
    assert "jupyter_qsecure 0.1.0 OK" in output.replace("\x1b[32m", "").replace("\x1b[0m", "")


# --- Folders inside a git work tree: what git ignores is skipped -------------------------

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
#: No user or system git configuration (a global excludes file), no repository above.
GIT_ENV = {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def git(*args: str, cwd: Path) -> None:
    subprocess.run(
        ["git", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        timeout=60,
        env={**os.environ, **GIT_ENV, "GIT_CEILING_DIRECTORIES": str(cwd.parent)},
    )


def findings_in(result: subprocess.CompletedProcess[str]) -> set[str]:
    return {line.split(": ")[0] for line in result.stdout.splitlines()}


@pytest.fixture
def repo(tmp_path: Path, token: str) -> Path:
    """A work tree: tracked, untracked and ignored files, each holding a made-up token."""
    root = tmp_path / "repo"
    (root / "build" / "lib").mkdir(parents=True)
    (root / "sub").mkdir()
    (root / ".gitignore").write_text("build/\n*.log\n")
    (root / "sub" / ".gitignore").write_text("local.py\n!keep.log\n")
    leak = f"t = '{token}'\n"
    for name in [
        "tracked.py",  # committed
        "forced.log",  # committed although ignored (git add -f)
        "untracked.py",  # about to be committed
        "debug.log",  # ignored by pattern
        "build/bundle.js",  # in an ignored folder
        "build/lib/deep.js",
        "sub/kept.py",  # untracked, in a folder with its own .gitignore
        "sub/keep.log",  # re-included by sub/.gitignore
        "sub/local.py",  # ignored by sub/.gitignore
    ]:
        (root / name).write_text(leak)
    git("init", "-q", cwd=root)
    git("add", "tracked.py", ".gitignore", "sub/.gitignore", cwd=root)
    git("add", "-f", "forced.log", cwd=root)
    return root


def scan_in(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run("scan", *args, cwd=cwd, env={**GIT_ENV, **(env or {})})


NOT_IGNORED = {"tracked.py", "forced.log", "untracked.py", "sub/keep.log", "sub/kept.py"}
IGNORED = {"debug.log", "build/bundle.js", "build/lib/deep.js", "sub/local.py"}


@needs_git
def test_scan_skips_what_git_ignores(repo: Path, token: str) -> None:
    result = scan_in(repo, ".")
    assert result.returncode == 1, result.stderr
    assert findings_in(result) == NOT_IGNORED
    assert f"5 finding(s) in 5 of {len(NOT_IGNORED) + 2} file(s)" in result.stderr  # .gitignores
    assert "warning" not in result.stderr
    assert token not in result.stdout + result.stderr


@needs_git
def test_no_gitignore_scans_everything(repo: Path) -> None:
    result = scan_in(repo, "--no-gitignore", ".")
    assert result.returncode == 1, result.stderr
    assert findings_in(result) == NOT_IGNORED | IGNORED


@needs_git
def test_ignored_file_or_folder_named_explicitly_is_scanned(repo: Path) -> None:
    result = scan_in(repo, "debug.log", "sub/local.py", "build", "tracked.py")
    assert result.returncode == 1, result.stderr
    assert findings_in(result) == {
        "debug.log",
        "sub/local.py",
        "build/bundle.js",
        "build/lib/deep.js",
        "tracked.py",
    }


@needs_git
def test_sub_folder_argument_uses_the_repository_rules(repo: Path) -> None:
    result = scan_in(repo, "sub")
    assert findings_in(result) == {"sub/keep.log", "sub/kept.py"}
    result = scan_in(repo / "sub", ".")
    assert findings_in(result) == {"keep.log", "kept.py"}
    result = scan_in(repo.parent, "repo/sub", str(repo / "build" / ".."))
    assert findings_in(result) == {"repo/sub/keep.log", "repo/sub/kept.py"} | {
        str(repo / "build" / ".." / name) for name in NOT_IGNORED
    }


@needs_git
def test_nested_repository_uses_its_own_rules(repo: Path, token: str) -> None:
    nested = repo / "vendor" / "tool"
    nested.mkdir(parents=True)
    (nested / ".gitignore").write_text("out/\n")
    (nested / "out").mkdir()
    (nested / "out" / "gen.py").write_text(f"t = '{token}'\n")
    (nested / "main.py").write_text(f"t = '{token}'\n")
    (nested / "debug.log").write_text(f"t = '{token}'\n")  # the outer rules do not apply
    git("init", "-q", cwd=nested)
    result = scan_in(repo, "vendor")
    assert findings_in(result) == {"vendor/tool/main.py", "vendor/tool/debug.log"}


@needs_git
def test_folder_outside_git_behaves_as_before(tmp_path: Path, token: str) -> None:
    (tmp_path / ".gitignore").write_text("*.log\n")  # not a repository: not read
    (tmp_path / "debug.log").write_text(f"t = '{token}'\n")
    (tmp_path / "app.py").write_text(f"t = '{token}'\n")
    result = scan_in(tmp_path, ".", env={"GIT_CEILING_DIRECTORIES": str(tmp_path.parent)})
    assert result.returncode == 1
    assert findings_in(result) == {"debug.log", "app.py"}
    assert result.stderr.splitlines() == ["2 finding(s) in 2 of 3 file(s)"]


def test_without_git_everything_is_scanned(repo: Path) -> None:
    no_git = repo.parent / "bin"
    no_git.mkdir()
    (no_git / "jupyter-qsecure").symlink_to(Path(JUPYTER).parent / "jupyter-qsecure")
    result = subprocess.run(
        [str(no_git / "jupyter-qsecure"), "scan", "."],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PATH": str(no_git)},
    )
    assert result.returncode == 1, result.stderr
    assert findings_in(result) == NOT_IGNORED | IGNORED
    assert "warning" not in result.stderr


@needs_git
def test_git_failure_is_a_warning_and_everything_is_scanned(tmp_path: Path, token: str) -> None:
    (tmp_path / ".git").write_text("not a gitdir line\n")
    (tmp_path / ".gitignore").write_text("*.log\n")
    (tmp_path / "debug.log").write_text(f"t = '{token}'\n")
    result = scan_in(tmp_path, ".", env={"GIT_CEILING_DIRECTORIES": str(tmp_path.parent)})
    assert result.returncode == 1
    assert findings_in(result) == {"debug.log"}
    assert (
        ".: warning: cannot ask git which files it ignores (fatal: invalid gitfile format: "
        in result.stderr
    )
    assert "scanning every file in this folder" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_text_report_shows_file_text_escaped(tmp_path: Path) -> None:
    """A metadata key or a file name holding escape sequences cannot rewrite the report on
    the reader's terminal: shown escaped, the finding still reported, exit code 1."""
    token = expand("gh" + "p_{A:36}", random.Random(7))
    nb = notebook(code("x = 1"))
    nb["cells"][0]["metadata"]["\x1b[2K\rclean: no findings"] = token
    path = tmp_path / "esc\x1b[2K.ipynb"
    path.write_text(json.dumps(nb))
    result = run_qsecure("scan", str(path), cwd=tmp_path)
    assert result.returncode == 1
    assert "\x1b" not in result.stdout and "\r" not in result.stdout
    assert "metadata/\\x1b[2K\\rclean: no findings" in result.stdout
    assert "esc\\x1b[2K.ipynb" in result.stdout and "GitHub token" in result.stdout


def test_an_archive_is_scanned_as_the_files_it_holds(tmp_path: Path, token: str) -> None:
    """A zip committed with a project's .env in it is a leak git carries: found, named by
    the file inside. One past the scan's limit is skipped, as other binary files are."""
    import io
    import zipfile

    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("project/.env", "# settings\n" * 20 + f"GH_TOKEN={token}\n")
    (tmp_path / "project.zip").write_bytes(packed.getvalue())
    result = run("scan", "project.zip", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == [
        f"project.zip: archive member project/.env, line 21: GitHub token"
        f" (ghp_…{token[-3:]}) [github-token]"
    ]
    # the zip (188 bytes) fits the limit; its file (276 bytes) does not
    (tmp_path / "qsecure.toml").write_text("[guard]\nmax_bytes = 250\n")
    limited = run(
        "scan", "project.zip", cwd=tmp_path, env={"QSECURE_CONFIG": str(tmp_path / "qsecure.toml")}
    )
    assert limited.returncode == 0, limited.stderr
    assert "project.zip: skipped: an archive too large to scan" in limited.stderr
