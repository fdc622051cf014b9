"""What the REST API answers about a notebook an adversary wrote, as the browser shows it:
every string the notebook chose (a recorded path, a dataset's name, the environment, the
timeline) comes escaped, never raw. Raw, a bidirectional control (U+202E) in a recorded
path made ``data/invoice.\u202egpj.exe`` read as ``data/invoice.exe.jpg`` in the provenance
panel, and a line break or an escape sequence wrote what it liked; the verdict's own
strings were escaped, the record's were not."""

from __future__ import annotations

import json
from typing import Any

from conftest import as_notebook, code_cell

RLO = "\u202e"
ESC = "\x1b[2K"


def _raw_strings(value: Any) -> list[str]:
    """Every string in a JSON value (keys included) holding a control or bidi character."""
    if isinstance(value, str):
        return [value] if any(c in value for c in (RLO, "\x1b", "\n", "\u200b")) else []
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _raw_strings(k) + _raw_strings(v)]
    if isinstance(value, list):
        return [s for item in value for s in _raw_strings(item)]
    return []


def adversary_notebook() -> dict[str, Any]:
    cell = code_cell("a", "print(open('data/x').read())", [], 1)
    cell["metadata"] = {
        "qsecure": {
            "execution": {
                "record_id": f"r{RLO}1",
                "kernel_session": f"s{ESC}",
                "execution_count": 1,
                "started": f"2026-11-24T23:08:00Z{ESC}",
                "status": f"ok{RLO}",
                "files": {
                    "read": [
                        {
                            "path": f"data/invoice.{RLO}gpj.exe",
                            "sha256": "0" * 64,
                            "dataset": {
                                "name": f"calibration{RLO}",
                                "signed_by": [f"alice@lab{ESC}"],
                                "signature": "valid\nsigned by alice@lab",
                            },
                        }
                    ],
                    "written": [{"path": f"out{RLO}.csv"}],
                },
                "seeds": [{"source": f"random{ESC}", "value": "42"}],
            }
        }
    }
    notebook = as_notebook(cell)
    notebook["metadata"] = {
        "qsecure": {
            "provenance": {
                "version": 1,
                "user": f"alice{RLO}",
                "kernel_session": f"s{ESC}",
                "environment": {
                    "python": {"implementation": f"CPython{ESC}", "version": "3.11"},
                    "quantum": {f"qiskit{RLO}": f"1.0{ESC}"},
                    "git": {"commit": f"abc{RLO}"},
                },
                "timeline": [
                    {
                        "record_id": f"r{RLO}1",
                        "cell_id": "a",
                        "first_line": f"print(1){ESC}\u200b",
                        "status": f"ok{RLO}",
                        "started": "2026-11-24T23:08:00Z",
                    }
                ],
            }
        }
    }
    return notebook


async def test_provenance_report_shows_the_notebooks_strings_escaped(jp_fetch: Any) -> None:
    response = await jp_fetch(
        "qsecure",
        "provenance",
        method="POST",
        body=json.dumps({"path": "adversary.ipynb", "notebook": adversary_notebook()}),
    )
    report = json.loads(response.body)
    assert _raw_strings(report) == []
    [cell] = report["cells"]
    assert cell["execution"]["files"]["read"][0]["path"] == "data/invoice.\\u202egpj.exe"
    assert report["user"] == "alice\\u202e"
