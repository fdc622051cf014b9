"""The answers the JupyterLab extension reads, produced by a real server and pinned as JSON
fixtures that the Jest tests read too (``labextension/src/__tests__/contract/``).

Each test drives a real server (real guard, signing, provenance store, kernel, keyring),
normalises what changes from run to run (times, random ids, temporary paths, key
fingerprints, the user's name, the machine's environment) and compares the result with the
committed fixture, byte for byte. A server change that alters a shape fails here until the
fixtures are regenerated, and the frontend is checked against the new ones::

    QSECURE_UPDATE_CONTRACT=1 python -m pytest tests/test_frontend_contract.py
    jlpm test
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import as_notebook, code_cell
from jupyter_server.auth.authorizer import Authorizer
from kernel_client import execute, save_notebook, start_session, wait_for_records
from traitlets.config import Config

from jupyter_qsecure import authz
from jupyter_qsecure.signing.service import SigningService

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ROOT / "labextension" / "src" / "__tests__" / "contract"
UPDATE_VARIABLE = "QSECURE_UPDATE_CONTRACT"
#: Read when the module loads: the hermetic fixtures clear QSECURE_* variables per test.
UPDATING = os.environ.get(UPDATE_VARIABLE) == "1"

#: A GitHub token the guard detects, made up for these fixtures (listed in .secrets.baseline).
FAKE_TOKEN = "ghp_ContractFixtureOnlyNotARealToken7Qx2"

#: Every fixture this module writes; the Jest tests read the same files.
FIXTURES = (
    "blocked-save.json",
    "scan.json",
    "accepted.json",
    "undone.json",
    "signature-unsigned.json",
    "sign.json",
    "signature-signed.json",
    "signature-modified.json",
    "signature-invalid.json",
    "signature-untrusted.json",
    "provenance.json",
    "secrets.json",
    "status-on.json",
    "status-off.json",
    "status-unavailable.json",
    "save-unavailable.json",
    "forbidden.json",
)

#: The environment facts the provenance panel shows (see `environmentSummary`): only their
#: presence is pinned, since their values are the machine's.
ENVIRONMENT_SHOWN = {
    "python": ("implementation", "version", "platform"),
    "host": ("hostname", "cpu_count", "cpu_usable"),
    "distributions": ("count", "digest"),
}

_ISO_TIME = re.compile(
    r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?P<fraction>\.\d+)?(?P<zone>Z|[+-]\d{2}:\d{2})?"
)
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")


@dataclass
class Normaliser:
    """Replaces what changes from run to run by stable stand-ins of the same form: every
    time by one time, each random id by its own stand-in (equal ids stay equal)."""

    #: Exact texts and their stand-ins (temporary paths, key fingerprints).
    texts: dict[str, str] = field(default_factory=dict)
    _ids: dict[str, str] = field(default_factory=dict)

    def __call__(self, value: Any, key: str = "") -> Any:
        """``value`` (a JSON document) normalised; ``key`` is the name it has in its parent."""
        if key in ("user", "users") and value is not None:
            return ["<user>" for _ in value] if isinstance(value, list) else "<user>"
        if key == "duration_ms" and isinstance(value, (int, float)):
            return 1.5
        if key == "environment" and isinstance(value, dict):
            return environment_shape(value)
        if isinstance(value, dict):
            return {k: self(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self(v) for v in value]
        if isinstance(value, str):
            return self._text(value)
        return value

    def _text(self, text: str) -> str:
        for original in sorted(self.texts, key=len, reverse=True):
            text = text.replace(original, self.texts[original])
        text = _ISO_TIME.sub(self._time, text)
        return _UUID.sub(self._id, text)

    def _time(self, match: re.Match[str]) -> str:
        # One stand-in for every time (in the same format): two moments that happen to be
        # equal in one run and not in another must not change the fixture.
        fraction = match.group("fraction") or ""
        zeros = ("." + "0" * (len(fraction) - 1)) if fraction else ""
        return "2026-01-01T00:00:00" + zeros + (match.group("zone") or "")

    def _id(self, match: re.Match[str]) -> str:
        return self._ids.setdefault(
            match.group(0), f"00000000-0000-4000-8000-{len(self._ids) + 1:012d}"
        )


def environment_shape(environment: dict[str, Any]) -> dict[str, Any]:
    """The environment facts the panel shows, each replaced by ``<section.key>`` (numbers by
    a number): what the server must keep sending, not what this machine is."""
    shape: dict[str, Any] = {}
    for section, keys in ENVIRONMENT_SHOWN.items():
        facts = environment.get(section)
        assert isinstance(facts, dict), f"environment.{section} is gone: the panel reads it"
        shape[section] = {}
        for key in keys:
            assert key in facts, f"environment.{section}.{key} is gone: the panel reads it"
            value = facts[key]
            shape[section][key] = 2 if isinstance(value, int) else f"<{section}.{key}>"
    return shape


def fixture_text(document: Any) -> str:
    """A fixture's file content: indented JSON, keys in the server's order."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


