"""SSH signatures of a bag: SSHSIG over its tag manifest, with the keys, allowed_signers and
revocation list of notebook signing, in a namespace of their own (``dataset@jupyter-qsecure``,
so a dataset signature can never pass for a notebook's, or the other way round).

A signature is an armored file ``qsecure-signatures/<alg>-<key>.sig`` in the bag, over the
exact bytes of ``tagmanifest-<alg>.txt``; the tag manifest covers ``bagit.txt``,
``bag-info.txt`` and the payload manifest, which covers every file. Stock OpenSSH checks
it::

    ssh-keygen -Y verify -f allowed_signers -I alice@lab -n dataset@jupyter-qsecure \\
        -s BAG/qsecure-signatures/sha256-....sig < BAG/tagmanifest-sha256.txt

The tag manifest holds no signing time, so a key's validity window (``valid-after``,
``valid-before``) is checked at the time of verification.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from .bagit import manifest_name
from .manifest import SIGNATURES_DIR, ManifestError, read_tag_file

if TYPE_CHECKING:
    from ..signing.allowed_signers import AllowedSigner

NAMESPACE = "dataset@jupyter-qsecure"
_SIGNATURE_FILE = re.compile(r"(sha256|sha512|blake3)-[0-9A-Za-z_-]+\.sig")


@dataclass(frozen=True)
class DatasetSignature:
    """One signature file's verdict."""

    file: str
    fingerprint: str
    valid: bool
    trusted: bool
    principals: tuple[str, ...]
    reason: str


@dataclass
class SignatureReport:
    """Every signature of a bag and whether they meet the policy (``require`` distinct,
    trusted keys)."""

    algorithm: str | None
    signatures: list[DatasetSignature] = field(default_factory=list)
    meets_policy: bool = False
    message: str = ""

    @property
    def signers(self) -> list[str]:
        """The principals of the trusted signatures."""
        return sorted({p for s in self.signatures if s.trusted for p in s.principals})


def signature_files(bag: Path) -> list[Path]:
    """The bag's signature files, sorted."""
    folder = bag / SIGNATURES_DIR
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix == ".sig")


def signed_algorithm(bag: Path) -> str | None:
    """The algorithm whose tag manifest the bag's signatures sign (None when unsigned).
    Raises :class:`ManifestError` when they disagree."""
    algorithms = {p.name.split("-", 1)[0] for p in signature_files(bag)}
    if len(algorithms) > 1:
        raise ManifestError(
            f"{bag}: signatures over tag manifests of different algorithms ({', '.join(sorted(algorithms))})"
        )
    return algorithms.pop() if algorithms else None


def sign_bag(bag: Path, key: Path, algorithm: str) -> tuple[Path, str]:
    """Sign ``tagmanifest-<algorithm>.txt`` with ``key`` (a private key file, or a ``.pub``
    whose private half is in ssh-agent); returns the signature file and the key's
    fingerprint. Raises SignatureError (signing failed) or ManifestError."""
    from ..signing.sshsig import parse_armored, sign_with_ssh_keygen

    tag = bag / manifest_name(algorithm, tag=True)
    try:
        message = read_tag_file(tag)
    except OSError as error:
        raise ManifestError(
            f"{tag}: cannot read the tag manifest: {error.strerror or error}"
        ) from None
    armored = sign_with_ssh_keygen(message, key, NAMESPACE)
    fingerprint = parse_armored(armored).fingerprint
    folder = bag / SIGNATURES_DIR
    folder.mkdir(exist_ok=True)
    safe = re.sub(r"[^0-9A-Za-z]", "_", fingerprint.removeprefix("SHA256:"))
    path = folder / f"{algorithm}-{safe}.sig"
    path.write_text(armored if armored.endswith("\n") else armored + "\n", encoding="utf-8")
    return path, fingerprint


def check_signatures(
    bag: Path,
    algorithm: str,
    signers: list[AllowedSigner] | None,
    *,
    revoked_keys: Path | None = None,
    require: int = 1,
    now: datetime | None = None,
) -> SignatureReport:
    """Check each signature over the bag's tag manifest: valid, and trusted by ``signers``
    (None: no allowed_signers file, so none is trusted) for this namespace, and not in the
    revocation list ``revoked_keys``. Raises AllowedSignersError for an unreadable list."""
    from ..signing.allowed_signers import load_revoked_keys, trust
    from ..signing.sshsig import SignatureError, verify

    moment = now or datetime.now(timezone.utc)
    revoked = load_revoked_keys(revoked_keys) if revoked_keys else frozenset()
    report = SignatureReport(algorithm)
    tag = bag / manifest_name(algorithm, tag=True)
    try:
        message = read_tag_file(tag)
    except OSError:
        message = None
    for path in signature_files(bag):
        name = f"{SIGNATURES_DIR}/{path.name}"
        if not _SIGNATURE_FILE.fullmatch(path.name) or not path.name.startswith(f"{algorithm}-"):
            report.signatures.append(
                DatasetSignature(name, "", False, False, (), f"not a signature of {tag.name}")
            )
            continue
        if message is None:
            report.signatures.append(
                DatasetSignature(name, "", False, False, (), f"{tag.name} is missing")
            )
            continue
        try:
            parsed = verify(message, read_tag_file(path).decode("utf-8"), NAMESPACE)
        except (OSError, UnicodeDecodeError) as error:
            report.signatures.append(
                DatasetSignature(name, "", False, False, (), f"unreadable: {error}")
            )
            continue
        except SignatureError as error:
            reason = (
                f"does not verify: {tag.name} changed since it was signed"
                if error.reason == "bad-signature"
                else str(error)
            )
            report.signatures.append(DatasetSignature(name, "", False, False, (), reason))
            continue
        if signers is None:
            report.signatures.append(
                DatasetSignature(
                    name,
                    parsed.fingerprint,
                    True,
                    False,
                    (),
                    "no allowed_signers file, so no signature is trusted: pass "
                    "--allowed-signers FILE or set [signing] allowed_signers in qsecure.toml",
                )
            )
            continue
        verdict = trust(
            signers, parsed.public_key, NAMESPACE, signed_at=moment, now=moment, revoked=revoked
        )
        report.signatures.append(
            DatasetSignature(
                name, parsed.fingerprint, True, verdict.trusted, verdict.principals, verdict.reason
            )
        )
    good = {s.fingerprint for s in report.signatures if s.valid and s.trusted}
    invalid = [s for s in report.signatures if not s.valid]
    report.meets_policy = len(good) >= require and not invalid
    report.message = f"{len(good)} of {require} required signature(s)" + (
        f"; {len(invalid)} invalid" if invalid else ""
    )
    return report
