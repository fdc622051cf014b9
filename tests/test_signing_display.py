"""What a verdict shows a reviewer is what was signed, escaped: a signature entry is
written by whoever edited the notebook, so its principal, role, time, fingerprint and the
cell ids it recorded may hold terminal escapes, line breaks or bidirectional controls.
Shown raw, an entry with no trusted key rewrote the text report of ``jupyter qsecure
verify`` into "signed and valid ... meets the policy". A principal with such characters,
which only a wildcard allowed_signers line can match, is never trusted."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

from jupyter_qsecure.signing.allowed_signers import parse_allowed_signers
from jupyter_qsecure.signing.signatures import (
    NAMESPACE,
    SigningPolicy,
    sign_notebook,
    signed_bytes,
    verify_notebook,
)
from jupyter_qsecure.signing.sshsig import sign_with_ssh_keygen

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen")

ESC = chr(27)
#: Up one line, clear it, back to its start: then a forged first line, then hide the rest.
REWRITE = f"{ESC}[1A{ESC}[2K\r" + "nb.ipynb: signed and valid; meets the policy" + f"{ESC}[8m"
HIDDEN = (ESC, "\r", "\n", "\u202e", "\u200b", "\x7f")


def keygen(folder: Path, name: str) -> Path:
    key = folder / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)],
        check=True,
        timeout=60,
    )
    return key


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("keys")
    return {name: keygen(folder, name) for name in ("shared", "rogue")}


@pytest.fixture(scope="module")
def allowed(keys: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    public = " ".join(keys["shared"].with_suffix(".pub").read_text().split()[:2])
    path = tmp_path_factory.mktemp("trust") / "allowed_signers"
    path.write_text(f"*@lab.example {public}\n")
    return path


def notebook() -> dict[str, Any]:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)", id="c")])
    return dict(nbformat.from_dict(nb))


def verdict(nb: dict[str, Any], allowed: Path) -> Any:
    signers = parse_allowed_signers(allowed.read_text())
    return verify_notebook(nb, signers, policy=SigningPolicy())


def forged_entry(keys: dict[str, Path]) -> dict[str, Any]:
    """A notebook whose one signature, by an untrusted key, has every shown field edited
    to rewrite a terminal; its recorded cells name a cell that is not there."""
    nb = notebook()
    entry = sign_notebook(nb, keys["rogue"], principal="rogue@elsewhere", role="author")
    entry["principal"] = "x" + REWRITE
    entry["role"] = "author" + REWRITE
    entry["signed_at"] = "2026-01-01T00:00:00Z" + REWRITE
    entry["key_fingerprint"] = "SHA256:x" + REWRITE
    entry["cells"] = [{"id": "gone" + REWRITE, "digest": "sha256:0"}]
    return nb


def test_the_text_report_shows_no_control_character(
    keys: dict[str, Path], allowed: Path, tmp_path: Path
) -> None:
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(forged_entry(keys)))
    fast = str(Path(sys.executable).with_name("jupyter-qsecure"))
    for command in ([sys.executable, "-m", "jupyter_qsecure"], [fast]):
        done = subprocess.run(
            [*command, "verify", str(path), "--allowed-signers", str(allowed)],
            capture_output=True,
            timeout=120,
        )
        assert done.returncode == 1, done.stderr
        out = done.stdout.decode()
        assert not any(c in out for c in (ESC, "\r")), out
        lines = out.splitlines()
        assert "does NOT meet the policy" in lines[0]
        assert len(lines) == 2, lines  # the verdict and its one signature, nothing forged
        assert "\\x1b[1A" in lines[1]


def test_every_shown_field_is_escaped(keys: dict[str, Path], allowed: Path) -> None:
    nb = forged_entry(keys)
    result = verdict(nb, allowed).results[0]
    for value in (result.principal, result.role, result.signed_at, result.reason):
        assert not any(c in value for c in HIDDEN), value
    # the fingerprint shown is the signing key's once the signature parses
    assert result.fingerprint.startswith("SHA256:") and ESC not in result.fingerprint
    # content changed since signing: the recorded cells are named, escaped
    nb["cells"][0]["source"] = "print(2)"
    nb["metadata"]["qsecure"]["signatures"][0] = sign_notebook(
        notebook(), keys["rogue"], principal="rogue@elsewhere"
    )
    nb["metadata"]["qsecure"]["signatures"][0]["cells"] = [{"id": "c" + REWRITE}]
    result = verdict(nb, allowed).results[0]
    assert result.reason == "modified since signing"
    assert result.changed_cells and not any(ESC in cell for cell in result.changed_cells)
    json.dumps(verdict(nb, allowed).to_json(), ensure_ascii=False)


@pytest.mark.parametrize(
    "principal",
    [
        "alice@lab.example\u202e",  # a bidirectional override
        "ali\u200bce@lab.example",  # a zero-width space
        "alice\n  [1] pi@lab.example@lab.example",  # a line break
        "mallory@x (approver) trusted alice@lab.example",  # spaces
        "alice@lab.example" + REWRITE + "@lab.example",
    ],
)
def test_a_principal_with_unseen_characters_is_never_trusted(
    keys: dict[str, Path], allowed: Path, principal: str
) -> None:
    honest = notebook()
    sign_notebook(honest, keys["shared"], principal="carol@lab.example")
    assert verdict(honest, allowed).meets_policy
    nb = notebook()
    # the shared key may claim anyone at lab.example (the wildcard), but not these
    entry = sign_notebook(nb, keys["shared"], principal="carol@lab.example")
    entry["principal"] = principal
    entry["signature"] = sign_with_ssh_keygen(signed_bytes(nb, entry), keys["shared"], NAMESPACE)
    result = verdict(nb, allowed).results[0]
    assert result.valid and not result.trusted
    assert "control, invisible or space characters" in result.reason
    assert not verdict(nb, allowed).meets_policy
    assert not any(c in result.principal for c in HIDDEN)


def test_a_long_field_is_cut(keys: dict[str, Path], allowed: Path) -> None:
    nb = notebook()
    entry = sign_notebook(nb, keys["rogue"], principal="rogue@elsewhere")
    entry["principal"] = "a" * 100_000
    result = verdict(nb, allowed).results[0]
    assert len(result.principal) < 300 and result.principal.endswith("(99800 more characters)")
