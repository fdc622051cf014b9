"""The forgery matrix: each edit of what a signature says (role, principal, signed time,
public key, namespace), one key signing twice under two roles, one principal with two keys,
one key under two principals, a legacy signature: each must fail the policy it tried to
pass, while the honest version of the same case passes. Plus fuzzing of the signature block:
no traceback on any entry."""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import nbformat
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyter_qsecure.signing.allowed_signers import parse_allowed_signers
from jupyter_qsecure.signing.canonical import LEGACY_CANONICAL_FORM, notebook_payload
from jupyter_qsecure.signing.signatures import (
    NAMESPACE,
    SigningPolicy,
    sign_notebook,
    signed_bytes,
    verify_notebook,
)
from jupyter_qsecure.signing.sshsig import sign_with_ssh_keygen

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen")

NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)
GRANTS = {
    "author": ("*",),
    "reviewer": ("alice@lab.example", "bob@lab.example"),
    "approver": ("alice@lab.example", "pi@lab.example"),
}


def keygen(folder: Path, name: str) -> Path:
    key = folder / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)],
        check=True,
        timeout=60,
    )
    return key


def public(key: Path) -> str:
    return " ".join(key.with_suffix(".pub").read_text().split()[:2])


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("keys")
    return {name: keygen(folder, name) for name in ("alice", "alice2", "bob", "pi", "shared")}


@pytest.fixture(scope="module")
def signers(keys: dict[str, Path]) -> list[Any]:
    return parse_allowed_signers(
        f"alice@lab.example {public(keys['alice'])}\n"
        f"alice@lab.example {public(keys['alice2'])}\n"
        f"bob@lab.example {public(keys['bob'])}\n"
        f'pi@lab.example valid-before="20260101Z" {public(keys["pi"])}\n'
        f"*@lab.example {public(keys['shared'])}\n"
    )


def notebook() -> dict[str, Any]:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)", id="c")])
    return dict(nbformat.from_dict(nb))


def signed(
    keys: dict[str, Path], *signatures: tuple[str, str, str], at: datetime = NOW
) -> dict[str, Any]:
    """A notebook signed in turn by (key name, principal, role)."""
    nb = notebook()
    for key, principal, role in signatures:
        sign_notebook(nb, keys[key], principal=principal, role=role, now=at)
    return nb


def check(nb: dict[str, Any], signers: list[Any], **policy: Any) -> Any:
    return verify_notebook(nb, signers, policy=SigningPolicy(grants=GRANTS, **policy), now=NOW)


def entry(nb: dict[str, Any], index: int = 0) -> dict[str, Any]:
    result: dict[str, Any] = nb["metadata"]["qsecure"]["signatures"][index]
    return result


def test_edited_role_fails(keys: dict[str, Path], signers: list[Any]) -> None:
    nb = signed(keys, ("bob", "bob@lab.example", "author"))
    assert not check(nb, signers, require_roles=("reviewer",)).meets_policy
    honest = signed(keys, ("bob", "bob@lab.example", "reviewer"))
    assert check(honest, signers, require_roles=("reviewer",)).meets_policy
    entry(nb)["role"] = "reviewer"
    verdict = check(nb, signers, require_roles=("reviewer",))
    assert not verdict.meets_policy and verdict.status == "invalid signature"
    assert "changed after signing" in verdict.results[0].reason


def test_edited_principal_fails(keys: dict[str, Path], signers: list[Any]) -> None:
    # the shared key may sign as anyone at lab.example, but what it signed says who
    nb = signed(keys, ("shared", "carol@lab.example", "author"))
    assert check(nb, signers).meets_policy
    entry(nb)["principal"] = "pi@lab.example"
    entry(nb)["role"] = "approver"
    verdict = check(nb, signers, require_roles=("approver",))
    assert not verdict.meets_policy and verdict.status == "invalid signature"


def test_edited_signed_time_fails(keys: dict[str, Path], signers: list[Any]) -> None:
    # pi's key expired at the end of 2025; pi signs in 2026
    late = signed(keys, ("pi", "pi@lab.example", "approver"))
    verdict = check(late, signers, require_roles=("approver",))
    assert not verdict.meets_policy and "key expired 2026-01-01" in verdict.results[0].reason
    # signed in time, it is trusted (judged at the signed time, even though now is later)
    early = signed(
        keys, ("pi", "pi@lab.example", "approver"), at=datetime(2025, 6, 1, tzinfo=timezone.utc)
    )
    assert check(early, signers, require_roles=("approver",)).meets_policy
    # backdating the late one breaks it
    entry(late)["signed_at"] = "2025-06-01T00:00:00Z"
    verdict = check(late, signers, require_roles=("approver",))
    assert not verdict.meets_policy and verdict.status == "invalid signature"
    assert verdict.results[0].signed_at == "2025-06-01T00:00:00Z"
    assert not verdict.results[0].trusted


