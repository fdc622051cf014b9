"""The audit trail's event schemas (jupyter_events), registered by the server extension."""

from __future__ import annotations

from pathlib import Path

SCHEMA_DIR = Path(__file__).parent / "schemas"
SCHEMA_BASE = "https://events.jupyter.org/jupyter_qsecure"
SAVE_BLOCKED = f"{SCHEMA_BASE}/save-blocked/v1"
SAVE_BYPASSED = f"{SCHEMA_BASE}/save-bypassed/v1"
BYPASS_WITHDRAWN = f"{SCHEMA_BASE}/bypass-withdrawn/v1"
SECRET_INJECTED = f"{SCHEMA_BASE}/secret-injected/v1"
SECRET_DENIED = f"{SCHEMA_BASE}/secret-denied/v1"
PROVIDER_ERROR = f"{SCHEMA_BASE}/provider-error/v1"
NOTEBOOK_SIGNED = f"{SCHEMA_BASE}/notebook-signed/v1"
SIGNATURE_VERIFIED = f"{SCHEMA_BASE}/signature-verified/v1"
SECRET_CHANGED = f"{SCHEMA_BASE}/secret-changed/v1"
GUARD_STATE = f"{SCHEMA_BASE}/guard-state/v1"


def schema_files() -> list[Path]:
    """Every schema this package emits events with."""
    return sorted(SCHEMA_DIR.glob("*.yaml"))
