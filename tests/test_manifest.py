"""Dataset manifests: BagIt bags that the Library of Congress ``bagit`` library reads (and
bags it made that we read), the tamper matrix, unreadable and special files, symlinks out
of the folder, interrupted runs resumed, ``--quick``, and SSHSIG signatures checked by us
and by stock ``ssh-keygen -Y verify``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import bagit
import pytest
from qsecure_cli import run_qsecure

from jupyter_qsecure.reproduce import create_manifest, verify_manifest
from jupyter_qsecure.reproduce import manifest as manifest_module
from jupyter_qsecure.reproduce.signatures import NAMESPACE

needs_ssh_keygen = pytest.mark.skipif(
    shutil.which("ssh-keygen") is None, reason="needs ssh-keygen (Debian: openssh-client)"
)
ODD_NAMES = [
    "with space.txt",
    "new\nline.txt",
    "carriage\rreturn",
    "ünïcødé-ß.csv",
    " lead",
    "tab\tx",
]


def qsecure(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_qsecure(*args, cwd=cwd)


def make_data(folder: Path, names: list[str] | None = None) -> Path:
    """A small dataset: nested folders, an empty file, a 3 MiB file, odd names."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "runs" / "2026-11").mkdir(parents=True)
    (folder / "runs" / "2026-11" / "counts.csv").write_text("shots,ones\n1024,511\n")
    (folder / "empty").write_bytes(b"")
    (folder / "big.bin").write_bytes(os.urandom(3 << 20))
    for name in names or []:
        (folder / name).write_text(f"content of {name!r}\n")
    return folder


def keygen(folder: Path, name: str) -> Path:
    key = folder / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)],
        check=True,
        timeout=60,
    )
    return key


def allowed_line(principal: str, key: Path, options: str = "") -> str:
    kind, blob = key.with_suffix(".pub").read_text().split()[:2]
    return " ".join(part for part in (principal, options, kind, blob) if part) + "\n"


# --------------------------------------------------------------------------- format


