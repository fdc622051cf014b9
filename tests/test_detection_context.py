"""What only a notebook-aware scanner sees, and what no scanner should flag.

A cell's source says what its outputs print; a label on the line above or in the next
table cell names the value below or beside it. And the false positives other scanners
report (placeholders, labels, routes, documented example keys) stay quiet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import code, markdown, notebook

from jupyter_qsecure.guard import Scanner
from jupyter_qsecure.guard.rule import expand

SCANNER = Scanner()
IBM_TOKEN = expand("{H:128}")
AWS_SECRET = expand("{B:40}")
SHA512 = expand("{H:127}") + "0"


def _stream(source: str, text: str) -> dict[str, Any]:
    return notebook(
        code(source, [{"output_type": "stream", "name": "stdout", "text": text + "\n"}])
    )


def _rules(nb: dict[str, Any]) -> list[tuple[str, str]]:
    return [(f.rule, f.location.field) for f in SCANNER.scan_notebook(nb).findings]


def test_the_demo_line_is_flagged() -> None:
    nb = _stream("show_key()", f"Your IBM Quantum API key: {IBM_TOKEN}")
    assert _rules(nb) == [("ibm-quantum-token-context", "outputs[0].stdout")]
    [finding] = SCANNER.scan_notebook(nb).findings
    assert IBM_TOKEN not in str(finding.to_json())


@pytest.mark.parametrize(
    "source",
    [
        'import os\nprint(os.environ["IBM_QUANTUM_TOKEN"])',
        'print(os.getenv("QISKIT_IBM_TOKEN"))',
        "token = keyring.get_password('ibm', 'quantum')\ntoken",
        'print(userdata.get("IBM_TOKEN"))',
        "!echo $IBM_QUANTUM_TOKEN",
        "%env",
        # this package's kernel API: every granted secret, by name
        "from jupyter_qsecure.kernel import injected_secrets\ngranted = injected_secrets()\ngranted['IBMQ']",
    ],
)
def test_a_value_printed_by_a_cell_reading_a_credential_is_one(source: str) -> None:
    assert _rules(_stream(source, IBM_TOKEN)) == [
        ("notebook-context-credential", "outputs[0].stdout")
    ]


def test_an_aws_secret_printed_from_the_environment() -> None:
    nb = _stream('print(os.environ["AWS_SECRET_ACCESS_KEY"])', AWS_SECRET)
    assert _rules(nb) == [("notebook-context-credential", "outputs[0].stdout")]


@pytest.mark.parametrize(
    ("source", "printed"),
    [
        ('print(hashlib.sha512(b"x").hexdigest())', SHA512),  # no credential named
        ('print(os.environ["IBM_QUANTUM_TOKEN"][:4])', "a1b2"),  # too short to be one
        ('print(os.environ["RUN_TOKEN_ID"])', "123e4567-e89b-12d3-a456-426614174000"),
        ('print(os.environ["API_TOKEN"])', "/home/lab/.cache/tokens/current"),
    ],
)
def test_no_context_no_credential(source: str, printed: str) -> None:
    assert _rules(_stream(source, printed)) == []


def test_context_reaches_only_the_cell_that_read_the_credential() -> None:
    nb = notebook(
        code('token = os.environ["IBM_QUANTUM_TOKEN"]'),
        code("print(digest)", [{"output_type": "stream", "name": "stdout", "text": SHA512}]),
    )
    assert _rules(nb) == []


def test_a_label_in_the_neighbouring_table_cell() -> None:
    html = f"<table><tr><td>aws_secret_access_key</td>\n<td>{AWS_SECRET}</td></tr></table>"
    nb = notebook(
        code("df", [{"output_type": "display_data", "metadata": {}, "data": {"text/html": html}}])
    )
    assert _rules(nb) == [("html-table-credential", "outputs[0].text/html")]


def test_a_label_on_the_line_above_in_markdown_and_in_a_traceback() -> None:
    assert _rules(notebook(markdown(f"IBM Quantum token:\n\n{IBM_TOKEN}\n"))) == [
        ("credential-below-label", "source")
    ]
    error = {
        "output_type": "error",
        "ename": "E",
        "evalue": "",
        "traceback": [f"token:\n{IBM_TOKEN}"],
    }
    assert _rules(notebook(code("f()", [error]))) == [
        ("credential-below-label", "outputs[0].traceback")
    ]


def test_a_hash_below_its_name_is_not_a_credential() -> None:
    assert _rules(notebook(markdown(f"SHA-512 of the data:\n\n{SHA512}\n"))) == []


@pytest.mark.parametrize(
    "text",
    [
        'SLACK_TOKEN = "xoxb-abcdef-abcdef"',
        "this.addPassword = '#add-password';",
        'usernameLabel:"Username or email:",passwordLabel:"Password:"',
        'author: "ada.lovelace@example.org"',
        '"author": "Ada Lovelace <ada@example.org>"',
        'credentialId = "b7Qz9XfP2kLm4RtY8vWc"',
        'aws_access_key_id = "AKIAIOSFODNN7EXAMPLE"',
        'aws_secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"',
        'api_key = "sk_live_ThisIsNotARealKeyLIKEAREAL1234"',
        'policy_arn = "arn:aws:iam::aws:policy/IAMUserChangePassword"',
        'IAMUserChangePassword = "arn:aws:iam::aws:policy/IAMUserChangePassword"',
        "Reset your password: click the link below",
        "password = env.TEST_PASSWORD",
        "auth_mount = 'k8s-prod'",
        "See `docs/secrets.md`, `docs/provenance.md`",
        "error validating token: square/go-jose: compact JWS format",
        "const secret = field?.value ?? '';",
        # A word a secret is compared with is a sentinel as often as a password.
        'if (secret === "disabled") { return; }',
        'if creds.Secret != "missing" {',
        # Jenkins' anti-forgery crumb is bound to a web session: no credential alone.
        "curl -X POST $JOB/build -H 'Jenkins-Crumb:" + "5f0e" * 8 + "'",
    ],
)
@pytest.mark.parametrize("where", ["notes.txt", "settings.py", "markdown", "output"])
def test_known_false_positives_stay_quiet(text: str, where: str) -> None:
    if where == "markdown":
        findings = SCANNER.scan_notebook(notebook(markdown(text))).findings
    elif where == "output":
        findings = SCANNER.scan_notebook(_stream("run()", text)).findings
    else:
        findings = SCANNER.scan_text(text, path=Path(where)).findings
    assert findings == []


@pytest.mark.parametrize(
    "cells",
    [
        [{"cell_type": "code", "source": [None, 3], "outputs": [None, "x", {"text": 1}]}],
        [{"cell_type": "code", "source": {"token": "x"}, "outputs": "printed"}],
        ["print(os.environ['TOKEN'])", None, 7],
        [{"source": "print(os.environ['API_TOKEN'])", "outputs": [{"output_type": "stream"}]}],
    ],
)
def test_hostile_cells_do_not_break_the_context_pass(cells: list[Any]) -> None:
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}
    assert isinstance(SCANNER.scan_notebook(nb).findings, list)
