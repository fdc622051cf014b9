"""Bad input to every subcommand of `jupyter qsecure`: a clear error naming what to fix, an
exit code (0/1/2), never a traceback, never a wait, and nothing lost.

Every command that reads a notebook reads it through one reader (``cli.fast.read_json``,
on ``_files.read_bytes`` and ``_json.loads``; ``reproduce`` through the same two): files
that are not notebooks (empty, a folder, ``/dev/null``, a named pipe nothing writes to,
not UTF-8, a byte order mark, JSON nested too deeply or with a number of more digits than
Python reads), notebooks whose every field has the wrong type (hypothesis), and arbitrary
JSON. Then the other files a command is given (allowed_signers, revoked keys, keys,
envelopes, baselines, audit trails, provenance stores and checkpoints, bags, the policy),
options with wrong values, and a few cases through the real console script.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import MACHINE_PREFIXES, MACHINE_VARIABLES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qsecure_cli import run_qsecure

from jupyter_qsecure.provenance import ProvenanceStore
from jupyter_qsecure.signing.canonical import outputs_digest, source_digest

pytestmark = pytest.mark.skipif(
    shutil.which("ssh-keygen") is None, reason="needs ssh-keygen (Debian: openssh-client)"
)

SESSION = "11111111-1111-4111-8111-111111111111"


# --- the lab: a signed notebook with provenance, and every other file a command takes ------


@dataclass(frozen=True)
class Lab:
    """Valid inputs, each the base of its malformed variants."""

    folder: Path
    key: Path
    allowed: Path
    attestation_signers: Path
    notebook: dict[str, Any]
    envelope: Path
    store: Path
    checkpoints: Path
    checkpoint_key: Path
    bag: Path


def _executed(cell_id: str, source: str, count: int) -> dict[str, Any]:
    outputs = [{"output_type": "stream", "name": "stdout", "text": f"{count}\n"}]
    record = {
        "record_id": f"r-{cell_id}-{count}",
        "kernel_session": SESSION,
        "execution_count": count,
        "code_sha256": source_digest(source),
        "outputs_digest": outputs_digest(outputs),
        "started": "2026-01-01T00:00:00.000Z",
        "ended": "2026-01-01T00:00:00.001Z",
        "duration_ms": 1.0,
        "status": "ok",
        "files": {"read": [{"path": "in.csv", "sha256": "0" * 64}], "written": []},
        "seeds": [{"source": "random.seed", "value": "1"}],
    }
    return {
        "cell_type": "code",
        "id": cell_id,
        "metadata": {"qsecure": {"execution": record}},
        "source": source,
        "outputs": outputs,
        "execution_count": count,
    }


def _provenance_notebook() -> dict[str, Any]:
    cells = [_executed("a", "x = 1", 1), _executed("b", "print(x)", 2)]
    timeline = [
        {
            "record_id": cell["metadata"]["qsecure"]["execution"]["record_id"],
            "cell_id": cell["id"],
            "execution_count": cell["execution_count"],
            "kernel_session": SESSION,
            "started": "2026-01-01T00:00:00.000Z",
            "status": "ok",
            "first_line": cell["source"],
        }
        for cell in cells
    ]
    provenance = {
        "version": 1,
        "user": "alice",
        "kernel_session": SESSION,
        "chain_head": "sha256:" + "a" * 64,
        "sessions": [SESSION],
        "timeline": timeline,
    }
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "qsecure": {"provenance": provenance},
        },
        "cells": [{"cell_type": "markdown", "id": "m", "metadata": {}, "source": "# t"}, *cells],
    }


def _ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@contextmanager
def _hermetic(home: Path) -> Iterator[None]:
    """The environment conftest's ``hermetic_environment`` gives a test, for a fixture that
    outlives one test."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name in MACHINE_VARIABLES or name.startswith(MACHINE_PREFIXES):
                patch.delenv(name)
        for name, folder in {
            "HOME": home,
            "JUPYTER_CONFIG_DIR": home / ".jupyter",
            "JUPYTER_DATA_DIR": home / "data",
            "JUPYTER_RUNTIME_DIR": home / "data" / "runtime",
            "IPYTHONDIR": home / ".ipython",
            "XDG_CONFIG_HOME": home / ".config",
            "XDG_DATA_HOME": home / ".local" / "share",
            "XDG_CACHE_HOME": home / ".cache",
        }.items():
            patch.setenv(name, str(folder))
        yield


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    folder = tmp_path_factory.mktemp("lab")
    with _hermetic(tmp_path_factory.mktemp("home")):
        key = folder / "alice"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "alice", "-f", str(key)],
            check=True,
            timeout=60,
        )
        kind, blob = key.with_suffix(".pub").read_text().split()[:2]
        allowed = folder / "allowed_signers"
        allowed.write_text(f"alice@lab.example {kind} {blob}\n")
        signers = folder / "attestation_signers"
        signers.write_text(
            f'alice@lab.example namespaces="attestation@jupyter-qsecure" {kind} {blob}\n'
        )
        path = folder / "signed.ipynb"
        path.write_text(json.dumps(_provenance_notebook()))
        _ok(
            run_qsecure(
                "sign", str(path), "--key", str(key), "--principal", "alice@lab.example", cwd=folder
            )
        )
        envelope = folder / "run.intoto.json"
        options = ("--sign", "--key", str(key), "--output", str(envelope))
        _ok(run_qsecure("attest", str(path), *options, cwd=folder))
        store = ProvenanceStore(folder / "store.sqlite")
        store.append_many(
            [
                {
                    "kind": "execution",
                    "record_id": str(uuid.uuid4()),
                    "kernel_session": "s1",
                    "kernel_id": "k1",
                    "notebook": "nb.ipynb",
                    "cell_id": f"c{index}",
                    "execution_count": index,
                    "status": "ok",
                }
                for index in range(3)
            ]
        )
        _ok(run_qsecure("provenance", "checkpoint", "--store", str(store.path), cwd=folder))
        (folder / "data").mkdir()
        (folder / "data" / "a.csv").write_text("1,2\n")
        _ok(run_qsecure("manifest", "create", str(folder / "data"), cwd=folder))
    return Lab(
        folder=folder,
        key=key,
        allowed=allowed,
        attestation_signers=signers,
        notebook=json.loads(path.read_text()),
        envelope=envelope,
        store=store.path,
        checkpoints=folder / "store.checkpoints",
        checkpoint_key=folder / "provenance-checkpoint-key.pub",
        bag=folder / "data.bag",
    )


