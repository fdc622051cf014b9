"""``keyring://SERVICE/USERNAME``: the OS keyring through the ``keyring`` library.

On a desktop that is the login keyring (Secret Service, macOS Keychain, Windows Credential
Locker). On a headless machine with no keyring service (a container, a CI job, a plain
server), the embedded default is keyrings.cryptfile: an encrypted file under the Jupyter
data dir, unlocked with ``$QSECURE_KEYRING_PASSWORD``. A server never prompts.
"""

from __future__ import annotations

import base64
import configparser
import hmac
import json
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import ProviderError
from ..refs import SecretRef
from .base import SecretProvider
from .reads import report_progress

PASSWORD_ENV = "QSECURE_KEYRING_PASSWORD"  # noqa: S105 - a variable name
FILE_ENV = "QSECURE_KEYRING_FILE"


def embedded_keyring_file() -> Path:
    """Where the embedded encrypted-file keyring lives."""
    if os.environ.get(FILE_ENV):
        return Path(os.environ[FILE_ENV])
    from jupyter_core.paths import jupyter_data_dir

    return Path(jupyter_data_dir()) / "qsecure" / "keyring.cfg"


#: Backends that are a desktop's own keyring service (the rest are files that prompt).
_SYSTEM_BACKENDS = (
    "keyring.backends.SecretService",
    "keyring.backends.libsecret",
    "keyring.backends.kwallet",
    "keyring.backends.macOS",
    "keyring.backends.Windows",
)


def _system_backend(backend: Any) -> Any:
    """The keyring service to use: the one configured explicitly (PYTHON_KEYRING_BACKEND,
    keyringrc.cfg), else the best desktop keyring keyring found, else ``None``."""
    from keyring.backends import chainer, fail

    if isinstance(backend, fail.Keyring) or type(backend).__module__ == "keyring.backends.null":
        return None
    if isinstance(backend, chainer.ChainerBackend):
        # keyring chains every viable backend, including plain-text and prompting files;
        # only a desktop service is acceptable without explicit configuration.
        return next(
            (b for b in backend.backends if type(b).__module__.startswith(_SYSTEM_BACKENDS)), None
        )
    return backend


#: Passwords refused, each for one state of one keyring file: (keyed digest of the
#: password, file, its inode, mtime and size) -> the error. Trying a password costs a key
#: derivation (0.4 to 1 s), so the same password is refused at once for the same file in
#: this process (by every provider: a policy reload makes new ones); a file that changed
#: is tried again. Only refusals are kept: a password is never taken as right unchecked.
_REFUSED: dict[tuple[bytes, str, tuple[int, int, int]], ProviderError] = {}
_REFUSED_LIMIT = 64
_REFUSED_LOCK = threading.Lock()
#: Keys the digests above: no plain hash of a password stays in memory.
_DIGEST_KEY = secrets.token_bytes(32)


