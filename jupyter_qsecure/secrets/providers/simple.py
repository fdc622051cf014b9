"""Providers that read the server's environment and mounted secret files."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ProviderError
from ..refs import SecretRef
from .base import SecretProvider

#: A mounted secret larger than this is not a token; refuse rather than inject it.
MAX_FILE_SECRET = 64 * 1024


class EnvProvider(SecretProvider):
    """``env://NAME``: a variable of the Jupyter server's own environment."""

    scheme = "env"

    def fetch(self, ref: SecretRef) -> str:
        value = os.environ.get(ref.location)
        if value is None:
            raise ProviderError(
                "not-found", f"{ref}: the server's environment has no {ref.location}"
            )
        return value


class FileProvider(SecretProvider):
    """``file:///run/secrets/NAME``: a file mounted by Kubernetes or Docker (one trailing
    newline is dropped, as ``echo`` writes it)."""

    scheme = "file"

    def fetch(self, ref: SecretRef) -> str:
        path = Path(ref.location)
        try:
            size = path.stat().st_size
            if size > MAX_FILE_SECRET:
                raise ProviderError(
                    "misconfigured", f"{ref}: {size:,} bytes is too large for a secret"
                )
            value = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ProviderError(
                "not-found", f"{ref}: no such file; is the secret mounted?"
            ) from None
        except PermissionError:
            raise ProviderError("denied", f"{ref}: the server may not read this file") from None
        except (OSError, UnicodeDecodeError) as error:
            raise ProviderError(
                "unreachable", f"{ref}: cannot read ({type(error).__name__})"
            ) from None
        return value[:-1] if value.endswith("\n") else value
