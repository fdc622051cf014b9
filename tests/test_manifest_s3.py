"""Dataset manifests of data in an object store: ``manifest create`` and ``verify`` over
``s3://`` URLs, against moto's S3 server (a real HTTP S3 protocol double, reached through
s3fs and botocore as a real bucket is), and ``file://`` URLs."""

from __future__ import annotations

import json
import os
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from qsecure_cli import run_qsecure

moto_server = pytest.importorskip("moto.server")
s3fs = pytest.importorskip("s3fs")


@pytest.fixture(scope="module")
def s3() -> Iterator[dict[str, str]]:
    """A moto S3 server on a free port; the environment that points the AWS SDK at it
    (credentials made up at run time)."""
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "test-" + secrets.token_hex(4),
        "AWS_SECRET_ACCESS_KEY": secrets.token_hex(12),
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    try:
        yield env
    finally:
        server.stop()


@pytest.fixture
def bucket(s3: dict[str, str]) -> Iterator[tuple[Any, str]]:
    """A fresh bucket holding a small dataset under ``calibration/``: (s3fs, bucket)."""
    saved = {name: os.environ.get(name) for name in s3}
    os.environ.update(s3)
    fs = s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False)
    name = "lab-" + secrets.token_hex(4)
    fs.mkdir(name)
    fs.pipe(
        {
            f"{name}/calibration/runs/2026-11/counts.csv": b"shots,ones\n1024,511\n",
            f"{name}/calibration/qubits.json": b'{"q0": {"t1": 81.2}}\n',
            f"{name}/calibration/empty": b"",
            f"{name}/calibration/big.bin": os.urandom(20 << 20),  # several ranged reads
            f"{name}/other/not-in-it.txt": b"outside the prefix\n",
        }
    )
    try:
        yield fs, name
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def qsecure(*args: str, cwd: Path, env: dict[str, str]) -> Any:
    return run_qsecure(*args, cwd=cwd, env=env)


def verify_json(where: str, cwd: Path, env: dict[str, str]) -> tuple[int, dict[str, Any]]:
    result = qsecure(
        "manifest", "verify", where, "--require", "0", "--format", "json", cwd=cwd, env=env
    )
    return result.returncode, json.loads(result.stdout)


def test_create_over_an_s3_prefix_then_verify_names_each_change(
    bucket: tuple[Any, str], s3: dict[str, str], tmp_path: Path
) -> None:
    fs, name = bucket
    url = f"s3://{name}/calibration"
    made = qsecure("manifest", "create", url, cwd=tmp_path, env=s3)
    assert made.returncode == 0, made.stderr
    bag = tmp_path / "calibration.bag"
    assert "4 file(s)" in made.stdout
    manifest = (bag / "manifest-sha256.txt").read_text()
    assert "data/runs/2026-11/counts.csv" in manifest
    assert "not-in-it" not in manifest  # another prefix of the same bucket
    assert f"Payload-Location: {url}" in (bag / "bag-info.txt").read_text()
    assert not (bag / "data").exists()  # nothing of the data copied here

    code, report = verify_json(str(bag), tmp_path, s3)
    assert (code, report["intact"], report["location"]) == (0, True, url), report

    fs.pipe_file(f"{name}/calibration/qubits.json", b'{"q0": {"t1": 79.9}}\n')
    fs.pipe_file(f"{name}/calibration/runs/2026-12/counts.csv", b"shots,ones\n1024,498\n")
    fs.rm_file(f"{name}/calibration/empty")
    code, report = verify_json(str(bag), tmp_path, s3)
    assert code == 1
    assert report["changed"] == ["qubits.json"]
    assert report["added"] == ["runs/2026-12/counts.csv"]
    assert report["removed"] == ["empty"]
    text = qsecure("manifest", "verify", str(bag), "--require", "0", cwd=tmp_path, env=s3)
    assert "changed: qubits.json" in text.stdout
    assert f"data: {url}" in text.stdout


def test_a_bag_kept_in_the_store_is_verified_there(
    bucket: tuple[Any, str], s3: dict[str, str], tmp_path: Path
) -> None:
    """A bag uploaded as it is (tag files and data/ under one prefix) is checked by URL."""
    fs, name = bucket
    local = tmp_path / "calibration"
    (local / "runs").mkdir(parents=True)
    (local / "runs" / "counts.csv").write_text("shots,ones\n1024,511\n")
    (local / "notes.txt").write_text("cooldown 3\n")
    assert (
        qsecure("manifest", "create", str(local), "--in-place", cwd=tmp_path, env=s3).returncode
        == 0
    )
    fs.put(str(local), f"{name}/calibration.bag", recursive=True)
    code, report = verify_json(f"s3://{name}/calibration.bag", tmp_path, s3)
    assert (code, report["intact"], report["files"]) == (0, True, 2), report
    fs.pipe_file(f"{name}/calibration.bag/data/notes.txt", b"cooldown 4\n")
    code, report = verify_json(f"s3://{name}/calibration.bag", tmp_path, s3)
    assert (code, report["changed"]) == (1, ["notes.txt"])


