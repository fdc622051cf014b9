"""The quantum hardware a cell's jobs ran on: which Qiskit backend, which version, and the
calibration it ran with.

When a cell runs a job (``backend.run(...)``, on any ``BackendV2``: a device, a fake
backend, ``AerSimulator.from_backend(...)``), the record of that cell gets, per job:
the backend's name and ``backend_version`` (None when it has none, as simulators), the
package and version of its class (``software``), the job's id, and a *snapshot* of the
backend's ``Target`` as the job was submitted (per instruction and qubits: duration and
error; per qubit: T1, T2, frequency; ``dt``) with its digest (``sha256:`` of the snapshot's
RFC 8785 canonical JSON). Two results computed with the same calibration carry the same
digest; the snapshot itself is stored with the first job of each digest in a kernel
session (later records name the digest only).

Only the outermost ``run`` counts: a backend that delegates to another (a fake backend
running on Aer) is recorded as the backend the user called. Nothing of Qiskit is imported
here: the hook is installed when Qiskit's ``qiskit.providers.backend`` module loads.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import threading
from collections import OrderedDict
from typing import Any

#: Targets whose snapshot was taken (by identity, kept alive while cached).
_CACHE_SIZE = 8
_MARK = "__qsecure_wrapped__"


def _number(value: Any) -> float | int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number):
        return None
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def _software(module: str) -> str | None:
    """``package version`` of the package a backend class comes from (``qiskit_aer 0.18.2``)."""
    import sys

    top = module.split(".", 1)[0]
    version = getattr(sys.modules.get(top), "__version__", None)
    return f"{top} {version}" if isinstance(version, str) else None


def target_snapshot(target: Any) -> dict[str, Any]:
    """A JSON-able snapshot of a Qiskit ``Target``: ``num_qubits``, ``dt``, per qubit
    ``t1``/``t2``/``frequency``, per instruction the ``[qubits, duration, error]`` rows."""
    instructions: dict[str, list[list[Any]]] = {}
    for name in sorted(target.operation_names):
        rows = []
        for qargs, props in (target[name] or {}).items():
            rows.append(
                [
                    list(qargs) if qargs is not None else None,
                    _number(getattr(props, "duration", None)),
                    _number(getattr(props, "error", None)),
                ]
            )
        rows.sort(key=lambda row: (row[0] is not None, row[0] or []))
        instructions[name] = rows
    qubits = None
    if getattr(target, "qubit_properties", None):
        qubits = [
            None
            if props is None
            else {key: _number(getattr(props, key, None)) for key in ("t1", "t2", "frequency")}
            for props in target.qubit_properties
        ]
    return {
        "num_qubits": target.num_qubits,
        "dt": _number(target.dt),
        "qubits": qubits,
        "instructions": instructions,
    }


def snapshot_digest(snapshot: dict[str, Any]) -> str:
    """``sha256:`` of the snapshot's RFC 8785 canonical JSON."""
    import rfc8785

    return "sha256:" + hashlib.sha256(rfc8785.dumps(snapshot)).hexdigest()


class BackendWatcher:
    """Records the backends the running cell's jobs ran on (through ``add``)."""

    def __init__(self, add: Any) -> None:
        self._add = add
        self._depth = threading.local()
        self._cache: OrderedDict[int, tuple[Any, dict[str, Any], str]] = OrderedDict()
        self._lock = threading.Lock()

    def _snapshot(self, backend: Any) -> tuple[dict[str, Any] | None, str | None]:
        target = getattr(backend, "target", None)
        if target is None:
            return None, None
        with self._lock:
            cached = self._cache.get(id(target))
            if cached is not None and cached[0] is target:
                self._cache.move_to_end(id(target))
                return cached[1], cached[2]
        snapshot = target_snapshot(target)
        digest = snapshot_digest(snapshot)
        with self._lock:
            self._cache[id(target)] = (target, snapshot, digest)
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return snapshot, digest

    def describe(self, backend: Any, job: Any) -> dict[str, Any]:
        """What a record says of one job and its backend."""
        entry: dict[str, Any] = {
            "backend": str(getattr(backend, "name", None) or type(backend).__name__),
            "backend_version": str(getattr(backend, "backend_version", "") or "") or None,
            "backend_class": f"{type(backend).__module__}.{type(backend).__qualname__}",
            "software": _software(type(backend).__module__),
        }
        try:
            entry["job_id"] = str(job.job_id()) if job is not None else None
        except Exception:
            entry["job_id"] = None
        try:
            snapshot, digest = self._snapshot(backend)
        except Exception as error:  # an unusual target: name it, do not fail the job
            snapshot, digest = None, None
            entry["error"] = f"calibration not read: {type(error).__name__}"
        entry["num_qubits"] = snapshot["num_qubits"] if snapshot else None
        entry["target_sha256"] = digest
        entry["snapshot"] = snapshot
        return entry

    def wrap(self, cls: type) -> None:
        """Wrap the ``run`` that instances of ``cls`` use (once per defining class)."""
        for klass in cls.__mro__:
            if "run" in vars(klass):
                break
        else:
            return
        run = vars(klass)["run"]
        if getattr(run, _MARK, False) or not callable(run):
            return
        watcher = self

        def recorded_run(backend: Any, *args: Any, **kwargs: Any) -> Any:
            depth = getattr(watcher._depth, "value", 0)
            watcher._depth.value = depth + 1
            try:
                job = run(backend, *args, **kwargs)
            finally:
                watcher._depth.value = depth
            if depth == 0:
                with contextlib.suppress(Exception):  # recording must never break a job
                    watcher._add(watcher.describe(backend, job))
            return job

        recorded_run.__wrapped__ = run  # type: ignore[attr-defined]
        recorded_run.__doc__ = run.__doc__
        recorded_run.__name__ = "run"
        setattr(recorded_run, _MARK, True)
        setattr(klass, "run", recorded_run)  # noqa: B010

    def install(self, module: Any) -> None:
        """Hook ``BackendV2`` (and ``BackendV1`` where it still exists) of Qiskit's
        ``qiskit.providers.backend`` module: each new backend's class gets its ``run``
        wrapped."""
        watcher = self
        for name in ("BackendV2", "BackendV1"):
            base = getattr(module, name, None)
            if base is None or getattr(base.__init__, _MARK, False):
                continue
            original = base.__init__

            def init(
                backend: Any, *args: Any, original_init: Any = original, **kwargs: Any
            ) -> None:
                original_init(backend, *args, **kwargs)
                with contextlib.suppress(Exception):  # never break making a backend
                    watcher.wrap(type(backend))

            setattr(init, _MARK, True)
            init.__wrapped__ = original  # type: ignore[attr-defined]
            base.__init__ = init
