"""Which notebook a kernel is for, and so which secrets it gets, comes from the server's
session and nothing else; the secrets panel judges a path as the kernel does; a policy
whose globs or references could never mean what they say is refused when it loads.

Real server, real kernels for the decisions; the policy's loader for the refusals."""

from __future__ import annotations

import json
import secrets
import sys
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kernel_client import call, connect, open_session

from jupyter_qsecure.config import PolicyError, parse_policy
from jupyter_qsecure.secrets.personal import notebook_problem

NAME = "LAB_TOKEN"
#: "análisis.ipynb" composed (NFC: a policy typed in an editor) and decomposed (NFD: the
#: same name as a Mac's file system, or a clone made there, spells it).
COMPOSED = unicodedata.normalize("NFC", "an\u00e1lisis.ipynb")
DECOMPOSED = unicodedata.normalize("NFD", COMPOSED)


@pytest.fixture
def value(policy: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch) -> str:
    """``LAB_TOKEN`` (a random value from ``$LAB_TOKEN_SOURCE``), granted to notebooks
    under ``experiments/`` and to ``análisis.ipynb`` (composed)."""
    token = f"lab-{secrets.token_hex(16)}"
    monkeypatch.setenv("LAB_TOKEN_SOURCE", token)
    policy(
        f'[secrets.{NAME}]\nsource = "env://LAB_TOKEN_SOURCE"\n'
        f"notebooks = {json.dumps(['experiments/**/*.ipynb', COMPOSED])}\n"
    )
    return token


async def kernel_environment(jp_serverapp: Any, kernel_id: str, *names: str) -> dict[str, Any]:
    """The named variables as code in the kernel sees them (None when unset)."""
    client = await connect(jp_serverapp, kernel_id)
    try:
        outputs: list[str] = []

        def hook(message: dict[str, Any]) -> None:
            if message["msg_type"] == "stream":
                outputs.append(message["content"]["text"])

        source = (
            f"import os, json; print(json.dumps({{n: os.environ.get(n) for n in {list(names)!r}}}))"
        )
        await client.execute_interactive(source, output_hook=hook, timeout=60)
    finally:
        client.stop_channels()
    return dict(json.loads("".join(outputs)))


