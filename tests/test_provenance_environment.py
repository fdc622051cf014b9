"""The environment fingerprint a saved notebook carries is compact (the digest of every
installed distribution and the ones the notebook imports, by name and version) while the
provenance store keeps the full list; ``jupyter qsecure reproduce`` still names a drifted
package the notebook imported, and with the store every drifted package."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import nbformat
import pytest
from conftest import as_notebook, code_cell
from kernel_client import execute, save_notebook, saved_content, start_session, wait_for_records
from test_reproduce import installed, recorded_notebook, reproduce_json

from jupyter_qsecure.provenance.imports import (
    compact_environment,
    imported_modules,
    imported_packages,
)
from jupyter_qsecure.provenance.store import ProvenanceStore

NUMPY_CELL = "import numpy as np\nfrom numpy.linalg import norm\nprint(np.__version__)"


def packages_digest(packages: list[str]) -> str:
    """The distributions' digest as the collector computes it (sorted by name, then
    version)."""
    ordered = sorted(packages, key=lambda p: tuple(p.partition("==")[::2]))
    return "sha256:" + hashlib.sha256("\n".join(ordered).encode("utf-8")).hexdigest()


async def test_a_saved_notebook_carries_a_compact_fingerprint_and_the_store_the_full_list(
    store_path: Path, jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path
) -> None:
    numpy = pytest.importorskip("numpy")
    _, _, client = await start_session(jp_fetch, jp_serverapp, "env.ipynb")
    try:
        outputs = await execute(client, NUMPY_CELL, "np")
    finally:
        client.stop_channels()
    wait_for_records(store_path, 1)
    [stored] = wait_for_records(store_path, 1, kind="environment")
    full = stored["environment"]["distributions"]["packages"]
    assert f"numpy=={numpy.__version__}" in full and len(full) > 20

    await save_notebook(jp_fetch, "env.ipynb", as_notebook(code_cell("np", NUMPY_CELL, outputs, 1)))
    saved = await saved_content(jp_fetch, "env.ipynb")
    provenance = saved["metadata"]["qsecure"]["provenance"]
    environment = provenance["environment"]
    size = len(json.dumps(environment))
    assert size < 1500, f"the notebook's environment part is {size} bytes"
    distributions = environment["distributions"]
    assert distributions == {
        "count": len(full),
        "digest": packages_digest(full),
        "imported": [f"numpy=={numpy.__version__}"],
    }
    # The rest of the fingerprint is the store's, and the record that has the full list
    # is named.
    assert environment["digest"] == stored["environment"]["digest"]
    assert environment["python"] == stored["environment"]["python"]
    assert provenance["environment_record"] == stored["record_id"]

    # Saving again without running anything writes the same bytes (signatures stay valid).
    on_disk = (jp_root_dir / "env.ipynb").read_bytes()
    await save_notebook(jp_fetch, "env.ipynb", saved)
    assert (jp_root_dir / "env.ipynb").read_bytes() == on_disk


def test_imports_are_read_from_code_cells_only_without_the_standard_library() -> None:
    notebook = as_notebook(
        code_cell("a", "import os, numpy.linalg as la\n%matplotlib inline\nimport qiskit_aer"),
        code_cell("b", "from scipy import stats\nfrom . import local\n  import yaml  # nested"),
        {"cell_type": "markdown", "id": "m", "metadata": {}, "source": "import pandas"},
    )
    assert imported_modules(notebook) == {"numpy", "qiskit_aer", "scipy", "yaml"}
    packages = ["numpy==2.0.0", "pyyaml==6.0", "qiskit-aer==0.18.2", "zzz==1"]
    # qiskit_aer by its normalised name; yaml by what pyyaml declares it installs (when it
    # is installed here); scipy is not in the list.
    found = imported_packages(imported_modules(notebook), packages)
    assert {"numpy==2.0.0", "qiskit-aer==0.18.2"} <= set(found) <= {*packages} - {"zzz==1"}


def test_a_fingerprint_without_a_package_list_is_left_as_it_is() -> None:
    environment: dict[str, Any] = {"python": {"version": "3.11"}, "distributions": {"error": "x"}}
    assert compact_environment(environment, as_notebook()) is environment


def compact(path: Path, imported: list[str], full: list[str], record: str) -> None:
    """Rewrite the recorded notebook's fingerprint as a save writes it now."""
    nb = nbformat.read(path, as_version=4)
    provenance = nb.metadata["qsecure"]["provenance"]
    provenance["environment"]["distributions"] = {
        "count": len(full),
        "digest": packages_digest(full),
        "imported": imported,
    }
    provenance["environment_record"] = record
    nbformat.write(nb, path)


@pytest.mark.slow  # real kernels
def test_reproduce_names_a_drifted_imported_package_and_with_the_store_every_one(
    tmp_path: Path,
) -> None:
    now = installed()
    ipykernel = next(p for p in now if p.startswith("ipykernel=="))
    recorded = [p for p in now if p != ipykernel] + ["ipykernel==0.0.1", "gone-package==1.0"]
    path = recorded_notebook(tmp_path)
    record = f"env-{uuid.uuid4()}"
    compact(path, ["ipykernel==0.0.1"], recorded, record)

    _, report = reproduce_json(path, "--store", str(write_store(tmp_path, record, recorded)))
    drift = report["environment_drift"]
    assert any(line.startswith("ipykernel 0.0.1 -> ") for line in drift), drift
    assert "gone-package 1.0 -> (absent)" in drift
    assert len(drift) == 2, drift

    # Without the store: the imported package is named, and the rest is said to differ.
    _, report = reproduce_json(path, "--store", str(write_store(tmp_path / "other", "x", [])))
    drift = report["environment_drift"]
    assert any(line.startswith("ipykernel 0.0.1 -> ") for line in drift), drift
    assert any(line.startswith("other installed distributions differ too") for line in drift)
    assert record in drift[-1] and "--store" in drift[-1]

    # Only the imported package drifted: nothing else is claimed.
    same_rest = [p for p in now if p != ipykernel] + ["ipykernel==0.0.1"]
    compact(path, ["ipykernel==0.0.1"], same_rest, record)
    _, report = reproduce_json(path, "--store", str(tmp_path / "other" / "p.sqlite"))
    assert len(report["environment_drift"]) == 1, report["environment_drift"]


def write_store(folder: Path, record: str, packages: list[str]) -> Path:
    """A provenance store holding one environment record with ``packages``."""
    folder.mkdir(exist_ok=True)
    store = ProvenanceStore(folder / "p.sqlite")
    store.append(
        {
            "record_id": record,
            "kind": "environment",
            "kernel_session": "s",
            "environment": {"distributions": {"packages": sorted(packages)}},
        }
    )
    return store.path


def test_reproduce_refuses_a_store_that_is_not_there(tmp_path: Path) -> None:
    path = tmp_path / "n.ipynb"
    path.write_text("{}")
    result = reproduce_json_raw(path, "--store", str(tmp_path / "missing.sqlite"))
    assert result.returncode == 2
    assert "missing.sqlite: no provenance store there" in result.stderr
    assert "Traceback" not in result.stderr


def reproduce_json_raw(path: Path, *args: str) -> Any:
    from qsecure_cli import run_qsecure

    return run_qsecure("reproduce", str(path), *args, cwd=path.parent)