def test_a_signing_time_in_the_future_is_not_trusted(
    keys: dict[str, Path], signers: list[Any]
) -> None:
    nb = signed(
        keys, ("bob", "bob@lab.example", "author"), at=datetime(2099, 1, 1, tzinfo=timezone.utc)
    )
    verdict = check(nb, signers)
    assert not verdict.meets_policy and "signed in the future" in verdict.results[0].reason


def test_edited_public_key_fails(keys: dict[str, Path], signers: list[Any]) -> None:
    nb = signed(keys, ("shared", "carol@lab.example", "author"))
    bob = signed(keys, ("bob", "bob@lab.example", "author"))
    forged = copy.deepcopy(nb)
    entry(forged)["public_key"] = entry(bob)["public_key"]
    entry(forged)["key_fingerprint"] = entry(bob)["key_fingerprint"]
    verdict = check(forged, signers)
    assert not verdict.meets_policy and "public_key is not the key" in verdict.results[0].reason
    # bob's signature block pasted under carol's statement
    forged = copy.deepcopy(nb)
    entry(forged)["signature"] = entry(bob)["signature"]
    assert check(forged, signers).status == "invalid signature"


def test_another_namespace_fails(keys: dict[str, Path], signers: list[Any]) -> None:
    nb = signed(keys, ("bob", "bob@lab.example", "author"))
    statement = signed_bytes(nb, entry(nb))
    entry(nb)["signature"] = sign_with_ssh_keygen(statement, keys["bob"], "file")
    verdict = check(nb, signers)
    assert not verdict.meets_policy and "namespace" in verdict.results[0].reason


def test_one_key_twice_under_two_roles_is_one_signer(
    keys: dict[str, Path], signers: list[Any]
) -> None:
    roles = ("reviewer", "approver")
    twice = signed(
        keys, ("alice", "alice@lab.example", "reviewer"), ("alice", "alice@lab.example", "approver")
    )
    verdict = check(twice, signers, require=1, require_roles=roles)
    assert verdict.status == "signed and valid" and not verdict.meets_policy
    assert "missing: " in verdict.policy_message
    # two people, each in one role, pass
    two = signed(
        keys, ("bob", "bob@lab.example", "reviewer"), ("alice", "alice@lab.example", "approver")
    )
    assert check(two, signers, require=1, require_roles=roles).meets_policy


def test_one_principal_with_two_keys_is_one_signer(
    keys: dict[str, Path], signers: list[Any]
) -> None:
    nb = signed(
        keys, ("alice", "alice@lab.example", "author"), ("alice2", "alice@lab.example", "author")
    )
    verdict = check(nb, signers, require=2)
    assert not verdict.meets_policy and verdict.policy_message.startswith("1 of 2")
    two = signed(
        keys, ("alice", "alice@lab.example", "author"), ("bob", "bob@lab.example", "author")
    )
    assert check(two, signers, require=2).meets_policy


def test_one_key_under_two_principals_is_one_signer(
    keys: dict[str, Path], signers: list[Any]
) -> None:
    nb = signed(
        keys, ("shared", "carol@lab.example", "author"), ("shared", "dave@lab.example", "author")
    )
    verdict = check(nb, signers, require=2)
    assert verdict.status == "signed and valid" and not verdict.meets_policy


def test_a_claimed_role_must_be_granted(keys: dict[str, Path], signers: list[Any]) -> None:
    nb = signed(keys, ("bob", "bob@lab.example", "approver"))  # signed, but not granted
    verdict = check(nb, signers, require_roles=("approver",))
    assert not verdict.meets_policy and "not granted the role approver" in verdict.results[0].reason
    # without [signing.roles], only author is granted
    default = verify_notebook(
        nb, signers, policy=SigningPolicy(require_roles=("approver",)), now=NOW
    )
    assert not default.meets_policy


def test_a_legacy_signature_is_reported_and_never_trusted(
    keys: dict[str, Path], signers: list[Any]
) -> None:
    nb = notebook()
    payload = notebook_payload(nb, LEGACY_CANONICAL_FORM)
    armored = sign_with_ssh_keygen(payload, keys["bob"], NAMESPACE)
    nb["metadata"]["qsecure"] = {
        "signatures": [
            {
                "principal": "bob@lab.example",
                "role": "author",
                "signed_at": "2026-01-01T00:00:00+00:00",
                "payload_sha256": hashlib.sha256(payload).hexdigest(),
                "signature": armored,
            }
        ]
    }
    verdict = check(nb, signers)
    [result] = verdict.results
    assert result.valid and not result.trusted and "legacy signature" in result.reason
    assert verdict.status == "untrusted signer" and not verdict.meets_policy
    nb["cells"][0]["source"] = "print(2)"
    assert check(nb, signers).status == "modified since signing"


