"""The leak guard: a notebook-aware credential scanner and the server's save hook.

Public API::

    scanner = Scanner()                      # compiled once, reusable, thread-safe
    result = scanner.scan_notebook(nb_dict)  # or scan_text / scan_path / scan_model
    for finding in result.findings:          # kind, location, masked preview, fingerprint
        print(finding.describe())

- Scanning: ``Scanner``, ``ScanResult``, ``ScanInputError``; ``Finding`` and its
  ``Location``, ``fingerprint(value)``, ``mask(value)``.
- Rules: ``Rule``, ``RULES`` (the built-in rules); rules from plug-ins (entry point group
  ``jupyter_qsecure.rules``): ``available_rules()`` (built-in, then plug-ins'),
  ``active_rules(disabled)``, ``plugin_rules()`` (each ``RulePlugin``, or why it failed).
- Accepted findings: ``Allowlist``, ``AllowlistError``, ``Baseline`` (detect-secrets
  baselines), ``BypassStore`` and ``BYPASS_REASONS``.
- The server's save hook: ``SaveGuard``, which refuses a write with ``SaveBlocked``
  (``LEAK_REASON``) or ``ScanFailed`` (``SCAN_ERROR_REASON``), a folder copy holding a
  symbolic link with ``CopyRefused``, a write where policy is read from with
  ``ProtectedPath``; chunked uploads are staged in an ``UploadStage`` (``UploadError``,
  ``UploadTooLarge``); ``scan_saves_in_a_thread`` makes the saves a handler runs
  ``scanned_in_a_thread()`` (a file copy) scan off the event loop.
- The ``[guard]`` policy: ``GuardPolicy``, ``parse_guard_policy``.

Only the policy and the findings are imported with the package; the rest (the save hook
imports tornado) on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports
from .findings import Finding, Location, fingerprint, mask
from .policy import GuardPolicy, parse_guard_policy

if TYPE_CHECKING:
    from .allowlist import BYPASS_REASONS, Allowlist, AllowlistError, Baseline, BypassStore
    from .offloaded import scan_saves_in_a_thread, scanned_in_a_thread
    from .plugins import RulePlugin, active_rules, available_rules, plugin_rules
    from .rules import RULES, Rule
    from .save_guard import (
        LEAK_REASON,
        SCAN_ERROR_REASON,
        CopyRefused,
        ProtectedPath,
        SaveBlocked,
        SaveGuard,
        ScanFailed,
    )
    from .scanner import ScanInputError, Scanner, ScanResult
    from .uploads import UploadError, UploadStage, UploadTooLarge

__all__ = [
    "BYPASS_REASONS",
    "LEAK_REASON",
    "RULES",
    "SCAN_ERROR_REASON",
    "Allowlist",
    "AllowlistError",
    "Baseline",
    "BypassStore",
    "CopyRefused",
    "Finding",
    "GuardPolicy",
    "Location",
    "ProtectedPath",
    "Rule",
    "RulePlugin",
    "SaveBlocked",
    "SaveGuard",
    "ScanFailed",
    "ScanInputError",
    "ScanResult",
    "Scanner",
    "UploadError",
    "UploadStage",
    "UploadTooLarge",
    "active_rules",
    "available_rules",
    "fingerprint",
    "mask",
    "parse_guard_policy",
    "plugin_rules",
    "scan_saves_in_a_thread",
    "scanned_in_a_thread",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "BYPASS_REASONS": ".allowlist",
        "Allowlist": ".allowlist",
        "AllowlistError": ".allowlist",
        "Baseline": ".allowlist",
        "BypassStore": ".allowlist",
        "scan_saves_in_a_thread": ".offloaded",
        "scanned_in_a_thread": ".offloaded",
        "RulePlugin": ".plugins",
        "active_rules": ".plugins",
        "available_rules": ".plugins",
        "plugin_rules": ".plugins",
        "RULES": ".rules",
        "Rule": ".rules",
        "LEAK_REASON": ".save_guard",
        "SCAN_ERROR_REASON": ".save_guard",
        "CopyRefused": ".save_guard",
        "ProtectedPath": ".save_guard",
        "SaveBlocked": ".save_guard",
        "SaveGuard": ".save_guard",
        "ScanFailed": ".save_guard",
        "ScanInputError": ".scanner",
        "ScanResult": ".scanner",
        "Scanner": ".scanner",
        "UploadError": ".uploads",
        "UploadStage": ".uploads",
        "UploadTooLarge": ".uploads",
    },
)
