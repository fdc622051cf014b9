"""Walk a notebook and yield every piece of text a person could leak a credential through.

A :class:`Fragment` is one piece of text with its place. The walker never recurses on the
notebook's structure (a hostile notebook can nest metadata thousands of levels deep). It
skips only what the bytes show to be binary: a value declared as an image or other binary
data (an output's or attachment's MIME type, an nbformat 3 ``png`` key, the same names
anywhere in metadata) that is valid base64 of such data. Any other value under such a
name is text, and is scanned (with its base64-decoded text, when it is base64 of text).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from .._json import keeping_shadowed
from ..secrets.forms import MIN_SECRET_LENGTH
from .binary import BINARY_MIME, base64_text, binary_payload
from .findings import HIDDEN_BY_REPEATED_KEY

_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")

#: Cell ids as JupyterLab and nbformat generate them (a UUID, 8 hex digits): not scanned.
_GENERATED_ID = re.compile(r"[0-9a-f]{8}(?:(?:-?[0-9a-f]{4}){3}-?[0-9a-f]{12})?")
#: A MIME type as written in its usual lower-case form: not scanned.
_MIME_TYPE = re.compile(r"[a-z]+/[a-z0-9][a-z0-9.+\-]*")
_PLAIN_MIME_TYPES = frozenset(
    {"text/plain", "text/html", "text/markdown", "text/latex", "image/png", "image/jpeg"}
    | {"image/svg+xml", "application/json", "application/javascript"}
    | {"application/vnd.jupyter.widget-view+json"}
)

_CELL_TYPES = frozenset({None, "code", "markdown", "raw"})
_KNOWN_CELL_KEYS = frozenset(
    {"id", "source", "attachments", "outputs", "metadata", "cell_type", "execution_count"}
)


class Fragment(NamedTuple):
    """A piece of text to scan and where it came from (see :class:`~.findings.Location`)."""

    text: str
    field: str
    cell_index: int | None = None
    cell_id: str | None = None


def strip_ansi(text: str) -> str:
    """Remove terminal colour and cursor escapes, as tracebacks and progress bars carry them."""
    return _ANSI_ESCAPE.sub("", text) if "\x1b" in text else text


def _joined(value: object) -> str | None:
    """nbformat stores multi-line text as a string or a list of lines; give one string."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        try:
            return "".join(value)
        except TypeError:  # not all strings: walked as JSON instead
            return None
    return None


def _json_leaves(
    value: object, field: str, cell_index: int | None, cell_id: str | None, key: str = ""
) -> Iterator[Fragment]:
    """Every string inside a JSON value, each with its parent key so keyword rules see
    ``"password": "..."``. Iterative: depth does not matter. A value under a key named
    like binary data (``png``, ``image/png``) is skipped only when it is such data; when
    it is base64 of text, that text is given too."""
    if key and BINARY_MIME.match(key) and _is_binary(value):
        return
    if key and not isinstance(value, str):  # a key alone can hold a credential too
        yield Fragment(key, field, cell_index, cell_id)
    stack: list[tuple[object, str, str]] = [(value, field, key)]
    while stack:
        item, path, parent_key = stack.pop()
        if isinstance(item, str):
            if item:
                text = f'"{parent_key}": "{item}"' if parent_key else item
                yield Fragment(text, path, cell_index, cell_id)
                if parent_key and BINARY_MIME.match(parent_key):
                    decoded = base64_text(item)
                    if decoded is not None:
                        yield Fragment(decoded, path, cell_index, cell_id)
        elif isinstance(item, dict):
            widget = _widget_reading(item)
            if widget is not None:
                yield Fragment(widget, path, cell_index, cell_id)
            for child_key, child in reversed(list(item.items())):
                child_key = str(child_key)
                if BINARY_MIME.match(child_key) and _is_binary(child):
                    continue
                child_path = f"{path}/{child_key}" if path else child_key
                stack.append((child, child_path, child_key))
                if child_key and not isinstance(child, str):
                    # A key alone can hold a credential too (a dict keyed by token).
                    stack.append((child_key, child_path, ""))
        elif isinstance(item, list):
            for index in range(len(item) - 1, -1, -1):
                stack.append((item[index], f"{path}/{index}" if path else str(index), parent_key))


