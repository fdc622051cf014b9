"""Signed checkpoints of the provenance store's chain: its size and head, anchored outside it.

A checkpoint is a signed note in the shape of C2SP's ``tlog-checkpoint``::

    <origin>
    <tree size: the number of records>
    <root hash: the chain head at that size, base64 of its 32 bytes>

    — <key name> <base64(key id (4 bytes) || SSHSIG blob)>

The signature is an SSHSIG (namespace :data:`NAMESPACE`, sha512) over the note's text up
to and including the line break after the root hash, so stock ``ssh-keygen -Y verify``
checks it (armor the blob after the key id). The key id is the first 4 bytes of
``sha256(key name || "\\n" || SSH public key blob)``.

The server signs with its own Ed25519 key, generated next to the store (mode 0600) when
absent, and appends every new checkpoint as one JSON line ``{"note": ...}`` to a file
beside the store (never inside it). :func:`check_chain` compares a store, read-only,
against checkpoints: a truncated store, and records deleted, reordered or rewritten with
every later hash recomputed, no longer give the signed head at the signed size.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .._files import read_bytes, read_text
from .._json import loads
from ..signing.sshsig import (
    BEGIN,
    END,
    SignatureError,
    openssh_public_key,
    public_key_from_openssh,
    signed_data,
    verify,
)
from .store import GENESIS, ProvenanceStore

#: The SSHSIG namespace of checkpoint signatures.
NAMESPACE = "provenance-checkpoint@jupyter-qsecure"
CHECKPOINT_NAMESPACE = NAMESPACE
_HASH = "sha512"
_DASH = "\u2014"
_KEY_TYPE = b"ssh-ed25519"


class CheckpointError(ValueError):
    """A checkpoint (or the checkpoint file, or key) that cannot be read or used."""


class BrokenChainError(CheckpointError):
    """No checkpoint was signed: the chain, or its checkpoints, are broken (``problems``
    says where)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("the provenance chain is broken: " + "; ".join(problems))


