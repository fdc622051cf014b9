"""jupyter-qsecure: secure notebooks for Jupyter."""

from __future__ import annotations

from ._version import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["__version__", "load_ipython_extension", "note", "refresh", "use_dataset"]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext jupyter_qsecure``: masking and the ``%qsecure`` magic in this kernel."""
    from .kernel import load_ipython_extension as load

    load(ipython)


def refresh(*names: str) -> list[str]:
    """Re-read this kernel's secrets through the server (see :func:`jupyter_qsecure.kernel.refresh`)."""
    from .kernel import refresh as refresh_kernel

    return refresh_kernel(*names)


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyter-qsecure"}]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .app import QSecureApp

    return [{"module": "jupyter_qsecure.app", "app": QSecureApp}]


def note(**fields: Any) -> None:
    """Add fields to the running cell's provenance record (see :func:`jupyter_qsecure.kernel.note`)."""
    from .kernel import note as note_in_kernel

    note_in_kernel(**fields)


def use_dataset(where: Any) -> Any:
    """Declare the dataset this notebook reads (see :func:`jupyter_qsecure.kernel.use_dataset`)."""
    from .kernel import use_dataset as use_in_kernel

    return use_in_kernel(where)
