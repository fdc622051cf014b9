"""``jupyter qsecure ...``: the command line. Exit codes: 0 fine, 1 findings or a failed
check, 2 usage or unreadable input."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from jupyter_core.application import JupyterApp
from traitlets import Bool, Enum, Integer, List, TraitError, Unicode
from traitlets.config.loader import ArgumentError

from ._version import __version__
from .config import PolicyError, load_policy
from .guard import RULES, Allowlist, AllowlistError, Baseline, Scanner
from .guard.report import exit_code, json_report, sarif_report, scan_files, text_lines

USAGE_ERROR = 2


class UsageError(Exception):
    """Wrong arguments or unusable configuration: printed on one line, exit code 2."""


class _Subcommand(JupyterApp):
    """Common behaviour: no config file writing, usage errors as exit code 2."""

    version = __version__

    def initialize(self, argv: Any = None) -> None:
        try:
            super().initialize(argv)
        except (ArgumentError, TraitError) as error:
            raise UsageError(str(error)) from None

    def run(self) -> int:
        """Do the work and return the exit code."""
        raise NotImplementedError


class ScanApp(_Subcommand):
    """Scan notebooks and files (folders recursively) for credentials."""

    name = "jupyter-qsecure-scan"
    description = """Scan notebooks and files for credentials.

    jupyter qsecure scan [--format text|json|sarif] [--baseline FILE] PATH...

    Exit code 0 when clean, 1 when a credential is found, 2 on usage errors or a file that
    cannot be scanned (each gets one line on stderr and the scan goes on). Findings show a
    masked preview and a fingerprint, never the value."""
    examples = """
    jupyter qsecure scan analysis.ipynb
    jupyter qsecure scan --format sarif --baseline .secrets.baseline . > qsecure.sarif
    """

    format = Enum(["text", "json", "sarif"], default_value="text", help="Report format.").tag(
        config=True
    )
    baseline = Unicode(
        "", help="A detect-secrets .secrets.baseline whose secrets are accepted."
    ).tag(config=True)
    use_policy = Bool(
        True, help="Apply the [guard] settings of qsecure.toml (disabled rules, limits)."
    ).tag(config=True)

    aliases = {"format": "ScanApp.format", "baseline": "ScanApp.baseline"}
    flags = {"no-policy": ({"ScanApp": {"use_policy": False}}, "Ignore qsecure.toml.")}

    def run(self) -> int:
        if not self.extra_args:
            raise UsageError(
                "name at least one file or folder to scan, e.g. `jupyter qsecure scan .`"
            )
        rules = RULES
        max_bytes = None
        if self.use_policy:
            try:
                guard = load_policy().guard
            except PolicyError as error:
                raise UsageError(str(error)) from None
            rules = tuple(rule for rule in RULES if rule.id not in guard.disabled_rules)
            max_bytes = guard.max_bytes
        allowlist = Allowlist()
        if self.baseline:
            try:
                allowlist = Allowlist([Baseline.load(Path(self.baseline))])
            except AllowlistError as error:
                raise UsageError(str(error)) from None
        scanner = Scanner.with_rules(rules, allowlist=allowlist)
        if max_bytes:
            scanner.max_bytes = max_bytes
        reports = []
        for report in scan_files(scanner, [Path(arg) for arg in self.extra_args]):
            reports.append(report)
            if report.error:
                print(f"{report.path}: error: {report.error}", file=sys.stderr)
            elif report.skipped and report.path in {Path(arg) for arg in self.extra_args}:
                print(f"{report.path}: skipped: {report.skipped}", file=sys.stderr)
            if self.format == "text":
                for line in text_lines(report):
                    print(line)
        if self.format == "json":
            print(json.dumps(json_report(reports), indent=2))
        elif self.format == "sarif":
            print(json.dumps(sarif_report(reports, Path.cwd()), indent=2))
        found = sum(len(report.findings) for report in reports)
        with_findings = sum(1 for report in reports if report.findings)
        errors = sum(1 for report in reports if report.error)
        summary = f"{found} finding(s) in {with_findings} of {len(reports)} file(s)"
        if errors:
            summary += f"; {errors} file(s) could not be scanned"
        print(summary, file=sys.stderr)
        return exit_code(reports)


class RulesApp(_Subcommand):
    """List the credential formats the guard detects."""

    name = "jupyter-qsecure-rules"
    description = "List the rules of the leak guard: id and kind (use ids in guard.disabled_rules)."

    def run(self) -> int:
        for rule in RULES:
            print(f"{rule.id:32} {rule.kind}")
        return 0


def _secrets_service() -> Any:
    from .secrets.providers import Providers
    from .secrets.registry import REGISTRY
    from .secrets.service import SecretsService

    try:
        policy = load_policy()
    except PolicyError as error:
        raise UsageError(str(error)) from None
    return policy, SecretsService(policy.secrets, Providers(policy.secrets), REGISTRY)


class SecretsListApp(_Subcommand):
    """List the secrets of the policy: names, sources, grants. Never values."""

    name = "jupyter-qsecure-secrets-list"
    description = "List secrets: name, source, notebooks, kernels, users (never values)."

    def run(self) -> int:
        policy, _ = _secrets_service()
        print(f"policy: {policy.source}")
        grants = policy.secrets.grants
        if not grants:
            print("no secrets defined; add [secrets.NAME] tables to qsecure.toml")
        for grant in grants.values():
            print(f"{grant.name}  {grant.source}")
            print(
                f"    notebooks: {', '.join(grant.notebooks) or '(none: granted to no notebook)'}"
            )
            if grant.kernels is not None:
                print(f"    kernels:   {', '.join(grant.kernels)}")
            if grant.users is not None:
                print(f"    users:     {', '.join(grant.users)}")
        return 0


class SecretsSetApp(_Subcommand):
    """Store a secret's value: read from a prompt (or standard input), never from arguments."""

    name = "jupyter-qsecure-secrets-set"
    description = """Store the value of secret NAME in its store (the keyring by default).

    jupyter qsecure secrets set NAME        (prompts; or pipe the value on standard input)"""

    def run(self) -> int:
        from .secrets.errors import ProviderError

        if len(self.extra_args) != 1:
            raise UsageError(
                "name one secret: jupyter qsecure secrets set NAME (the value is read from a prompt or stdin)"
            )
        (name,) = self.extra_args
        if not name.isidentifier():
            raise UsageError(
                f"{name!r}: a secret's name becomes an environment variable; use letters, digits and _"
            )
        policy, service = _secrets_service()
        if sys.stdin.isatty():
            import getpass

            value = getpass.getpass(f"Value for {name} (not shown): ")
        else:
            value = sys.stdin.read().rstrip("\r\n")
        if not value:
            raise UsageError("no value given")
        try:
            ref = service.set_value(name, value)
        except ValueError as error:
            raise UsageError(str(error)) from None
        except ProviderError as error:
            print(f"jupyter qsecure: error: {error}", file=sys.stderr)
            return 1
        print(f"stored {name} in {ref}")
        if name not in policy.secrets.grants:
            print(
                f"{name} is not in the policy yet; grant it to notebooks in {policy.source if policy.source.endswith('.toml') else 'qsecure.toml'}:"
            )
            print(f'\n[secrets.{name}]\nsource = "{ref}"\nnotebooks = ["**/*.ipynb"]')
        return 0


