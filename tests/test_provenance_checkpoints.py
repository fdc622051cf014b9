"""Signed checkpoints of the provenance store's chain: signed at every save (a real
server) and on demand, appended beside the store and embedded into the notebook, checked
by stock ``ssh-keygen -Y verify``; ``log --verify`` against the checkpoints finds a
truncated store, deleted, reordered and rewritten records (position named) and forged
checkpoints; a checkpoint file that lost its last lines is only older, and the notebook's
embedded checkpoint still finds the truncation."""

from __future__ import annotations

import base64
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from conftest import as_notebook, code_cell
from hypothesis import given, settings
from hypothesis import strategies as st
from kernel_client import save_notebook, saved_content
from qsecure_cli import run_qsecure
from store_tamper import rechain
from tornado.httpclient import HTTPClientError

from jupyter_qsecure.provenance import ProvenanceStore
from jupyter_qsecure.provenance.checkpoint import (
    NAMESPACE,
    Checkpointer,
    CheckpointError,
    armor,
    key_paths,
    parse_checkpoint,
    sign_checkpoint,
)
from jupyter_qsecure.signing.canonical import signed_view
from jupyter_qsecure.signing.sshsig import openssh_public_key


def record(cell: str, absolute: str | None = None) -> dict[str, Any]:
    return {
        "kind": "execution",
        "record_id": str(uuid.uuid4()),
        "kernel_session": "s1",
        "kernel_id": "k1",
        "notebook": "nb.ipynb",
        "notebook_path": absolute,
        "cell_id": cell,
        "execution_count": 1,
        "status": "ok",
    }


def fill(store: ProvenanceStore, count: int) -> None:
    store.append_many([record(f"c{index}") for index in range(count)])


def verify_log(store: Path, *extra: str) -> Any:
    return run_qsecure(
        "provenance", "log", "--verify", "--store", str(store), *extra, cwd=store.parent
    )


@pytest.fixture
def anchored(tmp_path: Path) -> Path:
    """A store of 10 records with checkpoints at 4 and 10 records."""
    store = ProvenanceStore(tmp_path / "p.sqlite")
    checkpointer = Checkpointer(store)
    fill(store, 4)
    checkpointer.checkpoint()
    fill(store, 6)
    checkpointer.checkpoint()
    return store.path


def test_the_key_is_generated_private_and_checkpoints_are_appended(anchored: Path) -> None:
    key, checkpoints = key_paths(anchored)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    lines = checkpoints.read_text().splitlines()
    assert len(lines) == 2
    first = parse_checkpoint(json.loads(lines[0])["note"])
    assert first.size == 4 and first.origin.endswith("/jupyter-qsecure/p")
    # Nothing new: a checkpoint is signed but not appended again.
    Checkpointer(ProvenanceStore(anchored)).checkpoint()  # as a restarted server would
    assert len(checkpoints.read_text().splitlines()) == 2
    result = verify_log(anchored)
    assert result.returncode == 0, result.stderr
    assert "chain intact" in result.stderr
    assert "anchors the first 10 records" in result.stderr


def test_the_note_has_the_checkpoint_shape(tmp_path: Path) -> None:
    store = ProvenanceStore(tmp_path / "p.sqlite")
    fill(store, 3)
    note = Checkpointer(store).checkpoint()
    origin, size, root, blank, signature, end = note.split("\n")
    assert (size, blank, end) == ("3", "", "")
    assert base64.b64decode(root) == bytes.fromhex(store.head()[7:])
    assert signature.startswith(f"\u2014 {origin} ")


