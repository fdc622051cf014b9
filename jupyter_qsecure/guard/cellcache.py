"""Walk only the cells that changed since the last scan of a notebook.

An autosave (JupyterLab's, or the collaboration server's after every pause in typing)
sends the whole notebook, though usually one cell changed. Walking every cell into text
fragments is most of a scan's time; :class:`CellCache` remembers, per notebook path, each
cell's fragments under the cell's exact serialisation (``marshal``: a cell is plain JSON
data), so an unchanged cell is looked up instead of walked.

Nothing is skipped: the rules, the injected values and the allowlist still run over every
fragment of every cell at every save. A cell is a hit only when its serialisation is
byte-for-byte the one walked before (a dict lookup compares the bytes, not only a hash),
and what the walk gives depends on the cell alone, so a hit gives exactly what walking it
again would. Only the last walk of each of the last :data:`NOTEBOOKS` paths is kept.
"""

from __future__ import annotations

import marshal
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from .walker import Fragment, cell_fragments, notebook_fragments

#: How many notebooks' cells are remembered (the least recently scanned goes first).
NOTEBOOKS = 8

#: One cell, walked: its fragments (labelled with the cell's index when it was walked),
#: and whether it is a code cell reading a credential by name (see :mod:`.context`).
_Walked = tuple[tuple[Fragment, ...], bool]


class CellCache:
    """Per notebook path, the walked fragments of each cell of its last scan."""

    def __init__(self, notebooks: int = NOTEBOOKS) -> None:
        self.notebooks = notebooks
        self._lock = threading.Lock()
        self._cells: OrderedDict[str, dict[bytes, _Walked]] = OrderedDict()

    def walk(
        self, notebook: object, key: str, reads_credential: Callable[[Any], bool]
    ) -> tuple[list[Fragment], frozenset[int]] | None:
        """The fragments of ``notebook`` (as :func:`.walker.notebook_fragments` gives them,
        in the same order) and the indices of its cells for which ``reads_credential``
        holds; None for anything but an nbformat 4 notebook (walk it the usual way)."""
        if not isinstance(notebook, dict):
            return None
        cells = notebook.get("cells")
        if notebook.get("nbformat") != 4 or not isinstance(cells, list):
            return None
        with self._lock:
            known = self._cells.get(key, {})
        fresh: dict[bytes, _Walked] = {}
        # Everything but the cells is walked every time (it is small), in the walker's
        # order: the notebook's metadata, the cells, then any other key.
        outside = {name: value for name, value in notebook.items() if name != "metadata"}
        fragments = list(notebook_fragments({"nbformat": 4, "cells": [], **_metadata(notebook)}))
        reading: set[int] = set()
        for index, cell in enumerate(cells):
            serialised = _serialised(cell)
            walked = None if serialised is None else known.get(serialised)
            if walked is None:
                walked = (
                    tuple(cell_fragments(cell, index)),
                    bool(isinstance(cell, dict) and reads_credential(cell)),
                )
            elif walked[0] and walked[0][0].cell_index != index:  # the cell moved
                walked = (tuple(f._replace(cell_index=index) for f in walked[0]), walked[1])
            if serialised is not None:
                fresh[serialised] = walked
            parts, reads = walked
            if reads:
                reading.add(index)
            fragments.extend(parts)
        with self._lock:
            self._cells[key] = fresh
            self._cells.move_to_end(key)
            while len(self._cells) > self.notebooks:
                self._cells.popitem(last=False)
        fragments.extend(notebook_fragments({**outside, "cells": []}))
        return fragments, frozenset(reading)

    def forget(self, key: str | None = None) -> None:
        """Drop what is remembered of ``key`` (of every notebook when None)."""
        with self._lock:
            if key is None:
                self._cells.clear()
            else:
                self._cells.pop(key, None)


def _serialised(cell: object) -> bytes | None:
    """The cell's exact serialisation, or None when it cannot be serialised (then it is
    walked every time)."""
    if type(cell) is not dict:  # a dict subclass may hold more than its items say
        return None
    try:
        return marshal.dumps(cell, 2)  # no back-references: the same bytes each time
    except (ValueError, TypeError, RecursionError):
        return None


def _metadata(notebook: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": notebook["metadata"]} if "metadata" in notebook else {}