class SecretsCheckApp(_Subcommand):
    """Resolve every reference in the policy and say which are reachable, and why not."""

    name = "jupyter-qsecure-secrets-check"
    description = (
        "Check that every secret's store answers: ok, or the reason (exit 1 if any fails)."
    )

    def run(self) -> int:
        policy, service = _secrets_service()
        results = service.check()
        for result in results:
            status = "ok" if result.ok else f"FAILED ({result.reason}): {result.message}"
            print(f"{result.name}  {result.source}  {status}")
        if not results:
            print(f"no secrets defined in {policy.source}")
        return 0 if all(result.ok for result in results) else 1


class SecretsApp(JupyterApp):
    """``jupyter qsecure secrets list|set|check``."""

    name = "jupyter-qsecure-secrets"
    version = __version__
    description = "Manage secrets: list, set NAME, check."
    subcommands = {
        "list": (SecretsListApp, SecretsListApp.description.splitlines()[0]),
        "set": (SecretsSetApp, SecretsSetApp.description.splitlines()[0]),
        "check": (SecretsCheckApp, SecretsCheckApp.description.splitlines()[0]),
    }


def _read_notebook(path: Path) -> dict[str, Any]:
    """A notebook file as a dict, or a UsageError naming what is wrong with it."""
    from .guard.walker import parse_notebook

    try:
        notebook = parse_notebook(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise UsageError(f"{path}: cannot read ({error.strerror or error})") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise UsageError(f"{path}: not a notebook: {error}") from None
    if (
        not isinstance(notebook, dict)
        or notebook.get("nbformat") != 4
        or not isinstance(notebook.get("cells"), list)
    ):
        raise UsageError(f"{path}: not an nbformat 4 notebook")
    return notebook


class ProvenanceApp(_Subcommand):
    """The reviewer's verdict on a notebook, or the provenance log."""

    name = "jupyter-qsecure-provenance"
    description = """Check a notebook against the provenance it carries, or the store's chain.

    jupyter qsecure provenance NOTEBOOK [--format text|json]
        per cell: executed as shown / source edited after execution / outputs changed
        after execution / never executed in a recorded session; and out-of-order runs,
        hidden state, files read that changed since. Exit 0 when every cell is executed
        as shown, 1 otherwise, 2 on bad input. Works offline on the file alone.
    jupyter qsecure provenance log [--verify] [--store FILE]
        list the records of the store; --verify checks the hash chain (exit 1 if broken)."""

    format = Enum(["text", "json"], default_value="text", help="Report format.").tag(config=True)
    verify = Bool(False, help="With `log`: check the hash chain.").tag(config=True)
    store = Unicode("", help="With `log`: the store file (default: this user's).").tag(config=True)
    aliases = {"format": "ProvenanceApp.format", "store": "ProvenanceApp.store"}
    flags = {"verify": ({"ProvenanceApp": {"verify": True}}, "Check the hash chain.")}

    def run(self) -> int:
        if self.extra_args[:1] == ["log"]:
            return self._log()
        if len(self.extra_args) != 1:
            raise UsageError(
                "name one notebook: jupyter qsecure provenance NOTEBOOK (or: provenance log)"
            )
        from .provenance.verdict import judge

        path = Path(self.extra_args[0])
        verdict = judge(_read_notebook(path), path.resolve().parent)
        if self.format == "json":
            print(json.dumps({"notebook": str(path), **verdict.to_json()}, indent=2))
        else:
            for cell in verdict.cells:
                print(
                    f"cell {cell.number}{f' ({cell.cell_id})' if cell.cell_id else ''}: {cell.verdict}"
                )
            for title, items in (
                ("out of order", verdict.out_of_order),
                ("hidden state", verdict.hidden_state),
                ("files changed", verdict.files_changed),
            ):
                for item in items:
                    print(f"{title}: {item}")
            print(
                f"{path}: {'every cell executed as shown' if verdict.ok else 'not every cell is executed as shown'}"
            )
        return 0 if verdict.ok else 1

    def _log(self) -> int:
        from .provenance.kernel import default_store_path
        from .provenance.store import ProvenanceStore
        from .secrets.injection import current_user

        path = Path(self.store) if self.store else default_store_path(current_user())
        if self.store and not path.exists():
            raise UsageError(f"{path}: no such store")
        store = ProvenanceStore(path)
        for row in store.records():
            record = row.record
            where = record.get("notebook") or "-"
            if record.get("kind") == "execution":
                print(
                    f"{row.seq:6} {record.get('started', '')}  {where}  cell {record.get('cell_id')}  [{record.get('execution_count')}] {record.get('status')}  {row.hash[:19]}"
                )
            else:
                print(
                    f"{row.seq:6} environment  {where}  session {record.get('kernel_session')}  {row.hash[:19]}"
                )
        if not self.verify:
            return 0
        problems = store.verify()
        for problem in problems:
            print(f"row {problem.position} (seq {problem.seq}) {problem.problem}", file=sys.stderr)
        print(f"chain {'intact' if not problems else 'BROKEN'}: {store.path}", file=sys.stderr)
        return 0 if not problems else 1


class AttestApp(_Subcommand):
    """Write an in-toto Statement (SLSA provenance v1 predicate) for a notebook run."""

    name = "jupyter-qsecure-attest"
    description = """Write an in-toto Statement v1 for a notebook that carries provenance.

    jupyter qsecure attest NOTEBOOK [--output FILE]   (default: standard output)"""

    output = Unicode("", help="Where to write the statement.").tag(config=True)
    sign = Bool(False, help="Sign it: write a DSSE envelope with an SSH signature.").tag(
        config=True
    )
    key = Unicode("", help="With --sign: the SSH key (default: [signing] key).").tag(config=True)
    aliases = {"output": "AttestApp.output", "o": "AttestApp.output", "key": "AttestApp.key"}
    flags = {"sign": ({"AttestApp": {"sign": True}}, "Write a signed DSSE envelope.")}

    def run(self) -> int:
        from .provenance.attest import attestation

        if len(self.extra_args) != 1:
            raise UsageError("name one notebook: jupyter qsecure attest NOTEBOOK")
        path = Path(self.extra_args[0])
        try:
            statement = attestation(_read_notebook(path), path.name)
        except ValueError as error:
            print(f"jupyter qsecure: error: {error}", file=sys.stderr)
            return 1
        if self.sign:
            from .signing.dsse import sign_envelope
            from .signing.sshsig import SignatureError

            key = Path(self.key) if self.key else _signing_service().settings.key
            if key is None:
                raise UsageError("--sign needs --key PATH (or [signing] key)")
            try:
                statement = sign_envelope(statement, key)
            except SignatureError as error:
                print(f"jupyter qsecure: error: {error}", file=sys.stderr)
                return 1
        text = json.dumps(statement, indent=2)
        if self.output:
            Path(self.output).write_text(text + "\n", encoding="utf-8")
            print(f"wrote {self.output}", file=sys.stderr)
        else:
            print(text)
        return 0


def _signing_service() -> Any:
    from .signing.service import SigningService

    try:
        return SigningService(load_policy().signing)
    except PolicyError as error:
        raise UsageError(str(error)) from None


class PayloadApp(_Subcommand):
    """Print the exact bytes a notebook's signatures sign."""

    name = "jupyter-qsecure-payload"
    description = """Print the canonical bytes that signatures cover, so anyone can check one with
    stock OpenSSH:  jupyter qsecure payload NB.ipynb | ssh-keygen -Y verify -n notebook@jupyter-qsecure -f allowed_signers -I PRINCIPAL -s SIG"""

    def run(self) -> int:
        from .signing.canonical import CanonicalFormError, notebook_payload

        if len(self.extra_args) != 1:
            raise UsageError("name one notebook: jupyter qsecure payload NOTEBOOK")
        path = Path(self.extra_args[0])
        try:
            payload = notebook_payload(_read_notebook(path))
        except CanonicalFormError as error:
            raise UsageError(f"{path}: {error}") from None
        sys.stdout.buffer.write(payload)
        sys.stdout.flush()
        return 0


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
        from .signing.canonical import CanonicalFormError
        from .signing.sshsig import SignatureError

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
        path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(
            f"signed {path} as {entry['principal']} ({entry['role']}) with {entry['key_fingerprint']}"
        )
        return 0


class VerifyApp(_Subcommand):
    """Verify notebooks' signatures against allowed signers and a policy."""

    name = "jupyter-qsecure-verify"
    description = """Verify signatures: valid over the notebook as it is, trusted by allowed_signers,
    enough of them in the required roles.

    jupyter qsecure verify NOTEBOOK... [--allowed-signers FILE] [--require N] [--require-role ROLE] [--format text|json]
    Trust comes only from allowed_signers (--allowed-signers, else [signing] allowed_signers):
    without one no signature is trusted. Exit 0 when every notebook meets the policy, 1 when
    one does not, 2 on bad input."""

    allowed_signers = Unicode("", help="allowed_signers file (git / ssh-keygen format).").tag(
        config=True
    )
    require = Integer(-1, help="Signatures required (default: [signing] require, else 1).").tag(
        config=True
    )
    require_role = List(
        Unicode(), help="A role that must be among the signatures (repeatable)."
    ).tag(config=True)
    format = Enum(["text", "json"], default_value="text", help="Report format.").tag(config=True)
    aliases = {
        "allowed-signers": "VerifyApp.allowed_signers",
        "require": "VerifyApp.require",
        "require-role": "VerifyApp.require_role",
        "format": "VerifyApp.format",
    }

    def run(self) -> int:
        from .signing.allowed_signers import AllowedSignersError
        from .signing.canonical import CanonicalFormError
        from .signing.signatures import NO_ALLOWED_SIGNERS

        if not self.extra_args:
            raise UsageError("name at least one notebook: jupyter qsecure verify NOTEBOOK...")
        service = _signing_service().with_overrides(
            allowed_signers=Path(self.allowed_signers) if self.allowed_signers else None,
            require=self.require if self.require >= 0 else None,
            require_roles=tuple(self.require_role) or None,
        )
        if service.settings.allowed_signers is None:
            print(f"jupyter qsecure: {NO_ALLOWED_SIGNERS}", file=sys.stderr)
        reports = []
        code = 0
        for argument in self.extra_args:
            path = Path(argument)
            try:
                verdict = service.verify(_read_notebook(path))
            except AllowedSignersError as error:
                raise UsageError(str(error)) from None
            except CanonicalFormError as error:
                raise UsageError(f"{path}: {error}") from None
            code = max(code, 0 if verdict.meets_policy else 1)
            reports.append({"notebook": str(path), **verdict.to_json()})
            if self.format == "text":
                print(
                    f"{path}: {verdict.status}; {verdict.policy_message}; {'meets the policy' if verdict.meets_policy else 'does NOT meet the policy'}"
                )
                for result in verdict.results:
                    state = "valid" if result.valid else "INVALID"
                    trusted = "trusted" if result.trusted else "not trusted"
                    print(
                        f"  [{result.index}] {result.principal} ({result.role}) {result.signed_at} {result.fingerprint}: {state}, {trusted}{f' - {result.reason}' if result.reason else ''}"
                    )
                    if result.changed_cells:
                        print(
                            f"      cells changed since signing: {', '.join(result.changed_cells)}"
                        )
        if self.format == "json":
            print(json.dumps(reports, indent=2))
        return code


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
        from .signing.signatures import signatures_of

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
                f"{path} has {len(entries)} signature(s); --index must be 0..{max(len(entries) - 1, 0)}"
            )
        armored = entries[self.index]["signature"]
        if self.output:
            Path(self.output).write_text(
                armored if armored.endswith("\n") else armored + "\n", encoding="utf-8"
            )
        else:
            print(armored.rstrip("\n"))
        return 0


