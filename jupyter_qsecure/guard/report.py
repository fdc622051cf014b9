"""Scan files and folders for the CLI and pre-commit, and write text, JSON or SARIF reports."""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._files import NotAFileError, kind_of
from .._shown import shown
from .._version import __version__
from .archives import is_archive
from .binary import looks_binary
from .findings import Finding
from .gitignore import GitIgnore, Ignored
from .scanner import ScanInputError, Scanner

#: Folders a recursive scan does not enter: version control, caches, environments.
SKIPPED_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "node_modules",
        "__pycache__",
        ".ipynb_checkpoints",
        ".venv",
        "venv",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        ".hypothesis",
    }
)
SKIPPED_FILES = frozenset({".secrets.baseline"})


@dataclass
class FileReport:
    """The outcome for one file: its findings, or why it was not scanned."""

    path: Path
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None
    skipped: str | None = None


def iter_files(
    paths: Iterable[Path], *, gitignore: bool = False, warn: Callable[[str], None] | None = None
) -> Iterator[tuple[Path, bool]]:
    """Files under the given paths, each with whether it was named explicitly. With
    ``gitignore``, a folder's walk skips what git ignores there (a file named explicitly
    is always yielded)."""
    git = GitIgnore(warn) if gitignore else None
    for path in paths:
        if _is_dir(path):
            for file in _walk(path, git):
                yield file, False
        else:
            yield path, True


def _is_dir(path: Path) -> bool:
    """Whether ``path`` is a folder; False when it cannot be looked at (a name too long, a
    folder on the way that may not be entered), which its scan then reports."""
    try:
        return path.is_dir()
    except OSError:
        return False


def _walk(root: Path, git: GitIgnore | None) -> Iterator[Path]:
    """The files under ``root``, in order, minus skipped folders and files and, when git is
    asked, what it ignores. Git is asked once at the root and once in each nested work tree
    (a submodule, a clone inside the folder), whose own rules apply there."""
    top = os.fspath(root)
    #: For each folder to walk: what git ignores in its work tree and its path there.
    scopes: dict[str, tuple[Ignored | None, str]] = {}
    for folder, dirs, files in os.walk(root):
        ignored, prefix = scopes.pop(folder, (None, ""))
        if git is not None and (folder == top or os.path.lexists(os.path.join(folder, ".git"))):
            ignored, prefix = git.ignored(Path(folder)), ""
        if ignored is not None and ignored.everything:
            dirs[:] = []
            continue
        kept = []
        for name in sorted(dirs):
            if name in SKIPPED_DIRS or (ignored is not None and prefix + name in ignored.paths):
                continue
            kept.append(name)
            scopes[os.path.join(folder, name)] = (ignored, f"{prefix}{name}/")
        dirs[:] = kept
        for name in sorted(files):
            if name in SKIPPED_FILES or (ignored is not None and prefix + name in ignored.paths):
                continue
            yield Path(folder) / name


def scan_files(
    scanner: Scanner,
    paths: Iterable[Path],
    *,
    gitignore: bool = False,
    warn: Callable[[str], None] | None = None,
) -> Iterator[FileReport]:
    """Scan each file; a file that cannot be scanned gets an error and the scan goes on.
    ``gitignore`` and ``warn`` are as for :func:`iter_files`."""
    for path, explicit in iter_files(paths, gitignore=gitignore, warn=warn):
        try:
            # a link met in a folder is not followed, whether or not its target exists
            if not explicit and path.is_symlink():
                continue
            mode = path.stat().st_mode
            if not stat.S_ISREG(mode):
                # a named pipe would wait for a writer, a device never end
                if not explicit:
                    yield FileReport(path, skipped=f"{kind_of(mode)}, not scanned")
                    continue
                raise NotAFileError(errno.EINVAL, f"{kind_of(mode)}, not a file", str(path))
            with path.open("rb") as stream:
                head = stream.read(8192)
        except FileNotFoundError:
            yield FileReport(path, error="no such file or folder")
            continue
        except OSError as error:
            yield FileReport(path, error=f"cannot read ({error.strerror or error})")
            continue
        archive = is_archive(head)
        if looks_binary(head) and path.suffix != ".ipynb" and not archive:
            yield FileReport(path, skipped="binary file, not scanned")
            continue
        try:
            result = scanner.scan_path(path)
        except ScanInputError as error:
            if archive:  # past the limits: skipped, as binary files are
                yield FileReport(path, skipped=f"{error}, not scanned")
            else:
                yield FileReport(path, error=str(error))
            continue
        yield FileReport(path, findings=result.findings)


