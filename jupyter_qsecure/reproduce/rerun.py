"""``reproduce``: run a notebook again in a fresh kernel and compare, cell by cell, what it
prints now with the output digests its provenance recorded.

Before running, every file the recorded run read is checked (:mod:`.inputs`) and the
seeds it recorded are listed. The notebook runs from an in-memory copy (the file is never
written) in a scratch copy of its folder, with nbclient and a real kernel whose
environment holds none of the reviewer's credentials (:mod:`.kernel_env`); before any of
its cells runs, the kernel is asked its Python version and installed distributions (so
the notebook's code cannot answer for it), compared with the recorded environment
fingerprint. Each code cell is then compared with its record (:mod:`.compare`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sqlite3
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .._files import read_bytes
from .._json import loads
from ..provenance import execution_record
from .compare import (
    DIFFERS,
    NORMALISERS,
    NOT_RECORDED,
    REPRODUCED,
    VOLATILE,
    VOLATILE_TAG,
    WITHIN_TOLERANCE,
    CellResult,
    compare_cell,
    normalise,
    within_tolerance,
)
from .inputs import InputCheck, check_inputs
from .kernel_env import kernel_environment

__all__ = [
    "DIFFERS",
    "NORMALISERS",
    "NOT_RECORDED",
    "REPRODUCED",
    "VOLATILE",
    "VOLATILE_TAG",
    "WITHIN_TOLERANCE",
    "CellResult",
    "ReproduceError",
    "Reproduction",
    "check_inputs",
    "normalise",
    "reproduce",
    "within_tolerance",
]

PROVISIONER = "qsecure-provisioner"
#: What the kernel says of its environment, asked before any cell of the notebook runs (a
#: silent request's user expression: no output, no history; the store records it as a
#: silent execution of the run), so the notebook's code cannot change the answer.
_PROBE = (
    "__import__('json').dumps({'python': __import__('platform').python_version(), "
    "'packages': __import__('jupyter_qsecure.provenance.collectors', fromlist=['_'])"
    ".installed_distributions()})"
)


def _asker(answer: dict[str, Any]) -> Any:
    """An ``on_notebook_start`` hook that puts the kernel's :data:`_PROBE` answer in
    ``answer`` (nothing when the kernel does not answer it)."""
    import ast

    async def ask(notebook: Any = None, client: Any = None) -> None:
        kc = client.kc
        msg_id = kc.execute(
            "", silent=True, store_history=False, user_expressions={"probe": _PROBE}
        )
        reply = await client.async_wait_for_reply(msg_id)
        found = (reply or {}).get("content", {}).get("user_expressions", {}).get("probe", {})
        try:
            value = json.loads(ast.literal_eval(found["data"]["text/plain"]))
        except (KeyError, TypeError, ValueError, SyntaxError):
            return
        if isinstance(value, dict):
            answer.update(value)

    return ask


def _rechecker(check: Any, workdir: Path) -> Any:
    """An ``on_cell_execute`` or ``on_cell_executed`` hook: ``check`` (an
    :class:`~.inputs.InputCheck` method: the files a cell's record read, hashed again
    where the kernel reads them), run off the event loop."""
    import asyncio

    async def recheck(cell: Any = None, cell_index: int = 0, **_: Any) -> None:
        await asyncio.to_thread(check, cell_index, workdir)

    return recheck


class ReproduceError(ValueError):
    """Bad input: not a notebook, a kernel that cannot start. Exit code 2."""


@dataclass
class Reproduction:
    """Everything ``reproduce`` found."""

    notebook: str
    inputs: list[dict[str, str]] = field(default_factory=list)
    environment: list[str] = field(default_factory=list)
    seeds: list[str] = field(default_factory=list)
    cells: list[CellResult] = field(default_factory=list)
    #: The reproducing kernel's Python version and the digest of its distributions.
    reproducer: dict[str, str] = field(default_factory=dict)
    #: The environment variables kept from the re-run's kernel (credentials).
    withheld_environment: list[str] = field(default_factory=list)
    #: The notebook as it was read before the run (what was checked and compared).
    original: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def inputs_ok(self) -> bool:
        """Every recorded input is present and the same."""
        return all(
            item["state"] != "changed" and item["state"] != "missing" for item in self.inputs
        )

    @property
    def reproduced(self) -> bool:
        """Every input the same and every cell reproduced (or volatile, or within tolerance)."""
        return self.inputs_ok and all(c.result not in (DIFFERS, NOT_RECORDED) for c in self.cells)

    def to_json(self) -> dict[str, Any]:
        """As ``--format json`` prints it."""
        return {
            "notebook": self.notebook,
            "reproduced": self.reproduced,
            "inputs": self.inputs,
            "environment_drift": self.environment,
            "seeds": self.seeds,
            "withheld_environment": self.withheld_environment,
            "cells": [asdict(cell) for cell in self.cells],
        }


def _drift(
    recorded: Any, probe: dict[str, Any], stored: list[str] | None = None, record: str = ""
) -> list[str]:
    """Python and each distribution that changed since the recorded run. A compact
    fingerprint (the notebook's imported distributions and the digest of all) is compared
    with the full list from the provenance store (``stored``) when there is one; otherwise
    its imported distributions are named, and the rest is said to differ by its digest."""
    if not isinstance(recorded, dict):
        return ["no environment fingerprint recorded"]
    drift = []
    python = (
        recorded.get("python", {}).get("version")
        if isinstance(recorded.get("python"), dict)
        else None
    )
    if python and python != probe.get("python"):
        drift.append(f"Python {python} -> {probe.get('python')}")
    section = recorded.get("distributions")
    section = section if isinstance(section, dict) else {}
    packages = section.get("packages")
    full = isinstance(packages, list) and bool(packages)
    if not full and stored:
        packages, full = stored, True
    if not full:
        packages = section.get("imported")
    now = probe.get("packages", {})
    if isinstance(packages, list) and packages:
        then = dict(str(p).partition("==")[::2] for p in packages)
        names = set(then) | set(now) if full else set(then)
        for name in sorted(names):
            if then.get(name) != now.get(name):
                drift.append(f"{name} {then.get(name, '(absent)')} -> {now.get(name, '(absent)')}")
    if not full and isinstance(section.get("digest"), str):
        # The list now with the imported ones as recorded: equal digests mean nothing else
        # changed.
        others = {**now, **dict(str(p).partition("==")[::2] for p in packages or [])}
        listing = "\n".join(f"{n}=={v}" for n, v in sorted(others.items()))
        digest = "sha256:" + hashlib.sha256(listing.encode()).hexdigest()
        if digest != section["digest"]:
            where = f" (record {record})" if record else ""
            drift.append(
                f"other installed distributions differ too ({section.get('count', '?')} "
                f"recorded, {len(now)} now); the notebook keeps only the ones it imports: "
                f"name them with --store, the provenance store of the recorded run{where}"
            )
    return drift


def _stored_packages(store: Path | None, record_id: Any) -> list[str] | None:
    """The full distribution list of environment record ``record_id`` in the provenance
    store at ``store`` (read-only), or None when it is not there."""
    if store is None or not isinstance(record_id, str) or not store.is_file():
        return None
    from ..provenance.store import ProvenanceStore, StoreError

    try:
        found = ProvenanceStore(store, read_only=True).by_record_id([record_id])
    except (StoreError, OSError, sqlite3.Error):
        return None
    row = found.get(record_id)
    environment = row.record.get("environment") if row is not None else None
    section = environment.get("distributions") if isinstance(environment, dict) else None
    packages = section.get("packages") if isinstance(section, dict) else None
    return [str(p) for p in packages] if isinstance(packages, list) else None


def _section(value: Any, key: str) -> dict[str, Any]:
    """``value[key]`` when both are objects, else an empty one."""
    found = value.get(key) if isinstance(value, dict) else None
    return found if isinstance(found, dict) else {}


def _notebook_node(path: Path, text: str, original: Any) -> Any:
    """The notebook as nbformat reads it, refused (exit 2) unless it is a valid nbformat 4
    notebook: its cells are then objects with the fields the comparison reads."""
    import nbformat

    if not isinstance(original, dict) or not isinstance(original.get("cells"), list):
        raise ReproduceError(f"{path}: not a notebook (no list of cells)")
    try:
        node = nbformat.reads(text, as_version=4)  # type: ignore[no-untyped-call]
        nbformat.validate(node)
    except Exception as error:  # nbformat raises many kinds for a malformed notebook
        first = str(error).strip().splitlines()[0][:300] if str(error).strip() else ""
        raise ReproduceError(
            f"{path}: not a valid notebook ({type(error).__name__}: {first})"
        ) from None
    if len(node.cells) != len(original["cells"]):
        raise ReproduceError(f"{path}: not a valid nbformat 4 notebook")
    return node


def _seeds(cells: list[dict[str, Any]]) -> list[str]:
    """The seeds the recorded run set, as ``cell ID: source(value)``."""
    found = []
    for cell in cells:
        seeds = (execution_record(cell) or {}).get("seeds")
        for seed in seeds if isinstance(seeds, list) else []:
            seed = seed if isinstance(seed, dict) else {"source": seed}
            found.append(f"cell {cell.get('id')}: {seed.get('source')}({seed.get('value')})")
    return found


def _notebook_unchanged(path: Path, data: bytes, report: Reproduction) -> None:
    """The notebook's own file must be as it was read: its code can reach it (an absolute
    path, a link out of the scratch copy), and what was checked and compared is the
    notebook as read before the run."""
    try:
        now = path.read_bytes()
    except OSError:
        now = None
    if now != data:
        report.inputs.append(
            {
                "path": str(path),
                "state": "changed",
                "detail": "the notebook's file was written while it ran again; "
                "this report is of the notebook as it was read before the run",
            }
        )


def _kernel_manager_class(notebook: str, environment: dict[str, str]) -> type:
    """A kernel manager whose kernels start through the qsecure provisioner (secrets the
    policy grants this notebook, the provenance recorder), named ``notebook``, in
    ``environment`` (the reviewer's, less its credentials: see :mod:`.kernel_env`)."""
    from jupyter_client.manager import AsyncKernelManager

    class QSecureKernelManager(AsyncKernelManager):
        async def _async_pre_start_kernel(self, **kw: Any) -> Any:
            spec = self.kernel_spec
            if spec is not None:
                spec.metadata = {
                    **(spec.metadata or {}),
                    "kernel_provisioner": {"provisioner_name": PROVISIONER},
                }
            kw["env"] = {**environment, **(kw.get("env") or {}), "QSECURE_NOTEBOOK": notebook}
            return await super()._async_pre_start_kernel(**kw)

    return QSecureKernelManager


def _scratch_copy(folder: Path, scratch: Path) -> Path:
    """A copy of ``folder`` under ``scratch`` (symbolic links kept; relative ones that
    leave the folder re-pointed at what they named, so ``../data`` still leads to the
    data; those within it lead within the copy, so writing through one never changes
    the original)."""
    copy = scratch / folder.name
    try:
        shutil.copytree(
            folder, copy, symlinks=True, ignore=shutil.ignore_patterns(".git", ".ipynb_checkpoints")
        )
    except (OSError, shutil.Error) as error:
        raise ReproduceError(
            f"{folder}: cannot copy the notebook's folder to run it ({error}); "
            "run it in place with --in-place"
        ) from None
    inside = os.path.realpath(folder)
    for link in [p for p in copy.rglob("*") if p.is_symlink()]:
        target = os.readlink(link)
        if os.path.isabs(target):
            continue
        original = folder / link.relative_to(copy)
        led_to = os.path.realpath(original)
        if led_to == inside or led_to.startswith(inside + os.sep):
            continue  # a link within the folder leads within the copy: never to the original
        link.unlink()
        link.symlink_to(os.path.normpath(original.parent / target))
    return copy


def reproduce(
    path: Path,
    *,
    bags: list[Path] | None = None,
    rtol: float = 0.0,
    atol: float = 0.0,
    timeout: int = 600,
    kernel_name: str | None = None,
    in_place: bool = False,
    store: Path | None = None,
    pass_env: tuple[str, ...] = (),
    pinned: dict[str, str] | None = None,
) -> Reproduction:
    """Check the inputs, run ``path`` again in a fresh kernel and compare each cell.

    The kernel runs in a scratch copy of the notebook's folder (removed after), so what
    the notebook writes never touches the original; ``in_place`` runs it in the folder
    itself (for folders too big to copy). ``store`` is the provenance store of the
    recorded run: the full list of its distributions, when the notebook carries only the
    ones it imports. The kernel's environment is this process's less its credentials
    (:mod:`.kernel_env`), but those named in ``pass_env``. ``pinned``: the digests the
    ``bags`` list, read when they were verified (a notebook run before this one could
    have written the bags since). Raises :class:`ReproduceError` for bad input."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    try:
        data = read_bytes(path)  # a named pipe nothing writes to: an error, not a wait
        text = data.decode("utf-8")
        original = loads(text)  # too deep, too long a number: a JSONTextError
    except OSError as error:
        raise ReproduceError(
            f"{path}: not a readable notebook ({error.strerror or error})"
        ) from None
    except ValueError as error:  # UnicodeDecodeError is a ValueError
        raise ReproduceError(f"{path}: not a readable notebook ({error})") from None
    node = _notebook_node(path, text, original)
    cells = original["cells"]
    if not any(execution_record(c) for c in cells if c.get("cell_type") == "code"):
        raise ReproduceError(
            f"{path}: carries no execution records, so there is nothing to compare with; "
            "run it with jupyter-qsecure on and save it first"
        )
    folder = path.resolve().parent
    report = Reproduction(str(path), original=original)
    checks = InputCheck(original, folder, bags or [], pinned)
    report.inputs = checks.inputs
    report.seeds = _seeds(cells)
    provenance = _section(_section(original, "metadata"), "qsecure")
    provenance = _section(provenance, "provenance")
    record_id = provenance.get("environment_record")
    # Read before the notebook runs: its code could write a record into the store.
    stored = _stored_packages(store, record_id)
    environment, report.withheld_environment = kernel_environment(os.environ, pass_env)
    probe: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="qsecure-reproduce-") as scratch:
        workdir = folder if in_place else _scratch_copy(folder, Path(scratch))
        try:
            name = os.path.relpath(path.resolve(), Path.cwd())
        except ValueError:
            name = path.name
        client = NotebookClient(
            node,
            kernel_manager_class=_kernel_manager_class(name.replace(os.sep, "/"), environment),
            timeout=timeout,
            kernel_name=kernel_name or "",
            allow_errors=True,
            resources={"metadata": {"path": str(workdir)}},
            log=logging.getLogger(__name__),
        )
        ask = _asker(probe)
        client.on_notebook_start = lambda notebook: ask(notebook, client)
        client.on_cell_execute = _rechecker(checks.before_cell, workdir)
        client.on_cell_executed = _rechecker(checks.after_cell, workdir)
        try:
            client.execute()
        except CellExecutionError as error:  # pragma: no cover - allow_errors keeps cells going
            raise ReproduceError(str(error)) from None
        except Exception as error:  # a kernel that cannot start: name it, no traceback
            raise ReproduceError(
                f"{path}: could not run it: {type(error).__name__}: {error}"
            ) from None
    report.inputs = checks.inputs
    _notebook_unchanged(path, data, report)
    packages = probe.get("packages", {}) if isinstance(probe.get("packages"), dict) else {}
    listing = "\n".join(f"{n}=={v}" for n, v in sorted(packages.items()))
    report.reproducer = {
        "python": str(probe.get("python", "")),
        "distributions_digest": "sha256:" + hashlib.sha256(listing.encode()).hexdigest(),
    }
    report.environment = _drift(
        provenance.get("environment"),
        probe,
        stored,
        record_id if isinstance(record_id, str) else "",
    )
    number = 0
    for cell, ran in zip(cells, node.cells, strict=True):
        if cell.get("cell_type") != "code":
            continue
        number += 1
        outputs = json.loads(json.dumps(ran.get("outputs", [])))
        report.cells.append(compare_cell(number, cell, outputs, rtol, atol))
    return report
