"""The environment fingerprint: what a kernel ran on, collected once per kernel.

Each collector is a function of a :class:`CollectorContext` that returns a JSON-serialisable
dict: Python and platform, host, GPU, installed distributions and their digest, the lockfiles
of the notebook's project, its git commit and dirty flag, container hints, and quantum SDK
versions. More collectors plug in through the entry point group ``jupyter_qsecure.collectors``
(a name and a callable taking the context).

This runs inside every kernel, in a background thread, so it is standard library only, never
reaches the network, never raises (a failing collector gives ``{"error": ...}`` in its section)
and is bounded in time: every subprocess has a timeout and :func:`collect_environment` returns
after at most its ``timeout``. No environment variable is recorded unless it is named here.
Secret values are kept out by masking every string (:func:`mask_values`) before a record is
written.
"""

from __future__ import annotations

import configparser
import dataclasses
import fnmatch
import hashlib
import importlib.metadata
import itertools
import logging
import math
import os
import platform
import re
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..signing.canonical import canonical_json

__all__ = [
    "BUILTIN_COLLECTORS",
    "ENTRY_POINT_GROUP",
    "Collector",
    "CollectorContext",
    "collect_environment",
    "container",
    "distributions",
    "environment_digest",
    "git",
    "gpu",
    "host",
    "installed_distributions",
    "lockfiles",
    "mask_values",
    "python_platform",
    "quantum",
]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "jupyter_qsecure.collectors"
"""The entry point group plug-in collectors register in (name = section name)."""

SUBPROCESS_TIMEOUT = 2.0
"""Seconds any one subprocess a collector starts may take."""

LOCKFILE_PATTERNS = (
    "requirements*.txt",
    "uv.lock",
    "poetry.lock",
    "Pipfile.lock",
    "pdm.lock",
    "pylock.toml",
    "pylock.*.toml",
    "environment.yml",
    "environment.yaml",
    "conda-lock.yml",
    "pixi.lock",
)
"""File names (shell patterns) that pin a project's environment."""

LOCKFILE_SIZE_LIMIT = 64 * 1024 * 1024
"""Lockfiles larger than this are named, not hashed."""

SECRET_CHECK_BYTES = 64 * 1024
"""A lockfile up to this size that holds an injected value (a private index's token in a
requirements file) is named, not hashed: its digest would check guesses of the value."""

QUANTUM_DISTRIBUTIONS = frozenset(
    {
        "qiskit",
        "qiskit-terra",
        "qiskit-aer",
        "qiskit-aer-gpu",
        "qiskit-ibm-runtime",
        "qiskit-ibm-provider",
        "qiskit-ibmq-provider",
        "cirq",
        "cirq-core",
        "cirq-google",
        "qsimcirq",
        "pennylane",
        "pennylane-lightning",
        "pennylane-lightning-gpu",
        "amazon-braket-sdk",
        "amazon-braket-default-simulator",
        "pytket",
        "pytket-quantinuum",
        "pyquil",
        "qcs-sdk-python",
        "qutip",
        "qsharp",
        "azure-quantum",
        "qiskit-ionq",
        "cirq-ionq",
        "stim",
        "sinter",
        "openqasm3",
        "pyqir",
        "cuda-quantum",
        "cudaq",
        "cuquantum-python",
        "tensorflow-quantum",
        "mitiq",
        "projectq",
        "qibo",
        "qulacs",
        "strawberryfields",
        "perceval-quandela",
        "pyzx",
        "dwave-ocean-sdk",
        "dimod",
    }
)
"""Quantum SDK distributions reported by :func:`quantum` (normalised names)."""

QUANTUM_PREFIXES = (
    "qiskit-",
    "cirq-",
    "pennylane-",
    "pytket-",
    "amazon-braket-",
    "qutip-",
    "qsharp-",
    "azure-quantum-",
    "dwave-",
)
"""Plug-ins of the SDKs above: any distribution whose normalised name starts so is reported."""