def test_detached_bag_layout_leaves_the_data_untouched(tmp_path: Path) -> None:
    data = make_data(tmp_path / "calibration", ODD_NAMES)
    before = sorted(str(p.relative_to(data)) for p in data.rglob("*"))
    result = qsecure("manifest", "create", str(data), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    bag = tmp_path / "calibration.bag"
    assert sorted(str(p.relative_to(data)) for p in data.rglob("*")) == before
    assert os.readlink(bag / "data") == "../calibration"
    assert (
        bag / "bagit.txt"
    ).read_text() == "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
    manifest = (bag / "manifest-sha256.txt").read_text(encoding="utf-8")
    assert "  data/new%0Aline.txt\n" in manifest
    assert "  data/carriage%0Dreturn\n" in manifest
    assert "  data/runs/2026-11/counts.csv\n" in manifest
    assert "Payload-Oxum: " in (bag / "bag-info.txt").read_text()
    tags = (bag / "tagmanifest-sha256.txt").read_text().splitlines()
    assert sorted(line.split("  ")[1] for line in tags) == [
        "bag-info.txt",
        "bagit.txt",
        "manifest-sha256.txt",
    ]
    ok = qsecure("manifest", "verify", str(bag), "--require", "0", cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "intact" in ok.stdout


@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
def test_the_bagit_library_validates_our_bags(tmp_path: Path, algorithm: str) -> None:
    in_place = make_data(tmp_path / "in-place", ODD_NAMES)
    result = create_manifest(in_place, algorithm=algorithm, in_place=True)
    assert result.written and not result.problems
    assert (in_place / "data" / "big.bin").is_file()
    bagit.Bag(str(in_place)).validate()
    # A detached bag is a complete bag once the data takes the link's place.
    data = make_data(tmp_path / "detached", ODD_NAMES)
    create_manifest(data, algorithm=algorithm)
    bag = tmp_path / "detached.bag"
    (bag / "data").unlink()
    data.rename(bag / "data")
    bagit.Bag(str(bag)).validate()


def test_the_bagit_library_refuses_a_tampered_bag_of_ours(tmp_path: Path) -> None:
    data = make_data(tmp_path / "d")
    create_manifest(data, in_place=True)
    (data / "data" / "empty").write_text("not empty")
    with pytest.raises(bagit.BagValidationError):
        bagit.Bag(str(data)).validate()


def test_percent_in_a_name_is_encoded_as_rfc_8493_says(tmp_path: Path) -> None:
    """RFC 8493 2.1.3: % is encoded as %25. (bagit-python 1.9 decodes only %0A and %0D, so
    it reads such a name wrongly; our verify reads it right.)"""
    data = make_data(tmp_path / "d", ["50%.txt", "%0A-literal"])
    create_manifest(data)
    manifest = (tmp_path / "d.bag" / "manifest-sha256.txt").read_text()
    assert "  data/50%25.txt\n" in manifest
    assert "  data/%250A-literal\n" in manifest
    assert verify_manifest(tmp_path / "d.bag").intact


def test_we_read_bags_the_bagit_library_made(tmp_path: Path) -> None:
    data = make_data(tmp_path / "theirs", ["with space.txt", "new\nline.txt"])
    bagit.make_bag(str(data), checksums=["sha256", "sha512"])
    check = verify_manifest(data)
    assert check.intact, check
    assert check.algorithm == "sha512"
    assert check.files == 5
    (data / "data" / "with space.txt").write_text("edited")
    assert verify_manifest(data).changed == ["with space.txt"]


def test_non_utf8_names_are_named_and_nothing_else_is_lost(tmp_path: Path) -> None:
    data = make_data(tmp_path / "d")
    odd = os.path.join(os.fsencode(data), b"latin1-\xe9.txt")
    with open(odd, "wb") as stream:
        stream.write(b"x")
    result = qsecure("manifest", "create", str(data), cwd=tmp_path)
    assert result.returncode == 2
    assert "latin1-\\xe9.txt: the name is not UTF-8" in result.stderr
    assert "no manifest written" in result.stderr
    assert not (tmp_path / "d.bag" / "manifest-sha256.txt").exists()
    os.unlink(odd)
    again = create_manifest(data)
    assert again.written and again.resumed == 3  # every file, from the first run's journal


# --------------------------------------------------------------------------- tamper matrix


@pytest.fixture
def bag(tmp_path: Path) -> Path:
    data = make_data(tmp_path / "d", ["a.txt", "b.txt"])
    create_manifest(data)
    return tmp_path / "d.bag"


def verify_json(bag: Path, *args: str) -> tuple[int, dict[str, object]]:
    result = qsecure("manifest", "verify", str(bag), "--format", "json", *args, cwd=bag.parent)
    return result.returncode, json.loads(result.stdout)


def test_tampered_added_removed_renamed_files_are_named(bag: Path) -> None:
    data = bag.parent / "d"
    (data / "a.txt").write_text("tampered")
    (data / "runs" / "extra.dat").write_text("added")
    (data / "empty").unlink()
    (data / "b.txt").rename(data / "b-renamed.txt")
    code, report = verify_json(bag, "--require", "0")
    assert code == 1
    assert report["changed"] == ["a.txt"]
    assert report["added"] == ["runs/extra.dat"]
    assert report["removed"] == ["empty"]
    assert report["renamed"] == [{"from": "b.txt", "to": "b-renamed.txt"}]
    assert report["intact"] is False


def test_a_same_size_change_with_the_mtime_restored_is_found(bag: Path) -> None:
    target = bag.parent / "d" / "a.txt"
    stat = target.stat()
    target.write_text(target.read_text().upper())
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert verify_manifest(bag).changed == ["a.txt"]
    # --quick compares ctime and inode too, which touch cannot restore.
    assert verify_manifest(bag, quick=True).changed == ["a.txt"]


@pytest.mark.parametrize(
    ("tag", "edit", "expected"),
    [
        (
            "manifest-sha256.txt",
            lambda t: t.replace("data/a.txt", "data/A.txt"),
            "manifest-sha256.txt: changed",
        ),
        (
            "bag-info.txt",
            lambda t: t + "Source-Organization: someone else\n",
            "bag-info.txt: changed",
        ),
        ("bagit.txt", lambda t: t.replace("1.0", "0.97"), "bagit.txt: changed"),
    ],
)
def test_a_tampered_tag_file_is_found_by_the_tag_manifest(
    bag: Path, tag: str, edit: object, expected: str
) -> None:
    path = bag / tag
    path.write_text(edit(path.read_text()))  # type: ignore[operator]
    code, report = verify_json(bag, "--require", "0")
    assert code == 1
    assert any(str(p).startswith(expected) for p in report["tag_problems"])  # type: ignore[attr-defined]


def test_an_extra_manifest_not_covered_by_the_tag_manifest_is_refused(bag: Path) -> None:
    (bag / "manifest-sha512.txt").write_text("")
    # Unsigned, the strongest algorithm is chosen: the forged sha512 manifest lists
    # nothing and has no tag manifest.
    check = verify_manifest(bag)
    assert not check.intact
    assert "tagmanifest-sha512.txt is missing: tag files cannot be checked" in check.tag_problems
    assert sorted(check.added) == ["a.txt", "b.txt", "big.bin", "empty", "runs/2026-11/counts.csv"]
    # A signed bag is checked with the algorithm its signature signs (see the signature tests).


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("0" * 64 + "  ../outside\n", "not a plain relative path"),
        ("0" * 64 + "  /etc/passwd\n", "absolute path"),
        ("0" * 64 + "  etc/passwd\n", "outside data/"),
        ("nothex  data/a.txt\n", "is not a sha256 digest"),
        ("0" * 64 + "\n", "not a 'digest path' line"),
    ],
)
def test_a_malformed_manifest_is_bad_input_naming_the_line(
    bag: Path, line: str, message: str
) -> None:
    with (bag / "manifest-sha256.txt").open("a") as stream:
        stream.write(line)
    result = qsecure("manifest", "verify", str(bag), "--require", "0", cwd=bag.parent)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_not_a_bag_is_bad_input(tmp_path: Path) -> None:
    result = qsecure("manifest", "verify", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2
    assert "no bagit.txt, so not a bag" in result.stderr
    missing = qsecure("manifest", "create", str(tmp_path / "nothing"), cwd=tmp_path)
    assert missing.returncode == 2 and "not a folder" in missing.stderr
    inside = qsecure(
        "manifest", "create", str(tmp_path), "--out", str(tmp_path / "x.bag"), cwd=tmp_path
    )
    assert inside.returncode == 2 and "cannot be inside the folder it describes" in inside.stderr


# --------------------------------------------------------------------------- special files


def test_symlinks_out_of_the_folder_are_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("outside")
    data = make_data(tmp_path / "d")
    (data / "escape").symlink_to(outside)
    (data / "escape-dir").symlink_to(tmp_path)
    (data / "dangling").symlink_to("nowhere")
    (data / "inside").symlink_to("runs/2026-11/counts.csv")
    (data / "inside-dir").symlink_to("runs")
    result = create_manifest(data)
    reasons = {p.path: p.reason for p in result.problems}
    assert set(reasons) == {"escape", "escape-dir", "dangling"}
    assert "outside the folder: not followed" in reasons["escape"]
    assert "dangling" in reasons["dangling"]
    assert not result.written
    for link in ("escape", "escape-dir", "dangling"):
        (data / link).unlink()
    done = create_manifest(data)
    assert done.written and done.resumed == done.files - 0
    manifest = (tmp_path / "d.bag" / "manifest-sha256.txt").read_text()
    assert "data/inside\n" in manifest  # a link to a file inside: listed with its content
    assert (
        "inside-dir" not in manifest
    )  # a link to a folder inside: its files are listed where they are


def test_a_symlink_swapped_in_after_the_manifest_is_a_problem_not_a_read(bag: Path) -> None:
    data = bag.parent / "d"
    (data / "a.txt").unlink()
    (data / "a.txt").symlink_to(bag.parent / "d.bag" / "bagit.txt")
    check = verify_manifest(bag)
    assert [p.path for p in check.problems] == ["a.txt"]
    assert check.removed == []  # named as a problem, not reported as simply gone


def test_a_fifo_is_named_and_never_opened(tmp_path: Path) -> None:
    data = make_data(tmp_path / "d")
    os.mkfifo(data / "pipe")
    result = qsecure("manifest", "create", str(data), cwd=tmp_path)  # would hang if opened
    assert result.returncode == 2
    assert "pipe: a FIFO (named pipe), not a regular file" in result.stderr


def test_a_device_is_named_and_never_opened(tmp_path: Path) -> None:
    data = make_data(tmp_path / "d")
    (data / "null").symlink_to("/dev/null")  # out of the folder: refused before its kind matters
    try:
        os.mknod(data / "zero", 0o600 | 0o020000, os.makedev(1, 5))
    except PermissionError:
        pytest.skip("creating a device node needs privileges")
    reasons = {p.path: p.reason for p in create_manifest(data).problems}
    assert "a character device" in reasons["zero"]
    assert "outside the folder" in reasons["null"]


def test_a_fifo_swapped_in_between_walk_and_hash_is_not_opened_blocking(tmp_path: Path) -> None:
    from jupyter_qsecure.reproduce.hashing import hash_file
    from jupyter_qsecure.reproduce.tree import FileEntry, Problem, walk

    data = make_data(tmp_path / "d")
    entry = next(e for e in walk(str(data)) if isinstance(e, FileEntry) and e.path == "empty")
    (data / "empty").unlink()
    os.mkfifo(data / "empty")
    outcome = hash_file(entry, "sha256")
    assert isinstance(outcome, Problem) and "FIFO" in outcome.reason


@pytest.fixture
def shared_folder() -> Iterator[Path]:
    """A folder another user can enter (the test's tmp_path is private to this user)."""
    folder = Path(tempfile.mkdtemp(prefix="qsecure-manifest-"))
    folder.chmod(0o777)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def as_unprivileged(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``jupyter qsecure ARGS`` in a process of its own; as the ``nobody`` user when the
    tests run as root (root reads a file whatever its mode)."""
    import sys

    command = [sys.executable, "-m", "jupyter_qsecure.cli", *args]
    env = dict(os.environ, HOME=str(cwd), XDG_CACHE_HOME=str(cwd / "cache"))
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: cannot make a file unreadable")
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_an_unreadable_file_is_named_with_the_reason_and_the_rest_is_hashed(
    shared_folder: Path,
) -> None:
    data = make_data(shared_folder / "d", ["a.txt"])
    for path in [data, *data.rglob("*")]:
        path.chmod(0o777 if path.is_dir() else 0o666)
    (data / "locked.dat").write_text("private")
    (data / "locked.dat").chmod(0o000)
    result = as_unprivileged(["manifest", "create", str(data)], shared_folder)
    assert result.returncode == 2, result.stderr
    assert "locked.dat: cannot open it: Permission denied" in result.stderr
    assert "4 file(s) hashed are kept" in result.stderr
    assert "Traceback" not in result.stderr
    (data / "locked.dat").chmod(0o644)
    again = as_unprivileged(["manifest", "create", str(data)], shared_folder)
    assert again.returncode == 0, again.stderr
    assert "(4 taken from the interrupted run)" in again.stdout


# --------------------------------------------------------------------------- resume and --quick


class Interrupt(KeyboardInterrupt):
    pass


@contextmanager
def interrupt_after(count: int) -> Iterator[list[str]]:
    """Runs inside stop (as Ctrl-C would) once ``count`` files are journaled; the list
    collects every file journaled."""
    hashed: list[str] = []
    original = manifest_module.state.Journal.add

    def add(self: object, entry: object, digest: str) -> None:
        original(self, entry, digest)  # type: ignore[arg-type]
        hashed.append(entry.path)  # type: ignore[attr-defined]
        if len(hashed) == count:
            raise Interrupt

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(manifest_module.state.Journal, "add", add)
        yield hashed


def test_an_interrupted_create_resumes_where_it_stopped(tmp_path: Path) -> None:
    data = make_data(tmp_path / "d", [f"f{i:03}.txt" for i in range(200)])
    with interrupt_after(120) as first, pytest.raises(Interrupt):
        create_manifest(data, workers=2)
    assert not (tmp_path / "d.bag" / "manifest-sha256.txt").exists()
    with interrupt_after(10_000) as second:
        result = create_manifest(data, workers=2)
    assert result.written and result.files == 203
    assert result.resumed == 120
    assert verify_manifest(tmp_path / "d.bag").intact
    # The journal went on from where it stopped: the first 120 files were not hashed again.
    assert len(first) == 120 and set(first) == set(second[:120])
    assert len(second) == 203


def test_a_resumed_create_rehashes_a_file_changed_meanwhile(tmp_path: Path) -> None:
    data = make_data(tmp_path / "d", [f"f{i:03}.txt" for i in range(20)])
    with interrupt_after(10), pytest.raises(Interrupt):
        create_manifest(data, workers=1)
    (data / "big.bin").write_bytes(b"rewritten")  # hashed first (sorted), then changed
    create_manifest(data)
    bag = tmp_path / "d.bag"
    assert verify_manifest(bag).intact
    from hashlib import sha256

    assert (
        sha256(b"rewritten").hexdigest() + "  data/big.bin\n"
        in (bag / "manifest-sha256.txt").read_text()
    )


def test_a_journal_cut_mid_line_is_read_up_to_the_cut(tmp_path: Path) -> None:
    from jupyter_qsecure.reproduce import state

    data = make_data(tmp_path / "d", [f"f{i}.txt" for i in range(10)])
    with interrupt_after(6), pytest.raises(Interrupt):
        create_manifest(data, workers=1)
    journal = state.journal_path(os.path.realpath(data), "sha256", "create")
    journal.write_text(journal.read_text()[:-20])  # a kill during a write
    result = create_manifest(data)
    assert result.written and result.resumed == 5


def test_an_interrupted_verify_resumes(bag: Path) -> None:
    with interrupt_after(3), pytest.raises(Interrupt):
        verify_manifest(bag, workers=1)
    check = verify_manifest(bag)
    assert check.intact and check.resumed == 3


def test_the_cli_says_how_to_resume_an_interrupted_create(tmp_path: Path) -> None:
    data = make_data(tmp_path / "d")
    with interrupt_after(2):
        result = qsecure("manifest", "create", str(data), cwd=tmp_path)
    assert result.returncode == 130
    assert "run the same command again to resume" in result.stderr


def test_quick_trusts_the_cache_and_says_so(bag: Path) -> None:
    full = qsecure("manifest", "verify", str(bag), "--require", "0", cwd=bag.parent)
    assert "--quick" not in full.stdout
    quick = qsecure("manifest", "verify", str(bag), "--quick", "--require", "0", cwd=bag.parent)
    assert quick.returncode == 0
    assert "--quick: 5 file(s) trusted from the local cache" in quick.stdout
    (bag.parent / "d" / "a.txt").write_text("changed, new size")
    quick = qsecure("manifest", "verify", str(bag), "--quick", "--require", "0", cwd=bag.parent)
    assert quick.returncode == 1
    assert "changed: a.txt" in quick.stdout
    assert "--quick: 4 file(s) trusted" in quick.stdout


def test_a_poisoned_quick_cache_cannot_hide_a_change_of_size_or_inode(bag: Path) -> None:
    from jupyter_qsecure.reproduce import state

    root = os.path.realpath(bag / "data")
    target = bag.parent / "d" / "a.txt"
    replacement = bag.parent / "a.new"
    replacement.write_text("forged!")
    os.replace(replacement, target)  # a new inode
    assert verify_manifest(bag, quick=True).changed == ["a.txt"]
    assert state.load(state.quick_cache_path(root, "sha256"))["a.txt"][4] != "0"


# --------------------------------------------------------------------------- signatures


@pytest.fixture
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("keys")
    return {name: keygen(folder, name) for name in ("alice", "mallory", "revoked")}


@needs_ssh_keygen
def test_sign_then_verify_with_us_and_with_stock_ssh_keygen(
    bag: Path, keys: dict[str, Path]
) -> None:
    allowed = bag.parent / "allowed_signers"
    allowed.write_text(allowed_line("alice@lab", keys["alice"], f'namespaces="{NAMESPACE}"'))
    signed = qsecure("manifest", "sign", str(bag), "--key", str(keys["alice"]), cwd=bag.parent)
    assert signed.returncode == 0, signed.stderr
    (signature,) = (bag / "qsecure-signatures").iterdir()
    ok = qsecure("manifest", "verify", str(bag), "--allowed-signers", str(allowed), cwd=bag.parent)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "valid, trusted" in ok.stdout and "alice@lab" in ok.stdout
    stock = subprocess.run(
        [
            "ssh-keygen",
            "-Y",
            "verify",
            "-f",
            str(allowed),
            "-I",
            "alice@lab",
            "-n",
            NAMESPACE,
            "-s",
            str(signature),
        ],
        input=(bag / "tagmanifest-sha256.txt").read_bytes(),
        capture_output=True,
        timeout=60,
    )
    assert stock.returncode == 0, stock.stderr
    # The namespace keeps a dataset signature from passing for a notebook's.
    notebook_ns = subprocess.run(
        [
            "ssh-keygen",
            "-Y",
            "verify",
            "-f",
            str(allowed),
            "-I",
            "alice@lab",
            "-n",
            "notebook@jupyter-qsecure",
            "-s",
            str(signature),
        ],
        input=(bag / "tagmanifest-sha256.txt").read_bytes(),
        capture_output=True,
        timeout=60,
    )
    assert notebook_ns.returncode != 0
    # The bagit library still reads a signed bag.
    assert verify_manifest(bag).intact


@needs_ssh_keygen
def test_signature_tamper_matrix(bag: Path, keys: dict[str, Path]) -> None:
    allowed = bag.parent / "allowed_signers"
    allowed.write_text(
        allowed_line("alice@lab", keys["alice"]) + allowed_line("old@lab", keys["revoked"])
    )
    revoked = bag.parent / "revoked_keys"
    revoked.write_text(keys["revoked"].with_suffix(".pub").read_text())
    policy = bag.parent / "qsecure.toml"
    policy.write_text(f'[signing]\nrevoked_keys = "{revoked}"\n')

    def verify(*extra: str) -> tuple[int, dict[str, object]]:
        result = run_qsecure(
            "manifest",
            "verify",
            str(bag),
            "--format",
            "json",
            "--allowed-signers",
            str(allowed),
            *extra,
            cwd=bag.parent,
            env={"QSECURE_CONFIG": str(policy)},
        )
        assert "Traceback" not in result.stderr
        return result.returncode, json.loads(result.stdout)

    code, report = verify()
    assert code == 1 and report["policy"] == "0 of 1 required signature(s)"  # unsigned
    for name in ("mallory", "revoked"):
        assert (
            qsecure(
                "manifest", "sign", str(bag), "--key", str(keys[name]), cwd=bag.parent
            ).returncode
            == 0
        )
    code, report = verify()
    reasons = sorted(s["reason"] for s in report["signatures"])  # type: ignore[attr-defined,index]
    assert code == 1 and reasons == ["key revoked", "unknown key"]
    assert (
        qsecure(
            "manifest", "sign", str(bag), "--key", str(keys["alice"]), cwd=bag.parent
        ).returncode
        == 0
    )
    code, report = verify()
    assert code == 0, (
        report
    )  # one trusted signature meets require = 1; the untrusted ones spoil nothing
    code, report = verify("--require", "2")
    assert code == 1
    # A tampered tag manifest breaks every signature.
    tag = bag / "tagmanifest-sha256.txt"
    original = tag.read_bytes()
    tag.write_bytes(original + b"0" * 64 + b"  extra.txt\n")
    code, report = verify()
    assert code == 1
    assert all(
        not s["valid"] and "changed since it was signed" in s["reason"]
        for s in report["signatures"]
    )  # type: ignore[attr-defined,index]
    tag.write_bytes(original)
    # A signature file that is not an SSH signature.
    (bag / "qsecure-signatures" / "sha256-forged.sig").write_text(
        "-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n"
    )
    code, report = verify()
    assert code == 1
    # A forged sha512 manifest beside a signed sha256 bag is not what is checked,
    # and the tag manifest the signature covers does not list it.
    (bag / "qsecure-signatures" / "sha256-forged.sig").unlink()
    (bag / "manifest-sha512.txt").write_text("")
    code, report = verify()
    assert code == 1 and report["algorithm"] == "sha256"
    assert "manifest-sha512.txt: not covered by tagmanifest-sha256.txt" in report["tag_problems"]  # type: ignore[operator]


@needs_ssh_keygen
def test_a_changed_dataset_is_not_signed_and_a_new_manifest_drops_old_signatures(
    bag: Path, keys: dict[str, Path]
) -> None:
    assert (
        qsecure(
            "manifest", "sign", str(bag), "--key", str(keys["alice"]), cwd=bag.parent
        ).returncode
        == 0
    )
    (bag.parent / "d" / "a.txt").write_text("changed")
    refused = qsecure("manifest", "sign", str(bag), "--key", str(keys["alice"]), cwd=bag.parent)
    assert refused.returncode == 1 and "does not match the manifest; not signed" in refused.stderr
    again = qsecure("manifest", "create", str(bag.parent / "d"), cwd=bag.parent)
    assert "1 signature(s) of the previous manifest removed" in again.stdout
    unchanged = qsecure("manifest", "create", str(bag.parent / "d"), cwd=bag.parent)
    assert "manifest-sha256.txt unchanged" in unchanged.stdout


def test_sign_without_a_key_is_bad_input(bag: Path) -> None:
    result = qsecure("manifest", "sign", str(bag), cwd=bag.parent)
    assert result.returncode == 2 and "no signing key" in result.stderr


@pytest.mark.slow
def test_a_2_gb_tree_is_created_and_verified(tmp_path: Path) -> None:
    """Sparse files (no disk used), removed with tmp_path; memory stays flat (1 MiB blocks)."""
    import resource

    data = tmp_path / "large"
    data.mkdir()
    for number in range(2):
        with (data / f"part-{number}.bin").open("wb") as stream:
            stream.truncate(1 << 30)
            stream.seek((1 << 30) - 4)
            stream.write(number.to_bytes(4, "big"))
    (data / "small.txt").write_text("x")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = create_manifest(data)
    assert result.written and result.octets == (2 << 30) + 1
    check = verify_manifest(tmp_path / "large.bag")
    assert check.intact
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 64 * 1024  # far below one file's size
    with (data / "part-1.bin").open("r+b") as stream:
        stream.seek(1 << 29)
        stream.write(b"!")
    again = verify_manifest(tmp_path / "large.bag", quick=True)  # hashes only part-1.bin
    assert again.changed == ["part-1.bin"] and again.from_cache == 2


@pytest.mark.slow
def test_the_progress_bar_shows_on_a_terminal_only(tmp_path: Path) -> None:
    import pty
    import sys

    data = make_data(tmp_path / "d")
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"), COLUMNS="100")
    command = [sys.executable, "-m", "jupyter_qsecure.cli", "manifest", "create", str(data)]
    leader, follower = pty.openpty()
    process = subprocess.Popen(command, stdin=follower, stdout=follower, stderr=follower, env=env)
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    assert process.wait(timeout=60) == 0
    os.close(leader)
    text = shown.decode("utf-8", "replace")
    assert "hashing" in text and "3.00M/3.00M" in text and "B/s" in text
    piped = subprocess.run(
        [*command[:-1], "--out", str(tmp_path / "again.bag"), str(data)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert piped.returncode == 0 and piped.stderr == ""


def run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """The command in a process of its own, so a hang fails the test instead of the run."""
    import sys

    return subprocess.run(
        [sys.executable, "-m", "jupyter_qsecure.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )


@pytest.mark.slow
def test_fifos_and_links_among_the_tag_files_are_never_read(bag: Path) -> None:
    tags = bag / "tagmanifest-sha256.txt"
    os.mkfifo(bag / "extra-tag")
    (bag / "linked-tag").symlink_to(bag.parent / "d" / "a.txt")
    with tags.open("a") as stream:
        stream.write(f"{'0' * 64}  extra-tag\n{'0' * 64}  linked-tag\n")
    result = run_cli(["manifest", "verify", str(bag), "--require", "0"], bag.parent)
    assert result.returncode == 1, result.stderr
    assert (
        "tag file: extra-tag: listed in tagmanifest-sha256.txt, not a regular file" in result.stdout
    )
    assert "tag file: linked-tag: listed in tagmanifest-sha256.txt" in result.stdout
    (bag / "bagit.txt").unlink()
    os.mkfifo(bag / "bagit.txt")
    result = run_cli(["manifest", "verify", str(bag), "--require", "0"], bag.parent)
    assert result.returncode == 2 and "not a regular file" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_fifo_as_a_signature_file_is_never_read(bag: Path) -> None:
    (bag / "qsecure-signatures").mkdir()
    os.mkfifo(bag / "qsecure-signatures" / "sha256-pipe.sig")
    result = run_cli(["manifest", "verify", str(bag), "--format", "json"], bag.parent)
    assert result.returncode == 1, result.stderr
    (signature,) = json.loads(result.stdout)["signatures"]
    assert not signature["valid"] and "not a regular file" in signature["reason"]
