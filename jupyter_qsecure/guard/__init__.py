"""The leak guard: a notebook-aware credential scanner and the server's save hook.

Public API::

    scanner = Scanner()                      # compiled once, reusable, thread-safe
    result = scanner.scan_notebook(nb_dict)  # or scan_text / scan_path / scan_model
    for finding in result.findings:          # kind, location, masked preview, fingerprint
        print(finding.describe())
"""

from .allowlist import BYPASS_REASONS, Allowlist, AllowlistError, Baseline, BypassStore
from .findings import Finding, Location, fingerprint, mask
from .rules import RULES, Rule
from .save_guard import LEAK_REASON, SCAN_ERROR_REASON, SaveBlocked, SaveGuard, ScanFailed
from .scanner import ScanInputError, Scanner, ScanResult
from .uploads import UploadError, UploadStage

__all__ = [
    "BYPASS_REASONS",
    "LEAK_REASON",
    "RULES",
    "SCAN_ERROR_REASON",
    "Allowlist",
    "AllowlistError",
    "Baseline",
    "BypassStore",
    "Finding",
    "Location",
    "Rule",
    "SaveBlocked",
    "SaveGuard",
    "ScanFailed",
    "ScanInputError",
    "ScanResult",
    "Scanner",
    "UploadError",
    "UploadStage",
    "fingerprint",
    "mask",
]