# --- running a command on bad input -------------------------------------------------------


@pytest.fixture(autouse=True)
def _short_pipe_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """A named pipe nothing writes to is given up on after 0.2 s here (5 s by default)."""
    import jupyter_qsecure._files

    monkeypatch.setattr(jupyter_qsecure._files, "PIPE_WAIT", 0.2)


class _TooSlow(Exception):
    pass


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Raise in this (the main) thread if the block takes longer: a command that waits on a
    named pipe fails the test instead of hanging the suite."""

    def expire(signum: int, frame: Any) -> None:
        raise _TooSlow(f"still running after {seconds} s (waiting on input?)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _snapshot(paths: list[Path]) -> dict[Path, bytes | None]:
    return {path: path.read_bytes() if path.is_file() else None for path in paths}


def qsecure_on(
    args: list[str],
    cwd: Path,
    inputs: list[Path],
    *,
    env: dict[str, str] | None = None,
    may_write: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run ``jupyter qsecure ARGS`` in process and check the promise: exit 0, 1 or 2, no
    traceback, a reason on standard error for exit 2 (on few lines), every input file as
    it was (unless ``may_write`` and the command succeeded, as ``sign`` does)."""
    before = _snapshot(inputs)
    with _deadline(30):
        result = run_qsecure(*args, cwd=cwd, env=env)
    shown = f"jupyter qsecure {' '.join(args)}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    assert result.returncode in (0, 1, 2), shown
    assert "Traceback" not in result.stdout + result.stderr, shown
    if result.returncode == 2:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert 0 < len(lines) <= 3, shown
    if not (may_write and result.returncode == 0):
        assert _snapshot(inputs) == before, f"an input file was changed: {shown}"
    return result


def notebook_commands(lab: Lab, notebook: Path) -> list[list[str]]:
    """Every subcommand that takes a notebook, in its forms (``verify`` and ``payload`` on
    the fast path and, with a traitlets option, on the full command line)."""
    nb, out = str(notebook), str(notebook.parent / "statement.json")
    return [
        ["verify", nb],
        ["verify", nb, "--allowed-signers", str(lab.allowed), "--format", "json"],
        ["verify", nb, "--VerifyApp.format=text"],
        ["payload", nb],
        ["payload", nb, "--signature", "0"],
        ["payload", nb, "--PayloadApp.signature=0"],
        ["sign", nb, "--key", str(lab.key), "--principal", "bob@lab.example"],
        ["export-signature", nb],
        ["attest", nb, "--allow-failing"],
        ["attest", nb, "--sign", "--key", str(lab.key), "--allow-failing", "--output", out],
        ["provenance", nb],
        ["provenance", nb, "--format", "json", "--strict"],
        ["provenance", nb, "--store", str(lab.store)],
        ["scan", nb, "--format", "sarif"],
    ]


def _run_on_notebook(lab: Lab, data: bytes, commands: Callable[[Path], list[list[str]]]) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        path = folder / "nb.ipynb"
        for args in commands(path):
            path.write_bytes(data)
            qsecure_on(args, folder, [path], may_write=args[0] == "sign")


# --- notebooks that cannot be read --------------------------------------------------------


def _unreadable(lab: Lab) -> dict[str, bytes]:
    good = json.dumps(lab.notebook)
    return {
        "empty": b"",
        "white space": b" \n\t\n",
        "not UTF-8": b"\xff\xfe\x00garbage",
        "UTF-8 byte order mark": b"\xef\xbb\xbf" + good.encode(),
        "UTF-16": good.encode("utf-16"),
        "arrays nested 100,000 deep": b"[" * 100_000,
        "objects nested 100,000 deep": b'{"a":' * 100_000,
        "cells nested 5,000 deep": (
            '{"nbformat": 4, "metadata": {}, "cells": ' + "[" * 5000 + "]" * 5000 + "}"
        ).encode(),
        "a 10,000-digit nbformat": ('{"nbformat": ' + "9" * 10_000 + "}").encode(),
        "a 5,000-digit execution count": good.replace(
            '"execution_count": 1', '"execution_count": ' + "9" * 5000, 1
        ).encode(),
        "trailing garbage": good.encode() + b" }",
        "a number": b"4",
        "null": b"null",
        "an array": b"[]",
        "an object": b"{}",
        "nbformat 3": good.replace('"nbformat": 4', '"nbformat": 3', 1).encode(),
        "nbformat true": good.replace('"nbformat": 4', '"nbformat": true', 1).encode(),
        "cells an object": good.replace('"cells": [', '"cells": {"x": [', 1)[:-1].encode() + b"}}",
    }


UNREADABLE = [
    "empty",
    "white space",
    "not UTF-8",
    "UTF-8 byte order mark",
    "UTF-16",
    "arrays nested 100,000 deep",
    "objects nested 100,000 deep",
    "cells nested 5,000 deep",
    "a 10,000-digit nbformat",
    "a 5,000-digit execution count",
    "trailing garbage",
    "a number",
    "null",
    "an array",
    "an object",
    "nbformat 3",
    "nbformat true",
    "cells an object",
]


@pytest.mark.parametrize("kind", UNREADABLE)
def test_a_file_that_is_no_notebook_is_exit_2_for_every_command(lab: Lab, kind: str) -> None:
    data = _unreadable(lab)[kind]
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        path = folder / "nb.ipynb"
        for args in notebook_commands(lab, path):
            path.write_bytes(data)
            result = qsecure_on(args, folder, [path])
            if args[0] != "scan":  # the guard reads what it can (a BOM, UTF-16)
                assert result.returncode == 2, (args, result.stderr)
                assert str(path) in result.stderr, result.stderr


