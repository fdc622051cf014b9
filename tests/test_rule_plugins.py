"""Guard rules plugged in through the ``jupyter_qsecure.rules`` entry point group, from a real
installed distribution: compiled into the same engine, listed, disabled by policy, and a
broken plug-in named with its reason while every other rule still applies."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import code, notebook
from corpus import expand
from plugin_dist import install_plugin
from qsecure_cli import run_qsecure
from tornado.httpclient import HTTPClientError

from jupyter_qsecure.config import PolicyError, parse_policy
from jupyter_qsecure.guard import Scanner, active_rules, available_rules, plugin_rules
from jupyter_qsecure.guard.engine import Engine, hyperscan
from jupyter_qsecure.guard.plugins import ENTRY_POINT_GROUP
from jupyter_qsecure.guard.rules import RULES

PLUGIN = r"""
from jupyter_qsecure.guard import Rule

def rules():
    return [Rule("lab-api-key", "Lab API key", r"(?P<secret>LAB-[A-Za-z0-9]{24})\b", "LAB-",
                 visible_prefix=4)]

SESSIONS = (Rule("lab-session", "Lab session", r"(?P<secret>LABS-[0-9a-f]{32})", "LABS-"),)

def no_group():
    return [Rule("lab-nogroup", "Lab", r"LABX-[0-9]{8}", "LABX-")]

def empty_trigger():
    return [Rule("lab-empty", "Lab", r"(?P<secret>LABZ-[0-9]{8})", "(?:LABZ-)?")]

def lookbehind():
    return [Rule("lab-look", "Lab", r"(?P<secret>LABY-[0-9]{8})", r"(?<=\s)LABY-")]

def taken():
    return [Rule("github-token", "Not GitHub", r"(?P<secret>x{9})", "xxxxxxxxx")]

def twice():
    return [Rule("lab-twice", "Lab", r"(?P<secret>LABT-[0-9]{8})", "LABT-")] * 2

def number():
    return 42

def down():
    raise RuntimeError("the lab's rule server is down")
"""

GOOD = {"lab": "qsecure_lab_rules:rules", "sessions": "qsecure_lab_rules:SESSIONS"}
BAD = {
    "nogroup": "qsecure_lab_rules:no_group",
    "empty": "qsecure_lab_rules:empty_trigger",
    "look": "qsecure_lab_rules:lookbehind",
    "taken": "qsecure_lab_rules:taken",
    "twice": "qsecure_lab_rules:twice",
    "number": "qsecure_lab_rules:number",
    "down": "qsecure_lab_rules:down",
    "missing": "qsecure_no_such_module:rules",
}


def fresh_plugins() -> Iterator[None]:
    plugin_rules.cache_clear()
    yield
    plugin_rules.cache_clear()


@pytest.fixture
def lab_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The lab's rules installed, the good plug-ins only."""
    install_plugin(
        tmp_path / "site", monkeypatch, "qsecure-lab-rules", {ENTRY_POINT_GROUP: GOOD}, PLUGIN
    )
    yield from fresh_plugins()


@pytest.fixture
def broken_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The lab's rules installed with every kind of broken plug-in next to the good ones."""
    install_plugin(
        tmp_path / "site",
        monkeypatch,
        "qsecure-lab-rules",
        {ENTRY_POINT_GROUP: {**GOOD, **BAD}},
        PLUGIN,
    )
    yield from fresh_plugins()


@pytest.fixture
def lab_key() -> str:
    return expand("LAB-{A:24}", random.Random(19))


@pytest.fixture
def github_token() -> str:
    return expand("gh" + "p_{A:36}", random.Random(19))


