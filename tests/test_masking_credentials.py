"""The credentials inside a connection string granted as one value are masked alone.

A ``DATABASE_URL`` is granted whole, and masked whole; but SQLAlchemy's
``make_url(url).password``, ``urlsplit(url).password``, ``parse_qs`` of a signed URL's
query and a libpq connection string parsed into a dict show its password alone, a run
of the value too short to be masked as one. Unit level, and through a real server and a
real kernel. Every value is made at run time.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from kernel_client import policy_granting
from test_masking_channels import Kernel

from jupyter_qsecure.secrets.masking import Masker


def _values() -> tuple[dict[str, str], dict[str, list[str]]]:
    """(granted values by name, the credentials inside each, as written and decoded)."""
    password = "Q" + secrets.token_urlsafe(12) + "#$"
    signature = base64.b64encode(secrets.token_bytes(32)).decode()
    setting = secrets.token_urlsafe(14)
    userinfo = "analyst:" + quote(password, safe="")
    values = {
        "DATABASE_URL": "postgresql://" + userinfo + "@db.lab.example.org:5432/experiments",
        "SIGNED_URL": (
            "https://store.example.org/c/data.csv?sv=2022-11-02&se=2030-01-01&sp=r&sig="
            + quote(signature, safe="")
        ),
        "DSN": "host=db.lab.example.org port=5432 user=analyst password=" + setting,
    }
    inside = {
        "DATABASE_URL": [password, quote(password, safe="")],
        "SIGNED_URL": [signature, quote(signature, safe="")],
        "DSN": [setting],
    }
    return values, inside


def _leaked(text: str, inside: dict[str, list[str]]) -> list[tuple[str, str]]:
    return [(name, found) for name, all_ in inside.items() for found in all_ if found in text]


def test_a_connection_strings_credentials_are_masked_alone() -> None:
    values, inside = _values()
    masker = Masker(values)
    url, signed, dsn = values["DATABASE_URL"], values["SIGNED_URL"], values["DSN"]
    shown = [
        repr(urlsplit(url).password),
        str(parse_qs(urlsplit(signed).query)),
        str(dict(item.split("=", 1) for item in dsn.split())),
        f"password={inside['DATABASE_URL'][0]}",
    ]
    sqlalchemy = pytest.importorskip("sqlalchemy")
    made = sqlalchemy.engine.make_url(url)
    shown += [repr(made.password), str(made.translate_connect_args())]
    for text in shown:
        masked = masker.mask(text)
        assert not _leaked(masked, inside) and "[secret:" in masked, (text, masked)
    # The rest of the query is public and stays as it is (a date is no credential).
    assert "2022-11-02" in masker.mask(str(parse_qs(urlsplit(signed).query)))


CELLS = [
    "import os, urllib.parse as up\n"
    "u, s, d = (os.environ[n] for n in ('DATABASE_URL', 'SIGNED_URL', 'DSN'))",
    "print(up.urlsplit(u).password, up.unquote(up.urlsplit(u).password))",
    "up.urlsplit(u).password",
    "up.parse_qs(up.urlsplit(s).query)",
    "dict(item.split('=', 1) for item in d.split())",
    "try:\n"
    "    from sqlalchemy.engine import make_url\n"
    "except ImportError:\n"
    "    pass\n"
    "else:\n"
    "    display(make_url(u).translate_connect_args())",
]


@pytest.fixture
def granted(policy: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """The connection strings granted to every notebook (before the server starts); the
    credentials inside each."""
    values, inside = _values()
    policy(policy_granting(values, monkeypatch))
    return inside


@pytest.mark.slow
async def test_a_connection_strings_credentials_never_reach_the_browser(
    granted: dict[str, list[str]], jp_fetch: Any, jp_ws_fetch: Any
) -> None:
    from kernel_client import open_session

    inside = granted
    session = await open_session(jp_fetch, "lab/connections.ipynb")
    ws = await jp_ws_fetch("api", "kernels", session["kernel"]["id"], "channels")
    k = Kernel(ws)
    try:
        for cell in CELLS:
            reply = await k.run(cell)
            assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        ws.close()
    browser = k.received()
    leaks = _leaked(browser, inside)
    assert not leaks, [
        browser[max(0, browser.find(x) - 200) : browser.find(x) + 60] for _, x in leaks
    ]
    assert "[secret:DATABASE_URL]" in browser and "[secret:SIGNED_URL]" in browser
    assert "[secret:DSN]" in browser and "2022-11-02" in browser


def test_a_urls_public_settings_named_after_a_credential_word_stay_shown() -> None:
    """Only query parameters whose name ends in a credential word are parts of the value:
    MongoDB's ``authSource``/``authMechanism``, Snowflake's ``authenticator``, ``keyword``
    or ``author`` hold public settings, which masking would hide in every output (and the
    guard refuse in every notebook) once the URL is granted."""
    password = "Q" + secrets.token_urlsafe(12)
    token = secrets.token_urlsafe(24)
    public = ["SCRAM-SHA-256", "snowflake_jwt", "quantum_walks", "someone_here"]
    url = (
        f"mongodb://analyst:{password}@db.lab.example.org/lab?authSource=admin"
        f"&authMechanism={public[0]}&authenticator={public[1]}&keyword={public[2]}"
        f"&author={public[3]}&X-Amz-SignedHeaders=host&apiKey={token}"
    )
    masker = Masker({"MONGO_URL": url})
    for value in public:
        assert masker.mask(f"using {value} here") == f"using {value} here"
    for value in (password, token):
        assert value not in masker.mask(f"using {value} here")
