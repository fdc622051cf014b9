"""Walk a notebook and yield every piece of text a person could leak a credential through.

A :class:`Fragment` is one piece of text with its place. The walker never recurses on the
notebook's structure (a hostile notebook can nest metadata thousands of levels deep), and
it skips base64 payloads of images and other binary outputs, which are not text.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator
from typing import Any, NamedTuple

_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")

#: Output and attachment MIME types whose payload is base64 of binary data, not text.
_BINARY_MIME = re.compile(r"^(image/(?!svg\+xml)|audio/|video/|application/(pdf|octet-stream|zip))")
_KNOWN_CELL_KEYS = frozenset(
    {"id", "source", "attachments", "outputs", "metadata", "cell_type", "execution_count"}
)
#: Keys of nbformat 3 outputs that hold base64 images.
_V3_BINARY_KEYS = frozenset({"png", "jpeg", "jpg", "gif", "pdf"})


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
    ``"password": "..."``. Iterative: depth does not matter."""
    stack: list[tuple[object, str, str]] = [(value, field, key)]
    while stack:
        item, path, parent_key = stack.pop()
        if isinstance(item, str):
            if item:
                text = f'"{parent_key}": "{item}"' if parent_key else item
                yield Fragment(text, path, cell_index, cell_id)
        elif isinstance(item, dict):
            for child_key, child in reversed(list(item.items())):
                child_key = str(child_key)
                if child_key in _V3_BINARY_KEYS or _BINARY_MIME.match(child_key):
                    continue
                child_path = f"{path}/{child_key}" if path else child_key
                stack.append((child, child_path, child_key))
                if child_key and not isinstance(child, str):
                    # A key alone can hold a credential too (a dict keyed by token).
                    stack.append((child_key, child_path, ""))
        elif isinstance(item, list):
            for index in range(len(item) - 1, -1, -1):
                stack.append((item[index], f"{path}/{index}" if path else str(index), parent_key))


def _decoded_attachment(data: str) -> str:
    """Text attachments are stored base64-encoded; give their text, or the raw string."""
    try:
        return base64.b64decode(data, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return data


def _output_fragments(
    output: dict[str, Any], number: int, cell_index: int, cell_id: str | None
) -> Iterator[Fragment]:
    field = f"outputs[{number}]"
    kind = output.get("output_type")
    if kind == "stream":
        text = _joined(output.get("text"))
        if text:
            yield Fragment(
                strip_ansi(text), f"{field}.{output.get('name', 'stream')}", cell_index, cell_id
            )
    elif kind == "error":
        header = f"{output.get('ename', '')}: {output.get('evalue', '')}"
        yield Fragment(strip_ansi(header), f"{field}.error", cell_index, cell_id)
        traceback = output.get("traceback")
        if isinstance(traceback, list):
            lines = "\n".join(line for line in traceback if isinstance(line, str))
            yield Fragment(strip_ansi(lines), f"{field}.traceback", cell_index, cell_id)
    data = output.get("data")
    if isinstance(data, dict):
        for mime, payload in data.items():
            if _BINARY_MIME.match(str(mime)):
                continue
            text = _joined(payload)
            if text is not None:
                yield Fragment(strip_ansi(text), f"{field}.{mime}", cell_index, cell_id)
            else:
                yield from _json_leaves(payload, f"{field}.{mime}", cell_index, cell_id)
    if kind not in {"stream", "error", "execute_result", "display_data"}:
        yield from _json_leaves(output, field, cell_index, cell_id)
    elif isinstance(output.get("metadata"), dict) and output["metadata"]:
        yield from _json_leaves(output["metadata"], f"{field}.metadata", cell_index, cell_id)


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
            if not isinstance(bundle, dict):
                continue
            for mime, payload in bundle.items():
                text = _joined(payload)
                if text is None or _BINARY_MIME.match(str(mime)):
                    continue
                yield Fragment(_decoded_attachment(text), f"attachments[{name}]", index, cell_id)
    outputs = cell.get("outputs")
    if isinstance(outputs, list):
        for number, output in enumerate(outputs):
            if isinstance(output, dict):
                yield from _output_fragments(output, number, index, cell_id)
            else:
                yield from _json_leaves(output, f"outputs[{number}]", index, cell_id)
    if isinstance(cell.get("metadata"), dict) and cell["metadata"]:
        yield from _json_leaves(cell["metadata"], "metadata", index, cell_id)
    for key, value in cell.items():
        if key not in _KNOWN_CELL_KEYS:
            yield from _json_leaves(value, key, index, cell_id, key)


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
    if isinstance(notebook.get("metadata"), dict):
        yield from _json_leaves(notebook["metadata"], "metadata", None, None)
    for index, cell in enumerate(cells):
        if isinstance(cell, dict):
            yield from _cell_fragments(cell, index)
        else:
            yield from _json_leaves(cell, f"cells/{index}", index, None)
    for key, value in notebook.items():
        if key not in {"cells", "metadata", "nbformat", "nbformat_minor"}:
            yield from _json_leaves(value, key, None, None, key)


def json_fragments(value: object) -> Iterator[Fragment]:
    """Every string of a JSON document, unescaped, each with its key (``"key": "value"``)."""
    yield from _json_leaves(value, "", None, None)


def parse_notebook(text: str) -> object:
    """Parse notebook JSON; raises :class:`ValueError` with a message naming the problem."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})"
        ) from None
    except RecursionError:
        raise ValueError("JSON nested too deeply to be a notebook") from None