def test_the_leak_guard_never_takes_a_checkpoint_for_a_credential() -> None:
    """The note travels in the notebook's metadata, so every save scans it; its root hash
    is a random-looking line of its own and once blocked a signing save."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from jupyter_qsecure.guard import Scanner

    key = Ed25519PrivateKey.generate()
    scanner = Scanner()
    for size in range(1, 301):
        head = "sha256:" + os.urandom(32).hex()
        note = sign_checkpoint("lab.example.org/provenance.sqlite", size, head, key)
        nb = as_notebook(code_cell("a", "x = 1"))
        nb["metadata"]["qsecure"] = {"provenance": {"checkpoint": {"note": note}}}
        assert scanner.scan_notebook(nb).findings == [], note


def test_stock_ssh_keygen_verifies_a_checkpoint(tmp_path: Path) -> None:
    keygen = shutil.which("ssh-keygen")
    if keygen is None:
        pytest.skip("ssh-keygen is not installed")
    store = ProvenanceStore(tmp_path / "p.sqlite")
    fill(store, 2)
    checkpointer = Checkpointer(store)
    checkpoint = parse_checkpoint(checkpointer.checkpoint())
    (tmp_path / "signers").write_text(
        f'server namespaces="{NAMESPACE}" {openssh_public_key(checkpointer.public_key)}\n'
    )
    (tmp_path / "note.sig").write_text(checkpoint.signatures[0][1])

    def ssh_verify(message: bytes, namespace: str = NAMESPACE) -> int:
        command = [keygen, "-Y", "verify", "-f", str(tmp_path / "signers"), "-I", "server"]
        command += ["-n", namespace, "-s", str(tmp_path / "note.sig")]
        return subprocess.run(command, input=message, capture_output=True, check=False).returncode

    assert ssh_verify(checkpoint.body.encode()) == 0
    assert ssh_verify(checkpoint.body.replace("\n2\n", "\n3\n").encode()) != 0
    assert ssh_verify(checkpoint.body.encode(), "file") != 0


def test_truncation_is_found_with_the_missing_records(anchored: Path) -> None:
    with sqlite3.connect(anchored) as connection:
        connection.execute("DELETE FROM records WHERE seq > 7")
    result = verify_log(anchored)
    assert result.returncode == 1
    assert "truncated: it holds 7 records" in result.stderr
    assert "records 8 to 10 are missing" in result.stderr
    assert "chain BROKEN" in result.stderr


@pytest.mark.parametrize("rewrite", ["delete", "reorder", "recompute"])
def test_rewrites_with_recomputed_hashes_are_found(anchored: Path, rewrite: str) -> None:
    with sqlite3.connect(anchored) as connection:
        if rewrite == "delete":
            connection.execute("DELETE FROM records WHERE seq = 6")
        elif rewrite == "reorder":
            bodies = dict(connection.execute("SELECT seq, body FROM records").fetchall())
            connection.execute("UPDATE records SET body = ? WHERE seq = 6", (bodies[7],))
            connection.execute("UPDATE records SET body = ? WHERE seq = 7", (bodies[6],))
        else:
            body = connection.execute("SELECT body FROM records WHERE seq = 6").fetchone()[0]
            connection.execute(
                "UPDATE records SET body = ? WHERE seq = 6", (body.replace('"ok"', '"error"'),)
            )
    rechain(anchored)  # every later hash recomputed: the chain alone is intact
    assert ProvenanceStore(anchored, read_only=True).verify() == []
    result = verify_log(anchored)
    assert result.returncode == 1, result.stderr
    if rewrite == "delete":
        assert "truncated: it holds 9 records" in result.stderr
        assert "records after record 4 were removed" in result.stderr
    else:
        assert "at or before record 10 (after record 4)" in result.stderr


def test_a_record_before_the_first_checkpoint_rewritten(anchored: Path) -> None:
    with sqlite3.connect(anchored) as connection:
        body = connection.execute("SELECT body FROM records WHERE seq = 2").fetchone()[0]
        connection.execute("UPDATE records SET body = ? WHERE seq = 2", (body.replace("c1", "cX"),))
    rechain(anchored)
    result = verify_log(anchored)
    assert "at or before record 4 (after record 0)" in result.stderr
    assert "at or before record 10" in result.stderr


def test_forged_checkpoints_are_reported(anchored: Path, tmp_path: Path) -> None:
    _, checkpoints = key_paths(anchored)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    lines = checkpoints.read_text().splitlines()
    note = json.loads(lines[1])["note"]
    # A checkpoint claiming 12 records with a valid signature by another key.
    store = ProvenanceStore(anchored)
    other = sign_checkpoint(
        parse_checkpoint(note).origin, 12, store.head(), Ed25519PrivateKey.generate()
    )
    # The server's own signature on an edited size.
    edited = note.replace("\n10\n", "\n11\n", 1)
    with checkpoints.open("a") as out:
        out.write(json.dumps({"note": other}) + "\n")
        out.write(json.dumps({"note": edited}) + "\n")
        out.write("not json\n")
    result = verify_log(anchored)
    assert result.returncode == 1
    assert "line 3 is forged: signed by an unknown key" in result.stderr
    assert "line 4 is forged: its signature does not verify" in result.stderr
    assert "line 5 is damaged" in result.stderr
    assert "truncated" not in result.stderr  # forged checkpoints are not believed


def test_a_checkpoint_file_without_its_last_lines_is_only_older(anchored: Path) -> None:
    _, checkpoints = key_paths(anchored)
    lines = checkpoints.read_text().splitlines()
    checkpoints.write_text(lines[0] + "\n")
    result = verify_log(anchored)
    assert result.returncode == 0
    assert "anchors the first 4 records" in result.stderr  # not all 10


def test_the_notebook_checkpoint_finds_a_truncation_the_file_lost(tmp_path: Path) -> None:
    store = ProvenanceStore(tmp_path / "p.sqlite")
    checkpointer = Checkpointer(store)
    fill(store, 3)
    checkpointer.checkpoint()
    fill(store, 3)
    note = checkpointer.checkpoint()
    notebook = as_notebook(code_cell("c0", "x"))
    notebook["metadata"] = {
        "qsecure": {
            "provenance": {
                "checkpoint": {
                    "note": note,
                    "public_key": openssh_public_key(checkpointer.public_key),
                }
            }
        }
    }
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(notebook))
    with sqlite3.connect(store.path) as connection:
        connection.execute("DELETE FROM records WHERE seq > 3")
    _, checkpoints = key_paths(store.path)
    checkpoints.write_text(checkpoints.read_text().splitlines()[0] + "\n")
    before = store.path.read_bytes()
    assert verify_log(store.path).returncode == 0  # the file alone cannot tell
    result = run_qsecure("provenance", str(path), "--store", str(store.path), cwd=tmp_path)
    assert result.returncode == 1
    assert "the store was truncated: it holds 3 records, the notebook's checkpoint" in result.stdout
    assert store.path.read_bytes() == before  # verification never writes to the store


def test_on_demand_checkpoint_and_bad_input(tmp_path: Path) -> None:
    store = ProvenanceStore(tmp_path / "p.sqlite")
    fill(store, 2)
    result = run_qsecure("provenance", "checkpoint", "--store", str(store.path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert parse_checkpoint(result.stdout).size == 2
    missing = run_qsecure("provenance", "checkpoint", "--store", str(tmp_path / "x"), cwd=tmp_path)
    assert missing.returncode == 2 and "no such store" in missing.stderr
    key, _ = key_paths(store.path)
    key.with_name(key.name + ".pub").write_text("garbage\n")
    bad = verify_log(store.path)
    assert bad.returncode == 2 and "not an OpenSSH public key" in bad.stderr
    assert "Traceback" not in bad.stderr


def rewrite_record(store: Path, seq: int) -> None:
    """Change one stored record's body in place, as an edit of the file would."""
    with sqlite3.connect(store) as connection:
        body = connection.execute("SELECT body FROM records WHERE seq = ?", (seq,)).fetchone()[0]
        connection.execute(
            "UPDATE records SET body = ? WHERE seq = ?", (body.replace('"ok"', '"error"'), seq)
        )


