"""Reading requests of the REST API: JSON bodies that are never logged (they may hold a
credential), paths relative to the server root, and the editor's notebook content."""

from __future__ import annotations

import json
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