#: Widget models whose ``value`` someone typed, and what names it.
_TEXT_WIDGETS = frozenset({"TextModel", "TextareaModel", "ComboboxModel"})


def _widget_reading(item: dict[Any, Any]) -> str | None:
    """A saved widget's value bound to what it asks for: ``"password": "..."`` for an
    ipywidgets ``Password`` (its value is saved with the widget state, in plain text), a
    text box's label for a ``Text`` (``"API key": "..."``); None for anything else."""
    state, model = item.get("state"), item.get("model_name")
    if not (isinstance(state, dict) and isinstance(model, str)):
        return None
    value = state.get("value")
    if not isinstance(value, str) or not value:
        return None
    if model == "PasswordModel":
        return f'"password": "{value}"'
    label = state.get("description") or state.get("placeholder")
    if model in _TEXT_WIDGETS and isinstance(label, str) and label.strip(" :"):
        return f'"{label.strip(" :")}": "{value}"'
    return None


def _is_binary(value: object) -> bool:
    """Whether a value declared binary (by its MIME type or key) really is: valid base64
    of a binary format, as a string or nbformat's list of lines."""
    text = _joined(value)
    return text is not None and binary_payload(text)


def _payload_fragments(
    payload: object, field: str, cell_index: int | None, cell_id: str | None, *, base64: bool
) -> Iterator[Fragment]:
    """The text of an output payload declared binary that is not (see :func:`_is_binary`),
    or of an attachment: the text it is base64 of, if any, and its own text. ``base64``:
    the payload is base64 whatever its type (attachments), so its own text is given only
    when it is not base64 of text."""
    text = _joined(payload)
    if text is None:
        yield from _json_leaves(payload, field, cell_index, cell_id)
        return
    decoded = base64_text(text)
    if decoded is not None:
        yield Fragment(strip_ansi(decoded), field, cell_index, cell_id)
        if base64:
            return
    if text:
        yield Fragment(strip_ansi(text), field, cell_index, cell_id)


def _stream_runs(outputs: list[Any]) -> dict[int, str]:
    """Consecutive stream outputs of one name, as nbclient saves a stream flushed in
    pieces and JupyterLab shows it joined: by output number, the run's whole text for its
    first output and ``""`` for the others. Outputs in no run are not listed."""
    runs: dict[int, str] = {}
    first = 0
    while first < len(outputs) - 1:
        head = outputs[first]
        last = first
        if isinstance(head, dict) and head.get("output_type") == "stream":
            name = head.get("name")
            while last + 1 < len(outputs):
                after = outputs[last + 1]
                if not (
                    isinstance(after, dict)
                    and after.get("output_type") == "stream"
                    and after.get("name") == name
                ):
                    break
                last += 1
        if last > first:
            texts = [_joined(outputs[number].get("text")) for number in range(first, last + 1)]
            if all(text is not None for text in texts):
                runs[first] = "".join(text for text in texts if text)
                runs.update((number, "") for number in range(first + 1, last + 1))
        first = last + 1
    return runs