def test_a_missing_bucket_or_prefix_is_bad_input(
    s3: dict[str, str], bucket: tuple[Any, str], tmp_path: Path
) -> None:
    _, name = bucket
    result = qsecure("manifest", "create", "s3://no-such-bucket-here/x", cwd=tmp_path, env=s3)
    assert result.returncode == 2
    assert "s3://no-such-bucket-here/x: not found" in result.stderr
    assert "Traceback" not in result.stderr
    result = qsecure("manifest", "create", f"s3://{name}/nothing-here", cwd=tmp_path, env=s3)
    assert result.returncode == 2
    assert "no objects under this prefix" in result.stderr
    result = qsecure("manifest", "verify", f"s3://{name}/calibration", cwd=tmp_path, env=s3)
    assert result.returncode == 2
    assert "not a bag" in result.stderr


def test_an_unreachable_endpoint_is_bad_input(s3: dict[str, str], tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**s3, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_MAX_ATTEMPTS": "1"}
    result = qsecure("manifest", "create", "s3://lab/calibration", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert "s3://lab/calibration: cannot reach the store" in result.stderr
    assert "check the endpoint" in result.stderr
    assert "Traceback" not in result.stderr
    assert s3["AWS_SECRET_ACCESS_KEY"] not in result.stderr + result.stdout
    # verify, too, says the store cannot be reached, never "not a bag"
    for url in ("s3://lab/calibration.bag", f"http://127.0.0.1:{port}/calibration.bag"):
        result = qsecure("manifest", "verify", url, cwd=tmp_path, env=env)
        assert result.returncode == 2, result.stdout + result.stderr
        assert f"{url}: cannot reach the store" in result.stderr
        assert "not a bag" not in result.stderr and "Traceback" not in result.stderr


def test_file_urls_are_local_paths(tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir()
    (data / "a.txt").write_text("a\n")
    made = run_qsecure("manifest", "create", data.as_uri(), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "d.bag" / "data").is_symlink()
    result = run_qsecure(
        "manifest", "verify", (tmp_path / "d.bag").as_uri(), "--require", "0", cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_file_of_an_unreachable_http_store_is_unreadable_not_removed() -> None:
    """fsspec's HTTP store reports a refused connection as "not found": a verify against
    it must name the file as unreadable (exit 2), not as removed from the data (exit 1)."""
    import fsspec

    from jupyter_qsecure.reproduce.remote import Problem, entries_at

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    root = f"http://127.0.0.1:{port}/calibration.bag/data"
    [found] = list(entries_at(fsspec.filesystem("http"), root, ["runs/a.csv"]))
    assert isinstance(found, Problem) and found.path == "runs/a.csv"
    assert "cannot reach the store" in found.reason


def test_keys_a_manifest_cannot_name_are_problems_not_an_unreadable_bag(
    bucket: tuple[Any, str], s3: dict[str, str], tmp_path: Path
) -> None:
    """Object keys are any text: `a//b` (a path joined with an empty part), `./b`, `../b`,
    and an object `x` beside objects under `x/`. `create` wrote them into the manifest as
    they were, and `verify` (and `sign`, which verifies first) then refused that manifest
    as malformed: a bag nobody could check. They are named as problems (exit 2, no
    manifest), like a local file that cannot be in a manifest."""
    fs, name = bucket
    odd = ["calibration//double.csv", "calibration/./dot.csv", "calibration/../up.csv"]
    fs.pipe({f"{name}/{key}": b"1\n" for key in odd})
    fs.pipe({f"{name}/calibration/runs": b"an object named like the folder beside it\n"})
    result = qsecure(
        "manifest",
        "create",
        f"s3://{name}/calibration",
        "--out",
        "calibration.bag",
        cwd=tmp_path,
        env=s3,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    for shown in ("/double.csv", "./dot.csv", "../up.csv", "runs"):
        assert shown in result.stderr, (shown, result.stderr)
    assert not (tmp_path / "calibration.bag" / "manifest-sha256.txt").exists()
    fs.rm([f"{name}/{key}" for key in odd] + [f"{name}/calibration/runs"])
    result = qsecure(
        "manifest",
        "create",
        f"s3://{name}/calibration",
        "--out",
        "calibration.bag",
        cwd=tmp_path,
        env=s3,
    )
    assert result.returncode == 0, result.stderr
    code, report = verify_json("calibration.bag", tmp_path, s3)
    assert code == 0 and report["intact"], report