class VerifyAttestationApp(_Subcommand):
    """Verify a signed attestation (DSSE envelope with SSH signatures)."""

    name = "jupyter-qsecure-verify-attestation"
    description = """Verify a DSSE envelope written by `jupyter qsecure attest --sign`.

    jupyter qsecure verify-attestation ENVELOPE [--allowed-signers FILE]"""
    allowed_signers = Unicode(
        "", help="allowed_signers file; its keys must allow namespace attestation@jupyter-qsecure."
    ).tag(config=True)
    aliases = {"allowed-signers": "VerifyAttestationApp.allowed_signers"}

    def run(self) -> int:
        from datetime import datetime, timezone

        from .signing.allowed_signers import AllowedSignersError, load_allowed_signers, trust
        from .signing.dsse import NAMESPACE, verify_envelope
        from .signing.sshsig import SignatureError

        if len(self.extra_args) != 1:
            raise UsageError("name one envelope: jupyter qsecure verify-attestation FILE")
        path = Path(self.extra_args[0])
        try:
            envelope = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise UsageError(f"{path}: not a JSON envelope ({error})") from None
        try:
            statement, keys = verify_envelope(envelope)
        except SignatureError as error:
            print(f"{path}: INVALID: {error}")
            return 1
        subjects = ", ".join(s.get("name", "?") for s in statement.get("subject", []))
        print(
            f"{path}: {len(keys)} valid signature(s) over {statement.get('predicateType')} for {subjects}"
        )
        if not self.allowed_signers and not _signing_service().settings.allowed_signers:
            print(
                f"{path}: NOT trusted: no allowed_signers file, so no signature is trusted: "
                "pass --allowed-signers FILE or set [signing] allowed_signers in qsecure.toml",
                file=sys.stderr,
            )
            return 1
        try:
            signers = load_allowed_signers(
                Path(self.allowed_signers)
                if self.allowed_signers
                else _signing_service().settings.allowed_signers
            )
        except AllowedSignersError as error:
            raise UsageError(str(error)) from None
        now = datetime.now(timezone.utc)
        verdicts = [
            trust(signers, key.public_key, NAMESPACE, signed_at=now, now=now) for key in keys
        ]
        for key, verdict in zip(keys, verdicts, strict=True):
            print(
                f"  {key.fingerprint}: {'trusted' if verdict.trusted else 'NOT trusted'} {verdict.reason}"
            )
        return 0 if all(v.trusted for v in verdicts) else 1


