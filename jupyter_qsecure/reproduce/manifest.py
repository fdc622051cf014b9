"""Create and verify a dataset's BagIt manifest.

Two layouts (RFC 8493 wants the payload under ``data/`` beside the tag files):

- *detached* (the default): the data folder is not touched; the bag is a folder beside it
  (``DIR.bag``) holding the tag files and ``data``, a relative symbolic link to ``DIR``;
- *in place*: ``DIR`` itself becomes the bag: its content moves into ``DIR/data`` (renames
  on one file system, nothing copied) and the tag files are written in ``DIR``.

Every file is streamed and hashed on all cores (:mod:`.hashing`); a run that stops
resumes from its journal (:mod:`.state`); files that cannot be listed or read are named
with the reason and the rest is still hashed, but no manifest is written while any is
left (so a manifest never leaves a file out without saying so).
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from pathlib import Path

from .._version import __version__
from . import state
from .bagit import (
    ALGORITHMS,
    BAGIT_TXT,
    PAYLOAD_DIR,
    BagFormatError,
    Oxum,
    info_text,
    manifest_name,
    manifest_text,
    parse_info,
    parse_manifest,
)
from .hashing import Hashed, Progress, Reader, hash_files, new_hasher
from .remote import (
    REMOTE_WORKERS,
    RemoteError,
    copy_tag_files,
    entries_at,
    hash_remote,
    is_remote,
    local_path,
    open_store,
    refuse_credentials,
    walk_remote,
)
from .tree import FileEntry, Problem, walk

SIGNATURES_DIR = "qsecure-signatures"
#: The ``bag-info.txt`` label of a bag whose payload lives in an object store.
LOCATION_LABEL = "Payload-Location"
#: Shows progress: called with (bytes done, bytes to do) a few times a second.
ProgressSink = Callable[[int, int], None]


class ManifestError(ValueError):
    """Bad input: not a folder, not a bag, a bag that cannot be read. The message says what
    to fix (exit code 2 on the command line)."""


@dataclass
class CreateResult:
    """What ``create`` did: the bag, how many files and bytes, how many were taken from an
    interrupted run's journal, the problems, whether the tag files were written."""

    bag: Path
    algorithm: str
    files: int = 0
    octets: int = 0
    resumed: int = 0
    problems: list[Problem] = field(default_factory=list)
    written: bool = False
    unchanged: bool = False
    signatures_removed: int = 0
    location: str | None = None


@dataclass
class VerifyResult:
    """A bag against its data: files added, removed, changed (and renamed, an added file
    with a removed file's digest), tag files that do not match, unreadable files."""

    bag: Path
    algorithm: str
    files: int = 0
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)
    tag_problems: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    from_cache: int = 0
    resumed: int = 0
    quick: bool = False
    location: str | None = None

    @property
    def intact(self) -> bool:
        """Every file as the manifest says, nothing added, every tag file matching."""
        return not (
            self.added
            or self.removed
            or self.changed
            or self.renamed
            or self.tag_problems
            or self.problems
        )


# --------------------------------------------------------------------------- shared


