"""The guard on the Jupyter server: a ContentsManager pre-save hook that refuses a write
holding a credential, before anything reaches the disk."""

from __future__ import annotations

import base64
import contextvars
import json
import logging
import os
import re
import shutil
import threading
import traceback
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from tornado.web import HTTPError

from .._shown import logged
from ..identity import acting_user
from ..secrets.forms import encoded_forms
from .allowlist import Allowlist, AllowlistError, Baseline, BypassStore
from .cellcache import CellCache
from .engine import INJECTED_SECRET
from .findings import NAME_PLACES, Finding
from .plugins import active_rules
from .policy import GuardPolicy
from .scanner import ScanInputError, Scanner, previews_of
from .walker import Fragment, json_strings, replace_strings

LEAK_REASON = "qsecure-leak"
SCAN_ERROR_REASON = "qsecure-scan-error"
SYMLINK_REASON = "qsecure-symlink"
PROTECTED_REASON = "qsecure-protected-path"
BLOCKED_STATUS = 422
DOCS_HINT = "see the jupyter-qsecure guard guide (docs/guard.md)"
_SHOWN_IN_MESSAGE = 5
#: How many reported findings' previews are remembered for acceptances.
REPORTED_MEMORY = 4096

EventSink = Callable[[str, dict[str, Any]], None]
#: What a scan returns (a notebook's or a name's result).
ScanResultT = TypeVar("ScanResultT")
#: A model the request handler already checked off the event loop (the very object): the
#: pre-save hook lets it through without scanning it twice. Set per request task.
prechecked: contextvars.ContextVar[object | None] = contextvars.ContextVar(
    "qsecure_prechecked", default=None
)
#: Returns (generation, value -> secret name) of the values injected into running kernels.
InjectedValues = Callable[[], tuple[int, dict[str, str]]]


#: A digest or id the recorder computed (hex, a UUID): no credential, and costly to read
#: as a candidate token.
_DIGEST = re.compile(r"(?:sha256:)?[0-9a-f]{32,128}|[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}")

#: What a guarded write does, as its refusal and its audit event name it.
WRITES = ("save", "checkpoint", "restore", "copy", "rename", "new")


class SaveBlocked(HTTPError):
    """A refused write. Its JSON body (see :meth:`to_json`) lists the findings."""

    def __init__(
        self, path: str, findings: list[Finding], write: str = "save", note: str | None = None
    ) -> None:
        self.path = path
        self.findings = findings
        self.write = write
        message = blocked_message(findings, write)
        if note:  # why an accepted finding may not have been accepted
            message += f" Bypasses were not applied: {note}."
        super().__init__(BLOCKED_STATUS, message, reason=LEAK_REASON)

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


class CopyRefused(HTTPError):
    """A folder copy refused because it holds a symbolic link: the copy would write what
    the link points to (possibly outside the server root) as regular files."""

    def __init__(self, path: str, link: str) -> None:
        self.path = path
        self.link = link
        message = (
            f"Copy refused: {link} is a symbolic link, and copying it would write the content "
            "it points to (which may lie outside the server root) as regular files. Nothing "
            "was copied. Copy the files you need one by one, or remove the link first; "
            + DOCS_HINT
            + "."
        )
        super().__init__(BLOCKED_STATUS, message, reason=SYMLINK_REASON)

    def to_json(self) -> dict[str, Any]:
        """The REST error body: ``{reason, message, path, link}``."""
        return {
            "reason": SYMLINK_REASON,
            "message": self.log_message,
            "path": self.path,
            "link": self.link,
        }


class ProtectedPath(HTTPError):
    """A write, rename or delete through the server of a place jupyter-qsecure trusts (a
    folder its policy is read from, the baseline, the bypass store): whoever can write
    there could change the policy."""

    def __init__(self, path: str, protected: Path) -> None:
        self.path = path
        message = (
            f"Refused: {path} is in {protected}, where jupyter-qsecure reads its policy or "
            "keeps the findings it accepts; it cannot be changed through the server. "
            "Ask your admin to change it on the machine itself."
        )
        super().__init__(403, message, reason=PROTECTED_REASON)

    def to_json(self) -> dict[str, Any]:
        """The REST error body: ``{reason, message, path}``."""
        return {"reason": PROTECTED_REASON, "message": self.log_message, "path": self.path}