class AuditApp(_Subcommand):
    """Summarise the audit trail and flag anomalies."""

    name = "jupyter-qsecure-audit"
    description = """Summarise the audit trail (counts per event type and user) and flag anomalies.

    jupyter qsecure audit [--since 7d|24h|2026-11-01] [--format text|json] [--file PATH] [--stale-days 30]
    Reads the trail the server writes ([audit] file, else <jupyter data dir>/qsecure/audit.jsonl)
    and its rotated files. Exit 0 when nothing is flagged, 1 when an anomaly is, 2 on bad input."""
    examples = """
    jupyter qsecure audit --since 7d
    jupyter qsecure audit --file audit.jsonl --format json
    """

    since = Unicode("", help="Count and report from: 24h, 7d, 2w, or a date (UTC).").tag(
        config=True
    )
    format = Enum(["text", "json"], default_value="text", help="Report format.").tag(config=True)
    file = Unicode("", help="The trail file (default: [audit] file, else the data dir's).").tag(
        config=True
    )
    stale_days = Integer(
        None,
        allow_none=True,
        help="Flag will_rotate bypasses open longer than this (default: [audit] stale_days).",
    ).tag(config=True)
    aliases = {
        "since": "AuditApp.since",
        "format": "AuditApp.format",
        "file": "AuditApp.file",
        "stale-days": "AuditApp.stale_days",
    }

    def run(self) -> int:
        from datetime import datetime, timezone

        from .audit import TrailError, default_audit_file, read_trail
        from .audit.report import analyse, json_report, parse_since, text_lines

        if self.extra_args:
            raise UsageError(
                f"unexpected argument {self.extra_args[0]!r}; name the trail with --file PATH"
            )
        try:
            settings = load_policy().audit
        except PolicyError as error:
            raise UsageError(str(error)) from None
        now = datetime.now(timezone.utc)
        try:
            since = parse_since(self.since, now) if self.since else None
        except ValueError as error:
            raise UsageError(str(error)) from None
        stale_days = settings.stale_days if self.stale_days is None else self.stale_days
        if stale_days < 1:
            raise UsageError(f"--stale-days: expected 1 or more, got {stale_days}")
        path = Path(self.file).expanduser() if self.file else settings.file or default_audit_file()
        try:
            trail = read_trail(path)
        except TrailError as error:
            raise UsageError(str(error)) from None
        report = analyse(
            trail, now=now, since=since, stale_days=stale_days, rotated=settings.rotated
        )
        if self.format == "json":
            print(json.dumps(json_report(report), indent=2))
            if report.malformed:
                print(f"{path}: skipped {report.malformed} malformed line(s)", file=sys.stderr)
        else:
            for line in text_lines(report):
                print(line)
        return 1 if report.anomalies else 0


class QSecureCLI(JupyterApp):
    """The ``jupyter qsecure`` command."""

    name = "jupyter-qsecure"
    version = __version__
    description = (
        "jupyter-qsecure: secure notebooks. Subcommands: scan, rules, secrets, provenance, attest."
    )
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


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``jupyter-qsecure``: run a subcommand and return its exit code."""
    argv = sys.argv[1:] if argv is None else argv
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
    except KeyboardInterrupt:
        code = 130
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else USAGE_ERROR
    return code


if __name__ == "__main__":
    sys.exit(main())
