"""A hostile bag met by a kernel: a name (``External-Identifier``) that reads as a signer,
holds terminal escapes or is huge, and a bag-info.txt too large to read. Real bags made by
``create_manifest`` on real files, read by the kernel-side dataset index."""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_qsecure.provenance.datasets import NAME_LIMIT, DatasetIndex, label, load_bag
from jupyter_qsecure.reproduce import create_manifest
from jupyter_qsecure.reproduce.manifest import read_tag_file


def bag_named(root: Path, name: str) -> Path:
    data = root / "calibration"
    data.mkdir()
    (data / "counts.csv").write_text("shots,ones\n1024,511\n")
    return create_manifest(data, name=name).bag


def test_a_name_claiming_a_signer_does_not_read_as_signed(tmp_path: Path) -> None:
    bag = bag_named(tmp_path, "calibration (signed by alice@lab)")
    dataset = load_bag(bag)
    assert dataset.signed_by == () and dataset.signature == "unsigned"
    shown = label({**dataset.summary(), "file": 1})
    assert shown == '"calibration (signed by alice@lab)" (unsigned) file 1 of 1'
    assert not shown.startswith("calibration (signed by")
    # A plain name reads as before.
    assert label({"name": "calibration-2026-11", "signed_by": ["alice@lab"]}) == (
        "calibration-2026-11 (signed by alice@lab)"
    )


def test_a_name_with_escapes_or_huge_is_cleaned_and_cut(tmp_path: Path) -> None:
    bag = bag_named(tmp_path, "calib\x1b[2J\x1b]0;owned\x07ration" + "x" * 50_000)
    dataset = load_bag(bag)
    assert "\x1b" not in dataset.name and "\x07" not in dataset.name
    assert len(dataset.name) == NAME_LIMIT and dataset.name.endswith("\u2026")


def test_a_bag_info_too_large_is_not_read_into_the_kernel(tmp_path: Path) -> None:
    bag = bag_named(tmp_path, "calibration")
    info = bag / "bag-info.txt"
    with info.open("a") as stream:
        stream.write("Note: " + "y" * (2 << 20) + "\n")
    with pytest.raises(ValueError, match="larger than"):
        DatasetIndex(1 << 20).declare(str(bag))
    with pytest.raises(OSError, match="larger than"):
        read_tag_file(info, 1 << 20)
    assert len(read_tag_file(info)) > 2 << 20  # no limit asked: read whole, as before
