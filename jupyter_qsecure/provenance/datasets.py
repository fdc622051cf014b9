"""Files a cell reads, linked to the dataset manifests that list them.

A kernel knows the bags the notebook declared (``jupyter_qsecure.use_dataset(PATH_OR_URL)``)
and finds others beside the data: ``DIR.bag`` beside a folder ``DIR`` holding the file (a
detached manifest), or a folder holding ``bagit.txt`` whose ``data/`` holds it (a bag in
place). A file read is linked when its digest is the one a manifest lists:

- declared bags with a SHA-256 manifest are matched by digest, wherever the file is (a
  copy of the dataset's file counts);
- a bag holding the file (found beside it, or declared) is matched by path, the file
  hashed with the manifest's algorithm when it is not SHA-256.

The link names the dataset (``External-Identifier``), the SHA-256 of its tag manifest (what
signatures sign, which covers the payload manifest), the principals whose signatures
over it are valid and trusted by the policy's ``[signing] allowed_signers``, and the file's
position in the manifest: "calibration-2026-11 (signed by alice@lab) file 12 of 4,096".

Lookups run in the recorder's writer thread after the cell, never while it runs; a bag is
read and its signatures checked once per kernel (again only when its tag manifest changes).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..reproduce.bagit import PAYLOAD_DIR, BagFormatError, manifest_name, parse_info, parse_manifest

#: Tag manifests larger than this are not read in a kernel (millions of files).
MANIFEST_LIMIT = 256 << 20
#: bag-info.txt and the tag manifest larger than this are not read in a kernel.
TAG_FILE_LIMIT = 1 << 20
#: A dataset's name (``External-Identifier``) is shown up to this many characters.
NAME_LIMIT = 200
#: A name shown as it is: one plain word; any other is quoted in labels, so a name such
#: as ``x (signed by alice@lab)`` never reads as a signer.
_PLAIN_NAME = re.compile(r"[\w.:/@+-]+")


@dataclass
class Dataset:
    """A bag a kernel knows: its name, where it is, its manifest's digest and signers."""

    name: str
    location: str
    algorithm: str
    manifest_sha256: str
    files: int
    signed_by: tuple[str, ...]
    signature: str
    payload_root: str | None
    by_path: dict[str, tuple[int, str]] = field(default_factory=dict, repr=False)
    by_digest: dict[str, tuple[int, str]] = field(default_factory=dict, repr=False)
    declared: bool = False

    def __repr__(self) -> str:
        return f"<dataset {label(self.summary())}: {self.files:,} files>"

    def summary(self) -> dict[str, Any]:
        """What a record says of the dataset (without the file's position)."""
        return {
            "name": self.name,
            "location": self.location,
            "algorithm": self.algorithm,
            "manifest_sha256": self.manifest_sha256,
            "signed_by": list(self.signed_by),
            "signature": self.signature,
            "files": self.files,
        }


def label(link: dict[str, Any]) -> str:
    """``calibration-2026-11 (signed by alice@lab) file 12 of 4,096`` from a record's link."""
    signers = link.get("signed_by") or []
    signed = (
        f"signed by {', '.join(signers)}" if signers else str(link.get("signature") or "unsigned")
    )
    name = str(link.get("name"))
    shown = name if _PLAIN_NAME.fullmatch(name) else json.dumps(name, ensure_ascii=False)
    text = f"{shown} ({signed})"
    if link.get("file") is not None:
        text += f" file {link['file']:,} of {link.get('files', 0):,}"
    if link.get("matches") is False:
        text += ": the file differs from the manifest"
    return text


def _signers() -> tuple[Any, Path | None, int]:
    """The policy's allowed_signers (None when unset or unreadable), revocations, require."""
    try:
        from ..config import load_policy
        from ..signing.allowed_signers import load_allowed_signers

        settings = load_policy().signing
        signers = (
            load_allowed_signers(settings.allowed_signers) if settings.allowed_signers else None
        )
        return signers, settings.revoked_keys, settings.require
    except Exception:  # a policy problem: no signer is trusted
        return None, None, 1


def _signature_state(bag: Path, algorithm: str, payload_ok: bool) -> tuple[tuple[str, ...], str]:
    from ..reproduce.signatures import check_signatures, signature_files

    if not payload_ok:
        return (), "manifest does not match its tag manifest: not vouched for by any signature"
    if not signature_files(bag):
        return (), "unsigned"
    signers, revoked, require = _signers()
    try:
        report = check_signatures(bag, algorithm, signers, revoked_keys=revoked, require=require)
    except Exception as error:
        return (), f"signatures not checked: {error}"
    invalid = [s for s in report.signatures if not s.valid]
    if invalid:
        return (), f"a signature does not verify ({invalid[0].reason})"
    if report.signers:
        return tuple(report.signers), "signed"
    return (), "signed by no trusted key"


