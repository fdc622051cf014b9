"""The full ``jupyter qsecure`` command: every subcommand, on Jupyter's application
machinery (traitlets options, config). :func:`jupyter_qsecure.cli.main` comes here for
everything :mod:`.fast` does not handle."""

from __future__ import annotations

import sys

from jupyter_core.application import JupyterApp

from .._version import __version__
from .audit import AuditApp
from .base import USAGE_ERROR, UsageError, _Subcommand
from .fast import path_error
from .guard import RulesApp, ScanApp
from .manifest import ManifestApp
from .provenance import AttestApp, ProvenanceApp
from .reproduce import ReproduceApp
from .secrets import SecretsApp
from .signing import ExportSignatureApp, PayloadApp, SignApp, VerifyApp, VerifyAttestationApp


class QSecureCLI(JupyterApp):
    """The ``jupyter qsecure`` command."""

    name = "jupyter-qsecure"
    version = __version__
    description = "jupyter-qsecure: secure notebooks. Subcommands: scan, rules, secrets, provenance, attest, manifest, reproduce."
    subcommands = {
        "scan": (ScanApp, ScanApp.description.splitlines()[0]),
        "rules": (RulesApp, RulesApp.description.splitlines()[0]),
        "secrets": (SecretsApp, SecretsApp.description),
        "provenance": (ProvenanceApp, ProvenanceApp.description.splitlines()[0]),
        "attest": (AttestApp, AttestApp.description.splitlines()[0]),
        "payload": (PayloadApp, PayloadApp.description.splitlines()[0]),
        "sign": (SignApp, SignApp.description.splitlines()[0]),
        "verify": (VerifyApp, VerifyApp.description.splitlines()[0]),
        "export-signature": (ExportSignatureApp, ExportSignatureApp.description),
        "verify-attestation": (
            VerifyAttestationApp,
            VerifyAttestationApp.description.splitlines()[0],
        ),
        "audit": (AuditApp, AuditApp.description.splitlines()[0]),
        "manifest": (ManifestApp, ManifestApp.description),
        "reproduce": (ReproduceApp, ReproduceApp.description.splitlines()[0]),
    }

    def start(self) -> None:
        if self.subapp is None:
            print(
                "Usage: jupyter qsecure SUBCOMMAND ... (subcommands: "
                + ", ".join(self.subcommands)
                + ")",
                file=sys.stderr,
            )
            self.exit(USAGE_ERROR)
        super().start()


def main(argv: list[str]) -> int:
    """Run a subcommand with Jupyter's application machinery; its exit code."""
    app = QSecureCLI()
    try:
        try:
            app.initialize(argv)
        except SystemExit as exit_:
            # traitlets exits with 1 on a bad option value; for us that is a usage error.
            return (
                USAGE_ERROR
                if exit_.code == 1
                else (exit_.code if isinstance(exit_.code, int) else 0)
            )
        subapp = app.subapp
        while subapp is not None and not isinstance(subapp, _Subcommand):
            if subapp.subapp is None:
                print(
                    f"Usage: {subapp.name.replace('-', ' ')} SUBCOMMAND (one of: {', '.join(subapp.subcommands)})",
                    file=sys.stderr,
                )
                return USAGE_ERROR
            subapp = subapp.subapp
        if subapp is None:
            app.start()
            return 0
        code = subapp.run()
    except UsageError as error:
        print(f"jupyter qsecure: error: {error}", file=sys.stderr)
        code = USAGE_ERROR
    except OSError as error:
        if error.filename is None:  # not about a path the user gave (standard output's own)
            raise
        print(f"jupyter qsecure: error: {path_error(error)}", file=sys.stderr)
        code = USAGE_ERROR
    except KeyboardInterrupt:
        code = 130
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else USAGE_ERROR
    return code
