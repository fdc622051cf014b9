"""Reading a file a user named, without waiting forever on something that is not one.

``open()`` on a named pipe (FIFO) waits until something opens it for writing, and
``read()`` on a terminal or ``/dev/zero`` waits for input or never ends: a command given
one where a notebook, a policy or a key file was expected hung with no word.
:func:`open_file` and :func:`read_bytes` read regular files, and pipes (a shell's
``<(git show HEAD:nb.ipynb)``, ``/dev/stdin`` from a pipe, a named pipe that gets a writer
within :data:`PIPE_WAIT` seconds), and refuse anything else with an :class:`OSError`
naming what it is. Standard library only (the fast command line imports this).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO

__all__ = [
    "PIPE_WAIT",
    "NotAFileError",
    "kind_of",
    "open_file",
    "read_bytes",
    "read_text",
    "replace_file",
]

#: Seconds a named pipe may take to get a writer.
PIPE_WAIT = 5.0


class NotAFileError(OSError):
    """A path that names a folder, a device or a socket where a file was expected."""


def kind_of(mode: int) -> str:
    """What a file of mode ``mode`` is, in words ("a folder", "a character device", ...)."""
    for test, name in (
        (stat.S_ISREG, "a file"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a file"


def open_file(path: Path | str) -> BinaryIO:
    """The regular file or pipe at ``path``, open for reading in binary (close it after).
    A pipe is opened without blocking, then waited on for a writer :data:`PIPE_WAIT`
    seconds at most (an ``OSError`` after that), and reads to its end. Raises
    :class:`NotAFileError` for a folder, a device or a socket, ``OSError`` as ``open()``
    does otherwise."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    descriptor = os.open(path, flags)
    try:
        mode = os.fstat(descriptor).st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
            code = errno.EISDIR if stat.S_ISDIR(mode) else errno.EINVAL
            raise NotAFileError(code, f"{kind_of(mode)}, not a file", str(path))
        if stat.S_ISFIFO(mode):
            _wait_for_a_writer(descriptor, path)
        if hasattr(os, "set_blocking"):
            os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def _wait_for_a_writer(descriptor: int, path: Path | str) -> None:
    """Wait up to :data:`PIPE_WAIT` seconds for something to write to (or close) the pipe
    open at ``descriptor``: a pipe of a shell (``<(...)``) has its writer already, a named
    pipe may get one a moment later; one that gets none is an error, not a wait forever."""
    try:
        import select

        poller = select.poll()
    except (ImportError, AttributeError):  # pragma: no cover - not on POSIX
        return
    poller.register(descriptor, select.POLLIN | select.POLLHUP)
    if not poller.poll(PIPE_WAIT * 1000):
        raise OSError(
            errno.ETIMEDOUT,
            f"a named pipe (FIFO) nothing wrote to within {PIPE_WAIT:g} s",
            str(path),
        )


def read_bytes(path: Path | str) -> bytes:
    """The content of the regular file or pipe at ``path`` (:func:`open_file`)."""
    with open_file(path) as stream:
        return stream.read()


def read_text(path: Path | str) -> str:
    """:func:`read_bytes` decoded as UTF-8 (``UnicodeDecodeError`` when it is not)."""
    return read_bytes(path).decode("utf-8")


def replace_file(path: Path | str, data: bytes) -> None:
    """Write ``data`` as the new content of the regular file at ``path`` (the file a link
    names, if it is one), whole or not at all: into a file beside it with its mode, then
    renamed over it. Writing in place truncated it first, so a write that failed half way
    (a full disk, text with no UTF-8 form) left the user's file empty. Raises
    :class:`NotAFileError` for something other than a regular file, ``OSError`` when it
    cannot be written (the file is then as it was)."""
    import contextlib  # here, as tempfile: reading (``verify``) needs neither
    import tempfile

    target = Path(os.path.realpath(path))
    mode = os.stat(target).st_mode
    if not stat.S_ISREG(mode):
        raise NotAFileError(errno.EINVAL, f"{kind_of(mode)}, not a file", str(path))
    descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, stat.S_IMODE(mode))
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
