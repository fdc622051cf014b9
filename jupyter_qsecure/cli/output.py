"""Standard output that cannot be written: a clear ending, never a traceback.

A reader that went away (``jupyter qsecure rules | head -1``) or a full disk
(``jupyter qsecure payload NB > /full/disk/file``) makes the next write to standard
output fail. :func:`run_with_output_guarded` tells those failures from any other
``OSError`` by raising them from standard output itself, and ends the program as a
command-line tool should: quietly with exit code 1 for a closed pipe (there is no one to
tell), with one line naming the problem and exit code 2 for anything else.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from .fast import USAGE_ERROR

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["OutputError", "run_with_output_guarded"]


class OutputError(OSError):
    """Writing to standard output failed (its ``__cause__`` says how)."""


class _Guarded:
    """A stream (standard output, or its binary buffer) whose write errors are
    :class:`OutputError`; everything else is the stream's own."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, data: Any) -> Any:
        try:
            return self._stream.write(data)
        except OSError as error:
            raise OutputError(error.errno, error.strerror) from error

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as error:
            raise OutputError(error.errno, error.strerror) from error

    @property
    def buffer(self) -> _Guarded:
        return _Guarded(self._stream.buffer)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def run_with_output_guarded(run: Callable[[], int]) -> int:
    """``run()``'s exit code, its output flushed; 1 when the reader of standard output
    went away, 2 (with a line on standard error) when it could not be written."""
    stdout = sys.stdout
    sys.stdout = _Guarded(stdout)
    try:
        code = run()
        sys.stdout.flush()
        return code
    except OutputError as error:
        _discard(stdout)
        if isinstance(error.__cause__, BrokenPipeError):
            return 1
        print(
            f"jupyter qsecure: error: cannot write the output: {error.strerror or error}",
            file=sys.stderr,
        )
        return USAGE_ERROR
    finally:
        sys.stdout = stdout


def _discard(stdout: Any) -> None:
    """Point standard output at the null device, so that what is still buffered does not
    fail again when the process ends (Python's advice for a closed pipe)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
