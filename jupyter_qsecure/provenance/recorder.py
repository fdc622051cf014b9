"""The provenance recorder inside a Python kernel: one record per cell execution.

IPython's ``pre_run_cell``/``post_run_cell`` hooks bracket an execution; an audit hook
(``sys.addaudithook``) sees files opened, subprocesses and socket connections; the
kernel's Session shows every output as it leaves (after masking). The record is finished
when the kernel sends its ``execute_reply`` (every output is out by then) and a background
worker hashes the files and appends it to the store, so the cell itself waits for neither.
Stdlib only: this runs in every kernel.

Which events belong to which cell:

- An event belongs to the cell running when it is raised (between its ``pre_run_cell`` and
  ``post_run_cell``), whichever thread raises it: a thread a cell started that opens a file
  while a later cell runs counts as the later cell's, and what it does while no cell runs
  is not recorded. (Which cell started a thread is not tracked: Python announces no thread
  start to an audit hook.)
- The recorder's own threads, every thread named ``qsecure-...`` (the writer that hashes
  files after a cell, the environment fingerprint and its collectors), are never counted:
  otherwise the writer hashing cell N's files while cell N+1 runs would list them as read
  by cell N+1.
- A SQLite database a cell connects to (``sqlite3.connect``, whose C library opens the
  file with no ``open`` event) is recorded as a file read.
- A module imported from its bytecode cache (``__pycache__/*.pyc``, the source unread)
  is recorded as a read of its source file, when there is one.
- A nested ``get_ipython().run_cell(...)`` is part of the cell that runs it: one record,
  with the outer cell's id, code and count, and everything the inner code did.
- A silent execution (an ``execute_request`` with ``silent``: IPython triggers no
  ``pre_run_cell`` for it, uses no count and shows no result) is recorded too, marked
  ``silent``, with no cell and no count: it runs code that changes the state the cells see.
  So are an execute_request's ``user_expressions`` (evaluated after its code, outside any
  cell, even when there is no code): one record of them, marked ``silent``.
  So is what the kernel runs at its start (startup files, ``PYTHONSTARTUP``, extensions
  other than this one): one record marked ``startup``, its files as files read.
- Outputs are kept as JupyterLab keeps them: ``update_display_data`` replaces the displays
  of the same execution that carry its ``display_id``, and ``clear_output(wait=True)``
  clears when the next output arrives (not at all if none does). An update of a display
  that an earlier cell showed does not change that cell's record (JupyterLab does not
  change that cell's outputs either).
"""

from __future__ import annotations

import hashlib
import os
import queue
import stat
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from ..signing.canonical import CanonicalFormError, outputs_digest, source_digest
from .store import ProvenanceStore

#: Files above this size are recorded by size and mtime only (hashing them would cost more
#: than the cell).
DEFAULT_HASH_LIMIT = 64 * 1024 * 1024
#: How long the writer waits after a cell ends before it hashes and stores (seconds).
WRITE_DELAY = 0.05
_OUTPUT_TYPES = {"stream", "display_data", "execute_result", "error"}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
#: Threads whose name starts with this are the recorder's own: their events belong to no cell.
OWN_THREAD_PREFIX = "qsecure-"
_SUBPROCESS_EVENTS = frozenset(
    ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn")
)