def test_the_reported_notebooks_are_one_line_each(lab: Lab, tmp_path: Path) -> None:
    """The two tracebacks that started this file, and what each now says."""
    deep = tmp_path / "deep.ipynb"
    deep.write_bytes(b"[" * 100_000)
    result = qsecure_on(["reproduce", str(deep)], tmp_path, [deep])
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"jupyter qsecure: error: {deep}: not a readable notebook "
        "(not valid JSON here: nested too deeply)"
    ]
    odd = tmp_path / "odd.ipynb"
    notebook = copy.deepcopy(lab.notebook)
    notebook["cells"][0]["metadata"] = []  # the markdown cell: the verdict does not read it
    odd.write_text(json.dumps(notebook))
    for args in (["attest", str(odd)], ["attest", str(odd), "--allow-failing"]):
        result = qsecure_on(args, tmp_path, [odd])
        assert result.returncode == 2
        assert result.stderr.strip().splitlines() == [
            f"jupyter qsecure: error: {odd}: cell 1 (id 'm'): cell metadata is an array, "
            "not an object"
        ]
    huge = tmp_path / "huge.ipynb"
    huge.write_text('{"nbformat": ' + "9" * 5000 + ', "cells": []}')
    result = qsecure_on(["payload", str(huge)], tmp_path, [huge])
    assert "a number has 5000 digits (at most 4300 are read)" in result.stderr


@pytest.mark.parametrize("kind", ["folder", "/dev/null", "named pipe", "missing"])
def test_something_that_is_not_a_file_is_exit_2_at_once(
    lab: Lab, tmp_path: Path, kind: str
) -> None:
    """A named pipe nothing writes to is given up on (``open()`` waited for a writer
    forever); a folder or a device is named as such."""
    target = {"/dev/null": Path(os.devnull)}.get(kind, tmp_path / "nb.ipynb")
    if kind == "folder":
        target.mkdir()
    elif kind == "named pipe":
        os.mkfifo(target)
    commands = [*notebook_commands(lab, target), ["reproduce", str(target)]]
    for args in commands:
        result = qsecure_on(args, tmp_path, [])
        if args[0] != "scan" or kind != "folder":  # scanning a folder scans its files
            assert result.returncode == 2, (args, result.stderr)
    if kind in ("folder", "/dev/null"):
        what = "a folder" if kind == "folder" else "a character device"
        assert f"{what}, not a file" in qsecure_on(["verify", str(target)], tmp_path, []).stderr


def test_a_notebook_from_a_pipe_is_still_read(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A named pipe whose writer comes a moment later (a shell's ``<(...)`` has its writer
    already): read, as before."""
    import jupyter_qsecure._files

    monkeypatch.setattr(jupyter_qsecure._files, "PIPE_WAIT", 30)
    pipe = tmp_path / "pipe.ipynb"
    os.mkfifo(pipe)
    writer = subprocess.Popen(
        [sys.executable, "-c", f"open({str(pipe)!r}, 'w').write({json.dumps(lab.notebook)!r})"]
    )
    try:
        result = qsecure_on(["payload", str(pipe)], tmp_path, [])
    finally:
        writer.wait(timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith('{"cells":[')


def test_sign_never_leaves_the_notebook_half_written(lab: Lab, tmp_path: Path) -> None:
    """A lone surrogate (a ``\\ud800`` escape) where the signature does not reach has no
    UTF-8 form: writing the signed notebook in place failed after truncating it, leaving
    an empty file and a traceback. It is written whole (with the escape, as it was read),
    through a link to the file it names, with the file's mode."""
    notebook = copy.deepcopy(lab.notebook)
    notebook["metadata"]["qsecure"]["provenance"]["user"] = "al\ud800ice"
    target = tmp_path / "surrogate.ipynb"
    target.write_text(json.dumps(notebook))
    target.chmod(0o640)
    link = tmp_path / "link.ipynb"
    link.symlink_to(target.name)
    args = ["sign", str(link), "--key", str(lab.key), "--principal", "bob@lab.example"]
    result = qsecure_on(args, tmp_path, [target], may_write=True)
    assert result.returncode == 0, result.stderr
    assert link.is_symlink() and oct(target.stat().st_mode & 0o777) == "0o640"
    signed = json.loads(target.read_text())
    assert signed["metadata"]["qsecure"]["provenance"]["user"] == "al\ud800ice"
    assert [entry["principal"] for entry in signed["metadata"]["qsecure"]["signatures"]] == [
        "alice@lab.example",
        "bob@lab.example",
    ]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["link.ipynb", "surrogate.ipynb"]


def test_text_with_no_utf8_form_is_reported_not_a_traceback(lab: Lab, tmp_path: Path) -> None:
    """A lone surrogate in the provenance (a record id, the chain head, the user): the
    store was asked for it (UnicodeEncodeError from SQLite's binding), the report printed
    it raw (UnicodeEncodeError on standard output), and attest --sign could not sign the
    statement quoting it (CanonicalFormError): each a traceback."""
    notebook = copy.deepcopy(lab.notebook)
    provenance = notebook["metadata"]["qsecure"]["provenance"]
    provenance["timeline"][0]["record_id"] = "\ud800"
    provenance["chain_head"] = "sha256:\ud800"
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(notebook))
    result = qsecure_on(["provenance", str(path), "--store", str(lab.store)], tmp_path, [path])
    assert result.returncode == 1
    assert "store: timeline entry 1: record \\ud800 is not in the store" in result.stdout
    result = qsecure_on(
        ["provenance", str(path), "--store", str(lab.store), "--format", "json"], tmp_path, [path]
    )
    assert result.returncode == 1 and json.loads(result.stdout)["store_problems"]
    notebook = copy.deepcopy(lab.notebook)
    notebook["metadata"]["qsecure"]["provenance"]["user"] = "al\ud800ice"
    path.write_text(json.dumps(notebook))
    args = ["attest", str(path), "--sign", "--key", str(lab.key), "--allow-failing"]
    result = qsecure_on([*args, "--output", str(tmp_path / "o.json")], tmp_path, [path])
    assert result.returncode == 2
    assert "cannot sign its statement: no canonical JSON form" in result.stderr
    assert not (tmp_path / "o.json").exists()


