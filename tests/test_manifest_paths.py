"""Paths in BagIt manifests (RFC 8493 2.1.3): any name survives encode -> manifest line ->
parse, on disk too; what cannot be a manifest path is refused by the parser."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyter_qsecure.reproduce import create_manifest, verify_manifest
from jupyter_qsecure.reproduce.bagit import (
    BagFormatError,
    decode_path,
    encode_path,
    manifest_text,
    parse_manifest,
)

#: One path component: any text but NUL, "/" and lone surrogates; never "." or "..".
component = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\0/"), min_size=1, max_size=12
).filter(lambda c: c not in (".", ".."))
path = st.lists(component, min_size=1, max_size=4).map("/".join)
digest = st.text("0123456789abcdef", min_size=64, max_size=64)


@given(path)
def test_encode_decode_round_trip(name: str) -> None:
    encoded = encode_path(name)
    assert decode_path(encoded) == name
    assert "\n" not in encoded and "\r" not in encoded
    # Only CR, LF and % are encoded; everything else is as it was.
    assert encoded.replace("%0D", "").replace("%0A", "").replace("%25", "") == (
        name.replace("\r", "").replace("\n", "").replace("%", "")
    )


@given(st.dictionaries(path, digest, max_size=8))
def test_manifest_text_parses_back_to_its_entries(entries: dict[str, str]) -> None:
    prefixed = {f"data/{p}": d for p, d in entries.items()}
    assert parse_manifest(manifest_text(prefixed), "manifest-sha256.txt", "sha256") == prefixed


@given(st.dictionaries(path, digest, min_size=1, max_size=4))
def test_crlf_line_ends_are_read_as_lf(entries: dict[str, str]) -> None:
    text = manifest_text({f"data/{p}": d for p, d in entries.items()}).replace("\n", "\r\n")
    assert set(parse_manifest(text, "m", "sha256")) == {f"data/{p}" for p in entries}


@given(st.text(max_size=200))
def test_the_parser_never_fails_other_than_with_a_format_error(text: str) -> None:
    try:
        entries = parse_manifest(text, "m", "sha256")
    except BagFormatError as error:
        message = str(error)
        entries = {}
    else:
        message = "m:"
    assert message.startswith("m:")
    for name in entries:
        assert not name.startswith("/") and ".." not in name.split("/") and "\0" not in name


@pytest.mark.parametrize(
    "name", ["../x", "data/../../x", "/abs", "data//x", "data/./x", "C:\\x", "data/\0"]
)
def test_unsafe_paths_are_refused(name: str) -> None:
    with pytest.raises(BagFormatError):
        parse_manifest(f"{'0' * 64}  {encode_path(name)}\n", "m", "sha256")


#: Names a POSIX file system holds: no NUL, no "/", at most 200 UTF-8 bytes.
file_name = component.filter(lambda c: len(c.encode()) <= 200)


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(file_name, min_size=1, max_size=6, unique=True))
def test_files_with_any_name_round_trip_through_a_bag(names: list[str]) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "d"
        data.mkdir()
        for number, name in enumerate(names):
            (data / name).write_bytes(str(number).encode())
        result = create_manifest(data, workers=1)
        assert result.written and not result.problems, result.problems
        assert result.files == len(names)
        check = verify_manifest(Path(scratch) / "d.bag", workers=1)
        assert check.intact, check
        os.unlink(data / names[0])
        assert verify_manifest(Path(scratch) / "d.bag", workers=1).removed == [names[0]]
