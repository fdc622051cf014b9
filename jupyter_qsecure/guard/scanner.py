"""Scan notebooks, contents models and files; report findings, never values."""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from .allowlist import Allowlist
from .archives import ArchiveError, ArchiveTooLarge, is_archive, members
from .binary import SAMPLE, decode_text, looks_binary, reencoded_text
from .cellcache import CellCache
from .codenames import NotebookNames
from .codetext import is_python_language, is_text_line, source_is_text
from .context import cell_reads_credential, context_matches
from .context import merge as merge_matches
from .engine import INJECTED_SECRET, Engine, Match, encode
from .findings import ARCHIVE_MEMBER, PARENT_NAME, Finding, Location, fingerprint, mask
from .names import name_fragments, shown_path
from .plugins import available_rules
from .rules import Rule
from .walker import (
    Fragment,
    json_fragments,
    notebook_fragments,
    parse_notebook,
    shadowed_fragments,
)

#: File name endings whose unquoted ``KEY=value`` lines are values, not references.
CONFIG_SUFFIXES = frozenset(
    {
        ".env",
        ".ini",
        ".cfg",
        ".conf",
        ".properties",
        ".yaml",
        ".yml",
        ".toml",
        ".npmrc",
        ".pypirc",
        ".netrc",
        ".sh",
        ".bash",
        ".zsh",
        ".envrc",
    }
)
#: File name endings of source code: there an unquoted ``password = word`` is a variable.
#: In every other file (text, configuration, Markdown, logs) it is a value.
CODE_SUFFIXES = frozenset(
    {
        ".py",
        ".pyi",
        ".ipy",
        ".js",
        ".mjs",
        ".cjs",
        ".ts",
        ".tsx",
        ".jsx",
        ".java",
        ".kt",
        ".scala",
        ".go",
        ".rs",
        ".c",
        ".h",
        ".cc",
        ".cpp",
        ".hpp",
        ".cs",
        ".swift",
        ".rb",
        ".php",
        ".pl",
        ".lua",
        ".r",
        ".jl",
        ".m",
        ".dart",
        ".groovy",
        ".vue",
        ".svelte",
    }
)
DEFAULT_MAX_BYTES = 100 * 1024 * 1024


class ScanInputError(ValueError):
    """Input the scanner cannot read as text or as a notebook; the message says why."""


@dataclass(frozen=True)
class ScanResult:
    """What a scan found: findings to report and how many were allowlisted."""

    findings: list[Finding]
    allowlisted: int = 0

    def __bool__(self) -> bool:
        return bool(self.findings)


@dataclass(frozen=True)
class NameScanResult(ScanResult):
    """What a scan of a path's names found, and the path as it may be shown: each value
    found written as its masked preview."""

    shown: str = ""


def is_config_file(path: str | PurePosixPath | Path) -> bool:
    """Whether unquoted ``KEY=value`` lines in this file hold values (``.env``, ``.ini``, YAML...)."""
    name = PurePosixPath(str(path)).name.lower()
    return (
        name.startswith(".env")
        or PurePosixPath(name).suffix in CONFIG_SUFFIXES
        or name in {".npmrc", ".pypirc", ".netrc"}
    )


def is_code_file(path: str | PurePosixPath | Path) -> bool:
    """Whether a file is source code, where unquoted ``name = value`` names a variable."""
    return PurePosixPath(str(path)).suffix.lower() in CODE_SUFFIXES


def _code_cells(notebook: object) -> frozenset[int]:
    """Indices of a notebook's code cells (their sources are code; the rest is text)."""
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        return frozenset()
    return frozenset(
        index
        for index, cell in enumerate(cells)
        if isinstance(cell, dict) and cell.get("cell_type", "code") == "code"
    )


def _cell_source(notebook: object, index: int) -> str | None:
    """The source of a notebook's cell as one string (None when it is no text)."""
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    cell = cells[index] if isinstance(cells, list) and 0 <= index < len(cells) else None
    source = cell.get("source", "") if isinstance(cell, dict) else None
    if isinstance(source, list) and all(isinstance(line, str) for line in source):
        return "".join(source)
    return source if isinstance(source, str) else None