def _output_fragments(
    output: dict[str, Any],
    number: int,
    cell_index: int,
    cell_id: str | None,
    stream: str | None = None,
) -> Iterator[Fragment]:
    """An output's fragments; ``stream``: the text to give for a stream output instead
    of its own (the text of its run of stream outputs, see :func:`_stream_runs`)."""
    field = f"outputs[{number}]"
    kind = output.get("output_type")
    walked = {"output_type", "data", "metadata", "execution_count"}
    if kind == "stream":
        text = _joined(output.get("text"))
        if text is not None:
            walked.add("text")
            text = text if stream is None else stream
        if output.get("name") in ("stdout", "stderr"):
            walked.add("name")
        if text:
            yield Fragment(
                strip_ansi(text), f"{field}.{output.get('name', 'stream')}", cell_index, cell_id
            )
    elif kind == "error":
        header = f"{output.get('ename', '')}: {output.get('evalue', '')}"
        yield Fragment(strip_ansi(header), f"{field}.error", cell_index, cell_id)
        walked.update(("ename", "evalue"))
        traceback = output.get("traceback")
        if isinstance(traceback, list) and all(isinstance(line, str) for line in traceback):
            walked.add("traceback")
            lines = "\n".join(traceback)
            yield Fragment(strip_ansi(lines), f"{field}.traceback", cell_index, cell_id)
    data = output.get("data")
    if isinstance(data, dict):
        if not _PLAIN_MIME_TYPES.issuperset(data):  # a key can hold a credential too
            odd = [str(mime) for mime in data if not _MIME_TYPE.fullmatch(str(mime))]
            if odd:
                yield Fragment("\n".join(odd), f"{field}.data", cell_index, cell_id)
        for mime, payload in data.items():
            mime = str(mime)
            if BINARY_MIME.match(mime):
                if _is_binary(payload):
                    continue
                yield from _payload_fragments(
                    payload, f"{field}.{mime}", cell_index, cell_id, base64=False
                )
                continue
            text = _joined(payload)
            if text is not None:
                yield Fragment(strip_ansi(text), f"{field}.{mime}", cell_index, cell_id)
            else:
                yield from _json_leaves(payload, f"{field}.{mime}", cell_index, cell_id)
    elif data is not None:
        yield from _json_leaves(data, f"{field}.data", cell_index, cell_id)
    if not isinstance(kind, str) or kind not in {
        "stream",
        "error",
        "execute_result",
        "display_data",
    }:
        yield from _json_leaves(output, field, cell_index, cell_id)
        return
    if output.get("metadata"):
        yield from _json_leaves(output["metadata"], f"{field}.metadata", cell_index, cell_id)
    count = output.get("execution_count")
    if count is not None and not _is_count(count):
        yield from _json_leaves(count, f"{field}.execution_count", cell_index, cell_id)
    for key, value in output.items():
        if key not in walked:  # what nbformat does not define, or an odd stream name
            yield from _json_leaves(value, f"{field}.{key}", cell_index, cell_id, str(key))


def _odd_cell_type(value: object) -> bool:
    """Whether a cell's type is not one nbformat writes (any JSON value: a list too)."""
    return not (value is None or (isinstance(value, str) and value in _CELL_TYPES))


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _cell_names(cell: dict[str, Any], index: int, cell_id: str | None) -> Iterator[Fragment]:
    """A cell's id (unless generated, a UUID or 8 hex digits, or too short to be a
    credential), and its type and execution
    count when they are not what nbformat writes: names, but a credential can be written
    there too."""
    id_ = cell.get("id")
    if id_ is not None and not (
        isinstance(id_, str) and (len(id_) < MIN_SECRET_LENGTH or _GENERATED_ID.fullmatch(id_))
    ):
        yield from _json_leaves(cell["id"], "id", index, cell_id)
    if _odd_cell_type(cell.get("cell_type")):
        yield from _json_leaves(cell["cell_type"], "cell_type", index, cell_id)
    count = cell.get("execution_count")
    if count is not None and not _is_count(count):
        yield from _json_leaves(count, "execution_count", index, cell_id)


def _cell_fragments(cell: dict[str, Any], index: int) -> Iterator[Fragment]:
    cell_id = cell.get("id") if isinstance(cell.get("id"), str) else None
    source = _joined(cell.get("source"))
    if source:
        yield Fragment(source, "source", index, cell_id)
    elif cell.get("source") is not None and source is None:
        yield from _json_leaves(cell["source"], "source", index, cell_id)
    attachments = cell.get("attachments")
    if isinstance(attachments, dict):
        for name, bundle in attachments.items():
            field = f"attachments[{name}]"
            yield Fragment(str(name), field, index, cell_id)
            if not isinstance(bundle, dict):
                yield from _json_leaves(bundle, field, index, cell_id)
                continue
            for mime, payload in bundle.items():
                if BINARY_MIME.match(str(mime)) and _is_binary(payload):
                    continue
                yield from _payload_fragments(payload, field, index, cell_id, base64=True)
    elif attachments is not None:
        yield from _json_leaves(attachments, "attachments", index, cell_id)
    outputs = cell.get("outputs")
    if isinstance(outputs, list):
        runs = _stream_runs(outputs) if len(outputs) > 1 else {}
        for number, output in enumerate(outputs):
            if isinstance(output, dict):
                yield from _output_fragments(output, number, index, cell_id, runs.get(number))
            else:
                yield from _json_leaves(output, f"outputs[{number}]", index, cell_id)
    if cell.get("metadata") not in (None, {}):  # an object, or anything a file may hold
        yield from _json_leaves(cell["metadata"], "metadata", index, cell_id)
    for key, value in cell.items():
        if key not in _KNOWN_CELL_KEYS:
            yield from _json_leaves(value, key, index, cell_id, key)
    id_, count = cell.get("id"), cell.get("execution_count")
    if (
        (id_ is not None and not (isinstance(id_, str) and len(id_) < MIN_SECRET_LENGTH))
        or _odd_cell_type(cell.get("cell_type"))
        or not (count is None or _is_count(count))
    ):
        yield from _cell_names(cell, index, cell_id)


