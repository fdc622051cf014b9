"""The environment fingerprint's collectors, on this interpreter and on real git repositories."""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import rfc8785

from jupyter_qsecure.provenance import collectors
from jupyter_qsecure.provenance.collectors import (
    BUILTIN_COLLECTORS,
    CollectorContext,
    collect_environment,
    environment_digest,
    mask_values,
)
from jupyter_qsecure.secrets.masking import Masker

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def sha256_of(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def outside_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder git does not look above, so that it is not in a repository."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    folder = tmp_path / "plain"
    folder.mkdir()
    return folder


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        [
            "git",
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.org",
            "-c",
            "commit.gpgsign=false",
            *args,
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository with a committed requirements.txt and a notebook two folders below."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    root = tmp_path / "project"
    notebooks = root / "notebooks" / "analysis"
    notebooks.mkdir(parents=True)
    (root / "requirements.txt").write_text("qiskit>=1.0\nnumpy\n", encoding="utf-8")
    (notebooks / "bell.ipynb").write_text('{"cells": []}\n', encoding="utf-8")
    git(root, "init", "-q", "--initial-branch=main")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "start")
    return root


# -- the whole fingerprint -------------------------------------------------------------------


def test_builtin_sections_present_and_digest_stable(outside_git: Path) -> None:
    context = CollectorContext(notebook_dir=outside_git, cwd=outside_git)
    first = collect_environment(context)
    second = collect_environment(context)
    for name in BUILTIN_COLLECTORS:
        assert name in first
        assert "error" not in first[name], (name, first[name])
    assert first["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert first["python"]["sys_version"] == sys.version
    assert first["distributions"]["count"] == len(first["distributions"]["packages"]) > 0
    assert first["digest"] == second["digest"]
    assert first["digest"] == environment_digest(first)
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", first["digest"])
    assert first["collected_at"].endswith("+00:00")
    json.dumps(first, allow_nan=False)  # JSON-serialisable as it is


def test_digest_is_of_the_canonical_json_without_metadata(outside_git: Path) -> None:
    environment = collect_environment(CollectorContext(notebook_dir=None, cwd=outside_git))
    body = {
        key: value for key, value in environment.items() if key not in ("digest", "collected_at")
    }
    assert environment["digest"] == "sha256:" + hashlib.sha256(rfc8785.dumps(body)).hexdigest()


def test_digest_survives_a_javascript_round_trip(outside_git: Path) -> None:
    """RFC 8785 numbers: ``16.0`` (JupyterLab writes it back as ``16``) and an integer beyond
    2**53 digest as JavaScript reads them; an integer beyond any double becomes a string."""

    def numbers(context: CollectorContext) -> dict[str, Any]:
        return {"memory_gb": 16.0, "big": 2**64, "huge": 10**400, "ratio": 0.25}

    environment = collect_environment(
        CollectorContext(notebook_dir=None, cwd=outside_git), extra={"numbers": numbers}
    )
    assert environment["numbers"] == {
        "memory_gb": 16.0,
        "big": 2**64,
        "huge": str(10**400),
        "ratio": 0.25,
    }
    as_javascript_saves_it = dict(
        environment,
        numbers={"memory_gb": 16, "big": 18446744073709552000, "huge": str(10**400), "ratio": 0.25},
    )
    assert environment_digest(as_javascript_saves_it) == environment["digest"]


# -- distributions and quantum SDKs ----------------------------------------------------------


def test_distributions_list_this_package_and_digest_the_list(outside_git: Path) -> None:
    section = collectors.distributions(CollectorContext(notebook_dir=None, cwd=outside_git))
    packages = section["packages"]
    assert f"jupyter-qsecure=={importlib.metadata.version('jupyter-qsecure')}" in packages
    assert packages == sorted(packages, key=lambda item: item.split("==")[0])
    joined = "\n".join(packages).encode()
    assert section["digest"] == "sha256:" + hashlib.sha256(joined).hexdigest()
    assert section == collectors.distributions(CollectorContext(notebook_dir=None, cwd=outside_git))


def test_fast_scan_agrees_with_importlib_metadata() -> None:
    expected: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = re.sub(r"[-_.]+", "-", dist.metadata["Name"]).lower()
        expected.setdefault(name, dist.version)
    assert collectors.installed_distributions() == expected


@pytest.mark.skipif(
    importlib.util.find_spec("qiskit") is None,
    reason="qiskit is not installed (pip install -e '.[test]')",
)
def test_quantum_reports_qiskit(outside_git: Path) -> None:
    section = collectors.quantum(CollectorContext(notebook_dir=None, cwd=outside_git))
    assert section["qiskit"] == importlib.metadata.version("qiskit")
    assert "numpy" not in section
    if importlib.util.find_spec("qiskit_aer") is not None:
        assert section["qiskit-aer"] == importlib.metadata.version("qiskit-aer")


def test_quantum_imports_nothing(outside_git: Path) -> None:
    code = (
        "import sys; from pathlib import Path;"
        "from jupyter_qsecure.provenance.collectors import quantum, CollectorContext;"
        "quantum(CollectorContext(None, Path('.')));"
        "print(sorted(m for m in ('qiskit', 'cirq', 'pennylane', 'numpy') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=outside_git, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


# -- the project: lockfiles and git ----------------------------------------------------------


@needs_git
def test_lockfile_digest_and_git_commit_then_dirty(project: Path) -> None:
    notebooks = project / "notebooks" / "analysis"
    context = CollectorContext(notebook_dir=notebooks, cwd=project)
    environment = collect_environment(context)

    assert environment["lockfiles"] == {
        "files": {"../../requirements.txt": sha256_of(project / "requirements.txt")}
    }
    section = environment["git"]
    assert section["repository"] is True
    assert section["commit"] == git(project, "rev-parse", "HEAD")
    assert section["branch"] == "main"
    assert section["dirty"] is False
    assert section["name"] == "project"
    assert section["subdir"] == "notebooks/analysis"

    (project / "requirements.txt").write_text("qiskit>=1.0\nnumpy\nscipy\n", encoding="utf-8")
    changed = collect_environment(context)
    assert changed["git"]["dirty"] is True
    assert changed["git"]["modified"] == 1
    assert changed["git"]["commit"] == section["commit"]
    assert changed["lockfiles"]["files"]["../../requirements.txt"] == sha256_of(
        project / "requirements.txt"
    )
    assert changed["digest"] != environment["digest"]


@needs_git
def test_untracked_file_makes_dirty_and_detached_head_has_no_branch(project: Path) -> None:
    context = CollectorContext(notebook_dir=project, cwd=project)
    (project / "scratch.py").write_text("x = 1\n", encoding="utf-8")
    section = collectors.git(context)
    assert section["dirty"] is True
    assert section["untracked"] == 1
    assert section["modified"] == 0
    git(project, "checkout", "-q", "--detach")
    section = collectors.git(context)
    assert section["branch"] is None
    assert section["commit"] == git(project, "rev-parse", "HEAD")


@needs_git
def test_repository_without_commits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    root = tmp_path / "fresh"
    root.mkdir()
    git(root, "init", "-q", "--initial-branch=trunk")
    section = collectors.git(CollectorContext(notebook_dir=root, cwd=root))
    assert section["repository"] is True
    assert section["commit"] is None
    assert section["branch"] == "trunk"
    assert section["dirty"] is False


@needs_git
def test_not_a_repository_has_no_commit(outside_git: Path) -> None:
    section = collect_environment(CollectorContext(notebook_dir=outside_git, cwd=outside_git))[
        "git"
    ]
    assert section == {"repository": False}
    assert "commit" not in section


def test_without_git_on_path(outside_git: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(outside_git))
    section = collectors.git(CollectorContext(notebook_dir=outside_git, cwd=outside_git))
    assert section["repository"] is False
    assert "commit" not in section


@needs_git
def test_lockfile_search_stops_at_the_repository_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    (tmp_path / "requirements.txt").write_text("outside\n", encoding="utf-8")
    root = tmp_path / "repo"
    (root / "nb").mkdir(parents=True)
    git(root, "init", "-q")
    context = CollectorContext(notebook_dir=root / "nb", cwd=root)
    assert collectors.lockfiles(context) == {"files": {}}
    # Outside a repository the search goes up to the filesystem's root.
    plain = tmp_path / "plain" / "nb"
    plain.mkdir(parents=True)
    found = collectors.lockfiles(CollectorContext(notebook_dir=plain, cwd=plain))
    assert found["files"]["../../requirements.txt"] == sha256_of(tmp_path / "requirements.txt")


def test_nearest_folder_with_lockfiles_wins_and_all_of_its_lockfiles_count(
    outside_git: Path,
) -> None:
    (outside_git / "requirements.txt").write_text("far\n", encoding="utf-8")
    near = outside_git / "near"
    notebooks = near / "nb"
    notebooks.mkdir(parents=True)
    for name in ("uv.lock", "requirements-dev.txt", "environment.yml", "pixi.lock", "README.md"):
        (near / name).write_text(f"{name}\n", encoding="utf-8")
    os.mkfifo(near / "poetry.lock")  # not a regular file: named, never opened
    section = collectors.lockfiles(CollectorContext(notebook_dir=notebooks, cwd=outside_git))
    files = section["files"]
    assert set(files) == {
        "../uv.lock",
        "../requirements-dev.txt",
        "../environment.yml",
        "../pixi.lock",
        "../poetry.lock",
    }
    assert files["../uv.lock"] == sha256_of(near / "uv.lock")
    assert files["../poetry.lock"].startswith("error:")


def test_lockfiles_from_cwd_without_notebook_dir(outside_git: Path) -> None:
    (outside_git / "uv.lock").write_text("version = 1\n", encoding="utf-8")
    section = collectors.lockfiles(CollectorContext(notebook_dir=None, cwd=outside_git))
    assert section == {"files": {"uv.lock": sha256_of(outside_git / "uv.lock")}}


# -- host, GPU, container --------------------------------------------------------------------


def test_gpu_from_nvidia_smi(outside_git: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = outside_git / "nvidia-smi"
    fake.write_text(
        "#!/bin/sh\n"
        'echo "NVIDIA A100-SXM4-40GB, 535.104.05, 40960 MiB"\n'
        'echo "NVIDIA A100-SXM4-40GB, 535.104.05, 40960 MiB"\n',
        encoding="utf-8",
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(outside_git))
    section = collectors.gpu(CollectorContext(notebook_dir=None, cwd=outside_git))
    assert section["present"] is True
    assert section["count"] == 2
    assert section["gpus"][0] == {
        "name": "NVIDIA A100-SXM4-40GB",
        "driver_version": "535.104.05",
        "memory_total": "40960 MiB",
    }


def test_gpu_absent_and_failing(outside_git: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(outside_git))
    context = CollectorContext(notebook_dir=None, cwd=outside_git)
    assert collectors.gpu(context) == {"present": False}
    fake = outside_git / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n", encoding="utf-8")
    fake.chmod(0o755)
    section = collectors.gpu(context)
    assert section["present"] is False
    assert section["error"] == "nvidia-smi exited with 9: NVIDIA-SMI has failed"


def test_gpu_hanging_nvidia_smi_is_cut_short(
    outside_git: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = outside_git / "nvidia-smi"
    fake.write_text("#!/bin/sh\nexec sleep 30\n", encoding="utf-8")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{outside_git}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(collectors, "SUBPROCESS_TIMEOUT", 0.3)
    started = time.monotonic()
    section = collectors.gpu(CollectorContext(notebook_dir=None, cwd=outside_git))
    assert time.monotonic() - started < 5
    assert "timed out" in section["error"]


def test_host(outside_git: Path) -> None:
    section = collectors.host(CollectorContext(notebook_dir=None, cwd=outside_git))
    assert section["hostname"]
    assert section["cpu_count"] == os.cpu_count()
    if sys.platform == "linux":
        assert section["memory_total_bytes"] > 0


def test_container_reads_only_named_variables(
    outside_git: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "AKIA" + "Z" * 16 + "-never-recorded"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("JUPYTER_IMAGE", "quay.io/example/quantum-notebook:2024.1")
    environment = collect_environment(CollectorContext(notebook_dir=None, cwd=outside_git))
    section = environment["container"]
    assert section["image"] == "quay.io/example/quantum-notebook:2024.1"
    assert section["env"]["JUPYTER_IMAGE"] == section["image"]
    assert secret not in json.dumps(environment)


# -- plug-ins, failures and timeouts ---------------------------------------------------------


def test_extra_collector_appears_and_a_raising_one_is_an_error(outside_git: Path) -> None:
    def site(context: CollectorContext) -> dict[str, Any]:
        return {"cluster": "lab-a", "notebook_dir": context.project_dir.name, "qubits": (1, 2)}

    def broken(context: CollectorContext) -> dict[str, Any]:
        raise RuntimeError("scheduler unreachable\nsecond line")

    def not_a_dict(context: CollectorContext) -> dict[str, Any]:
        return ["a list"]  # type: ignore[return-value]

    environment = collect_environment(
        CollectorContext(notebook_dir=outside_git, cwd=outside_git),
        extra={"site": site, "broken": broken, "odd": not_a_dict, "digest": site},
    )
    assert list(environment)[: len(BUILTIN_COLLECTORS)] == list(BUILTIN_COLLECTORS)
    assert environment["site"] == {"cluster": "lab-a", "notebook_dir": "plain", "qubits": [1, 2]}
    assert environment["broken"] == {"error": "RuntimeError: scheduler unreachable"}
    assert environment["odd"] == {"error": "TypeError: collector returned list, not a dict"}
    assert environment["digest"].startswith("sha256:")  # reserved, not a collector's name
    for name in BUILTIN_COLLECTORS:
        assert "error" not in environment[name]


def test_extra_collector_replaces_a_builtin(outside_git: Path) -> None:
    def cluster_gpu(context: CollectorContext) -> dict[str, Any]:
        return {"present": True, "source": "scheduler"}

    environment = collect_environment(
        CollectorContext(notebook_dir=None, cwd=outside_git), extra={"gpu": cluster_gpu}
    )
    assert environment["gpu"] == {"present": True, "source": "scheduler"}


def test_a_failing_masker_fails_closed(outside_git: Path) -> None:
    def broken_masker(text: str) -> str:
        raise ValueError(text)

    environment = collect_environment(
        CollectorContext(notebook_dir=None, cwd=outside_git), masker=broken_masker
    )
    assert environment["python"] == {"error": "not masked: ValueError"}
    assert sys.version not in json.dumps(environment)


def test_unserialisable_values_become_json(outside_git: Path) -> None:
    def odd(context: CollectorContext) -> dict[str, Any]:
        value: dict[Any, Any] = {
            "path": Path("a") / "b",
            "nan": float("nan"),
            1: "int key",
            "bad": "\udcff",
            "empty": {},
        }
        return value

    environment = collect_environment(
        CollectorContext(notebook_dir=None, cwd=outside_git), extra={"odd": odd}
    )
    assert environment["odd"] == {
        "path": str(Path("a") / "b"),
        "nan": "nan",
        "1": "int key",
        "bad": "?",
        "empty": {},
    }
    json.dumps(environment, allow_nan=False).encode("utf-8")


def test_entry_point_plugins(outside_git: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = outside_git / "site"
    info = site / "qsecure_site_plugin-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: qsecure-site-plugin\nVersion: 1.0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        "[console_scripts]\nsite-tool = qsecure_site_plugin:main\n\n"
        "[jupyter_qsecure.collectors]\n"
        "Site = qsecure_site_plugin:collect\n"
        "missing = qsecure_no_such_module:collect\n",
        encoding="utf-8",
    )
    (site / "qsecure_site_plugin.py").write_text(
        "def collect(context):\n    return {'cluster': 'lab-a', 'cwd': context.cwd.name}\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "qsecure_site_plugin", raising=False)

    group = importlib.metadata.entry_points(group=collectors.ENTRY_POINT_GROUP)
    assert {"Site", "missing"} <= set(group.names)  # what importlib.metadata finds too

    environment = collect_environment(CollectorContext(notebook_dir=None, cwd=outside_git))
    assert environment["Site"] == {"cluster": "lab-a", "cwd": "plain"}
    assert environment["missing"]["error"].startswith("ModuleNotFoundError:")
    assert "site-tool" not in environment
    assert "qsecure-site-plugin==1.0" in environment["distributions"]["packages"]
    for name in BUILTIN_COLLECTORS:
        assert "error" not in environment[name]
    sys.modules.pop("qsecure_site_plugin", None)


def test_slow_collector_times_out_and_the_rest_is_returned(outside_git: Path) -> None:
    release = threading.Event()

    def slow(context: CollectorContext) -> dict[str, Any]:
        release.wait(30)
        return {"late": True}

    try:
        started = time.monotonic()
        environment = collect_environment(
            CollectorContext(notebook_dir=None, cwd=outside_git), timeout=1.0, extra={"slow": slow}
        )
        elapsed = time.monotonic() - started
    finally:
        release.set()
    assert environment["slow"] == {"error": "timed out after 1 s"}
    assert 0.9 <= elapsed < 2.0
    assert "error" not in environment["distributions"]
    assert environment["digest"] == environment_digest(environment)


# -- masking ---------------------------------------------------------------------------------


def test_mask_values_replaces_a_planted_secret(outside_git: Path) -> None:
    secret = "ghp_" + "k3Y" * 12
    masker = Masker({"GITHUB_TOKEN": secret})

    def leaky(context: CollectorContext) -> dict[str, Any]:
        return {
            "branch": f"feature/{secret}",
            "image": [f"registry.example.org/{secret}:latest"],
            secret: "as a key",
            "count": 3,
        }

    context = CollectorContext(notebook_dir=None, cwd=outside_git)
    environment = collect_environment(context, extra={"leaky": leaky})
    assert secret in json.dumps(environment)
    masked = mask_values(environment, masker.mask)
    text = json.dumps(masked)
    assert secret not in text
    assert masked["leaky"] == {
        "branch": "feature/[secret:GITHUB_TOKEN]",
        "image": ["registry.example.org/[secret:GITHUB_TOKEN]:latest"],
        "[secret:GITHUB_TOKEN]": "as a key",
        "count": 3,
    }
    assert masked["digest"] == environment_digest(masked) != environment["digest"]
    assert masked["collected_at"] == environment["collected_at"]
    assert environment["leaky"]["branch"] == f"feature/{secret}"  # the original is not changed

    # Masking while collecting gives the same, digest included.
    at_once = collect_environment(context, extra={"leaky": leaky}, masker=masker.mask)
    assert secret not in json.dumps(at_once)
    assert at_once["digest"] == masked["digest"]


def test_mask_values_on_plain_values() -> None:
    def upper(text: str) -> str:
        return text.upper()

    assert mask_values({"a": ("b", ["c", 1, None, 2.5])}, upper) == {
        "A": ["B", ["C", 1, None, 2.5]]
    }
    assert mask_values(7, upper) == 7