@pytest.fixture
def pin(tmp_path: Path) -> Callable[..., None]:
    """``pin(name, document, normaliser)``: compare the normalised ``document`` with the
    committed fixture ``name`` (or write it, with ``QSECURE_UPDATE_CONTRACT=1``)."""

    def check(name: str, document: Any, normaliser: Normaliser | None = None) -> None:
        assert name in FIXTURES, f"add {name} to FIXTURES"
        normaliser = normaliser or Normaliser()
        normaliser.texts.setdefault(str(tmp_path.resolve()), "<tmp>")
        normaliser.texts.setdefault(str(tmp_path), "<tmp>")
        text = fixture_text(normaliser(document))
        path = CONTRACT / name
        if UPDATING:
            CONTRACT.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            return
        committed = path.read_text(encoding="utf-8") if path.exists() else ""
        if text != committed:
            diff = "".join(
                difflib.unified_diff(
                    committed.splitlines(keepends=True),
                    text.splitlines(keepends=True),
                    f"committed {name}",
                    f"the server's answer now, normalised ({name})",
                )
            )
            pytest.fail(
                f"the server's answer no longer matches the fixture the frontend is tested "
                f"against; if the change is meant, run {UPDATE_VARIABLE}=1 pytest "
                f"{Path(__file__).name}, then jlpm test, and commit both:\n{diff}"
            )

    return check


@dataclass
class Browser:
    """Requests as JupyterLab makes them from one browser: with the server's token, then
    with the login cookie the server sets, so that all of them are the same user's."""

    fetch: Any
    cookies: dict[str, str] = field(default_factory=dict)

    async def answer(
        self, *parts: str, method: str = "GET", body: Any = None, **params: str
    ) -> dict[str, Any]:
        """A request's status, HTTP reason phrase and JSON body, whether it succeeded."""
        cookie = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        response = await self.fetch(
            *parts,
            method=method,
            body=None if body is None else json.dumps(body),
            params=params or None,
            headers={"Cookie": cookie} if cookie else None,
            raise_error=False,
        )
        for header in response.headers.get_list("Set-Cookie"):
            name, _, rest = header.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        text = response.body.decode("utf-8")
        return {
            "status": response.code,
            "reason_phrase": response.reason,
            "body": json.loads(text) if text else None,
        }


@pytest.fixture
def browser(jp_fetch: Any) -> Browser:
    """One browser's requests to the server under test."""
    return Browser(jp_fetch)


@pytest.fixture
def server_extra() -> dict[str, Any]:
    """Configuration a test adds to the server's (by parametrizing this name)."""
    return {}


@pytest.fixture
def server_policy() -> str | None:
    """The policy file a test's server starts with (by parametrizing this name)."""
    return None


@pytest.fixture
def jp_server_config(
    jp_server_config: Config,
    server_extra: dict[str, Any],
    server_policy: str | None,
    policy: Callable[[str], Path],
) -> Config:
    """The shared server configuration, plus the test's ``server_extra``; the test's
    ``server_policy`` is written before the server starts."""
    if server_policy is not None:
        policy(server_policy)
    jp_server_config.merge(Config(server_extra))
    return jp_server_config


# The leak guard -------------------------------------------------------------------------


def leaking_notebook() -> dict[str, Any]:
    """A notebook with the made-up token in a source, an output and a longer string."""
    printed = {"output_type": "stream", "name": "stdout", "text": f"{FAKE_TOKEN}\n"}
    return as_notebook(
        {"cell_type": "markdown", "id": "intro", "metadata": {}, "source": "# Contract"},
        code_cell("fetch", f'import os\ntoken = "{FAKE_TOKEN}"\nprint(token)', [printed], 1),
        code_cell("header", f'headers = {{"Authorization": "Bearer {FAKE_TOKEN}"}}'),
    )


