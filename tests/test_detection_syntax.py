"""The syntax layer: a value bound to a credential-like name, located exactly, in every
syntax the guard reads; and the allowlists (pragma, detect-secrets baseline) still apply."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import code, notebook

from jupyter_qsecure.guard import Allowlist, Baseline, Scanner
from jupyter_qsecure.guard.findings import detect_secrets_hash, mask
from jupyter_qsecure.guard.rule import expand

SCANNER = Scanner()
PASSWORD = expand("{A:14}")
TOKEN = expand("{A:32}")
BOOTSTRAP = expand("{a:6}.{a:16}")

#: (file name, text with the secret on line 3, rule, the value the finding stands for).
CASES = [
    ("app.ini", f"[db]\nuser = lab\npassword = {PASSWORD}\n", "password-env", PASSWORD),
    ("values.yaml", f"db:\n  user: lab\n  password: {PASSWORD}\n", "password-env", PASSWORD),
    (
        "a.properties",
        f"# db\nuser=lab\nspring.datasource.password={PASSWORD}\n",
        "password-env",
        PASSWORD,
    ),
    (".env", f"# keys\nUSER=lab\nexport API_SECRET={TOKEN}\n", "keyword-secret-env", TOKEN),
    ("Makefile", f"all:\n\ttrue\nDB_PASSWORD ?= {PASSWORD}\n", "password-env", PASSWORD),
    (
        "main.go",
        f'package main\n\nvar dbPassword string = "{PASSWORD}"\n',
        "password-assignment",
        PASSWORD,
    ),
    ("main.go", f'package main\nfunc f() {{\n\tapiToken := "{TOKEN}"\n', "keyword-secret", TOKEN),
    ("db.php", f"<?php\n$pw = 'a';\n$password .= '{PASSWORD}';\n", "password-assignment", PASSWORD),
    (
        "web.config",
        f'<configuration>\n<appSettings>\n<add key="SmtpPassword" value="{PASSWORD}"/>\n',
        "xml-attribute-credential",
        PASSWORD,
    ),
    (
        "pom.xml",
        f"<server>\n<id>lab</id>\n<password>{PASSWORD}</password>\n",
        "xml-credential",
        PASSWORD,
    ),
    (
        "tasks.json",
        f'{{\n  "n": 1,\n  "cmd": "login password=\\"{PASSWORD}\\""\n}}\n',
        "password-assignment",
        PASSWORD,
    ),
    (
        "deploy.ps1",
        f"# deploy\n$u = 'lab'\nConnect-VIServer -Server h -User lab -Password {PASSWORD}\n",
        "command-line-password",
        PASSWORD,
    ),
    (
        "init.sql",
        f"-- users\nCREATE DATABASE lab;\nCREATE USER 'lab'@'%' IDENTIFIED BY '{PASSWORD}';\n",
        "sql-password",
        PASSWORD,
    ),
    (
        "app.cs",
        f'// db\nvar a = 1;\nvar c = "Server=db;Database=lab;User Id=lab;Password={PASSWORD};";\n',
        "connection-string-password",
        PASSWORD,
    ),
    (
        "run.sh",
        f"#!/bin/sh\nset -e\ncurl -u lab:{PASSWORD} https://ci.example.org\n",
        "command-line-user-password",
        PASSWORD,
    ),
    (
        "run.sh",
        f"#!/bin/sh\nset -e\ngpg --batch --passphrase {PASSWORD} -d x.gpg\n",
        "command-line-password",
        PASSWORD,
    ),
    ("run.sh", f"#!/bin/sh\nset -e\nmysql -u root -p{PASSWORD} lab\n", "mysql-password", PASSWORD),
    (
        "req.http",
        f"GET /v1 HTTP/1.1\nHost: api.example.org\nX-Api-Key: {TOKEN}\n",
        "keyword-secret-env",
        TOKEN,
    ),
    (
        ".netrc",
        f"machine api.example.org\n  login lab\n  password {PASSWORD}\n",
        "netrc-password",
        PASSWORD,
    ),
    (
        "join.sh",
        f"#!/bin/sh\nset -e\nkubeadm join 10.0.0.1:6443 --token {BOOTSTRAP} "
        f"--discovery-token-ca-cert-hash sha256:{expand('{H:64}')}\n",
        "kubernetes-bootstrap-token",
        BOOTSTRAP,
    ),
]


@pytest.mark.parametrize(("name", "text", "rule", "value"), CASES, ids=lambda c: str(c)[:24])
def test_the_value_is_found_and_located(name: str, text: str, rule: str, value: str) -> None:
    findings = SCANNER.scan_text(text, path=Path(name)).findings
    assert [(f.rule, f.location.line) for f in findings] == [(rule, 3)]
    assert findings[0].preview == mask(value, 0)
    assert value not in json.dumps(findings[0].to_json())


def test_kubernetes_secret_values_are_base64() -> None:
    manifest = (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ntype: Opaque\ndata:\n"
        "  username: bGFi\n  password: UzNjcjN0UGFzc3cwcmQh\n"
    )
    findings = SCANNER.scan_text(manifest, path=Path("secret.yaml")).findings
    assert [(f.rule, f.location.line) for f in findings] == [("kubernetes-secret", 8)]
    config_map = manifest.replace("kind: Secret", "kind: ConfigMap").replace("password", "mode")
    assert SCANNER.scan_text(config_map, path=Path("cm.yaml")).findings == []


@pytest.mark.parametrize(("name", "text", "rule", "value"), CASES[:6], ids=lambda c: str(c)[:24])
def test_pragma_allowlists_every_syntax(name: str, text: str, rule: str, value: str) -> None:
    lines = text.splitlines()
    lines[2] += "  # pragma: allowlist secret"
    result = SCANNER.scan_text("\n".join(lines), path=Path(name))
    assert (result.findings, result.allowlisted) == ([], 1)


def test_a_detect_secrets_baseline_allowlists_new_rules(tmp_path: Path) -> None:
    path = tmp_path / "app.ini"
    path.write_text(CASES[0][1])
    baseline = tmp_path / ".secrets.baseline"
    entry = {"type": "Secret Keyword", "hashed_secret": detect_secrets_hash(PASSWORD)}
    baseline.write_text(json.dumps({"version": "1.5.0", "results": {"app.ini": [entry]}}))
    scanner = Scanner(allowlist=Allowlist([Baseline.load(baseline)]))
    result = scanner.scan_path(path)
    assert (result.findings, result.allowlisted) == ([], 1)


def test_unquoted_word_in_a_code_cell_is_a_variable() -> None:
    nb = notebook(code(f"open_sesame = read()\npassword = open_sesame\napi_token = t{TOKEN}\n"))
    # The identifier is a variable (the cell binds it); the random value cannot be one.
    assert [f.rule for f in SCANNER.scan_notebook(nb).findings] == ["keyword-secret-env"]
