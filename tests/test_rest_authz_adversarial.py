"""What a request may learn through jupyter-qsecure's routes that its user's role does not
let them read, on a real server whose authorizer denies exactly one resource.

The provenance report re-hashes every file a cell's record says it read, to say whether it
changed since: an editor notebook sent to ``POST /qsecure/provenance`` chooses those paths
and digests. A user who may read provenance but not open files learnt, for any file under
the served folder, whether it exists and whether its bytes are the ones they guessed (a
password file, a token of a known format)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, ClassVar

import pytest
from conftest import as_notebook, code_cell
from jupyter_server.auth import Authorizer
from traitlets.config import Config


class DenyingAuthorizer(Authorizer):
    """Denies the ``action:resource`` pairs in :attr:`denied`."""

    denied: ClassVar[set[str]] = set()

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return f"{action}:{resource}" not in self.denied


@pytest.fixture
def jp_server_config(jp_server_config: Config) -> Config:
    jp_server_config.ServerApp.authorizer_class = DenyingAuthorizer
    return jp_server_config


@pytest.fixture(autouse=True)
def _allow_everything() -> Any:
    DenyingAuthorizer.denied = set()
    yield
    DenyingAuthorizer.denied = set()


def probing(path: str, sha256: str) -> dict[str, Any]:
    """An editor notebook whose one cell's record says it read ``path`` with ``sha256``."""
    cell = code_cell("a", "x = 1", [], 1)
    cell["metadata"] = {
        "qsecure": {
            "execution": {
                "record_id": "r1",
                "execution_count": 1,
                "files": {"read": [{"path": path, "sha256": sha256, "size": 1}]},
            }
        }
    }
    return as_notebook(cell)


async def _post(jp_fetch: Any, notebook: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = await jp_fetch(
        "qsecure",
        "provenance",
        method="POST",
        body=json.dumps({"path": "probe.ipynb", "notebook": notebook}),
        raise_error=False,
    )
    return response.code, json.loads(response.body)


async def test_the_report_on_editor_content_needs_read_on_contents(
    jp_fetch: Any, jp_root_dir: Path
) -> None:
    secret = b"hunter2\n"
    (jp_root_dir / "passwords.txt").write_bytes(secret)
    guess = hashlib.sha256(secret).hexdigest()
    DenyingAuthorizer.denied = {"read:contents"}

    status, answer = await _post(jp_fetch, probing("passwords.txt", guess))
    assert status == 403 and answer["reason"] == "qsecure-forbidden", answer
    assert "read on contents" in answer["message"]

    # With read on contents, the panel's report is as it was.
    DenyingAuthorizer.denied = set()
    status, answer = await _post(jp_fetch, probing("passwords.txt", guess))
    assert status == 200
    assert answer["files_changed"] == []
    status, answer = await _post(jp_fetch, probing("passwords.txt", "0" * 64))
    assert answer["files_changed"] == ["passwords.txt: changed since the run read it"]
