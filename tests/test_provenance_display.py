"""``jupyter qsecure provenance NOTEBOOK`` shows what the notebook says escaped: a cell id,
a record id, a recorded path, executable, peer or seed, a deleted cell's first line are
written by whoever edited the file. Raw, a cell id holding escape sequences printed a
forged "every cell executed as shown" and hid every real line after it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from qsecure_cli import run_qsecure

from jupyter_qsecure._shown import shown
from jupyter_qsecure.provenance.verdict import judge

ESC = chr(27)
#: Back to the line's start, clear it, a forged report, then hide what follows.
FORGED = (
    f"\r{ESC}[2K"
    + "cell 1: executed as shown\nnb.ipynb: every cell executed as shown"
    + f"{ESC}[8m"
)


def notebook() -> dict[str, Any]:
    execution = {
        "record_id": "r" + FORGED,
        "kernel_session": "s",
        "execution_count": 2,
        "code_sha256": "sha256:0",
        "outputs_digest": "sha256:0",
        "files": {
            "read": [{"path": "in" + FORGED, "sha256": "0" * 64, "size": 1}],
            "written": [{"path": "out" + FORGED, "size": 1}],
        },
        "subprocesses": [{"executable": "sh" + FORGED}],
        "network": ["host" + FORGED],
        "seeds": [{"source": "random.seed" + FORGED, "value": "1" + FORGED}],
    }
    timeline = [
        {"record_id": "t", "cell_id": "gone", "execution_count": 1, "kernel_session": "s"},
        {
            "record_id": "r" + FORGED,
            "cell_id": "a" + FORGED,
            "execution_count": 2,
            "kernel_session": "s",
        },
    ]
    timeline[0]["first_line"] = "x = 1" + FORGED
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"qsecure": {"provenance": {"kernel_session": "s", "timeline": timeline}}},
        "cells": [
            {
                "cell_type": "code",
                "id": "a" + FORGED,
                "metadata": {"qsecure": {"execution": execution}},
                "source": "1",
                "outputs": [],
                "execution_count": 1,
            }
        ],
    }


def test_the_text_report_shows_no_control_character(tmp_path: Path) -> None:
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(notebook()))
    result = run_qsecure("provenance", str(path), cwd=tmp_path)
    assert result.returncode == 1
    assert ESC not in result.stdout and "\r" not in result.stdout, result.stdout
    lines = result.stdout.splitlines()
    assert lines[0].startswith("cell 1 (a\\r\\x1b[2Kcell 1: executed as shown\\nnb.ipynb")
    assert lines[-1] == f"{path}: not every cell is executed as shown"
    assert not any(line.endswith("every cell executed as shown") for line in lines[:-1])
    assert "x = 1\\r" in result.stdout  # the deleted cell's first line, escaped


def test_every_string_of_the_verdict_is_escaped(tmp_path: Path) -> None:
    text = json.dumps(judge(notebook(), tmp_path).to_json(), ensure_ascii=False)
    assert ESC not in text and "\\r" not in text.replace("\\\\r", "")


def test_shown_escapes_and_cuts() -> None:
    assert shown("alice@lab.example") == "alice@lab.example"
    assert shown("a b") == "a b"
    assert shown("a\u202eb\u200bc\nd\x7f") == "a\\u202eb\\u200bc\\nd\\x7f"
    assert shown("é ü 日本") == "é ü 日本"
    assert shown("x" * 10, 4) == "xxxx... (6 more characters)"
