"""Installing the provenance recorder in a running IPython kernel."""

from __future__ import annotations

import atexit
import contextlib
import importlib.abc
import importlib.machinery
import os
import re
import sys
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from ..secrets.masking import Masker
from .recorder import DEFAULT_HASH_LIMIT, Recorder, own_thread
from .store import ProvenanceStore

STORE_ENV = "QSECURE_PROVENANCE_STORE"
#: The control-channel request a save barrier sends, and the kernel's reply.
FLUSH_REQUEST, FLUSH_REPLY = "qsecure_flush_request", "qsecure_flush_reply"
#: The longest a flush request waits for the records, whatever the request asks (seconds).
FLUSH_LIMIT = 10.0
#: Seed functions recorded when their module is imported: (module, attribute, label).
_SEED_FUNCTIONS = (
    ("random", "seed", "random.seed"),
    ("numpy.random", "seed", "numpy.random.seed"),
    ("numpy.random", "default_rng", "numpy.random.default_rng"),
    ("torch", "manual_seed", "torch.manual_seed"),
)


def default_store_path(user: str) -> Path:
    """``<jupyter data dir>/qsecure/provenance-<user>.sqlite``."""
    from jupyter_core.paths import jupyter_data_dir

    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in user) or "user"
    return Path(jupyter_data_dir()) / "qsecure" / f"provenance-{safe}.sqlite"


def _request_id(ipython: Any) -> str | None:
    kernel = getattr(ipython, "kernel", None)
    try:
        parent = kernel.get_parent("shell") if kernel is not None else None
    except (TypeError, AttributeError):
        return None
    msg_id = (parent or {}).get("header", {}).get("msg_id")
    return str(msg_id) if msg_id else None


def _silent_code(ipython: Any) -> str | None:
    """The code of the ``execute_request`` the kernel is handling when it asks to run
    silently (None otherwise)."""
    kernel = getattr(ipython, "kernel", None)
    try:
        parent = kernel.get_parent("shell") if kernel is not None else None
    except (TypeError, AttributeError):
        return None
    header = (parent or {}).get("header", {})
    content = (parent or {}).get("content", {})
    if header.get("msg_type") != "execute_request" or not isinstance(content, dict):
        return None
    code = content.get("code")
    return code if content.get("silent") and isinstance(code, str) else None


#: JupyterLab's refresh of one granted secret in the notebook's kernel (after the secrets
#: panel stores or grants it, or the blocked-save dialog rotates it): a silent request
#: that re-reads a secret as the kernel's start injected it, so no more hidden state than
#: that injection. Only this exact code; anything else silent is recorded.
_SECRET_REFRESH = re.compile(
    r'import jupyter_qsecure as _qsecure\n_qsecure\.refresh\("[A-Za-z_][A-Za-z0-9_]*"\)\n'
    r"del _qsecure"
)


def _watch_silent(ipython: Any, recorder: Recorder) -> None:
    """Record silent executions: IPython triggers ``pre_execute``/``post_execute`` for
    every execution, ``pre_run_cell``/``post_run_cell`` only for those not silent; and
    ``user_expressions``, which it evaluates outside both."""

    def pre_execute() -> None:
        code = _silent_code(ipython) if recorder.current is None else None
        if code is not None and not _SECRET_REFRESH.fullmatch(code):
            recorder.pre_silent(code, _request_id(ipython))

    def post_execute() -> None:
        if recorder.current is not None and recorder.current.silent:
            recorder.post_silent(getattr(ipython, "last_execution_result", None))

    ipython.events.register("pre_execute", pre_execute)
    ipython.events.register("post_execute", post_execute)

    # user_expressions: evaluated by the kernel after the request's code ran (or at once,
    # when it has none), outside pre_execute and post_execute.
    evaluate = ipython.user_expressions

    def user_expressions(expressions: Any) -> Any:
        execution = None
        if expressions and isinstance(expressions, dict):
            execution = recorder.begin_expressions("\n".join(map(str, expressions.values())))
        try:
            return evaluate(expressions)
        finally:
            if execution is not None:
                recorder.end_expressions(execution)

    ipython.user_expressions = user_expressions


