"""``jupyter qsecure payload``, ``sign``, ``verify``, ``export-signature`` and
``verify-attestation``: SSH signatures of notebooks and attestations."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from traitlets import Enum, Integer, List, Unicode

from .._files import replace_file
from .._shown import shown_path
from .base import UsageError, _read_notebook, _signing_service, _Subcommand, write_output
from .fast import read_json


class PayloadApp(_Subcommand):
    """Print the exact bytes a notebook's signature signs."""

    name = "jupyter-qsecure-payload"
    description = """Print the bytes a signature covers, so anyone can check it with stock OpenSSH:
    jupyter qsecure payload NB.ipynb --signature N | ssh-keygen -Y verify -n notebook@jupyter-qsecure -f allowed_signers -I PRINCIPAL -s SIG
    With --signature N: signature N's signed statement (the digest of the notebook as it is
    now, with the signer's principal, role and time). Without it: the canonical payload."""

    signature = Integer(
        -1, help="Which signature's statement (0-based, as `verify` lists them)."
    ).tag(config=True)
    aliases = {"signature": "PayloadApp.signature"}

    def run(self) -> int:
        from ..signing.canonical import CanonicalFormError, notebook_payload

        if len(self.extra_args) != 1:
            raise UsageError("name one notebook: jupyter qsecure payload NOTEBOOK [--signature N]")
        path = Path(self.extra_args[0])
        notebook = _read_notebook(path, unique_keys=True)
        try:
            payload = (
                notebook_payload(notebook)
                if self.signature < 0
                else _statement_of(path, notebook, self.signature)
            )
        except (CanonicalFormError, ValueError) as error:
            raise UsageError(f"{shown_path(path)}: {error}") from None
        sys.stdout.buffer.write(payload)
        sys.stdout.flush()
        return 0


def _statement_of(path: Path, notebook: dict[str, Any], index: int) -> bytes:
    from ..signing.signatures import signatures_of, signed_bytes

    entries = signatures_of(notebook)
    if not 0 <= index < len(entries):
        raise UsageError(
            f"{shown_path(path)} has {len(entries)} signature(s); --signature must be 0..{max(len(entries) - 1, 0)}"
        )
    return signed_bytes(notebook, entries[index])


class SignApp(_Subcommand):
    """Sign a notebook with an SSH key (file or ssh-agent, FIDO keys included)."""

    name = "jupyter-qsecure-sign"
    description = """Sign a notebook in OpenSSH's SSHSIG format (namespace notebook@jupyter-qsecure).

    jupyter qsecure sign NOTEBOOK [--key PATH] [--role author|reviewer|approver] [--principal NAME]
    --key: a private key file, or a public key (.pub) whose private half is in ssh-agent."""

    key = Unicode("", help="SSH key to sign with (default: [signing] key).").tag(config=True)
    role = Enum(
        ["author", "reviewer", "approver"], default_value="author", help="Why you sign."
    ).tag(config=True)
    principal = Unicode(
        "", help="Who signs (default: [signing] principal, git user.email, user name)."
    ).tag(config=True)
    aliases = {"key": "SignApp.key", "role": "SignApp.role", "principal": "SignApp.principal"}

    def run(self) -> int:
        from ..signing.canonical import CanonicalFormError
        from ..signing.sshsig import SignatureError

        if len(self.extra_args) != 1:
            raise UsageError("name one notebook: jupyter qsecure sign NOTEBOOK --key PATH")
        path = Path(self.extra_args[0])
        notebook = _read_notebook(path)
        try:
            entry = _signing_service().sign(
                notebook,
                key=Path(self.key) if self.key else None,
                principal=self.principal or None,
                role=self.role,
            )
        except (ValueError, CanonicalFormError) as error:
            raise UsageError(str(error)) from None
        except SignatureError as error:
            print(f"jupyter qsecure: error: {error}", file=sys.stderr)
            return 1
        try:
            replace_file(path, _notebook_bytes(notebook))
        except OSError as error:
            raise UsageError(
                f"{shown_path(path)}: cannot write the signed notebook ({error.strerror or error}); "
                "the file is as it was"
            ) from None
        print(
            f"signed {shown_path(path)} as {entry['principal']} ({entry['role']}) with {entry['key_fingerprint']}"
        )
        return 0