def test_content_changes_are_modified_not_forged(keys: dict[str, Path], signers: list[Any]) -> None:
    nb = signed(keys, ("bob", "bob@lab.example", "author"))
    nb["cells"][0]["source"] = "print(2)"
    verdict = check(nb, signers)
    assert verdict.status == "modified since signing" and verdict.results[0].changed_cells == ["c"]
    entry(nb)["role"] = "reviewer"  # and an edited role on top: not merely modified
    assert check(nb, signers).status == "invalid signature"


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
FIELDS = st.sampled_from(
    [
        "format",
        "canonical_form",
        "principal",
        "role",
        "signed_at",
        "public_key",
        "key_fingerprint",
        "payload_sha256",
        "cells",
        "signature",
    ]
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(FIELDS, JSONISH), max_size=4), st.sampled_from([0, 1]), st.data())
def test_fuzzed_signature_blocks_never_traceback(
    keys: dict[str, Path], signers: list[Any], edits: list[tuple[str, Any]], drop: int, data: Any
) -> None:
    base = _BASE.setdefault("nb", signed(keys, ("bob", "bob@lab.example", "author")))
    nb = copy.deepcopy(base)
    block = entry(nb)
    touched = False
    for name, value in edits:
        touched |= block.get(name) != value
        block[name] = value
    if data.draw(st.booleans()):
        text = block.get("signature")
        if isinstance(text, str) and text:
            at = data.draw(st.integers(0, len(text) - 1))
            new = text[:at] + data.draw(st.sampled_from("A/+=\n-x")) + text[at + 1 :]
            touched |= new != text
            block["signature"] = new
    if data.draw(st.booleans()):
        nb["metadata"]["qsecure"]["signatures"] = data.draw(JSONISH)
        touched = True
    verdict = check(nb, signers)
    json.dumps(verdict.to_json())
    assert verdict.status in {
        "signed and valid",
        "invalid signature",
        "modified since signing",
        "untrusted signer",
        "unsigned",
    }
    if not touched:
        assert verdict.meets_policy


_BASE: dict[str, Any] = {}


def test_a_flood_of_signatures_is_bounded(keys: dict[str, Path], signers: list[Any]) -> None:
    """The shared key may sign as anyone at lab.example: 70 signatures under 70 names are
    checked up to the limit, quickly, and the notebook is invalid, not "70 signers"."""
    import time

    from jupyter_qsecure.signing.signatures import MAX_SIGNATURES

    nb = signed(keys, ("shared", "p0@lab.example", "author"))
    first = entry(nb)
    for number in range(1, MAX_SIGNATURES + 6):
        clone = dict(first, principal=f"p{number}@lab.example")
        nb["metadata"]["qsecure"]["signatures"].append(clone)
    start = time.perf_counter()
    verdict = check(nb, signers, require=2, require_roles=("reviewer", "approver"))
    assert time.perf_counter() - start < 5
    assert verdict.status == "invalid signature" and not verdict.meets_policy
    assert verdict.results[-1].reason.startswith("not checked: a notebook may carry at most")


def test_the_policy_search_stays_fast_with_many_signers() -> None:
    import time

    from jupyter_qsecure.signing.signatures import _meet, _Signer

    roles = ("author", "reviewer", "approver")
    many = [_Signer(bytes([k]), f"p{k}", roles[k % 3]) for k in range(64)]
    grid = [_Signer(bytes([k]), f"p{p}", "reviewer") for k in range(8) for p in range(8)]
    start = time.perf_counter()
    assert _meet(many, SigningPolicy(require=65, require_roles=roles)) == (64, [])
    assert _meet(grid, SigningPolicy(require=9, require_roles=roles)) == (8, ["author", "approver"])
    assert time.perf_counter() - start < 1


@pytest.mark.parametrize("twice", ["source", "qsecure"])
def test_duplicate_keys_verify_what_jupyter_loads(
    keys: dict[str, Path], signers: list[Any], twice: str, tmp_path: Path
) -> None:
    """A file with one key twice: verify judges the notebook the Jupyter server loads
    (nbformat keeps the last value, as JupyterLab's JSON.parse does), never another."""
    nb = signed(keys, ("bob", "bob@lab.example", "author"))
    text = json.dumps(nb)
    if twice == "source":  # a second "source" before the signed one
        assert '"source": "print(1)"' in text
        text = text.replace('"source": "print(1)"', '"source": "print(666)", "source": "print(1)"')
    else:  # a second metadata after the signed one: its signatures are dropped
        text = text[:-1] + ', "metadata": {"qsecure": {"signatures": []}}}'
    path = tmp_path / "nb.ipynb"
    path.write_text(text)
    loaded = nbformat.read(path, as_version=4)
    parsed = json.loads(text)
    verdict = check(parsed, signers)
    assert verdict.meets_policy == check(dict(loaded), signers).meets_policy
    assert verdict.meets_policy == (twice == "source")
    assert loaded.cells[0].source == parsed["cells"][0]["source"] == "print(1)"