async def test_guard_answers(browser: Browser, jp_root_dir: Path, pin: Any) -> None:
    (jp_root_dir / "contract").mkdir()
    path = "contract/leak.ipynb"
    model = {"type": "notebook", "content": leaking_notebook()}
    blocked = await browser.answer("api", "contents", path, method="PUT", body=model)
    assert blocked["status"] == 422 and blocked["reason_phrase"] == "qsecure-leak"
    assert FAKE_TOKEN not in json.dumps(blocked)
    assert not (jp_root_dir / path).exists()
    pin("blocked-save.json", {"request": {"path": path, "model": model}, **blocked})

    scan = await browser.answer(
        "qsecure", "scan", method="POST", body={"path": path, "model": model}
    )
    assert scan["status"] == 200
    assert scan["body"]["findings"] == blocked["body"]["findings"]
    pin("scan.json", scan)

    # Accepted in the dialog (as the frontend sends it), listed, then undone.
    finding = blocked["body"]["findings"][0]
    accept = {key: finding[key] for key in ("fingerprint", "kind", "preview")}
    posted = await browser.answer(
        "qsecure",
        "bypass",
        method="POST",
        body={**accept, "reason": "test_credential", "path": path},
    )
    assert posted["status"] == 201
    accepted = await browser.answer("qsecure", "bypass")
    [entry] = accepted["body"]["accepted"]
    stable_id = Normaliser(texts={entry["id"]: "0123456789abcdef"})
    pin("accepted.json", accepted, stable_id)
    undone = await browser.answer("qsecure", "bypass", method="DELETE", id=entry["id"])
    assert undone["status"] == 200 and undone["body"]["still_accepted"] is False
    pin("undone.json", undone, stable_id)


# Signing ---------------------------------------------------------------------------------


@dataclass
class SigningSetup:
    """The server's signing key and the allowed signers file that trusts it."""

    key: Path
    allowed: Path


