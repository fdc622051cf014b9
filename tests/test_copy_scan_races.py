"""A single-file copy is scanned in a worker thread, then written: what is written is what
was scanned, and the scan's pass cannot be borrowed by another write.

Each test holds the copy's scan on an event and acts meanwhile, as an attacker racing the
copy would: the source changed or swapped for a link to a credential, another request
writing a credential (a PUT naming any key it likes in its model), a copy of a notebook.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import code, notebook
from tornado.httpclient import HTTPClientError

CLEAN = "x,y\n" + "1,2\n" * 1000


async def _refused(coroutine: Any) -> dict[str, Any]:
    with pytest.raises(HTTPClientError) as caught:
        await coroutine
    assert caught.value.code == 422
    assert caught.value.response is not None
    return dict(json.loads(caught.value.response.body))


class HeldScan:
    """The guard's check, held for one path until released."""

    def __init__(self, guard: Any, path: str) -> None:
        self.path = path
        self.scanning = threading.Event()
        self.release = threading.Event()
        self._check = guard.check

    def __call__(self, model: dict[str, Any], path: str, **kwargs: Any) -> None:
        if path == self.path:
            self.scanning.set()
            assert self.release.wait(timeout=60)
        self._check(model, path, **kwargs)


@pytest.fixture
def held(qsecure_app: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[HeldScan]:
    scan = HeldScan(qsecure_app.save_guard, "data-Copy1.csv")
    monkeypatch.setattr(qsecure_app.save_guard, "check", scan)
    yield scan
    scan.release.set()


def _copy(jp_fetch: Any, source: str) -> Any:
    return asyncio.ensure_future(
        jp_fetch("api", "contents", "", method="POST", body=json.dumps({"copy_from": source}))
    )


@pytest.mark.parametrize("swap", ["rewritten", "symlink"])
async def test_a_source_changed_during_the_scan_is_not_what_is_written(
    jp_fetch: Any, jp_root_dir: Path, github_token: str, held: HeldScan, swap: str
) -> None:
    source = jp_root_dir / "data.csv"
    source.write_text(CLEAN)
    copying = _copy(jp_fetch, "data.csv")
    assert await asyncio.to_thread(held.scanning.wait, 60)
    if swap == "rewritten":
        source.write_text(f"GH_TOKEN={github_token}\n")
    else:
        (jp_root_dir / "keys.env").write_text(f"GH_TOKEN={github_token}\n")
        source.unlink()
        source.symlink_to(jp_root_dir / "keys.env")
    held.release.set()
    response = await copying
    assert response.code == 201
    assert (jp_root_dir / "data-Copy1.csv").read_text() == CLEAN


async def test_a_write_during_a_copys_scan_is_scanned_itself(
    jp_fetch: Any, jp_root_dir: Path, github_token: str, held: HeldScan, audit_events: Any
) -> None:
    """Another request's save meanwhile (its model naming keys of its choosing) is scanned
    and refused; the copy's pass is its own."""
    (jp_root_dir / "data.csv").write_text(CLEAN)
    copying = _copy(jp_fetch, "data.csv")
    assert await asyncio.to_thread(held.scanning.wait, 60)
    model = {
        "type": "file",
        "format": "text",
        "content": f"GH_TOKEN={github_token}\n",
        "prechecked": True,
        "qsecure_prechecked": True,
        "qsecure_scan_in_a_thread": True,
    }
    body = await _refused(
        jp_fetch("api", "contents", "data-Copy1.csv", method="PUT", body=json.dumps(model))
    )
    assert body["reason"] == "qsecure-leak" and github_token not in json.dumps(body)
    held.release.set()
    response = await copying
    assert response.code == 201
    assert not (jp_root_dir / "data-Copy2.csv").exists()
    assert github_token not in (jp_root_dir / "data-Copy1.csv").read_text()
    blocked = [e for e in audit_events() if e["__schema__"].endswith("save-blocked/v1")]
    assert [(e["path"], e["outcome"]) for e in blocked] == [("data-Copy1.csv", "blocked")]


async def test_a_copied_notebook_with_a_credential_is_refused_and_not_written(
    jp_fetch: Any, jp_root_dir: Path, github_token: str, audit_events: Any
) -> None:
    source = jp_root_dir / "keys.ipynb"
    source.write_text(json.dumps(notebook(code(f"token = '{github_token}'"))))
    before = source.read_bytes()
    body = await _refused(_copy(jp_fetch, "keys.ipynb"))
    assert body["reason"] == "qsecure-leak" and body["path"] == "keys-Copy1.ipynb"
    assert github_token not in json.dumps(body)
    assert sorted(p.name for p in jp_root_dir.iterdir() if p.suffix == ".ipynb") == ["keys.ipynb"]
    assert source.read_bytes() == before
    blocked = [e for e in audit_events() if e["__schema__"].endswith("save-blocked/v1")]
    assert [(e["path"], e["outcome"]) for e in blocked] == [("keys-Copy1.ipynb", "blocked")]
