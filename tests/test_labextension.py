"""The JupyterLab extension ships with the Python package: installed, enabled and OK, at
the package's version, with the files the build hook promises."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import jupyter_qsecure

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_jupyterlab_lists_the_extension_enabled_and_ok() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "jupyter", "labextension", "list"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    listing = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)
    line = next(
        (line for line in listing.splitlines() if "jupyter-qsecure" in line),
        None,
    )
    assert line is not None, listing
    assert "enabled" in line and "OK" in line, line
    assert f"v{jupyter_qsecure.__version__}" in line


def test_npm_and_python_versions_agree() -> None:
    package = json.loads((ROOT / "package.json").read_text())
    assert package["version"] == jupyter_qsecure.__version__


def test_built_extension_has_its_entry_points() -> None:
    built = Path(jupyter_qsecure.__file__).parent / "labextension"
    meta = json.loads((built / "package.json").read_text())
    assert meta["name"] == "jupyter-qsecure"
    load = meta["jupyterlab"]["_build"]["load"]
    assert (built / load).is_file()
    assert (built / "static" / "style.js").is_file()
    assert jupyter_qsecure._jupyter_labextension_paths() == [
        {"src": "labextension", "dest": "jupyter-qsecure"}
    ]