def new_key(path: Path) -> str:
    """Make an ed25519 key pair at ``path``; its public key as ``TYPE BASE64``."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "signer", "-f", str(path)],
        check=True,
        timeout=60,
    )
    kind, blob = path.with_suffix(".pub").read_text().split()[:2]
    return f"{kind} {blob}"


@pytest.fixture
def signing_setup(tmp_path: Path, policy: Callable[[str], Path]) -> SigningSetup:
    """The server signs with a new key that its allowed signers file trusts."""
    if shutil.which("ssh-keygen") is None:
        pytest.skip("needs ssh-keygen (Debian: openssh-client)")
    key = tmp_path / "server-signer"
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"lab-server@lab.example {new_key(key)}\n")
    policy(
        f'[signing]\nkey = "{key}"\nprincipal = "lab-server@lab.example"\n'
        f'allowed_signers = "{allowed}"\nrequire = 1\nrequire_roles = ["author"]\n'
    )
    return SigningSetup(key, allowed)


def damaged_signature(armored: str) -> str:
    """The armored SSH signature with one character of its signature bytes changed."""
    lines = armored.splitlines()
    last = max(i for i, line in enumerate(lines) if line and not line.startswith("-----"))
    line = lines[last]
    spot = len(line.rstrip("=")) - 8
    lines[last] = line[:spot] + ("A" if line[spot] != "A" else "B") + line[spot + 1 :]
    return "\n".join(lines) + ("\n" if armored.endswith("\n") else "")


def key_fingerprint(public_key: Path) -> str:
    """``SHA256:...`` of a public key, as ssh-keygen prints it."""
    done = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(public_key)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.split()[1]


async def test_signing_answers(
    signing_setup: SigningSetup, browser: Browser, jp_root_dir: Path, pin: Any
) -> None:
    notebook = as_notebook(
        code_cell("load", "shots = 1024"),
        {"cell_type": "markdown", "id": "notes", "metadata": {}, "source": "# Notes"},
    )
    (jp_root_dir / "analysis.ipynb").write_text(json.dumps(notebook))
    normaliser = Normaliser(
        texts={key_fingerprint(signing_setup.key.with_suffix(".pub")): "SHA256:contract-key"}
    )

    async def status_of(content: dict[str, Any] | None = None) -> dict[str, Any]:
        if content is None:
            return await browser.answer("qsecure", "signature", path="analysis.ipynb")
        body = {"path": "analysis.ipynb", "notebook": content}
        return await browser.answer("qsecure", "signature", method="POST", body=body)

    unsigned = await status_of()
    assert unsigned["body"]["status"] == "unsigned"
    pin("signature-unsigned.json", unsigned, normaliser)

    signed = await browser.answer("qsecure", "sign", method="POST", body={"path": "analysis.ipynb"})
    assert signed["status"] == 200 and signed["body"]["status"] == "signed and valid"
    pin("sign.json", signed, normaliser)
    valid = await status_of()
    assert valid["body"]["status"] == "signed and valid"
    pin("signature-signed.json", valid, normaliser)

    editor = json.loads((jp_root_dir / "analysis.ipynb").read_text())
    edited = json.loads(json.dumps(editor))
    edited["cells"][0]["source"] = "shots = 2048"
    modified = await status_of(edited)
    assert modified["body"]["status"] == "modified since signing"
    pin("signature-modified.json", modified, normaliser)

    forged = json.loads(json.dumps(editor))
    [entry] = forged["metadata"]["qsecure"]["signatures"]
    entry["signature"] = damaged_signature(entry["signature"])
    invalid = await status_of(forged)
    assert invalid["body"]["status"] == "invalid signature"
    pin("signature-invalid.json", invalid, normaliser)

    other = new_key(signing_setup.key.with_name("other-signer"))
    signing_setup.allowed.write_text(f"someone-else@lab.example {other}\n")
    untrusted = await status_of(editor)
    assert untrusted["body"]["status"] == "untrusted signer"
    pin("signature-untrusted.json", untrusted, normaliser)


# Provenance ------------------------------------------------------------------------------


async def test_provenance_answer(
    store_path: Path,
    browser: Browser,
    jp_fetch: Any,
    jp_serverapp: Any,
    jp_root_dir: Path,
    pin: Any,
) -> None:
    folder = jp_root_dir / "exp"
    folder.mkdir()
    (folder / "input.csv").write_text("shots,counts\n1024,512\n")
    path = "exp/run.ipynb"
    first = "rows = open('input.csv').read().splitlines()\nprint(len(rows))"
    second = "open('summary.txt', 'w').write(str(len(rows)))"
    session = await start_session(jp_fetch, jp_serverapp, path)
    try:
        outputs = await execute(session.client, first, "read")
        written = await execute(session.client, second, "write")
    finally:
        session.client.stop_channels()
        await jp_fetch("api", "sessions", session.session_id, method="DELETE")
    wait_for_records(store_path, 2)
    wait_for_records(store_path, 1, kind="environment")
    await save_notebook(
        jp_fetch,
        path,
        as_notebook(
            code_cell("read", first, outputs, 1),
            code_cell("write", second, written, 2),
            code_cell("never", "print('not run yet')"),
        ),
    )
    saved = json.loads((folder / "run.ipynb").read_text())
    saved["cells"][1]["source"] += "  # edited"
    report = await browser.answer(
        "qsecure", "provenance", method="POST", body={"path": path, "notebook": saved}
    )
    assert report["status"] == 200
    assert [c["badge"] for c in report["body"]["cells"]] == [
        "executed",
        "edited",
        "never-executed",
    ]
    pin("provenance.json", report)


# Secrets ---------------------------------------------------------------------------------


SECRETS_POLICY = (
    '[secrets.LAB_TOKEN]\nsource = "keyring://qsecure/lab"\nnotebooks = ["lab/*.ipynb"]\n\n'
    '[secrets.DB_PASSWORD]\nsource = "env://CONTRACT_DB_SOURCE"\nnotebooks = ["lab/run.ipynb"]\n'
)


@pytest.fixture
def db_source(monkeypatch: pytest.MonkeyPatch) -> str:
    """The value the policy's ``env://CONTRACT_DB_SOURCE`` secret reads."""
    monkeypatch.setenv("CONTRACT_DB_SOURCE", "contract-db-value")
    return "contract-db-value"