def _unbound_names(
    notebook: object, code_cells: frozenset[int]
) -> Callable[[Fragment, int, str, bool], bool]:
    """For the engine: whether a name at a byte position of a code cell's source is bound
    to a target there and no code cell of ``notebook`` binds it (see :mod:`.codenames`)."""
    names = NotebookNames(lambda: (_cell_source(notebook, i) for i in sorted(code_cells)))
    whole: dict[int, bool] = {}  # by cell: whether its source fragment is its whole source

    def unbound(fragment: Fragment, position: int, name: str, final: bool) -> bool:
        index = fragment.cell_index
        if fragment.field != "source" or index is None or index not in code_cells:
            return False
        if index not in whole:  # not so for a source that is no text (walked as JSON)
            whole[index] = _cell_source(notebook, index) == fragment.text
        return whole[index] and names.unbound_value(fragment.text, position, name, final)

    return unbound


def _kernel_language(notebook: object) -> str:
    """The language of a notebook's kernel (``python`` when it does not say)."""
    metadata = notebook.get("metadata") if isinstance(notebook, dict) else None
    if not isinstance(metadata, dict):
        return "python"
    for key, field_name in (("kernelspec", "language"), ("language_info", "name")):
        section = metadata.get(key)
        if isinstance(section, dict) and isinstance(section.get(field_name), str):
            return str(section[field_name])
    return "python"


#: Binary content as text: printable ASCII as it is, every other byte a line break.
_PRINTABLE = bytes(b if b == 9 or 0x20 <= b <= 0x7E else 0x0A for b in range(256))
#: Rules read in binary content besides those whose format has a fixed prefix.
_BINARY_RULES = frozenset({"private-key"})
_NO_RULES = Engine((), use_hyperscan=False)
_binary_engines: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()
_binary_engines_lock = threading.Lock()


def _binary_engine(engine: Engine) -> Engine:
    """The rules of ``engine`` that are read in binary content (see
    :meth:`Scanner.scan_binary`), compiled once."""
    with _binary_engines_lock:
        found = _binary_engines.get(engine)
        if found is None:
            rules = [r for r in engine.rules if r.visible_prefix or r.id in _BINARY_RULES]
            found = _binary_engines[engine] = Engine(rules, use_hyperscan=engine.uses_hyperscan)
        return found


def _unglued(data: bytes, starts: Iterable[int]) -> bytes:
    """``data`` with a line break before each of ``starts`` that follows a letter or
    digit: binary formats store fields side by side (``github`` then ``ghp_...``)."""
    cuts = sorted(s for s in starts if s > 0 and data[s - 1 : s].isalnum())
    if not cuts:
        return data
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    return b"\n".join(pieces)


#: The longest field or cell id a finding reports (they hold a notebook's keys and ids).
MAX_PLACE_CHARS = 200


def previews_of(matches: Iterable[Match]) -> Callable[[str], str] | None:
    """A function writing every value of ``matches`` found in a text as its masked
    preview (longest first, so a value holding another is replaced whole); None when
    there is no value to write so."""
    found = {
        match.value: match.label or mask(match.value, match.rule.visible_prefix)
        for match in matches
        if match.value
    }
    if not found:
        return None
    values = sorted(found.items(), key=lambda item: -len(item[0]))

    def masked(text: str) -> str:
        for value, preview in values:
            if value in text:
                text = text.replace(value, preview)
        return text

    return masked


def _outermost_specific(matches: list[Match]) -> list[Match]:
    """One match per value and place: values known by name (injected) first, then the
    rules of a fixed prefix, then the longest; a value that overlaps one kept (inside it,
    or holding it) in the same place is left out."""
    ranked = sorted(
        matches,
        key=lambda m: (m.label is None, m.rule.visible_prefix == 0, -len(m.value)),
    )
    kept: list[Match] = []
    for match in ranked:
        if not any(
            other.fragment.field == match.fragment.field
            and (match.value in other.value or other.value in match.value)
            for other in kept
        ):
            kept.append(match)
    return kept


