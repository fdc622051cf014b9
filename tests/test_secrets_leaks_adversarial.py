"""Adversarial ways out for an injected value, by a careless researcher or an adversary
with a notebook and a kernel: what the kernel controls that reaches the server's audit
trail and the provenance store without going through the kernel's output masking.

A real server, real kernels, the value random for each test and shaped like an identifier
(as a ``ghp_...`` token is), so that no check of a name's shape alone keeps it out."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import as_notebook, code_cell
from kernel_client import (
    execute,
    save_notebook,
    saved_content,
    start_session,
    wait_for_records,
)
from qsecure_cli import run_qsecure
from tornado.httpclient import HTTPClientError

from jupyter_qsecure.config import PolicyError, parse_policy
from jupyter_qsecure.provenance.quantum import BackendWatcher
from jupyter_qsecure.provenance.recorder import Execution, Recorder
from jupyter_qsecure.provenance.store import ProvenanceStore
from jupyter_qsecure.signing.canonical import source_digest


def identifier_value() -> str:
    """A value that is also a valid secret name (letters, digits and underscores)."""
    return "lab" + secrets.token_hex(16)


async def save(jp_fetch: Any, path: str, notebook: dict[str, Any]) -> dict[str, Any]:
    """Save ``notebook`` through the server; the content the server answers afterwards."""
    await save_notebook(jp_fetch, path, notebook)
    return await saved_content(jp_fetch, path)


@pytest.fixture
def lab_token(store_with_secret: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The value of LAB_TOKEN (granted to every notebook), set before the server starts
    (a server reads its env:// sources ahead, at its start): shaped like an identifier."""
    value = identifier_value()
    monkeypatch.setenv("LAB_TOKEN_SOURCE", value)
    return value


def store_bytes(store: Path) -> bytes:
    """The provenance store's database and its journal files, as on disk."""
    return store.read_bytes() + b"".join(
        p.read_bytes() for p in store.parent.glob(store.name + "-*") if p.is_file()
    )


async def test_a_value_passed_to_refresh_as_a_name_stays_out_of_the_audit_trail(
    store_with_secret: Path,
    lab_token: str,
    jp_fetch: Any,
    jp_serverapp: Any,
    audit_events: Any,
    server_log: Any,
) -> None:
    # refresh(token) in place of refresh("LAB_TOKEN"): the server answered "... is not
    # granted" and wrote a secret-denied event whose name and message were the value,
    # into the audit trail on disk and to every browser on the event bus.
    token = lab_token
    _, _, client = await start_session(jp_fetch, jp_serverapp, "careless.ipynb")
    try:
        outputs = await execute(
            client,
            "import os, jupyter_qsecure\n"
            "token = os.environ['LAB_TOKEN']\n"
            "print(jupyter_qsecure.refresh(token))\n"
            "print(jupyter_qsecure.refresh(token[:20] + '-' + token[20:]))",
            "r",
        )
    finally:
        client.stop_channels()
    assert token not in json.dumps(outputs)
    assert "not granted to this kernel" in json.dumps(outputs)
    denied = [e for e in audit_events() if e["__schema__"].endswith("secret-denied/v1")]
    assert len(denied) == 2
    assert all(e["reason"] == "not-granted" for e in denied)
    everything = json.dumps(audit_events()) + server_log()
    assert token not in everything
    assert token[:20] not in everything  # the rest (15 characters) may show: by design
    assert denied[0]["name"] == "[secret:LAB_TOKEN]"


async def test_an_exception_class_named_by_the_value_stays_out_of_the_record(
    store_with_secret: Path,
    lab_token: str,
    jp_fetch: Any,
    jp_serverapp: Any,
) -> None:
    # An exception class made at run time takes any string as its name (an error type
    # per API key, a generated client): the record's ename was type(error).__name__,
    # unmasked, in the store on disk (the traceback the kernel sent was masked).
    token = lab_token
    _, _, client = await start_session(jp_fetch, jp_serverapp, "ename.ipynb")
    try:
        outputs = await execute(
            client,
            "import os\nraise type(os.environ['LAB_TOKEN'], (Exception,), {})('refused')",
            "e",
        )
    finally:
        client.stop_channels()
    assert token not in json.dumps(outputs)
    [record] = wait_for_records(store_with_secret, 1)
    assert record["status"] == "error"
    assert record["ename"] == "[secret:LAB_TOKEN]"
    assert token.encode() not in store_bytes(store_with_secret)