def _notebook_bytes(notebook: dict[str, Any]) -> bytes:
    """The notebook as ``sign`` writes it: UTF-8 JSON as Jupyter indents it. A string
    holding a lone surrogate (a ``\\ud800`` escape in the file, outside what the
    signature covers) has no UTF-8 form: such a notebook is written with escapes, as it
    was read."""
    text = json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return (json.dumps(notebook, indent=1) + "\n").encode("ascii")


class VerifyApp(_Subcommand):
    """Verify notebooks' signatures against allowed signers and a policy."""

    name = "jupyter-qsecure-verify"
    description = """Verify signatures: valid over the notebook as it is, trusted by allowed_signers
    at their signed time, their roles granted, enough distinct signers in the required roles.

    jupyter qsecure verify NOTEBOOK... [--allowed-signers FILE] [--revoked-keys FILE] [--require N]
        [--require-role ROLE] [--grant ROLE=PATTERN] [--format text|json]
    Trust comes only from allowed_signers (--allowed-signers, else [signing] allowed_signers):
    without one no signature is trusted. Roles come only from the verifier: --grant (else
    [signing.roles]; by default every trusted principal may sign as author, and only that).
    Exit 0 when every notebook meets the policy, 1 when one does not, 2 on bad input."""

    allowed_signers = Unicode("", help="allowed_signers file (git / ssh-keygen format).").tag(
        config=True
    )
    revoked_keys = Unicode("", help="Revoked keys: a KRL or OpenSSH public key lines.").tag(
        config=True
    )
    require = Integer(-1, help="Signatures required (default: [signing] require, else 1).").tag(
        config=True
    )
    require_role = List(
        Unicode(), help="A role that must be among the signatures (repeatable)."
    ).tag(config=True)
    grant = List(
        Unicode(),
        help="ROLE=PATTERN[,PATTERN]: principals allowed to sign as ROLE (repeatable; "
        "replaces [signing.roles]).",
    ).tag(config=True)
    format = Enum(["text", "json"], default_value="text", help="Report format.").tag(config=True)
    aliases = {
        "allowed-signers": "VerifyApp.allowed_signers",
        "revoked-keys": "VerifyApp.revoked_keys",
        "require": "VerifyApp.require",
        "require-role": "VerifyApp.require_role",
        "grant": "VerifyApp.grant",
        "format": "VerifyApp.format",
    }

    def run(self) -> int:
        from .fast import run_verify

        return run_verify(
            _signing_service(),
            [Path(argument) for argument in self.extra_args],
            allowed_signers=self.allowed_signers,
            revoked_keys=self.revoked_keys,
            require=self.require,
            require_roles=list(self.require_role),
            grants=list(self.grant),
            output=self.format,
            read=lambda path: _read_notebook(path, unique_keys=True),
            usage=UsageError,
        )


class ExportSignatureApp(_Subcommand):
    """Write one of a notebook's signatures as an armored SSH signature file."""

    name = "jupyter-qsecure-export-signature"
    description = "Write signature N of a notebook (armored SSHSIG) for ssh-keygen -Y verify."
    index = Integer(0, help="Which signature (0-based, as `verify` lists them).").tag(config=True)
    output = Unicode("", help="Where to write (default: standard output).").tag(config=True)
    aliases = {
        "index": "ExportSignatureApp.index",
        "output": "ExportSignatureApp.output",
        "o": "ExportSignatureApp.output",
    }

    def run(self) -> int:
        from ..signing.signatures import signatures_of

        if len(self.extra_args) != 1:
            raise UsageError(
                "name one notebook: jupyter qsecure export-signature NOTEBOOK --index N"
            )
        path = Path(self.extra_args[0])
        entries = signatures_of(_read_notebook(path))
        if not 0 <= self.index < len(entries) or not isinstance(
            entries[self.index].get("signature"), str
        ):
            raise UsageError(
                f"{shown_path(path)} has {len(entries)} signature(s); --index must be 0..{max(len(entries) - 1, 0)}"
            )
        armored = entries[self.index]["signature"]
        if self.output:
            text = armored if armored.endswith("\n") else armored + "\n"
            write_output(self.output, text, "--output", source=path)
        else:
            print(armored.rstrip("\n"))
        return 0