_REFUSED = {
    "save": ("Save blocked", "Nothing was written; your work is still in the editor."),
    "checkpoint": (
        "Checkpoint refused",
        "The file on disk already holds it (written outside this editor), so no checkpoint "
        "was made. Remove it from the file and save.",
    ),
    "restore": (
        "Restore refused",
        "The checkpoint holds it, so the file was left as it is.",
    ),
    "copy": ("Copy refused", "Nothing was copied."),
    "rename": ("Rename refused", "The file keeps its name."),
    "new": ("Refused", "Nothing was created."),
}
#: A name's refusal: saves and uploads say "refused" (the save is not blocked for what the
#: file holds, and choosing another name is the way out).
_NAME_TITLES = {"save": "Save refused"}


def blocked_message(findings: list[Finding], write: str = "save") -> str:
    """A message that reads well in stock JupyterLab's error dialog."""
    shown = "; ".join(finding.describe() for finding in findings[:_SHOWN_IN_MESSAGE])
    more = len(findings) - _SHOWN_IN_MESSAGE
    if more > 0:
        shown += f"; and {more} more"
    title, outcome = _REFUSED.get(write, _REFUSED["save"])
    if findings and all(f.location.field in NAME_PLACES for f in findings):
        it = "it" if len(findings) == 1 else "them"
        return (
            f"{_NAME_TITLES.get(write, title)}: {shown}. {outcome} A name is listed, "
            f"committed and logged wherever the file goes: choose one without {it}; "
            f"{DOCS_HINT}."
        )
    injected = [f for f in findings if f.rule == INJECTED_SECRET.id]
    if injected:
        names = ", ".join(sorted({f.preview for f in injected}))
        return (
            f"{title}: {shown}. {outcome} {names} "
            f"{'is the value' if len(injected) == 1 else 'are values'} of a secret injected "
            "into a running kernel: no 'pragma: allowlist secret' comment, baseline or "
            "bypass accepts it, in any encoding. Remove it and read the secret with "
            f"os.environ instead; {DOCS_HINT}."
        )
    it = "it" if len(findings) == 1 else "them"
    return (
        f"{title}: {shown}. {outcome} "
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
        protected: Sequence[Path] = (),
    ) -> None:
        self.policy = policy
        self.root_dir = root_dir.resolve()
        #: Folders and files no write through the server may touch (see ProtectedPath).
        self.protected = protected_paths(protected, self.root_dir)
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
        #: Why the bypass store cannot be read (None when it can).
        self.bypass_problem: str | None = None
        self._literals: tuple[int, dict[str, str]] = (-1, {})
        #: Its own lock: the server's log lines are masked with them (see ``masked``),
        #: also those logged while ``_lock`` is held.
        self._literals_lock = threading.Lock()
        #: Each notebook's cells as last walked: an autosave walks only what changed.
        self._cells = CellCache()
        #: The kind and masked preview of findings this server reported, by fingerprint:
        #: an acceptance keeps only these, never what a client claims a preview is.
        self._reported: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._reported_lock = threading.Lock()

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

    def accepted_findings_json(self, notebook: dict[str, Any], path: str) -> list[dict[str, Any]]:
        """The findings in ``notebook`` (at ``path``) that a save lets through only because
        they were accepted (a bypass or a baseline), as the REST API lists findings; not
        audited. For a signer to see what they vouch for. Raises ScanFailed."""
        path = path.strip("/")
        os_path = self.root_dir / path
        model = {"type": "notebook", "content": notebook}
        try:
            every = Scanner(self.scanner.engine, Allowlist(), self.scanner.max_bytes)
            accepting = Scanner(
                self.scanner.engine, self._allowlist_for(os_path), self.scanner.max_bytes
            )
            found = every.scan_model(model, path=os_path).findings
            refused = {
                (f.fingerprint, f.location)
                for f in accepting.scan_model(model, path=os_path).findings
            }
        except ScanInputError as error:
            raise ScanFailed(path, str(error)) from None
        return [f.to_json() for f in found if (f.fingerprint, f.location) not in refused]

    def check(
        self, model: dict[str, Any], path: str, *, audit: bool = True, write: str = "save"
    ) -> None:
        """Refuse a write of ``model`` to ``path`` (relative to the server root) if it holds
        a credential or cannot be scanned. Never lets a scanner crash through silently.
        ``audit=False`` for a dry run that records no event; ``write`` (one of
        :data:`WRITES`) names the write in the refusal and the audit event. A path whose
        names hold a credential is refused whatever the model (see :meth:`check_name`)."""
        directory = model.get("type") == "directory" if isinstance(model, dict) else False
        self.check_name(path, write=write, directory=directory, audit=audit)
        self.check_not_protected(path, audit=audit)
        if not self.policy.enabled:
            return
        path = path.strip("/")
        os_path = self.root_dir / path
        result = self._scanned(
            path,
            "",
            lambda scanner: scanner.scan_model(model, path=os_path, cells=self._cells),
            audit,
            write,
        )
        if result is not None and result.findings:
            self._remember(result.findings)
            if audit:
                self._emit_blocked(path, "blocked", result.findings, write=write)
            self.log.warning(
                "qsecure: %s of %s blocked (%d finding(s))",
                write,
                logged(path),
                len(result.findings),
            )
            raise SaveBlocked(path, result.findings, write, self.bypass_problem)

    def check_name(
        self, path: str, *, write: str = "save", directory: bool = False, audit: bool = True
    ) -> None:
        """Refuse (:class:`SaveBlocked`, audited) a write that would create or keep
        ``path`` when one of its names holds a credential (its last name is a folder's
        when ``directory``): a name sits in listings, git and logs. The refusal, its audit
        event and log line show the path with the value masked."""
        if not self.policy.enabled:
            return
        path = path.strip("/")
        if not path:
            return
        os_path = self.root_dir / path
        result = self._scanned(
            path,
            "the name ",
            lambda scanner: scanner.scan_name(path, directory=directory, os_path=os_path),
            audit,
            write,
        )
        if result is None or not result.findings:
            return
        self._remember(result.findings)
        if audit:
            self._emit_blocked(result.shown, "blocked", result.findings, write=write)
        self.log.warning(
            "qsecure: %s of %s refused (a credential in its name)", write, logged(result.shown)
        )
        raise SaveBlocked(result.shown, result.findings, write, self.bypass_problem)

    def _scanned(
        self,
        path: str,
        what: str,
        scan: Callable[[Scanner], ScanResultT],
        audit: bool,
        write: str,
    ) -> ScanResultT | None:
        """``scan`` run with a scanner for ``path`` (its allowlist, the injected values);
        None once a scan that failed is reported (:meth:`_scan_failed`: refused, unless
        ``guard.on_error`` allows). A crash refuses the write, never lets it through."""
        try:
            scanner = Scanner(
                self.scanner.engine,
                self._allowlist_for(self.root_dir / path),
                self.scanner.max_bytes,
                self._injected_literals(),
            )
            return scan(scanner)
        except ScanInputError as error:
            self._scan_failed(path, str(error), audit, write)
        except Exception as error:
            frames = "".join(traceback.format_tb(error.__traceback__))
            self.log.error(
                "qsecure guard crashed scanning %s%s: %s\n%s",
                what,
                logged(path),
                type(error).__name__,
                frames,
            )
            self._scan_failed(path, f"internal error {type(error).__name__}", audit, write)
        return None

    def masked(self, text: str) -> str:
        """``text`` (a path, a URL, a log line) with every credential its names hold, as
        they are or percent-decoded, written as its masked preview (accepted ones too);
        as it is when it holds none, or when the scanner fails (what shows it, an audit
        event or a log line, is not lost: the failure is the scan's to report)."""
        if not text:
            return text
        try:
            literals = self._injected_literals()
            return (
                Scanner(self.scanner.engine, Allowlist(), literals=literals).scan_name(text).shown
            )
        except Exception:
            return text

    def redact(self, data: Any) -> int:
        """Replace, in place, every credential the guard finds in the strings (and keys)
        of JSON ``data`` by its masked preview; how many values were replaced. For what is
        written after the scan (provenance embedded into a save)."""
        strings = [text for text in json_strings(data) if text and not _DIGEST.fullmatch(text)]
        if not strings:
            return 0
        fragment = Fragment("\n".join(strings), "embedded")
        matches = self.scanner.engine.scan(
            [fragment], config_text=False, literals=self._injected_literals()
        )
        masked = previews_of(matches)
        if masked is None:
            return 0
        replace_strings(data, masked)
        return len({match.value for match in matches if match.value})

    def _remember(self, findings: Sequence[Finding]) -> None:
        with self._reported_lock:
            for finding in findings:
                self._reported[finding.fingerprint] = (finding.kind, finding.preview)
                self._reported.move_to_end(finding.fingerprint)
            while len(self._reported) > REPORTED_MEMORY:
                self._reported.popitem(last=False)

    def reported(self, fingerprint: str) -> tuple[str, str]:
        """The kind and masked preview of a finding this server reported (refused or
        listed) recently; empty strings for a fingerprint it did not report."""
        with self._reported_lock:
            return self._reported.get(fingerprint, ("", ""))

    def check_not_protected(self, path: str, *, moved: bool = False, audit: bool = True) -> None:
        """Refuse (:class:`ProtectedPath`, audited) a write to ``path`` inside a protected
        place; ``moved`` (a rename's source, a delete): also a folder holding one."""
        if not self.protected:
            return
        path = path.strip("/")
        target = (self.root_dir / path).resolve()
        for protected in self.protected:
            inside = target == protected or protected in target.parents
            if inside or (moved and target in protected.parents):
                if audit:
                    self._emit_blocked(path, "protected", [], f"{protected} is protected")
                self.log.warning(
                    "qsecure: write to %s refused (in %s)", logged(path), logged(protected)
                )
                raise ProtectedPath(path, protected)

    def _injected_literals(self) -> dict[str, str]:
        """Every form of every value injected into a running kernel, by secret name."""
        if self._injected is None:
            return {}
        generation, values = self._injected()
        with self._literals_lock:
            if generation != self._literals[0]:
                literals = {
                    form: name for value, name in values.items() for form in encoded_forms(value)
                }
                self._literals = (generation, literals)
            return self._literals[1]

    def _scan_failed(self, path: str, problem: str, audit: bool, write: str = "save") -> None:
        if self.policy.on_error == "allow":
            self.log.warning(
                "qsecure: %s not scanned (%s); allowed by guard.on_error",
                logged(path),
                logged(problem),
            )
            if audit:
                self._emit_blocked(path, "allowed-on-error", [], problem, write)
            return
        if audit:
            self._emit_blocked(path, "scan-error", [], problem, write)
        raise ScanFailed(path, problem)

    def _emit_blocked(
        self,
        path: str,
        outcome: str,
        findings: list[Finding],
        error: str | None = None,
        write: str = "save",
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
        if write != "save":
            data["write"] = write
        self._emit(SAVE_BLOCKED, data)

    def bypass(
        self, fingerprint: str, reason: str, path: str, kind: str = "", preview: str = ""
    ) -> None:
        """Accept a finding by fingerprint (with a reason) for later saves; audited. The
        rule's ``kind`` and the masked ``preview`` are kept to recognise it when reviewing,
        when they are those this server reported for that fingerprint (a client's own
        preview could hold more of the value than a masked one)."""
        from ..events import SAVE_BYPASSED

        known_kind, known_preview = self.reported(fingerprint)
        bypass = self.bypasses.add(
            fingerprint,
            reason,
            acting_user(),
            self.masked(path.strip("/")),  # a finding in its name: kept masked
            kind if kind == known_kind else "",
            preview if preview == known_preview else "",
        )
        self._emit(
            SAVE_BYPASSED,
            {
                "path": bypass.path,
                "user": bypass.user,
                "fingerprint": bypass.fingerprint,
                "reason": bypass.reason,
            },
        )

    def accepted(self) -> list[dict[str, str]]:
        """The acting user's acceptances (bypasses), newest first, as the REST API lists them."""
        user = acting_user()
        mine = [bypass for bypass in self.bypasses.load() if bypass.user == user]
        return [bypass.to_json() for bypass in reversed(mine)]

    def undo_bypass(self, id_: str = "", fingerprint: str = "", path: str = "") -> dict[str, Any]:
        """Undo one of the acting user's acceptances (by id, or fingerprint and path): later
        saves of that value are refused again unless another acceptance still covers it
        (``still_accepted``); audited. Raises ``LookupError`` when the user has no such
        acceptance."""
        from ..events import BYPASS_WITHDRAWN

        path = self.masked(path.strip("/"))  # as bypass() kept it
        removed = self.bypasses.remove(acting_user(), id_=id_, fingerprint_=fingerprint, path=path)
        still = removed.fingerprint in self.bypasses.fingerprints()
        self._emit(
            BYPASS_WITHDRAWN,
            {
                "path": removed.path,
                "user": removed.user,
                "fingerprint": removed.fingerprint,
                "reason": removed.reason,
                "still_accepted": still,
            },
        )
        return {**removed.to_json(), "still_accepted": still}

    def check_folder_copy(self, source: str) -> None:
        """Refuse copying the folder ``source`` (relative to the root) when it is or holds
        a symbolic link (the copy would write what the link points to, possibly from
        outside the root, as regular files), or when any file it would write holds a
        credential: the copy writes files the guard never saw."""
        source = source.strip("/")
        self.check_tree(self.root_dir / source, source, write="copy")

    def check_copied_folder(self, copy: str, source: str) -> None:
        """After a folder copy: refuse, and remove the copy, when what it wrote holds a
        symbolic link or a credential (the source changed between the check and the copy)."""
        folder = self.root_dir / copy.strip("/")
        try:
            self.check_tree(folder, copy.strip("/"))
        except (SaveBlocked, ScanFailed, CopyRefused):
            self.log.warning(
                "qsecure: removing the refused copy %s of %s", logged(copy), logged(source)
            )
            shutil.rmtree(folder, ignore_errors=True)
            raise

    def check_tree(
        self, folder: Path, relative: str, *, write: str = "copy", limit: int = 100_000
    ) -> None:
        """Refuse (:class:`CopyRefused`, :class:`SaveBlocked`, :class:`ScanFailed`) unless
        every entry of ``folder`` (shown as ``relative``) is a regular file or folder, not
        a symbolic link, no file holds a credential, and there are at most ``limit`` files."""
        if folder.is_symlink():
            self._refuse_link(relative, relative)
        for count, file in enumerate(tree_files(folder), start=1):
            shown = f"{relative}/{file.relative_to(folder).as_posix()}".strip("/")
            if file.is_symlink():
                self._refuse_link(relative, shown)
            if count > limit:
                self._scan_failed(relative, f"more than {limit:,} files", True, write)
                return
            try:
                data = file.read_bytes()
            except OSError as error:
                self._scan_failed(shown, f"cannot read {shown}: {error.strerror}", True, write)
                continue
            self.check(file_model(data), shown, write=write)

    def _refuse_link(self, source: str, link: str) -> NoReturn:
        self._emit_blocked(source, "symlink", [], f"{link} is a symbolic link", "copy")
        self.log.warning(
            "qsecure: copy of %s refused (%s is a symbolic link)", logged(source), logged(link)
        )
        raise CopyRefused(source, link)

    def check_checkpoint_source(self, os_path: Path, path: str) -> None:
        """Refuse creating a checkpoint of ``path`` (its file ``os_path``) when the file's
        bytes hold a credential (or cannot be read): checkpoints kept as files copy those
        bytes, not the model the contents manager reads (a notebook parsed keeps one of a
        repeated key and upgrades an nbformat 3 notebook, dropping what a worksheet's
        metadata held)."""
        path = path.strip("/")
        try:
            data = os_path.read_bytes()
        except OSError as error:
            problem = error.strerror or str(error)
            self._scan_failed(path, f"cannot read it: {problem}", True, "checkpoint")
            return
        self.check(file_model(data), path, write="checkpoint")

    def check_checkpoint_restore(self, checkpoints: Any, checkpoint_id: str, path: str) -> None:
        """Refuse restoring checkpoint ``checkpoint_id`` of ``path`` when the checkpoint
        holds a credential (or cannot be read). Checkpoints that restore through the
        contents manager's ``save`` are scanned there, by the pre-save hook."""
        from jupyter_server.services.contents.checkpoints import GenericCheckpointsMixin

        path = path.strip("/")
        if isinstance(checkpoints, GenericCheckpointsMixin):
            return  # restored with contents_manager.save(): the pre-save hook scans it
        checkpoint_path = getattr(checkpoints, "checkpoint_path", None)
        if checkpoint_path is None:
            self._scan_failed(
                path,
                f"cannot read checkpoints kept by {type(checkpoints).__name__}",
                True,
                "restore",
            )
            return
        try:
            data = Path(checkpoint_path(checkpoint_id, path)).read_bytes()
        except FileNotFoundError:
            raise HTTPError(
                404, f"{path} has no checkpoint {checkpoint_id!r}", reason="qsecure-not-found"
            ) from None
        except (OSError, HTTPError) as error:
            problem = getattr(error, "strerror", None) or str(error)
            self._scan_failed(path, f"cannot read its checkpoint: {problem}", True, "restore")
            return
        self.check(file_model(data), path, write="restore")

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
                try:
                    self._bypass_cache.value = self.bypasses.fingerprints()
                    self.bypass_problem = None
                except AllowlistError as error:
                    # Saves without findings go on; a save with findings says why no
                    # bypass could apply (see check()).
                    self._bypass_cache.value = set()
                    self.bypass_problem = str(error)
                    self.log.error("qsecure: bypasses not applied: %s", logged(error))
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


#: What, in a protected folder holding the whole server root, is protected: the files
#: that configure jupyter-qsecure and Jupyter (the rest of the folder is the user's).
CONFIG_NAMES = (
    "qsecure.toml",
    "jupyter_server_config.json",
    "jupyter_server_config.py",
    "jupyter_server_config.d",
    "jupyter_config.json",
    "jupyter_config.py",
    "jupyter_notebook_config.json",
    "jupyter_notebook_config.py",
    "jupyter_notebook_config.d",
)


def protected_paths(places: Sequence[Path], root_dir: Path) -> tuple[Path, ...]:
    """``places`` resolved; one that holds the whole server root (a home served as root
    with its config folder at the top) is narrowed to its :data:`CONFIG_NAMES`."""
    resolved: list[Path] = []
    for place in places:
        place = place.resolve()
        if place == root_dir or place in root_dir.parents:
            resolved += [place / name for name in CONFIG_NAMES]
        else:
            resolved.append(place)
    return tuple(dict.fromkeys(resolved))


def copies_files(checkpoints: Any) -> bool:
    """Whether ``checkpoints`` keep a file's bytes as they are (jupyter_server's
    FileCheckpoints), rather than a model saved through the contents manager."""
    from jupyter_server.services.contents.checkpoints import GenericCheckpointsMixin

    if isinstance(checkpoints, GenericCheckpointsMixin):
        return False
    return callable(getattr(checkpoints, "checkpoint_path", None))


def file_model(data: bytes) -> dict[str, Any]:
    """A contents model of a file's bytes, as the guard scans it."""
    return {"type": "file", "format": "base64", "content": base64.b64encode(data).decode("ascii")}


def tree_files(folder: Path) -> Iterator[Path]:
    """Every entry under ``folder`` a copy would write a file for: regular files, and
    symbolic links (to files or folders, which are never followed), in a stable order."""
    for current, folders, names in os.walk(folder, followlinks=False):
        base = Path(current)
        folders.sort()
        for name in folders:
            if (base / name).is_symlink():
                yield base / name
        for name in sorted(names):
            path = base / name
            if path.is_symlink() or path.is_file():
                yield path


def error_body(error: HTTPError) -> str | None:
    """The JSON body for one of the guard's errors, or ``None`` for any other error."""
    if isinstance(error, (SaveBlocked, ScanFailed, CopyRefused, ProtectedPath)):
        return json.dumps(error.to_json())
    return None
