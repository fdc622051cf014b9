"""What every subcommand shares: the ``_Subcommand`` base class, usage errors (exit code 2)
and the helpers that read a notebook or build a service from the policy."""

from __future__ import annotations

import logging
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
        if "" in self.extra_args:
            # Path("") is the current folder: `scan "$NB"` with NB unset would scan it all.
            raise UsageError(
                "an empty argument ('') names no file or folder; check the variable "
                "that should have given it a value"
            )

    def get_default_logging_config(self) -> dict[str, Any]:
        """traitlets' logging to standard error, each record on one line below ``--debug``:
        a library that logs an exception with its traceback (jupyter_client when a kernel
        cannot start) shows the exception's one line; the command then says what to fix."""
        config: dict[str, Any] = super().get_default_logging_config()
        console = config.get("handlers", {}).get("console")
        if console is not None and _level(self.log_level) > logging.DEBUG:
            config.setdefault("filters", {})["one_line"] = {"()": _OneLine}
            console["filters"] = [*console.get("filters", []), "one_line"]
        return config

    def run(self) -> int:
        """Do the work and return the exit code."""
        raise NotImplementedError


def _level(level: object) -> int:
    """A log level as a number (traitlets holds a name until it converts it)."""
    if isinstance(level, int):
        return level
    number = logging.getLevelName(str(level))
    return number if isinstance(number, int) else logging.WARNING


class _OneLine(logging.Filter):
    """Keeps a record's exception as its type and message, without the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            summary = f"{type(error).__name__}: {error}".splitlines()[0] if str(error) else ""
            message = record.getMessage()
            if summary and summary.split(": ", 1)[-1] not in message:
                message = f"{message} ({summary})"
            record.msg, record.args = message, ()
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


def _read_notebook(path: Path, *, unique_keys: bool = False) -> dict[str, Any]:
    """A notebook file as a dict, or a UsageError naming what is wrong with it (see
    :func:`.fast.read_notebook` for ``unique_keys``)."""
    from .fast import read_notebook

    return read_notebook(path, UsageError, unique_keys=unique_keys)


def write_output(target: str, text: str, option: str, *, source: Path | None = None) -> None:
    """Write ``text`` as UTF-8 to the file ``target`` that ``option`` (``--output``) named,
    or raise a UsageError naming both and what is wrong (a folder, a missing folder on
    the way, a full disk, a name too long, the ``source`` notebook the command read). The
    text is encoded before the file is opened, so text with no UTF-8 form leaves a file
    there as it was."""
    _not_the_source(target, option, source)
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise UsageError(f"{option} {target}: nothing written: {error.reason}") from None
    try:
        with open(target, "wb") as stream:
            stream.write(data)
    except OSError as error:
        raise UsageError(f"{option} {target}: cannot write ({error.strerror or error})") from None


def check_output(target: str, option: str, *, source: Path | None = None) -> None:
    """A UsageError now, before long work, when ``target`` cannot be where
    :func:`write_output` writes: a folder, in a folder that does not exist, or the
    ``source`` notebook itself."""
    import os

    _not_the_source(target, option, source)
    folder = os.path.dirname(target) or "."
    if os.path.isdir(target) or not os.path.isdir(folder):
        what = "is a folder" if os.path.isdir(target) else f"{folder} is not a folder"
        raise UsageError(f"{option} {target}: cannot write there ({what})")


def _not_the_source(target: str, option: str, source: Path | None) -> None:
    """A UsageError when ``target`` is the file ``source`` (by any name: a link, ``./``):
    `attest nb.ipynb -o nb.ipynb` replaced the notebook with its attestation."""
    import os

    if source is None:
        return
    try:
        same = os.path.samefile(target, source)
    except OSError:
        return  # no file there yet (or none to compare): nothing to lose
    if same:
        raise UsageError(
            f"{option} {target} is the notebook this command reads; nothing written: "
            "name another file"
        )


def _signing_service() -> Any:
    from ..signing.service import SigningService

    try:
        return SigningService(load_policy().signing)
    except PolicyError as error:
        raise UsageError(str(error)) from None
