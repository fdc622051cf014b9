"""A ``bytes`` value ``pprint`` cuts into adjacent literals is masked whole.

``pprint`` writes a long ``bytes`` object as ``b'...'`` literals of a few bytes each, one
a line, wherever a value falls (``pprint.pprint(vars(client))`` of an object holding a
key as bytes): the ``b`` opening each literal kept the pieces apart, each too short to be
masked, and a 64-character key nested in a dict reached the browser whole but for its
first line. Unit level (both matchers) and through a real server and a real kernel.
"""

from __future__ import annotations

import pprint
import secrets
import sys
from typing import Any

import pytest
from kernel_client import policy_granting
from test_masking_channels import Kernel
from test_masking_folds import _leaked, _values

from jupyter_qsecure.secrets.masking import Masker


def _printed(value: str) -> list[str]:
    """``pprint`` of a structure holding ``value`` as bytes, at widths and depths that put
    a literal's end anywhere in it."""
    raw = value.encode()
    shown = []
    for width in (20, 30, 40, 50, 80):
        for prefix in (b"", b"k=", b"prefix-bytes-"):
            shown.append(pprint.pformat({"content": prefix + raw + b"-suffix"}, width=width))
    nested = {"client": {"session": {"config": {"signing_key": raw, "other": 1}}}}
    shown.append(pprint.pformat(nested))
    return shown


@pytest.fixture(params=["hyperscan", "regex"])
def masker_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "regex":
        monkeypatch.setitem(sys.modules, "hyperscan", None)  # import fails: the fallback
    return str(request.param)


def test_pprinted_bytes_are_masked_whole(masker_kind: str) -> None:
    values = {**_values(), "ACCENTED": "clé-" + secrets.token_hex(12)}
    masker = Masker(values)
    for name, value in values.items():
        if name == "PEM":
            continue  # its lines are masked each on their own
        for shown in _printed(value):
            masked = masker.mask(shown)
            assert not _leaked(masked, {name: value}), (name, shown, masked)


def test_ordinary_bytes_literals_are_left_as_they_are() -> None:
    masker = Masker(_values())
    shown = pprint.pformat({"content": b"an ordinary response body, " * 6}, width=40)
    assert masker.mask(shown) == shown


@pytest.fixture
def granted(policy: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The folds' values granted to every notebook (before the server starts)."""
    values = {name: value for name, value in _values().items() if name != "PEM"}
    policy(policy_granting(values, monkeypatch))
    return values


@pytest.mark.slow
async def test_pprinted_bytes_never_reach_the_browser(
    granted: dict[str, str], jp_fetch: Any, jp_ws_fetch: Any
) -> None:
    from kernel_client import open_session

    session = await open_session(jp_fetch, "lab/pprint.ipynb")
    ws = await jp_ws_fetch("api", "kernels", session["kernel"]["id"], "channels")
    k = Kernel(ws)
    try:
        for cell in (
            f"import os, pprint\nV = [os.environ[n].encode() for n in {list(granted)!r}]",
            "for v in V:\n"
            "    pprint.pprint({'client': {'session': {'config': {'signing_key': v}}}})",
            "for v in V:\n    pprint.pprint({'content': b'k=' + v}, width=30)",
            "pprint.pformat({'content': b'prefix-bytes-' + V[1]}, width=40)",
        ):
            reply = await k.run(cell)
            assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        ws.close()
    browser = k.received()
    leaks = _leaked(browser, granted)
    assert not leaks, [
        browser[max(0, browser.find(x) - 200) : browser.find(x) + 60] for _, x in leaks[:3]
    ]
    for name in granted:
        assert f"[secret:{name}]" in browser
