"""``jupyter qsecure scan`` and ``rules``: the leak guard on the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from traitlets import Bool, Enum, Unicode

from .._shown import shown_path
from ..config import PolicyError, load_policy
from ..guard import Allowlist, AllowlistError, Baseline, Scanner
from ..guard.context import CONTEXT_RULE
from ..guard.plugins import active_rules, available_rules, plugin_rules
from ..guard.report import exit_code, json_report, sarif_report, scan_files, text_lines
from ..guard.rule_check import check_rules
from .base import UsageError, _Subcommand


class ScanApp(_Subcommand):
    """Scan notebooks and files (folders recursively) for credentials."""

    name = "jupyter-qsecure-scan"
    description = """Scan notebooks and files for credentials.

    jupyter qsecure scan [--format text|json|sarif] [--baseline FILE] PATH...

    In a folder inside a git work tree, what git ignores is skipped (--no-gitignore scans it
    too; a file named explicitly is always scanned). Exit code 0 when clean, 1 when a
    credential is found, 2 on usage errors, a file that cannot be scanned or a rule plug-in
    that cannot be loaded (each gets one line on stderr and the scan goes on). Findings show
    a masked preview and a fingerprint, never the value."""
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
    use_gitignore = Bool(
        True,
        help="In folders inside a git work tree, skip the files and folders git ignores.",
    ).tag(config=True)

    aliases = {"format": "ScanApp.format", "baseline": "ScanApp.baseline"}
    flags = {
        "no-policy": ({"ScanApp": {"use_policy": False}}, "Ignore qsecure.toml."),
        "no-gitignore": (
            {"ScanApp": {"use_gitignore": False}},
            "Scan every file of a folder, including those git ignores.",
        ),
    }

    def run(self) -> int:
        if not self.extra_args:
            raise UsageError(
                "name at least one file or folder to scan, e.g. `jupyter qsecure scan .`"
            )
        disabled: tuple[str, ...] = ()
        max_bytes = None
        if self.use_policy:
            try:
                guard = load_policy().guard
            except PolicyError as error:
                raise UsageError(str(error)) from None
            disabled = guard.disabled_rules
            max_bytes = guard.max_bytes
        rules = active_rules(disabled)
        broken = _report_broken_plugins()
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
        for report in scan_files(
            scanner,
            [Path(arg) for arg in self.extra_args],
            gitignore=self.use_gitignore,
            warn=lambda message: print(message, file=sys.stderr),
        ):
            reports.append(report)
            if report.error:
                print(f"{shown_path(report.path)}: error: {report.error}", file=sys.stderr)
            elif report.skipped and report.path in {Path(arg) for arg in self.extra_args}:
                print(f"{shown_path(report.path)}: skipped: {report.skipped}", file=sys.stderr)
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
        if broken:
            summary += f"; {broken} rule plug-in(s) could not be loaded"
        print(summary, file=sys.stderr)
        return 2 if broken else exit_code(reports)


def _report_broken_plugins() -> int:
    """One line on stderr for each rule plug-in that could not be loaded; how many."""
    broken = [plugin for plugin in plugin_rules() if plugin.problem is not None]
    for plugin in broken:
        print(f"error: {plugin.describe()}", file=sys.stderr)
    return len(broken)


class RulesApp(_Subcommand):
    """List the credential formats the guard detects, or check them against their examples."""

    name = "jupyter-qsecure-rules"
    description = """List the rules of the leak guard: id and kind (use ids in guard.disabled_rules).

    jupyter qsecure rules [--check]

    Rules added by plug-ins (entry point group jupyter_qsecure.rules) follow the built-in
    ones, with the plug-in's name. With --check, every rule (plug-ins' included) is run on
    its own positive and negative examples: one line per problem, exit code 1 when a rule
    misses an example, finds a negative one or has none of either kind. A plug-in that
    cannot be loaded gets a line on stderr saying why, and the exit code is 2."""
    examples = """
    jupyter qsecure rules
    jupyter qsecure rules --check
    """

    check = Bool(False, help="Run every rule on its positive and negative examples.").tag(
        config=True
    )
    flags = {
        "check": (
            {"RulesApp": {"check": True}},
            "Run every rule on its own examples; exit code 1 if one fails.",
        )
    }

    def run(self) -> int:
        if self.extra_args:
            raise UsageError(f"unexpected argument {self.extra_args[0]!r}; see --help")
        if self.check:
            return self._check()
        origin = {
            rule.id: f"  (plug-in {plugin.name})"
            for plugin in plugin_rules()
            for rule in plugin.rules
        }
        builtin = [rule for rule in available_rules() if rule.id not in origin]
        plugged = [rule for rule in available_rules() if rule.id in origin]
        for rule in (*builtin, CONTEXT_RULE, *plugged):
            print(f"{rule.id:32} {rule.kind}{origin.get(rule.id, '')}")
        return 2 if _report_broken_plugins() else 0

    def _check(self) -> int:
        rules = (*available_rules(), CONTEXT_RULE)
        problems = check_rules(rules)
        for problem in problems:
            print(problem.describe())
        failed = len({problem.rule for problem in problems})
        examples = sum(len(rule.examples) + len(rule.negative_examples) for rule in rules)
        print(
            f"{len(rules) - failed} of {len(rules)} rule(s) pass their {examples} example(s)",
            file=sys.stderr,
        )
        if _report_broken_plugins():
            return 2
        return 1 if problems else 0