def test_a_huge_execution_count_is_only_a_number(lab: Lab, tmp_path: Path) -> None:
    """The verdict listed every count from 1 to the largest recorded one to name those
    with no record: a timeline entry counting 10**30 made provenance and attest take all
    the memory there was (killed, or a MemoryError traceback). Run as a program under a
    2 GB address-space limit, so that a regression fails instead of taking the machine."""
    import resource

    notebook = copy.deepcopy(lab.notebook)
    notebook["metadata"]["qsecure"]["provenance"]["timeline"][0]["execution_count"] = 10**30
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(notebook))

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    program = str(Path(sys.executable).parent / "jupyter-qsecure")
    for args in (["provenance", str(path)], ["attest", str(path), "--allow-failing"]):
        result = subprocess.run(
            [program, *args],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
            preexec_fn=limit,
        )
        assert result.returncode in (0, 1), (args, result.stderr)
        assert "Traceback" not in result.stderr, result.stderr
    result = qsecure_on(["provenance", str(path), "--format", "json"], tmp_path, [path])
    hidden = json.loads(result.stdout)["hidden_state"]
    assert any(f"executions 1, 3-{10**30 - 1} of this session have no record" in h for h in hidden)


@pytest.mark.parametrize(
    "recorded",
    ["in\x00put.csv", "a" * 300, "/dev/zero", ".", "~no-such-user-here/in.csv"],
)
def test_a_recorded_file_path_that_names_no_file(lab: Lab, tmp_path: Path, recorded: str) -> None:
    """The verdict re-hashes each file the run read, at the path recorded in the notebook:
    a path holding a NUL character made os.stat raise ValueError (a traceback from
    provenance, "error: embedded null byte" and exit 1 from attest). Such a file is
    missing now, as any path that names no file."""
    notebook = copy.deepcopy(lab.notebook)
    for cell in notebook["cells"][1:]:
        cell["metadata"]["qsecure"]["execution"]["files"]["read"][0]["path"] = recorded
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(notebook))
    for args in (
        ["provenance", str(path)],
        ["provenance", str(path), "--strict", "--format", "json"],
        ["attest", str(path)],
    ):
        result = qsecure_on(args, tmp_path, [path])
        assert result.returncode in (0, 1), (args, result.stderr)
        assert "error" not in result.stderr, (args, result.stderr)
    report = json.loads(
        qsecure_on(["provenance", str(path), "--format", "json"], tmp_path, [path]).stdout
    )
    assert report["files_changed"], report


# --- notebooks of the wrong shape (hypothesis) ---------------------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


def _places(document: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in ``document`` (the first two items of each array)."""
    yield at
    if isinstance(document, dict):
        for key, value in document.items():
            yield from _places(value, (*at, key))
    elif isinstance(document, list):
        for index, value in enumerate(document[:2]):
            yield from _places(value, (*at, index))


def _replaced(document: Any, at: tuple[Any, ...], value: Any) -> Any:
    if not at:
        return value
    holder = document
    for key in at[:-1]:
        holder = holder[key]
    holder[at[-1]] = value
    return document


_HYPOTHESIS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@_HYPOTHESIS
@given(data=st.data())
def test_any_field_of_the_wrong_type(lab: Lab, data: st.DataObject) -> None:
    """One to three places of the signed notebook (provenance and signatures included) get
    any JSON value: every command answers 0, 1 or 2."""
    notebook = copy.deepcopy(lab.notebook)
    places = list(_places(notebook))[1:]
    for _ in range(data.draw(st.integers(1, 3), label="changes")):
        at = data.draw(st.sampled_from(places), label="place")
        value = data.draw(JSON, label="value")
        with contextlib.suppress(KeyError, IndexError, TypeError):  # a place changed before
            notebook = _replaced(notebook, at, value)
    payload = json.dumps(notebook).encode()
    _run_on_notebook(lab, payload, lambda path: notebook_commands(lab, path))


def _maybe(right: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the right type, sometimes any JSON."""
    return st.one_of(right, right, JSON)


_CELL = st.fixed_dictionaries(
    {
        "cell_type": _maybe(st.sampled_from(["code", "markdown", "raw"])),
        "source": _maybe(st.text(max_size=8) | st.lists(st.text(max_size=5), max_size=2)),
    },
    optional={
        "id": _maybe(st.from_regex(r"[a-z0-9-]{1,8}", fullmatch=True)),
        "metadata": _maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "qsecure": _maybe(
                        st.fixed_dictionaries(
                            {
                                "execution": _maybe(
                                    st.dictionaries(
                                        st.sampled_from(
                                            [
                                                "record_id",
                                                "code_sha256",
                                                "files",
                                                "started",
                                                "seeds",
                                                "network",
                                                "execution_count",
                                            ]
                                        ),
                                        JSON,
                                        max_size=3,
                                    )
                                )
                            }
                        )
                    )
                },
            )
        ),
        "outputs": _maybe(
            st.lists(
                st.dictionaries(
                    st.sampled_from(["output_type", "name", "text", "data"]), JSON, max_size=3
                ),
                max_size=2,
            )
        ),
        "execution_count": _maybe(st.none() | st.integers(0, 9)),
        "attachments": JSON,
    },
)
_NOTEBOOK = st.fixed_dictionaries(
    {"nbformat": st.just(4) | JSON, "cells": _maybe(st.lists(_CELL, max_size=3))},
    optional={
        "nbformat_minor": _maybe(st.integers(0, 5)),
        "metadata": _maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "qsecure": _maybe(
                        st.fixed_dictionaries(
                            {},
                            optional={
                                "provenance": _maybe(
                                    st.dictionaries(
                                        st.sampled_from(
                                            [
                                                "version",
                                                "kernel_session",
                                                "timeline",
                                                "environment",
                                                "chain_head",
                                                "user",
                                            ]
                                        ),
                                        JSON,
                                        max_size=3,
                                    )
                                ),
                                "signatures": _maybe(
                                    st.lists(
                                        st.dictionaries(
                                            st.sampled_from(
                                                [
                                                    "format",
                                                    "principal",
                                                    "role",
                                                    "signature",
                                                    "signed_at",
                                                    "cells",
                                                    "payload_sha256",
                                                    "public_key",
                                                ]
                                            ),
                                            JSON,
                                            max_size=4,
                                        ),
                                        max_size=2,
                                    )
                                ),
                            },
                        )
                    )
                },
            )
        ),
    },
)


