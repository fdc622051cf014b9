"""``jupyter qsecure ARGS`` run in the test's own process, through ``cli.main(argv)``.

A subprocess costs a quarter of a second per call (a new interpreter importing Jupyter);
``main`` takes a few milliseconds. The result has the shape of ``subprocess.run``'s, so a
test reads ``returncode``, ``stdout`` and ``stderr`` either way. The entry points themselves
(``jupyter qsecure``, ``jupyter-qsecure``, ``python -m``) keep their subprocess smoke tests.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from traitlets.config import SingletonConfigurable

from jupyter_qsecure.cli import QSecureCLI, main


def _subcommand_classes(app: type[SingletonConfigurable]) -> Iterator[type[SingletonConfigurable]]:
    """Every application class reachable from ``app`` through its ``subcommands`` (a plain
    dict where a class declares some; the traitlets default elsewhere)."""
    subcommands = getattr(app, "subcommands", None)
    for entry in subcommands.values() if isinstance(subcommands, dict) else ():
        subapp = entry[0]
        if isinstance(subapp, type) and issubclass(subapp, SingletonConfigurable):
            yield subapp
            yield from _subcommand_classes(subapp)


@contextmanager
def _own_singletons() -> Iterator[None]:
    """The command's applications as in a process of their own: traitlets keeps one instance
    per application class (and its bases), which a server running in the test has taken;
    hide those while the command runs, and restore them after it."""
    apps: list[type[SingletonConfigurable]] = [QSecureCLI, *_subcommand_classes(QSecureCLI)]
    classes = {
        base for app in apps for base in app.__mro__ if issubclass(base, SingletonConfigurable)
    }
    saved = {cls: cls.__dict__["_instance"] for cls in classes if "_instance" in cls.__dict__}
    for cls in classes:
        cls._instance = None
    try:
        yield
    finally:
        for cls in classes:
            if cls in saved:
                cls._instance = saved[cls]
            elif "_instance" in cls.__dict__:
                del cls._instance


@contextmanager
def _environment(env: dict[str, str] | None, cwd: Path) -> Iterator[None]:
    """``os.environ`` updated with ``env`` and the working folder ``cwd``, restored after."""
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    os.environ.update(env or {})
    os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)


def _text_stream(data: io.BytesIO) -> io.TextIOWrapper:
    """A text stream over ``data``, with ``.buffer`` as the real ``sys.stdout`` has."""
    return io.TextIOWrapper(data, encoding="utf-8", newline="", write_through=True)


def run_qsecure(
    *args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """``jupyter qsecure ARGS`` in ``cwd`` with ``env`` added to the environment and
    ``stdin`` as its input: the exit code and everything it printed."""
    out, err = io.BytesIO(), io.BytesIO()
    replaced = [_text_stream(io.BytesIO(stdin.encode())), _text_stream(out), _text_stream(err)]
    streams = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = replaced
    try:
        with _environment(env, cwd), _own_singletons():
            code = main(list(args))
    finally:
        sys.stdin, sys.stdout, sys.stderr = streams
        for stream in replaced:
            stream.detach()  # a text stream closes its bytes when collected; keep them open
    printed = (data.getvalue().decode("utf-8", "replace") for data in (out, err))
    return subprocess.CompletedProcess(["jupyter", "qsecure", *args], code, *printed)
