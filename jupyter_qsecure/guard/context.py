"""Notebook context: a cell's source says what its outputs print.

``print(os.environ["IBM_QUANTUM_TOKEN"])`` prints 128 hex digits with no keyword beside
them; a text scanner sees a hash. A cell whose source reads a credential by name (an
environment variable, a secret store, ``getpass``) or prints a variable named like one
makes its outputs a context where a random-looking value is that credential.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from .checks import is_uuid, looks_random, within_password_hash
from .engine import Engine, Match
from .rule import Rule
from .walker import Fragment

_CREDENTIAL_WORD = r"(?:token|api[_-]?key|apikey|secret|passw(?:or)?d|passphrase|credential|access[_-]?key|auth[_-]?key)"
#: Source that reads or prints a credential by name.
_READS_CREDENTIAL = re.compile(
    r"(?i)(?:"
    # os.environ["..."], os.getenv("..."), keyring / Colab / Databricks / Vault lookups
    rf"(?:environ(?:\.get)?\s*[\[(]|getenv\s*\(|get_password\s*\(|userdata\.get\s*\(|secrets?\.get\w*\s*\(|get_secret\w*\s*\(|read_secret\w*\s*\()[^\n)\]]{{0,80}}?{_CREDENTIAL_WORD}"
    # print(token), display(api_key), logging of a credential-named variable or field
    rf"|\b(?:print|display|pprint|echo|log\w*|write)\b\s*\(?[^\n]{{0,80}}?{_CREDENTIAL_WORD}"
    # shell and magics that print the environment, or a stored credential
    rf"|^[ \t]*(?:!|%)(?:env|printenv|set)\b|^[ \t]*!echo\b[^\n]*\$\w*{_CREDENTIAL_WORD}"
    rf"|\bget_password\s*\(|\bconfigure\s+get\s+\S*{_CREDENTIAL_WORD}"
    # this package's own kernel API: the granted secrets, by name
    r"|\binjected_secrets\s*\("
    r")",
    re.MULTILINE,
)
#: A credential-named variable as the cell's last expression (Jupyter displays its value).
_SHOWS_CREDENTIAL = re.compile(rf"(?i)[\w.\[\]\"']*{_CREDENTIAL_WORD}[\w\]\"']*")
_HEX = re.compile(r"[0-9a-fA-F]+")
#: A cheap first look: a source without any of these words cannot read a credential.
_WORDS = ("token", "key", "secret", "pass", "credential", "env", "set")


def _credential_shaped(match: re.Match[str]) -> bool:
    """Random enough to be generated; hex only when longer than a digest (IBM Quantum's
    128 digits), never a UUID."""
    value: str = match.group("secret")
    if is_uuid(value) or not looks_random(value, 3.5):
        return False
    if within_password_hash(match.string, match.start("secret"), match.end("secret")):
        return False  # print(generate_password_hash(...)): a salt or digest of a hash
    if _HEX.fullmatch(value):
        return len(value) >= 96
    return sum(char.isdigit() for char in value) >= 2


CONTEXT_RULE = Rule(
    "notebook-context-credential",
    "Credential printed by its cell",
    r"(?<![\w+/=.~-])(?P<secret>[A-Za-z0-9+/_.~-]{20,256}={0,2})(?![\w+/=.~-])",
    r"[A-Za-z0-9+/_.~-]{20}",
    check=_credential_shaped,
    examples=("{H:128}", "{B:40}", "Token: {W:44}"),
    negative_examples=(
        "{H:64}",
        "{H:8}-{H:4}-{H:4}-{H:4}-{H:12}",
        "/home/lab/.local/share/jupyter/runtime",
        "$2b$12${A:53}",
        "scrypt:32768:8:1${A:16}${H:128}",
        "$argon2id$v=19$m=65536,t=3,p=4${A:22}${A:43}",
    ),
)
_ENGINE = Engine([CONTEXT_RULE], use_hyperscan=False)


def cell_reads_credential(cell: dict[str, Any]) -> bool:
    """Whether a notebook cell is a code cell whose source reads or prints a credential
    by name."""
    if cell.get("cell_type", "code") != "code":
        return False
    source = cell.get("source")
    if isinstance(source, list) and all(isinstance(line, str) for line in source):
        source = "".join(source)
    text = source
    if not isinstance(text, str) or not any(word in text.lower() for word in _WORDS):
        return False
    last_line = text.rstrip().rpartition("\n")[2].strip()
    return bool(_READS_CREDENTIAL.search(text) or _SHOWS_CREDENTIAL.fullmatch(last_line))


def cells_reading_credentials(notebook: object) -> frozenset[int]:
    """Indices of code cells whose source reads or prints a credential by name."""
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        return frozenset()
    return frozenset(
        index
        for index, cell in enumerate(cells)
        if isinstance(cell, dict) and cell_reads_credential(cell)
    )


def context_matches(
    notebook: object, fragments: Sequence[Fragment], cells: frozenset[int] | None = None
) -> list[Match]:
    """Credential-shaped values in the outputs of cells that read a credential by name
    (``cells``: their indices, when known already)."""
    if cells is None:
        cells = cells_reading_credentials(notebook)
    if not cells:
        return []
    outputs = [
        fragment
        for fragment in fragments
        if fragment.cell_index in cells and fragment.field.startswith("outputs[")
    ]
    return _ENGINE.scan(outputs) if outputs else []


def merge(matches: Iterable[Match], extra: Iterable[Match]) -> list[Match]:
    """``matches`` and those of ``extra`` whose value is not already found on that line;
    a value only the fallback ``bare-token`` rule found is reported by its context."""
    kept = list(matches)
    index = {(id(m.fragment), m.line, m.value): i for i, m in enumerate(kept)}
    covered = {(id(m.fragment), m.line): m.value for m in kept}
    for match in extra:
        key = (id(match.fragment), match.line, match.value)
        if key in index:
            if kept[index[key]].rule.id == "bare-token":
                kept[index[key]] = match
            continue
        if match.value in covered.get(key[:2], ""):
            continue
        kept.append(match)
    return sorted(
        kept,
        key=lambda m: (
            -1 if m.fragment.cell_index is None else m.fragment.cell_index,
            m.fragment.field,
            m.line,
        ),
    )