class _PlaceNames:
    """A finding's field and cell id as reported: a key or id that is itself a value
    found (or accepted) in the same scan is replaced by that value's masked preview, and
    what is longer than :data:`MAX_PLACE_CHARS` is cut short. A refusal, its audit event
    and the REST answer locate a credential without ever spelling it."""

    def __init__(self, matches: Sequence[Match]) -> None:
        self._masked = previews_of(matches)
        self._named: dict[str, str] = {}

    def name(self, text: str) -> str:
        """``text`` (a field or cell id) safe to report."""
        named = self._named.get(text)
        if named is None:
            named = text if self._masked is None else self._masked(text)
            if len(named) > MAX_PLACE_CHARS:
                named = named[: MAX_PLACE_CHARS - 1] + "…"
            self._named[text] = named
        return named


_MEMBER_NAME = "the name of an archive member"
#: Characters a member's name may hold that would forge lines or colours where it is shown.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _escaped(match: re.Match[str]) -> str:
    return (
        f"\\x{ord(match.group()):02x}"
        if ord(match.group()) < 0x100
        else f"\\u{ord(match.group()):04x}"
    )


def _in_member(finding: Finding, member: str) -> Finding:
    """``finding``, made in a file an archive holds, placed in that file."""
    place = finding.location
    field_name = f"{ARCHIVE_MEMBER} {member}"
    if place.cell_index is not None:
        field_name += f" (cell {place.cell_index + 1}, {place.field})"
    elif place.field == _MEMBER_NAME:
        field_name += " (its name)"
    elif place.field not in ("text", "binary"):
        field_name += f" ({place.field})"
    return replace(finding, location=Location(field_name, place.line))