def _string(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def key_paths(store_path: Path) -> tuple[Path, Path]:
    """Where the server's checkpoint key and the checkpoint file of a store live."""
    folder = store_path.parent
    return folder / "provenance-checkpoint-key", store_path.with_suffix(".checkpoints")


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 private key at ``path`` (OpenSSH format); generated (mode 0600, its
    ``.pub`` beside it) when absent. Raises CheckpointError for an unusable file."""
    if not path.exists():
        key = Ed25519PrivateKey.generate()
        data = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return load_or_create_key(path)  # another server made it first
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        public = openssh_public_key(_public_blob(key))
        path.with_name(path.name + ".pub").write_text(
            f"{public} jupyter-qsecure-checkpoint\n", encoding="ascii"
        )
        return key
    try:
        mode = path.stat().st_mode & 0o777
    except OSError as error:
        raise CheckpointError(f"{path}: cannot be read ({error.strerror})") from None
    if mode & 0o077:
        raise CheckpointError(
            f"{path}: the checkpoint key is readable by others (mode {mode:o}); chmod 600 it"
        )
    try:
        loaded = serialization.load_ssh_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as error:
        raise CheckpointError(f"{path}: not a usable checkpoint key ({error})") from None
    if not isinstance(loaded, Ed25519PrivateKey):
        raise CheckpointError(f"{path}: the checkpoint key must be an Ed25519 key")
    return loaded


def _public_blob(key: Ed25519PrivateKey) -> bytes:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return _string(_KEY_TYPE) + _string(raw)


def _key_id(name: str, public_blob: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + public_blob).digest()[:4]


def sshsig_blob(message: bytes, key: Ed25519PrivateKey, namespace: str = NAMESPACE) -> bytes:
    """An SSHSIG blob (``PROTOCOL.sshsig``) over ``message``, made in-process."""
    signature = key.sign(signed_data(message, namespace, _HASH))
    return (
        b"SSHSIG"
        + (1).to_bytes(4, "big")
        + _string(_public_blob(key))
        + _string(namespace.encode())
        + _string(b"")
        + _string(_HASH.encode())
        + _string(_string(_KEY_TYPE) + _string(signature))
    )


def armor(blob: bytes) -> str:
    """The armored form of an SSHSIG blob, as ``ssh-keygen -Y sign`` writes it."""
    text = base64.b64encode(blob).decode("ascii")
    return "\n".join([BEGIN, *(text[i : i + 70] for i in range(0, len(text), 70)), END]) + "\n"


def default_origin(store_path: Path) -> str:
    """The checkpoint origin of a store: this host and the store's file name."""
    host = "".join(c if c.isalnum() or c in "-." else "-" for c in socket.gethostname()) or "host"
    return f"{host}/jupyter-qsecure/{store_path.stem}"


def _root_bytes(head: str) -> bytes:
    if not head.startswith("sha256:") or len(head) != 71:
        raise CheckpointError(f"not a chain hash: {head[:19]!r}")
    return bytes.fromhex(head[7:])


def sign_checkpoint(origin: str, size: int, head: str, key: Ed25519PrivateKey) -> str:
    """The signed note of a chain of ``size`` records whose head is ``head``."""
    body = f"{origin}\n{size}\n{base64.b64encode(_root_bytes(head)).decode()}\n"
    blob = sshsig_blob(body.encode(), key)
    signature = base64.b64encode(_key_id(origin, _public_blob(key)) + blob).decode()
    return f"{body}\n{_DASH} {origin} {signature}\n"


@dataclass(frozen=True)
class Checkpoint:
    """A parsed checkpoint: origin, size, head (``sha256:...``), its signed text, the
    armored SSHSIG of each signature line, and the signature lines' key names."""

    origin: str
    size: int
    head: str
    body: str
    signatures: tuple[tuple[str, str], ...]

    def verify(self, public_keys: list[bytes]) -> bytes:
        """The trusted key (one of ``public_keys``, SSH blobs) that signed it. Raises
        CheckpointError for a bad signature or a key that is not trusted."""
        for _name, armored in self.signatures:
            try:
                parsed = verify(self.body.encode(), armored, NAMESPACE)
            except SignatureError as error:
                raise CheckpointError(f"its signature does not verify ({error})") from None
            if parsed.public_key in public_keys:
                return parsed.public_key
            raise CheckpointError(f"signed by an unknown key ({parsed.fingerprint})")
        raise CheckpointError("it carries no signature")


def parse_checkpoint(note: object) -> Checkpoint:
    """Parse a signed note (signatures are checked by :meth:`Checkpoint.verify`)."""
    if not isinstance(note, str) or "\n\n" not in note:
        raise CheckpointError("not a signed note (no blank line before the signatures)")
    body, _, rest = note.partition("\n\n")
    body += "\n"
    lines = body.split("\n")
    # ASCII digits only, at most 18 (str.isdigit takes "²", which int() refuses, and int()
    # refuses more than 4,300 digits: either was a traceback of the command line).
    if len(lines) < 4 or not (lines[1].isascii() and lines[1].isdigit() and len(lines[1]) <= 18):
        raise CheckpointError("not a checkpoint (origin, size, root hash)")
    try:
        root = base64.b64decode(lines[2], validate=True)
    except ValueError:
        root = b""
    if len(root) != 32:
        raise CheckpointError("its root hash is not 32 bytes of base64")
    signatures = []
    for line in rest.splitlines():
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != _DASH:
            raise CheckpointError(f"not a signature line: {line[:40]!r}")
        try:
            raw = base64.b64decode(parts[2], validate=True)
        except ValueError:
            raise CheckpointError("a signature line is not base64") from None
        signatures.append((parts[1], armor(raw[4:])))
    return Checkpoint(lines[0], int(lines[1]), "sha256:" + root.hex(), body, tuple(signatures))


def read_checkpoints(path: Path) -> list[tuple[str, Checkpoint | CheckpointError]]:
    """The checkpoints of a checkpoint file, each labelled by its line ("the checkpoint at
    line 3", as :func:`check_chain` reports it; a damaged line is its error)."""
    found: list[tuple[str, Checkpoint | CheckpointError]] = []
    if not path.exists():
        return found
    try:
        text = read_text(path)
    except OSError as error:
        raise CheckpointError(f"{path}: cannot be read ({error.strerror or error})") from None
    except UnicodeDecodeError as error:
        raise CheckpointError(f"{path}: cannot be read (not UTF-8 text: {error.reason})") from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = loads(line)
            note = entry.get("note") if isinstance(entry, dict) else None
            checkpoint: Checkpoint | CheckpointError = parse_checkpoint(note)
        except ValueError as error:
            checkpoint = CheckpointError(str(error))
        found.append((f"the checkpoint at line {number}", checkpoint))
    return found


def read_public_key(path: Path) -> bytes:
    """An OpenSSH public key file's key blob."""
    try:
        return public_key_from_openssh(read_bytes(path).decode("ascii").strip())
    except OSError as error:
        raise CheckpointError(f"{path}: cannot be read ({error.strerror or error})") from None
    except ValueError as error:  # UnicodeDecodeError included
        raise CheckpointError(f"{path}: not an OpenSSH public key ({error})") from None


class Checkpointer:
    """Signs the store's chain and appends the checkpoint to the file beside the store."""

    def __init__(self, store: ProvenanceStore, key_path: Path | None = None) -> None:
        self.store = store
        default_key, self.path = key_paths(store.path)
        self.key_path = key_path or default_key
        self.origin = default_origin(store.path)
        self._key: Ed25519PrivateKey | None = None
        self._lock = threading.Lock()
        self._last: tuple[int, str] | None = None

    @property
    def public_key(self) -> bytes:
        """The SSH public key blob of the server's checkpoint key."""
        return _public_blob(self.signing_key())

    def signing_key(self) -> Ed25519PrivateKey:
        """The server's checkpoint key (loaded once; generated when absent)."""
        if self._key is None:
            self._key = load_or_create_key(self.key_path)
        return self._key

    def checkpoint(self) -> str:
        """Sign the chain as it is now; append the note to the file unless the last one
        appended has the same size and head; return the note."""
        size, head = self.store.size_and_head()
        with self._lock:
            if self._last is None:
                self._last = self._last_appended()
            note = sign_checkpoint(self.origin, size, head, self.signing_key())
            if self._last != (size, head) and size:
                line = json.dumps({"note": note}) + "\n"
                handle = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                try:
                    os.write(handle, line.encode("utf-8"))
                finally:
                    os.close(handle)
                self._last = (size, head)
        return note

    def verified_checkpoint(self) -> str:
        """:meth:`checkpoint`, once the whole chain and the checkpoints already in the file
        are checked: a checkpoint vouches for every record before it, so a broken chain
        gets none (:class:`BrokenChainError`). Reads every record: for a checkpoint on
        demand, not for each save."""
        problems = [str(problem) for problem in self.store.verify()]
        labelled = read_checkpoints(self.path)
        problems += [
            f"checkpoints: {text}"
            for text in check_chain(self.store, labelled, [self.public_key])[0]
        ]
        if problems:
            raise BrokenChainError(problems)
        return self.checkpoint()

    def _last_appended(self) -> tuple[int, str] | None:
        """The size and head of the file's last checkpoint (its tail read only)."""
        try:
            with self.path.open("rb") as handle:
                handle.seek(max(0, self.path.stat().st_size - 4096))
                tail = handle.read().decode("utf-8", "replace").splitlines()
            last = parse_checkpoint(json.loads(tail[-1])["note"]) if tail else None
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return (last.size, last.head) if last is not None else None


def check_chain(
    store: ProvenanceStore,
    checkpoints: list[tuple[str, Checkpoint | CheckpointError]],
    keys: list[bytes],
) -> tuple[list[str], int]:
    """Problems of ``store`` against signed checkpoints (each labelled, e.g. "checkpoint
    at line 3"), and the largest size a valid checkpoint anchors. Reads the store only."""
    problems: list[str] = []
    valid: list[tuple[str, Checkpoint]] = []
    for label, checkpoint in checkpoints:
        if isinstance(checkpoint, CheckpointError):
            problems.append(f"{label} is damaged: {checkpoint}")
            continue
        try:
            checkpoint.verify(keys)
        except CheckpointError as error:
            problems.append(f"{label} is forged: {error}")
            continue
        valid.append((label, checkpoint))
    total, heads = store.heads_at({c.size for _, c in valid})
    anchored = 0
    matched = 0  # the largest size whose head matches a checkpoint
    for label, checkpoint in sorted(valid, key=lambda item: item[1].size):
        if checkpoint.size > total:
            problems.append(
                f"the store was truncated: it holds {total} records, {label} (signed) says"
                f" {checkpoint.size}; records {total + 1} to {checkpoint.size} are missing"
                f" (or records after record {matched} were removed)"
            )
        elif heads.get(checkpoint.size, GENESIS) != checkpoint.head:
            problems.append(
                f"records were deleted, reordered or rewritten at or before record"
                f" {checkpoint.size} (after record {matched}): the chain's head at record"
                f" {checkpoint.size} is not the one {label} signed"
            )
        else:
            matched = checkpoint.size
        anchored = max(anchored, checkpoint.size)
    return problems, anchored


def verify_files(
    store: ProvenanceStore, checkpoint_file: Path, public_key_file: Path
) -> tuple[list[str], int, int]:
    """:func:`check_chain` for a checkpoint file and a trusted public key file: the
    problems, the number of checkpoints read and the size the latest valid one anchors."""
    keys = [read_public_key(public_key_file)] if public_key_file.exists() else []
    entries = read_checkpoints(checkpoint_file)
    problems, anchored = check_chain(store, entries, keys)
    if entries and not keys:
        problems.insert(0, f"{public_key_file}: no trusted checkpoint key to verify against")
    return problems, len(entries), anchored