def _utc(timestamp: float) -> str:
    return (
        datetime.fromtimestamp(timestamp, timezone.utc)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def _is_write(mode: object, flags: object) -> bool:
    if isinstance(mode, str):
        return any(letter in mode for letter in "wax+")
    return isinstance(flags, int) and bool(flags & _WRITE_FLAGS)


def _sqlite_file(database: Any) -> Any:
    """The file a ``sqlite3.connect`` opens (a path, or a ``file:`` URI's path), None for
    an in-memory or temporary database."""
    if isinstance(database, bytes):
        database = os.fsdecode(database)
    if not isinstance(database, (str, os.PathLike)):
        return None
    text = os.fspath(database)
    if text.startswith("file:"):
        from urllib.parse import unquote

        text = unquote(text[5:].split("?", 1)[0].split("#", 1)[0])
        if text.startswith("//"):  # file://host/path: the path
            text = "/" + text[2:].partition("/")[2]
    if text in ("", ":memory:") or "mode=memory" in os.fspath(database):
        return None
    return text


def _source_of(path: str) -> str:
    """The source file of a bytecode cache file (``__pycache__/mod.cpython-311.pyc`` ->
    ``mod.py``), when it exists: Python imports a module whose cache is current from the
    cache alone, and the source is the code a reviewer reads. Else ``path``."""
    from importlib.util import source_from_cache

    try:
        source = source_from_cache(path)
    except (ValueError, NotImplementedError):
        return path
    return source if os.path.isfile(source) else path


def own_thread() -> bool:
    """Whether the calling thread is one of the recorder's own (see the module's notes)."""
    return threading.current_thread().name.startswith(OWN_THREAD_PREFIX)


def _display_id(content: dict[str, Any]) -> str | None:
    transient = content.get("transient")
    display_id = transient.get("display_id") if isinstance(transient, dict) else None
    return display_id if isinstance(display_id, str) and display_id else None


#: A file up to this size is looked through for an injected value before its digest is
#: recorded (a token file, a client's config): see :func:`file_entry`.
SECRET_CHECK_BYTES = 64 * 1024
#: What a record says of a file it did not hash because it holds an injected value.
UNHASHED_REASON = "holds an injected secret: not hashed"


def file_entry(
    path: str, limit: int, holds_secret: Callable[[bytes], bool] | None = None
) -> dict[str, Any]:
    """Path, size and SHA-256 of a regular file (size and mtime only above ``limit``; a
    device, FIFO or socket is named as such and never read: reading ``/dev/zero`` would
    not end, opening a FIFO would wait for a writer). A file of at most
    :data:`SECRET_CHECK_BYTES` for which ``holds_secret`` says yes gets no digest: the
    SHA-256 of a token file would let anyone holding the record check a guess of the
    value (a password, a short token) without the file."""
    entry: dict[str, Any] = {"path": path}
    try:
        info = os.stat(path)
    except OSError:
        entry["missing"] = True
        return entry
    if not stat.S_ISREG(info.st_mode):
        entry["error"] = "not a regular file"
        return entry
    entry["size"] = info.st_size
    if info.st_size > limit:
        entry["mtime"] = _utc(info.st_mtime)
        return entry
    digest = hashlib.sha256()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
        with os.fdopen(fd, "rb", buffering=0) as stream:
            if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped since the stat
                entry["error"] = "not a regular file"
                return entry
            read = 0
            head = b""
            while (block := stream.read(1 << 20)) and read <= limit:
                digest.update(block)
                if read < SECRET_CHECK_BYTES + 1:
                    head += block[: SECRET_CHECK_BYTES + 1 - read]
                read += len(block)
    except OSError as error:
        entry["error"] = type(error).__name__
        return entry
    if holds_secret is not None and len(head) <= SECRET_CHECK_BYTES and holds_secret(head):
        entry["error"] = UNHASHED_REASON
        return entry
    entry["sha256"] = digest.hexdigest()
    return entry


#: How much of a cell's first line a record keeps (to name a deleted cell).
FIRST_LINE_CHARS = 80


def first_line(code: str, mask: Callable[[str], str]) -> str:
    """The first non-blank line of a cell's code, masked (whole, before it is cut: a
    secret cut in two would no longer be recognised), stripped, cut to FIRST_LINE_CHARS."""
    for line in code.splitlines():
        if line.strip():
            text = mask(line).strip()
            return text if len(text) <= FIRST_LINE_CHARS else text[: FIRST_LINE_CHARS - 1] + "…"
    return ""


def _program(command: str) -> str:
    """The program a shell command line runs: its first word that is not an environment
    assignment (``GH_TOKEN=... git push`` runs ``git``; the assigned value, often a
    credential, is only hashed with the arguments)."""
    for word in command.split():
        name, equals, _ = word.partition("=")
        if not (equals and name.isidentifier()):
            return word
    return ""


@dataclass
class Execution:
    """What is gathered while one cell runs."""

    record_id: str
    cell_id: str | None
    execution_count: int | None
    code: str
    started: float
    ended: float = 0.0
    status: str = "ok"
    ename: str | None = None
    opens: list[tuple[str, Any, Any, str]] = field(
        default_factory=list
    )  # raw: path, mode, flags, cwd
    subprocesses: list[dict[str, str]] = field(default_factory=list)
    network: dict[str, None] = field(default_factory=dict)
    seeds: list[dict[str, Any]] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)
    quantum: list[dict[str, Any]] = field(default_factory=list)  # jobs and their backends
    outputs: list[dict[str, Any]] = field(default_factory=list)
    request_id: str | None = None
    info: Any = None  # IPython's ExecutionInfo, to tell this cell's end from a nested one's
    displays: dict[str, list[int]] = field(default_factory=dict)  # display_id -> indices
    clear_pending: bool = False  # clear_output(wait=True): clear at the next output
    #: An ``execute_request`` with ``silent`` (no ``pre_run_cell``/``post_run_cell``).
    silent: bool = False
    #: What the kernel runs at its start, outside any cell (startup files, extensions).
    startup: bool = False
    #: The texts of the last output while it is a stream still being written: a cell
    #: printing line by line keeps one output and a list of strings, not a dict a line.
    stream_texts: list[str] | None = None

    def close_stream(self) -> None:
        """Join the texts of the last output, a stream, into it (as a notebook saves
        consecutive writes to one stream: one output)."""
        if self.stream_texts is not None:
            if len(self.stream_texts) > 1:
                self.outputs[-1]["text"] = "".join(self.stream_texts)
            self.stream_texts = None