@pytest.fixture
def pasted_value(policy: Callable[[str], Path]) -> str:
    """A policy whose admin pasted a secret's value where its reference belongs (before
    the server starts); the value."""
    value = secrets.token_urlsafe(24)
    policy(f'[secrets.LAB_TOKEN]\nsource = "{value}"\nnotebooks = ["**/*.ipynb"]\n')
    return value


async def test_a_value_pasted_in_place_of_a_reference_is_not_quoted_back(
    pasted_value: str, jp_fetch: Any, server_log: Any, tmp_path: Path
) -> None:
    # source = "<the token>" in place of source = "keyring://...": the policy error
    # quoted the text, and went to the server's log, every GET /qsecure/secrets answer
    # and `jupyter qsecure secrets list`.
    response = await jp_fetch("qsecure", "secrets")
    error = json.loads(response.body)["policy_error"]
    assert "secrets.LAB_TOKEN.source" in error and "is not a reference" in error
    assert "keyring://SERVICE/USERNAME" in error
    listed = run_qsecure("secrets", "list", cwd=tmp_path)
    assert listed.returncode != 0 and "is not a reference" in listed.stdout + listed.stderr
    for text in (error, server_log(), listed.stdout + listed.stderr):
        assert pasted_value not in text and pasted_value[:16] not in text


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ('"{value}"', "is not a reference"),
        ('"{value}://x"', "is not a valid scheme"),
        ("{number}", "got a value of type int"),
    ],
)
def test_a_pasted_value_is_not_in_the_policy_error(written: str, expected: str) -> None:
    value = secrets.token_urlsafe(24).replace("-", "x").replace("_", "y")
    number = secrets.randbelow(10**12) + 10**12
    for key in (
        "[secrets.LAB_TOKEN]\nsource",
        '[vault]\nurl = "https://vault.invalid"\ntoken_source',
        "[secrets]\nLAB_TOKEN",
    ):
        text = f"{key} = {written.format(value=value, number=number)}\n"
        with pytest.raises(PolicyError) as caught:
            parse_policy(text + ('notebooks = ["**/*.ipynb"]\n' if "secrets." in key else ""))
        expected_here = "expected a table" if key.endswith("\nLAB_TOKEN") else expected
        assert expected_here in str(caught.value)
        assert value not in str(caught.value) and str(number) not in str(caught.value)


async def test_a_file_holding_the_value_is_not_hashed_into_the_record(
    store_with_secret: Path,
    lab_token: str,
    jp_fetch: Any,
    jp_serverapp: Any,
    jp_root_dir: Path,
) -> None:
    # A token file for a command-line tool (or a config holding the token): the record
    # kept the SHA-256 of what the file holds, so anyone with the notebook could confirm
    # a guess of the value offline (a password, a short token) without the file.
    token = lab_token
    (jp_root_dir / "plain.txt").write_text("no secret here\n")
    _, _, client = await start_session(jp_fetch, jp_serverapp, "files.ipynb")
    try:
        await execute(
            client,
            "import os, json\n"
            "t = os.environ['LAB_TOKEN']\n"
            "open('token.txt', 'w').write(t + '\\n')\n"
            "json.dump({'user': 'alice', 'token': t}, open('client.json', 'w'))\n"
            "open('token.txt').read(), open('plain.txt').read()",
            "f",
        )
    finally:
        client.stop_channels()
    [record] = wait_for_records(store_with_secret, 1)
    entries = {e["path"]: e for kind in ("read", "written") for e in record["files"][kind]}
    for name in ("token.txt", "client.json"):
        assert "sha256" not in entries[name], entries[name]
        assert entries[name]["error"] == "holds an injected secret: not hashed"
    held = {
        (jp_root_dir / "token.txt").read_bytes(),
        (jp_root_dir / "client.json").read_bytes(),
        token.encode(),
    }
    digests = {hashlib.sha256(data).hexdigest() for data in held}
    assert not digests & {e.get("sha256") for e in entries.values()}
    assert all(d.encode() not in store_bytes(store_with_secret) for d in digests)
    # A file without a value is hashed as before.
    plain = hashlib.sha256(b"no secret here\n").hexdigest()
    assert entries["plain.txt"]["sha256"] == plain