@_HYPOTHESIS
@given(notebook=_NOTEBOOK)
def test_any_notebook_shaped_json(lab: Lab, notebook: dict[str, Any]) -> None:
    _run_on_notebook(lab, json.dumps(notebook).encode(), lambda path: notebook_commands(lab, path))


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(document=JSON)
def test_any_json_document(lab: Lab, document: Any) -> None:
    data = json.dumps(document).encode()
    _run_on_notebook(
        lab,
        data,
        lambda path: [
            *notebook_commands(lab, path),
            ["verify-attestation", str(path)],
            ["scan", "--baseline", str(path), str(path)],
        ],
    )


def test_reproduce_on_notebooks_of_the_wrong_shape(lab: Lab) -> None:
    """``reproduce`` reads with the same reader; a notebook it cannot run names why (a
    kernel that cannot start: one line, not jupyter_client's traceback)."""
    commands = lambda path: [["reproduce", str(path), "--kernel", "no-such-kernel"]]  # noqa: E731
    for kind in ("empty", "arrays nested 100,000 deep", "a 10,000-digit nbformat", "nbformat true"):
        _run_on_notebook(lab, _unreadable(lab)[kind], commands)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "nb.ipynb"
        path.write_text(json.dumps(lab.notebook))
        result = qsecure_on(commands(path)[0], path.parent, [path])
        assert result.returncode == 2
        assert "No such kernel named no-such-kernel" in result.stderr


# --- the other files a command is given ---------------------------------------------------


def _bad_files(valid: bytes) -> dict[str, bytes]:
    return {
        "empty": b"",
        "not UTF-8": b"\xff\xfe\x00\x81garbage\n",
        "byte order mark": b"\xef\xbb\xbf" + valid,
        "garbage": b"hello world\n",
        "nested 100,000 deep": b"[" * 100_000,
        "a 10,000-digit number": b"9" * 10_000,
        "a JSON array": b"[1, 2]",
        "NUL bytes": b"\x00" * 64,
        "CRLF": valid.replace(b"\n", b"\r\n"),
    }


def _slots(lab: Lab) -> dict[str, tuple[Path, Callable[[Path, Path], list[str]]]]:
    """A file a command takes: its valid content, and the command given a file there."""
    s = str
    return {
        "allowed_signers": (
            lab.allowed,
            lambda f, nb: ["verify", s(nb), "--allowed-signers", s(f)],
        ),
        "revoked keys": (
            lab.key.with_suffix(".pub"),
            lambda f, nb: [
                "verify",
                s(nb),
                "--allowed-signers",
                s(lab.allowed),
                "--revoked-keys",
                s(f),
            ],
        ),
        "signing key": (
            lab.key,
            lambda f, nb: ["sign", s(nb), "--key", s(f), "--principal", "a@b"],
        ),
        "attest key": (
            lab.key,
            lambda f, nb: [
                "attest",
                s(nb),
                "--sign",
                "--key",
                s(f),
                "--output",
                s(nb.parent / "o.json"),
            ],
        ),
        "envelope": (
            lab.envelope,
            lambda f, nb: [
                "verify-attestation",
                s(f),
                "--allowed-signers",
                s(lab.attestation_signers),
            ],
        ),
        "attestation signers": (
            lab.attestation_signers,
            lambda f, nb: ["verify-attestation", s(lab.envelope), "--allowed-signers", s(f)],
        ),
        "baseline": (lab.envelope, lambda f, nb: ["scan", "--baseline", s(f), s(nb)]),
        "audit trail": (lab.envelope, lambda f, nb: ["audit", "--file", s(f)]),
        "store (verdict)": (lab.store, lambda f, nb: ["provenance", s(nb), "--store", s(f)]),
        "store (log)": (
            lab.store,
            lambda f, nb: ["provenance", "log", "--verify", "--store", s(f)],
        ),
        "store (checkpoint)": (
            lab.store,
            lambda f, nb: ["provenance", "checkpoint", "--store", s(f)],
        ),
        "checkpoints": (
            lab.checkpoints,
            lambda f, nb: [
                "provenance",
                "log",
                "--verify",
                "--store",
                s(lab.store),
                "--checkpoints",
                s(f),
            ],
        ),
        "checkpoint key": (
            lab.checkpoint_key,
            lambda f, nb: [
                "provenance",
                "log",
                "--verify",
                "--store",
                s(lab.store),
                "--checkpoint-key",
                s(f),
            ],
        ),
        "manifest verify --allowed-signers": (
            lab.allowed,
            lambda f, nb: ["manifest", "verify", s(lab.bag), "--allowed-signers", s(f)],
        ),
    }


SLOTS = [
    "allowed_signers",
    "revoked keys",
    "signing key",
    "attest key",
    "envelope",
    "attestation signers",
    "baseline",
    "audit trail",
    "store (verdict)",
    "store (log)",
    "store (checkpoint)",
    "checkpoints",
    "checkpoint key",
    "manifest verify --allowed-signers",
]


@pytest.mark.parametrize("slot", SLOTS)
def test_a_file_of_the_wrong_shape_where_a_command_expects_one(lab: Lab, slot: str) -> None:
    """Each file given as the wrong content, a folder, ``/dev/null``, a named pipe, or
    missing: 0, 1 or 2 with a reason, at once, and nothing changed."""
    valid, command = _slots(lab)[slot]
    variants: dict[str, bytes | str] = {
        **_bad_files(valid.read_bytes()),
        "folder": "folder",
        "/dev/null": "/dev/null",
        "named pipe": "pipe",
        "missing": "missing",
        "a name too long": "long",
    }
    for content in variants.values():
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch)
            notebook = folder / "nb.ipynb"
            notebook.write_text(json.dumps(lab.notebook))
            target = folder / valid.name
            if content == "folder":
                target.mkdir()
            elif content == "/dev/null":
                target = Path(os.devnull)
            elif content == "pipe":
                os.mkfifo(target)
            elif content == "long":
                target = folder / ("a" * 300)
            elif isinstance(content, bytes):
                target.write_bytes(content)
            inputs = [notebook, *([target] if content != "long" and target.is_file() else [])]
            qsecure_on(command(target, notebook), folder, inputs)