@pytest.mark.parametrize("rechained", [False, True], ids=["hash mismatch", "hashes recomputed"])
def test_no_checkpoint_is_signed_for_a_broken_chain(anchored: Path, rechained: bool) -> None:
    """A checkpoint vouches for every record before it: signing one over a rewritten
    record would make the rewrite look anchored to a later `log --verify`."""
    rewrite_record(anchored, 6)
    if rechained:
        rechain(anchored)  # the chain alone is intact; the checkpoint at 10 disagrees
    _, checkpoints = key_paths(anchored)
    before = checkpoints.read_bytes()
    result = run_qsecure("provenance", "checkpoint", "--store", str(anchored), cwd=anchored.parent)
    assert result.returncode == 1, result.stderr
    assert "not signed: the chain of" in result.stderr
    assert ("seq 6" if not rechained else "checkpoints: ") in result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert checkpoints.read_bytes() == before


async def test_the_server_signs_no_checkpoint_for_a_broken_chain(
    store_path: Path, jp_fetch: Any
) -> None:
    ProvenanceStore(store_path).append_many([record("a"), record("b"), record("c")])
    await jp_fetch("qsecure", "provenance", "checkpoint", method="POST", body="{}")
    rewrite_record(store_path, 2)
    _, checkpoints = key_paths(store_path)
    before = checkpoints.read_bytes()
    with pytest.raises(HTTPClientError) as refused:
        await jp_fetch("qsecure", "provenance", "checkpoint", method="POST", body="{}")
    assert refused.value.code == 409
    assert refused.value.response is not None
    answer = json.loads(refused.value.response.body)
    assert answer["reason"] == "qsecure-broken-chain"
    assert "seq 2" in answer["message"]
    assert checkpoints.read_bytes() == before