#: The provisioner's ``PYTHONSTARTUP`` (``secrets/startup.py`` of the server's install,
#: which need not be the kernel's), not startup code of the user's.
_OWN_STARTUP = os.path.join("jupyter_qsecure", "secrets", "startup.py")


def _startup_code(ipython: Any) -> tuple[list[str], list[str]]:
    """What IPython will run in this kernel before its first cell, outside any cell: the
    files (``PYTHONSTARTUP``, the profile's and the config folders' ``startup/*.py`` and
    ``*.ipy``, ``exec_files``, a file to run), and the other things, by name (a module to
    run, extensions other than this one). Read from the kernel application's settings
    (``exec_lines`` and code to run go through ``run_cell``: recorded as they run)."""
    module = sys.modules.get("ipykernel.kernelapp")
    application = getattr(module, "IPKernelApp", None)
    if application is None or not application.initialized():
        return [], []
    app = application.instance()
    files: list[str] = []
    named: list[str] = []
    python_startup = os.environ.get("PYTHONSTARTUP")
    if python_startup and os.path.normpath(python_startup).endswith(os.sep + _OWN_STARTUP):
        # This package's own check (the provisioner's); it runs the user's own after it.
        python_startup = os.environ.get("QSECURE_PYTHONSTARTUP")
    runs = bool(
        getattr(app, "file_to_run", "")
        or getattr(app, "code_to_run", "")
        or getattr(app, "module_to_run", "")
    )
    if python_startup and getattr(app, "exec_PYTHONSTARTUP", False) and not runs:
        files.append(python_startup)
    shellapp = sys.modules.get("IPython.core.shellapp")
    folders: list[Any] = [getattr(getattr(ipython, "profile_dir", None), "startup_dir", None)] + [
        os.path.join(folder, "startup")
        for folder in [
            *getattr(shellapp, "ENV_CONFIG_DIRS", []),
            *getattr(shellapp, "SYSTEM_CONFIG_DIRS", []),
        ]
    ]
    found: list[str] = []
    for folder in folders:
        with contextlib.suppress(OSError, TypeError):
            found += [
                os.path.join(folder, name)
                for name in os.listdir(folder)
                if name.endswith((".py", ".ipy"))
            ]
    files += sorted(found)
    files += [str(name) for name in getattr(app, "exec_files", []) or []]
    if getattr(app, "file_to_run", ""):
        files.append(str(app.file_to_run))
    if getattr(app, "module_to_run", ""):
        named.append(f"module {app.module_to_run}")
    ours = {"jupyter_qsecure", "jupyter_qsecure.kernel", "storemagic"}
    for extension in [*(app.extensions or []), *(getattr(app, "extra_extensions", []) or [])]:
        if str(extension) not in ours:
            named.append(f"extension {extension}")
    return files, named


def _capture_messages(session: Any, recorder: Recorder) -> None:
    """Record the outputs the kernel sends. Installed under the masking of ``session.send``
    (:func:`~jupyter_qsecure.secrets.masking.mask_session`, which the kernel extension
    installs last, outermost): this wrapper sees each message as it leaves, masked and with
    stream text joined, so the record's output digest is that of what the notebook saves.
    Masking here again would cost each write a second scan and change nothing."""
    original = session.send

    def send(stream: Any, msg_or_type: Any, content: Any = None, *args: Any, **kwargs: Any) -> Any:
        try:
            if isinstance(msg_or_type, dict):
                msg_type, body = (
                    msg_or_type.get("header", {}).get("msg_type", ""),
                    msg_or_type.get("content"),
                )
                parent = msg_or_type.get("parent_header") or {}
            else:
                msg_type, body = str(msg_or_type), content
                parent = kwargs.get("parent") or (args[0] if args else None) or {}
            parent_header = parent.get("header", parent) if isinstance(parent, dict) else {}
            recorder.on_message(msg_type, body, parent_header.get("msg_id"))
        except Exception:  # noqa: S110 - recording must never break the kernel's messages
            pass
        return original(stream, msg_or_type, content, *args, **kwargs)

    session.send = send


