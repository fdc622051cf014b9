"""The repository's own tracked files hold no credential outside ``.secrets.baseline``.

The baseline lists the test fixtures the scanner finds on purpose (the labelled corpus, the
Vault double's tokens, ...), in detect-secrets' format. A credential committed anywhere else
fails this test. After adding or removing a fixture, rewrite the baseline and review its diff::

    .venv/bin/python tests/test_repository_clean.py --write-baseline
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from jupyter_qsecure.guard import RULES, Allowlist, Baseline, Scanner
from jupyter_qsecure.guard.findings import detect_secrets_hash, fingerprint
from jupyter_qsecure.guard.report import SKIPPED_FILES, FileReport, scan_files

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / ".secrets.baseline"
#: The detect-secrets baseline format version written (what detect-secrets 1.5 writes).
FORMAT_VERSION = "1.5.0"


@dataclass
class _Recording(Allowlist):
    """The given baselines, remembering every value the scanner asked about:
    ``(file relative to ROOT, hashed_secret)`` and the hash by fingerprint."""

    seen: set[tuple[str, str]] = field(default_factory=set)
    hashes: dict[str, str] = field(default_factory=dict)

    def accepts(self, value: str, path: Path | None) -> bool:
        hashed = detect_secrets_hash(value)
        self.hashes[fingerprint(value)] = hashed
        if path is not None:
            self.seen.add((path.relative_to(ROOT).as_posix(), hashed))
        return super().accepts(value, path)


def tracked_files() -> list[Path]:
    """The files git tracks that exist in the work tree (symbolic links and baselines aside)."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z"],
            cwd=ROOT,
            capture_output=True,
            check=True,
            timeout=30,
        ).stdout.decode("utf-8", "surrogateescape")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: nothing tracked to scan")
    paths = [ROOT / name for name in listed.split("\0") if name]
    return [
        path
        for path in paths
        if path.name not in SKIPPED_FILES and path.is_file() and not path.is_symlink()
    ]


def scan_repository(baselines: list[Baseline]) -> tuple[list[FileReport], _Recording]:
    """Scan every tracked file with every rule (the policy file's disabled rules do not
    apply here), accepting what ``baselines`` list."""
    recording = _Recording(baselines=baselines)
    scanner = Scanner.with_rules(RULES, allowlist=recording)
    return list(scan_files(scanner, tracked_files())), recording


def test_no_credential_outside_the_baseline() -> None:
    baseline = Baseline.load(BASELINE)
    reports, recording = scan_repository([baseline])
    unscannable = [f"{report.path}: {report.error}" for report in reports if report.error]
    assert not unscannable, "tracked files the scanner cannot read:\n" + "\n".join(unscannable)
    found = [
        f"{report.path.relative_to(ROOT)}: {finding.location.describe()}: {finding.kind} "
        f"({finding.preview}) [{finding.rule}]"
        for report in reports
        for finding in report.findings
    ]
    assert not found, (
        "credentials in tracked files (remove them; for a deliberate test fixture, rewrite "
        "the baseline with `python tests/test_repository_clean.py --write-baseline`):\n"
        + "\n".join(found)
    )
    listed = {
        (name, hashed) for name, hashes in baseline.hashes_by_file.items() for hashed in hashes
    }
    stale = sorted(listed - recording.seen)
    assert not stale, (
        "entries of .secrets.baseline the scanner no longer finds (rewrite it with "
        "`python tests/test_repository_clean.py --write-baseline`): "
        + ", ".join(f"{name} {hashed[:12]}" for name, hashed in stale)
    )


def baseline_document() -> dict[str, object]:
    """The repository's baseline as it should be now: every finding in tracked files, in
    detect-secrets' slim format (no line numbers, no timestamp: stable diffs)."""
    reports, recording = scan_repository([])
    results: dict[str, list[dict[str, object]]] = {}
    for report in reports:
        name = report.path.relative_to(ROOT).as_posix()
        entries = {
            recording.hashes[finding.fingerprint]: finding.kind for finding in report.findings
        }
        if entries:
            results[name] = [
                {"type": kind, "filename": name, "hashed_secret": hashed, "is_verified": False}
                for hashed, kind in sorted(entries.items())
            ]
    return {
        "version": FORMAT_VERSION,
        "plugins_used": [],
        "filters_used": [],
        "results": dict(sorted(results.items())),
    }


if __name__ == "__main__":
    if sys.argv[1:] != ["--write-baseline"]:
        sys.exit("usage: python tests/test_repository_clean.py --write-baseline")
    document = baseline_document()
    BASELINE.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    results = document["results"]
    assert isinstance(results, dict)
    count = sum(len(entries) for entries in results.values())
    print(f"wrote {BASELINE.name}: {count} finding(s) in {len(results)} file(s)")
