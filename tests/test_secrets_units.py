"""Secret references, grants, the [secrets]/[vault]/[injection] policy, encodings and masking."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import secrets as random_secrets
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import quote_plus

import nbformat
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jupyter_qsecure.config import PolicyError, parse_policy
from jupyter_qsecure.identity import acting_as, acting_user
from jupyter_qsecure.secrets import KernelSecretRegistry, Providers, SecretsService
from jupyter_qsecure.secrets.forms import encoded_forms
from jupyter_qsecure.secrets.masking import Masker
from jupyter_qsecure.secrets.policy import glob_regex
from jupyter_qsecure.secrets.refs import SecretRefError, parse_ref

JUPYTER = str(Path(sys.executable).parent / "jupyter")


@pytest.mark.parametrize(
    ("text", "scheme", "parts", "field", "version"),
    [
        ("keyring://qsecure/ibm-quantum", "keyring", ["qsecure", "ibm-quantum"], None, None),
        (
            "vault://secret/jupyter/users/alice/ibm#token",
            "vault",
            ["secret", "jupyter", "users", "alice", "ibm"],
            "token",
            None,
        ),
        ("vault://secret/lab/ibm#token?version=3", "vault", ["secret", "lab", "ibm"], "token", 3),
        ("vault://secret/lab/ibm?version=2#token", "vault", ["secret", "lab", "ibm"], "token", 2),
        ("file:///run/secrets/ibm_token", "file", ["run", "secrets", "ibm_token"], None, None),
        ("env://IBM_TOKEN", "env", ["IBM_TOKEN"], None, None),
    ],
)
def test_refs_parse(
    text: str, scheme: str, parts: list[str], field: str | None, version: int | None
) -> None:
    ref = parse_ref(text)
    assert (ref.scheme, ref.parts, ref.field, ref.version, str(ref)) == (
        scheme,
        parts,
        field,
        version,
        text,
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ibm-quantum", "is not a reference; write one of: keyring://SERVICE/USERNAME"),
        ("keyring://only-service", "expected keyring://SERVICE/USERNAME"),
        ("vault://secret/path", "expected vault://MOUNT/PATH#FIELD"),
        ("vault://secret/p#f?version=two", "version must be a whole number"),
        ("file://relative/path", "expected file:///absolute/path"),
        ("env://NOT-A-NAME", "expected env://NAME"),
    ],
)
def test_bad_refs_say_the_expected_form(text: str, message: str) -> None:
    with pytest.raises(SecretRefError, match=message.replace("?", r"\?")):
        parse_ref(text)


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("experiments/**/*.ipynb", "experiments/a.ipynb", True),
        ("experiments/**/*.ipynb", "experiments/2026/nov/a.ipynb", True),
        ("experiments/**/*.ipynb", "other/experiments/a.ipynb", False),
        ("experiments/*.ipynb", "experiments/2026/a.ipynb", False),
        ("**/*.ipynb", "a.ipynb", True),
        ("run?.ipynb", "run1.ipynb", True),
        ("run?.ipynb", "run10.ipynb", False),
        ("exp[1].ipynb", "exp[1].ipynb", True),
    ],
)
def test_notebook_globs(pattern: str, path: str, matches: bool) -> None:
    assert bool(glob_regex(pattern).match(path)) is matches


@given(st.lists(st.text(alphabet="abc._-", min_size=1, max_size=6), min_size=1, max_size=5))
def test_double_star_matches_any_depth(parts: list[str]) -> None:
    path = "/".join([*parts, "nb.ipynb"])
    assert glob_regex("**/*.ipynb").match(path)
    assert glob_regex("**").match(path)


POLICY = """
[secrets.IBM_QUANTUM_TOKEN]
source = "keyring://qsecure/ibm-quantum"
notebooks = ["experiments/**/*.ipynb"]
kernels = ["python3"]
users = ["alice"]

[vault]
url = "https://vault.lab.example.org:8200"
auth = "approle"
role_id = "jupyter"
secret_id_source = "file:///run/secrets/vault-secret-id"

