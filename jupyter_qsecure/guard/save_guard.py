"""The guard on the Jupyter server: a ContentsManager pre-save hook that refuses a write
holding a credential, before anything reaches the disk."""

from __future__ import annotations

import base64
import contextvars
import json
import logging
import os
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tornado.web import HTTPError

from ..identity import acting_user
from ..secrets.forms import encoded_forms
from .allowlist import Allowlist, AllowlistError, Baseline, BypassStore
from .findings import Finding
from .plugins import active_rules
from .policy import GuardPolicy
from .scanner import ScanInputError, Scanner

LEAK_REASON = "qsecure-leak"
SCAN_ERROR_REASON = "qsecure-scan-error"
BLOCKED_STATUS = 422
DOCS_HINT = "see the jupyter-qsecure guard guide (docs/guard.md)"
_SHOWN_IN_MESSAGE = 5

EventSink = Callable[[str, dict[str, Any]], None]
#: A model the request handler already checked off the event loop (the very object): the
#: pre-save hook lets it through without scanning it twice. Set per request task.
prechecked: contextvars.ContextVar[object | None] = contextvars.ContextVar(
    "qsecure_prechecked", default=None
)
#: Returns (generation, value -> secret name) of the values injected into running kernels.
InjectedValues = Callable[[], tuple[int, dict[str, str]]]


class SaveBlocked(HTTPError):
    """A refused write. Its JSON body (see :meth:`to_json`) lists the findings."""

    def __init__(self, path: str, findings: list[Finding]) -> None:
        self.path = path
        self.findings = findings
        super().__init__(BLOCKED_STATUS, blocked_message(findings), reason=LEAK_REASON)

    def to_json(self) -> dict[str, Any]:
        """The REST error body: ``{reason, message, path, findings}``."""
        return {
            "reason": LEAK_REASON,
            "message": self.log_message,
            "path": self.path,
            "findings": [finding.to_json() for finding in self.findings],
        }


class ScanFailed(HTTPError):
    """The guard could not scan a write, so it refused it (``on_error = "block"``)."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        message = (
            f"Save blocked: the leak guard could not scan {path or 'this file'} ({problem}). "
            "Nothing was written; your work is still in the editor. Fix the problem, or ask "
            "your admin about guard.on_error in qsecure.toml; " + DOCS_HINT + "."
        )
        super().__init__(BLOCKED_STATUS, message, reason=SCAN_ERROR_REASON)

    def to_json(self) -> dict[str, Any]:
        """The REST error body: ``{reason, message, path}``."""
        return {"reason": SCAN_ERROR_REASON, "message": self.log_message, "path": self.path}


def blocked_message(findings: list[Finding]) -> str:
    """A message that reads well in stock JupyterLab's error dialog."""
    shown = "; ".join(finding.describe() for finding in findings[:_SHOWN_IN_MESSAGE])
    more = len(findings) - _SHOWN_IN_MESSAGE
    if more > 0:
        shown += f"; and {more} more"
    it = "it" if len(findings) == 1 else "them"
    return (
        f"Save blocked: {shown}. Nothing was written; your work is still in the editor. "
        f"Move {it} to a secret (read it with os.environ), or allowlist {it} with a "
        f"'pragma: allowlist secret' comment; {DOCS_HINT}."
    )


class _CachedFile:
    """Re-read a small file only when its mtime or size changes."""

    def __init__(self) -> None:
        self._stamp: tuple[float, int] | None = None
        self.value: Any = None

    def changed(self, path: Path) -> bool:
        try:
            stat = path.stat()
        except OSError:
            stamp = None
        else:
            stamp = (stat.st_mtime, stat.st_size)
        if stamp == self._stamp and self.value is not None:
            return False
        self._stamp = stamp
        return True


