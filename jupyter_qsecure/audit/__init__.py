"""The audit trail: jupyter-qsecure's events written as JSON lines by the server
(:mod:`.trail`), the ``[audit]`` policy (:mod:`.policy`) and the summary with its anomaly
heuristics behind ``jupyter qsecure audit`` (:mod:`.report`)."""

from __future__ import annotations

from .policy import AuditPolicy, parse_audit_policy
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
]