def cell_fragments(cell: object, index: int) -> Iterator[Fragment]:
    """Yield every text fragment of the notebook cell at ``index`` (any JSON value); what
    it yields depends on the cell alone (``index`` only labels the fragments)."""
    if isinstance(cell, dict):
        yield from _cell_fragments(cell, index)
    else:
        yield from _json_leaves(cell, f"cells/{index}", index, None)


def notebook_fragments(notebook: object) -> Iterator[Fragment]:
    """Yield every text fragment of a notebook (nbformat 4; anything else is walked as JSON).

    Handles what JupyterLab and nbformat write (strings or lists of lines) and what a
    hostile or older file may hold: an nbformat 3 notebook, unknown keys, odd types.
    """
    if not isinstance(notebook, dict):
        yield from _json_leaves(notebook, "", None, None)
        return
    cells = notebook.get("cells")
    if notebook.get("nbformat") != 4 or not isinstance(cells, list):
        yield from _json_leaves(notebook, "", None, None)
        return
    if notebook.get("metadata") is not None:  # an object, or anything a file may hold
        yield from _json_leaves(notebook["metadata"], "metadata", None, None)
    for index, cell in enumerate(cells):
        yield from cell_fragments(cell, index)
    minor = notebook.get("nbformat_minor")
    if minor is not None and not _is_count(minor):
        yield from _json_leaves(minor, "nbformat_minor", None, None)
    for key, value in notebook.items():
        if key not in {"cells", "metadata", "nbformat", "nbformat_minor"}:
            yield from _json_leaves(value, key, None, None, key)


def json_strings(value: object) -> Iterator[str]:
    """Every string of a JSON value, keys included (iteratively: depth does not matter)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            for key, child in item.items():
                yield str(key)
                stack.append(child)
        elif isinstance(item, list):
            stack.extend(item)


def replace_strings(value: object, replace: Callable[[str], str]) -> None:
    """Replace, in place, every string inside the JSON containers of ``value`` (keys
    included) by what ``replace`` gives for it."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key in list(item):
                child = item.pop(key)
                new_key = replace(key) if isinstance(key, str) else key
                item[new_key] = replace(child) if isinstance(child, str) else child
                stack.append(item[new_key])
        elif isinstance(item, list):
            for index, child in enumerate(item):
                if isinstance(child, str):
                    item[index] = replace(child)
                else:
                    stack.append(child)


def json_fragments(value: object) -> Iterator[Fragment]:
    """Every string of a JSON document, unescaped, each with its key (``"key": "value"``)."""
    yield from _json_leaves(value, "", None, None)


def shadowed_fragments(shadowed: list[tuple[str, object]]) -> Iterator[Fragment]:
    """Every string of the values that repeated keys hide (see :func:`parse_notebook`),
    each named as the key that holds it a second time."""
    for key, value in shadowed:
        field = f"{HIDDEN_BY_REPEATED_KEY}'{key}' keys"
        yield from _json_leaves(value, field, None, None, key)


def parse_notebook(text: str, shadowed: list[tuple[str, object]] | None = None) -> object:
    """Parse notebook JSON; raises :class:`ValueError` with a message naming the problem.

    With ``shadowed``, every value that a repeated key hides is added to it as
    ``(key, value)``: JSON readers keep the last, so a notebook shows none of them, yet
    the file holds them (and git carries them)."""
    try:
        if shadowed is not None:
            return json.loads(text, object_pairs_hook=keeping_shadowed(shadowed))
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})"
        ) from None
    except RecursionError:
        raise ValueError("JSON nested too deeply to be a notebook") from None
