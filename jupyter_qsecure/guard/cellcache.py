"""Walk only the cells that changed since the last scan of a notebook.

An autosave (JupyterLab's, or the collaboration server's after every pause in typing)
sends the whole notebook, though usually one cell changed. Walking every cell into text
fragments is most of a scan's time; :class:`CellCache` remembers, per notebook path, each
cell's fragments (and their UTF-8 bytes, as the engine scans them) under the cell's exact
serialisation (``marshal``: a cell is plain JSON data), so an unchanged cell is looked up
instead of walked and encoded.

Nothing is skipped: the rules, the injected values and the allowlist still run over every
fragment of every cell at every save. A cell is a hit only when its serialisation is
byte-for-byte the one walked before (a dict lookup compares the bytes, not only a hash).
Equal bytes mean an equal cell, types included (``marshal.loads`` would give the cell
back), and what the walk gives depends on the cell alone, so a hit gives exactly what
walking it again would. Version 2 of the format writes no back-references, so a cell's
bytes do not depend on what else refers to its strings. Only the last walk of each of
the last :data:`NOTEBOOKS` paths is kept.
"""

from __future__ import annotations

import marshal
import threading
from collections import OrderedDict
from collections.abc import Callable
from itertools import chain, compress
from operator import itemgetter
from typing import Any, NamedTuple, cast

from .engine import encode
from .walker import Fragment, cell_fragments, notebook_fragments

#: How many notebooks' cells are remembered (the least recently scanned goes first).
NOTEBOOKS = 8

#: One cell, walked: its fragments (labelled with the cell's index when it was walked),
#: their texts encoded (:func:`.engine.encode`), whether it is a code cell reading a
#: credential by name (see :mod:`.context`), and whether it is a code cell.
_Walked = tuple[tuple[Fragment, ...], tuple[bytes, ...], bool, bool]


class Walk(NamedTuple):
    """A notebook's fragments in the walker's order, each one's encoded text, the indices
    of the cells for which ``reads_credential`` holds, and those of its code cells."""

    fragments: list[Fragment]
    encoded: list[bytes]
    reading: frozenset[int]
    code: frozenset[int]


class _Remembered(NamedTuple):
    """A notebook's last scan: each cell's serialisation (None: not plain data) and walk."""

    keys: list[bytes | None]
    walks: list[_Walked]


class CellCache:
    """Per notebook path, the walked fragments of each cell of its last scan."""

    def __init__(self, notebooks: int = NOTEBOOKS) -> None:
        self.notebooks = notebooks
        self._lock = threading.Lock()
        self._cells: OrderedDict[str, _Remembered] = OrderedDict()

    def walk(
        self, notebook: object, key: str, reads_credential: Callable[[Any], bool]
    ) -> Walk | None:
        """The fragments of ``notebook`` (as :func:`.walker.notebook_fragments` gives them,
        in the same order), their encoded texts, the indices of its cells for which
        ``reads_credential`` holds and those of its code cells (a dict whose
        ``cell_type`` is ``code`` or missing); None for anything but an nbformat 4
        notebook (walk it the usual way)."""
        if not isinstance(notebook, dict):
            return None
        cells = notebook.get("cells")
        if notebook.get("nbformat") != 4 or not isinstance(cells, list):
            return None
        with self._lock:
            known = self._cells.get(key)
        # Everything but the cells is walked every time (it is small), in the walker's
        # order: the notebook's metadata, the cells, then any other key.
        outside = {name: value for name, value in notebook.items() if name != "metadata"}
        fragments = list(notebook_fragments({"nbformat": 4, "cells": [], **_metadata(notebook)}))
        encoded = [encode(fragment.text) for fragment in fragments]
        try:
            keys = [marshal.dumps(cell, 2) if type(cell) is dict else None for cell in cells]
        except (ValueError, TypeError, RecursionError):
            keys = [_serialised(cell) for cell in cells]
        walks = _recognised(keys, known)
        for index in [index for index, walked in enumerate(walks) if walked is None]:
            cell = cells[index]
            parts = tuple(cell_fragments(cell, index))
            walks[index] = (
                parts,
                tuple(encode(fragment.text) for fragment in parts),
                bool(isinstance(cell, dict) and reads_credential(cell)),
                isinstance(cell, dict) and cell.get("cell_type", "code") == "code",
            )
        walked = cast("list[_Walked]", walks)
        with self._lock:
            self._cells[key] = _Remembered(keys, walked)
            self._cells.move_to_end(key)
            while len(self._cells) > self.notebooks:
                self._cells.popitem(last=False)
        fragments.extend(chain.from_iterable(map(itemgetter(0), walked)))
        encoded.extend(chain.from_iterable(map(itemgetter(1), walked)))
        reading = frozenset(compress(range(len(walked)), map(itemgetter(2), walked)))
        code = frozenset(compress(range(len(walked)), map(itemgetter(3), walked)))
        rest = list(notebook_fragments({**outside, "cells": []}))
        fragments.extend(rest)
        encoded.extend(encode(fragment.text) for fragment in rest)
        return Walk(fragments, encoded, reading, code)

    def forget(self, key: str | None = None) -> None:
        """Drop what is remembered of ``key`` (of every notebook when None)."""
        with self._lock:
            if key is None:
                self._cells.clear()
            else:
                self._cells.pop(key, None)


#: A save with more changed cells than this (or cells moved, inserted, deleted) looks
#: each one up among all the cells of the last scan; with fewer, a changed cell is walked.
_FEW_CHANGES = 4


def _recognised(keys: list[bytes | None], known: _Remembered | None) -> list[_Walked | None]:
    """For each cell (by serialisation), its walk from the last scan when it is
    byte-for-byte a cell of that scan, else None (to be walked).

    An autosave usually changes one cell in place: each cell is first compared with the
    cell at its index last time (the bytes compared, no hash computed); only when more
    cells differ is every remaining one looked up among all the last scan's cells."""
    if known is None:
        return [None] * len(keys)
    last_keys, last_walks = known
    last = len(last_keys)
    walks: list[_Walked | None] = [
        last_walks[index] if index < last and key is not None and key == last_keys[index] else None
        for index, key in enumerate(keys)
    ]
    missing = [index for index, walked in enumerate(walks) if walked is None]
    if len(missing) <= _FEW_CHANGES and len(keys) == last:
        return walks
    by_key = {key: walked for key, walked in zip(last_keys, last_walks, strict=True) if key}
    for index in missing:
        key = keys[index]
        walked = by_key.get(key) if key is not None else None
        if walked is not None and walked[0] and walked[0][0].cell_index != index:
            # The cell moved: the same fragments, labelled with its new index.
            fragments = tuple(fragment._replace(cell_index=index) for fragment in walked[0])
            walked = (fragments, *walked[1:])
        walks[index] = walked
    return walks


def _serialised(cell: object) -> bytes | None:
    """The cell's exact serialisation, or None when it is not plain data (a dict subclass
    may hold more than its items say; then it is walked every time)."""
    if type(cell) is not dict:
        return None
    try:
        return marshal.dumps(cell, 2)
    except (ValueError, TypeError, RecursionError):
        return None


def _metadata(notebook: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": notebook["metadata"]} if "metadata" in notebook else {}