@pytest.mark.parametrize("where", ["a folder", "in a missing folder", "a full disk", "a long name"])
def test_an_output_file_that_cannot_be_written(lab: Lab, tmp_path: Path, where: str) -> None:
    """``--output`` (export-signature, attest) and ``--attest`` (reproduce) where no file
    can be written: each was an OSError traceback. Now exit 2 naming the option and the
    file; reproduce says so before it runs anything."""
    notebook = tmp_path / "nb.ipynb"
    notebook.write_text(json.dumps(lab.notebook))
    target = {
        "a folder": str(tmp_path),
        "in a missing folder": str(tmp_path / "missing" / "out.json"),
        "a full disk": "/dev/full",
        "a long name": str(tmp_path / ("a" * 300)),
    }[where]
    nb, key = str(notebook), str(lab.key)
    commands = [
        ["export-signature", nb, "--output", target],
        ["attest", nb, "--output", target],
        ["attest", nb, "--sign", "--key", key, "-o", target],
    ]
    if where in ("a folder", "in a missing folder"):
        commands.append(["reproduce", nb, "--attest", target, "--key", key, "--kernel", "x"])
    for args in commands:
        result = qsecure_on(args, tmp_path, [notebook])
        assert result.returncode == 2, (args, result.stderr)
        option = "--attest" if args[0] == "reproduce" else "--output"
        assert f"error: {option} {target}: cannot write" in result.stderr, result.stderr


def test_a_signature_with_no_utf8_form_is_not_half_exported(lab: Lab, tmp_path: Path) -> None:
    """A lone surrogate in a signature's text: writing it with --output failed after the
    file was created (UnicodeEncodeError traceback, an empty file left)."""
    notebook = copy.deepcopy(lab.notebook)
    notebook["metadata"]["qsecure"]["signatures"][0]["signature"] = "abc\ud800"
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(notebook))
    out = tmp_path / "out.sig"
    result = qsecure_on(["export-signature", str(path), "-o", str(out)], tmp_path, [path])
    assert result.returncode == 2
    assert f"--output {out}: nothing written" in result.stderr
    assert not out.exists()


def test_a_name_too_long_for_the_file_system(lab: Lab, tmp_path: Path) -> None:
    """A path with a name of more than 255 bytes, for each path a command takes: the
    checks of ``pathlib`` (``is_file``, ``is_dir``, ``exists``) raise OSError for it, and
    sign --key, manifest sign and verify, reproduce --dataset and --store, and audit --file
    ended in that traceback (exit 1). Now exit 2 naming the path."""
    long = str(tmp_path / ("a" * 300))
    notebook = tmp_path / "nb.ipynb"
    notebook.write_text(json.dumps(lab.notebook))
    nb, key, bag = str(notebook), str(lab.key), str(lab.bag)
    for args in [
        *notebook_commands(lab, Path(long)),
        ["sign", nb, "--key", long, "--principal", "a@b"],
        ["manifest", "create", long],
        ["manifest", "create", str(lab.folder / "data"), "--out", long],
        ["manifest", "sign", long, "--key", key],
        ["manifest", "sign", bag, "--key", long],
        ["manifest", "verify", long],
        ["reproduce", long],
        ["reproduce", nb, "--dataset", long],
        ["reproduce", nb, "--store", long],
        ["audit", "--file", long],
        ["verify-attestation", long],
    ]:
        result = qsecure_on(args, tmp_path, [notebook, *lab.bag.iterdir()])
        assert result.returncode == 2, (args, result.stderr)
        assert long in result.stderr, (args, result.stderr)


def _damaged_store(lab: Lab, folder: Path, damage: str) -> Path:
    store = folder / "store.sqlite"
    source = sqlite3.connect(lab.store)
    copy_ = sqlite3.connect(store)
    source.backup(copy_)
    source.close()
    statements = {
        "another database": ["DROP TABLE records", "CREATE TABLE t (x)"],
        "a record as a blob": ["UPDATE records SET body = x'7b7d' WHERE seq = 2"],
        "a record as a number": ["UPDATE records SET body = 5 WHERE seq = 2"],
        "a record nested too deeply": [
            "UPDATE records SET body = '" + "[" * 100_000 + "' WHERE seq = 2"
        ],
        "a record with a 5,000-digit number": [
            'UPDATE records SET body = \'{"n": ' + "9" * 5000 + "}' WHERE seq = 2"
        ],
        "a hash as a number": ["UPDATE records SET hash = 7 WHERE seq = 3"],
        "a previous hash as a blob": ["UPDATE records SET prev_hash = x'00' WHERE seq = 2"],
    }[damage]
    for statement in statements:
        copy_.execute(statement)
    copy_.commit()
    copy_.close()
    return store


@pytest.mark.parametrize(
    "damage",
    [
        "another database",
        "a record as a blob",
        "a record as a number",
        "a record nested too deeply",
        "a record with a 5,000-digit number",
        "a hash as a number",
        "a previous hash as a blob",
    ],
)
def test_a_store_that_is_no_provenance_store(lab: Lab, tmp_path: Path, damage: str) -> None:
    """SQLite keeps whatever a hand (or a tool) wrote: a row's body or hash of another type
    is a broken chain or a clear error, never an AttributeError."""
    store = _damaged_store(lab, tmp_path, damage)
    notebook = tmp_path / "nb.ipynb"
    notebook.write_text(json.dumps(lab.notebook))
    for args in (
        ["provenance", "log", "--store", str(store)],  # lists what it can read
        ["provenance", "checkpoint", "--store", str(store)],  # signs the chain as it is
    ):
        qsecure_on(args, tmp_path, [notebook])
    for args in (
        ["provenance", "log", "--verify", "--store", str(store)],
        ["provenance", str(notebook), "--store", str(store)],
    ):
        result = qsecure_on(args, tmp_path, [notebook])
        assert result.returncode in (1, 2), (args, result.stderr)


@pytest.mark.parametrize(
    "tag_file", ["bagit.txt", "bag-info.txt", "manifest-sha256.txt", "tagmanifest-sha256.txt"]
)
def test_a_bag_whose_tag_file_is_damaged(lab: Lab, tmp_path: Path, tag_file: str) -> None:
    for name, content in {
        **_bad_files((lab.bag / tag_file).read_bytes()),
        "folder": b"",
        "named pipe": b"",
    }.items():
        bag = tmp_path / f"bag-{uuid.uuid4().hex[:8]}"
        shutil.copytree(lab.bag, bag, symlinks=True)
        target = bag / tag_file
        target.unlink()
        if name == "folder":
            target.mkdir()
        elif name == "named pipe":
            os.mkfifo(target)
        else:
            target.write_bytes(content)
        files = [path for path in bag.rglob("*") if path.is_file() and not path.is_symlink()]
        for args in (
            ["manifest", "verify", str(bag)],
            ["manifest", "verify", str(bag), "--quick", "--format", "json"],
            ["manifest", "sign", str(bag), "--key", str(lab.key)],
            ["reproduce", str(lab.folder / "signed.ipynb"), "--dataset", str(bag)],
        ):
            result = qsecure_on(args, tmp_path, files)
            assert result.returncode in (1, 2), (name, args, result.stderr)