_IMAGE_ENV = (
    "JUPYTER_IMAGE",
    "JUPYTER_IMAGE_SPEC",
    "CONTAINER_IMAGE",
    "IMAGE_ID",
    "IMAGE_NAME",
    "DOCKER_IMAGE",
    "APPTAINER_NAME",
    "SINGULARITY_NAME",
)
CONTAINER_ENV = (
    *_IMAGE_ENV,
    "BINDER_REPO_URL",
    "BINDER_REF_URL",
    "BINDER_LAUNCH_HOST",
    "container",
)
"""The only environment variables :func:`container` reads (image ids and BinderHub hints)."""

_CGROUP_RUNTIMES = (
    ("kubepods", "kubernetes"),
    ("docker", "docker"),
    ("libpod", "podman"),
    ("containerd", "containerd"),
    ("lxc", "lxc"),
)
_METADATA_KEYS = ("digest", "collected_at")
_MEMO_LOCK = threading.Lock()


@dataclass
class CollectorContext:
    """What a collector may look at: the notebook's folder (``None`` when unknown) and the
    kernel's working directory. Project-level collectors start from :attr:`project_dir`."""

    notebook_dir: Path | None
    cwd: Path
    #: Whether a small file's content holds an injected value (the kernel's masking): such
    #: a lockfile is named, not hashed (see :data:`SECRET_CHECK_BYTES`).
    holds_secret: Callable[[bytes], bool] | None = None
    # What collectors of one collection share (the scan of installed distributions).
    _memo: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def project_dir(self) -> Path:
        """The folder project-level collectors (lockfiles, git) start from: the notebook's
        folder, else the working directory."""
        return self.notebook_dir if self.notebook_dir is not None else self.cwd


Collector = Callable[[CollectorContext], dict[str, Any]]
"""A collector: a function of the context returning a JSON-serialisable dict."""


# -- helpers ---------------------------------------------------------------------------------