[injection]
on_error = "refuse"
timeout = 3
"""


def test_policy_grants() -> None:
    policy = parse_policy(POLICY, "qsecure.toml").secrets
    assert [g.name for g in policy.granted("alice", "experiments/x/run.ipynb", "python3")] == [
        "IBM_QUANTUM_TOKEN"
    ]
    assert policy.granted("bob", "experiments/run.ipynb", "python3") == []
    assert policy.granted("alice", "experiments/run.ipynb", "julia-1.10") == []
    assert policy.granted("alice", "notes/run.ipynb", "python3") == []
    assert policy.granted("alice", None, "python3") == []
    assert (
        policy.vault.auth == "approle"
        and str(policy.vault.secret_id_source) == "file:///run/secrets/vault-secret-id"
    )
    assert policy.injection.on_error == "refuse" and policy.injection.timeout == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[secrets.X_TOKEN]\nsource = "keyring://a/b"\nnotebook = []\n',
            r"secrets\.X_TOKEN\.notebook: unknown key",
        ),
        (
            '[secrets."bad-name"]\nsource = "keyring://a/b"\n',
            r"secrets\.bad-name: a secret's name becomes an environment variable",
        ),
        ('[secrets.PATH]\nsource = "keyring://a/b"\n', r"secrets\.PATH: PATH is reserved"),
        (
            "[secrets.X_TOKEN]\nnotebooks = []\n",
            r"secrets\.X_TOKEN\.source: missing: where the value lives",
        ),
        (
            '[secrets.X_TOKEN]\nsource = "keyring://a"\n',
            r"secrets\.X_TOKEN\.source: 'keyring://a': expected keyring://SERVICE/USERNAME",
        ),
        (
            '[secrets.X_TOKEN]\nsource = "keyring://a/b"\nnotebooks = ["../x/*.ipynb"]\n',
            r"globs are relative to the server root",
        ),
        (
            '[vault]\ntoken = "hvs.abc"\n',
            r"vault\.token: never write a Vault credential in the policy; use token_source",
        ),
        (
            '[vault]\nauth = "ldap"\n',
            r"vault\.auth: expected one of token, approle, jwt, kubernetes",
        ),
        (
            '[vault]\nauth = "jwt"\njwt_source = "env://JWT"\n',
            r"vault\.role: required with auth = 'jwt'",
        ),
        (
            '[injection]\non_error = "ignore"\n',
            r"injection\.on_error: expected \"start-without\" or \"refuse\"",
        ),
    ],
)
def test_policy_errors_name_key_and_fix(text: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_policy(text, "qsecure.toml")


def test_encoded_forms() -> None:
    value = "tok/en+with=chars&more"
    forms = encoded_forms(value)
    assert value in forms and quote_plus(value) in forms and value.encode().hex() in forms
    encoded = base64.b64encode(value.encode()).decode()
    assert any(form in encoded for form in forms if form != value)
    assert forms == sorted(forms, key=len, reverse=True)


@given(st.text(min_size=8, max_size=60), st.text(max_size=40), st.text(max_size=40))
def test_masking_removes_every_form(value: str, before: str, after: str) -> None:
    masker = Masker({"TOKEN": value})
    for form in encoded_forms(value):
        assert "[secret:TOKEN]" in masker.mask(before + form + after)


def test_masking_nested_message_content() -> None:
    value = "qsv-" + random_secrets.token_hex(12)
    masker = Masker({"T": value})
    content = {"data": {"text/plain": [f"'{value}'"]}, "traceback": [f"x {value} y"], "n": 3}
    assert masker.mask_content(content) == {
        "data": {"text/plain": ["'[secret:T]'"]},
        "traceback": ["x [secret:T] y"],
        "n": 3,
    }


@pytest.mark.slow
def test_jupyter_execute_with_the_provisioner_outside_a_server(tmp_path: Path) -> None:
    """`jupyter execute` (nbclient) selects qsecure-provisioner by environment variable."""
    value = "qsv-" + random_secrets.token_hex(12)
    (tmp_path / "experiments").mkdir()
    policy = tmp_path / "qsecure.toml"
    policy.write_text(
        '[secrets.LAB_TOKEN]\nsource = "env://LAB_TOKEN_FOR_KERNELS"\nnotebooks = ["experiments/*.ipynb"]\n'
    )
    digest = hashlib.sha256(value.encode()).hexdigest()
    source = (
        "import hashlib, os\n"
        f"print(hashlib.sha256(os.environ['LAB_TOKEN'].encode()).hexdigest() == '{digest}')\n"
        "print(os.environ['LAB_TOKEN'])\n"
        "print('source var', 'LAB_TOKEN_FOR_KERNELS' in os.environ)"
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    for name in ("experiments/run.ipynb", "scratch.ipynb"):
        nbformat.write(nb, tmp_path / name)
    env = {
        **os.environ,
        "QSECURE_CONFIG": str(policy),
        "LAB_TOKEN_FOR_KERNELS": value,
        "JUPYTER_DEFAULT_PROVISIONER_NAME": "qsecure-provisioner",
    }
    result = subprocess.run(
        [JUPYTER, "execute", "--inplace", "experiments/run.ipynb"],
        cwd=tmp_path,
        env={**env, "QSECURE_NOTEBOOK": "experiments/run.ipynb"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "experiments" / "run.ipynb").read_text()
    assert "True" in text and "[secret:LAB_TOKEN]" in text and "source var False" in text
    assert value not in text + result.stdout + result.stderr
    result = subprocess.run(
        [JUPYTER, "execute", "--inplace", "scratch.ipynb"],
        cwd=tmp_path,
        env={**env, "QSECURE_NOTEBOOK": "scratch.ipynb"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 1  # KeyError: not granted to this notebook
    assert "KeyError" in (tmp_path / "scratch.ipynb").read_text() + result.stderr


@pytest.mark.slow
def test_papermill_with_the_provisioner(tmp_path: Path) -> None:
    """papermill selects qsecure-provisioner by environment variable too."""
    value = "qsv-" + random_secrets.token_hex(12)
    policy = tmp_path / "qsecure.toml"
    policy.write_text(
        '[secrets.LAB_TOKEN]\nsource = "env://LAB_TOKEN_FOR_KERNELS"\nnotebooks = ["*.ipynb"]\n'
    )
    cell = nbformat.v4.new_code_cell(
        "import os\nprint(sorted(os.environ['QSECURE_SECRET_NAMES'].split(',')))\nprint(os.environ['LAB_TOKEN'])"
    )
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), tmp_path / "in.ipynb")
    env = {
        **os.environ,
        "QSECURE_CONFIG": str(policy),
        "LAB_TOKEN_FOR_KERNELS": value,
        "JUPYTER_DEFAULT_PROVISIONER_NAME": "qsecure-provisioner",
        "QSECURE_NOTEBOOK": "in.ipynb",
    }
    papermill = str(Path(sys.executable).parent / "papermill")
    result = subprocess.run(
        [papermill, "in.ipynb", "out.ipynb", "--kernel", "python3"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "out.ipynb").read_text()
    assert "['LAB_TOKEN']" in text and "[secret:LAB_TOKEN]" in text
    assert value not in text + result.stdout + result.stderr


async def test_store_writes_run_one_at_a_time_as_the_acting_user() -> None:
    """Values and grants are written on the service's own single worker (not the pool that
    scans wait on), one after another, each as the user whose request it serves."""
    policy = parse_policy("", "(test)")
    service = SecretsService(policy.secrets, Providers(policy.secrets), KernelSecretRegistry())
    running: list[str] = []
    overlapped = threading.Event()

    def write(name: str) -> tuple[str, str]:
        if running:
            overlapped.set()
        running.append(name)
        try:
            return threading.current_thread().name, acting_user()
        finally:
            running.remove(name)

    async def as_user(user: str) -> tuple[str, str]:
        with acting_as(user):
            return await service.in_store_worker(write, user)

    try:
        answers = await asyncio.gather(*(as_user(f"user{n}") for n in range(8)))
    finally:
        service.close()
    assert not overlapped.is_set()
    assert {thread for thread, _ in answers} == {"qsecure-secret-store_0"}
    assert [user for _, user in answers] == [f"user{n}" for n in range(8)]


def test_reading_never_creates_the_keyring_file(
    keyring_env: dict[str, str], tmp_path: Path
) -> None:
    """A read or a check of a keyring secret with no keyring file yet says so and leaves
    no file behind; the first write creates it."""
    from jupyter_qsecure.secrets.errors import ProviderError
    from jupyter_qsecure.secrets.providers.keyring import KeyringProvider, embedded_keyring_file
    from jupyter_qsecure.secrets.refs import parse_ref

    path = embedded_keyring_file()
    assert not path.exists()
    provider, ref = KeyringProvider(), parse_ref("keyring://qsecure/LAB_TOKEN")
    with pytest.raises(ProviderError) as caught:
        provider.fetch(ref)
    assert caught.value.reason == "not-found"
    assert f"there is no keyring file at {path} yet" in str(caught.value)
    assert not path.exists()
    provider.store(ref, "calibration-" + "k" * 24)
    assert path.exists()
    assert provider.fetch(ref) == "calibration-" + "k" * 24