def test_plugin_rules_join_the_same_engine(lab_rules: None, lab_key: str) -> None:
    ids = [rule.id for rule in available_rules()]
    assert ids == [*(rule.id for rule in RULES), "lab-api-key", "lab-session"]
    scanner = Scanner()
    assert [rule.id for rule in scanner.engine.rules] == ids
    assert scanner.engine.uses_hyperscan == (hyperscan is not None)
    nb = notebook(code(f'connect("{lab_key}")'))
    [finding] = scanner.scan_notebook(nb).findings
    assert (finding.rule, finding.kind, finding.preview) == (
        "lab-api-key",
        "Lab API key",
        f"LAB-…{lab_key[-3:]}",
    )
    pure_python = Scanner(engine=Engine(available_rules(), use_hyperscan=False))
    assert pure_python.scan_notebook(nb).findings == [finding]


def test_a_disabled_plugin_rule_is_not_applied(lab_rules: None, lab_key: str) -> None:
    guard = parse_policy('[guard]\ndisabled_rules = ["lab-api-key"]\n').guard
    assert guard.disabled_rules == ("lab-api-key",)
    rules = active_rules(guard.disabled_rules)
    assert "lab-api-key" not in {rule.id for rule in rules}
    assert "lab-session" in {rule.id for rule in rules}
    assert not Scanner.with_rules(rules).scan_text(f"x = '{lab_key}'\n")
    assert Scanner.with_rules().scan_text(f"x = '{lab_key}'\n")
    with pytest.raises(PolicyError, match=r"unknown rule 'lab-api-keys'; see `jupyter qsecure"):
        parse_policy('[guard]\ndisabled_rules = ["lab-api-keys"]\n')


def test_without_the_plugin_its_rule_is_unknown() -> None:
    plugin_rules.cache_clear()
    with pytest.raises(PolicyError, match=r"unknown rule 'lab-api-key'"):
        parse_policy('[guard]\ndisabled_rules = ["lab-api-key"]\n')


def test_each_broken_plugin_is_named_with_its_reason(broken_rules: None) -> None:
    plugins = {plugin.name: plugin for plugin in plugin_rules()}
    assert set(plugins) == set(GOOD) | set(BAD)
    assert [rule.id for rule in plugins["lab"].rules] == ["lab-api-key"]
    assert plugins["lab"].problem is None and plugins["sessions"].problem is None
    assert plugins["lab"].distribution == "qsecure-lab-rules 1.0"
    problems = {name: plugins[name].problem for name in BAD}
    assert all(plugins[name].rules == () for name in BAD)
    assert problems["nogroup"] == (
        "rule 'lab-nogroup': its pattern has no (?P<secret>...) group for the credential"
    )
    assert (
        problems["empty"] == "rule 'lab-empty': its trigger '(?:LABZ-)?' matches the empty string"
    )
    if hyperscan is None:
        assert problems["look"] is None  # pragma: no cover - Hyperscan is a dependency
    else:
        assert str(problems["look"]).startswith(
            "rule 'lab-look': Hyperscan cannot compile its trigger '(?<=\\\\s)LABY-'"
        )
    assert problems["taken"] == (
        "rule id 'github-token' is already taken (by a built-in rule or another plug-in)"
    )
    assert problems["twice"] == (
        "rule id 'lab-twice' is already taken (by a built-in rule or another plug-in)"
    )
    assert problems["number"] == "it gave int, not a sequence of Rule objects"
    assert problems["down"] == "calling it raised RuntimeError: the lab's rule server is down"
    assert str(problems["missing"]).startswith("cannot import it (ModuleNotFoundError:")
    assert plugins["down"].describe() == (
        'rule plug-in "down" (qsecure_lab_rules:down, from qsecure-lab-rules 1.0) not loaded: '
        "calling it raised RuntimeError: the lab's rule server is down; the other rules still "
        "apply"
    )


def test_broken_plugins_leave_every_other_rule_working(
    broken_rules: None, lab_key: str, github_token: str
) -> None:
    assert [rule.id for rule in available_rules()][len(RULES) :] == ["lab-api-key", "lab-session"]
    scanner = Scanner()
    found = scanner.scan_text(f"a = '{lab_key}'\nb = '{github_token}'\n").findings
    assert sorted(finding.rule for finding in found) == ["github-token", "lab-api-key"]


