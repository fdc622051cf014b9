"""The one canonical form of a notebook and of its outputs.

Signatures sign :func:`notebook_payload`; provenance records :func:`outputs_digest` and
:func:`source_digest`. Both use the functions below, so "the outputs this execution
produced" (hashed in the kernel) and "the outputs that were signed" (hashed from the saved
notebook) are compared byte for byte. ``docs/signing.md`` ("Canonical form") specifies
every rule precisely enough for an independent implementation.

This module is imported inside every kernel: it may import only the standard library and
``rfc8785`` (pure Python, and only for values the standard library's JSON does not write
as RFC 8785 does). No nbformat, no jupyter_server.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "CANONICAL_FORM",
    "CANONICAL_FORMS",
    "LEGACY_CANONICAL_FORM",
    "CanonicalFormError",
    "canonical_json",
    "canonical_output",
    "canonical_outputs",
    "cell_digest",
    "cell_digests",
    "cell_view",
    "normalize_text",
    "notebook_digest",
    "notebook_payload",
    "outputs_digest",
    "payload_and_cell_digests",
    "signed_view",
    "source_digest",
]

#: Names this version of the canonical form. Any change to the rules below that changes
#: a payload for some notebook must come with a new name, so signatures can record it.
CANONICAL_FORM = "jupyter-qsecure-canonical-v2"
#: The first form: all notebook metadata signed (only legacy signatures use it).
LEGACY_CANONICAL_FORM = "jupyter-qsecure-canonical-v1"
#: Every form this module computes.
CANONICAL_FORMS = (CANONICAL_FORM, LEGACY_CANONICAL_FORM)

_DIGEST_PREFIX = "sha256:"
#: Integers JSON numbers (IEEE 754 doubles) hold exactly: -(2**53 - 1) ... 2**53 - 1.
_SAFE_INTEGER = 2**53 - 1
_CELL_TYPES = ("code", "markdown", "raw")
#: Cell metadata that is UI state only (not signed).
_UI_CELL_KEYS = ("collapsed", "scrolled")
_UI_JUPYTER_KEYS = ("source_hidden", "outputs_hidden")
#: Keys nbformat strips on every read and write (``strip_transient``): never in a file.
_TRANSIENT_NOTEBOOK_KEYS = ("signature", "orig_nbformat", "orig_nbformat_minor")
_TRANSIENT_CELL_KEYS = ("trusted",)
#: Of ``language_info`` and ``kernelspec``, what says which language and kernel the
#: notebook is for; the rest is rewritten by every kernel start (a patch version, a
#: display name) and is not signed (form v2).
_STABLE_LANGUAGE_INFO = ("name",)
_STABLE_KERNELSPEC = ("name", "language")
#: Of ``qsecure.provenance``, what changes only when a cell runs (form v2); chain heads,
#: sessions, environments and checkpoints change when a kernel starts or a save happens.
_STABLE_PROVENANCE = ("timeline",)
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_TERMINAL_CONTROL = re.compile("([\n\b\r])")
#: Sorted, compact JSON: RFC 8785's bytes for plain values (see :func:`canonical_json`).
_PLAIN_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class CanonicalFormError(ValueError):
    """A value or notebook that has no canonical form; the message says what and where."""


# --------------------------------------------------------------------------- JSON


def canonical_json(value: Any) -> bytes:
    """RFC 8785 (JCS) canonical JSON of ``value``, as UTF-8 bytes (via ``rfc8785.dumps``).

    Numbers are IEEE 754 doubles, as RFC 8785 defines them: an integer beyond
    ±(2**53 - 1) is serialised as the double nearest to it (``2**64`` gives
    ``18446744073709552000``, as JavaScript and so JupyterLab store it). Raises
    :class:`CanonicalFormError`, naming the place as a JSON Pointer, for anything JSON
    cannot hold: NaN or infinite floats, integers beyond the double range, non-string
    object keys, strings with lone surrogates, non-JSON types, nesting deeper than the
    interpreter's recursion limit.
    """
    if _plain_json(value):
        # Without large integers, floats outside the range below or keys outside the Basic
        # Multilingual Plane, RFC 8785 and Python's sorted, compact JSON are the same bytes
        # (the test suite checks it against rfc8785); several times faster on big notebooks.
        try:
            return _PLAIN_ENCODER.encode(value).encode("utf-8")
        except (UnicodeEncodeError, RecursionError):
            pass  # a lone surrogate, or nesting too deep: rfc8785's path explains it
    import rfc8785

    try:
        return rfc8785.dumps(value)
    except rfc8785.IntegerDomainError:
        pass  # an integer beyond 2**53: retry with those integers as doubles, below
    except (rfc8785.CanonicalizationError, UnicodeError, RecursionError) as error:
        raise CanonicalFormError(_explain(value, error)) from error
    try:
        return rfc8785.dumps(_as_doubles(value))
    except (rfc8785.CanonicalizationError, UnicodeError, RecursionError) as error:
        raise CanonicalFormError(_explain(value, error)) from error


def _plain_json(value: Any) -> bool:
    """True when ``value`` holds only strings, booleans, None, safe integers, plain floats,
    lists and dicts with string keys made of BMP characters (iteratively: depth does not
    matter). Exact types are tested first: this walk is a third of a verification."""
    stack = [value]
    pop, push = stack.pop, stack.extend
    while stack:
        item = pop()
        kind = type(item)
        if kind is str or item is None or kind is bool:
            continue
        if kind is dict or isinstance(item, dict):
            for key in item:
                if type(key) is not str and not isinstance(key, str):
                    return False
                if not key.isascii() and key and max(key) >= "\U00010000":
                    return False
            push(item.values())
        elif kind is list or isinstance(item, list):
            push(item)
        elif isinstance(item, (bool, str)):
            continue
        elif isinstance(item, float):
            if not _plain_float(item):
                return False
        elif isinstance(item, int):
            if not -_SAFE_INTEGER <= item <= _SAFE_INTEGER:
                return False
        else:
            return False  # tuples, other types: rfc8785 decides
    return True


def _plain_float(number: float) -> bool:
    """Floats that Python's ``repr`` writes as ECMAScript does (RFC 8785's number form):
    both give the shortest digits that round-trip, without an exponent from 1e-4 up to
    1e16; an integral float differs (``100.0`` against ``100``), so it is left out, as are
    NaN and the infinities. Timings such as ``duration_ms`` are the common case."""
    magnitude = abs(number)
    return 1e-4 <= magnitude < 1e16 and not number.is_integer()


def _as_doubles(value: Any) -> Any:
    """A copy of ``value`` with integers beyond ±(2**53 - 1) turned into doubles."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if -_SAFE_INTEGER <= value <= _SAFE_INTEGER:
            return value
        try:
            return float(value)
        except OverflowError:
            return value  # rfc8785 refuses it again; _explain names it
    if isinstance(value, dict):
        return {key: _as_doubles(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_as_doubles(item) for item in value]
    return value


def _pointer(parts: Sequence[str | int]) -> str:
    """An RFC 6901 JSON Pointer ("" is the whole value)."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


def _kind(value: object) -> str:
    """A short name of a value's JSON (or Python) type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return f"a Python {type(value).__name__}"


def _string_problem(text: str) -> str | None:
    match = _LONE_SURROGATE.search(text)
    if match is None:
        return None
    return (
        f"a lone surrogate U+{ord(match.group()):04X} at character {match.start()}, "
        "which is not Unicode text (RFC 8785 needs valid Unicode)"
    )


def _find_problem(value: Any) -> tuple[str, str] | None:
    """The first place in ``value`` with no canonical JSON form, and why. Iterative."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        reason: str | None = None
        if item is None or isinstance(item, bool):
            continue
        if isinstance(item, int):
            if abs(item) > _SAFE_INTEGER:
                try:
                    float(item)
                except OverflowError:
                    reason = "an integer too large for a JSON number (an IEEE 754 double)"
        elif isinstance(item, float):
            if math.isnan(item):
                reason = "NaN, which is not a JSON number"
            elif math.isinf(item):
                reason = "Infinity, which is not a JSON number"
        elif isinstance(item, str):
            reason = _string_problem(item)
        elif isinstance(item, (list, tuple)):
            stack.extend(
                (child, (*path, index)) for index, child in reversed(list(enumerate(item)))
            )
        elif isinstance(item, dict):
            children = []
            for key, child in item.items():
                if not isinstance(key, str):
                    reason = f"an object key that is {_kind(key)} ({key!r}), not a string"
                    break
                key_problem = _string_problem(key)
                if key_problem is not None:
                    reason = f"an object key with {key_problem}"
                    break
                children.append((child, (*path, key)))
            stack.extend(reversed(children))
        else:
            reason = f"{_kind(item)}, which is not a JSON value"
        if reason is not None:
            return _pointer(path), reason
    return None


def _explain(value: Any, error: BaseException) -> str:
    """A message naming where ``value`` cannot be canonicalised, and why."""
    if isinstance(error, RecursionError):
        return "the value is nested too deeply to canonicalise"
    try:
        problem = _find_problem(value)
    except RecursionError:  # pragma: no cover - _find_problem is iterative
        problem = None
    if problem is None:
        return f"no canonical JSON form: {error}"
    pointer, reason = problem
    return f"no canonical JSON form at {pointer or 'the top level'}: {reason}"


def _digest(data: bytes) -> str:
    return _DIGEST_PREFIX + hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- text


def normalize_text(value: Any) -> str:
    """nbformat multiline text (a string, or a list of strings) as one string.

    A list is joined with nothing between its items, as nbformat does: ``["a\\n", "b"]``
    and ``"a\\nb"`` are the same text. No newline or Unicode normalisation is done.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        try:
            return "".join(value)  # refuses any item that is not a string
        except TypeError:
            index, line = next((i, v) for i, v in enumerate(value) if not isinstance(v, str))
            raise CanonicalFormError(
                f"item {index + 1} of a multiline text is {_kind(line)}, not a string"
            ) from None
    raise CanonicalFormError(f"expected text (a string or a list of strings), not {_kind(value)}")


def _is_json_mime(mime: str) -> bool:
    """MIME types whose values are JSON, not text (nbformat's rule, so a list stays a list)."""
    return mime == "application/json" or (
        mime.startswith("application/") and mime.endswith("+json")
    )


def _mime_bundle(bundle: Any, what: str) -> dict[str, Any]:
    """A MIME bundle (output ``data``, one attachment) with text values as one string."""
    if not isinstance(bundle, Mapping):
        raise CanonicalFormError(f"{what} is {_kind(bundle)}, not an object of MIME types")
    result: dict[str, Any] = {}
    for mime, value in bundle.items():
        if not isinstance(mime, str):
            raise CanonicalFormError(f"{what} has a MIME type that is {_kind(mime)}")
        if isinstance(value, (list, tuple)) and not _is_json_mime(mime):
            value = _joined(value)
        result[mime] = value
    return result


def _joined(lines: list[Any] | tuple[Any, ...]) -> Any:
    """A list of strings as one string; anything else as the JSON value it is."""
    try:
        return "".join(lines)
    except TypeError:
        return lines


# --------------------------------------------------------------------------- outputs


def _utf16_units(text: str) -> str:
    """``text`` with each astral character as its two UTF-16 surrogates (a JS string)."""
    return _ASTRAL.sub(
        lambda m: (
            chr(0xD800 + ((ord(m.group()) - 0x10000) >> 10))
            + chr(0xDC00 + ((ord(m.group()) - 0x10000) & 0x3FF))
        ),
        text,
    )


def _terminal_text(text: str) -> str:
    """Apply carriage returns and backspaces as JupyterLab's output area does (>= 4.4).

    A port of ``Private.processText`` in ``@jupyterlab/outputarea`` (src/model.ts). The
    text is a sequence of UTF-16 code units, like a JavaScript string, with a cursor:
    other characters overwrite at the cursor (or append at the end); ``\\r`` moves the
    cursor to the start of its line; ``\\n`` appends a newline at the end of the text and
    moves the cursor there; ``\\b``, unless the cursor is at the start of a line, deletes
    the character before the cursor and the one under it, and moves the cursor back one.
    A surrogate half left alone by this (or found alone) becomes U+FFFD.
    """
    if "\r" not in text and "\b" not in text:
        return text
    units = _ASTRAL.search(text) is not None or _LONE_SURROGATE.search(text) is not None
    if units:
        text = _utf16_units(text)
    done: list[str] = []  # finished lines, each ending with "\n"
    line: list[str] = []  # the last line; the cursor never leaves it
    cursor = 0
    for piece in _TERMINAL_CONTROL.split(text):
        if piece == "\n":
            done.append("".join(line))
            done.append("\n")
            line = []
            cursor = 0
        elif piece == "\r":
            cursor = 0
        elif piece == "\b":
            if cursor > 0:
                del line[cursor - 1 : cursor + 1]
                cursor -= 1
        elif piece:
            line[cursor : cursor + len(piece)] = piece
            cursor += len(piece)
    done.append("".join(line))
    result = "".join(done)
    if units:
        result = result.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return result


def _required(output: Mapping[str, Any], key: str, output_type: str) -> Any:
    if key not in output:
        raise CanonicalFormError(f"{output_type} output has no {key!r}")
    return output[key]


def _execution_count(value: Any, what: str) -> int | None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise CanonicalFormError(f"{what} is {_kind(value)}, not an integer or null")


def _metadata(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise CanonicalFormError(f"{what} is {_kind(value)}, not an object")
    return value


def _output_form(output: Any) -> dict[str, Any]:
    """:func:`canonical_output` without the carriage return and backspace step."""
    if not isinstance(output, Mapping):
        raise CanonicalFormError(f"an output is {_kind(output)}, not an object")
    output_type = output.get("output_type")
    if output_type == "stream":
        name = _required(output, "name", output_type)
        if not isinstance(name, str):
            raise CanonicalFormError(f"stream output name is {_kind(name)}, not a string")
        try:
            text = normalize_text(_required(output, "text", output_type))
        except CanonicalFormError as error:
            raise CanonicalFormError(f"stream output text: {error}") from error
        return {"output_type": "stream", "name": name, "text": text}
    if output_type in ("display_data", "execute_result"):
        form: dict[str, Any] = {
            "output_type": output_type,
            "data": _mime_bundle(output.get("data", {}), f"{output_type} data"),
            "metadata": _metadata(output.get("metadata", {}), f"{output_type} metadata"),
        }
        if output_type == "execute_result":
            form["execution_count"] = _execution_count(
                output.get("execution_count"), "execute_result execution_count"
            )
        return form
    if output_type == "error":
        ename = _required(output, "ename", output_type)
        evalue = _required(output, "evalue", output_type)
        traceback = _required(output, "traceback", output_type)
        if not isinstance(ename, str) or not isinstance(evalue, str):
            raise CanonicalFormError("error output ename and evalue must be strings")
        if not isinstance(traceback, (list, tuple)) or not all(
            isinstance(line, str) for line in traceback
        ):
            raise CanonicalFormError("error output traceback must be a list of strings")
        return {
            "output_type": "error",
            "ename": ename,
            "evalue": evalue,
            "traceback": list(traceback),
        }
    raise CanonicalFormError(
        f"unknown output_type {output_type!r}; nbformat 4 outputs are stream, "
        "display_data, execute_result and error"
    )


def canonical_output(output: Mapping[str, Any]) -> dict[str, Any]:
    """One nbformat 4 output in canonical form (a new dict; ``output`` is not changed).

    - ``stream``: ``{output_type, name, text}``, text one string with carriage returns
      and backspaces applied as JupyterLab does (see :func:`canonical_outputs`);
    - ``display_data``: ``{output_type, data, metadata}``;
    - ``execute_result``: ``{output_type, execution_count, data, metadata}``;
    - ``error``: ``{output_type, ename, evalue, traceback}``.

    In ``data``, a text value given as a list of strings becomes one string, except for
    JSON MIME types (``application/json``, ``application/*+json``), whose values are kept
    as JSON. A missing ``data`` or ``metadata`` is ``{}``, a missing ``execution_count``
    is null; ``metadata`` is kept as it is; ``transient`` and any other key is dropped.
    ``canonical_output(o) == canonical_outputs([o])[0]``.
    """
    form = _output_form(output)
    if form["output_type"] == "stream":
        form["text"] = _terminal_text(form["text"])
    return form


def canonical_outputs(outputs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A code cell's outputs in canonical form, as JupyterLab would save them.

    Consecutive ``stream`` outputs with the same ``name`` are merged into one (their
    texts concatenated), as JupyterLab's output area does when it receives or loads them.
    Then, in each stream's text, carriage returns and backspaces are applied the way
    JupyterLab (>= 4.4) applies them: a cursor moves over the text, ``\\r`` sends it to
    the start of the line *without* erasing (later characters overwrite), ``\\n`` appends
    a newline at the end, ``\\b`` deletes the character before the cursor and the one
    under it. So ``"50%\\r100%\\n"`` is ``"100%\\n"`` and ``"abcdef\\rXY"`` is
    ``"XYcdef"``. Because the rules act character by character, how the text was split
    into stream messages does not matter. Each output is then :func:`canonical_output`.
    """
    if not isinstance(outputs, (list, tuple)):
        raise CanonicalFormError(f"outputs are {_kind(outputs)}, not an array")
    result: list[dict[str, Any]] = []
    for index, output in enumerate(outputs):
        try:
            form = _output_form(output)
        except CanonicalFormError as error:
            raise CanonicalFormError(f"output {index + 1}: {error}") from error
        last = result[-1] if result else None
        if (
            form["output_type"] == "stream"
            and last is not None
            and last["output_type"] == "stream"
            and last["name"] == form["name"]
        ):
            last["text"] += form["text"]
        else:
            result.append(form)
    for form in result:
        if form["output_type"] == "stream":
            form["text"] = _terminal_text(form["text"])
    return result


def outputs_digest(outputs: Sequence[Mapping[str, Any]]) -> str:
    """``"sha256:" + hex`` of ``canonical_json(canonical_outputs(outputs))``."""
    return _digest(canonical_json(canonical_outputs(outputs)))


def source_digest(source: str | Sequence[str]) -> str:
    """``"sha256:" + hex`` of the UTF-8 bytes of ``normalize_text(source)``."""
    text = normalize_text(source)
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as error:
        problem = _string_problem(text) or str(error)
        raise CanonicalFormError(f"source has {problem}") from error
    return _digest(data)


# --------------------------------------------------------------------------- notebooks


def _cell_metadata(metadata: Mapping[str, Any]) -> Mapping[str, Any]:
    """Cell metadata without UI state (collapsed, scrolled, jupyter.source_hidden,
    jupyter.outputs_hidden) and nbformat's transient ``trusted``; an empty ``jupyter``
    object is dropped."""
    jupyter = metadata.get("jupyter")
    if not (
        any(key in metadata for key in _UI_CELL_KEYS + _TRANSIENT_CELL_KEYS)
        or (
            isinstance(jupyter, Mapping)
            and (not jupyter or any(k in jupyter for k in _UI_JUPYTER_KEYS))
        )
    ):
        return metadata
    result = {
        key: value
        for key, value in metadata.items()
        if key not in _UI_CELL_KEYS and key not in _TRANSIENT_CELL_KEYS
    }
    if isinstance(jupyter, Mapping):
        kept = {key: value for key, value in jupyter.items() if key not in _UI_JUPYTER_KEYS}
        if kept:
            result["jupyter"] = kept
        else:
            del result["jupyter"]
    return result


def _notebook_metadata(metadata: Mapping[str, Any], form: str) -> Mapping[str, Any]:
    """Notebook metadata as signed: without ``qsecure.signatures`` (an empty ``qsecure``
    object is dropped) and nbformat's transient keys; in form v2 also with only the stable
    parts of ``language_info``, ``kernelspec`` and ``qsecure.provenance``."""
    stable = form != LEGACY_CANONICAL_FORM
    result = {key: value for key, value in metadata.items() if key not in _TRANSIENT_NOTEBOOK_KEYS}
    qsecure = metadata.get("qsecure")
    if isinstance(qsecure, Mapping):
        kept = {key: value for key, value in qsecure.items() if key != "signatures"}
        provenance = kept.get("provenance")
        if stable and isinstance(provenance, Mapping):
            kept["provenance"] = _only(provenance, _STABLE_PROVENANCE)
            if not kept["provenance"]:
                del kept["provenance"]
        if kept:
            result["qsecure"] = kept
        else:
            del result["qsecure"]
    if stable:
        for key, keep in (
            ("language_info", _STABLE_LANGUAGE_INFO),
            ("kernelspec", _STABLE_KERNELSPEC),
        ):
            value = metadata.get(key)
            if isinstance(value, Mapping):
                result[key] = _only(value, keep)
    return result


def _only(mapping: Mapping[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    return {key: mapping[key] for key in keys if key in mapping}


def cell_view(cell: Mapping[str, Any]) -> dict[str, Any]:
    """The signed view of one nbformat 4.5 cell (a new dict; ``cell`` is not changed).

    ``{id, cell_type, source, metadata}`` plus, when non-empty, ``attachments`` (MIME
    values normalised like output data), plus for code cells ``outputs``
    (:func:`canonical_outputs`) and ``execution_count`` (signed: it is visible). Values
    not rewritten are shared with ``cell``: treat the view as read-only.
    """
    if not isinstance(cell, Mapping):
        raise CanonicalFormError(f"the cell is {_kind(cell)}, not an object")
    cell_id = cell.get("id")
    if cell_id is None:
        raise CanonicalFormError("the cell has no id")
    if not isinstance(cell_id, str) or not cell_id:
        raise CanonicalFormError(
            f"the cell id is {_kind(cell_id)} {cell_id!r}, not a non-empty string"
        )
    cell_type = cell.get("cell_type")
    if cell_type not in _CELL_TYPES:
        raise CanonicalFormError(
            f"cell_type {cell_type!r} is not one of nbformat 4's code, markdown and raw"
        )
    if "source" not in cell:
        raise CanonicalFormError("the cell has no source")
    try:
        source = normalize_text(cell["source"])
    except CanonicalFormError as error:
        raise CanonicalFormError(f"source: {error}") from error
    view: dict[str, Any] = {
        "id": cell_id,
        "cell_type": cell_type,
        "source": source,
        "metadata": _cell_metadata(_metadata(cell.get("metadata", {}), "cell metadata")),
    }
    attachments = cell.get("attachments")
    if attachments:
        if not isinstance(attachments, Mapping):
            raise CanonicalFormError(f"attachments are {_kind(attachments)}, not an object")
        view["attachments"] = {
            name: _mime_bundle(bundle, f"attachment {name!r}")
            for name, bundle in attachments.items()
        }
    if cell_type == "code":
        view["outputs"] = canonical_outputs(cell.get("outputs", []))
        view["execution_count"] = _execution_count(cell.get("execution_count"), "execution_count")
    return view


def _cell_name(index: int, cell: Any) -> str:
    cell_id = cell.get("id") if isinstance(cell, Mapping) else None
    return f"cell {index + 1}" + (f" (id {cell_id!r})" if isinstance(cell_id, str) else "")


def _views(notebook: Any, form: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The signed view's header (everything but cells) and its cells, checked."""
    if form not in CANONICAL_FORMS:
        raise CanonicalFormError(
            f"unknown canonical form {form!r}; this version knows {', '.join(CANONICAL_FORMS)}"
        )
    if not isinstance(notebook, Mapping):
        raise CanonicalFormError(
            f"not a notebook: expected an object with nbformat, metadata and cells, "
            f"got {_kind(notebook)}"
        )
    if "nbformat" not in notebook or "cells" not in notebook:
        missing = " and ".join(key for key in ("nbformat", "cells") if key not in notebook)
        raise CanonicalFormError(f"not an nbformat 4 notebook: it has no {missing}")
    major = notebook["nbformat"]
    if major != 4 or isinstance(major, bool) or not isinstance(major, int):
        raise CanonicalFormError(
            f"this is an nbformat {major!r} notebook; only nbformat 4 notebooks have a "
            "canonical form (open and save it in JupyterLab to convert it)"
        )
    minor = notebook.get("nbformat_minor")
    if not isinstance(minor, int) or isinstance(minor, bool) or minor < 0:
        raise CanonicalFormError(f"nbformat_minor is {minor!r}, not a non-negative integer")
    metadata = _metadata(notebook.get("metadata", {}), "notebook metadata")
    cells = notebook["cells"]
    if not isinstance(cells, (list, tuple)):
        raise CanonicalFormError(f"the notebook's cells are {_kind(cells)}, not an array")
    views: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for index, cell in enumerate(cells):
        if isinstance(cell, Mapping) and "id" not in cell:
            raise CanonicalFormError(
                f"cell {index + 1} has no id; cell ids came with nbformat 4.5 and this "
                f"notebook is nbformat 4.{minor}. Upgrade it: open and save it in "
                'JupyterLab, or run: python -c "import nbformat, sys; p = sys.argv[1]; '
                'nbformat.write(nbformat.v4.upgrade(nbformat.read(p, 4)), p)" NOTEBOOK.ipynb'
            )
        try:
            view = cell_view(cell)
        except CanonicalFormError as error:
            raise CanonicalFormError(f"{_cell_name(index, cell)}: {error}") from error
        first = seen.setdefault(view["id"], index)
        if first != index:
            raise CanonicalFormError(
                f"cells {first + 1} and {index + 1} have the same id {view['id']!r}; "
                "cell ids must be unique"
            )
        views.append(view)
    header = {
        "nbformat": 4,
        "nbformat_minor": minor,
        "metadata": _notebook_metadata(metadata, form),
    }
    return header, views


def signed_view(notebook: Mapping[str, Any], form: str = CANONICAL_FORM) -> dict[str, Any]:
    """The part of a notebook a signature covers (see ``docs/signing.md``).

    ``{nbformat, nbformat_minor, metadata, cells}``: notebook metadata without
    ``qsecure.signatures``; every cell as :func:`cell_view`. Raises
    :class:`CanonicalFormError` for anything but an nbformat 4 notebook whose cells all
    have unique ids (nbformat >= 4.5). Shares unchanged values with ``notebook``: treat
    it as read-only.
    """
    header, views = _views(notebook, form)
    return {**header, "cells": views}


def _cell_bytes(index: int, view: dict[str, Any]) -> bytes:
    try:
        return canonical_json(view)
    except CanonicalFormError as error:
        raise CanonicalFormError(f"cell {index + 1} (id {view['id']!r}): {error}") from error


def _payload(
    notebook: Mapping[str, Any], form: str
) -> tuple[bytes, list[dict[str, Any]], list[bytes]]:
    """The payload, the cells' views and each cell's canonical bytes."""
    header, views = _views(notebook, form)
    parts = [_cell_bytes(index, view) for index, view in enumerate(views)]
    try:
        head = canonical_json(header)
    except CanonicalFormError as error:
        raise CanonicalFormError(f"notebook metadata: {error}") from error
    # RFC 8785 sorts "cells" before "metadata", "nbformat" and "nbformat_minor", and the
    # serialisation of an object is built from its members' serialisations: this is
    # exactly canonical_json(signed_view(notebook)).
    return b'{"cells":[' + b",".join(parts) + b"]," + head[1:], views, parts


def payload_and_cell_digests(
    notebook: Mapping[str, Any], form: str = CANONICAL_FORM
) -> tuple[bytes, list[dict[str, str]]]:
    """:func:`notebook_payload` and :func:`cell_digests` at once, canonicalising once
    (``form``: :data:`CANONICAL_FORM`, or the legacy form old signatures used)."""
    payload, views, parts = _payload(notebook, form)
    digests = [
        {"id": view["id"], "digest": _digest(part)} for view, part in zip(views, parts, strict=True)
    ]
    return payload, digests


def notebook_payload(notebook: Mapping[str, Any], form: str = CANONICAL_FORM) -> bytes:
    """The canonical bytes of a notebook: ``canonical_json(signed_view(notebook))``; a
    signature signs a statement holding their digest (``form``: :data:`CANONICAL_FORM`,
    or the legacy form old signatures used)."""
    return _payload(notebook, form)[0]


def notebook_digest(notebook: Mapping[str, Any]) -> str:
    """``"sha256:" + hex`` of :func:`notebook_payload`."""
    return _digest(notebook_payload(notebook))


def cell_digest(cell: Mapping[str, Any]) -> str:
    """``"sha256:" + hex`` of ``canonical_json(cell_view(cell))``."""
    view = cell_view(cell)
    return _digest(canonical_json(view))


def cell_digests(notebook: Mapping[str, Any]) -> list[dict[str, str]]:
    """``[{"id", "digest"}]``, one per cell in order: kept with each signature, so a failed
    verification names the cells that changed."""
    return payload_and_cell_digests(notebook)[1]
