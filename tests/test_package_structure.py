"""The package's structure: no import cycles between its modules (deferred and lazy imports
included); each capability's public API in its ``__init__``; a kernel-side import that
stays light."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import jupyter_qsecure

PACKAGE = Path(jupyter_qsecure.__file__).parent


def modules() -> dict[str, tuple[Path, bool]]:
    """Every module of the package by dotted name, with its file and whether it is a package."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = ["jupyter_qsecure", *path.relative_to(PACKAGE).with_suffix("").parts]
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth (in functions too), except under
    ``if TYPE_CHECKING:``, which never runs."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in (
            "TYPE_CHECKING",
            "typing.TYPE_CHECKING",
        ):
            yield from (item for child in node.orelse for item in _imports(child))
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        yield from _imports(node)


def _lazy_modules(tree: ast.AST) -> Iterator[str]:
    """The modules a package names in ``lazy_exports(__name__, {name: ".module"})``."""
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "lazy_exports"
            and len(node.args) == 2
            and isinstance(node.args[1], ast.Dict)
        ):
            for value in node.args[1].values:
                assert isinstance(value, ast.Constant) and isinstance(value.value, str)
                yield value.value


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports (``from . import name`` of a module counts
    as that module; of anything else, as the package; a lazy export, as its module)."""
    known = modules()
    graph: dict[str, set[str]] = {}
    for name, (path, is_package) in known.items():
        package = name if is_package else name.rpartition(".")[0]
        targets: set[str] = set()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        targets.update(package + module for module in _lazy_modules(tree))
        for node in _imports(tree):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
                continue
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            for alias in node.names:
                submodule = f"{module}.{alias.name}"
                targets.add(submodule if submodule in known else module)
        graph[name] = {target for target in targets if target in known and target != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle_hidden_in_a_function() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    tree = ast.parse(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import x\n"
        "def f():\n    from . import y\n"
    )
    assert [ast.unparse(node) for node in _imports(tree)] == [
        "from typing import TYPE_CHECKING",
        "from . import y",
    ]


def test_the_graph_sees_deferred_and_package_imports() -> None:
    graph = import_graph()
    providers = "jupyter_qsecure.secrets.providers"
    assert f"{providers}.schemes" in graph[f"{providers}.vault"]
    assert "jupyter_qsecure.guard.plugins" in graph["jupyter_qsecure.guard.policy"]
    assert "jupyter_qsecure.guard.save_guard" in graph["jupyter_qsecure.guard"]


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


CAPABILITIES = ["guard", "secrets", "provenance", "signing", "audit"]
#: Modules a kernel must never load because of jupyter-qsecure.
HEAVY = [
    "cryptography",
    "hvac",
    "jupyter_client",
    "jupyter_events",
    "jupyter_server",
    "keyring",
    "nbformat",
    "requests",
    "tornado",
]


@pytest.mark.parametrize("name", CAPABILITIES)
def test_each_capability_exports_a_documented_api(name: str) -> None:
    package = importlib.import_module(f"jupyter_qsecure.{name}")
    exported = package.__all__
    assert exported and len(set(exported)) == len(exported)
    assert package.__doc__ is not None
    undocumented = [item for item in exported if f"``{item}" not in package.__doc__]
    assert undocumented == []
    for item in exported:
        value = getattr(package, item)
        defined_in = getattr(value, "__module__", None)
        if defined_in is not None and not isinstance(value, str):
            assert defined_in.startswith(package.__name__ + ".")
    assert set(exported) <= set(dir(package))
    namespace: dict[str, object] = {}
    exec(f"from jupyter_qsecure.{name} import *", namespace)  # noqa: S102 (a fixed statement)
    assert set(namespace) - {"__builtins__"} == set(exported)
    with pytest.raises(AttributeError, match=f"jupyter_qsecure.{name}' has no attribute 'nope'"):
        package.nope  # noqa: B018 (the attribute access is the test)


def test_the_kernel_side_imports_nothing_heavy() -> None:
    """What every kernel imports (and the capability packages they run) loads none of
    :data:`HEAVY`, in a fresh interpreter."""
    code = (
        "import sys\n"
        "import jupyter_qsecure.kernel, jupyter_qsecure.provenance.kernel\n"
        "import jupyter_qsecure.provenance.collectors, jupyter_qsecure.secrets.masking\n"
        "import jupyter_qsecure.signing.canonical\n"
        "import jupyter_qsecure.secrets, jupyter_qsecure.provenance, jupyter_qsecure.signing\n"
        f"print(__import__('json').dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(result.stdout) == []


def test_a_lazy_name_imports_its_module_on_first_use() -> None:
    """The check above is not vacuous: asking for a heavy name loads its module."""
    code = (
        "import sys, json\n"
        "import jupyter_qsecure.signing as signing\n"
        "before = 'cryptography' in sys.modules\n"
        "signing.verify_envelope\n"
        "print(json.dumps([before, 'cryptography' in sys.modules]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(result.stdout) == [False, True]