async def test_a_kernel_without_a_session_gets_nothing_from_the_servers_environment(
    value: str,
    jp_fetch: Any,
    jp_serverapp: Any,
    qsecure_app: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A server started from a kernel's code (or a shell that exported the variable)
    # holds a session path in its own environment; POST /api/kernels passes no session.
    monkeypatch.setenv("QSECURE_SESSION_PATH", "experiments/a.ipynb")
    kernel = await call(jp_fetch, "api", "kernels", method="POST", body={"name": "python3"})
    try:
        record = qsecure_app.registry.get(kernel["id"])
        assert record.notebook is None and record.values == {}
        seen = await kernel_environment(jp_serverapp, kernel["id"], NAME, "QSECURE_SESSION_PATH")
        assert seen == {NAME: None, "QSECURE_SESSION_PATH": None}
    finally:
        await jp_fetch("api", "kernels", kernel["id"], method="DELETE")


async def test_a_granted_kernel_does_not_pass_its_session_path_on(
    value: str, jp_fetch: Any, jp_serverapp: Any
) -> None:
    # A server started from this kernel would hand its kernels this notebook's grants.
    session = await open_session(jp_fetch, "experiments/a.ipynb")
    try:
        seen = await kernel_environment(
            jp_serverapp, session["kernel"]["id"], NAME, "QSECURE_SESSION_PATH"
        )
        # The value is there (shown masked, as every output of a granted kernel).
        assert seen == {NAME: f"[secret:{NAME}]", "QSECURE_SESSION_PATH": None}
    finally:
        await jp_fetch("api", "sessions", session["id"], method="DELETE")


async def test_a_kernelspecs_env_does_not_name_the_notebook(
    value: str, jp_fetch: Any, qsecure_app: Any, jp_kernel_dir: Path
) -> None:
    folder = jp_kernel_dir / "py-names-a-notebook"
    folder.mkdir()
    spec = {
        "display_name": "names a notebook",
        "language": "python",
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "env": {"QSECURE_SESSION_PATH": "experiments/a.ipynb"},
    }
    (folder / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    body = {
        "path": "scratch/x.ipynb",
        "type": "notebook",
        "name": "x.ipynb",
        "kernel": {"name": "py-names-a-notebook"},
    }
    session = await call(jp_fetch, "api", "sessions", method="POST", body=body)
    try:
        record = qsecure_app.registry.get(session["kernel"]["id"])
        assert record.notebook == "scratch/x.ipynb" and record.values == {}
    finally:
        await jp_fetch("api", "sessions", session["id"], method="DELETE")


@pytest.mark.parametrize(
    "path",
    [
        "./experiments/a.ipynb",
        "experiments//a.ipynb",
        "experiments/./a.ipynb",
        "experiments/a.ipynb/",
    ],
)
async def test_the_panel_judges_a_session_path_as_the_kernel_does(
    value: str, jp_fetch: Any, qsecure_app: Any, path: str
) -> None:
    session = await open_session(jp_fetch, path)
    try:
        assert NAME in qsecure_app.registry.get(session["kernel"]["id"]).values
        [row] = (await call(jp_fetch, "qsecure", "secrets", path=path))["secrets"]
        assert (row["granted"], row["in_kernel"]) == (True, True)
    finally:
        await jp_fetch("api", "sessions", session["id"], method="DELETE")


@pytest.mark.parametrize("path", [COMPOSED, DECOMPOSED], ids=["NFC", "NFD"])
async def test_a_grant_holds_for_a_name_in_either_unicode_form(
    value: str, jp_fetch: Any, qsecure_app: Any, path: str
) -> None:
    session = await open_session(jp_fetch, path)
    try:
        assert qsecure_app.registry.get(session["kernel"]["id"]).values == {NAME: value}
        [row] = (await call(jp_fetch, "qsecure", "secrets", path=path))["secrets"]
        assert (row["granted"], row["in_kernel"]) == (True, True)
    finally:
        await jp_fetch("api", "sessions", session["id"], method="DELETE")


def load(source: str, notebooks: str = '["a.ipynb"]') -> Any:
    text = f'[secrets.X]\nsource = "{source}"\nnotebooks = {notebooks}\n'
    return parse_policy(text).secrets


@pytest.mark.parametrize(
    ("glob", "said"),
    [
        ("./experiments/*.ipynb", "would never match"),
        ("experiments//*.ipynb", "would never match"),
        ("experiments/./*.ipynb", "would never match"),
        ("experiments/", "would never match"),
        ("", "would never match"),
        ("experiments\\\\*.ipynb", "separate folders with /"),
        ("/abs/*.ipynb", "relative to the server root"),
        ("a/../b.ipynb", "relative to the server root"),
    ],
)
def test_a_glob_that_can_never_match_is_refused(glob: str, said: str) -> None:
    with pytest.raises(PolicyError) as caught:
        load("env://X_SOURCE", f'["{glob}"]')
    assert "secrets.X.notebooks" in str(caught.value) and said in str(caught.value)


@pytest.mark.parametrize(
    ("source", "said"),
    [
        ("keyring://qsecure/a?x=1", "take no #FIELD or ?QUERY"),
        ("keyring://qsecure/a#f", "take no #FIELD or ?QUERY"),
        ("file:///run/secrets/db#replica", "take no #FIELD or ?QUERY"),
        ("file:///run/secrets/db?version=2", "take no #FIELD or ?QUERY"),
        ("env://X_SOURCE#f", "take no #FIELD or ?QUERY"),
        ("vault://secret/../sys/x#f", "without . or .."),
        ("vault://secret/%2e%2e/sys/x#f", "without . or .."),
        ("vault://secret/./x#f", "without . or .."),
        ("file:///run/secrets/../../etc/x", "without . or .."),
        ("keyring://qsecure/..", "without . or .."),
        ("env://HOME", "every kernel needs HOME"),
        ("env://PATH", "every kernel needs PATH"),
        ("env://LD_LIBRARY_PATH", "every kernel needs LD_LIBRARY_PATH"),
        ("vualt://secret/lab/x#token", "no provider for vualt:// (served here: keyring, vault"),
        ("Keyring://qsecure/a", "is not a valid scheme"),
    ],
)
def test_a_reference_that_would_read_something_else_is_refused(source: str, said: str) -> None:
    with pytest.raises(PolicyError) as caught:
        load(source)
    assert "secrets.X.source" in str(caught.value) and said in str(caught.value)


@pytest.mark.parametrize(
    "source",
    ["file:///run/secrets/db%23replica", "vault://secret/lab/x#token?version=2", "env://X_SOURCE"],
)
def test_references_that_say_what_they_read_still_load(source: str) -> None:
    assert load(source).grants["X"].source.text == source


@pytest.mark.parametrize("path", ["a//b.ipynb", "a/./b.ipynb", "./b.ipynb"])
def test_a_personal_grant_to_a_path_no_session_has_is_refused(path: str) -> None:
    assert "without ./ or //" in str(notebook_problem(path))
