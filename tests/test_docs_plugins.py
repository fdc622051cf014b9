"""The guide to the JupyterLab extension lists every plugin the extension registers, so an
administrator who disables plugins one by one knows each id (and no id that is gone)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "labextension" / "src"
GUIDE = ROOT / "docs" / "jupyterlab.md"

#: A plugin object's id (status items, icons and tokens have names, not ids).
_PLUGIN_ID = re.compile(r"^\s*id: '(jupyter-qsecure:[\w-]+)',?$", re.MULTILINE)
#: A row of the guide's plugin table: | `jupyter-qsecure:NAME` | what it adds |
_TABLE_ROW = re.compile(r"^\| `(jupyter-qsecure:[\w-]+)` \| (.+) \|$", re.MULTILINE)


def registered_plugins() -> set[str]:
    """The ids of the plugins the frontend sources define (tests excluded)."""
    ids: set[str] = set()
    for source in SOURCES.rglob("*.ts*"):
        if "__tests__" not in source.parts:
            ids.update(_PLUGIN_ID.findall(source.read_text(encoding="utf-8")))
    return ids


def test_the_sources_define_the_plugins_this_test_reads() -> None:
    # The pattern still finds the plugins (a refactor that hides them fails here first).
    assert {"jupyter-qsecure:guard", "jupyter-qsecure:menu"} <= registered_plugins()


def test_the_guide_lists_every_registered_plugin_and_no_other() -> None:
    rows = dict(_TABLE_ROW.findall(GUIDE.read_text(encoding="utf-8")))
    registered = registered_plugins()
    assert not registered - set(rows), f"add to the plugin table: {registered - set(rows)}"
    assert not set(rows) - registered, f"no such plugin: {set(rows) - registered}"
    assert all(len(what.strip()) > 10 for what in rows.values()), rows