# --- the policy ------------------------------------------------------------------------------

POLICIES = {
    "arrays nested 100,000 deep": "[guard]\ndisabled_rules = " + "[" * 100_000 + "]" * 100_000,
    "inline tables nested 100,000 deep": "x = " + "{a = " * 100_000 + "1" + "}" * 100_000,
    "a 5,000-digit number": "[audit]\nstale_days = " + "9" * 5000 + "\n",
    "stale_days beyond any date": "[audit]\nstale_days = 9223372036854775807\n",
    "not UTF-8": "\udcff[guard]\n",
    "not TOML": "[guard\n",
    "a NUL in a path": '[signing]\nkey = "id\\u0000rsa"\n',
    "a home of no user": '[signing]\nallowed_signers = "~no-such-user-here/allowed"\n',
}


@pytest.mark.parametrize("kind", [*POLICIES, "folder", "named pipe", "/dev/null"])
def test_a_policy_that_cannot_be_used_is_exit_2_naming_it(
    lab: Lab, tmp_path: Path, kind: str
) -> None:
    policy = tmp_path / "policy" / "qsecure.toml"
    policy.parent.mkdir(mode=0o755)
    if kind == "folder":
        policy.mkdir(mode=0o755)
    elif kind == "named pipe":
        os.mkfifo(policy, 0o644)
    elif kind == "/dev/null":
        policy = Path(os.devnull)
    else:
        policy.write_bytes(POLICIES[kind].encode("utf-8", "surrogateescape"))
        policy.chmod(0o644)
    notebook = tmp_path / "nb.ipynb"
    notebook.write_text(json.dumps(lab.notebook))
    env = {"QSECURE_CONFIG": str(policy)}
    for args in (
        ["verify", str(notebook)],
        ["verify", str(notebook), "--VerifyApp.format=text"],
        ["scan", str(notebook)],
        ["audit"],
        ["secrets", "list"],
        ["secrets", "check"],
        ["provenance", str(notebook), "--store", str(lab.store)],
        ["manifest", "verify", str(lab.bag)],
        ["attest", str(notebook), "--sign", "--output", str(tmp_path / "o.json")],
    ):
        result = qsecure_on(args, tmp_path, [notebook], env=env)
        fast = args[0] == "verify" and not args[-1].startswith("--VerifyApp")
        if kind in POLICIES and not (fast and kind == "stale_days beyond any date"):
            # (verify reads only the [signing] table on its fast path; payload, none)
            assert result.returncode == 2, (args, result.stderr)
            assert str(policy) in result.stderr, result.stderr


# --- options with wrong values ---------------------------------------------------------------

WRONG_VALUES = ["abc", "-1", "99999999999999999999", "-99999999999999999999", "nan", "inf", ""]


@pytest.mark.parametrize("value", WRONG_VALUES)
def test_options_with_wrong_values(lab: Lab, tmp_path: Path, value: str) -> None:
    notebook = tmp_path / "nb.ipynb"
    notebook.write_text(json.dumps(lab.notebook))
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.txt").write_text("a")
    bag = tmp_path / "bag"
    shutil.copytree(lab.bag, bag, symlinks=True)
    nb = str(notebook)
    for args in (
        ["payload", nb, "--signature", value],
        ["payload", nb, f"--PayloadApp.signature={value}"],
        ["verify", nb, "--require", value],
        ["verify", nb, "--format", value],
        ["verify", nb, "--require-role", value],
        ["verify", nb, "--grant", value],
        ["export-signature", nb, "--index", value],
        ["sign", nb, "--key", str(lab.key), "--role", value],
        ["reproduce", nb, "--rtol", value],
        ["reproduce", nb, "--timeout", value, "--kernel", "no-such-kernel"],
        ["reproduce", nb, "--format", value],
        ["provenance", nb, "--format", value],
        ["scan", nb, "--format", value],
        ["audit", "--since", value],
        ["audit", "--stale-days", value],
        ["manifest", "create", str(data), "--jobs", value, "--out", str(tmp_path / "out.bag")],
        ["manifest", "verify", str(bag), "--jobs", value],
        ["manifest", "verify", str(bag), "--require", value],
        ["secrets", "set", value],
    ):
        qsecure_on(args, tmp_path, [notebook], may_write=args[0] == "sign")


@pytest.mark.parametrize("errors", ["strict", "surrogateescape"])
def test_a_secret_value_that_no_environment_variable_can_hold(tmp_path: Path, errors: str) -> None:
    """``secrets set`` stored a value holding a NUL (no kernel's environment can hold it;
    exit 0), and standard input that is not UTF-8 was a UnicodeDecodeError traceback under
    a strict locale, or a keyring error "cannot be read" (exit 1) under another. Both are
    exit 2 naming what to fix, before any store is asked; the value is never shown."""
    program = str(Path(sys.executable).parent / "jupyter-qsecure")
    env = {**os.environ, "PYTHONIOENCODING": f"utf-8:{errors}"}
    for value, message in (
        (b"\xff\xfe-not-utf8-text", "is not UTF-8 text"),
        (b"abcdef\x00ghijkl", "holds a NUL character, which an environment variable cannot hold"),
    ):
        result = subprocess.run(
            [program, "secrets", "set", "API_TOKEN"],
            input=value,
            capture_output=True,
            timeout=120,
            cwd=tmp_path,
            env=env,
        )
        stderr = result.stderr.decode("utf-8", "replace")
        assert result.returncode == 2, stderr
        assert message in stderr and "Traceback" not in stderr, stderr
        assert "ghijkl" not in stderr and "not-utf8" not in stderr, stderr


