"""``keyring://SERVICE/USERNAME``: the OS keyring through the ``keyring`` library.

On a desktop that is the login keyring (Secret Service, macOS Keychain, Windows Credential
Locker). On a headless machine with no keyring service (a container, a CI job, a plain
server), the embedded default is keyrings.cryptfile: an encrypted file under the Jupyter
data dir, unlocked with ``$QSECURE_KEYRING_PASSWORD``. A server never prompts.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any

from ..errors import ProviderError
from ..refs import SecretRef
from .base import SecretProvider

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
        try:
            backend.keyring_key = password
        except ValueError:
            raise ProviderError(
                "locked",
                f"wrong keyring password: ${PASSWORD_ENV} does not unlock {backend.file_path}",
            ) from None
    return backend


def describe_backend(backend: Any) -> str:
    """``keyrings.cryptfile.cryptfile.CryptFileKeyring (/path)`` and the like, for messages."""
    name = f"{type(backend).__module__}.{type(backend).__name__}"
    path = getattr(backend, "file_path", None)
    return f"{name} ({path})" if path else name


class KeyringProvider(SecretProvider):
    """Secrets in the keyring, under a service and a user name."""

    scheme = "keyring"
    writable = True

    def __init__(self) -> None:
        self._backend: Any = None
        # One unlock, one call at a time: file keyrings are not thread-safe, and parallel
        # key derivations would only compete for the same cores.
        self._lock = threading.RLock()
        #: A refused unlock, and a digest of the password it was refused with: the same
        #: password is refused at once after that (each try costs a key derivation).
        self._refused: tuple[str, ProviderError] | None = None

    def backend(self, *, create: bool = True) -> Any:
        """The unlocked backend (opened on first use). A wrong password is found once:
        later calls with the same password fail at once, with the same error. Without
        ``create``, a missing keyring file is an error (:class:`KeyringFileMissing`)."""
        with self._lock:
            if self._backend is None:
                digest = hashlib.sha256(os.environ.get(PASSWORD_ENV, "").encode()).hexdigest()
                if self._refused is not None and self._refused[0] == digest:
                    raise self._refused[1]
                try:
                    self._backend = open_keyring(create=create)
                except ProviderError as error:
                    if error.reason == "locked":
                        self._refused = (digest, error)
                    raise
            return self._backend

    def _call(self, ref: SecretRef, action: str, *args: str) -> Any:
        from keyring.errors import KeyringError, PasswordDeleteError

        service, username = ref.parts
        try:
            with self._lock:
                backend = self.backend(create=action == "set_password")
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
