"""Every rule proves itself: its positive examples are found and its negative ones are not,
in a text file and in every notebook field, and ``jupyter qsecure rules --check`` says so."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import code, markdown, notebook
from qsecure_cli import run_qsecure

import jupyter_qsecure.cli.guard as guard_cli
from jupyter_qsecure.guard import RULES, Scanner
from jupyter_qsecure.guard.context import CONTEXT_RULE
from jupyter_qsecure.guard.engine import Engine
from jupyter_qsecure.guard.rule import Rule, expand
from jupyter_qsecure.guard.rule_check import check_rule

SCANNER = Scanner()
ALL_RULES = (*RULES, CONTEXT_RULE)


def _output(data: dict[str, Any]) -> dict[str, Any]:
    return {"output_type": "execute_result", "execution_count": 1, "data": data, "metadata": {}}


def _stream(text: str) -> dict[str, Any]:
    return {"output_type": "stream", "name": "stdout", "text": text.splitlines(keepends=True)}


#: The notebook forms a text can take. Code cells' sources are code: rules for unquoted
#: ``name = value`` (``config_only``) do not apply there, by design.
FORMS: dict[str, tuple[Callable[[str], dict[str, Any]], bool]] = {
    "code source as a string": (lambda t: notebook(code(t)), True),
    "code source as a list": (lambda t: notebook(code(t.splitlines(keepends=True))), True),
    "markdown cell": (lambda t: notebook(markdown(t)), False),
    "stream output": (lambda t: notebook(code("run()", [_stream(t)])), False),
    "text/plain": (lambda t: notebook(code("x", [_output({"text/plain": t})])), False),
    "text/html": (
        lambda t: notebook(code("x", [_output({"text/html": f"<pre>{t}</pre>"})])),
        False,
    ),
    "text/markdown": (lambda t: notebook(code("x", [_output({"text/markdown": t})])), False),
    "traceback": (
        lambda t: notebook(
            code(
                "f()",
                [{"output_type": "error", "ename": "E", "evalue": "", "traceback": [t]}],
            )
        ),
        False,
    ),
    "cell metadata": (lambda t: notebook({**code("x"), "metadata": {"notes": t}}), False),
    "attachment": (
        lambda t: notebook(
            {
                **markdown("![n](attachment:n.txt)"),
                "attachments": {"n.txt": {"text/plain": base64.b64encode(t.encode()).decode()}},
            }
        ),
        False,
    ),
}


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.id)
def test_rule_passes_its_own_examples(rule: Rule) -> None:
    assert [problem.describe() for problem in check_rule(rule)] == []


def _text_fingerprints(text: str) -> set[str]:
    return {f.fingerprint for f in SCANNER.scan_text(text, path=Path("notes.txt")).findings}


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_every_example_is_found_in_every_notebook_form_as_in_a_text_file(rule: Rule) -> None:
    """Recall in a notebook equals recall in a text file: the same values, whatever field
    holds the text (source as a string or a list of lines, outputs, metadata...)."""
    for template in rule.examples:
        text = expand(template)
        in_text = _text_fingerprints(text)
        assert in_text, f"{rule.id}: {template!r} not found in a text file"
        for form, (build, is_code) in FORMS.items():
            if is_code and rule.config_only:
                continue
            if form == "text/html" and "<" in text:
                continue  # markup inside markup: its own syntax, tested by the HTML rules
            found = {f.fingerprint for f in SCANNER.scan_notebook(build(text)).findings}
            assert in_text <= found, f"{rule.id}: {template!r} in {form}"


def test_unquoted_values_are_variables_in_code_cells_only() -> None:
    line = "DB_PASSWORD = whiteduke\n"
    bound = notebook(code("whiteduke = getpass()\n"), code(line))
    assert SCANNER.scan_notebook(bound).findings == []
    # A name that no code cell binds cannot be a variable: a value written without quotes.
    assert [f.rule for f in SCANNER.scan_notebook(notebook(code(line))).findings] == [
        "password-env"
    ]
    assert [f.rule for f in SCANNER.scan_notebook(notebook(markdown(line))).findings] == [
        "password-env"
    ]
    assert SCANNER.scan_text(line, path=Path("settings.py")).findings == []
    assert len(SCANNER.scan_text(line, path=Path("settings.ini")).findings) == 1
    assert len(SCANNER.scan_text(line, path=Path("notes.txt")).findings) == 1


def test_rules_check_passes_and_counts_examples(tmp_path: Path) -> None:
    result = run_qsecure("rules", "--check", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""
    total = len(ALL_RULES)
    assert f"{total} of {total} rule(s) pass" in result.stderr


def test_rules_check_fails_on_a_rule_without_proof(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loose = Rule(
        "lab-loose",
        "Lab token",
        r"\b(?P<secret>lab_[a-z]+)",
        "lab_",
        examples=("token lab_{a:8}",),
        negative_examples=("lab_notebook",),  # the pattern finds it: the check must say so
    )
    bare = Rule("lab-bare", "Lab token", r"\b(?P<secret>lbt_[a-z0-9]{20})", "lbt_")
    monkeypatch.setattr(guard_cli, "available_rules", lambda: (*RULES, loose, bare))
    result = run_qsecure("rules", "--check", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "lab-loose: finds its negative example: 'lab_notebook'",
        "lab-bare: has no positive example",
        "lab-bare: has no negative example",
    ]


def test_rules_lists_the_notebook_context_rule(tmp_path: Path) -> None:
    result = run_qsecure("rules", cwd=tmp_path)
    assert result.returncode == 0
    assert "notebook-context-credential" in result.stdout


def test_rules_rejects_an_argument(tmp_path: Path) -> None:
    result = run_qsecure("rules", "everything", cwd=tmp_path)
    assert result.returncode == 2
    assert "unexpected argument 'everything'" in result.stderr


PURE_PYTHON = Scanner(engine=Engine(RULES, use_hyperscan=False))


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_hyperscan_and_python_engines_agree_on_every_example(rule: Rule) -> None:
    assert SCANNER.engine.uses_hyperscan
    for template in (*rule.examples, *rule.negative_examples):
        text = expand(template)
        path = Path("notes.txt")
        assert SCANNER.scan_text(text, path=path) == PURE_PYTHON.scan_text(text, path=path), (
            template
        )
