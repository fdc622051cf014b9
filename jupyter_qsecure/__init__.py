"""jupyter-qsecure: secure notebooks for Jupyter."""

from __future__ import annotations

from typing import Any

from ._version import __version__

__all__ = ["__version__"]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .app import QSecureApp

    return [{"module": "jupyter_qsecure.app", "app": QSecureApp}]
