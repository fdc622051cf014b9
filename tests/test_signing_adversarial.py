"""An adversary's pass over notebook signatures: what a signer can write into the fields a
verdict shows and judges, so that the verdict reads otherwise than it was decided."""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import nbformat
import pytest

from jupyter_qsecure.signing.allowed_signers import parse_allowed_signers
from jupyter_qsecure.signing.signatures import (
    NAMESPACE,
    sign_notebook,
    signed_bytes,
    verify_notebook,
)
from jupyter_qsecure.signing.sshsig import sign_with_ssh_keygen

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen")

NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "alice"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "alice", "-f", str(path)],
        check=True,
        timeout=60,
    )
    return path


def _notebook() -> dict[str, Any]:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)", id="c")])
    return dict(nbformat.from_dict(nb))


def _signed_at(key: Path, signed_at: str) -> dict[str, Any]:
    """A notebook signed by ``key`` whose signed statement holds ``signed_at`` as it is
    (the signer chooses the text: sign, then sign the edited statement again)."""
    nb = _notebook()
    entry = sign_notebook(nb, key, principal="alice@lab.example", now=NOW)
    entry["signed_at"] = signed_at
    entry["signature"] = sign_with_ssh_keygen(signed_bytes(nb, entry), key, NAMESPACE)
    return nb


def _signers(key: Path, options: str = "") -> list[Any]:
    public = " ".join(key.with_suffix(".pub").read_text().split()[:2])
    return parse_allowed_signers(f"alice@lab.example {options}{public}\n".replace("  ", " "))


@pytest.mark.parametrize(
    "signed_at",
    [
        "2026-01-01T12:00:00+00:00",  # as sign writes it
        "2026-01-01T12:00:00Z",
        "2026-01-01T17:30:00+05:30",
        "2026-01-01T12:00:00.250+00:00",
    ],
)
def test_a_signed_time_in_rfc_3339_is_judged(key: Path, signed_at: str) -> None:
    verdict = verify_notebook(_signed_at(key, signed_at), _signers(key), now=NOW)
    assert verdict.results[0].trusted, verdict.results[0].reason
    assert verdict.meets_policy


@pytest.mark.parametrize(
    ("signed_at", "read_as"),
    [
        # an ISO week date: 2025's week 1 starts on 30 December 2024
        ("2025-W01-1T12:00:00+00:00", "2024-12-30"),
        # an offset with seconds, and an offset of hours only: JupyterLab cannot read
        # either and shows the text, whose clock time is not the one judged
        ("2025-01-01T00:00:00+00:00:30", "2024-12-31"),
        ("2025-01-01T03:00:00+05", "2024-12-31"),
        # a blank before the offset, a comma before the fraction, the basic format
        ("2025-01-01T00:00:00 +01:00", "2024-12-31"),
        ("2025-01-01T00:00:00,5+01:00", "2024-12-31"),
        ("20250101T000000+0100", "2024-12-31"),
    ],
)
def test_a_signed_time_not_in_rfc_3339_is_not_trusted(
    key: Path, signed_at: str, read_as: str
) -> None:
    """The key expired at the end of 2024; each time below is judged (by Python's lenient
    ISO 8601 reader) as a moment of 2024, while a reviewer, and JupyterLab's status, which
    shows a time it cannot read as its text, read 2025. Only the form a signature is
    written in (RFC 3339: YYYY-MM-DDTHH:MM:SS[.fraction] and Z or +HH:MM) is judged."""
    signers = _signers(key, 'valid-before="20241231235959Z" ')
    honest = verify_notebook(_signed_at(key, f"{read_as}T12:00:00+00:00"), signers, now=NOW)
    assert honest.results[0].trusted, "the key signs in 2024"
    verdict = verify_notebook(_signed_at(key, signed_at), signers, now=NOW)
    result = verdict.results[0]
    assert result.valid and not result.trusted
    assert "RFC 3339" in result.reason
    assert not verdict.meets_policy