def test_the_rules_command_lists_plugin_rules(lab_rules: None, tmp_path: Path) -> None:
    result = run_qsecure("rules", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(RULES) + 1 + 2  # the built-in rules, the notebook context rule
    assert lines[0].split()[0] == RULES[0].id
    assert lines[-2].split() == ["lab-api-key", "Lab", "API", "key", "(plug-in", "lab)"]
    assert lines[-1].split() == ["lab-session", "Lab", "session", "(plug-in", "sessions)"]
    assert result.stderr == ""


def test_the_commands_report_broken_plugins(
    broken_rules: None, tmp_path: Path, lab_key: str
) -> None:
    rules = run_qsecure("rules", cwd=tmp_path)
    assert rules.returncode == 2
    assert "lab-api-key" in rules.stdout
    errors = rules.stderr.splitlines()
    assert len(errors) == len(BAD)
    assert (
        'error: rule plug-in "number" (qsecure_lab_rules:number, from qsecure-lab-rules 1.0) '
        "not loaded: it gave int, not a sequence of Rule objects; the other rules still apply"
    ) in errors

    (tmp_path / "analysis.ipynb").write_text(json.dumps(notebook(code(f"k = '{lab_key}'"))))
    scan = run_qsecure("scan", "--no-policy", "analysis.ipynb", cwd=tmp_path)
    assert scan.returncode == 2  # a credential found, and rules missing: the scan is not whole
    assert scan.stdout.splitlines() == [
        f"analysis.ipynb: cell 1, line 1: Lab API key (LAB-…{lab_key[-3:]}) [lab-api-key]"
    ]
    assert scan.stderr.splitlines()[-1] == (
        f"1 finding(s) in 1 of 1 file(s); {len(BAD)} rule plug-in(s) could not be loaded"
    )


def test_scan_honours_disabled_plugin_rules(lab_rules: None, tmp_path: Path, lab_key: str) -> None:
    (tmp_path / "qsecure.toml").write_text('[guard]\ndisabled_rules = ["lab-api-key"]\n')
    (tmp_path / "notes.txt").write_text(f"k = '{lab_key}'\n")
    env = {"QSECURE_CONFIG": str(tmp_path / "qsecure.toml")}
    assert run_qsecure("scan", "notes.txt", cwd=tmp_path, env=env).returncode == 0
    assert run_qsecure("scan", "--no-policy", "notes.txt", cwd=tmp_path).returncode == 1


async def test_the_server_refuses_a_save_a_plugin_rule_finds(
    lab_rules: None, jp_fetch: Any, jp_root_dir: Path, lab_key: str
) -> None:
    model = {"type": "notebook", "format": "json", "content": notebook(code(f"k = '{lab_key}'"))}
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("api", "contents", "lab.ipynb", method="PUT", body=json.dumps(model))
    assert caught.value.code == 422 and caught.value.response is not None
    [finding] = json.loads(caught.value.response.body)["findings"]
    assert (finding["rule"], finding["kind"]) == ("lab-api-key", "Lab API key")
    assert not (jp_root_dir / "lab.ipynb").exists()


async def test_the_server_log_names_a_broken_plugin(
    capfd: pytest.CaptureFixture[str], broken_rules: None, jp_serverapp: Any
) -> None:
    logged = capfd.readouterr().err  # what the server logged while it started
    assert (
        'jupyter-qsecure: rule plug-in "down" (qsecure_lab_rules:down, from qsecure-lab-rules '
        "1.0) not loaded: calling it raised RuntimeError: the lab's rule server is down; the "
        "other rules still apply"
    ) in logged


def test_sarif_names_plugin_rules(lab_rules: None, tmp_path: Path, lab_key: str) -> None:
    (tmp_path / "notes.txt").write_text(f"k = '{lab_key}'\n")
    result = run_qsecure("scan", "--no-policy", "--format=sarif", "notes.txt", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    [rule] = json.loads(result.stdout)["runs"][0]["tool"]["driver"]["rules"]
    assert (rule["id"], rule["name"]) == ("lab-api-key", "Lab API key")