def test_a_negative_job_count_and_a_century_of_days_are_usage_errors(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.txt").write_text("a")
    result = qsecure_on(
        ["manifest", "create", str(tmp_path / "data"), "--jobs", "-1"], tmp_path, []
    )
    assert result.returncode == 2
    assert "--jobs: expected a number of threads, or 0 for every core; got -1" in result.stderr
    assert not (tmp_path / "data.bag").exists()
    result = qsecure_on(["audit", "--stale-days", "1000000000"], tmp_path, [])
    assert result.returncode == 2 and "--stale-days: expected at most 36500" in result.stderr


# --- through the real console script --------------------------------------------------------


def test_the_console_script_prints_no_traceback(lab: Lab, tmp_path: Path) -> None:
    """A few of the cases above in a process of their own (the in-process runner shares
    this process's streams; the program has its own, and its own recursion depth)."""
    program = str(Path(sys.executable).parent / "jupyter-qsecure")
    deep = tmp_path / "deep.ipynb"
    deep.write_bytes(b"[" * 100_000)
    odd = tmp_path / "odd.ipynb"
    notebook = copy.deepcopy(lab.notebook)
    notebook["cells"][1]["metadata"] = []
    odd.write_text(json.dumps(notebook))
    huge = tmp_path / "huge.ipynb"
    huge.write_text('{"nbformat": 4, "cells": [], "metadata": {"n": ' + "9" * 5000 + "}}")
    for args in (
        ["reproduce", str(deep)],
        ["attest", str(odd)],
        ["verify", os.devnull],
        ["payload", str(huge)],
        ["reproduce", str(lab.folder / "signed.ipynb"), "--kernel", "no-such-kernel"],
    ):
        result = subprocess.run(
            [program, *args], capture_output=True, text=True, timeout=120, cwd=tmp_path
        )
        assert result.returncode == 2, (args, result.stderr)
        assert "Traceback" not in result.stderr, (args, result.stderr)
        assert result.stderr.strip().splitlines()[-1].startswith("jupyter qsecure: error: ")


#: A verdict line as ``verify`` prints it, for a notebook that meets the policy.
FORGED = "review.ipynb: signed and valid; 1 of 1 required signature(s); meets the policy"


def test_a_file_name_cannot_write_a_report_line_of_its_own(lab: Lab, tmp_path: Path) -> None:
    """A reviewer runs ``verify notebooks/*.ipynb`` on a cloned repository: a file named
    ``x.ipynb<LF>review.ipynb: signed and valid; ...; meets the policy`` printed, raw, a
    verdict line of its own under its real one. Every command names it escaped, on one
    line, in its reports and in its errors."""
    name = "x.ipynb\n" + FORGED
    tampered = copy.deepcopy(lab.notebook)
    tampered["cells"][1]["source"] = "print('changed after signing')"
    forged = tmp_path / name
    forged.write_text(json.dumps(tampered))
    empty = tmp_path / ("empty.ipynb\n" + FORGED)
    empty.write_text("")
    allowed = ["--allowed-signers", str(lab.allowed)]
    commands = [
        ["verify", str(forged), *allowed],
        ["verify", str(forged), *allowed, "--VerifyApp.format=text"],
        ["verify", str(empty), *allowed],
        ["payload", str(empty)],
        ["payload", str(forged), "--signature", "7"],
        ["provenance", str(forged)],
        ["provenance", str(empty)],
        ["attest", str(empty)],
        ["sign", str(empty), "--key", str(lab.key), "--principal", "alice@lab.example"],
        ["scan", str(tmp_path / ("missing.env\n" + FORGED))],
    ]
    for args in commands:
        result = qsecure_on(args, tmp_path, [forged, empty])
        for line in (result.stdout + result.stderr).splitlines():
            assert not line.startswith("review.ipynb"), (args, result.stdout, result.stderr)
        assert "\\nreview.ipynb: signed" in result.stdout + result.stderr, (args, result)


@pytest.mark.parametrize(
    "args",
    [
        ("scan", ""),
        ("scan", "analysis.ipynb", ""),
        ("manifest", "create", ""),
        ("reproduce", ""),
        ("provenance", "log", ""),
    ],
    ids=lambda args: " ".join(repr(arg) for arg in args),
)
def test_an_empty_argument_is_not_the_current_folder(tmp_path: Path, args: tuple[str, ...]) -> None:
    """`scan "$NOTEBOOK"` with the variable unset: Path("") is ".", which scanned (or
    described in a manifest) everything under the current folder."""
    (tmp_path / "analysis.ipynb").write_text(json.dumps(_provenance_notebook()), encoding="utf-8")
    result = run_qsecure(*args, cwd=tmp_path)
    assert result.returncode == 2, result
    assert "an empty argument ('')" in result.stderr
    assert "Traceback" not in result.stderr
    assert "file(s)" not in result.stderr  # no scan summary: nothing was scanned
    assert sorted(path.name for path in tmp_path.iterdir()) == ["analysis.ipynb"]


@pytest.mark.parametrize(
    "command",
    [
        ["attest", "{nb}", "--output", "{out}"],
        ["attest", "{nb}", "--sign", "--key", "{key}", "--output", "{out}"],
        ["export-signature", "{nb}", "--output", "{out}"],
        ["reproduce", "{nb}", "--attest", "{out}", "--key", "{key}"],
    ],
    ids=lambda command: command[0] + (" --sign" if "--sign" in command else ""),
)
@pytest.mark.parametrize("name", ["same", "link", "dotted"])
def test_an_output_naming_the_notebook_leaves_it_whole(
    lab: Lab, tmp_path: Path, command: list[str], name: str
) -> None:
    """`attest nb.ipynb -o nb.ipynb` replaced the signed notebook with its attestation."""
    path = tmp_path / "signed.ipynb"
    data = json.dumps(lab.notebook).encode()
    path.write_bytes(data)
    out = {"same": path, "link": tmp_path / "alias.ipynb", "dotted": tmp_path / "." / path.name}[
        name
    ]
    if name == "link":
        out.symlink_to(path)
    args = [part.format(nb=path, out=out, key=lab.key) for part in command]
    with _hermetic(tmp_path / "home"):
        result = run_qsecure(*args, cwd=tmp_path)
    assert result.returncode == 2, result
    assert "is the notebook this command reads; nothing written" in result.stderr
    assert "Traceback" not in result.stderr
    assert path.read_bytes() == data
