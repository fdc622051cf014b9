"""The test suite is hermetic: it reads none of the machine's Jupyter, IPython or keyring
settings, and a run leaves no bytecode, pytest cache or Hypothesis database in the tree."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import jupyter_core.paths
import keyring.util.platform_
import pytest

ROOT = Path(__file__).resolve().parent.parent
REAL_HOME = Path(pwd.getpwuid(os.getuid()).pw_dir)
#: The machine's own Jupyter and IPython folders: per user, then machine-wide.
MACHINE_FOLDERS = [
    REAL_HOME / ".jupyter",
    REAL_HOME / ".local" / "share" / "jupyter",
    REAL_HOME / ".ipython",
    REAL_HOME / ".config",
]
MACHINE_WIDE_FOLDERS = [
    Path("/etc/jupyter"),
    Path("/usr/local/etc/jupyter"),
    Path("/usr/share/jupyter"),
    Path("/usr/local/share/jupyter"),
]


def machine_folders_in(paths: list[str], folders: list[Path]) -> list[str]:
    """The entries of ``paths`` that are, or lie inside, one of ``folders``."""
    return [path for path in paths if any(Path(path).is_relative_to(f) for f in folders)]


def test_jupyter_ipython_and_keyring_folders_are_the_tests_own(
    hermetic_environment: Path,
) -> None:
    own = [
        jupyter_core.paths.jupyter_config_dir(),
        jupyter_core.paths.jupyter_data_dir(),
        jupyter_core.paths.jupyter_runtime_dir(),
        os.environ["IPYTHONDIR"],
        keyring.util.platform_.config_root(),
        keyring.util.platform_.data_root(),
        str(Path.home()),
    ]
    assert all(Path(path).is_relative_to(hermetic_environment) for path in own), own
    searched = jupyter_core.paths.jupyter_config_path() + jupyter_core.paths.jupyter_path()
    assert machine_folders_in(searched, MACHINE_FOLDERS + MACHINE_WIDE_FOLDERS) == []
    assert not any(name.startswith(("QSECURE_", "JUPYTERHUB_")) for name in os.environ)


def test_a_jupyter_command_the_tests_start_searches_no_folder_of_the_user() -> None:
    listed = subprocess.run(
        [str(Path(sys.executable).parent / "jupyter"), "--paths", "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    paths = json.loads(listed.stdout)
    searched = [path for kind in ("config", "data", "runtime") for path in paths[kind]]
    assert searched and machine_folders_in(searched, MACHINE_FOLDERS) == []


@pytest.mark.slow
def test_a_run_leaves_nothing_in_the_tree(tmp_path: Path) -> None:
    """A pytest run, in a copy of the tests with the project's configuration, leaves no
    ``.pytest_cache``, no Hypothesis database and no bytecode beside the tests, even with
    bytecode writing on (as a developer's shell has it). Only the two modules Python loads
    before the conftest can turn bytecode writing off are written there; `make test` sets
    ``PYTHONDONTWRITEBYTECODE`` before pytest starts, which keeps those two out as well."""
    copy = tmp_path / "project"
    copy.mkdir()
    shutil.copy(ROOT / "pyproject.toml", copy)
    shutil.copytree(ROOT / "tests", copy / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    before = {path.relative_to(copy) for path in copy.rglob("*")}
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
    }
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/test_walker_properties.py",  # Hypothesis: examples and caches
            "tests/test_scanner.py::test_mask",
            "-q",
        ],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    new = {path.relative_to(copy) for path in copy.rglob("*")} - before
    loaded_before_the_conftest = {
        Path("tests/__pycache__"),
        Path(
            f"tests/__pycache__/conftest.{sys.implementation.cache_tag}-pytest-{pytest.__version__}.pyc"
        ),
        Path(f"tests/__pycache__/corpus.{sys.implementation.cache_tag}.pyc"),
    }
    assert new <= loaded_before_the_conftest, sorted(map(str, new))
