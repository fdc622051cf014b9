"""Public names a package exports without importing their modules until first use (PEP 562).

The capability packages' ``__init__`` modules export their API this way where a module is
heavy (``hvac``, ``cryptography``, ``tornado``...) or not needed by the kernel side, so
that a kernel importing ``jupyter_qsecure.secrets.masking`` (which runs
``jupyter_qsecure.secrets``'s ``__init__``) loads only what it uses::

    __getattr__, __dir__ = lazy_exports(__name__, {"SecretsService": ".service"})
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def lazy_exports(
    package: str, names: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module ``__getattr__`` and ``__dir__`` for ``package``: ``names`` maps each lazy
    name to the module (relative to ``package``) that defines it. A name is imported on
    first access and then kept in the package's namespace."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        from importlib import import_module  # on first use: most runs use no lazy name

        value = getattr(import_module(module, package), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(names))

    return __getattr__, __dir__