def test_armor_round_trips(tmp_path: Path) -> None:
    store = ProvenanceStore(tmp_path / "p.sqlite")
    fill(store, 1)
    checkpoint = parse_checkpoint(Checkpointer(store).checkpoint())
    armored = checkpoint.signatures[0][1]
    blob = base64.b64decode("".join(armored.splitlines()[1:-1]))
    assert armor(blob) == armored


async def test_a_server_save_appends_and_embeds_a_checkpoint(
    store_path: Path, jp_fetch: Any, jp_root_dir: Path
) -> None:
    absolute = str(jp_root_dir.resolve() / "nb.ipynb")
    ProvenanceStore(store_path).append_many([record("a", absolute), record("b", absolute)])
    notebook = as_notebook(code_cell("a", "x = 1"), code_cell("b", "y = 2"))
    await save_notebook(jp_fetch, "nb.ipynb", notebook)
    saved = await saved_content(jp_fetch, "nb.ipynb")
    embedded = saved["metadata"]["qsecure"]["provenance"]["checkpoint"]
    checkpoint = parse_checkpoint(embedded["note"])
    assert (checkpoint.size, checkpoint.head) == (2, ProvenanceStore(store_path).head())
    key, checkpoints = key_paths(store_path)
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert embedded["public_key"] == " ".join(
        key.with_name(key.name + ".pub").read_text().split()[:2]
    )
    assert [json.loads(line)["note"] for line in checkpoints.read_text().splitlines()] == [
        embedded["note"]
    ]
    # Outside what notebook signatures sign.
    assert "checkpoint" not in json.dumps(signed_view(saved))
    # Saved again with a new record: a new checkpoint appended.
    ProvenanceStore(store_path).append(record("a", absolute))
    await save_notebook(jp_fetch, "nb.ipynb", notebook)
    assert len(checkpoints.read_text().splitlines()) == 2
    result = verify_log(store_path)
    assert result.returncode == 0, result.stderr
    assert "anchors the first 3 records" in result.stderr


async def test_a_checkpoint_on_demand_through_the_server(store_path: Path, jp_fetch: Any) -> None:
    ProvenanceStore(store_path).append_many([record("a"), record("b"), record("c")])
    response = await jp_fetch("qsecure", "provenance", "checkpoint", method="POST", body="{}")
    answer = json.loads(response.body)
    checkpoint = parse_checkpoint(answer["note"])
    assert (checkpoint.size, checkpoint.head) == (3, ProvenanceStore(store_path).head())
    _, checkpoints = key_paths(store_path)
    assert [json.loads(line)["note"] for line in checkpoints.read_text().splitlines()] == [
        answer["note"]
    ]
    assert verify_log(store_path).returncode == 0


