"""The scanner: every credential kind in every place it can hide; nothing that is not one."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import string
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import code, markdown, notebook
from corpus import NEGATIVES, POSITIVES, Sample

from jupyter_qsecure.guard import RULES, Scanner
from jupyter_qsecure.guard.engine import Engine
from jupyter_qsecure.guard.findings import mask
from jupyter_qsecure.guard.rules import RULES_BY_ID

SCANNER = Scanner()
PURE_PYTHON = Scanner(engine=Engine(RULES, use_hyperscan=False))
RED, RESET = "\x1b[0;31m", "\x1b[0m"


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _output(data: dict[str, Any]) -> dict[str, Any]:
    return {"output_type": "execute_result", "execution_count": 1, "data": data, "metadata": {}}


# Each place builds a notebook holding the text, and says which field must be reported.
PLACES: dict[str, tuple[Callable[[str], dict[str, Any]], str]] = {
    "source as a string": (lambda t: notebook(code(t)), "source"),
    "source as a list of lines": (lambda t: notebook(code(_lines(t))), "source"),
    "markdown cell": (lambda t: notebook(markdown(f"Connect with:\n\n    {t}\n")), "source"),
    "stream output": (
        lambda t: notebook(
            code("print(x)", [{"output_type": "stream", "name": "stdout", "text": _lines(t)}])
        ),
        "outputs[0].stdout",
    ),
    "text/plain result": (
        lambda t: notebook(code("x", [_output({"text/plain": t})])),
        "outputs[0].text/plain",
    ),
    "text/html display": (
        lambda t: notebook(
            code("x", [_output({"text/html": f"<pre>{t}</pre>", "text/plain": "<obj>"})])
        ),
        "outputs[0].text/html",
    ),
    "text/markdown display": (
        lambda t: notebook(code("x", [_output({"text/markdown": _lines(t)})])),
        "outputs[0].text/markdown",
    ),
    "text/latex display": (
        lambda t: notebook(
            code("x", [_output({"text/latex": f"\\begin{{verbatim}}{t}\\end{{verbatim}}"})])
        ),
        "outputs[0].text/latex",
    ),
    "application/json display": (
        lambda t: notebook(code("x", [_output({"application/json": {"config": {"line": t}}})])),
        "outputs[0].application/json/config/line",
    ),
    "error traceback with colours": (
        lambda t: notebook(
            code(
                "f()",
                [
                    {
                        "output_type": "error",
                        "ename": "ValueError",
                        "evalue": "bad config",
                        "traceback": [
                            f"{RED}ValueError{RESET} Traceback",
                            "\n".join(f"{RED}{line}{RESET}" for line in t.splitlines()),
                        ],
                    }
                ],
            )
        ),
        "outputs[0].traceback",
    ),
    "error value": (
        lambda t: notebook(
            code(
                "f()",
                [{"output_type": "error", "ename": "RuntimeError", "evalue": t, "traceback": []}],
            )
        ),
        "outputs[0].error",
    ),
    "cell metadata": (
        lambda t: notebook({**code("x"), "metadata": {"notes": t}}),
        "metadata/notes",
    ),
    "notebook metadata": (
        lambda t: notebook(code("x"), metadata={"papermill": {"parameters": {"cfg": t}}}),
        "metadata/papermill/parameters/cfg",
    ),
    "text attachment": (
        lambda t: notebook(
            {
                **markdown("![notes](attachment:notes.txt)"),
                "attachments": {"notes.txt": {"text/plain": base64.b64encode(t.encode()).decode()}},
            }
        ),
        "attachments[notes.txt]",
    ),
}


@pytest.mark.parametrize("sample", POSITIVES, ids=lambda s: s.rule)
@pytest.mark.parametrize("place", sorted(PLACES))
def test_every_kind_is_found_in_every_place(sample: Sample, place: str) -> None:
    build, field = PLACES[place]
    result = SCANNER.scan_notebook(build(sample.text))
    assert any(f.rule == sample.rule and f.location.field == field for f in result.findings), (
        f"{sample.rule} not found in {place}: {[(f.rule, f.location.field) for f in result.findings]}"
    )
    for finding in result.findings:
        # The preview is the masked form of a value the rule matches (its public prefix and
        # at most its last three characters), never more of it.
        rule = RULES_BY_ID[finding.rule]
        values = {match.group("secret") for match in rule.regex.finditer(sample.text)}
        assert finding.preview in {mask(value, rule.visible_prefix) for value in values}, (
            finding.preview,
            finding.rule,
        )
        assert not any(value in finding.preview for value in values)
        assert finding.to_json()["fingerprint"] == finding.fingerprint


@pytest.mark.parametrize("sample", NEGATIVES, ids=lambda s: s.text[:40])
@pytest.mark.parametrize("place", sorted(PLACES))
def test_nothing_else_is_flagged(sample: Sample, place: str) -> None:
    build, _ = PLACES[place]
    assert SCANNER.scan_notebook(build(sample.text)).findings == []


@pytest.mark.parametrize("sample", POSITIVES + NEGATIVES, ids=lambda s: s.rule or s.text[:40])
def test_pure_python_engine_agrees_with_hyperscan(sample: Sample) -> None:
    assert SCANNER.engine.uses_hyperscan
    assert PURE_PYTHON.scan_text(sample.text).findings == SCANNER.scan_text(sample.text).findings


def test_images_are_not_scanned_as_text() -> None:
    # Base64 of a PNG can contain any letters, including something token-shaped.
    payload = base64.b64encode(b"\x89PNG" + b"ghp_" + b"A" * 200).decode()
    nb = notebook(code("plot()", [_output({"image/png": payload, "text/plain": "<Figure>"})]))
    assert SCANNER.scan_notebook(nb).findings == []


def test_finding_names_cell_line_and_masks_value() -> None:
    token = POSITIVES[0].text.split('"')[1]
    nb = notebook(markdown("intro"), code(["import os\n", f'token = "{token}"\n']))
    [finding] = SCANNER.scan_notebook(nb).findings
    assert (finding.location.cell_index, finding.location.cell_id, finding.location.line) == (
        1,
        "cell-1",
        2,
    )
    assert finding.describe() == f"GitHub token in cell 2, line 2 (ghp_…{token[-3:]})"
    assert token not in json.dumps(finding.to_json())


def test_same_value_twice_has_one_fingerprint() -> None:
    token = POSITIVES[0].text.split('"')[1]
    nb = notebook(code(f'a = "{token}"'), code(f"print('{token}')"))
    findings = SCANNER.scan_notebook(nb).findings
    assert len(findings) == 2
    assert findings[0].fingerprint == findings[1].fingerprint


@pytest.mark.parametrize(
    ("value", "prefix", "expected"),
    [
        ("ghp_abcdefghijklmnopqrstuvwxyz0123456789", 4, "ghp_…789"),
        ("hunter22", 0, "…(8 chars)"),
        ("AKIA1234", 4, "AKIA…"),
    ],
)
def test_mask(value: str, prefix: int, expected: str) -> None:
    assert mask(value, prefix) == expected


def test_unquoted_values_count_only_in_config_files(tmp_path: Any) -> None:
    line = "DB_PASSWORD=Wq8vN3zLp2\n"
    env = tmp_path / ".env"
    env.write_text(line)
    script = tmp_path / "notes.py"
    script.write_text(line)
    assert [f.rule for f in SCANNER.scan_path(env).findings] == ["password-env"]
    assert SCANNER.scan_path(script).findings == []


def test_json_files_are_also_scanned_unescaped(tmp_path: Any) -> None:
    # In JSON, a quoted value inside a string is escaped: \"...\" hides it from line rules.
    path = tmp_path / "tasks.json"
    path.write_text(
        json.dumps({"setup": 'db.connect(user="lab", password="Wq8vN3zLp2x!")', "n": 3}, indent=2)
    )
    # Found once: in the raw text (escaped quotes are quotes) or in the unescaped string.
    [finding] = SCANNER.scan_path(path).findings
    assert finding.rule == "password-assignment"
    token = POSITIVES[0].text.split('"')[1]
    path.write_text(json.dumps({"token": token}))
    assert len(SCANNER.scan_path(path).findings) == 1  # found in the text, not twice


def test_a_context_window_never_starts_mid_line() -> None:
    """Rules that read context before their line get windows that start at a line start:
    a wrapped base64 block (an SSH signature in a signed notebook's metadata) is not
    "a token on a line of its own" wherever the window would have cut it."""
    # Without "/" (as in about half of real signatures), a piece of a line looks like a token.
    blob = base64.b64encode(b"SSHSIG" + random.Random(7).randbytes(300), b"+A").decode()
    armor = "\n".join(
        ["-----BEGIN SSH SIGNATURE-----"]
        + [blob[i : i + 70] for i in range(0, len(blob), 70)]
        + ["-----END SSH SIGNATURE-----", ""]
    )
    for lead in range(0, 320, 7):
        text = "x" * lead + "\n" + armor
        for scanner in (SCANNER, PURE_PYTHON):
            assert scanner.scan_text(text, path=Path("signature.txt")).findings == [], lead


def _widget_state() -> dict[str, Any]:
    """ipywidgets' saved state: models under their ids, referring to each other."""
    ids = [uuid.uuid4().hex for _ in range(3)]
    state = {
        ids[0]: {"model_name": "LayoutModel", "state": {"width": None}},
        ids[1]: {
            "model_name": "FloatSliderModel",
            "state": {"layout": f"IPY_MODEL_{ids[0]}", "style": f"IPY_MODEL_{ids[2]}"},
        },
        ids[2]: {"model_name": "SliderStyleModel", "state": {}},
    }
    widgets = {"application/vnd.jupyter.widget-state+json": {"version_major": 2, "state": state}}
    view = {"version_major": 2, "version_minor": 0, "model_id": ids[1]}
    return notebook(
        code(
            "widgets.FloatSlider()",
            [_output({"application/vnd.jupyter.widget-view+json": view, "text/plain": "..."})],
        ),
        metadata={"widgets": widgets},
    )


def _password_hashes() -> dict[str, Any]:
    """A cell printing a password's hash in the formats of bcrypt, Argon2, Werkzeug and
    Jupyter (``passwd()``, pasted into ``jupyter_server_config.py``)."""
    rng = random.Random()
    crypt64 = "./" + string.ascii_letters + string.digits

    def salt(size: int) -> str:
        return "".join(rng.choice(crypt64) for _ in range(size))

    scrypt = hashlib.scrypt(b"pw", salt=b"s", n=2**14, r=8, p=1, dklen=64).hex()
    pbkdf2 = hashlib.pbkdf2_hmac("sha256", b"pw", b"s", 1000).hex()
    argon2 = f"$argon2id$v=19$m=65536,t=3,p=4${salt(22).replace('.', '+')}${salt(43)}"
    printed = [
        f"$2b$12${salt(53)}",
        argon2,
        f"scrypt:32768:8:1${salt(16).replace('.', 'x').replace('/', 'y')}${scrypt}",
        f"pbkdf2:sha256:600000${salt(16).replace('.', 'x').replace('/', 'y')}${pbkdf2}",
    ]
    source = (
        "from werkzeug.security import generate_password_hash\n"
        "print(bcrypt.hashpw(password, bcrypt.gensalt()).decode())\n"
        "print(argon2.PasswordHasher().hash(password))\n"
        "print(generate_password_hash(password))\n"
        "print(generate_password_hash(password, method='pbkdf2:sha256'))"
    )
    stream = {"output_type": "stream", "name": "stdout", "text": "\n".join(printed) + "\n"}
    config = f"c.PasswordIdentityProvider.hashed_password = 'argon2:{argon2}'\n"
    return notebook(code(source, [stream]), code("passwd()", [_output({"text/plain": config})]))


def _tokenizer_outputs() -> dict[str, Any]:
    """An NLP notebook's tokens: GPT-2's byte-level BPE (``Ġ`` marks a space) as JSON
    escapes them, SentencePiece's (``▁``) as a fill-mask pipeline's result shows them."""
    words = ["quantum", "circuit", "Qubit", "Quántica", "measurement", "rotation"]
    records = [{"token": "\u0120" + word, "id": 1000 + i} for i, word in enumerate(words)]
    printed = "\n".join(json.dumps(record) for record in records) + "\n"
    masks = [
        {"score": 0.1, "token": 2204 + i, "token_str": "\u2581" + word, "sequence": word}
        for i, word in enumerate(words)
    ]
    return notebook(
        code(
            "for t, i in zip(enc.tokens, enc.ids): print(json.dumps({'token': t, 'id': i}))",
            [{"output_type": "stream", "name": "stdout", "text": printed}],
        ),
        code("fill_mask('the [MASK] has two qubits')", [_output({"text/plain": repr(masks)})]),
    )


#: What a quantum or data-science lab's notebooks hold that is not a credential (built
#: when the test runs, so that the repository holds nothing credential-shaped).
LAB_NOTEBOOKS: dict[str, Callable[[], dict[str, Any]]] = {
    "ipywidgets' saved state (IPY_MODEL_ references)": _widget_state,
    "password hashes printed (bcrypt, Argon2, Werkzeug, Jupyter)": _password_hashes,
    "tokenizers' tokens (JSON-escaped Ġ, SentencePiece ▁)": _tokenizer_outputs,
}


@pytest.mark.parametrize("name", sorted(LAB_NOTEBOOKS))
def test_a_lab_notebook_holds_no_credential(name: str) -> None:
    nb = LAB_NOTEBOOKS[name]()
    for scanner in (SCANNER, PURE_PYTHON):
        assert scanner.scan_notebook(nb).findings == []