def _answer_flushes(kernel: Any, recorder: Recorder) -> None:
    """Answer save barriers on the kernel's control channel (served by its own thread,
    so a busy cell does not delay the answer): store every finished execution, then reply
    with :meth:`Recorder.flush_state`."""
    handlers = getattr(kernel, "control_handlers", None)
    if not isinstance(handlers, dict):
        return

    def flush_request(stream: Any, ident: Any, parent: dict[str, Any]) -> None:
        content = parent.get("content") if isinstance(parent, dict) else None
        requested = content.get("timeout") if isinstance(content, dict) else None
        timeout = (
            min(float(requested), FLUSH_LIMIT)
            if isinstance(requested, (int, float)) and requested > 0
            else FLUSH_LIMIT
        )
        complete = recorder.flush(timeout)
        kernel.session.send(
            stream,
            FLUSH_REPLY,
            {"status": "ok", "complete": complete, **recorder.flush_state()},
            parent,
            ident,
        )

    handlers[FLUSH_REQUEST] = flush_request


def _wrap_seed(module: ModuleType, attribute: str, label: str, recorder: Recorder) -> None:
    function = getattr(module, attribute, None)
    if function is None or getattr(function, "__qsecure_wrapped__", False):
        return

    def seeded(*args: Any, **kwargs: Any) -> Any:
        recorder.seed(label, args[0] if args else kwargs.get("seed", kwargs.get("a")))
        return function(*args, **kwargs)

    seeded.__qsecure_wrapped__ = True  # type: ignore[attr-defined]
    seeded.__wrapped__ = function  # type: ignore[attr-defined]
    seeded.__doc__ = function.__doc__
    setattr(module, attribute, seeded)


