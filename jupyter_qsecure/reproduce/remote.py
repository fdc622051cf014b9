"""Data in an object store, through fsspec URLs (``s3://``, ``gs://``, ``https://``...).

A manifest of remote data is a local bag (tag files only, no ``data`` folder) whose
``bag-info.txt`` names where the payload lives (``Payload-Location: s3://bucket/prefix``);
a bag stored in the object store itself (``s3://bucket/name.bag`` holding ``bagit.txt``
and ``data/``) is checked by copying its small tag files to a temporary folder.

Objects are listed once (their size and ETag or modification time), then streamed in
fixed blocks on a pool of threads (memory flat in object size; the digest of a block is
computed while other threads wait on the network). ``file://`` URLs are local paths and go
through the local walk, with its rules on links and special files.

Credentials and endpoints are fsspec's and the store library's own: for S3, the
``AWS_*`` variables or ``~/.aws``; another endpoint with ``FSSPEC_S3_ENDPOINT_URL``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from .bagit import unsafe_path
from .hashing import Hashed, Progress, new_hasher
from .tree import FileEntry, Problem

#: Bytes asked for in one ranged read.
READ_BLOCK = 8 << 20
#: Threads for remote data (network-bound: more than the cores).
REMOTE_WORKERS = 16
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_EXTRA = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs"}


class RemoteError(ValueError):
    """A URL that cannot be used: unknown scheme, missing library, unreachable store,
    missing bucket. The message says what to fix."""


#: Query parameters that carry a credential (pre-signed URLs, SAS tokens, API keys).
_SECRET_QUERY = re.compile(
    r"(?:^|[-_.])(?:signature|sig|credential|token|key|secret|password|passwd|pwd|auth"
    r"|authorization|session|sas|apikey|api[-_]key|access[-_]?token)$",
    re.IGNORECASE,
)
_HIDDEN = "***"


def url_secrets(text: str) -> list[str]:
    """The parts of the URL ``text`` that are credentials: its user information (the user
    and password before the host's ``@``, both and each) and the values of query
    parameters named like a signature, token or key. Empty for a plain path."""
    if scheme_of(text) is None:
        return []
    try:
        parts = urlsplit(text)
    except ValueError:
        return []
    found: list[str] = []
    userinfo, at, _ = parts.netloc.rpartition("@")
    if at and userinfo:
        found.append(userinfo)
        found.extend(piece for piece in userinfo.split(":") if piece)
        found.extend(unquote(piece) for piece in userinfo.split(":") if piece)
    for name, value in parse_qsl(parts.query, keep_blank_values=False):
        if value and _SECRET_QUERY.search(name):
            found.append(value)
            found.extend(piece for piece in parts.query.split("&") if piece.endswith(value))
    return sorted({piece for piece in found if piece}, key=len, reverse=True)


def redact_url(text: str, within: str | None = None) -> str:
    """``within`` (default: ``text`` itself) with the credentials of the URL ``text``
    replaced by ``***``: what may be shown, logged or recorded of a URL."""
    shown = text if within is None else within
    for secret in url_secrets(text):
        shown = shown.replace(secret, _HIDDEN)
    return shown


def refuse_credentials(text: str) -> None:
    """Raise :class:`RemoteError` when the URL ``text`` holds credentials: they would end
    up in manifests (``Payload-Location``), provenance records, messages and logs. The
    message shows the URL with them hidden and says where credentials go instead."""
    if url_secrets(text):
        raise RemoteError(
            f"{redact_url(text)}: the URL holds credentials (a user and password, or a "
            "signature or token in its query); remove them from the URL and give them as the "
            "store's library reads them (for S3 the AWS_* variables or ~/.aws; for https a "
            "~/.netrc), so they never reach a manifest, a provenance record or a log"
        )


def scheme_of(text: str) -> str | None:
    """The URL scheme of ``text`` (``s3``), or None for a plain path."""
    match = _SCHEME.match(text)
    return match.group(1).lower() if match else None


def local_path(text: str) -> str | None:
    """The local path a ``file://`` URL names (None for anything else)."""
    if scheme_of(text) != "file":
        return None
    parts = urlsplit(text)
    if parts.netloc not in ("", "localhost"):
        raise RemoteError(f"{redact_url(text)}: a file:// URL names a local path (file:///path)")
    return unquote(parts.path)


def is_remote(text: str) -> bool:
    """Whether ``text`` is a URL other than ``file://``."""
    scheme = scheme_of(text)
    return scheme is not None and scheme != "file"


def open_store(url: str) -> tuple[Any, str]:
    """The fsspec file system of ``url`` and the path in it (no trailing ``/``).

    A fresh instance each time (no listing cached from an earlier call). Raises
    :class:`RemoteError` for an unknown scheme, a missing library or a URL holding
    credentials."""
    refuse_credentials(url)
    try:
        import fsspec
    except ImportError:  # pragma: no cover - fsspec comes with s3fs and gcsfs
        raise RemoteError(
            f"{url}: reading object stores needs fsspec: pip install 'jupyter-qsecure[s3]'"
        ) from None
    scheme = scheme_of(url) or ""
    try:
        fs, path = fsspec.core.url_to_fs(url, skip_instance_cache=True, use_listings_cache=False)
    except (ImportError, ValueError) as error:
        extra = _EXTRA.get(scheme)
        hint = f": pip install 'jupyter-qsecure[{extra}]'" if extra else ""
        raise RemoteError(f"{url}: cannot read {scheme}:// URLs here ({error}){hint}") from None
    except TypeError:
        fs, path = fsspec.core.url_to_fs(url, skip_instance_cache=True)
    return fs, str(path).rstrip("/")


def describe(error: BaseException, url: str) -> str:
    """A store's error in one line naming the URL (a missing bucket, a refused connection)."""
    if _unreachable(error.__cause__) and not _unreachable(error):
        error = error.__cause__  # type: ignore[assignment]  # checked just above
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if isinstance(error, FileNotFoundError):
        return f"{url}: not found ({text}): check the bucket and prefix"
    if isinstance(error, PermissionError):
        return f"{url}: access refused ({text}): check the credentials"
    if _unreachable(error):
        return f"{url}: cannot reach the store ({text}): check the endpoint and the network"
    return f"{url}: {text}"


def _unreachable(error: BaseException | None) -> bool:
    """Whether ``error`` says the store could not be reached (refused, unresolved, down)."""
    if error is None:
        return False
    name = type(error).__name__
    return "Connect" in name or "Endpoint" in name or isinstance(error, ConnectionError)


def _identity(info: dict[str, Any]) -> tuple[int, int]:
    """(modification time in ns, a number from the ETag or generation) of a listing entry."""
    modified = info.get("LastModified") or info.get("mtime") or info.get("updated")
    mtime_ns = 0
    if modified is not None:
        try:
            mtime_ns = int(modified.timestamp() * 1_000_000_000)
        except AttributeError:
            try:
                mtime_ns = int(float(modified) * 1_000_000_000)
            except (TypeError, ValueError):
                mtime_ns = 0
    tag = info.get("ETag") or info.get("etag") or info.get("generation") or info.get("md5Hash")
    number = int(hashlib.sha256(str(tag).encode()).hexdigest()[:15], 16) if tag else 0
    return mtime_ns, number


def walk_remote(fs: Any, root: str, url: str) -> Iterator[FileEntry | Problem]:
    """Every object under ``root`` as a :class:`FileEntry` (path relative to ``root``),
    sorted by path. Raises :class:`RemoteError` when the listing fails."""
    try:
        found = fs.find(root, detail=True)
    except Exception as error:  # the store libraries raise their own types
        raise RemoteError(describe(error, url)) from None
    prefix = root + "/" if root else ""
    rows = []
    for name, info in found.items():
        if info.get("type", "file") != "file" or not name.startswith(prefix):
            continue
        path = name[len(prefix) :]
        if not path or path.endswith("/"):
            continue  # a "folder marker" object
        rows.append((path, name, info))
    folders = {path.rsplit("/", 1)[0] for path, _, _ in rows if "/" in path}
    folders |= {part for folder in list(folders) for part in _parents(folder)}
    for path, name, info in sorted(rows, key=lambda row: row[0].encode()):
        problem = unsafe_path(path)
        if problem is not None:
            yield Problem(
                path, f"a key a BagIt manifest cannot name ({problem}): rename the object"
            )
            continue
        if path in folders:
            yield Problem(
                path,
                "an object named like the folder of other objects (a file and a folder "
                "of one name cannot both be in a bag): rename the object",
            )
            continue
        size = info.get("size")
        if size is None:
            yield Problem(path, "the store does not say its size: it cannot be in a manifest")
            continue
        mtime_ns, number = _identity(info)
        yield FileEntry(path, name, int(size), mtime_ns, 0, number)


def _parents(folder: str) -> Iterator[str]:
    """``a/b/c`` -> ``a``, ``a/b``."""
    parts = folder.split("/")
    for end in range(1, len(parts)):
        yield "/".join(parts[:end])


def entries_at(fs: Any, root: str, paths: list[str]) -> Iterator[FileEntry | Problem]:
    """The entries of the given paths under ``root`` (for stores that cannot list, such as
    plain HTTP), a problem for each that cannot be found."""
    for path in paths:
        name = f"{root}/{path}"
        try:
            info = fs.info(name)
        except FileNotFoundError as missing:
            if not _unreachable(missing.__cause__):
                continue
            yield Problem(path, f"cannot read its status: {describe(missing, name)}")
            continue
        except Exception as error:
            yield Problem(path, f"cannot read its status: {describe(error, name)}")
            continue
        mtime_ns, number = _identity(info)
        yield FileEntry(path, name, int(info.get("size") or 0), mtime_ns, 0, number)


def hash_remote(
    fs: Any, entry: FileEntry, algorithm: str, progress: Progress | None = None
) -> Hashed | Problem:
    """Stream one object in :data:`READ_BLOCK` ranged reads into the digest (one request
    per range, none to ask its size: the listing gave it); a :class:`Problem` when it
    cannot be read or its size is not the listed one (changed meanwhile)."""
    hasher = new_hasher(algorithm)
    seen = 0
    try:
        while True:
            end = seen + READ_BLOCK
            if entry.size <= READ_BLOCK and seen == 0:
                block = fs.cat_file(entry.source)  # small: the whole object in one request
            else:
                block = fs.cat_file(entry.source, start=seen, end=end) if seen < entry.size else b""
            if not block:
                break
            hasher.update(block)
            seen += len(block)
            if progress is not None:
                progress.add(len(block))
            if len(block) < READ_BLOCK and seen >= entry.size:
                break
    except Exception as error:  # the store libraries raise their own types
        return Problem(entry.path, f"cannot read it: {describe(error, entry.source)}")
    if seen != entry.size:
        return Problem(entry.path, "it changed while it was being hashed: run again")
    return Hashed(entry, hasher.hexdigest())


def copy_tag_files(fs: Any, root: str, url: str, into: str, signatures_dir: str) -> None:
    """Copy a remote bag's tag files (and its signatures, in ``signatures_dir``) into the
    local folder ``into``. Raises :class:`RemoteError` when the bag cannot be read."""
    import os

    try:
        # info(), not isfile(): isfile() answers False for a store it cannot reach.
        try:
            declaration = fs.info(f"{root}/bagit.txt")
        except FileNotFoundError as missing:
            if _unreachable(missing.__cause__):  # fsspec's HTTP store says "not found"
                raise
            declaration = None
        if declaration is None or declaration.get("type", "file") != "file":
            raise RemoteError(
                f"{url}: no bagit.txt, so not a bag; to check data in a store, verify the "
                "local bag `manifest create URL` wrote"
            )
        names = [
            name.rsplit("/", 1)[-1]
            for name in fs.ls(root, detail=False)
            if name.rsplit("/", 1)[-1].endswith(".txt")
        ]
        signatures = f"{root}/{signatures_dir}"
        sig_names = (
            [n.rsplit("/", 1)[-1] for n in fs.ls(signatures, detail=False)]
            if fs.isdir(signatures)
            else []
        )
        for name in names:
            with open(os.path.join(into, name), "wb") as out:
                out.write(fs.cat_file(f"{root}/{name}"))
        if sig_names:
            os.mkdir(os.path.join(into, signatures_dir))
            for name in sig_names:
                if name.endswith(".sig"):
                    with open(os.path.join(into, signatures_dir, name), "wb") as out:
                        out.write(fs.cat_file(f"{signatures}/{name}"))
    except RemoteError:
        raise
    except Exception as error:
        raise RemoteError(describe(error, url)) from None