def load_bag(bag: Path, location: str | None = None, payload_root: str | None = None) -> Dataset:
    """Read a bag's manifest and check its signatures. Raises ValueError naming the bag."""
    from ..reproduce.hashing import new_hasher
    from ..reproduce.manifest import ManifestError, bag_algorithm, read_tag_file
    from ..reproduce.signatures import signed_algorithm

    try:
        algorithm = bag_algorithm(bag, signed_algorithm(bag))
        tag = read_tag_file(bag / manifest_name(algorithm, tag=True), TAG_FILE_LIMIT)
        payload = read_tag_file(bag / manifest_name(algorithm), MANIFEST_LIMIT)
        entries = parse_manifest(payload.decode("utf-8"), manifest_name(algorithm), algorithm)
        tags = parse_manifest(tag.decode("utf-8"), manifest_name(algorithm, tag=True), algorithm)
        info_bytes = (
            read_tag_file(bag / "bag-info.txt", TAG_FILE_LIMIT)
            if (bag / "bag-info.txt").is_file()
            else b""
        )
        info = dict(parse_info(info_bytes.decode("utf-8"), "bag-info.txt"))
    except FileNotFoundError as error:
        raise ValueError(f"{bag}: {error.strerror}: {error.filename}") from None
    except (OSError, UnicodeDecodeError, BagFormatError, ManifestError) as error:
        raise ValueError(f"{bag}: not a readable bag: {error}") from None
    payload_hasher = new_hasher(algorithm)
    payload_hasher.update(payload)
    info_hasher = new_hasher(algorithm)
    info_hasher.update(info_bytes)
    payload_ok = tags.get(manifest_name(algorithm)) == payload_hasher.hexdigest() and (
        not info_bytes or tags.get("bag-info.txt") == info_hasher.hexdigest()
    )
    signed_by, signature = _signature_state(bag, algorithm, payload_ok)
    prefix = f"{PAYLOAD_DIR}/"
    ordered = sorted(
        (path[len(prefix) :], digest) for path, digest in entries.items() if path.startswith(prefix)
    )
    by_path = {path: (index, digest) for index, (path, digest) in enumerate(ordered, 1)}
    by_digest: dict[str, tuple[int, str]] = {}
    if algorithm == "sha256":
        for path, (index, digest) in by_path.items():
            by_digest.setdefault(digest, (index, path))
    return Dataset(
        name=_shown_name(info.get("External-Identifier") or bag.name.removesuffix(".bag")),
        location=location or str(bag),
        algorithm=algorithm,
        manifest_sha256="sha256:" + hashlib.sha256(tag).hexdigest(),
        files=len(by_path),
        signed_by=signed_by,
        signature=signature,
        payload_root=payload_root,
        by_path=by_path,
        by_digest=by_digest,
    )


def _shown_name(name: str) -> str:
    """A dataset's name as records keep it: control and invisible characters as spaces
    (no terminal escape reaches a reader), at most :data:`NAME_LIMIT` characters."""
    cleaned = " ".join(
        "".join(" " if unicodedata.category(c)[0] == "C" else c for c in name).split()
    )
    return cleaned if len(cleaned) <= NAME_LIMIT else cleaned[: NAME_LIMIT - 1] + "\u2026"


def _hash_with(path: str, algorithm: str, limit: int) -> str | None:
    from ..reproduce.hashing import new_hasher

    hasher = new_hasher(algorithm)
    try:
        with open(path, "rb") as stream:
            if os.fstat(stream.fileno()).st_size > limit:
                return None
            while block := stream.read(1 << 20):
                hasher.update(block)
    except OSError:
        return None
    return str(hasher.hexdigest())