@pytest.mark.parametrize("server_policy", [SECRETS_POLICY], ids=["two-secrets"])
async def test_secrets_answer(
    keyring_env: dict[str, str], db_source: str, browser: Browser, pin: Any
) -> None:
    stored = await browser.answer(
        "qsecure", "secrets", "MY_TOKEN", method="PUT", body={"value": "qsv-contract"}
    )
    assert stored["status"] == 200
    granted = await browser.answer(
        "qsecure",
        "grants",
        "MY_TOKEN",
        method="PUT",
        body={"notebook": "lab/run.ipynb"},
    )
    assert granted["status"] == 200
    listing = await browser.answer("qsecure", "secrets", path="lab/run.ipynb")
    assert listing["status"] == 200
    rows = {row["name"]: row for row in listing["body"]["secrets"]}
    assert set(rows) == {"LAB_TOKEN", "DB_PASSWORD", "MY_TOKEN"}
    assert rows["MY_TOKEN"]["personal"] and rows["MY_TOKEN"]["granted"]
    assert "qsv-contract" not in json.dumps(listing) and db_source not in json.dumps(listing)
    pin("secrets.json", listing)


# Availability of the guard -------------------------------------------------------------


async def test_status_when_the_guard_is_on(browser: Browser, pin: Any) -> None:
    status = await browser.answer("qsecure", "status")
    assert status["status"] == 200 and status["body"]["guard"] == "on"
    pin("status-on.json", status, Normaliser(texts=_version_text()))


@pytest.mark.parametrize("server_policy", ["[guard]\nenabled = false\n"], ids=["guard-off"])
async def test_status_when_the_admin_turned_the_guard_off(browser: Browser, pin: Any) -> None:
    status = await browser.answer("qsecure", "status")
    assert status["status"] == 200 and status["body"]["guard"] == "off"
    pin("status-off.json", status, Normaliser(texts=_version_text()))


def _version_text() -> dict[str, str]:
    """The package's version, which the status carries, as a stand-in."""
    from jupyter_qsecure import __version__

    return {__version__: "0.0.0-contract"}


class BrokenSigningService(SigningService):
    """A signing service whose construction fails: the load stops at its step."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise OSError("injected by the contract test: the signing service cannot start")


class Collaborator(Authorizer):
    """A collaborator on a shared server: may edit notebooks, may not sign or manage
    secrets (write on ``qsecure:signing`` and ``qsecure:secrets`` is denied)."""

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return not (action == "write" and resource in (authz.SIGNING, authz.SECRETS))


@pytest.mark.parametrize(
    "server_extra",
    [{"QSecureApp": {"signing_service_class": BrokenSigningService}}],
    ids=["signing-cannot-start"],
)
async def test_answers_while_jupyter_qsecure_is_unavailable(
    browser: Browser, jp_root_dir: Path, pin: Any
) -> None:
    normaliser = Normaliser(texts=_version_text())
    status = await browser.answer("qsecure", "status")
    assert status["status"] == 200 and status["body"]["ready"] is False
    pin("status-unavailable.json", status, normaliser)

    clean = {"type": "notebook", "content": as_notebook(code_cell("a", "x = 1"))}
    refused = await browser.answer("api", "contents", "clean.ipynb", method="PUT", body=clean)
    assert refused["status"] == 503 and refused["reason_phrase"] == "qsecure-unavailable"
    assert not (jp_root_dir / "clean.ipynb").exists()
    pin("save-unavailable.json", refused, normaliser)


@pytest.mark.parametrize(
    "server_extra", [{"ServerApp": {"authorizer_class": Collaborator}}], ids=["collaborator"]
)
async def test_a_role_that_may_not_sign_is_told_so(
    browser: Browser, jp_root_dir: Path, pin: Any
) -> None:
    (jp_root_dir / "shared.ipynb").write_text(json.dumps(as_notebook(code_cell("a", "x = 1"))))
    refused = await browser.answer("qsecure", "sign", method="POST", body={"path": "shared.ipynb"})
    assert refused["status"] == 403
    pin("forbidden.json", refused)


def test_every_fixture_is_written_by_this_module() -> None:
    """No committed fixture is left that no test checks any more (nor one missing)."""
    committed = {path.name for path in CONTRACT.glob("*.json")}
    assert committed == set(FIXTURES)