class VerifyAttestationApp(_Subcommand):
    """Verify a signed attestation (DSSE envelope with SSH signatures)."""

    name = "jupyter-qsecure-verify-attestation"
    description = """Verify a DSSE envelope written by `jupyter qsecure attest --sign`: an in-toto
    Statement v1, every signature valid, its key trusted by allowed_signers for namespace
    attestation@jupyter-qsecure and not revoked, as `verify` judges notebook signatures.

    jupyter qsecure verify-attestation ENVELOPE [--allowed-signers FILE] [--revoked-keys FILE]"""
    allowed_signers = Unicode(
        "", help="allowed_signers file; its keys must allow namespace attestation@jupyter-qsecure."
    ).tag(config=True)
    revoked_keys = Unicode("", help="Revoked keys: a KRL or OpenSSH public key lines.").tag(
        config=True
    )
    aliases = {
        "allowed-signers": "VerifyAttestationApp.allowed_signers",
        "revoked-keys": "VerifyAttestationApp.revoked_keys",
    }

    def run(self) -> int:
        from datetime import datetime, timezone

        from ..signing.allowed_signers import (
            AllowedSignersError,
            load_allowed_signers,
            load_revoked_keys,
            trust,
        )
        from ..signing.dsse import NAMESPACE, verify_envelope
        from ..signing.sshsig import SignatureError

        if len(self.extra_args) != 1:
            raise UsageError("name one envelope: jupyter qsecure verify-attestation FILE")
        path = Path(self.extra_args[0])
        envelope = read_json(path, UsageError, "a JSON envelope")
        try:
            statement, keys = verify_envelope(envelope)
        except SignatureError as error:
            print(f"{shown_path(path)}: INVALID: {error}")
            return 1
        from .._shown import shown

        subjects = ", ".join(shown(str(s.get("name", "?"))) for s in statement["subject"])
        print(
            f"{shown_path(path)}: {len(keys)} valid signature(s) over {shown(statement['predicateType'])} "
            f"for {subjects}"
        )
        settings = (
            _signing_service()
            .with_overrides(
                allowed_signers=Path(self.allowed_signers) if self.allowed_signers else None,
                revoked_keys=Path(self.revoked_keys) if self.revoked_keys else None,
            )
            .settings
        )
        if settings.allowed_signers is None:
            print(
                f"{shown_path(path)}: NOT trusted: no allowed_signers file, so no signature is trusted: "
                "pass --allowed-signers FILE or set [signing] allowed_signers in qsecure.toml",
                file=sys.stderr,
            )
            return 1
        warnings: list[str] = []
        try:
            signers = load_allowed_signers(settings.allowed_signers, warnings)
            revoked = (
                load_revoked_keys(settings.revoked_keys) if settings.revoked_keys else frozenset()
            )
        except AllowedSignersError as error:
            raise UsageError(str(error)) from None
        for warning in warnings:
            print(f"jupyter qsecure: warning: {warning}", file=sys.stderr)
        now = datetime.now(timezone.utc)
        verdicts = [
            trust(signers, key.public_key, NAMESPACE, signed_at=now, revoked=revoked)
            for key in keys
        ]
        for key, verdict in zip(keys, verdicts, strict=True):
            print(
                f"  {key.fingerprint}: {'trusted' if verdict.trusted else 'NOT trusted'} {verdict.reason}"
            )
        return 0 if all(v.trusted for v in verdicts) else 1