def exit_code(reports: Iterable[FileReport]) -> int:
    """0 when clean, 1 when anything was found, 2 when a file could not be scanned."""
    code = 0
    for report in reports:
        if report.error:
            return 2
        if report.findings:
            code = 1
    return code


def text_lines(report: FileReport) -> Iterator[str]:
    """``path: cell 3, line 2: GitHub token (ghp_…9fQ) [github-token]``, one a finding. A
    path, a field (a metadata key) and a preview come from the files: shown with control
    characters escaped, so none can rewrite the report on the reader's terminal."""
    path = shown(str(report.path), _SHOWN_PATH)
    for finding in report.findings:
        where = shown(finding.location.describe(), _SHOWN_PATH)
        yield f"{path}: {where}: {finding.kind} ({shown(finding.preview)}) [{finding.rule}]"


#: The most characters of a path or a place in a file the text report shows.
_SHOWN_PATH = 1000


def json_report(reports: list[FileReport]) -> dict[str, Any]:
    """The JSON report: one entry a file with findings or an error."""
    return {
        "version": __version__,
        "files": [
            {
                "path": str(report.path),
                **({"error": report.error} if report.error else {}),
                **({"skipped": report.skipped} if report.skipped else {}),
                "findings": [finding.to_json() for finding in report.findings],
            }
            for report in reports
            if report.findings or report.error or report.skipped
        ],
    }


def _physical_line(path: Path, finding: Finding) -> int:
    """Where a finding sits in the file itself. For a notebook, the line of its cell's id
    (or of the cell's start) in the JSON, so that code-scanning annotations land near it."""
    if path.suffix != ".ipynb":
        return finding.location.line
    cell_id = finding.location.cell_id
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return 1
    if cell_id:
        position = text.find(json.dumps(cell_id))
        if position >= 0:
            return text.count("\n", 0, position) + 1
    return 1


def sarif_report(reports: list[FileReport], base: Path | None = None) -> dict[str, Any]:
    """A SARIF 2.1.0 log, as GitHub code scanning accepts it."""
    kinds = {finding.rule: finding.kind for report in reports for finding in report.findings}
    results = []
    for report in reports:
        uri = report.path.as_posix()
        if base is not None and report.path.resolve().is_relative_to(base.resolve()):
            uri = report.path.resolve().relative_to(base.resolve()).as_posix()
        for finding in report.findings:
            location: dict[str, Any] = {
                "physicalLocation": {
                    "artifactLocation": {"uri": uri},
                    "region": {"startLine": _physical_line(report.path, finding)},
                }
            }
            if finding.location.cell_index is not None:
                location["logicalLocations"] = [
                    {
                        "name": f"cell {finding.location.cell_index + 1}",
                        "kind": "member",
                        "fullyQualifiedName": f"{uri}#cell={finding.location.cell_index}",
                    }
                ]
            results.append(
                {
                    "ruleId": finding.rule,
                    "level": "error",
                    "message": {"text": finding.describe()},
                    "locations": [location],
                    "partialFingerprints": {"qsecureFingerprint/v1": finding.fingerprint},
                }
            )
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "jupyter-qsecure",
                        "version": __version__,
                        "informationUri": "https://github.com/jupyter-qsecure/jupyter-qsecure",
                        "rules": [
                            {
                                "id": rule_id,
                                "name": kind,
                                "shortDescription": {"text": f"{kind} committed in a file"},
                                "defaultConfiguration": {"level": "error"},
                            }
                            for rule_id, kind in sorted(kinds.items())
                        ],
                    }
                },
                "results": results,
                "invocations": [
                    {
                        "executionSuccessful": not any(report.error for report in reports),
                        "toolExecutionNotifications": [
                            {
                                "level": "error",
                                "message": {"text": f"{report.path}: {report.error}"},
                            }
                            for report in reports
                            if report.error
                        ],
                    }
                ],
            }
        ],
    }
