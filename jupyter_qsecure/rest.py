"""Reading requests of the REST API: JSON bodies that are never logged (they may hold a
credential), paths relative to the server root, the editor's notebook content, and the paths
and models of the contents API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tornado import web


def request_error(status: int, reason: str, message: str) -> web.HTTPError:
    """An error answered as JSON ``{reason, message}``."""
    return web.HTTPError(status, message, reason=reason)


def json_body(handler: Any, expected: str) -> dict[str, Any]:
    """The request's JSON object. Unlike jupyter_server's ``get_json_body``, a body that is
    not JSON is never logged, at any level: the answer is a 400 naming ``expected``."""
    raw = handler.request.body
    try:
        body = json.loads(raw.decode("utf-8")) if raw.strip() else {}
    except (ValueError, RecursionError):  # UnicodeDecodeError included; nested too deep
        body = None
    if not isinstance(body, dict):
        raise request_error(400, "qsecure-bad-request", f"send a JSON object {expected}")
    return body


def relative_path(value: object, what: str) -> str:
    """A path relative to the server root, from a request (400 if it is not one)."""
    if not isinstance(value, str) or not value.strip("/"):
        raise request_error(400, "qsecure-bad-request", f"{what}: give the notebook's path")
    path = value.strip("/")
    if ".." in path.split("/") or "\\" in path:
        raise request_error(
            400, "qsecure-bad-request", f"{what}: a path relative to the server root, without .."
        )
    return path


def notebook_problem(notebook: Any) -> str | None:
    """Why ``notebook`` is not an nbformat 4 notebook as an editor holds it, or None."""
    if not isinstance(notebook, dict):
        return "notebook must be the nbformat 4 JSON of the notebook"
    if notebook.get("nbformat") != 4 or isinstance(notebook.get("nbformat"), bool):
        found = notebook.get("nbformat")
        shown = (
            found
            if isinstance(found, int) or found is None
            else f"a value of type {type(found).__name__}"
        )
        return f"notebook must be nbformat 4, not {shown}"
    if not isinstance(notebook.get("metadata", {}), dict):
        return "notebook.metadata must be an object"
    cells = notebook.get("cells")
    if not isinstance(cells, list):
        return "notebook.cells must be a list"
    for index, cell in enumerate(cells, 1):
        if not isinstance(cell, dict) or not isinstance(cell.get("metadata", {}), dict):
            return f"cell {index} must be an object whose metadata is an object"
    return None


def editor_notebook(handler: Any) -> tuple[str, dict[str, Any]]:
    """``{path, notebook}`` from a request: the editor's (unsaved) content."""
    body = json_body(handler, "{path, notebook}")
    path = relative_path(body.get("path"), "path")
    notebook = body.get("notebook")
    problem = notebook_problem(notebook)
    if problem is not None:
        raise request_error(400, "qsecure-bad-request", f"send JSON {{path, notebook}}: {problem}")
    assert isinstance(notebook, dict)
    return path, notebook


#: The longest name of one file or folder, in bytes (ext4, XFS, Btrfs, ZFS, APFS).
NAME_MAX = 255
#: The longest path the server's system takes, in bytes (Linux).
PATH_MAX = 4095
#: The types of a contents model.
CONTENT_TYPES = ("notebook", "file", "directory")


def contents_path_problem(
    root: Path, path: str, *, to_write: bool = False, file: bool = False
) -> str | None:
    """Why ``path`` of the contents API (relative to ``root``) can name no file or folder,
    or None: a NUL, a name or a path longer than the filesystem takes, a folder on the way
    that is a file, or (``to_write``) that does not exist, or (``file``: a file or notebook
    is written there) a folder at ``path`` itself. Only looked up inside ``root``."""
    names = [name for name in path.split("/") if name]
    for name in names:
        if "\x00" in name:
            return "a file or folder name cannot hold a NUL character"
        size = len(name.encode("utf-8", "surrogatepass"))
        if size > NAME_MAX:
            return f"a file or folder name is at most {NAME_MAX} bytes; one here has {size}"
    size = len(str(root).encode("utf-8", "surrogateescape")) + len(path.encode("utf-8", "ignore"))
    if size >= PATH_MAX:
        return f"the path is too long for the server's system (at most {PATH_MAX} bytes)"
    if ".." in names:  # outside the root: the contents manager refuses it (404)
        return None
    folder = root
    for index, name in enumerate(names[:-1], 1):
        folder = folder / name
        if folder.is_dir():
            continue
        shown = "/".join(names[:index])
        if folder.exists():
            return f"{shown} is a file, not a folder: nothing is inside it"
        return f"the folder {shown} does not exist: create it first" if to_write else None
    if file and names and (root / "/".join(names)).is_dir():
        return f"{'/'.join(names)} is a folder: a file cannot take its place"
    return None


def contents_model_problem(model: dict[str, Any]) -> str | None:
    """Why ``model`` (the JSON body of a contents write) is not a contents model, or None:
    a field of the wrong type, content that does not fit its type."""
    problem = _not_a_string(model, ("type", "format", "ext", "copy_from", "path", "name"))
    if problem is not None:
        return problem
    kind = model.get("type")
    if kind is not None and kind not in CONTENT_TYPES:
        return f"type must be one of {', '.join(CONTENT_TYPES)}"
    chunk = model.get("chunk")
    if chunk is not None and (not isinstance(chunk, int) or isinstance(chunk, bool)):
        return "chunk must be a whole number (1 for the first, -1 for the last)"
    content = model.get("content")
    if content is None:
        return None
    if kind == "notebook" and not isinstance(content, dict):
        return "the content of a notebook must be its nbformat JSON object"
    if kind == "file" and not isinstance(content, str):
        return "the content of a file must be a string (format text or base64)"
    if kind == "file" and model.get("format") not in ("text", "base64"):
        return "a file's format must be text or base64"
    return None


def session_model_problem(model: dict[str, Any]) -> str | None:
    """Why ``model`` (the JSON body of ``/api/sessions``) is not a session model, or None:
    jupyter_server reads its fields without looking at their types (a 500)."""
    problem = _not_a_string(model, ("path", "name", "type"))
    if problem is not None:
        return problem
    for key in ("kernel", "notebook"):
        part = model.get(key)
        if part is None:
            continue
        if not isinstance(part, dict):
            return f"{key} must be an object"
        problem = _not_a_string(part, ("name", "id", "path"), f"{key}.")
        if problem is not None:
            return problem
    return None


def _not_a_string(model: dict[str, Any], keys: tuple[str, ...], prefix: str = "") -> str | None:
    """``"KEY must be a string"`` for the first of ``keys`` that ``model`` holds as
    anything else (``prefix`` before its name), or None."""
    for key in keys:
        if model.get(key) is not None and not isinstance(model[key], str):
            return f"{prefix}{key} must be a string"
    return None
