"""jupyter-lsp's virtual documents, out of the served folder.

With a language server that wants documents on disk (python-lsp-server, the R and Julia
servers, ...), jupyter-lsp writes the code of every notebook and file open in JupyterLab
to ``.virtual_documents/`` in the served folder, on every edit: before any save, whatever
the guard refuses, and never through the contents manager. A credential pasted into a
cell is on disk there, readable as the folder is (and picked up by ``git add .``).
:func:`private_virtual_documents` moves that folder into jupyter-qsecure's private state
folder, as the collaboration Y store is (see :mod:`.collaboration`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

#: jupyter-lsp's default, relative to the served folder.
UPSTREAM_DEFAULT = ".virtual_documents"
#: Where they go instead, in jupyter-qsecure's state folder.
FOLDER_NAME = "lsp-virtual-documents"


def configured_virtual_documents(config: Any) -> str:
    """The folder jupyter-lsp would write documents to, as configured (its traitlet,
    then ``JP_LSP_VIRTUAL_DIR``, then its default)."""
    section = config.get("LanguageServerManager", {})
    configured = section.get("virtual_documents_dir") if hasattr(section, "get") else None
    if isinstance(configured, str) and configured:
        return configured
    return os.environ.get("JP_LSP_VIRTUAL_DIR") or UPSTREAM_DEFAULT


def private_virtual_documents(configured: str, root: Path, folder: Path, log: Any) -> Path | None:
    """Where jupyter-lsp should write documents: ``folder/FOLDER_NAME`` when the
    configured place (relative to ``root``, as jupyter-lsp reads it) lies inside the served
    folder ``root``, else None (the configured place stays). ``folder`` is created 0700."""
    root = root.resolve()
    place = (root / configured).resolve()
    if place != root and root not in place.parents:
        return None
    if configured != UPSTREAM_DEFAULT:
        log.warning(
            "jupyter-qsecure: jupyter-lsp's virtual documents folder %s lies inside the "
            "served folder; it is kept in %s instead (it holds unsaved code, credentials too)",
            configured,
            folder / FOLDER_NAME,
        )
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    stale = root / UPSTREAM_DEFAULT
    if stale.is_dir():
        log.warning(
            "jupyter-qsecure: %s holds code jupyter-lsp wrote for a language server before "
            "jupyter-qsecure kept it private; delete it (it may hold what the guard refused)",
            stale,
        )
    return folder / FOLDER_NAME
