"""The audit trail: jupyter-qsecure's events written as JSON lines by the server, the
``[audit]`` policy, and the summary with its anomaly heuristics behind
``jupyter qsecure audit``.

Public API:

- Writing (:mod:`.trail`): ``install_audit_sink`` adds an ``AuditFileHandler`` to the
  server's event logger; ``is_qsecure_event`` tells our events apart;
  ``default_audit_file()`` is ``<data dir>/qsecure/`` + ``AUDIT_FILENAME``.
- Reading: ``read_trail(path)`` (rotated files included; ``TrailError`` when unreadable),
  ``trail_summary`` (what the server's audit endpoint answers).
- The ``[audit]`` policy (:mod:`.policy`): ``AuditPolicy``, ``parse_audit_policy``.

Only the policy is imported with the package (the policy file reads it); the rest on first
use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports
from .policy import AuditPolicy, parse_audit_policy

if TYPE_CHECKING:
    from .summary import trail_summary
    from .trail import (
        AUDIT_FILENAME,
        AuditFileHandler,
        TrailError,
        default_audit_file,
        install_audit_sink,
        is_qsecure_event,
        read_trail,
    )

__all__ = [
    "AUDIT_FILENAME",
    "AuditFileHandler",
    "AuditPolicy",
    "TrailError",
    "default_audit_file",
    "install_audit_sink",
    "is_qsecure_event",
    "parse_audit_policy",
    "read_trail",
    "trail_summary",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "trail_summary": ".summary",
        "AUDIT_FILENAME": ".trail",
        "AuditFileHandler": ".trail",
        "TrailError": ".trail",
        "default_audit_file": ".trail",
        "install_audit_sink": ".trail",
        "is_qsecure_event": ".trail",
        "read_trail": ".trail",
    },
)
