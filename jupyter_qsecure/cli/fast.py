"""``jupyter qsecure verify`` and ``payload`` without Jupyter's application machinery.

A reviewer runs ``verify`` in loops and CI jobs, and pipes ``payload`` into ``ssh-keygen``:
their cost is mostly start-up. This module handles both with the standard library, the
signing capability and the ``[signing]`` table of the policy, and nothing else (no
traitlets, no jupyter_core application, no other capability). Anything it does not
recognise (another subcommand, ``--help``, an unknown option) returns None, and the full
command line (:mod:`jupyter_qsecure.cli.app`) handles it with the same options and the
same output.
"""

from __future__ import annotations

import gc
import json
import os
import sys
from pathlib import Path

from .._shown import shown_path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

USAGE_ERROR = 2
_VERIFY_OPTIONS = {
    "allowed-signers": "allowed_signers",
    "revoked-keys": "revoked_keys",
    "require": "require",
    "require-role": "require_role",
    "grant": "grant",
    "format": "format",
}
_PAYLOAD_OPTIONS = {"signature": "signature"}
_REPEATABLE = {"require_role", "grant"}


class _Usage(Exception):
    """A usage error: printed on one line, exit code 2."""


def fast_main(argv: list[str]) -> int | None:
    """Run ``verify`` or ``payload`` from ``argv`` (without the program name) and return
    the exit code; None when the full command line must handle ``argv``."""
    if not argv or argv[0] not in ("verify", "payload"):
        return None
    options = _parse(argv[1:], _VERIFY_OPTIONS if argv[0] == "verify" else _PAYLOAD_OPTIONS)
    if options is None:
        return None
    # Nothing this command builds needs the cyclic garbage collector (the notebook's JSON
    # and what is computed from it have no cycles, and are freed by reference counting),
    # but the collector would run again and again while the signing modules load and the
    # notebook is parsed, each time walking everything loaded so far.
    collecting = gc.isenabled()
    gc.disable()
    try:
        code = verify_command(options) if argv[0] == "verify" else payload_command(options)
        sys.stdout.flush()
        return code
    except _Usage as error:
        print(f"jupyter qsecure: error: {error}", file=sys.stderr)
        return USAGE_ERROR
    except OSError as error:
        if error.filename is None:  # not about a path the user gave (standard output's own)
            raise
        print(f"jupyter qsecure: error: {path_error(error)}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        return 130
    finally:
        if collecting:
            gc.enable()


def path_error(error: OSError) -> str:
    """An ``OSError`` about a path a command was given, in one line naming the path and the
    reason: what a file or folder option met that its own check did not expect (a name
    too long for the file system, a folder on the way that may not be entered), never a
    traceback."""
    name = error.filename
    path = shown_path(name if isinstance(name, (str, bytes)) else str(name))
    return f"{path}: cannot use it ({error.strerror or error})"


def exit_now(code: int) -> NoReturn:
    """End the process with ``code`` once standard output and error are flushed, skipping
    the interpreter's teardown.

    Teardown frees the parsed notebook object by object, clears every module and runs a
    last garbage collection: about 9 ms of a verification of a 1 MB notebook from the
    shell (``bench/README.md``). This path registers no exit handler, starts no thread and
    writes no file but the standard streams, so flushing those is all teardown would do
    for it. If a flush fails (a closed pipe), the normal exit runs and reports it as
    Python does.
    """
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        sys.exit(code)
    os._exit(code)


def _parse(args: list[str], known: dict[str, str]) -> dict[str, Any] | None:
    """traitlets-style ``--name VALUE`` / ``--name=VALUE`` options and positional
    arguments; None for anything else (the full command line explains it)."""
    options: dict[str, Any] = {"args": []}
    index = 0
    while index < len(args):
        arg = args[index]
        if not arg.startswith("-") or arg == "-":
            options["args"].append(arg)
            index += 1
            continue
        name, sep, value = arg.lstrip("-").partition("=")
        key = known.get(name)
        if key is None or not arg.startswith("--"):
            return None
        if not sep:
            if index + 1 >= len(args):
                return None
            value = args[index + 1]
            index += 1
        index += 1
        if key in _REPEATABLE:
            options.setdefault(key, []).append(value)
        else:
            options[key] = value
    return options


def _integer(options: dict[str, Any], key: str, default: int) -> int:
    if key not in options:
        return default
    try:
        return int(options[key])
    except ValueError:
        raise _Usage(
            f"--{key.replace('_', '-')} expects a whole number, not {options[key]!r}"
        ) from None


def read_json(path: Path, usage: type[Exception], what: str, *, unique_keys: bool = False) -> Any:
    """The JSON document in the file at ``path``; ``usage`` naming the file and what is
    wrong when it is not ``what`` (e.g. "a notebook"). A folder, a device or a pipe
    nothing writes to, text that is not UTF-8, an empty file, JSON nested too deeply or
    with a number too long to read (or, with ``unique_keys``, a key repeated in one
    object): each one line, never a traceback (nor a wait)."""
    from .._files import read_bytes
    from .._json import loads

    try:
        data = read_bytes(path)
    except OSError as error:
        raise usage(f"{shown_path(path)}: cannot read ({error.strerror or error})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise usage(
            f"{shown_path(path)}: not {what}: not UTF-8 text ({error.reason} at byte {error.start})"
        ) from None
    if not text.strip():
        raise usage(f"{shown_path(path)}: not {what}: the file is empty")
    try:
        return loads(text, unique_keys=unique_keys)
    except ValueError as error:
        raise usage(f"{shown_path(path)}: not {what}: {error}") from None


def read_notebook(
    path: Path, usage: type[Exception] = _Usage, *, unique_keys: bool = False
) -> dict[str, Any]:
    """A notebook file as a dict; ``usage`` (naming the file and what is wrong with it)
    when it cannot be read (:func:`read_json`) or is not an nbformat 4 notebook. The one
    reader of every command that takes a notebook. ``unique_keys`` for what verifies or
    prints what is signed: with a key repeated, what was signed depends on the reader."""
    notebook = read_json(path, usage, "a notebook", unique_keys=unique_keys)
    if (
        not isinstance(notebook, dict)
        or notebook.get("nbformat") != 4
        or not isinstance(notebook.get("cells"), list)
    ):
        raise usage(f"{shown_path(path)}: not an nbformat 4 notebook")
    return notebook


def _policy_signing() -> Any:
    """The ``[signing]`` settings of the policy in force, from the same trusted file as
    :func:`jupyter_qsecure.config.load_policy` (which also validates the other sections)."""
    from .._validate import PolicyError
    from ..policy_files import find_policy, parse_toml
    from ..signing.policy import SigningSettings, parse_signing_policy

    try:
        found = find_policy()
        if found is None:
            return SigningSettings()
        path, text = found
        data = parse_toml(text, str(path))
        if "signing" not in data:
            return SigningSettings()
        return parse_signing_policy(str(path), path.parent, data["signing"])
    except PolicyError as error:
        raise _Usage(str(error)) from None


def payload_command(options: dict[str, Any]) -> int:
    """``payload NOTEBOOK [--signature N]``: the canonical payload, or signature N's
    signed statement, on standard output."""
    from ..signing.canonical import CanonicalFormError, notebook_payload
    from ..signing.signatures import signatures_of, signed_bytes

    if len(options["args"]) != 1:
        raise _Usage("name one notebook: jupyter qsecure payload NOTEBOOK [--signature N]")
    path = Path(options["args"][0])
    notebook = read_notebook(path, unique_keys=True)
    index = _integer(options, "signature", -1)
    try:
        if index < 0:
            data = notebook_payload(notebook)
        else:
            entries = signatures_of(notebook)
            if index >= len(entries):
                raise _Usage(
                    f"{shown_path(path)} has {len(entries)} signature(s); --signature must be "
                    f"0..{max(len(entries) - 1, 0)}"
                )
            data = signed_bytes(notebook, entries[index])
    except (CanonicalFormError, ValueError) as error:
        raise _Usage(f"{shown_path(path)}: {error}") from None
    sys.stdout.flush()
    _write_all(sys.stdout.buffer, data)
    return 0


def _write_all(out: Any, data: bytes) -> None:
    """Write all of ``data``: unbuffered (``python -u``, PYTHONUNBUFFERED), standard output
    is the raw file, whose ``write`` may write only a part (a reader that went away in the
    middle): the rest is written, or the error raised."""
    view = memoryview(data)
    while view:
        written = out.write(view)
        if not written:
            raise OSError(f"the output took {written!r} of {len(view)} bytes")
        view = view[written:]
    out.flush()


def verify_command(options: dict[str, Any]) -> int:
    """``verify NOTEBOOK... [options]``, as :class:`jupyter_qsecure.cli.signing.VerifyApp`
    documents it."""
    from ..signing.service import SigningService

    if options.get("format", "text") not in ("text", "json"):
        raise _Usage(f"--format must be text or json, not {options['format']!r}")
    settings = _policy_signing()
    service = SigningService(settings)
    return run_verify(
        service,
        [Path(arg) for arg in options["args"]],
        allowed_signers=options.get("allowed_signers", ""),
        revoked_keys=options.get("revoked_keys", ""),
        require=_integer(options, "require", -1),
        require_roles=list(options.get("require_role", [])),
        grants=list(options.get("grant", [])),
        output=options.get("format", "text"),
        read=lambda path: read_notebook(path, unique_keys=True),
        usage=_Usage,
    )


def run_verify(
    service: Any,
    paths: list[Path],
    *,
    allowed_signers: str,
    revoked_keys: str,
    require: int,
    require_roles: list[str],
    grants: list[str],
    output: str,
    read: Any,
    usage: type[Exception],
) -> int:
    """Verify ``paths`` under ``service``'s policy with the command line's overrides;
    print the report; return the exit code (0 every notebook meets the policy, 1 not).
    Bad input raises ``usage``. Shared by the fast path and the full command line."""
    from ..signing.allowed_signers import AllowedSignersError
    from ..signing.canonical import CanonicalFormError
    from ..signing.policy import parse_grants
    from ..signing.signatures import NO_ALLOWED_SIGNERS, ROLES

    if not paths:
        raise usage("name at least one notebook: jupyter qsecure verify NOTEBOOK...")
    for role in require_roles:
        if role not in ROLES:
            raise usage(f"--require-role {role!r}: roles are {', '.join(ROLES)}")
    try:
        granted = parse_grants(grants) if grants else None
    except ValueError as error:
        raise usage(str(error)) from None
    service = service.with_overrides(
        allowed_signers=Path(allowed_signers) if allowed_signers else None,
        revoked_keys=Path(revoked_keys) if revoked_keys else None,
        require=require if require >= 0 else None,
        require_roles=tuple(require_roles) or None,
        grants=granted,
    )
    if service.settings.allowed_signers is None:
        print(f"jupyter qsecure: {NO_ALLOWED_SIGNERS}", file=sys.stderr)
    reports = []
    code = 0
    for number, path in enumerate(paths):
        notebook = read(path)
        warnings: list[str] = []
        try:
            verdict = service.verify(notebook, warnings)
        except AllowedSignersError as error:
            raise usage(str(error)) from None
        except CanonicalFormError as error:
            raise usage(f"{shown_path(path)}: {error}") from None
        if number == 0:
            for warning in warnings:
                print(f"jupyter qsecure: warning: {warning}", file=sys.stderr)
        code = max(code, 0 if verdict.meets_policy else 1)
        reports.append({"notebook": str(path), **verdict.to_json()})
        if output == "text":
            print_verdict(path, verdict)
    if output == "json":
        print(json.dumps(reports, indent=2))
    return code


def print_verdict(path: Path, verdict: Any) -> None:
    """The text report of one notebook."""
    meets = "meets the policy" if verdict.meets_policy else "does NOT meet the policy"
    print(f"{shown_path(path)}: {verdict.status}; {verdict.policy_message}; {meets}")
    for result in verdict.results:
        state = "valid" if result.valid else "INVALID"
        trusted = "trusted" if result.trusted else "not trusted"
        reason = f" - {result.reason}" if result.reason else ""
        print(
            f"  [{result.index}] {result.principal} ({result.role}) {result.signed_at} "
            f"{result.fingerprint}: {state}, {trusted}{reason}"
        )
        if result.changed_cells:
            print(f"      cells changed since signing: {', '.join(result.changed_cells)}")
