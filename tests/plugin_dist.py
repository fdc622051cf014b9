"""A real installed distribution for plug-in tests: a ``.dist-info`` folder with entry
points and the plug-in's module, in a folder put on ``sys.path``."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest


def install_plugin(
    site: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    entry_points: dict[str, dict[str, str]],
    module: str,
) -> None:
    """Install distribution ``name`` 1.0 into ``site`` (added to ``sys.path`` for the test):
    ``entry_points`` maps group -> entry name -> ``module:attribute``; ``module`` is the
    source of the module ``name`` (dashes as underscores)."""
    module_name = name.replace("-", "_")
    info = site / f"{module_name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        "".join(
            f"[{group}]\n" + "".join(f"{key} = {value}\n" for key, value in entries.items()) + "\n"
            for group, entries in entry_points.items()
        ),
        encoding="utf-8",
    )
    (site / f"{module_name}.py").write_text(module, encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, module_name, raising=False)
    importlib.invalidate_caches()