class Recorder:
    """Builds and stores execution records for one kernel."""

    def __init__(
        self,
        store: ProvenanceStore,
        *,
        mask: Callable[[str], str],
        user: str,
        notebook: str | None,
        kernel_id: str | None,
        notebook_dir: Path,
        hash_limit: int = DEFAULT_HASH_LIMIT,
    ) -> None:
        self.store = store
        self.mask = mask
        self.user = user
        self.notebook = notebook
        self.kernel_id = kernel_id
        self.notebook_dir = notebook_dir
        #: The notebook's absolute path (the kernel runs in its folder): tells two
        #: projects' notebooks of the same name apart in one store.
        self.notebook_path = str(notebook_dir / PurePosixPath(notebook).name) if notebook else None
        self.hash_limit = hash_limit
        self.kernel_session = str(uuid.uuid4())
        self.environment_record: str | None = None
        #: Message content as it travels (the Session's pack then unpack), so that NumPy
        #: scalars or dates digest as the saved JSON does; None: as recorded.
        self.wire: Callable[[Any], Any] | None = None
        self.current: Execution | None = None
        self._by_request: dict[str, Execution] = {}
        self.cwd = os.getcwd()
        prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, "/proc", "/sys", "/dev"}
        if sys.pycache_prefix:  # the interpreter's bytecode cache, not the cell's data
            prefixes.add(sys.pycache_prefix)
        self._excluded = tuple(str(Path(p).resolve()) + os.sep for p in prefixes)
        self._store_files = {
            str(store.path.resolve()) + suffix for suffix in ("", "-wal", "-shm", "-journal")
        }
        self._queue: queue.Queue[Execution | None] = queue.Queue()
        #: Set by :meth:`flush`: the worker stores what is queued without its delay.
        self._hurry = threading.Event()
        #: Notified by the worker each time it finishes a batch.
        self._stored = threading.Condition()
        #: Executions finished (handed to the worker) and stored, since the kernel started.
        self.finished = 0
        self.stored = 0
        #: The dataset manifests this kernel knows (:mod:`.datasets`), made when first needed.
        self._datasets: Any = None
        #: Calibration snapshots already stored in this kernel session (by digest).
        self._snapshots: set[str] = set()
        self._worker = threading.Thread(target=self._work, name="qsecure-provenance", daemon=True)
        self._worker.start()

    @property
    def datasets(self) -> Any:
        """The kernel's :class:`~.datasets.DatasetIndex` (declared and found manifests)."""
        if self._datasets is None:
            from .datasets import DatasetIndex

            self._datasets = DatasetIndex(self.hash_limit)
        return self._datasets

    def _dataset_link(self, path: str, entry: dict[str, Any]) -> dict[str, Any] | None:
        """The manifest that lists a file read (masked), or None; never raises."""
        if "size" not in entry:
            return None
        try:
            link = self.datasets.link(path, entry.get("sha256"))
        except Exception:  # a bag that cannot be read must not lose the record
            return None
        if link is None:
            return None
        link = dict(link)
        location = link.get("location")
        if isinstance(location, str) and os.path.isabs(location):
            link["location"] = self._display(location)  # relative to the notebook, masked
        for key in ("name", "path", "signature"):
            if isinstance(link.get(key), str):
                link[key] = self.mask(link[key])
        link["signed_by"] = [self.mask(str(p)) for p in link.get("signed_by", [])]
        return link

    # -- the kernel's events ---------------------------------------------------------------

    def pre_run_cell(self, info: Any, request_id: str | None) -> None:
        """A cell starts: begin a record (unless it is run by the running cell)."""
        running = self.current
        if running is not None and running.request_id == request_id:
            return  # a nested get_ipython().run_cell(...): part of the running cell
        execution = Execution(
            record_id=str(uuid.uuid4()),
            cell_id=getattr(info, "cell_id", None),
            execution_count=None,
            code=getattr(info, "raw_cell", "") or "",
            started=time.time(),
            request_id=request_id,
            info=info,
        )
        self.current = execution
        if request_id:
            self._by_request[request_id] = execution

    def pre_silent(self, code: str, request_id: str | None) -> None:
        """A silent execution starts (IPython's ``pre_execute``, which it triggers for every
        execution; ``pre_run_cell`` it triggers only for those that are not silent). Part
        of the running execution when one runs (a nested silent ``run_cell``)."""
        if self.current is not None:
            return
        self.pre_run_cell(None, request_id)
        if self.current is not None:
            self.current.code = code
            self.current.silent = True

    def startup(self, files: list[str], named: list[str]) -> None:
        """Record what the kernel runs at its start, outside any cell (``files`` it runs,
        hashed as files read, and ``named`` things): one record, with no cell and no count,
        marked ``startup``."""
        now = time.time()
        names = [os.path.basename(path) for path in files] + named
        execution = Execution(
            record_id=str(uuid.uuid4()),
            cell_id=None,
            execution_count=None,
            code="# kernel startup: " + ", ".join(names) + "\n",
            started=now,
            ended=now,
            startup=True,
        )
        execution.opens = [(path, "r", None, self.cwd) for path in files]
        self._finish(execution)

    def begin_expressions(self, code: str) -> Execution | None:
        """An execute_request's ``user_expressions`` are about to be evaluated in the
        user's namespace (after its code, outside any cell): start a record of them, marked
        silent, with no cell and no count; None when an execution is running (they are
        part of it)."""
        if self.current is not None:
            return None
        execution = Execution(
            record_id=str(uuid.uuid4()),
            cell_id=None,
            execution_count=None,
            code=code,
            started=time.time(),
            silent=True,
        )
        self.current = execution
        return execution

    def end_expressions(self, execution: Execution) -> None:
        """The expressions of :meth:`begin_expressions` are evaluated: store the record."""
        execution.ended = time.time()
        if self.current is execution:
            self.current = None
        self._finish(execution)

    def post_silent(self, result: Any) -> None:
        """The end of an execution (IPython's ``post_execute``): finishes a silent one,
        with ``result`` (IPython's last execution result, None if unknown); any other
        ends at its ``post_run_cell``."""
        execution = self.current
        if execution is None or not execution.silent:
            return
        info = getattr(result, "info", None)
        if not getattr(info, "silent", False) or getattr(info, "raw_cell", None) != execution.code:
            return  # the end of a run_cell the silent code ran: it goes on
        self._end(execution, result)

    def post_run_cell(self, result: Any) -> None:
        """A cell ends: status and count (outputs may still be on their way)."""
        execution = self.current
        if execution is None or execution.silent:
            return  # a silent execution ends at its post_execute (post_silent)
        info = getattr(result, "info", None)
        if info is not None and execution.info is not None and info is not execution.info:
            # The end of a nested run_cell (or of an empty one, which IPython ends without
            # starting): the running cell goes on.
            return
        execution.execution_count = getattr(result, "execution_count", None)
        self._end(execution, result)

    def _end(self, execution: Execution, result: Any) -> None:
        """``execution`` ended with ``result`` (its error, if any); recorded now when it was
        not run through the kernel's shell channel (%run, tests), else on its reply."""
        execution.ended = time.time()
        error = getattr(result, "error_in_exec", None) or getattr(result, "error_before_exec", None)
        if error is not None:
            execution.status = "error"
            # A class made at run time takes any string as its name: masked as outputs are.
            execution.ename = self.mask(type(error).__name__)
        self.current = None
        if not self._by_request:
            self._finish(execution)

    def on_message(self, msg_type: str, content: Any, parent_id: str | None) -> None:
        """A message leaves the kernel: collect outputs; finish the record on its reply."""
        execution = self._by_request.get(parent_id) if parent_id else None
        if execution is None or not isinstance(content, dict):
            return
        if msg_type in _OUTPUT_TYPES:
            if execution.clear_pending:
                execution.clear_pending = False
                execution.stream_texts = None
                execution.outputs.clear()
                execution.displays.clear()
            plain_stream = (
                msg_type == "stream"
                and content.keys() == {"name", "text"}
                and isinstance(content["text"], str)
            )
            if (
                plain_stream
                and execution.stream_texts is not None
                and execution.outputs[-1]["name"] == content["name"]
            ):
                execution.stream_texts.append(content["text"])
                return
            execution.close_stream()
            execution.outputs.append({"output_type": msg_type, **content})
            if plain_stream and isinstance(content["name"], str):
                execution.stream_texts = [content["text"]]
            display_id = msg_type == "display_data" and _display_id(content)
            if display_id:
                execution.displays.setdefault(display_id, []).append(len(execution.outputs) - 1)
        elif msg_type == "update_display_data":
            # As JupyterLab does: the displays of this execution with that id are replaced.
            for index in execution.displays.get(_display_id(content) or "", ()):
                execution.outputs[index] = {"output_type": "display_data", **content}
        elif msg_type == "clear_output":
            if content.get("wait"):
                execution.clear_pending = True
            else:
                execution.clear_pending = False
                execution.stream_texts = None
                execution.outputs.clear()
                execution.displays.clear()
        elif msg_type == "status" and content.get("execution_state") == "idle":
            # Every output is out, and the kernel is idle: the worker no longer competes
            # with the cell or its reply for the interpreter.
            del self._by_request[parent_id]  # type: ignore[arg-type]
            if execution.silent and not execution.ended:
                # Its end was not seen (no result to tell it by): it is over all the same.
                execution.ended = time.time()
                if self.current is execution:
                    self.current = None
            if execution.ended:
                self._finish(execution)

    def on_audit(self, event: str, args: tuple[Any, ...]) -> None:
        """The audit hook: files, subprocesses and connections of the running cell."""
        if event == "os.chdir" and args:
            self.cwd = os.path.abspath(os.fsdecode(args[0]))
            return
        execution = self.current
        if execution is None or own_thread():
            return
        if event == "open":
            # The hot path (every file the cell opens): keep the raw event; the worker
            # resolves, filters and classifies it after the cell.
            path = args[0]
            if not isinstance(path, int):
                execution.opens.append(
                    (
                        path,
                        args[1] if len(args) > 1 else None,
                        args[2] if len(args) > 2 else None,
                        self.cwd,
                    )
                )
        elif event == "sqlite3.connect" and args:
            # SQLite opens its database in C: no "open" event. A database file is read.
            database = _sqlite_file(args[0])
            if database is not None:
                execution.opens.append((database, "r", None, self.cwd))
        elif event in _SUBPROCESS_EVENTS:
            executable, arguments = self._command(event, args)
            execution.subprocesses.append(
                {
                    "executable": self.mask(executable),
                    "args_sha256": hashlib.sha256(self.mask(arguments).encode()).hexdigest(),
                }
            )
        elif event == "socket.connect" and len(args) > 1:
            address = args[1]
            if isinstance(address, tuple) and len(address) >= 2:
                execution.network[self.mask(f"{address[0]}:{address[1]}")] = None

    @staticmethod
    def _command(event: str, args: tuple[Any, ...]) -> tuple[str, str]:
        if event == "os.system":
            command = os.fsdecode(args[0]) if args and isinstance(args[0], (str, bytes)) else ""
            return _program(command), command
        executable = args[0] if args else ""
        arguments = args[1] if len(args) > 1 else ()
        if isinstance(arguments, (str, bytes)):
            arguments = [arguments]
        parts = [
            os.fsdecode(a) if isinstance(a, (str, bytes, os.PathLike)) else str(a)
            for a in (arguments or [])
        ]
        name = (
            os.fsdecode(executable)
            if isinstance(executable, (str, bytes, os.PathLike))
            else (parts[0] if parts else "")
        )
        return name, "\0".join(parts)

    def seed(self, source: str, value: Any) -> None:
        """A random seed was set (random.seed, numpy, torch)."""
        if self.current is not None:
            self.current.seeds.append({"source": source, "value": self.mask(repr(value))})

    def quantum_job(self, entry: dict[str, Any]) -> None:
        """A quantum job the running cell submitted, with its backend (:mod:`.quantum`)."""
        if self.current is not None:
            # A backend class made at run time takes any string as its name, as an
            # exception class does (see _end).
            for key in ("backend", "backend_version", "backend_class", "software", "job_id"):
                if isinstance(entry.get(key), str):
                    entry[key] = self.mask(entry[key])
            self.current.quantum.append(entry)

    def _quantum_jobs(self, execution: Execution) -> list[dict[str, Any]]:
        """The jobs of a record; each calibration snapshot stored once per kernel session."""
        jobs = []
        for entry in execution.quantum:
            job = dict(entry)
            digest = job.get("target_sha256")
            if digest in self._snapshots or job.get("snapshot") is None:
                job.pop("snapshot", None)
            else:
                self._snapshots.add(str(digest))
            jobs.append(job)
        return jobs

    def note(self, fields: dict[str, Any]) -> None:
        """User-supplied fields for the running cell's record, names and values masked
        (the record is embedded in the notebook after the guard has scanned the save)."""
        if self.current is None:
            raise RuntimeError(
                "jupyter_qsecure.note() records into the running cell; call it from a cell"
            )
        self.current.notes.update(
            {self.mask(str(key)): self.mask(str(value)) for key, value in fields.items()}
        )

    # -- the background worker -------------------------------------------------------------

    def holds_secret(self, data: bytes) -> bool:
        """Whether ``data`` (a small file's content) holds an injected value, in any form
        the masking finds."""
        text = data.decode("utf-8", "replace")
        return self.mask(text) != text

    def _display(self, path: str) -> str:
        try:
            return (
                self.mask(os.path.relpath(path, self.notebook_dir))
                if path.startswith(str(self.notebook_dir))
                else self.mask(path)
            )
        except ValueError:
            return self.mask(path)

    def _classify(self, execution: Execution) -> tuple[dict[str, None], dict[str, None]]:
        """Files read and written, from the raw open events (outside the cell's time)."""
        reads: dict[str, None] = {}
        writes: dict[str, None] = {}
        for path, mode, flags, cwd in execution.opens:
            try:
                text = os.fsdecode(path)
            except TypeError:
                continue
            absolute = os.path.normpath(os.path.join(cwd, text))
            write = _is_write(mode, flags)
            if not write and absolute.endswith(".pyc"):
                absolute = _source_of(absolute)
            if absolute.startswith(self._excluded) or absolute in self._store_files:
                continue
            (writes if write else reads)[absolute] = None
        return reads, writes

    def record(self, execution: Execution) -> dict[str, Any]:
        """The record of a finished execution (hashes files now); ``quantum_jobs`` only
        when the cell ran quantum jobs."""
        reads, writes = self._classify(execution)
        files = {
            kind: [
                dict(entry, path=self._display(path))
                for path in paths
                # A file written and gone by the end (a temporary-folder probe) is noise.
                if not (
                    (entry := file_entry(path, self.hash_limit, self.holds_secret)).get("missing")
                    and kind == "written"
                )
            ]
            for kind, paths in (("read", reads), ("written", writes))
        }
        for path, entry in zip(reads, files["read"], strict=True):
            link = self._dataset_link(path, entry)
            if link is not None:
                entry["dataset"] = link
        record = {
            "kind": "execution",
            "record_id": execution.record_id,
            "kernel_session": self.kernel_session,
            "kernel_id": self.kernel_id,
            "user": self.user,
            "notebook": self.notebook,
            "notebook_path": self.notebook_path,
            "cell_id": execution.cell_id,
            "execution_count": execution.execution_count,
            # Of the code as masked: the digest of code holding a value (pasted to try it,
            # then deleted) would check guesses of the value against the first line.
            "code_sha256": source_digest(self.mask(execution.code)),
            "first_line": first_line(execution.code, self.mask),
            "started": _utc(execution.started),
            "ended": _utc(execution.ended),
            "duration_ms": round((execution.ended - execution.started) * 1000, 3),
            "status": execution.status,
            "ename": execution.ename,
            "outputs_digest": self._outputs_digest(execution),
            "files": files,
            "subprocesses": execution.subprocesses,
            "network": list(execution.network),
            "seeds": execution.seeds,
            "notes": execution.notes,
            "environment_record": self.environment_record,
        }
        if execution.quantum:
            record["quantum_jobs"] = self._quantum_jobs(execution)
        if execution.silent:
            record["silent"] = True
        if execution.startup:
            record["startup"] = True
        return record

    def _outputs_digest(self, execution: Execution) -> str | None:
        """The canonical digest of what the cell output, as the outputs travel to the
        frontend (JSON); None when they have no canonical form (NaN in JSON output): the
        verdict then reports them as changed."""
        execution.close_stream()
        try:
            outputs = self.wire(execution.outputs) if self.wire else execution.outputs
            return outputs_digest(outputs)
        except (CanonicalFormError, TypeError, ValueError):
            return None

    def _finish(self, execution: Execution) -> None:
        """Hand a finished execution to the worker. Called before the message that tells a
        client the execution is over leaves the kernel, so a save that client asks for
        afterwards finds it counted (see :meth:`flush`)."""
        self.finished += 1
        self._queue.put(execution)

    def _work(self) -> None:
        while True:
            batch = [self._queue.get()]
            # Let the kernel's last messages go out before hashing files competes with them
            # for the interpreter; records queued meanwhile share one transaction. A save
            # waiting for the records (flush) cuts the delay short.
            self._hurry.wait(WRITE_DELAY)
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            executions = [item for item in batch if item is not None]
            try:
                if executions:
                    self.store.append_many([self.record(execution) for execution in executions])
            except Exception as error:  # never break the kernel; say so where the user looks
                print(
                    f"jupyter-qsecure: provenance record not stored ({type(error).__name__}: {error})",
                    file=sys.__stderr__,
                )
            finally:
                with self._stored:
                    # Counted as done even when the store failed: a save must not wait for
                    # a record that will never come (the error is on the kernel's stderr).
                    self.stored += len(executions)
                    for _ in batch:
                        self._queue.task_done()
                    if not self._queue.unfinished_tasks:
                        self._hurry.clear()
                    self._stored.notify_all()
            if len(executions) < len(batch):
                return

    def flush(self, timeout: float = 30.0) -> bool:
        """Store every execution finished so far, without the worker's delay; wait at most
        ``timeout`` seconds. Return whether all of them are stored."""
        deadline = time.monotonic() + timeout
        with self._stored:
            target = self.finished
            if self.stored >= target:
                return True
            self._hurry.set()
            while self.stored < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._stored.wait(remaining)
        return True

    def flush_state(self) -> dict[str, Any]:
        """What a save barrier is told: this kernel session and how many of its finished
        executions are stored."""
        return {
            "kernel_session": self.kernel_session,
            "finished": self.finished,
            "stored": self.stored,
        }