def test_a_backend_class_named_by_the_value_is_masked_in_the_quantum_job(tmp_path: Path) -> None:
    # As with an exception class: a backend class made at run time (type(token, ...))
    # was recorded by its qualified name, unmasked; its name and version were masked.
    token = f"lab-{secrets.token_hex(16)}"
    recorder = Recorder(
        ProvenanceStore(tmp_path / "provenance.sqlite"),
        mask=lambda text: text.replace(token, "[secret:LAB_TOKEN]"),
        user="alice",
        notebook="run.ipynb",
        kernel_id=None,
        notebook_dir=tmp_path,
    )
    recorder.current = Execution(record_id="r", cell_id=None, execution_count=1, code="", started=0)
    backend = type(token, (), {"name": token, "backend_version": token})()
    entry = BackendWatcher(recorder.quantum_job).describe(backend, None)
    recorder.quantum_job(entry)
    [job] = recorder.current.quantum
    assert token not in json.dumps(job)
    assert job["backend_class"].endswith(".[secret:LAB_TOKEN]")


@pytest.fixture
def short_pin(
    store_path: Path, policy: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> str:
    """A 6-character value granted with allow_short to every notebook (and the store);
    the value."""
    value = "p" + secrets.token_hex(3)[:5]
    monkeypatch.setenv("LAB_PIN_SOURCE", value)
    policy(
        f"[provenance]\nstore = {json.dumps(str(store_path))}\n\n"
        '[secrets.LAB_PIN]\nsource = "env://LAB_PIN_SOURCE"\nnotebooks = ["**/*.ipynb"]\n'
        "allow_short = true\n"
    )
    return value


async def test_a_short_value_passed_to_refresh_as_a_name_stays_out_of_the_audit_trail(
    short_pin: str,
    store_path: Path,
    jp_fetch: Any,
    jp_serverapp: Any,
    audit_events: Any,
    server_log: Any,
) -> None:
    _, _, client = await start_session(jp_fetch, jp_serverapp, "pin.ipynb")
    try:
        outputs = await execute(
            client,
            "import os, jupyter_qsecure\n"
            "pin = os.environ['LAB_PIN']\n"
            "print(jupyter_qsecure.refresh(pin))\n"
            "raise type(pin, (Exception,), {})()",
            "p",
        )
    finally:
        client.stop_channels()
    assert short_pin not in json.dumps(outputs)
    [denied] = [e for e in audit_events() if e["__schema__"].endswith("secret-denied/v1")]
    assert short_pin not in json.dumps(denied), denied
    assert short_pin not in server_log()
    [record] = wait_for_records(store_path, 1)
    assert record["ename"] == "[secret:LAB_PIN]"


@pytest.fixture
def named_in_server_env(policy: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch) -> str:
    """LAB_TOKEN granted to experiments/ only (and MISSING_TOKEN, whose store has no
    value), while the server's own environment holds variables of those names, as when
    a researcher exported the token in the shell that starts JupyterLab; the value."""
    value = f"lab-{secrets.token_hex(16)}"
    for name in ("LAB_TOKEN_SOURCE", "LAB_TOKEN", "MISSING_TOKEN"):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MISSING_TOKEN_SOURCE", raising=False)
    policy(
        '[secrets.LAB_TOKEN]\nsource = "env://LAB_TOKEN_SOURCE"\n'
        'notebooks = ["experiments/**/*.ipynb"]\n\n'
        '[secrets.MISSING_TOKEN]\nsource = "env://MISSING_TOKEN_SOURCE"\n'
        'notebooks = ["**/*.ipynb"]\n'
    )
    return value


async def test_a_secret_name_is_not_inherited_from_the_servers_environment(
    named_in_server_env: str, jp_fetch: Any, jp_serverapp: Any
) -> None:
    # A kernel the secret is not granted to (or whose store failed) inherited the
    # server's variable of the secret's name: the value, outside the secret's grants and
    # unmasked (not in QSECURE_SECRET_NAMES, so not masked).
    probe = (
        "import os\n"
        "print({n: n in os.environ for n in ('LAB_TOKEN', 'MISSING_TOKEN')})\n"
        "print(os.environ.get('LAB_TOKEN'), os.environ.get('MISSING_TOKEN'))"
    )
    outputs = {}
    for path in ("other.ipynb", "experiments/run.ipynb"):
        _, _, client = await start_session(jp_fetch, jp_serverapp, path)
        try:
            outputs[path] = json.dumps(await execute(client, probe, "c"))
        finally:
            client.stop_channels()
    assert named_in_server_env not in "".join(outputs.values())
    assert "{'LAB_TOKEN': False, 'MISSING_TOKEN': False}" in outputs["other.ipynb"]
    assert "{'LAB_TOKEN': True, 'MISSING_TOKEN': False}" in outputs["experiments/run.ipynb"]
    assert "[secret:LAB_TOKEN] None" in outputs["experiments/run.ipynb"]


async def test_refused_secret_writes_never_answer_or_log_the_value(
    store_with_secret: Path, jp_fetch: Any, server_log: Any
) -> None:
    # What held: every refusal of PUT /qsecure/secrets/NAME names the secret and what
    # to send, never the value (a NUL, a lone surrogate, too short, a read-only store, a
    # body that is no JSON object, the value in the wrong field).
    value = f"lab-{secrets.token_hex(16)}"
    bodies = {
        "LAB_TOKEN": json.dumps({"value": value}),  # env:// is read-only
        "NEW_TOKEN": json.dumps({"value": value[:6]}),
        "NUL_TOKEN": json.dumps({"value": value + "\u0000"}),
        "SURROGATE_TOKEN": json.dumps({"value": value + "\ud800"}),
        "RAW_TOKEN": value,
        "FIELD_TOKEN": json.dumps({"token": value}),
        "LIST_TOKEN": json.dumps([value]),
    }
    answers = []
    for name, body in bodies.items():
        with pytest.raises(HTTPClientError) as caught:
            await jp_fetch("qsecure", "secrets", name, method="PUT", body=body)
        assert caught.value.code in (400, 405), (name, caught.value.code)
        assert caught.value.response is not None
        answers.append(caught.value.response.body.decode())
    assert all(json.loads(answer)["reason"] for answer in answers)
    for text in (*answers, server_log()):
        assert value not in text and value[:6] not in text


async def test_a_deleted_cell_holding_the_value_leaves_no_digest_of_it_in_the_save(
    store_with_secret: Path,
    lab_token: str,
    jp_fetch: Any,
    jp_serverapp: Any,
) -> None:
    # The value pasted into a cell to try it, run, then the cell deleted and the notebook
    # saved (the guard lets it through: the value is gone). The saved timeline kept the
    # deleted run's first line, masked, and the SHA-256 of its code: with the line's
    # shape shown, that digest checks any guess of the value offline.
    token = lab_token
    pasted = f'api_key = "{token}"'
    _, _, client = await start_session(jp_fetch, jp_serverapp, "pasted.ipynb")
    try:
        await execute(client, pasted, "tried")
        outputs = await execute(client, "1 + 1", "kept")
    finally:
        client.stop_channels()
    records = wait_for_records(store_with_secret, 2)
    [tried] = [r for r in records if r["cell_id"] == "tried"]
    assert tried["first_line"] == 'api_key = "[secret:LAB_TOKEN]"'
    digest = source_digest(pasted)
    assert tried["code_sha256"] != digest
    assert digest.encode() not in store_bytes(store_with_secret)
    saved = await save(
        jp_fetch, "pasted.ipynb", as_notebook(code_cell("kept", "1 + 1", outputs, 2))
    )
    assert digest not in json.dumps(saved) and token not in json.dumps(saved)
    assert digest.removeprefix("sha256:") not in json.dumps(saved)


async def test_a_lockfile_holding_the_value_is_not_hashed_into_the_environment(
    store_with_secret: Path, lab_token: str, jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path
) -> None:
    # A private index's token (the secret granted for pip installs) in requirements.txt:
    # the environment record kept the file's SHA-256, which checks guesses of the token.
    requirements = f"--index-url https://__token__:{lab_token}@pypi.invalid/simple\nnumpy\n"
    (jp_root_dir / "requirements.txt").write_text(requirements)
    (jp_root_dir / "requirements-dev.txt").write_text("pytest\n")
    _, _, client = await start_session(jp_fetch, jp_serverapp, "env.ipynb")
    client.stop_channels()
    [record] = wait_for_records(store_with_secret, 1, kind="environment")
    files = record["environment"]["lockfiles"]["files"]
    assert files["requirements.txt"] == "error: holds an injected secret: not hashed"
    assert files["requirements-dev.txt"] == "sha256:" + hashlib.sha256(b"pytest\n").hexdigest()
    digest = hashlib.sha256(requirements.encode()).hexdigest()
    assert digest.encode() not in store_bytes(store_with_secret)
