"""A password with accented letters is masked in an HTTP Basic authorization header.

requests and aiohttp encode a Basic authorization's user and password as Latin-1 before
base64: ``é`` is one byte there, two in UTF-8, so the header's base64 matched none of the
UTF-8 forms and ``prepared.headers`` showed the password, decodable. Unit level, and
through a real server and a real kernel. Every value is made at run time.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

import pytest
from kernel_client import policy_granting
from test_masking_channels import Kernel

from jupyter_qsecure.secrets.masking import Masker


def _values() -> dict[str, str]:
    return {
        "ACCENTED": "Müller-été-" + secrets.token_hex(8),
        "ASCII": "plain-" + secrets.token_hex(10),
    }


def _header_values(value: str) -> set[str]:
    """What a Basic authorization for ``value`` shows: its base64, for user names of every
    length modulo 3, without the characters that depend on the user name."""
    shown = set()
    for user in ("u", "us", "usr"):
        encoded = base64.b64encode(f"{user}:{value}".encode("latin-1")).decode()
        shown.add(encoded[len(user) * 4 // 3 + 3 : -3])
    shown.add(value.encode("latin-1").hex())
    return shown


def test_a_basic_authorization_in_latin_1_is_masked() -> None:
    values = _values()
    masker = Masker(values)
    for name, value in values.items():
        for user in ("u", "us", "usr", "analyst"):
            header = "Basic " + base64.b64encode(f"{user}:{value}".encode("latin-1")).decode()
            masked = masker.mask(f"{{'Authorization': '{header}'}}")
            assert f"[secret:{name}]" in masked, (name, user, masked)
            assert not [s for s in _header_values(value) if s in masked], masked
        assert masker.mask(value.encode("latin-1").hex()) == f"[secret:{name}]"


@pytest.fixture
def granted(policy: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The values granted to every notebook (before the server starts)."""
    values = _values()
    policy(policy_granting(values, monkeypatch))
    return values


@pytest.mark.slow
async def test_a_basic_authorization_never_reaches_the_browser(
    granted: dict[str, str], jp_fetch: Any, jp_ws_fetch: Any
) -> None:
    from kernel_client import open_session

    session = await open_session(jp_fetch, "lab/basic.ipynb")
    ws = await jp_ws_fetch("api", "kernels", session["kernel"]["id"], "channels")
    k = Kernel(ws)
    try:
        for cell in (
            f"import os, base64\nV = [os.environ[n] for n in {list(granted)!r}]",
            # What requests' HTTPBasicAuth writes (requests itself where it is installed).
            "for user in ('u', 'us', 'usr'):\n"
            "    for v in V:\n"
            "        print(base64.b64encode(f'{user}:{v}'.encode('latin-1')).decode())",
            "try:\n"
            "    import requests\n"
            "except ImportError:\n"
            "    pass\n"
            "else:\n"
            "    for v in V:\n"
            "        r = requests.Request('GET', 'https://api.example.org', auth=('me', v))\n"
            "        display(dict(r.prepare().headers))",
        ):
            reply = await k.run(cell)
            assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        ws.close()
    browser = k.received()
    leaks = [(n, s) for n, v in granted.items() for s in _header_values(v) if s in browser]
    assert not leaks, [
        browser[max(0, browser.find(s) - 200) : browser.find(s) + 60] for _, s in leaks
    ]
    assert "[secret:ACCENTED]" in browser and "[secret:ASCII]" in browser