def _run(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command with a timeout, no stdin, C locale and no prompts; raises
    ``subprocess.TimeoutExpired`` or ``OSError`` (the child is killed on a timeout)."""
    env = dict(os.environ)
    env.update({"LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"})
    return subprocess.run(
        args,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )


def _describe(error: BaseException) -> str:
    """``"Type: short message"`` for an error entry."""
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if len(message) > 200:
        message = message[:197] + "..."
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _normalise(name: str) -> str:
    """A distribution name normalised as in PEP 503 (``Jupyter_QSecure`` -> ``jupyter-qsecure``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _read_text(path: str, limit: int = 1 << 20) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            return file.read(limit)
    except OSError:
        return None


# -- python and host -------------------------------------------------------------------------


def _platform_string() -> str:
    """What ``platform.platform()`` says, without the ``uname -p`` subprocess (no timeout) or
    the scan of the interpreter binary for its libc that it does on Linux."""
    uname = os.uname() if hasattr(os, "uname") else None
    if uname is None or sys.platform != "linux":
        return platform.platform()
    text = f"{uname.sysname}-{uname.release}-{uname.machine}"
    try:
        libc = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError):
        libc = ""
    if libc.startswith("glibc "):
        text += "-with-glibc" + libc.split(" ", 1)[1]
    return text


def python_platform(context: CollectorContext) -> dict[str, Any]:
    """The interpreter and OS: implementation, version, full ``sys.version``, a
    ``platform.platform()``-style string, machine, and whether this is a virtual environment
    (its folder's name only, no path)."""
    return {
        "implementation": platform.python_implementation(),
        "version": platform.python_version(),
        "sys_version": sys.version,
        "platform": _platform_string(),
        "system": platform.system(),
        "machine": platform.machine(),
        "virtualenv": sys.prefix != sys.base_prefix,
        "prefix_name": os.path.basename(os.path.normpath(sys.prefix)),
        "conda_env": os.environ.get("CONDA_DEFAULT_ENV"),
    }


def _cpu_model() -> str | None:
    if sys.platform == "linux":
        text = _read_text("/proc/cpuinfo") or ""
        for key in ("model name", "Hardware", "Processor", "cpu model", "uarch"):
            for line in text.splitlines():
                name, _, value = line.partition(":")
                if name.strip() == key and value.strip():
                    return value.strip()
        return None
    if sys.platform == "darwin":
        try:
            done = _run(["sysctl", "-n", "machdep.cpu.brand_string"])
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() or None
    if sys.platform == "win32":
        return os.environ.get("PROCESSOR_IDENTIFIER")
    return None


def _memory_total() -> int | None:
    text = _read_text("/proc/meminfo")
    if text:
        match = re.search(r"^MemTotal:\s*(\d+)\s*kB", text, re.MULTILINE)
        if match:
            return int(match.group(1)) * 1024
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def host(context: CollectorContext) -> dict[str, Any]:
    """The machine: hostname (no DNS lookup), CPU model, CPU count and the CPUs this process
    may use, total memory in bytes."""
    try:
        usable: int | None = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = None
    return {
        "hostname": socket.gethostname(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_usable": usable,
        "memory_total_bytes": _memory_total(),
    }


def gpu(context: CollectorContext) -> dict[str, Any]:
    """NVIDIA GPUs as ``nvidia-smi`` lists them (name, driver, memory), ``{"present": False}``
    without ``nvidia-smi``."""
    command = shutil.which("nvidia-smi")
    if command is None:
        return {"present": False}
    try:
        done = _run(
            [
                command,
                "--query-gpu=name,driver_version,memory.total",
                "--format=csv,noheader",
            ]
        )
    except subprocess.TimeoutExpired:
        return {"present": None, "error": f"nvidia-smi timed out after {SUBPROCESS_TIMEOUT:g} s"}
    except OSError as error:
        return {"present": None, "error": _describe(error)}
    if done.returncode != 0:
        message = (done.stderr or done.stdout).strip().splitlines()
        return {
            "present": False,
            "error": f"nvidia-smi exited with {done.returncode}"
            + (f": {message[0][:200]}" if message else ""),
        }
    gpus = []
    for line in done.stdout.splitlines():
        if not line.strip():
            continue
        fields = [field.strip() for field in line.split(",")]
        fields += [""] * (3 - len(fields))
        gpus.append({"name": fields[0], "driver_version": fields[1], "memory_total": fields[2]})
    return {"present": bool(gpus), "count": len(gpus), "gpus": gpus}


# -- distributions ---------------------------------------------------------------------------


def _name_and_version(metadata_path: str) -> tuple[str | None, str | None]:
    """Name and Version from a METADATA/PKG-INFO file's headers, reading only as far as needed
    (they come first); parsing the whole file as importlib.metadata does is ten times slower."""
    name = version = None
    try:
        with open(metadata_path, encoding="utf-8", errors="replace") as file:
            for number, line in enumerate(file):
                if not line.strip() or number > 400:
                    break
                if name is None and line[:5].lower() == "name:":
                    name = line[5:].strip()
                elif version is None and line[:8].lower() == "version:":
                    version = line[8:].strip()
                if name is not None and version is not None:
                    break
    except OSError:
        pass
    return name, version


@dataclass(frozen=True)
class _Installed:
    """One installed distribution: normalised name, version, and where its metadata is (a
    ``.dist-info``/``.egg-info`` path, or the Distribution itself for a zip entry)."""

    name: str
    version: str
    info: str | None = None
    dist: importlib.metadata.Distribution | None = None

    def entry_points_text(self) -> str | None:
        if self.dist is not None:
            return self.dist.read_text("entry_points.txt")
        if self.info is not None and os.path.isdir(self.info):
            return _read_text(os.path.join(self.info, "entry_points.txt"))
        return None


def _distributions_in(entry: str) -> Iterable[_Installed]:
    """The distributions in one ``sys.path`` entry."""
    folder = entry or os.getcwd()
    try:
        with os.scandir(folder) as scan:
            names = sorted(item.name for item in scan)
    except NotADirectoryError:
        # A zip file (or an egg): importlib.metadata knows how to read those.
        for dist in importlib.metadata.distributions(path=[entry]):
            dist_name = dist.metadata["Name"]
            if dist_name:
                yield _Installed(_normalise(dist_name), dist.version, dist=dist)
        return
    except OSError:
        return
    for item in names:
        if item.endswith(".dist-info"):
            info = os.path.join(folder, item)
            stem, metadata = item[: -len(".dist-info")], os.path.join(info, "METADATA")
        elif item.endswith(".egg-info"):
            stem, info = item[: -len(".egg-info")], os.path.join(folder, item)
            metadata = os.path.join(info, "PKG-INFO") if os.path.isdir(info) else info
        else:
            continue
        name, version = _name_and_version(metadata)
        if not name:
            name = stem.split("-", 1)[0]
        if version is None and "-" in stem:
            version = stem.split("-", 1)[1].split("-", 1)[0]
        if name and version is not None:
            yield _Installed(_normalise(name), version, info=info)


def _scan() -> list[_Installed]:
    """Every distribution on ``sys.path``, the first of each name (as for an import)."""
    found: dict[str, _Installed] = {}
    for entry in list(sys.path):
        if isinstance(entry, str):
            for installed in _distributions_in(entry):
                found.setdefault(installed.name, installed)
    return list(found.values())


def _installed(context: CollectorContext) -> list[_Installed]:
    """:func:`_scan`, once per context (the collectors of one collection share it)."""
    with _MEMO_LOCK:
        if "installed" not in context._memo:
            context._memo["installed"] = _scan()
        installed: list[_Installed] = context._memo["installed"]
        return installed


def installed_distributions() -> dict[str, str]:
    """Every distribution importable from ``sys.path``, normalised name -> version; the first
    on ``sys.path`` wins, as for an import. Reads only the first lines of each METADATA, so it
    is several times faster than going through ``importlib.metadata.distributions()``."""
    return {installed.name: installed.version for installed in _scan()}


def distributions(context: CollectorContext) -> dict[str, Any]:
    """Installed distributions: ``packages`` (``name==version`` sorted by normalised name),
    their ``count``, and ``digest``, ``sha256:`` of the newline-joined list."""
    installed = sorted((item.name, item.version) for item in _installed(context))
    packages = [f"{name}=={version}" for name, version in installed]
    return {
        "count": len(packages),
        "digest": _sha256("\n".join(packages).encode("utf-8")),
        "packages": packages,
    }


def quantum(context: CollectorContext) -> dict[str, Any]:
    """Versions of the installed quantum SDKs and their plug-ins (Qiskit, Cirq, PennyLane,
    Braket, pytket, pyQuil, QuTiP, Q#, Azure Quantum, Stim, CUDA-Q, ...), name -> version;
    only what is installed. Nothing is imported."""
    return {
        name: version
        for name, version in sorted((item.name, item.version) for item in _installed(context))
        if name in QUANTUM_DISTRIBUTIONS or name.startswith(QUANTUM_PREFIXES)
    }


# -- the project: lockfiles and git ------------------------------------------------------------


def _hash_file(path: Path, holds_secret: Callable[[bytes], bool] | None = None) -> str:
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            return "error: not a regular file"
        if info.st_size > LOCKFILE_SIZE_LIMIT:
            return f"error: larger than {LOCKFILE_SIZE_LIMIT} bytes"
        digest = hashlib.sha256()
        head = b""
        with open(path, "rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
                if len(head) <= SECRET_CHECK_BYTES:
                    head += block[: SECRET_CHECK_BYTES + 1 - len(head)]
        if holds_secret is not None and len(head) <= SECRET_CHECK_BYTES and holds_secret(head):
            return "error: holds an injected secret: not hashed"
        return "sha256:" + digest.hexdigest()
    except OSError as error:
        return "error: " + _describe(error)


def _relative(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path, start)).as_posix()


def lockfiles(context: CollectorContext) -> dict[str, Any]:
    """The project's lockfiles: from the notebook's folder up to its git repository's root (or
    the filesystem's root), the first folder holding any of :data:`LOCKFILE_PATTERNS`; ``files``
    maps each one's name, relative to the notebook's folder, to its ``sha256:`` digest."""
    start = context.project_dir.resolve()
    for folder in (start, *start.parents):
        try:
            with os.scandir(folder) as scan:
                names = sorted(
                    item.name
                    for item in scan
                    if any(fnmatch.fnmatchcase(item.name, pattern) for pattern in LOCKFILE_PATTERNS)
                )
        except OSError:
            names = []
        if names:
            return {
                "files": {
                    _relative(folder / name, start): _hash_file(folder / name, context.holds_secret)
                    for name in names
                }
            }
        if os.path.lexists(folder / ".git"):
            break
    return {"files": {}}


def git(context: CollectorContext) -> dict[str, Any]:
    """The notebook's git repository: ``commit`` (``None`` before the first), ``branch``
    (``None`` when detached), ``dirty`` (``git status --porcelain`` is not empty), counts of
    ``modified`` tracked and ``untracked`` files, the repository folder's ``name`` and the
    notebook's ``subdir`` in it. ``{"repository": False}`` outside a repository or without git.
    No remote URL (they can carry credentials); no optional locks taken; no fsmonitor hook run."""
    command = shutil.which("git")
    if command is None:
        return {"repository": False, "reason": "git not found"}
    start = context.project_dir
    base = [command, "-c", "core.fsmonitor=false", "--no-optional-locks"]
    top = _run([*base, "rev-parse", "--show-toplevel"], cwd=start)
    if top.returncode != 0 or not top.stdout.strip():
        return {"repository": False}
    toplevel = Path(top.stdout.strip())
    result: dict[str, Any] = {
        "repository": True,
        "name": toplevel.name,
        "subdir": _relative(start.resolve(), toplevel.resolve()),
    }
    try:
        status = _run([*base, "status", "--porcelain=v2", "--branch"], cwd=start)
    except subprocess.TimeoutExpired:
        status = None
        result["status_error"] = f"git status timed out after {SUBPROCESS_TIMEOUT:g} s"
    if status is not None and status.returncode == 0:
        commit = branch = None
        modified = untracked = 0
        for line in status.stdout.splitlines():
            if line.startswith("# branch.oid "):
                oid = line[len("# branch.oid ") :].strip()
                commit = None if oid == "(initial)" else oid
            elif line.startswith("# branch.head "):
                ref = line[len("# branch.head ") :].strip()
                branch = None if ref == "(detached)" else ref
            elif line.startswith("? "):
                untracked += 1
            elif line and not line.startswith("#") and not line.startswith("! "):
                modified += 1
        result.update(
            commit=commit,
            branch=branch,
            dirty=bool(modified or untracked),
            modified=modified,
            untracked=untracked,
        )
        return result
    if status is not None:
        message = status.stderr.strip().splitlines()
        result["status_error"] = f"git status exited with {status.returncode}" + (
            f": {message[0][:200]}" if message else ""
        )
    head = _run([*base, "rev-parse", "--verify", "-q", "HEAD"], cwd=start)
    result.update(commit=head.stdout.strip() or None, branch=None, dirty=None)
    return result


# -- container -------------------------------------------------------------------------------


def container(context: CollectorContext) -> dict[str, Any]:
    """Whether this runs in a container, which runtime, and its image where known: the image
    variables of :data:`CONTAINER_ENV` (JupyterHub's KubeSpawner, BinderHub, Apptainer, ...),
    podman's ``/run/.containerenv``, ``/.dockerenv`` and the cgroups of this process and of
    PID 1. Only the variables named there are read."""
    env = {name: os.environ[name] for name in CONTAINER_ENV if os.environ.get(name)}
    evidence: list[str] = []
    runtime: str | None = None
    image = next((env[name] for name in _IMAGE_ENV if name in env), None)
    image_id: str | None = None

    containerenv = _read_text("/run/.containerenv", 64 * 1024)
    if containerenv is not None:
        evidence.append("/run/.containerenv")
        runtime = "podman"
        values = dict(re.findall(r'^(\w+)="?(.*?)"?$', containerenv, re.MULTILINE))
        image = image or values.get("image") or None
        image_id = values.get("imageid") or None
    if os.path.exists("/.dockerenv"):
        evidence.append("/.dockerenv")
        runtime = runtime or "docker"
    for path in ("/proc/self/cgroup", "/proc/1/cgroup"):
        text = _read_text(path, 256 * 1024) or ""
        for marker, name in _CGROUP_RUNTIMES:
            if marker in text:
                evidence.append(f"{path}: {marker}")
                runtime = runtime if runtime and runtime != "docker" else name
                break
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        evidence.append("KUBERNETES_SERVICE_HOST")
        runtime = "kubernetes"
    if os.environ.get("APPTAINER_CONTAINER") or os.environ.get("SINGULARITY_CONTAINER"):
        evidence.append("APPTAINER_CONTAINER")
        runtime = runtime or "apptainer"
    if "container" in env:
        evidence.append("container")
        runtime = runtime or env["container"]
    return {
        "in_container": bool(evidence),
        "runtime": runtime,
        "image": image,
        "image_id": image_id,
        "env": env,
        "evidence": evidence,
    }


BUILTIN_COLLECTORS: dict[str, Collector] = {
    "python": python_platform,
    "host": host,
    "gpu": gpu,
    "distributions": distributions,
    "lockfiles": lockfiles,
    "git": git,
    "container": container,
    "quantum": quantum,
}
"""The built-in collectors by section name."""


# -- running them ----------------------------------------------------------------------------


def _to_json(value: Any) -> Any:
    """``value`` as plain JSON types: tuples become lists; non-finite floats, integers beyond
    the range of a double and unknown objects become strings; keys become strings; strings
    valid UTF-8 (no lone surrogates). The result always has a canonical form."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        try:
            float(value)
        except OverflowError:
            return str(value)
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {_to_json(str(key)): _to_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(item) for item in value]
    return _to_json(str(value))


def environment_digest(environment: dict[str, Any]) -> str:
    """``sha256:`` of the canonical JSON (RFC 8785, as
    :func:`jupyter_qsecure.signing.canonical.canonical_json` writes it) of an environment
    without its ``digest`` and ``collected_at``: equal environments have equal digests, also
    after a round trip through JavaScript (which writes ``16.0`` as ``16``). Raises
    ``CanonicalFormError`` for a value JSON cannot hold; what :func:`collect_environment`
    builds never has one."""
    return _sha256(
        canonical_json(
            {key: value for key, value in environment.items() if key not in _METADATA_KEYS}
        )
    )


def _entry_points(installed: list[_Installed]) -> list[importlib.metadata.EntryPoint]:
    """The entry points of :data:`ENTRY_POINT_GROUP`, from the distributions already scanned
    (``importlib.metadata.entry_points()`` would read every distribution again)."""
    header = f"[{ENTRY_POINT_GROUP}]"
    found: list[importlib.metadata.EntryPoint] = []
    for item in installed:
        try:
            text = item.entry_points_text()
            if not text or header not in text:
                continue
            parser = configparser.ConfigParser(delimiters=("=",), interpolation=None, strict=False)
            parser.optionxform = str  # type: ignore[assignment,method-assign]
            parser.read_string(text)
            found.extend(
                importlib.metadata.EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP)
                for name, value in parser.items(ENTRY_POINT_GROUP)
            )
        except Exception as error:
            log.debug("jupyter-qsecure: entry points of %s unreadable: %s", item.name, error)
    return found


def _plugins(context: CollectorContext) -> dict[str, Collector]:
    """The collectors registered in :data:`ENTRY_POINT_GROUP` (the first of a name wins),
    loaded only when they run, so that one failing to import gives an error entry, in its
    own time."""
    found: dict[str, Collector] = {}
    for entry_point in _entry_points(_installed(context)):

        def run(context: CollectorContext, entry_point: Any = entry_point) -> dict[str, Any]:
            collector = entry_point.load()
            result: dict[str, Any] = collector(context)
            return result

        found.setdefault(entry_point.name, run)
    return found


def collect_environment(
    context: CollectorContext,
    *,
    timeout: float = 10.0,
    extra: dict[str, Collector] | None = None,
    masker: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """Run every collector and return the fingerprint: each collector's dict under its name,
    ``digest`` (see :func:`environment_digest`) and ``collected_at`` (UTC, ISO 8601).

    The collectors are the built-ins, then the plug-ins of :data:`ENTRY_POINT_GROUP` (found in
    the distributions' ``entry_points.txt``, as ``importlib.metadata`` does), then
    ``extra``; a later one of the same name replaces an earlier one (``digest`` and
    ``collected_at`` are reserved). They run concurrently in daemon threads, each with the
    whole ``timeout``: one that raises gives ``{"error": "Type: message"}``, one still running
    at the deadline ``{"error": "timed out after ... s"}`` (its thread is left to finish on its
    own), and this returns by the deadline. Never raises. With ``masker``, every string is
    masked before the digest is computed (if the masker fails, every section is an error)."""
    started = time.monotonic()
    context = dataclasses.replace(context)  # a fresh memo: nothing from an earlier collection
    extra = dict(extra or {})
    results: dict[int, dict[str, Any]] = {}
    chosen: dict[str, int] = {}  # section name -> the job whose result it gets
    threads: dict[int, threading.Thread] = {}
    jobs = itertools.count()
    lock = threading.Lock()

    def run(job: int, collector: Collector) -> None:
        try:
            value = collector(context)
            if not isinstance(value, dict):
                raise TypeError(f"collector returned {type(value).__name__}, not a dict")
            section: dict[str, Any] = _to_json(value)
        except BaseException as error:  # a collector must never take the kernel down
            section = {"error": _describe(error)}
        with lock:
            results[job] = section

    def launch(name: str, collector: Collector) -> None:
        if name in _METADATA_KEYS:
            return
        job = next(jobs)
        chosen[name] = job
        thread = threading.Thread(
            target=run, args=(job, collector), name=f"qsecure-collector-{name}", daemon=True
        )
        try:
            thread.start()
        except RuntimeError as error:  # cannot start a thread (interpreter shutting down)
            results[job] = {"error": _describe(error)}
            return
        threads[job] = thread

    # The built-ins start first, so that git's subprocesses overlap the plug-ins' discovery.
    for name, collector in BUILTIN_COLLECTORS.items():
        if name not in extra:
            launch(name, collector)
    try:
        plugins = _plugins(context)
    except Exception as error:  # never raise; the plug-ins are then missing
        log.debug("jupyter-qsecure: collector plug-ins not found: %s", error)
        plugins = {}
    for name, collector in plugins.items():
        if name not in extra:
            launch(name, collector)  # one named as a built-in replaces it
    for name, collector in extra.items():
        launch(name, collector)

    deadline = started + timeout
    for job in chosen.values():
        if job in threads:
            threads[job].join(max(0.0, deadline - time.monotonic()))

    environment: dict[str, Any] = {}
    with lock:
        for name, job in chosen.items():
            environment[name] = results.get(job, {"error": f"timed out after {timeout:g} s"})
    if masker is not None:
        try:
            environment = mask_values(environment, masker)
        except Exception as error:  # fail closed: nothing unmasked, and never raise
            failed = {"error": "not masked: " + type(error).__name__}
            environment = {name: dict(failed) for name in environment}
    environment["collected_at"] = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    environment["digest"] = environment_digest(environment)
    return environment


def mask_values(obj: Any, masker: Callable[[str], str]) -> Any:
    """``obj`` with ``masker`` applied to every string in it, dict keys included (dicts, lists
    and tuples are copied; tuples become lists). Masking a whole result of
    :func:`collect_environment` (a dict with ``digest`` and ``collected_at``) also recomputes
    its digest, so that the digest matches what is recorded."""
    if isinstance(obj, str):
        return masker(obj)
    if isinstance(obj, dict):
        masked = {
            (masker(key) if isinstance(key, str) else key): mask_values(value, masker)
            for key, value in obj.items()
        }
        if all(key in obj for key in _METADATA_KEYS):
            masked["collected_at"] = obj["collected_at"]
            masked["digest"] = environment_digest(masked)
        return masked
    if isinstance(obj, (list, tuple)):
        return [mask_values(item, masker) for item in obj]
    return obj