def _write_atomic(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    temporary.write_text(text, encoding="utf-8", newline="")
    os.replace(temporary, path)


def read_tag_file(path: Path, limit: int | None = None) -> bytes:
    """The bytes of a bag's tag file, read only if it is a regular file (not a link, FIFO or
    device, which could point anywhere or block forever) and, with ``limit``, of at most
    ``limit`` bytes (checked before reading). Raises OSError otherwise."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        if limit is not None and info.st_size > limit:
            raise OSError(errno.EFBIG, f"larger than {limit:,} bytes", str(path))
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as stream:
            data = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(data) > limit:  # it grew while being read
            raise OSError(errno.EFBIG, f"larger than {limit:,} bytes", str(path))
        return data
    finally:
        os.close(fd)


def _tag_digest(path: Path, algorithm: str) -> str:
    """The digest of a tag file, streamed in blocks (a tag manifest may list any file of
    the bag, of any size), read only if it is a regular file. Raises OSError otherwise."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        os.set_blocking(fd, True)
        hasher = new_hasher(algorithm)
        while block := os.read(fd, 1 << 20):
            hasher.update(block)
        return str(hasher.hexdigest())
    finally:
        os.close(fd)


def _read_text(path: Path, what: str) -> str:
    try:
        return read_tag_file(path).decode("utf-8")
    except FileNotFoundError:
        raise ManifestError(f"{path}: no {what} (is this a bag?)") from None
    except OSError as error:
        raise ManifestError(f"{path}: cannot read the {what}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise ManifestError(f"{path}: the {what} is not UTF-8 text") from None


def _read_info(bag: Path, name: str) -> list[tuple[str, str]]:
    """The labels and values of the tag file ``name`` of ``bag`` (``bagit.txt``,
    ``bag-info.txt``); a ManifestError naming the file and line it cannot read."""
    try:
        return parse_info(_read_text(bag / name, name), name)
    except BagFormatError as error:
        raise ManifestError(f"{bag}/{error}") from None


def _hash_all(
    entries: list[FileEntry],
    algorithm: str,
    journal: state.Journal,
    known: state.Known,
    workers: int | None,
    on_progress: ProgressSink | None,
    reader: Reader | None = None,
) -> tuple[dict[str, tuple[FileEntry, str]], list[Problem], int]:
    """Digest of every entry: from ``known`` (an interrupted run) if unchanged, else hashed
    now and journaled. Returns (path -> (entry, digest), problems, files reused)."""
    done: dict[str, tuple[FileEntry, str]] = {}
    todo: list[FileEntry] = []
    for entry in entries:
        digest = state.still(known, entry)
        if digest is None:
            todo.append(entry)
        else:
            done[entry.path] = (entry, digest)
            journal.add(entry, digest)
    resumed = len(done)
    total = sum(entry.size for entry in todo)
    progress = Progress()

    def tick() -> None:
        if on_progress:
            on_progress(progress.done, total)

    problems: list[Problem] = []
    for result in hash_files(
        todo, algorithm, workers=workers, progress=progress, tick=tick, reader=reader
    ):
        if isinstance(result, Hashed):
            done[result.entry.path] = (result.entry, result.digest)
            journal.add(result.entry, result.digest)
        else:
            problems.append(result)
    tick()
    return done, problems, resumed


def _split(items: Iterable[FileEntry | Problem]) -> tuple[list[FileEntry], list[Problem]]:
    entries: list[FileEntry] = []
    problems: list[Problem] = []
    for item in items:
        (entries if isinstance(item, FileEntry) else problems).append(item)  # type: ignore[arg-type]
    return entries, problems


@dataclass(frozen=True)
class _Payload:
    """Where a bag's files are: a local folder or an object store prefix."""

    key: str  # what the journal and the quick cache are keyed by
    entries: Callable[[], Iterator[FileEntry | Problem]]
    reader: Reader | None = None
    workers: int | None = None


def _local_payload(root: str) -> _Payload:
    return _Payload(root, partial(walk, root))


def _remote_payload(url: str, *, listed: list[str] | None = None) -> _Payload:
    """The objects under ``url``; ``listed`` (the manifest's paths) for stores that cannot
    list (plain HTTP)."""
    url = url.rstrip("/")
    try:
        fs, root = open_store(url)
    except RemoteError as error:
        raise ManifestError(str(error)) from None
    can_list = not url.lower().startswith(("http://", "https://"))

    def entries() -> Iterator[FileEntry | Problem]:
        try:
            if can_list or listed is None:
                yield from walk_remote(fs, root, url)
            else:
                yield from entries_at(fs, root, listed)
        except RemoteError as error:
            raise ManifestError(str(error)) from None

    return _Payload(url, entries, partial(hash_remote, fs), REMOTE_WORKERS)


def _as_local(data: Path | str) -> Path | str:
    """A ``file://`` URL as a path; another URL as it is; a path as a :class:`Path`."""
    text = str(data)
    try:
        refuse_credentials(text)
        local = local_path(text)
    except RemoteError as error:
        raise ManifestError(str(error)) from None
    if local is not None:
        return Path(local)
    return text if is_remote(text) else Path(data)


# --------------------------------------------------------------------------- create


def _prepare_detached(data: Path, out: Path | None) -> Path:
    bag = out if out is not None else data.parent / f"{data.name}.bag"
    real_data = os.path.realpath(data)
    real_bag = os.path.realpath(bag)
    if real_bag == real_data or real_bag.startswith(real_data + os.sep):
        raise ManifestError(
            f"{bag}: a detached manifest cannot be inside the folder it describes; "
            "choose --out outside it, or make the folder a bag with --in-place"
        )
    if bag.exists() and not bag.is_dir():
        raise ManifestError(f"{bag}: exists and is not a folder; choose another --out")
    started = {p.name for p in bag.iterdir()} <= {PAYLOAD_DIR} if bag.is_dir() else True
    if not started and not (bag / "bagit.txt").exists():
        raise ManifestError(
            f"{bag}: a folder that is not a bag and not empty; choose another --out"
        )
    bag.mkdir(parents=True, exist_ok=True)
    link = bag / PAYLOAD_DIR
    target = os.path.relpath(real_data, os.path.realpath(bag))
    if link.is_symlink():
        if os.path.realpath(link) != real_data:
            raise ManifestError(
                f"{bag}: its data link leads to {os.path.realpath(link)}, not {data}; "
                "choose another --out"
            )
    elif link.exists():
        raise ManifestError(f"{bag}: holds a data folder of its own; choose another --out")
    else:
        os.symlink(target, link, target_is_directory=True)
    return bag


def _prepare_in_place(data: Path) -> Path:
    payload = data / PAYLOAD_DIR
    if (data / "bagit.txt").is_file() and payload.is_dir():
        return data
    staging = [p for p in data.iterdir() if p.name.startswith(".qsecure-bagging-")]
    holding = staging[0] if staging else data / f".qsecure-bagging-{secrets.token_hex(4)}"
    holding.mkdir(exist_ok=True)
    for item in list(data.iterdir()):
        if item != holding:
            os.rename(item, holding / item.name)
    os.rename(holding, payload)
    return data


def _prepare_remote(url: str, out: Path | None) -> Path:
    name = url.rstrip("/").rsplit("/", 1)[-1] or "dataset"
    bag = out if out is not None else Path(f"{name}.bag")
    if bag.exists() and not bag.is_dir():
        raise ManifestError(f"{bag}: exists and is not a folder; choose another --out")
    if bag.is_dir() and any(bag.iterdir()):
        if not (bag / "bagit.txt").is_file():
            raise ManifestError(
                f"{bag}: a folder that is not a bag and not empty; choose another --out"
            )
        if (bag / PAYLOAD_DIR).exists() or os.path.islink(bag / PAYLOAD_DIR):
            raise ManifestError(f"{bag}: a bag of local data; choose another --out")
        recorded = _location(bag)
        if recorded is not None and recorded != url.rstrip("/"):
            raise ManifestError(
                f"{bag}: the manifest of {recorded}, not {url}; choose another --out"
            )
    bag.mkdir(parents=True, exist_ok=True)
    return bag


def _location(bag: Path) -> str | None:
    """The ``Payload-Location`` of a bag's ``bag-info.txt`` (None when it has none)."""
    try:
        fields = parse_info(read_tag_file(bag / "bag-info.txt").decode("utf-8"), "bag-info.txt")
    except (OSError, UnicodeDecodeError, BagFormatError):
        return None
    return dict(fields).get(LOCATION_LABEL)


def create_manifest(
    data: Path | str,
    *,
    algorithm: str = "sha256",
    out: Path | None = None,
    in_place: bool = False,
    name: str | None = None,
    workers: int | None = None,
    on_progress: ProgressSink | None = None,
) -> CreateResult:
    """Make (or bring up to date) the bag of the folder ``data``; see the module's notes.

    ``data`` may be an fsspec URL (``s3://bucket/prefix``): the bag is then a local folder
    of tag files (``--out``, default ``<last part>.bag`` here) whose ``bag-info.txt`` names
    the URL (``Payload-Location``). Raises :class:`ManifestError` for bad input and
    :class:`~.hashing.AlgorithmUnavailable`; an interruption (KeyboardInterrupt) leaves the
    journal for the next run to resume."""
    new_hasher(algorithm)
    data = _as_local(data)
    location: str | None = None
    if isinstance(data, str):
        if in_place:
            raise ManifestError(f"{data}: --in-place is for local folders; use --out")
        location = data.rstrip("/")
        payload = _remote_payload(location)
        bag = _prepare_remote(location, out)
        display_name = location.rsplit("/", 1)[-1]
    else:
        if not data.is_dir():
            raise ManifestError(f"{data}: not a folder")
        bag = _prepare_in_place(data) if in_place else _prepare_detached(data, out)
        payload = _local_payload(os.path.realpath(bag / PAYLOAD_DIR))
        display_name = data.name
    result = CreateResult(bag, algorithm, location=location)
    entries, result.problems = _split(payload.entries())
    if location is not None and not entries and not result.problems:
        raise ManifestError(f"{location}: no objects under this prefix; check the URL")
    journal_file = state.journal_path(payload.key, algorithm, "create")
    known = state.load(journal_file)
    journal = state.Journal(journal_file)
    finished = False
    try:
        hashed, problems, result.resumed = _hash_all(
            entries,
            algorithm,
            journal,
            known,
            workers or payload.workers,
            on_progress,
            payload.reader,
        )
        result.problems += problems
        result.files = len(hashed)
        result.octets = sum(entry.size for entry, _ in hashed.values())
        finished = not result.problems
    finally:
        journal.close(finished=finished)
    result.problems.sort(key=lambda problem: problem.path)
    if not finished:
        return result
    state.save_cache(state.quick_cache_path(payload.key, algorithm), hashed)
    _write_bag(
        bag,
        result,
        {f"{PAYLOAD_DIR}/{p}": d for p, (_, d) in hashed.items()},
        name or display_name,
    )
    return result


def _write_bag(bag: Path, result: CreateResult, entries: dict[str, str], name: str) -> None:
    manifest = manifest_text(entries)
    current = bag / manifest_name(result.algorithm)
    try:
        result.unchanged = (
            read_tag_file(current).decode("utf-8") == manifest
            and (bag / manifest_name(result.algorithm, tag=True)).is_file()
        )
    except (OSError, UnicodeDecodeError):
        result.unchanged = False
    if result.unchanged:
        result.written = True
        return
    for old in bag.glob("*manifest-*.txt"):
        old.unlink()
    signatures = bag / SIGNATURES_DIR
    if signatures.is_dir():
        for signature in signatures.glob("*.sig"):
            signature.unlink()
            result.signatures_removed += 1
    _write_atomic(bag / manifest_name(result.algorithm), manifest)
    _write_atomic(bag / "bagit.txt", BAGIT_TXT)
    info = [
        ("Bag-Software-Agent", f"jupyter-qsecure {__version__}"),
        ("Bagging-Date", date.today().isoformat()),
        ("External-Identifier", name),
        ("Payload-Oxum", str(Oxum(result.octets, result.files))),
    ]
    if result.location is not None:
        info.append((LOCATION_LABEL, result.location))
    _write_atomic(bag / "bag-info.txt", info_text(info))
    tags = {}
    for tag in ("bagit.txt", "bag-info.txt", manifest_name(result.algorithm)):
        hasher = new_hasher(result.algorithm)
        hasher.update((bag / tag).read_bytes())
        tags[tag] = hasher.hexdigest()
    _write_atomic(bag / manifest_name(result.algorithm, tag=True), manifest_text(tags))
    result.written = True


# --------------------------------------------------------------------------- verify


def bag_algorithm(bag: Path, preferred: str | None = None) -> str:
    """The algorithm a bag is checked with: ``preferred`` (the one its signatures sign),
    else the strongest with a payload manifest. Raises :class:`ManifestError`."""
    if (bag / "bagit.txt").is_symlink() or (
        (bag / "bagit.txt").exists() and not (bag / "bagit.txt").is_file()
    ):
        raise ManifestError(f"{bag}/bagit.txt: not a regular file")
    if not (bag / "bagit.txt").is_file():
        raise ManifestError(f"{bag}: no bagit.txt, so not a bag; make one with `manifest create`")
    candidates = [preferred] if preferred else list(ALGORITHMS)
    for algorithm in candidates:
        if (bag / manifest_name(algorithm)).is_file():
            new_hasher(algorithm)
            return algorithm
    raise ManifestError(
        f"{bag}: no manifest-{preferred or '<sha512|sha256|blake3>'}.txt"
        + (" (the algorithm its signatures sign)" if preferred else "")
    )


def _check_tags(bag: Path, algorithm: str, result: VerifyResult) -> dict[str, str]:
    """Check the tag manifest; return the payload manifest's entries."""
    bagit = _read_info(bag, "bagit.txt")
    version = dict(bagit).get("BagIt-Version", "")
    if not version.startswith(("0.9", "1.")):
        raise ManifestError(
            f"{bag}/bagit.txt: BagIt-Version {version!r} is not one this reads (0.97, 1.0)"
        )
    encoding = dict(bagit).get("Tag-File-Character-Encoding", "UTF-8")
    if encoding.upper().replace("_", "-") not in ("UTF-8", "UTF8"):
        raise ManifestError(
            f"{bag}/bagit.txt: tag files in {encoding} are not supported (UTF-8 only)"
        )
    tag_name = manifest_name(algorithm, tag=True)
    try:
        tags = parse_manifest(_read_text(bag / tag_name, tag_name), tag_name, algorithm)
    except ManifestError:
        tags = None
        result.tag_problems.append(f"{tag_name} is missing: tag files cannot be checked")
    except BagFormatError as error:
        raise ManifestError(f"{bag}/{error}") from None
    if tags is not None:
        for tag, digest in sorted(tags.items()):
            if tag.startswith(f"{PAYLOAD_DIR}/"):
                result.tag_problems.append(f"{tag_name} lists a payload file ({tag})")
                continue
            try:
                found = _tag_digest(bag / tag, algorithm)
            except OSError as error:
                reason = "missing" if isinstance(error, FileNotFoundError) else error.strerror
                result.tag_problems.append(f"{tag}: listed in {tag_name}, {reason}")
                continue
            if found != digest:
                result.tag_problems.append(
                    f"{tag}: changed (its digest is not the one in {tag_name})"
                )
        for present in sorted(p.name for p in bag.iterdir() if p.is_file()):
            covered = present in tags or present.startswith("tagmanifest-")
            if not covered and (
                present in ("bagit.txt", "bag-info.txt", "fetch.txt")
                or present.startswith("manifest-")
            ):
                result.tag_problems.append(f"{present}: not covered by {tag_name}")
    if (bag / "fetch.txt").exists():
        result.tag_problems.append("fetch.txt: bags with files to fetch are not supported")
    payload_name = manifest_name(algorithm)
    try:
        entries = parse_manifest(
            _read_text(bag / payload_name, payload_name), payload_name, algorithm
        )
    except BagFormatError as error:
        raise ManifestError(f"{bag}/{error}") from None
    outside = [p for p in entries if not p.startswith(f"{PAYLOAD_DIR}/")]
    if outside:
        raise ManifestError(f"{bag}/{payload_name}: names a path outside data/: {outside[0]!r}")
    info = dict(_read_info(bag, "bag-info.txt")) if (bag / "bag-info.txt").is_file() else {}
    result.location = info.get(LOCATION_LABEL)
    oxum = Oxum.parse(info.get("Payload-Oxum", "")) if info else None
    if oxum is not None and oxum.files != len(entries):
        result.tag_problems.append(
            f"bag-info.txt: Payload-Oxum counts {oxum.files} files, {payload_name} lists {len(entries)}"
        )
    return {p[len(PAYLOAD_DIR) + 1 :]: d for p, d in entries.items()}


def verify_manifest(
    bag: Path,
    *,
    quick: bool = False,
    algorithm: str | None = None,
    workers: int | None = None,
    on_progress: ProgressSink | None = None,
    payload_url: str | None = None,
) -> VerifyResult:
    """Check the data of ``bag`` against its manifest; see :class:`VerifyResult`.

    ``quick`` trusts, for a file whose size, mtime, ctime and inode (for an object: size,
    time and ETag) are those recorded when it was last hashed in full here, that last
    digest. The data is ``bag/data``, else the URL its ``bag-info.txt`` names
    (``Payload-Location``), else ``payload_url``. Raises :class:`ManifestError` for a
    folder that is not a readable bag."""
    if not bag.is_dir():
        raise ManifestError(f"{bag}: not a folder")
    chosen = bag_algorithm(bag, algorithm)
    result = VerifyResult(bag, chosen, quick=quick)
    expected = _check_tags(bag, chosen, result)
    folder = bag / PAYLOAD_DIR
    if payload_url is not None:
        result.location = payload_url.rstrip("/")
    if folder.is_dir() or os.path.islink(folder) or result.location is None:
        if not folder.is_dir():
            raise ManifestError(f"{bag}: its data folder ({folder}) is missing")
        result.location = None
        payload = _local_payload(os.path.realpath(folder))
    else:
        local = _as_local(result.location)
        if isinstance(local, Path):
            payload = _local_payload(os.path.realpath(local))
        else:
            payload = _remote_payload(local, listed=sorted(expected))
    root = payload.key
    entries, result.problems = _split(payload.entries())
    present = {entry.path: entry for entry in entries}
    unreadable = {problem.path for problem in result.problems}
    result.removed = sorted(set(expected) - set(present) - unreadable)
    result.files = len(expected)
    to_hash: list[FileEntry] = []
    cache_file = state.quick_cache_path(root, chosen)
    cache = state.load(cache_file) if quick else {}
    hashed: dict[str, tuple[FileEntry, str]] = {}
    for path, entry in present.items():
        if path in expected and quick and state.still(cache, entry) is not None:
            hashed[path] = (entry, cache[path][4])
            result.from_cache += 1
        else:
            to_hash.append(entry)
    journal_file = state.journal_path(root, chosen, "verify")
    journal = state.Journal(journal_file)
    finished = False
    try:
        fresh, problems, result.resumed = _hash_all(
            to_hash,
            chosen,
            journal,
            state.load(journal_file),
            workers or payload.workers,
            on_progress,
            payload.reader,
        )
        finished = True
    finally:
        journal.close(finished=finished)
    hashed.update(fresh)
    result.problems += problems
    result.problems.sort(key=lambda problem: problem.path)
    added = sorted(set(present) - set(expected))
    by_digest = {digest: path for path, digest in expected.items() if path in result.removed}
    for path in added:
        digest = hashed[path][1] if path in hashed else None
        if digest is not None and digest in by_digest and by_digest[digest] in result.removed:
            old = by_digest.pop(digest)
            result.renamed.append((old, path))
            result.removed.remove(old)
        else:
            result.added.append(path)
    for path in sorted(set(expected) & set(hashed)):
        if hashed[path][1] != expected[path]:
            result.changed.append(path)
    state.save_cache(cache_file, {**_cache_kept(cache, present), **hashed})
    return result


def _cache_kept(
    cache: state.Known, present: dict[str, FileEntry]
) -> dict[str, tuple[FileEntry, str]]:
    """Cache entries still describing a present file (kept when a quick run trusted them)."""
    kept = {}
    for path, (size, mtime, ctime, inode, digest) in cache.items():
        entry = present.get(path)
        if entry is not None and entry.signature == (size, mtime, ctime, inode):
            kept[path] = (entry, digest)
    return kept


@contextmanager
def opened_bag(where: str) -> Iterator[tuple[Path, str | None]]:
    """The local folder of the bag named by ``where`` and the URL of its data, if remote.

    A path (or ``file://`` URL) is used as it is; a bag in an object store
    (``s3://bucket/name.bag``) has its tag files and signatures copied into a temporary
    folder (removed after), its data being ``<url>/data``. Raises :class:`ManifestError`."""
    local = _as_local(where)
    if isinstance(local, Path):
        yield local, None
        return
    url = local.rstrip("/")
    try:
        fs, root = open_store(url)
        with tempfile.TemporaryDirectory(prefix="qsecure-bag-") as folder:
            copy_tag_files(fs, root, url, folder, SIGNATURES_DIR)
            yield Path(folder), f"{url}/{PAYLOAD_DIR}"
    except RemoteError as error:
        raise ManifestError(str(error)) from None