async def test_a_save_with_an_unusable_key_is_saved_and_says_so(
    store_path: Path, jp_fetch: Any, jp_root_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key, _ = key_paths(store_path)
    key.parent.mkdir(parents=True, exist_ok=True)
    key.write_text("not a key\n")
    key.chmod(0o600)
    absolute = str(jp_root_dir.resolve() / "nb.ipynb")
    ProvenanceStore(store_path).append(record("a", absolute))
    await save_notebook(jp_fetch, "nb.ipynb", as_notebook(code_cell("a", "x = 1")))
    saved = await saved_content(jp_fetch, "nb.ipynb")
    provenance = saved["metadata"]["qsecure"]["provenance"]
    assert provenance["timeline"] and "checkpoint" not in provenance
    assert "saved without a signed checkpoint" in caplog.text
    assert "not a usable checkpoint key" in caplog.text


def test_a_key_others_can_read_is_refused(tmp_path: Path) -> None:
    store = ProvenanceStore(tmp_path / "p.sqlite")
    fill(store, 1)
    Checkpointer(store).checkpoint()
    key, _ = key_paths(store.path)
    key.chmod(0o644)
    result = run_qsecure("provenance", "checkpoint", "--store", str(store.path), cwd=tmp_path)
    assert result.returncode == 2
    assert "readable by others (mode 644); chmod 600 it" in result.stderr
    assert "PRIVATE KEY" not in result.stderr + result.stdout


_ROOT = base64.b64encode(bytes(32)).decode()


@settings(max_examples=300, deadline=None)
@given(
    st.text(max_size=8),
    st.one_of(st.text(min_size=1, max_size=6), st.sampled_from(["²", "١٢", "9" * 5000, "01"])),
    st.one_of(st.just(_ROOT), st.text(max_size=50)),
    st.lists(st.one_of(st.text(max_size=30), st.just("— k YWJjZA=="), st.just("— k ")), max_size=3),
)
def test_fuzzed_checkpoint_notes_raise_only_checkpoint_errors(
    origin: str, size: str, root: str, signatures: list[str]
) -> None:
    note = f"{origin}\n{size}\n{root}\n\n" + "\n".join(signatures) + "\n"
    try:
        checkpoint = parse_checkpoint(note)
    except CheckpointError:
        return
    with pytest.raises(CheckpointError):
        checkpoint.verify([b"not a key"])


@pytest.mark.parametrize("size", ["²", "9" * 5000])
def test_an_embedded_checkpoint_with_a_strange_size_is_damaged(tmp_path: Path, size: str) -> None:
    """str.isdigit() takes "²" and int() refuses it, or more than 4,300 digits: the
    command line printed a traceback."""
    store = ProvenanceStore(tmp_path / "p.sqlite")
    fill(store, 1)
    Checkpointer(store).checkpoint()
    notebook = as_notebook(code_cell("c0", "x"))
    note = f"origin\n{size}\n{_ROOT}\n\n— k YWJjZA==\n"
    notebook["metadata"] = {"qsecure": {"provenance": {"checkpoint": {"note": note}}}}
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(notebook))
    result = run_qsecure("provenance", str(path), "--store", str(store.path), cwd=tmp_path)
    assert "Traceback" not in result.stderr, result.stderr
    assert "the notebook's checkpoint is damaged: not a checkpoint" in result.stdout


def test_an_older_checkpoint_put_back_into_the_notebook_does_not_cover_its_head(
    tmp_path: Path,
) -> None:
    """The notebook's checkpoint is outside what signatures sign: whoever rewrote the
    records after an earlier save (every later hash recomputed, the checkpoint file cut
    back to that save's line) could put that save's checkpoint back into the notebook,
    and every check passed. A checkpoint that does not reach the notebook's chain head
    anchors none of the records after it."""
    from jupyter_qsecure.provenance.embed import embed_provenance

    store = ProvenanceStore(tmp_path / "p.sqlite")
    checkpointer = Checkpointer(store)
    fill(store, 3)
    older = checkpointer.checkpoint()
    store.append(record("c9"))
    checkpointer.checkpoint()
    with sqlite3.connect(store.path) as connection:
        (body,) = connection.execute("SELECT body FROM records WHERE seq = 4").fetchone()
        rewritten = dict(json.loads(body), status="error")
        connection.execute(
            "UPDATE records SET body = ? WHERE seq = 4", (json.dumps(rewritten, sort_keys=True),)
        )
    rechain(store.path)
    _, checkpoints = key_paths(store.path)
    checkpoints.write_text(checkpoints.read_text().splitlines()[0] + "\n")
    notebook = as_notebook(code_cell("c9", "x"))
    assert embed_provenance(notebook, store.for_notebook("nb.ipynb"))
    notebook["metadata"]["qsecure"]["provenance"]["checkpoint"] = {
        "note": older,
        "public_key": openssh_public_key(checkpointer.public_key),
    }
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(notebook))
    assert verify_log(store.path).returncode == 0  # the cut file alone cannot tell
    result = run_qsecure("provenance", str(path), "--store", str(store.path), cwd=tmp_path)
    assert result.returncode == 1, result.stdout
    assert (
        "store: the notebook's chain head is record 4 of the store, but the notebook's"
        " checkpoint (signed) anchors only the first 3 records: the records it carries are"
        " anchored by no signed checkpoint (an older checkpoint put back into the notebook,"
        " or its checkpoint removed?)"
    ) in result.stdout
    del notebook["metadata"]["qsecure"]["provenance"]["checkpoint"]
    path.write_text(json.dumps(notebook))
    result = run_qsecure("provenance", str(path), "--store", str(store.path), cwd=tmp_path)
    assert (
        "store: the notebook's chain head is record 4 of the store, but the notebook carries"
        " no valid checkpoint, and the checkpoint file anchors only the first 3 records"
    ) in result.stdout