class SaveGuard:
    """Scans every write the ContentsManager makes; wire :meth:`pre_save_hook` into it."""

    def __init__(
        self,
        policy: GuardPolicy,
        root_dir: Path,
        bypass_store: BypassStore,
        emit: EventSink | None = None,
        log: logging.Logger | None = None,
        injected: InjectedValues | None = None,
    ) -> None:
        self.policy = policy
        self.root_dir = root_dir.resolve()
        self.bypasses = bypass_store
        self._emit = emit or (lambda schema, data: None)
        self.log = log or logging.getLogger(__name__)
        self.scanner = Scanner.with_rules(
            active_rules(policy.disabled_rules), max_bytes=policy.max_bytes
        )
        self._lock = threading.Lock()
        self._baselines: dict[Path, tuple[_CachedFile, Baseline | None]] = {}
        self._bypass_cache = _CachedFile()
        self._injected = injected
        self._literals: tuple[int, dict[str, str]] = (-1, {})

    def pre_save_hook(
        self, model: dict[str, Any], path: str, contents_manager: Any = None, **_: Any
    ) -> None:
        """The ContentsManager pre-save hook: raise :class:`SaveBlocked` or :class:`ScanFailed`."""
        if prechecked.get() is model:
            return
        self.check(model, path)

    def findings_json(self, model: dict[str, Any], path: str) -> list[dict[str, Any]]:
        """The findings a write of ``model`` to ``path`` would be refused for (none if it
        would be saved), as the REST API lists them; not audited. Raises ScanFailed."""
        try:
            self.check(model, path, audit=False)
        except SaveBlocked as blocked:
            findings: list[dict[str, Any]] = blocked.to_json()["findings"]
            return findings
        return []

    def check(self, model: dict[str, Any], path: str, *, audit: bool = True) -> None:
        """Refuse a write of ``model`` to ``path`` (relative to the server root) if it holds
        a credential or cannot be scanned. Never lets a scanner crash through silently.
        ``audit=False`` for a dry run that records no event."""
        if not self.policy.enabled:
            return
        path = path.strip("/")
        os_path = self.root_dir / path
        try:
            scanner = Scanner(
                self.scanner.engine,
                self._allowlist_for(os_path),
                self.scanner.max_bytes,
                self._injected_literals(),
            )
            result = scanner.scan_model(model, path=os_path)
        except ScanInputError as error:
            self._scan_failed(path, str(error), audit)
            return
        except Exception as error:  # a crash must refuse the save, not let it through
            frames = "".join(traceback.format_tb(error.__traceback__))
            self.log.error(
                "qsecure guard crashed scanning %s: %s\n%s", path, type(error).__name__, frames
            )
            self._scan_failed(path, f"internal error {type(error).__name__}", audit)
            return
        if result.findings:
            if audit:
                self._emit_blocked(path, "blocked", result.findings)
            self.log.warning(
                "qsecure: save of %s blocked (%d finding(s))", path, len(result.findings)
            )
            raise SaveBlocked(path, result.findings)

    def _injected_literals(self) -> dict[str, str]:
        """Every form of every value injected into a running kernel, by secret name."""
        if self._injected is None:
            return {}
        generation, values = self._injected()
        with self._lock:
            if generation != self._literals[0]:
                literals = {
                    form: name for value, name in values.items() for form in encoded_forms(value)
                }
                self._literals = (generation, literals)
            return self._literals[1]

    def _scan_failed(self, path: str, problem: str, audit: bool) -> None:
        if self.policy.on_error == "allow":
            self.log.warning(
                "qsecure: %s not scanned (%s); allowed by guard.on_error", path, problem
            )
            if audit:
                self._emit_blocked(path, "allowed-on-error", [], problem)
            return
        if audit:
            self._emit_blocked(path, "scan-error", [], problem)
        raise ScanFailed(path, problem)

    def _emit_blocked(
        self, path: str, outcome: str, findings: list[Finding], error: str | None = None
    ) -> None:
        from ..events import SAVE_BLOCKED

        data: dict[str, Any] = {
            "path": path,
            "user": acting_user(),
            "outcome": outcome,
            "findings": [
                {
                    "rule": f.rule,
                    "kind": f.kind,
                    "fingerprint": f.fingerprint,
                    "cell_index": f.location.cell_index,
                    "field": f.location.field,
                    "line": f.location.line,
                }
                for f in findings
            ],
        }
        if error:
            data["error"] = error
        self._emit(SAVE_BLOCKED, data)

    def bypass(self, fingerprint: str, reason: str, path: str) -> None:
        """Accept a finding by fingerprint (with a reason) for later saves; audited."""
        from ..events import SAVE_BYPASSED

        bypass = self.bypasses.add(fingerprint, reason, acting_user(), path.strip("/"))
        self._emit(
            SAVE_BYPASSED,
            {
                "path": bypass.path,
                "user": bypass.user,
                "fingerprint": bypass.fingerprint,
                "reason": bypass.reason,
            },
        )

    def check_folder_copy(self, source: str) -> None:
        """Refuse copying the folder ``source`` (relative to the root) when any file the
        copy would write holds a credential: the copy writes files the guard never saw.
        Follows symbolic links as the copy does (it writes what they point to)."""
        folder = self.root_dir / source.strip("/")
        for file in copied_files(folder):
            relative = (source.strip("/") + "/" + file.relative_to(folder).as_posix()).strip("/")
            try:
                data = file.read_bytes()
            except OSError as error:
                self._scan_failed(relative, f"cannot read {relative}: {error.strerror}", True)
                continue
            self.check(
                {
                    "type": "file",
                    "format": "base64",
                    "content": base64.b64encode(data).decode("ascii"),
                },
                relative,
            )

    def _allowlist_for(self, os_path: Path) -> Allowlist:
        baselines = []
        if self.policy.baseline is not None:
            baselines.append(self._baseline(self.policy.baseline, required=True))
        if self.policy.repo_baseline:
            root = self._repository_root(os_path)
            if root is not None:
                baselines.append(self._baseline(root / ".secrets.baseline", required=False))
        with self._lock:
            if self._bypass_cache.changed(self.bypasses.path):
                self._bypass_cache.value = self.bypasses.fingerprints()
            bypassed = set(self._bypass_cache.value)
        return Allowlist([b for b in baselines if b is not None], bypassed)

    def _baseline(self, path: Path, *, required: bool) -> Baseline | None:
        with self._lock:
            cache, baseline = self._baselines.get(path, (_CachedFile(), None))
            if cache.changed(path):
                if not path.exists() and not required:
                    baseline = None
                    cache.value = False
                else:
                    try:
                        baseline = Baseline.load(path)
                    except AllowlistError as error:
                        raise ScanInputError(f"the baseline cannot be used: {error}") from None
                    cache.value = True
                self._baselines[path] = (cache, baseline)
            return baseline

    def _repository_root(self, os_path: Path) -> Path | None:
        """The nearest folder at or above the file (within the server root) holding ``.git``."""
        folder = os_path.parent
        while True:
            if (folder / ".git").exists():
                return folder
            if (
                folder == self.root_dir
                or folder == folder.parent
                or self.root_dir not in folder.parents
            ):
                return None
            folder = folder.parent


def copied_files(folder: Path, limit: int = 100_000) -> list[Path]:
    """The files a folder copy writes, as it sees them: symbolic links to files and to
    folders followed (each real folder once, so a link loop ends), at most ``limit``."""
    files: list[Path] = []
    seen: set[tuple[int, int]] = set()
    for current, folders, names in os.walk(folder, followlinks=True):
        stat = os.stat(current)
        if (stat.st_dev, stat.st_ino) in seen:
            folders[:] = []
            continue
        seen.add((stat.st_dev, stat.st_ino))
        for name in sorted(names):
            path = Path(current) / name
            if path.is_file():
                files.append(path)
                if len(files) >= limit:
                    return files
    return files


def error_body(error: HTTPError) -> str | None:
    """The JSON body for one of the guard's errors, or ``None`` for any other error."""
    if isinstance(error, (SaveBlocked, ScanFailed)):
        return json.dumps(error.to_json())
    return None
