"""The environment fingerprint as a notebook carries it: compact.

The provenance store keeps each kernel session's whole fingerprint (every installed
distribution, thousands of bytes). The notebook keeps the fingerprint without that list:
the distributions' ``count`` and ``digest`` (which change with any package) and, under
``imported``, the distributions the notebook's code cells import, as ``name==version``.
``environment_record`` (beside it in ``qsecure.provenance``) names the store's record with
the full list.
"""

from __future__ import annotations

import functools
import importlib.metadata
import re
import sys
from collections.abc import Iterable
from typing import Any

#: ``import a.b, c as d`` and ``from a.b import x`` at the start of a line (a cell may hold
#: IPython syntax that is not Python, so the sources are not parsed as a whole).
_IMPORT = re.compile(
    r"^[ \t]*(?:from[ \t]+([A-Za-z_][\w.]*)[ \t]+import\b"
    r"|import[ \t]+([A-Za-z_][\w.]*(?:[ \t]+as[ \t]+\w+)?"
    r"(?:[ \t]*,[ \t]*[A-Za-z_][\w.]*(?:[ \t]+as[ \t]+\w+)?)*))",
    re.MULTILINE,
)


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    if isinstance(source, list):
        return "".join(part for part in source if isinstance(part, str))
    return source if isinstance(source, str) else ""


def imported_modules(notebook: dict[str, Any]) -> set[str]:
    """The top-level modules the notebook's code cells import (``numpy`` for ``import
    numpy.linalg``), standard library ones left out."""
    modules: set[str] = set()
    cells = notebook.get("cells")
    for cell in cells if isinstance(cells, list) else []:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        for match in _IMPORT.finditer(_source(cell)):
            if match.group(1):
                modules.add(match.group(1).split(".")[0])
            else:
                for part in match.group(2).split(","):
                    modules.add(part.split()[0].split(".")[0])
    return {m for m in modules if m not in sys.stdlib_module_names}


@functools.lru_cache(maxsize=1)
def module_distributions() -> dict[str, tuple[str, ...]]:
    """Top-level module -> the distributions that provide it, in this process's environment
    (read once: ``sklearn`` comes from ``scikit-learn``)."""
    try:
        mapping = importlib.metadata.packages_distributions()
    except Exception:  # a broken distribution's metadata: names alone are matched
        return {}
    return {module: tuple(_normalise(d) for d in dists) for module, dists in mapping.items()}


def imported_packages(modules: Iterable[str], packages: list[str]) -> list[str]:
    """The entries of ``packages`` (``name==version``) that provide ``modules``: by name
    (``qiskit_aer`` is ``qiskit-aer``), else by what each distribution declares it installs."""
    by_name = {_normalise(p.partition("==")[0]): p for p in packages if isinstance(p, str)}
    found: dict[str, str] = {}
    for module in modules:
        name = _normalise(module)
        if name in by_name:
            found[name] = by_name[name]
            continue
        for distribution in module_distributions().get(module, ()):
            if distribution in by_name:
                found[distribution] = by_name[distribution]
    return [found[name] for name in sorted(found)]


def compact_environment(environment: dict[str, Any], notebook: dict[str, Any]) -> dict[str, Any]:
    """``environment`` as the notebook carries it: the distributions' full ``packages`` list
    replaced by the ``imported`` ones (``count`` and ``digest`` kept); the rest as is."""
    section = environment.get("distributions")
    if not isinstance(section, dict) or not isinstance(section.get("packages"), list):
        return environment
    compact = {key: value for key, value in section.items() if key != "packages"}
    compact["imported"] = imported_packages(imported_modules(notebook), section["packages"])
    return {**environment, "distributions": compact}


def carries_full_list(environment: Any) -> bool:
    """Whether an embedded fingerprint still has the full ``packages`` list (as notebooks
    saved before the compact form do)."""
    section = environment.get("distributions") if isinstance(environment, dict) else None
    return isinstance(section, dict) and isinstance(section.get("packages"), list)
