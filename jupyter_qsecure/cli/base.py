"""What every subcommand shares: the ``_Subcommand`` base class, usage errors (exit code 2)
and the helpers that read a notebook or build a service from the policy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jupyter_core.application import JupyterApp
from traitlets import TraitError
from traitlets.config.loader import ArgumentError

from .._version import __version__
from ..config import PolicyError, load_policy

USAGE_ERROR = 2


class UsageError(Exception):
    """Wrong arguments or unusable configuration: printed on one line, exit code 2."""


class _Subcommand(JupyterApp):
    """Common behaviour: no config file writing, usage errors as exit code 2."""

    version = __version__

    def initialize(self, argv: Any = None) -> None:
        try:
            super().initialize(argv)
        except (ArgumentError, TraitError) as error:
            raise UsageError(str(error)) from None

    def run(self) -> int:
        """Do the work and return the exit code."""
        raise NotImplementedError


def _read_notebook(path: Path) -> dict[str, Any]:
    """A notebook file as a dict, or a UsageError naming what is wrong with it."""
    from .fast import read_notebook

    return read_notebook(path, UsageError)


def _signing_service() -> Any:
    from ..signing.service import SigningService

    try:
        return SigningService(load_policy().signing)
    except PolicyError as error:
        raise UsageError(str(error)) from None