@dataclass
class Scanner:
    """The guard's scanner: one compiled engine, an allowlist, and the limits.

    Thread-safe; build one and reuse it (compiling the rules takes a few milliseconds).
    """

    #: The built-in rules and those of rule plug-ins (``jupyter_qsecure.rules``), by default.
    engine: Engine = field(default_factory=lambda: Engine(available_rules()))
    allowlist: Allowlist = field(default_factory=Allowlist)
    max_bytes: int = DEFAULT_MAX_BYTES
    #: Exact strings to find, mapped to the secret's name (values injected into kernels).
    literals: Mapping[str, str] = field(default_factory=dict)
    #: Values printed by a cell that reads a credential by name count as that credential
    #: (see :mod:`.context`).
    notebook_context: bool = True

    @classmethod
    def with_rules(cls, rules: Sequence[Rule] | None = None, **kwargs: Any) -> Scanner:
        """A scanner over these rules (e.g. ``plugins.active_rules(disabled)``); by default
        every available rule, plug-ins included."""
        return cls(engine=Engine(available_rules() if rules is None else rules), **kwargs)

    def _report(self, matches: Iterable[Match], path: Path | None) -> ScanResult:
        findings: list[Finding] = []
        allowlisted = 0
        matches = list(matches)
        place = _PlaceNames(matches)
        for match in matches:
            # A live value injected into a kernel is never accepted, in any encoding.
            accepted = match.allowlisted_inline or self.allowlist.accepts(match.value, path)
            if accepted and match.rule is not INJECTED_SECRET:
                allowlisted += 1
                continue
            fragment = match.fragment
            findings.append(
                Finding(
                    rule=match.rule.id,
                    kind=match.rule.kind,
                    preview=match.label or mask(match.value, match.rule.visible_prefix),
                    fingerprint=fingerprint(match.value),
                    location=Location(
                        place.name(fragment.field),
                        match.line,
                        fragment.cell_index,
                        None if fragment.cell_id is None else place.name(fragment.cell_id),
                    ),
                )
            )
        return ScanResult(findings, allowlisted)

    def scan_fragments(
        self,
        fragments: Iterable[Fragment],
        *,
        path: Path | None = None,
        config_text: bool | Callable[[Fragment], bool] = False,
    ) -> ScanResult:
        """Scan prepared fragments (for callers with their own walker). ``config_text``:
        whether unquoted ``name = value`` counts, for all fragments or those it accepts."""
        matches = self.engine.scan(fragments, config_text=config_text, literals=self.literals)
        return self._report(matches, path)

    def scan_name(
        self, path: str, *, directory: bool = False, os_path: Path | None = None
    ) -> NameScanResult:
        """Scan the names of ``path`` (relative to the server root; its last name is a
        folder's when ``directory``): each as it is, percent-decoded, and cut where a token
        may begin or end (see :mod:`.names`). A finding's field is the place (``the file
        name``, ...) and its line 1; a value found inside another found in the same place
        (a bare token inside a GitHub token) is reported once, as the more specific rule
        found it; a comment cannot go into a name, so no pragma applies. ``os_path`` is
        where the baselines are looked for."""
        prefixes = _binary_engine(self.engine)

        def unglued(text: str) -> str:
            data = encode(text)
            return _unglued(data, prefixes.trigger_starts(data)).decode("utf-8", "surrogatepass")

        fragments = name_fragments(path, directory=directory, unglued=unglued)
        found = self.engine.scan(fragments, config_text=False, literals=self.literals)
        spanning = {value: name for value, name in self.literals.items() if "/" in value}
        if spanning:  # an injected value holding '/' is in no name, but in the path
            whole = [Fragment(path.strip("/"), PARENT_NAME)]
            found += _NO_RULES.scan(whole, literals=spanning)
        matches = _outermost_specific(
            [replace(match, allowlisted_inline=False) for match in found if match.value]
        )
        result = self._report(matches, os_path)
        findings = [
            replace(finding, location=replace(finding.location, line=1))
            for finding in result.findings
        ]
        return NameScanResult(findings, result.allowlisted, shown_path(path, previews_of(matches)))

    def scan_notebook(
        self, notebook: object, *, path: Path | None = None, cells: CellCache | None = None
    ) -> ScanResult:
        """Scan a parsed notebook (a dict as nbformat or the contents API gives it).

        Code cells' sources are code; Markdown, outputs and metadata are text, where an
        unquoted ``password = value`` holds a value. So are a Python notebook's code cells
        that are not Python (``%%bash``, prose, a pasted ``.env``), and its comments, shell
        lines and magics (see :mod:`.codetext`), and a bare name bound to a password that
        no code cell binds (see :mod:`.codenames`). With ``cells`` (and a ``path``), the
        cells unchanged since the last scan of ``path`` are not walked again (every
        fragment is still scanned; see :mod:`.cellcache`)."""
        walked = None
        if cells is not None and path is not None:
            walked = cells.walk(notebook, str(path), cell_reads_credential)
        if walked is None:
            fragments, encoded, reading = list(notebook_fragments(notebook)), None, None
            code_cells = _code_cells(notebook)
        else:
            fragments, encoded, reading, code_cells = walked
        python = is_python_language(_kernel_language(notebook))

        def is_text(fragment: Fragment) -> bool:
            if not (fragment.field == "source" and fragment.cell_index in code_cells):
                return True
            return python and source_is_text(fragment.text)

        matches = self.engine.scan(
            fragments,
            config_text=is_text,
            literals=self.literals,
            text_lines=is_text_line if python else None,
            encoded=encoded,
            unbound=_unbound_names(notebook, code_cells) if python else None,
        )
        if self.notebook_context:
            matches = merge_matches(matches, context_matches(notebook, fragments, reading))
        return self._report(matches, path)

    def scan_text(self, text: str, *, path: Path | None = None) -> ScanResult:
        """Scan a text file's content. ``.ipynb`` text is parsed and walked as a notebook."""
        if path is not None and path.suffix == ".ipynb":
            shadowed: list[tuple[str, object]] = []
            try:
                notebook = parse_notebook(text, shadowed)
            except ValueError:
                pass  # not JSON: still text that may hold a credential
            else:
                return self._with_shadowed(self.scan_notebook(notebook, path=path), shadowed, path)
        config = path is not None and (is_config_file(path) or not is_code_file(path))
        result = self.scan_fragments([Fragment(text, "text")], path=path, config_text=config)
        if path is not None and path.suffix.lower() == ".json":
            result = self._with_unescaped_json(text, path, result)
        return result

    def _with_shadowed(
        self, result: ScanResult, shadowed: list[tuple[str, object]], path: Path
    ) -> ScanResult:
        """A notebook file's scan, with what its repeated keys hide from the walk scanned
        too (see :func:`~.walker.parse_notebook`)."""
        if not shadowed:
            return result
        hidden = self.scan_fragments(list(shadowed_fragments(shadowed)), path=path)
        seen = {finding.fingerprint for finding in result.findings}
        extra = [finding for finding in hidden.findings if finding.fingerprint not in seen]
        return ScanResult(result.findings + extra, result.allowlisted + hidden.allowlisted)

    def _with_unescaped_json(self, text: str, path: Path, raw: ScanResult) -> ScanResult:
        """A JSON file also has its strings scanned unescaped (``"cmd": "pw=\\"...\\""``
        hides a quoted value from line rules); what the raw text found already counts once."""
        try:
            document = json.loads(text)
        except (ValueError, RecursionError):
            return raw
        unescaped = self.scan_fragments(json_fragments(document), path=path)
        seen = {finding.fingerprint for finding in raw.findings}
        extra = [finding for finding in unescaped.findings if finding.fingerprint not in seen]
        return ScanResult(raw.findings + extra, raw.allowlisted + unescaped.allowlisted)

    def scan_binary(self, raw: bytes, *, path: Path | None = None) -> ScanResult:
        """Binary content (a pickle, a database, an image): the text it holds as it is
        (its printable ASCII, as ``strings`` shows it) is scanned for credentials of a
        format with a fixed prefix (a provider's token, a private key) and for injected
        secrets' values. Other rules are not applied: binary data is no prose, and its
        runs of random bytes would read as tokens. An archive or compressed file is read
        as the files it holds (:mod:`.archives`), each scanned as a file of its name;
        raises :class:`ScanInputError` for one that unpacks past :attr:`max_bytes`."""
        if not is_archive(raw):
            return self._scan_strings(raw, path)
        read: list[ScanResult] = []
        unread: list[str] = []
        try:
            self._scan_archive(raw, path, read, unread)
            damaged = bool(unread)
        except ArchiveTooLarge as error:
            raise ScanInputError(
                f"an archive too large to scan: it {error} ({self.max_bytes:,} bytes)"
            ) from None
        except ArchiveError:
            damaged = True
        if damaged:  # what it held up to there, and its bytes as they are
            if looks_binary(raw):
                read.append(self._scan_strings(raw, path))
            else:  # text that starts like one ("BZh1 notes")
                read.append(self.scan_text(decode_text(raw), path=path))
        return ScanResult(
            [finding for result in read for finding in result.findings],
            sum(result.allowlisted for result in read),
        )

    def _scan_strings(self, raw: bytes, path: Path | None) -> ScanResult:
        data = raw.translate(_PRINTABLE)
        engine = _binary_engine(self.engine)
        glued = _unglued(data, engine.trigger_starts(data))
        matches = engine.scan([Fragment(glued.decode("ascii"), "binary")])
        if self.literals:  # injected values, in the text as it is
            matches += _NO_RULES.scan(
                [Fragment(data.decode("ascii"), "binary")], literals=self.literals
            )
        return self._report(matches, path)

    def _scan_archive(
        self, raw: bytes, path: Path | None, read: list[ScanResult], unread: list[str]
    ) -> None:
        """Each file of the archive ``raw`` scanned as a file of its name, into ``read``
        (kept when the archive turns out damaged further on; files that cannot be read
        named in ``unread``); a finding's place names the file (``archive member
        data/.env``)."""
        base = path if path is not None else Path("archive")
        for index, member in enumerate(members(raw, self.max_bytes, base.name, unread)):
            inside = PurePosixPath(*(p for p in member.name.split("/") if p not in ("", ".", "..")))
            member_path = base / inside
            if looks_binary(member.data):
                found = self._scan_strings(member.data, member_path)
            else:
                found = self.scan_text(decode_text(member.data), path=member_path)
            named = self.scan_fragments([Fragment(member.name, _MEMBER_NAME)])
            shown = f"{index + 1}" if named.findings else _CONTROL.sub(_escaped, member.name)
            if len(shown) > MAX_PLACE_CHARS:
                shown = shown[: MAX_PLACE_CHARS - 1] + "…"
            findings = [_in_member(finding, shown) for finding in found.findings]
            findings += [_in_member(finding, f"{index + 1}") for finding in named.findings]
            read.append(ScanResult(findings, found.allowlisted + named.allowlisted))

    def scan_bytes(self, raw: bytes, *, path: Path | None = None) -> ScanResult:
        """Scan a file's bytes (an archive as the files it holds); raises
        :class:`ScanInputError` for other binary or oversized input."""
        if len(raw) > self.max_bytes:
            raise ScanInputError(
                f"too large to scan ({len(raw):,} bytes; the limit is {self.max_bytes:,})"
            )
        if is_archive(raw):
            return self.scan_binary(raw, path=path)
        if looks_binary(raw):
            raise ScanInputError(
                "binary file (a NUL byte in its first 8 KiB, not UTF-16 or UTF-32 text); "
                "not scanned"
            )
        return self.scan_text(decode_text(raw), path=path)

    def scan_model(
        self, model: dict[str, Any], *, path: Path | None = None, cells: CellCache | None = None
    ) -> ScanResult:
        """Scan a Jupyter contents model about to be written (notebook, text or base64
        file); ``cells`` as for :meth:`scan_notebook`."""
        content = model.get("content")
        if content is None or model.get("type") == "directory":
            return ScanResult([])
        if model.get("type") == "notebook" or isinstance(content, (dict, list)):
            return self.scan_notebook(content, path=path, cells=cells)
        if not isinstance(content, str):
            raise ScanInputError(f"unexpected content of type {type(content).__name__}")
        if model.get("format") == "base64":
            try:
                raw = base64.b64decode(content.encode("ascii"), validate=False)
            except (binascii.Error, ValueError, UnicodeEncodeError) as error:
                raise ScanInputError(f"content is not valid base64 ({error})") from None
            if looks_binary(raw) or is_archive(raw):
                return self.scan_binary(raw, path=path)
            if len(raw) > self.max_bytes:
                raise ScanInputError(
                    f"too large to scan ({len(raw):,} bytes; the limit is {self.max_bytes:,})"
                )
            return self.scan_text(decode_text(raw), path=path)
        if len(content) > self.max_bytes:
            raise ScanInputError(
                f"too large to scan ({len(content):,} characters; the limit is {self.max_bytes:,})"
            )
        result = self.scan_text(reencoded_text(content), path=path)
        if "\x00" in content[:SAMPLE]:  # binary data that happens to be UTF-8
            raw = content.encode("utf-8", "surrogateescape")
            if looks_binary(raw):
                seen = {finding.fingerprint for finding in result.findings}
                extra = self.scan_binary(raw, path=path)
                more = [f for f in extra.findings if f.fingerprint not in seen]
                result = ScanResult(result.findings + more, result.allowlisted + extra.allowlisted)
        return result

    def scan_path(self, path: Path) -> ScanResult:
        """Scan one file on disk; raises :class:`ScanInputError` with the reason it cannot."""
        try:
            size = path.stat().st_size
            if size > self.max_bytes:
                raise ScanInputError(
                    f"too large to scan ({size:,} bytes; the limit is {self.max_bytes:,})"
                )
            raw = path.read_bytes()
        except OSError as error:
            raise ScanInputError(f"cannot read ({error.strerror or error})") from None
        if path.suffix == ".ipynb":
            if looks_binary(raw):
                raise ScanInputError("not a notebook (binary content)")
            shadowed: list[tuple[str, object]] = []
            try:
                notebook = parse_notebook(decode_text(raw), shadowed)
            except ValueError as error:
                raise ScanInputError(f"not a notebook: {error}") from None
            if not isinstance(notebook, dict) or not ({"cells", "worksheets"} & notebook.keys()):
                raise ScanInputError("not a notebook (no 'cells' list)")
            return self._with_shadowed(self.scan_notebook(notebook, path=path), shadowed, path)
        return self.scan_bytes(raw, path=path)
