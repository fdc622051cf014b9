"""A credential inside an archive, through a real server: a project uploaded as a zip or a
tarball holds its ``.env`` compressed, where no text scan sees it. Each file the archive
holds is scanned as a file of its name (nested archives too), a refusal names the file,
an archive that unpacks past the scan's limit (a zip bomb) is refused as unscannable, and
clean archives are saved byte for byte. The archive reader never fails with anything but
its own error, whatever the bytes after an archive's signature."""

from __future__ import annotations

import base64
import bz2
import contextlib
import gzip
import io
import json
import lzma
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tornado.httpclient import HTTPClientError

from jupyter_qsecure.guard.archives import ArchiveError, members


def zipped(files: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def tarred(files: dict[str, bytes], mode: str = "w:gz") -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=mode) as archive:  # type: ignore[call-overload]
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _notebook(token: str) -> bytes:
    cell = {
        "cell_type": "code",
        "source": f'client = Github("{token}")',
        "metadata": {},
        "outputs": [],
        "execution_count": None,
    }
    return json.dumps(
        {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    ).encode()


def _env(token: str) -> bytes:
    # Repetitive enough that every format compresses it (xz stores a short file as is).
    return ("# local settings of the lab's runs\n" * 30 + f"GITHUB_TOKEN={token}\n").encode()


#: name -> (the archive holding the token, the member the refusal names)
ARCHIVES: dict[str, Callable[[str], tuple[bytes, str]]] = {
    "project.zip": lambda t: (
        zipped({"project/README.md": b"# Lab\n", "project/.env": _env(t)}),
        "project/.env",
    ),
    "project.tar.gz": lambda t: (tarred({"project/.env": _env(t)}), "project/.env"),
    "project.tar.bz2": lambda t: (tarred({"project/.env": _env(t)}, "w:bz2"), "project/.env"),
    "project.tar.xz": lambda t: (tarred({"project/.env": _env(t)}, "w:xz"), "project/.env"),
    "settings.env.gz": lambda t: (gzip.compress(_env(t)), "settings.env"),
    "settings.env.bz2": lambda t: (bz2.compress(_env(t)), "settings.env"),
    "settings.env.xz": lambda t: (lzma.compress(_env(t)), "settings.env"),
    "runs.zip": lambda t: (
        zipped({"runs/analysis.ipynb": _notebook(t)}),
        "runs/analysis.ipynb (cell 1, source)",
    ),
    "nested.zip": lambda t: (
        zipped({"backup.tar.gz": tarred({"home/.env": _env(t)})}),
        "backup.tar.gz!/home/.env",
    ),
}


def _upload(raw: bytes) -> str:
    return json.dumps(
        {"type": "file", "format": "base64", "content": base64.b64encode(raw).decode()}
    )


async def _refused(coroutine: Any, reason: str = "qsecure-leak") -> dict[str, Any]:
    with pytest.raises(HTTPClientError) as caught:
        await coroutine
    assert caught.value.code == 422 and caught.value.response is not None
    body: dict[str, Any] = json.loads(caught.value.response.body)
    assert body["reason"] == reason, body
    return body


@pytest.mark.parametrize("name", list(ARCHIVES))
async def test_an_archive_holding_a_token_is_refused_naming_the_file(
    jp_fetch: Any, jp_root_dir: Path, github_token: str, name: str
) -> None:
    raw, member = ARCHIVES[name](github_token)
    assert github_token.encode() not in raw  # compressed: no strings scan sees it
    body = await _refused(jp_fetch("api", "contents", name, method="PUT", body=_upload(raw)))
    [finding] = body["findings"]
    assert finding["kind"] == "GitHub token"
    assert finding["field"] == f"archive member {member}"
    assert f"archive member {member}" in body["message"]
    assert github_token not in json.dumps(body)
    assert not (jp_root_dir / name).exists()


async def test_a_file_named_by_a_token_inside_an_archive_is_refused_unnamed(
    jp_fetch: Any, jp_root_dir: Path, github_token: str
) -> None:
    raw = zipped({"keys/readme.txt": b"see below\n", f"keys/{github_token}.txt": b"x\n"})
    body = await _refused(jp_fetch("api", "contents", "k.zip", method="PUT", body=_upload(raw)))
    assert [f["field"] for f in body["findings"]] == ["archive member 2 (its name)"]
    assert github_token not in json.dumps(body)


async def test_a_chunked_upload_of_an_archive_is_scanned_whole(
    jp_fetch: Any, jp_root_dir: Path, github_token: str
) -> None:
    raw = zipped({"data/table.csv": b"a,b\n" * 3000, "data/.env": _env(github_token)})
    pieces = [raw[at : at + 1024] for at in range(0, len(raw), 1024)]

    async def upload() -> None:
        for number, piece in enumerate(pieces, start=1):
            model = {
                "type": "file",
                "format": "base64",
                "chunk": -1 if number == len(pieces) else number,
                "content": base64.b64encode(piece).decode(),
            }
            await jp_fetch("api", "contents", "data.zip", method="PUT", body=json.dumps(model))

    with pytest.raises(HTTPClientError) as caught:
        await upload()
    assert caught.value.code == 422
    assert not (jp_root_dir / "data.zip").exists()


async def test_a_damaged_archive_is_read_as_binary_data(
    jp_fetch: Any, jp_root_dir: Path, github_token: str
) -> None:
    """A zip cut short (no central directory) cannot be opened: the token its stored
    (uncompressed) member holds is still found in its bytes."""
    whole = zipped({"notes/.env": _env(github_token)}, zipfile.ZIP_STORED)
    raw = whole[: whole.rindex(b"PK\x01\x02")]
    body = await _refused(jp_fetch("api", "contents", "cut.zip", method="PUT", body=_upload(raw)))
    assert [f["field"] for f in body["findings"]] == ["binary"]
    assert not (jp_root_dir / "cut.zip").exists()


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        (
            "project.zip",
            zipped({"project/run.py": b"print('hi')\n", "project/data.bin": bytes(300)}),
        ),
        ("results.tar.gz", tarred({"results/counts.json": b'{"00": 512, "11": 512}\n'})),
        ("table.csv.gz", gzip.compress(b"shots,fidelity\n1024,0.99\n" * 100)),
        ("report.docx", zipped({"word/document.xml": b"<w:t>Bell state fidelity</w:t>"})),
    ],
)
async def test_a_clean_archive_is_saved_byte_for_byte(
    jp_fetch: Any, jp_root_dir: Path, name: str, raw: bytes
) -> None:
    response = await jp_fetch("api", "contents", name, method="PUT", body=_upload(raw))
    assert response.code == 201
    assert (jp_root_dir / name).read_bytes() == raw


