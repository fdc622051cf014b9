"""The kernel side of jupyter-qsecure, an IPython extension the provisioner loads in every
Python kernel (or ``%load_ext jupyter_qsecure`` by hand).

It masks injected secrets in everything the kernel sends, and offers ``%qsecure refresh``
and :func:`refresh` to re-read rotated secrets through the server. Stdlib only: this runs
in every kernel.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from typing import Any

from .secrets.masking import Masker, mask_fd_echo, mask_logging, mask_session

MASKER = Masker()
_installed = False
#: Whether every message this kernel sends is masked (its session's sender wrapped): a
#: kernel given secrets without it has them taken away at start (``secrets/startup.py``).
MASKING = False
RECORDER: Any = None
#: The environment variables that carry the refresh capability: read once when the
#: extension loads, then removed from the environment (notebook code, subprocesses).
CAPABILITY_ENV, SERVER_URL_ENV, KERNEL_ID_ENV = (
    "QSECURE_KERNEL_CAPABILITY",
    "QSECURE_SERVER_URL",
    "QSECURE_KERNEL_ID",
)
_connection: dict[str, str] = {}


def _take_connection() -> None:
    """Move the refresh capability and the server's URL out of the environment."""
    for key in (CAPABILITY_ENV, SERVER_URL_ENV):
        value = os.environ.pop(key, None)
        if value:
            _connection[key] = value
    if CAPABILITY_ENV in _connection:
        MASKER.update({CAPABILITY_ENV: _connection[CAPABILITY_ENV]})


def injected_secrets() -> dict[str, str]:
    """The secrets the provisioner injected into this kernel, by name."""
    names = [name for name in os.environ.get("QSECURE_SECRET_NAMES", "").split(",") if name]
    return {name: os.environ[name] for name in names if name in os.environ}


class RefreshError(RuntimeError):
    """A refresh the server refused or could not be asked for; the message says why."""


def refresh(*names: str) -> list[str]:
    """Re-read this kernel's secrets (all, or the named ones) from their stores through the
    server, and update ``os.environ``. Returns the names refreshed."""
    url = _connection.get(SERVER_URL_ENV)
    capability = _connection.get(CAPABILITY_ENV)
    if not url or not capability:
        raise RefreshError(
            "refresh needs a kernel started by a Jupyter server with jupyter-qsecure"
        )
    request = urllib.request.Request(  # noqa: S310 - the URL is our own server, http(s)
        url.rstrip("/") + "/qsecure/kernel/refresh",
        data=json.dumps({"names": list(names)}).encode(),
        headers={
            "Authorization": f"qsecure-capability {capability}",
            "X-QSecure-Kernel-Id": os.environ.get(KERNEL_ID_ENV, ""),
            "Content-Type": "application/json",
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - our own server
            body = json.loads(response.read())
    except urllib.error.HTTPError as error:
        try:
            message = json.loads(error.read()).get("message", error.reason)
        except ValueError:
            message = error.reason
        raise RefreshError(f"the server refused the refresh: {message}") from None
    except (urllib.error.URLError, OSError) as error:
        raise RefreshError(f"cannot reach the Jupyter server ({error})") from None
    values: dict[str, str] = body.get("values", {})
    MASKER.update(values)
    os.environ.update(values)
    problems = body.get("problems", {})
    if problems:
        print("jupyter-qsecure: not refreshed: " + "; ".join(problems.values()), file=sys.stderr)
    return sorted(values)


def note(**fields: Any) -> None:
    """Add fields to the running cell's provenance record, e.g. a calibration file's hash."""
    if RECORDER is None:
        raise RuntimeError("provenance is not recorded in this kernel (%load_ext jupyter_qsecure)")
    RECORDER.note(fields)


def use_dataset(where: str | os.PathLike[str]) -> Any:
    """Declare the dataset a notebook reads: a bag, a folder with its manifest beside it
    (``DIR.bag``), a bag's ``data`` folder, or the URL of a bag in an object store. Files
    the cells read whose digest the manifest lists are linked to it in their provenance
    records (dataset, manifest digest, signers, position). Returns the dataset."""
    if RECORDER is None:
        raise RuntimeError("provenance is not recorded in this kernel (%load_ext jupyter_qsecure)")
    return RECORDER.datasets.declare(os.fspath(where))


def _magic(line: str) -> None:
    """%qsecure refresh [NAME ...] | %qsecure status"""
    words = line.split()
    if words[:1] == ["refresh"]:
        refreshed = refresh(*words[1:])
        print("refreshed: " + (", ".join(refreshed) or "nothing"))
    elif words[:1] in (["status"], []):
        names = sorted(injected_secrets())
        print("secrets in this kernel: " + (", ".join(names) or "none"))
        problem = os.environ.get("QSECURE_SECRET_PROBLEMS")
        if problem:
            print("not injected: " + problem)
    else:
        print("usage: %qsecure refresh [NAME ...] | %qsecure status", file=sys.stderr)


def load_ipython_extension(ipython: Any) -> None:
    """Install masking (once per kernel) and the ``%qsecure`` magic."""
    global _installed, RECORDER, MASKING
    if _installed:
        return
    _installed = True
    _take_connection()
    MASKER.update(injected_secrets())
    kernel = getattr(ipython, "kernel", None)
    session = getattr(kernel, "session", None)
    mask_logging(MASKER)
    if MASKER:
        for stream, fd in ((sys.stdout, 1), (sys.stderr, 2)):
            mask_fd_echo(stream, fd, MASKER)
    try:
        if os.environ.get("QSECURE_PROVENANCE", "1") != "0":
            try:
                from .provenance.kernel import install

                RECORDER = install(ipython, MASKER, session)
            except Exception as error:  # provenance must never cost the kernel its masking
                print(
                    f"jupyter-qsecure: provenance not recorded ({type(error).__name__}: {error})",
                    file=sys.stderr,
                )
    finally:
        # Masking whatever happened above, and outermost: the recorder then sees the
        # messages as they are sent (streams joined and masked).
        if session is not None:
            mask_session(session, MASKER)
            MASKING = True
    ipython.register_magic_function(_magic, magic_kind="line", magic_name="qsecure")
    if os.environ.get("QSECURE_SECRET_PROBLEMS"):
        _tell_once_in_a_cell(ipython)


def _tell_once_in_a_cell(ipython: Any) -> None:
    """Say in the first cell's output which secrets are missing and why (the kernel's own
    log is not where a researcher looks)."""

    def notice(*_: Any) -> None:
        ipython.events.unregister("pre_run_cell", notice)
        problem = os.environ.get("QSECURE_SECRET_PROBLEMS", "")
        print(f"jupyter-qsecure: started without some secrets: {problem}", file=sys.stderr)

    ipython.events.register("pre_run_cell", notice)
