"""``jupyter qsecure ...``: the command line. Exit codes: 0 fine, 1 findings or a failed
check, 2 usage or unreadable input.

One module per capability (guard, secrets, provenance, signing, audit); :mod:`.app`
composes them into the ``jupyter qsecure`` command. ``main`` first offers the arguments to
:mod:`.fast`, which runs ``verify`` and ``payload`` without loading Jupyter's application
machinery (a reviewer's loop and a pipe into ssh-keygen pay for start-up only); the names
below are imported on first use.
"""

from __future__ import annotations

import sys

from .._lazy import lazy_exports

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import FrameType

    from .app import QSecureCLI
    from .audit import AuditApp
    from .base import USAGE_ERROR, UsageError
    from .guard import RulesApp, ScanApp
    from .manifest import ManifestApp
    from .provenance import AttestApp, ProvenanceApp
    from .reproduce import ReproduceApp
    from .secrets import SecretsApp, SecretsCheckApp, SecretsListApp, SecretsSetApp
    from .signing import ExportSignatureApp, PayloadApp, SignApp, VerifyApp, VerifyAttestationApp

__all__ = [
    "USAGE_ERROR",
    "AttestApp",
    "AuditApp",
    "ExportSignatureApp",
    "ManifestApp",
    "PayloadApp",
    "ProvenanceApp",
    "QSecureCLI",
    "ReproduceApp",
    "RulesApp",
    "ScanApp",
    "SecretsApp",
    "SecretsCheckApp",
    "SecretsListApp",
    "SecretsSetApp",
    "SignApp",
    "UsageError",
    "VerifyApp",
    "VerifyAttestationApp",
    "console_main",
    "main",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "QSecureCLI": ".app",
        "AuditApp": ".audit",
        "USAGE_ERROR": ".base",
        "UsageError": ".base",
        "_Subcommand": ".base",
        "RulesApp": ".guard",
        "ScanApp": ".guard",
        "ManifestApp": ".manifest",
        "AttestApp": ".provenance",
        "ProvenanceApp": ".provenance",
        "ReproduceApp": ".reproduce",
        "SecretsApp": ".secrets",
        "SecretsCheckApp": ".secrets",
        "SecretsListApp": ".secrets",
        "SecretsSetApp": ".secrets",
        "ExportSignatureApp": ".signing",
        "PayloadApp": ".signing",
        "SignApp": ".signing",
        "VerifyApp": ".signing",
        "VerifyAttestationApp": ".signing",
    },
)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``jupyter-qsecure``: run a subcommand and return its exit code."""
    argv = sys.argv[1:] if argv is None else argv
    from .fast import fast_main

    code = fast_main(argv)
    if code is not None:
        return code
    from .app import main as full_main

    return full_main(argv)


def console_main() -> None:
    """The ``jupyter-qsecure`` program (and ``python -m jupyter_qsecure``): :func:`main` on
    the process's arguments, then exit with its code. ``verify`` and ``payload`` end the
    process as soon as their output is flushed (:func:`.fast.exit_now`) when it is the
    process's own program, and raise SystemExit as usual inside a host. As the program,
    output that cannot be written ends it cleanly (:mod:`.output`)."""
    argv = sys.argv[1:]
    program = _is_the_program(sys._getframe(1))
    from .fast import exit_now, fast_main

    fast = False

    def run() -> int:
        nonlocal fast
        code = fast_main(argv)
        if code is not None:
            fast = True
            return code
        from .app import main as full_main

        return full_main(argv)

    if not program:
        sys.exit(run())
    # Text from a file can hold what has no UTF-8 form (a lone surrogate from a \ud800
    # escape): a report that prints it unescaped shows an escape, not a traceback.
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="backslashreplace")
    from .output import run_with_output_guarded

    code = run_with_output_guarded(run)
    if fast:
        exit_now(code)
    sys.exit(code)


def _is_the_program(caller: FrameType | None) -> bool:
    """Whether ``caller`` is the top level of the process's own program: a console script,
    ``python -c``, or ``python -m`` (only runpy's frames above it), with no prompt to
    follow (``python -i``). A host that runs the program inside its process (IPython's
    ``%run -m``, ``runpy.run_module``, a profiler, a debugger, a test runner calling the
    entry point) has work left after it returns, which ending the process at once would
    cut off."""
    if caller is None or caller.f_code.co_name != "<module>" or sys.flags.inspect:
        return False
    if caller.f_globals.get("__name__") != "__main__":
        return False
    outer = caller.f_back
    while outer is not None:
        if outer.f_globals.get("__name__") != "runpy":
            return False
        outer = outer.f_back
    return True