@pytest.fixture
def small_scan_limit(policy: Callable[[str], Path]) -> int:
    policy("[guard]\nmax_bytes = 1000000\n")
    return 1_000_000


@pytest.mark.parametrize(
    ("name", "bomb"),
    [
        ("bomb.zip", lambda: zipped({"zeros.txt": bytes(3_000_000)})),
        ("bomb.gz", lambda: gzip.compress(bytes(3_000_000))),
        ("many.zip", lambda: zipped({f"f{i}.txt": b"" for i in range(10_001)}, zipfile.ZIP_STORED)),
    ],
)
async def test_an_archive_that_unpacks_past_the_limit_is_refused(
    small_scan_limit: int,
    jp_fetch: Any,
    jp_root_dir: Path,
    name: str,
    bomb: Callable[[], bytes],
) -> None:
    raw = bomb()
    assert len(raw) < small_scan_limit
    body = await _refused(
        jp_fetch("api", "contents", name, method="PUT", body=_upload(raw)), "qsecure-scan-error"
    )
    assert "an archive too large to scan" in body["message"]
    assert not (jp_root_dir / name).exists()


SIGNATURES = [b"PK\x03\x04", b"\x1f\x8b", b"BZh9", b"\xfd7zXZ\x00"]


@settings(max_examples=300, deadline=None)
@given(
    signature=st.sampled_from(SIGNATURES),
    rest=st.binary(max_size=2000),
    tar=st.booleans(),
)
def test_any_bytes_after_a_signature_end_in_members_or_the_archive_error(
    signature: bytes, rest: bytes, tar: bool
) -> None:
    raw = signature + rest
    if tar:  # the ustar magic where a tar header holds it
        raw = (raw + bytes(512))[:257] + b"ustar" + raw[262:]
    try:
        for member in members(raw, 100_000, "x"):
            assert isinstance(member.name, str) and isinstance(member.data, bytes)
    except ArchiveError:
        pass


def test_damaged_versions_of_real_archives_end_in_members_or_the_archive_error() -> None:
    stand_in = "not-a-credential-" + "x" * 20
    for build in ARCHIVES.values():
        raw, _ = build(stand_in)
        for cut in range(1, len(raw), max(1, len(raw) // 40)):
            for damaged in (raw[:cut], raw[:cut] + bytes(7) + raw[cut + 7 :]):
                with contextlib.suppress(ArchiveError):
                    list(members(damaged, 100_000, "x"))


def test_a_member_name_cannot_forge_lines_where_it_is_shown(github_token: str) -> None:
    from jupyter_qsecure.guard import Scanner

    raw = zipped({"notes\n[I 12:00] saved\x1b[32m.env": _env(github_token)})
    [finding] = Scanner().scan_binary(raw, path=Path("x.zip")).findings
    assert finding.location.field == "archive member notes\\x0a[I 12:00] saved\\x1b[32m.env"


def test_a_file_that_cannot_be_read_leaves_the_others_read(github_token: str) -> None:
    """One damaged file in a zip (a flipped byte of its compressed data), or an archive
    inside that cannot be opened, does not hide the files after it."""
    from jupyter_qsecure.guard import Scanner

    first = b"measurement results of the run\n" * 200
    raw = bytearray(zipped({"a/results.txt": first, "a/.env": _env(github_token)}))
    data_start = raw.index(b"a/results.txt") + len("a/results.txt") + 10
    raw[data_start] ^= 0xFF
    fields = [
        f.location.field for f in Scanner().scan_binary(bytes(raw), path=Path("a.zip")).findings
    ]
    assert fields == ["archive member a/.env"]

    whole_inner = zipped({"keys/.env": _env(github_token)}, zipfile.ZIP_STORED)
    broken_inner = whole_inner[: whole_inner.rindex(b"PK\x01\x02")]  # no central directory
    raw = zipped({"inner.zip": broken_inner, "b/.env": _env(github_token)})
    fields = [f.location.field for f in Scanner().scan_binary(raw, path=Path("b.zip")).findings]
    assert fields == ["archive member inner.zip", "archive member b/.env"]