def _refusal_key(password: str, path: str) -> tuple[bytes, str, tuple[int, int, int]] | None:
    """The key a refusal of ``password`` for the file at ``path``, as it is now, is kept
    under; None when the file cannot be looked at."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    digest = hmac.new(_DIGEST_KEY, password.encode("utf-8", "surrogatepass"), "sha256").digest()
    return digest, path, (info.st_ino, info.st_mtime_ns, info.st_size)


def derive_key(backend: Any, password: str, salt: bytes) -> bytes:
    """The AES key an ``[Argon2] AES128`` encrypted-file keyring derives from ``password``
    and an entry's salt (Argon2id with the backend's costs, 16 bytes): the one slow step."""
    from argon2 import low_level

    return bytes(
        low_level.hash_secret_raw(
            secret=password.encode(backend.password_encoding),
            salt=salt,
            time_cost=backend.time_cost,
            memory_cost=backend.memory_cost,
            parallelism=backend.parallelism,
            hash_len=16,
            type=low_level.Type.ID,
        )
    )


def _password_opens(backend: Any, password: str) -> bool | None:
    """Whether ``password`` opens the encrypted-file keyring ``backend`` (a
    ``CryptFileKeyring`` whose file exists), with one key derivation; None for a file this
    check does not know, which keyrings.cryptfile then checks itself.

    keyrings.cryptfile checks a password by decrypting the file's reference entry with
    its associated data, then, when that fails, without (files written before it used
    any): each try derives the key again, so a wrong password costs two Argon2
    derivations. Both tries use the same key (the entry's salt); here it is derived once."""
    from Crypto.Cipher import AES
    from keyrings.cryptfile.cryptfile import ArgonAESEncryption
    from keyrings.cryptfile.escape import escape

    if getattr(type(backend), "_create_cipher", None) is not ArgonAESEncryption._create_cipher:
        return None  # another cipher or key derivation: not ours to reproduce
    config = configparser.RawConfigParser()
    try:
        config.read(backend.file_path)
        backend._check_scheme(config)  # "[Argon2] AES128.<mode>"; sets the mode
        backend._check_version(config)  # the associated data depends on it
        stored = config.get(escape("keyring-setting"), escape("password reference"))
        payload = json.loads(base64.decodebytes(stored.encode()).decode())
        salt, nonce, data, mac = (
            base64.decodebytes(payload[field].encode())
            for field in ("salt", "nonce", "data", "mac")
        )
    except (configparser.Error, OSError, AttributeError, ValueError, KeyError, TypeError):
        return None  # binascii.Error, json's and the scheme's errors are ValueErrors
    key = derive_key(backend, password, salt)
    mode = backend._get_mode(backend.aesmode)
    for assoc in (backend._generate_assoc("keyring-setting", "password reference"), None):
        cipher = AES.new(key, mode, nonce)
        if assoc is not None:
            cipher.update(assoc)
        try:
            plain = cipher.decrypt_and_verify(data, mac)
        except ValueError:
            continue
        return bool(plain == b"password reference value")
    return False


def _unlock(backend: Any, password: str) -> None:
    """Unlock an encrypted-file keyring with ``password``: one key derivation to accept
    or refuse it, none for a password already refused for this file as it is. Raises
    :class:`ProviderError` (``locked``) naming the file and what to set."""
    path = str(backend.file_path)
    key = _refusal_key(password, path)
    with _REFUSED_LOCK:
        refused = _REFUSED.get(key) if key is not None else None
    if refused is not None:
        raise refused
    opens = _password_opens(backend, password) if key is not None else None
    try:
        if opens is None:
            backend.keyring_key = password  # keyrings.cryptfile checks (or creates the file)
        elif opens:
            backend._keyring_key = password  # checked above: no second derivation
        else:
            raise ValueError("Incorrect Password")
    except ValueError:
        error = ProviderError(
            "locked",
            f"wrong keyring password: ${PASSWORD_ENV} does not unlock {path}; set it to "
            "the password this keyring file was created with",
        )
        if key is not None:
            with _REFUSED_LOCK:
                if len(_REFUSED) >= _REFUSED_LIMIT:
                    _REFUSED.clear()
                _REFUSED[key] = error
        raise error from None


class KeyringFileMissing(ProviderError):
    """The encrypted-file keyring has no file yet (it is created by a write, never by a
    read or a check)."""

    def __init__(self, path: str) -> None:
        super().__init__("not-found", f"there is no keyring file at {path} yet")
        self.path = path


def open_keyring(*, create: bool = True) -> Any:
    """The keyring backend in use, unlocked; raises :class:`ProviderError` if there is none.
    Without ``create``, a missing encrypted keyring file raises :class:`KeyringFileMissing`
    instead of being created (unlocking a file keyring writes it)."""
    try:
        import keyring
        from keyrings.cryptfile.cryptfile import CryptFileKeyring
    except ImportError as error:  # pragma: no cover - both are dependencies
        raise ProviderError(
            "misconfigured", f"keyring support is not installed ({error.name})"
        ) from None
    backend = _system_backend(keyring.get_keyring())
    if backend is None or (isinstance(backend, CryptFileKeyring) and os.environ.get(FILE_ENV)):
        backend = CryptFileKeyring()
        path = embedded_keyring_file()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        backend.file_path = str(path)
    if (
        isinstance(backend, CryptFileKeyring)
        and not create
        and not Path(backend.file_path).exists()
    ):
        raise KeyringFileMissing(str(backend.file_path))
    if isinstance(backend, CryptFileKeyring) and backend._keyring_key is None:
        password = os.environ.get(PASSWORD_ENV)
        if not password:
            raise ProviderError(
                "locked",
                f"the encrypted-file keyring ({backend.file_path}) needs its password in ${PASSWORD_ENV}",
            )
        _unlock(backend, password)
    return backend


def describe_backend(backend: Any) -> str:
    """``keyrings.cryptfile.cryptfile.CryptFileKeyring (/path)`` and the like, for messages."""
    name = f"{type(backend).__module__}.{type(backend).__name__}"
    path = getattr(backend, "file_path", None)
    return f"{name} ({path})" if path else name


def _reads_concurrently(backend: Any) -> bool:
    """Whether reads of ``backend`` may run at once: keyrings.cryptfile's reads parse the
    file and decrypt one entry, changing nothing shared (only the file version, set to
    the same value each time); other backends are not known to be thread-safe."""
    from keyrings.cryptfile.cryptfile import CryptFileKeyring

    return type(backend) is CryptFileKeyring


class _ReadWriteLock:
    """Many readers at once, or one writer; a waiting writer goes before new readers."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._readers = 0
        self._writer: int | None = None  # the thread that holds the lock to write
        self._depth = 0
        self._writers_waiting = 0

    @contextmanager
    def shared(self) -> Iterator[None]:
        """Hold the lock with other readers."""
        with self._condition:
            while self._writer is not None or self._writers_waiting:
                self._condition.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._condition:
                self._readers -= 1
                self._condition.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the lock alone (reentrant in one thread: a write opens the backend)."""
        me = threading.get_ident()
        with self._condition:
            if self._writer != me:
                self._writers_waiting += 1
                while self._writer is not None or self._readers:
                    self._condition.wait()
                self._writers_waiting -= 1
                self._writer = me
            self._depth += 1
        try:
            yield
        finally:
            with self._condition:
                self._depth -= 1
                if not self._depth:
                    self._writer = None
                    self._condition.notify_all()


class KeyringProvider(SecretProvider):
    """Secrets in the keyring, under a service and a user name."""

    scheme = "keyring"
    writable = True
    #: keyrings.cryptfile derives each entry's key with Argon2 in 2 lanes, computed in 2
    #: threads: one read already keeps 2 CPUs busy. More reads at once than the CPUs can
    #: run finish no sooner (measured: the same time for 11 derivations, one or two at
    #: once on 2 cores) and each takes longer, delaying the first value a start waits for.
    threads_per_read = 2

    def __init__(self) -> None:
        self._backend: Any = None
        # One unlock. Reads of the encrypted-file keyring run together (each derives its
        # entry's key: the slow part, and it releases the GIL); writes, and every call to
        # another backend (not known to be thread-safe), run alone.
        self._lock = _ReadWriteLock()

    def backend(self, *, create: bool = True) -> Any:
        """The unlocked backend (opened on first use). A wrong password is found with one
        key derivation, once: later calls with the same password fail at once, with the
        same error, until the keyring file changes. Without ``create``, a missing keyring
        file is an error (:class:`KeyringFileMissing`)."""
        backend = self._backend
        if backend is not None:
            return backend
        with self._lock.exclusive():
            if self._backend is None:
                self._backend = open_keyring(create=create)
                report_progress()  # the unlock's derivation: the store is answering
            return self._backend

    def _call(self, ref: SecretRef, action: str, *args: str) -> Any:
        from keyring.errors import KeyringError, PasswordDeleteError

        service, username = ref.parts
        try:
            backend = self.backend(create=action == "set_password")
            lock = (
                self._lock.shared()
                if action == "get_password" and _reads_concurrently(backend)
                else self._lock.exclusive()
            )
            with lock:
                return getattr(backend, action)(service, username, *args)
        except KeyringFileMissing as error:
            raise ProviderError(
                "not-found",
                f"{ref}: not in the keyring ({error}); store it with "
                "`jupyter qsecure secrets set <secret name>`, which creates the file",
            ) from None
        except PasswordDeleteError:
            raise ProviderError("not-found", f"{ref}: not in the keyring") from None
        except KeyringError as error:
            raise ProviderError(
                "locked", f"{ref}: the keyring refused ({type(error).__name__})"
            ) from None
        except ValueError as error:  # cryptfile: wrong password, corrupt file
            raise ProviderError("locked", f"{ref}: the keyring cannot be read ({error})") from None

    def fetch(self, ref: SecretRef) -> str:
        value = self._call(ref, "get_password")
        if value is None:
            raise ProviderError(
                "not-found",
                f"{ref}: not in the keyring; store it with `jupyter qsecure secrets set <secret name>`",
            )
        return str(value)

    def store(self, ref: SecretRef, value: str) -> None:
        self._call(ref, "set_password", value)

    def delete(self, ref: SecretRef) -> None:
        self._call(ref, "delete_password")
