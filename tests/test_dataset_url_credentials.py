"""A dataset URL holding credentials (a user and password before the host's ``@``, a
pre-signed query's signature) is refused wherever a URL enters:
``manifest create`` and ``verify``, a bag's ``Payload-Location`` and ``use_dataset`` in a
kernel. The refusal names what to fix and shows the URL with the credentials hidden, so
they never reach a manifest, a provenance record, a message or a log."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
from qsecure_cli import run_qsecure

from jupyter_qsecure.provenance.datasets import DatasetIndex
from jupyter_qsecure.reproduce.remote import redact_url

moto_server = pytest.importorskip("moto.server")
pytest.importorskip("s3fs")
import test_manifest_s3  # noqa: E402

#: The moto S3 server and a bucket holding a small dataset, as the manifest tests use them.
s3 = test_manifest_s3.s3
bucket = test_manifest_s3.bucket


def credential_urls(name: str, key: str, secret: str) -> list[str]:
    return [
        f"s3://{key}:{secret}@{name}/calibration",
        f"https://alice:{secret}@127.0.0.1:9/calibration.bag",
        f"https://127.0.0.1:9/calibration.bag?X-Amz-Credential={key}&X-Amz-Signature={secret}",
        f"file://alice:{secret}@localhost/tmp/calibration",
    ]


def test_manifest_create_and_verify_refuse_a_url_with_credentials(
    bucket: tuple[Any, str], s3: dict[str, str], tmp_path: Path
) -> None:
    _, name = bucket
    key, secret = s3["AWS_ACCESS_KEY_ID"], s3["AWS_SECRET_ACCESS_KEY"]
    for url in credential_urls(name, key, secret):
        for command in (["create", url], ["verify", url, "--require", "0"]):
            result = run_qsecure("manifest", *command, cwd=tmp_path, env=s3)
            assert result.returncode == 2, (command, result.stdout, result.stderr)
            assert "holds credentials" in result.stderr and "~/.aws" in result.stderr
            assert "***" in result.stderr
            assert secret not in result.stdout + result.stderr
        assert list(tmp_path.iterdir()) == []  # no bag written, no Payload-Location kept


def test_a_bag_whose_payload_location_holds_credentials_is_refused_unshown(
    bucket: tuple[Any, str], s3: dict[str, str], tmp_path: Path
) -> None:
    _, name = bucket
    made = run_qsecure("manifest", "create", f"s3://{name}/calibration", cwd=tmp_path, env=s3)
    assert made.returncode == 0, made.stderr
    info = tmp_path / "calibration.bag" / "bag-info.txt"
    secret = secrets.token_hex(12)
    info.write_text(
        info.read_text().replace(f"s3://{name}/", f"s3://AKID:{secret}@{name}/"), "utf-8"
    )
    result = run_qsecure(
        "manifest", "verify", str(tmp_path / "calibration.bag"), "--require", "0",
        cwd=tmp_path, env=s3,
    )  # fmt: skip
    assert result.returncode != 0
    assert secret not in result.stdout + result.stderr
    assert "holds credentials" in result.stdout + result.stderr


def test_use_dataset_with_credentials_says_so_without_them(
    bucket: tuple[Any, str], s3: dict[str, str]
) -> None:
    _, name = bucket
    index = DatasetIndex(1 << 20)
    for url in credential_urls(name, s3["AWS_ACCESS_KEY_ID"], s3["AWS_SECRET_ACCESS_KEY"]):
        with pytest.raises(ValueError, match="holds credentials") as caught:
            index.declare(url)
        assert s3["AWS_SECRET_ACCESS_KEY"] not in str(caught.value)
        assert "***" in str(caught.value)
    assert index.declared == []


def test_redact_url_hides_user_information_and_signed_query_values() -> None:
    secret = secrets.token_hex(8)
    assert redact_url(f"s3://AKID:{secret}@bucket/x") == "s3://***@bucket/x"
    assert redact_url(f"https://h/x?versionId=3&sig={secret}") == "https://h/x?versionId=3&***"
    assert redact_url("s3://bucket/prefix?versionId=3") == "s3://bucket/prefix?versionId=3"
    assert redact_url("/data/calibration") == "/data/calibration"
