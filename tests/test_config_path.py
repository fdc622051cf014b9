"""The policy's folders come from :func:`jupyter_qsecure.config_path.jupyter_config_path`,
which computes Jupyter's config search path without importing ``jupyter_core.paths``: in a
fresh interpreter (as ``jupyter qsecure verify`` runs) it gives exactly the list
``jupyter_core.paths.jupyter_config_path()`` gives, under every variable either reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

#: Both lists in one fresh interpreter: ours first, before anything imports jupyter_core.
PROBE = """
import json, sys
from jupyter_qsecure.config_path import jupyter_config_path
ours = jupyter_config_path()
loaded = "jupyter_core.paths" in sys.modules
import jupyter_core.paths
print(json.dumps({"ours": ours, "loaded": loaded, "core": jupyter_core.paths.jupyter_config_path()}))
"""

#: Variables either implementation reads; each case starts without them.
VARIABLES = (
    "JUPYTER_CONFIG_DIR",
    "JUPYTER_CONFIG_PATH",
    "JUPYTER_PREFER_ENV_PATH",
    "JUPYTER_PLATFORM_DIRS",
    "JUPYTER_NO_CONFIG",
    "JUPYTER_USE_PROGRAMDATA",
    "PROGRAMDATA",
    "CONDA_PREFIX",
    "CONDA_DEFAULT_ENV",
    "PYTHONUSERBASE",
    "PYTHONNOUSERSITE",
    "XDG_CONFIG_HOME",
)


def _lists(
    home: Path, variables: dict[str, str], *flags: str, python: str = sys.executable
) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    env.update(HOME=str(home), **variables)
    result = subprocess.run(
        [python, *flags, "-c", PROBE],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    answer: dict[str, object] = json.loads(result.stdout)
    return answer


CASES = {
    "defaults": {},
    "config dir": {"JUPYTER_CONFIG_DIR": "{tmp}/elsewhere"},
    "empty config dir": {"JUPYTER_CONFIG_DIR": ""},
    "config path": {"JUPYTER_CONFIG_PATH": "{tmp}/first/:{tmp}/second//:{tmp}/third"},
    "prefer env": {"JUPYTER_PREFER_ENV_PATH": "1"},
    "prefer user": {"JUPYTER_PREFER_ENV_PATH": "0"},
    "prefer env, spelled no": {"JUPYTER_PREFER_ENV_PATH": "No"},
    "prefer env, spelled off": {"JUPYTER_PREFER_ENV_PATH": "OFF"},
    "user base": {"PYTHONUSERBASE": "{tmp}//base/./x/"},
    "conda env": {"CONDA_PREFIX": sys.prefix, "CONDA_DEFAULT_ENV": "lab"},
    "conda base": {"CONDA_PREFIX": sys.prefix, "CONDA_DEFAULT_ENV": "base"},
    "programdata (Windows only)": {"JUPYTER_USE_PROGRAMDATA": "1", "PROGRAMDATA": "{tmp}/pd"},
    "everything": {
        "JUPYTER_CONFIG_DIR": "{tmp}/cfg",
        "JUPYTER_CONFIG_PATH": "{tmp}/a",
        "JUPYTER_PREFER_ENV_PATH": "yes",
        "PYTHONUSERBASE": "{tmp}/ub",
    },
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_same_list_as_jupyter_core_without_importing_it(case: str, tmp_path: Path) -> None:
    variables = {k: v.format(tmp=tmp_path) for k, v in CASES[case].items()}
    answer = _lists(tmp_path, variables)
    assert answer["ours"] == answer["core"]
    assert answer["loaded"] is False


@pytest.mark.parametrize(
    ("case", "flags"),
    [
        ("defaults", ()),
        ("user base", ()),
        ("user base", ("-s",)),
        ("prefer env", ()),
        ("conda env", ()),
    ],
)
def test_the_same_list_outside_a_virtualenv(
    case: str, flags: tuple[str, ...], tmp_path: Path
) -> None:
    """The base interpreter (no virtualenv, so Python's user site counts unless ``-s``)
    with this environment's packages on its path."""
    base = getattr(sys, "_base_executable", sys.executable)
    if sys.prefix == sys.base_prefix or not Path(base).exists():
        pytest.skip("the tests do not run in a virtualenv here")
    packages = os.pathsep.join(p for p in sys.path if p)
    variables = {k: v.format(tmp=tmp_path) for k, v in CASES[case].items()}
    answer = _lists(tmp_path, {**variables, "PYTHONPATH": packages}, *flags, python=base)
    assert answer["ours"] == answer["core"]
    assert answer["loaded"] is False


def test_a_symlinked_home_is_resolved_as_jupyter_core_resolves_it(tmp_path: Path) -> None:
    real = tmp_path / "real-home"
    real.mkdir()
    link = tmp_path / "home"
    link.symlink_to(real)
    answer = _lists(link, {})
    assert answer["ours"] == answer["core"]
    assert str(real / ".jupyter") in answer["ours"]  # type: ignore[operator]


@pytest.mark.parametrize("variables", [{"JUPYTER_PLATFORM_DIRS": "1"}, {"JUPYTER_NO_CONFIG": "1"}])
def test_platform_dirs_and_no_config_are_left_to_jupyter_core(
    variables: dict[str, str], tmp_path: Path
) -> None:
    variables = {**variables, "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    answer = _lists(tmp_path, variables)
    assert answer["ours"] == answer["core"]
    assert answer["loaded"] is True


def test_once_jupyter_core_is_loaded_it_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """In a server (and in the tests, which move its machine-wide folders away), the
    folders are jupyter_core's own, patched or not."""
    import jupyter_core.paths

    from jupyter_qsecure.config_path import jupyter_config_path

    monkeypatch.setattr(jupyter_core.paths, "SYSTEM_CONFIG_PATH", ["/nowhere/jupyter"])
    assert jupyter_config_path() == jupyter_core.paths.jupyter_config_path()
    assert jupyter_config_path()[-1] == "/nowhere/jupyter"