class _SeedWatcher(importlib.abc.MetaPathFinder):
    """Wraps seed functions as soon as numpy.random or torch finish importing."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not any(name == module for module, _, _ in _SEED_FUNCTIONS):
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
                self._after_exec(spec, name)
                return spec
        return None

    def _after_exec(self, spec: importlib.machinery.ModuleSpec, name: str) -> None:
        loader: Any = spec.loader
        exec_module = loader.exec_module
        recorder = self.recorder

        def exec_and_wrap(module: ModuleType) -> None:
            exec_module(module)
            for module_name, attribute, label in _SEED_FUNCTIONS:
                if module_name == name:
                    _wrap_seed(module, attribute, label, recorder)

        loader.exec_module = exec_and_wrap


class _ModuleWatcher(importlib.abc.MetaPathFinder):
    """Calls ``callback(module)`` once the module ``name`` has executed (at once if it is
    already imported)."""

    def __init__(self, name: str, callback: Any) -> None:
        self.name = name
        self.callback = callback

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name != self.name:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
                self._after_exec(spec)
                return spec
        return None

    def _after_exec(self, spec: importlib.machinery.ModuleSpec) -> None:
        loader: Any = spec.loader
        exec_module = loader.exec_module
        callback = self.callback

        def exec_and_call(module: ModuleType) -> None:
            exec_module(module)
            with contextlib.suppress(Exception):  # never break an import
                callback(module)

        loader.exec_module = exec_and_call


def _watch_quantum_jobs(recorder: Recorder) -> None:
    """Record the backend and calibration of every Qiskit job a cell runs (:mod:`.quantum`)."""
    from .quantum import BackendWatcher

    watcher = BackendWatcher(recorder.quantum_job)
    name = "qiskit.providers.backend"
    if name in sys.modules:
        watcher.install(sys.modules[name])
    else:
        sys.meta_path.insert(0, _ModuleWatcher(name, watcher.install))


def _watch_seeds(recorder: Recorder) -> None:
    for module_name, attribute, label in _SEED_FUNCTIONS:
        module = sys.modules.get(module_name)
        if module is not None:
            _wrap_seed(module, attribute, label, recorder)
    sys.meta_path.insert(0, _SeedWatcher(recorder))


def _record_environment(recorder: Recorder) -> None:
    from .collectors import CollectorContext, collect_environment, mask_values

    def collect() -> None:
        try:
            environment = collect_environment(
                CollectorContext(
                    notebook_dir=recorder.notebook_dir,
                    cwd=Path.cwd(),
                    holds_secret=recorder.holds_secret,
                )
            )
            record = {
                "kind": "environment",
                "record_id": str(uuid.uuid4()),
                "kernel_session": recorder.kernel_session,
                "kernel_id": recorder.kernel_id,
                "user": recorder.user,
                "notebook": recorder.notebook,
                "notebook_path": recorder.notebook_path,
                "environment": mask_values(environment, recorder.mask),
            }
            # Its own connection: the recorder's is kept by the writer thread.
            ProvenanceStore(recorder.store.path).append(record)
            recorder.environment_record = record["record_id"]
        except Exception as error:
            print(
                f"jupyter-qsecure: environment fingerprint not stored ({type(error).__name__})",
                file=sys.__stderr__,
            )

    threading.Thread(target=collect, name="qsecure-environment", daemon=True).start()


def install(ipython: Any, masker: Masker, session: Any) -> Recorder:
    """Start recording this kernel's executions; every recorded string goes through
    ``masker`` first (outputs through the masking of ``session.send``, which the caller
    installs over this recorder's)."""
    from ..identity import server_user as current_user

    user = current_user()
    notebook = os.environ.get("QSECURE_NOTEBOOK") or None
    store = ProvenanceStore(
        Path(os.environ.get(STORE_ENV) or default_store_path(user)), keep_open=True
    )
    notebook_dir = Path.cwd().resolve()
    hash_limit = int(os.environ.get("QSECURE_PROVENANCE_HASH_LIMIT") or DEFAULT_HASH_LIMIT)
    recorder = Recorder(
        store,
        mask=masker.mask,
        user=user,
        notebook=notebook,
        kernel_id=os.environ.get("QSECURE_KERNEL_ID"),
        notebook_dir=notebook_dir,
        hash_limit=hash_limit,
    )
    ipython.events.register(
        "pre_run_cell", lambda info: recorder.pre_run_cell(info, _request_id(ipython))
    )
    ipython.events.register("post_run_cell", recorder.post_run_cell)
    _watch_silent(ipython, recorder)
    with contextlib.suppress(Exception):  # never cost the kernel its start
        files, named = _startup_code(ipython)
        if files or named:
            recorder.startup(files, named)
    if session is not None:
        _capture_messages(session, recorder)
        recorder.wire = lambda value: session.unpack(session.pack(value))
    if getattr(ipython, "kernel", None) is not None:
        _answer_flushes(ipython.kernel, recorder)

    main_thread = threading.main_thread().ident
    get_ident = threading.get_ident

    def audit(event: str, args: tuple[Any, ...]) -> None:
        execution = recorder.current
        if event == "open":
            # The hot path, inlined (one Python call per open is most of the cost). Cells run
            # in the main thread; another thread's open counts unless it is the recorder's
            # own (the writer hashing the last cell's files, the environment collectors).
            if (
                execution is not None
                and not isinstance(args[0], int)
                and (get_ident() == main_thread or not own_thread())
            ):
                execution.opens.append((args[0], args[1], args[2], recorder.cwd))
            return
        if execution is None and event != "os.chdir":
            return
        try:  # noqa: SIM105 - contextlib.suppress costs more on this hot path
            recorder.on_audit(event, args)
        except Exception:  # noqa: S110 - an audit hook must never raise into user code
            pass

    sys.addaudithook(audit)
    atexit.register(recorder.flush, 5.0)  # the last cell's record, when the kernel exits
    _watch_seeds(recorder)
    _watch_quantum_jobs(recorder)
    _record_environment(recorder)
    return recorder