class DatasetIndex:
    """The datasets one kernel knows, declared and found."""

    def __init__(self, hash_limit: int) -> None:
        self.hash_limit = hash_limit
        self.declared: list[Dataset] = []
        self._lock = threading.Lock()
        #: folder -> the bag holding it (None: none), for folders looked at.
        self._beside: dict[str, Path | None] = {}
        #: folder as opened -> its real path.
        self._real: dict[str, str] = {}
        self._bags: dict[str, tuple[tuple[Any, ...], Dataset]] = {}

    # -- declaring ---------------------------------------------------------------------

    def declare(self, where: str) -> Dataset:
        """Declare the dataset at ``where``: a bag, a folder with a bag beside it
        (``DIR.bag``) or the ``data`` folder of a bag, or a URL of a bag in an object store.
        Raises ValueError saying what was looked for."""
        from ..reproduce.remote import is_remote, local_path, refuse_credentials

        text = str(where)
        refuse_credentials(text)  # never recorded, shown nor logged
        local = local_path(text)
        if local is None and is_remote(text):
            dataset = self._declare_remote(text)
        else:
            folder = Path(local if local is not None else text).expanduser()
            bag = self._bag_of(folder)
            if bag is None:
                raise ValueError(
                    f"{text}: no manifest found: neither a bag (bagit.txt), nor a folder with "
                    f"one beside it ({folder.name}.bag), nor a bag's data folder; make one with "
                    "`jupyter qsecure manifest create`"
                )
            dataset = self._load(bag)
        dataset.declared = True
        with self._lock:
            self.declared = [d for d in self.declared if d.location != dataset.location]
            self.declared.append(dataset)
        return dataset

    def _declare_remote(self, url: str) -> Dataset:
        from ..reproduce.manifest import ManifestError, opened_bag
        from ..reproduce.remote import redact_url

        try:
            with opened_bag(url) as (bag, _):
                return load_bag(bag, location=redact_url(url.rstrip("/")))
        except ManifestError as error:
            raise ValueError(str(error)) from None

    @staticmethod
    def _bag_of(folder: Path) -> Path | None:
        if (folder / "bagit.txt").is_file():
            return folder
        beside = folder.parent / f"{folder.name}.bag"
        if (beside / "bagit.txt").is_file():
            return beside
        if folder.name == PAYLOAD_DIR and (folder.parent / "bagit.txt").is_file():
            return folder.parent
        return None

    def _load(self, bag: Path) -> Dataset:
        """A bag, read once while its tag files and signatures are unchanged."""
        key = os.path.realpath(bag)
        stamp = []
        for item in sorted(
            [*bag.glob("*.txt"), *bag.glob("qsecure-signatures/*.sig")], key=lambda p: p.name
        ):
            try:
                info = os.stat(item, follow_symlinks=False)
            except OSError:
                continue
            stamp.append((item.name, info.st_mtime_ns, info.st_size, info.st_ino))
        cached = self._bags.get(key)
        if cached is not None and cached[0] == tuple(stamp):
            return cached[1]
        payload = bag / PAYLOAD_DIR
        root = os.path.realpath(payload) if payload.is_dir() else None
        dataset = load_bag(bag, location=key, payload_root=root)
        self._bags[key] = (tuple(stamp), dataset)
        return dataset

    # -- linking -----------------------------------------------------------------------

    def _bag_beside(self, folder: str) -> Path | None:
        """The bag whose data holds the (real) folder ``folder``, looked for up its parents:
        ``A.bag`` beside an ancestor ``A`` whose ``data`` link leads to ``A``, or an ancestor
        ``data`` whose parent holds ``bagit.txt``. Cached per folder."""
        if folder in self._beside:
            return self._beside[folder]
        path = Path(folder)
        bag: Path | None = None
        detached = path.parent / f"{path.name}.bag"
        if (detached / "bagit.txt").is_file() and os.path.realpath(
            detached / PAYLOAD_DIR
        ) == folder:
            bag = detached
        elif path.name == PAYLOAD_DIR and (path.parent / "bagit.txt").is_file():
            bag = path.parent
        elif path.parent != path:
            bag = self._bag_beside(str(path.parent))
        self._beside[folder] = bag
        return bag

    def _found_beside(self, folder: str) -> Dataset | None:
        bag = self._bag_beside(folder)
        if bag is None:
            return None
        try:
            return self._load(bag)
        except ValueError:
            return None

    def link(self, absolute: str, sha256: str | None) -> dict[str, Any] | None:
        """The dataset link of a file read at ``absolute`` with this SHA-256 (None: no
        known manifest lists it)."""
        if sha256 is not None:
            for dataset in self.declared:
                hit = dataset.by_digest.get(sha256)
                if hit is not None:
                    return {**dataset.summary(), "path": hit[1], "file": hit[0], "matches": True}
        folder, name = os.path.split(absolute)
        real_folder = self._real.get(folder)
        if real_folder is None:
            real_folder = self._real[folder] = os.path.realpath(folder)
        # The folder resolved, not the file: a link inside the data is listed by its own path.
        real = os.path.join(real_folder, name)
        holders = [d for d in self.declared if d.payload_root]
        beside = self._found_beside(real_folder)
        if beside is not None:
            holders.append(beside)
        for dataset in holders:
            root = dataset.payload_root or ""
            if not real.startswith(root + os.sep):
                continue
            relative = real[len(root) + 1 :].replace(os.sep, "/")
            listed = dataset.by_path.get(relative)
            if listed is None:
                continue
            index, expected = listed
            digest = (
                sha256
                if dataset.algorithm == "sha256"
                else _hash_with(real, dataset.algorithm, self.hash_limit)
            )
            if digest is None:
                continue
            return {
                **dataset.summary(),
                "path": relative,
                "file": index,
                "matches": digest == expected,
            }
        return None
