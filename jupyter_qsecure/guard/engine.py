"""The matching engine: find candidate lines fast, then confirm them with each rule's regex.

All fragments are joined into one byte buffer. With Hyperscan (Vectorscan) every rule's
trigger is matched in one pass over the buffer; without it, Python's ``re`` looks for each
trigger in turn. Either way only the lines around a trigger are handed to the rule's full
regular expression and check, so the cost of a scan is about one pass over the text.
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from .rules import RULES, Rule
from .views import MARKERS, needs_reading, prompt_answers, readings, without_invisible
from .walker import Fragment

hyperscan: Any
try:  # Vectorscan wheels exist for Linux and macOS on x86_64 and arm64.
    import hyperscan
except ImportError:  # pragma: no cover - the pure-Python engine is tested on its own
    hyperscan = None

_PRAGMA = re.compile(r"pragma:\s*allowlist[ -]secret", re.IGNORECASE)
_PRAGMA_NEXTLINE = re.compile(r"pragma:\s*allowlist[ -]nextline[ -]secret", re.IGNORECASE)
#: A candidate line longer than this is only examined in a window around its trigger.
_LONG_LINE = 4096
_WINDOW_BEFORE = 320
_WINDOW_AFTER = 800
_MULTILINE_SPAN = 4096
#: A line of code where a bare name may be bound: ``name = value``, ``name: value``,
#: ``name=value)``, then nothing but a comment or a closing bracket.
_BARE_NAME_VALUE = re.compile(r"[=:][ \t]*(?P<name>(?!\d)\w+)[ \t\r]*(?:[,)}\]#]|$)")


@dataclass(frozen=True)
class Match:
    """A confirmed credential inside the scanner. Holds the value: it never leaves the
    guard package; :class:`~.findings.Finding` is what travels. ``label`` replaces the
    masked preview for values known by name (``[secret:NAME]``)."""

    rule: Rule
    value: str
    fragment: Fragment
    line: int
    allowlisted_inline: bool
    label: str | None = None


#: The rule of findings that are values injected into a running kernel.
INJECTED_SECRET = Rule("injected-secret", "Injected secret", r"(?P<secret>.+)", r"\A")


def encode(text: str) -> bytes:
    """A fragment's text as the engine scans it (UTF-8, lone surrogates kept)."""
    return text.encode("utf-8", "surrogatepass")


def _utf8_start(data: bytes, offset: int, floor: int) -> int:
    """Move ``offset`` back to the start of a UTF-8 character (never below ``floor``)."""
    while floor < offset < len(data) and 0x80 <= data[offset] < 0xC0:
        offset -= 1
    return offset


def _context_start(data: bytes, frag_start: int, line_start: int, rule: Rule) -> int:
    """Where a window with ``rule.context_before`` characters before the trigger's line
    starts: at the start of a line (a rule anchored with ``^`` must never see a line cut in
    the middle as a line of its own), never before the fragment."""
    cut = max(frag_start, line_start - rule.context_before)
    if cut > frag_start and data[cut - 1 : cut] != b"\n":
        cut = data.find(b"\n", cut, line_start) + 1 or line_start
    return cut


def _trigger_regex(trigger: str, ignore_case: bool) -> re.Pattern[bytes]:
    return re.compile(trigger.encode(), re.IGNORECASE if ignore_case else 0)


def _hyperscan_database(
    triggers: Sequence[tuple[str, bool]], once: Sequence[tuple[str, bool]] = ()
) -> Any:
    """One Hyperscan block-mode database of ``(trigger, ignore_case)`` pairs, ids in order;
    then those of ``once``, each reported at most once a scan."""
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    expressions = [*triggers, *once]
    single = hyperscan.HS_FLAG_SINGLEMATCH
    database.compile(
        expressions=[trigger.encode() for trigger, _ in expressions],
        ids=list(range(len(expressions))),
        elements=len(expressions),
        flags=[
            (hyperscan.HS_FLAG_CASELESS if caseless else 0)
            | (single if index >= len(triggers) else 0)
            for index, (_, caseless) in enumerate(expressions)
        ],
    )
    return database


def trigger_problem(trigger: str, ignore_case: bool = False) -> str | None:
    """Why ``trigger`` cannot join the engine's fast pass, or None: not a regular
    expression, matching the empty string (every position of the text would be a hit), or
    (with Hyperscan installed) not compilable by Hyperscan, whose database every rule
    shares."""
    try:
        regex = _trigger_regex(trigger, ignore_case)
    except (re.error, UnicodeEncodeError) as error:
        return f"its trigger {trigger!r} is not a regular expression ({error})"
    if regex.search(b""):
        return f"its trigger {trigger!r} matches the empty string"
    if hyperscan is not None:
        try:
            _hyperscan_database([(trigger, ignore_case)])
        except hyperscan.error as error:
            return f"Hyperscan cannot compile its trigger {trigger!r} ({error})"
    return None


def _on_text_lines(
    window: str, match: re.Match[str], text_lines: Callable[[str], bool] | None
) -> bool:
    """Whether every line from a match's name (or value) to its value is text inside code
    (see ``Engine.scan``)."""
    if text_lines is None:
        return False
    first = match.start("key") if "key" in match.re.groupindex else -1
    first = match.start("secret") if first < 0 else first
    start = window.rfind("\n", 0, first) + 1
    end = window.find("\n", match.end("secret"))
    lines = window[start : len(window) if end < 0 else end].split("\n")
    return all(text_lines(line) for line in lines if line.strip())


def _binds_unbound_name(
    unbound: Callable[[Fragment, int, str, bool], bool] | None,
    fragment: Fragment,
    line_offset: int,
    line_text: str,
) -> bool:
    """Whether a line of code (at byte ``line_offset`` in its fragment) binds a bare name
    that cannot exist there to a target (see ``Engine.scan``): asked before a rule's
    regular expression runs on the line."""
    if unbound is None:
        return False
    position, counted = line_offset, 0  # the byte position of character ``counted``
    for found in _BARE_NAME_VALUE.finditer(line_text):
        name = found.group("name")
        if not name.isidentifier():
            continue
        start = found.start("name")
        position += len(line_text[counted:start].encode("utf-8", "surrogatepass"))
        counted = start
        if unbound(fragment, position, name, False):
            return True
    return False


def _beyond_the_text(matches: list[Match], originals: list[Fragment]) -> list[Match]:
    """``matches`` without those in another reading of a fragment (see :mod:`.views`) whose
    value (without invisible characters) was found in a fragment of that place itself."""
    ids = {id(fragment) for fragment in originals}
    seen = {
        (m.fragment.field, m.fragment.cell_index, without_invisible(m.value))
        for m in matches
        if id(m.fragment) in ids
    }
    return [
        m
        for m in matches
        if id(m.fragment) in ids
        or (m.fragment.field, m.fragment.cell_index, without_invisible(m.value)) not in seen
    ]


class Engine:
    """Compiled rules, reusable across scans and threads (Hyperscan scratch is per call)."""

    def __init__(self, rules: Sequence[Rule] = RULES, *, use_hyperscan: bool = True) -> None:
        self.rules = tuple(rules)
        self._database = None
        self._local = threading.local()
        self._triggers = [_trigger_regex(rule.trigger, rule.ignore_case) for rule in self.rules]
        self._markers = re.compile(
            b"|".join(b"(?:%s)" % marker.encode() for marker, _ in MARKERS), re.IGNORECASE
        )
        if use_hyperscan and hyperscan is not None:
            self._database = _hyperscan_database(
                [(rule.trigger, rule.ignore_case) for rule in self.rules], MARKERS
            )

    @property
    def uses_hyperscan(self) -> bool:
        """Whether scans run on Hyperscan (else on Python's ``re``)."""
        return self._database is not None

    def _trigger_hits(self, data: bytes, marked: list[bool] | None = None) -> set[tuple[int, int]]:
        """(rule index, end offset) of every trigger occurrence, one per rule and line.
        ``marked`` (a list) gets True when ``data`` holds a marker of another reading
        (see :mod:`.views`)."""
        hits: set[tuple[int, int]] = set()
        rules = len(self.rules)
        if self._database is not None:

            def on_match(
                rule_index: int, _start: int, end: int, _flags: int, _context: object
            ) -> None:
                if rule_index < rules:
                    hits.add((rule_index, end))
                elif marked is not None:
                    marked.append(True)

            # Hyperscan's scratch space serves one scan at a time: one per thread (a save
            # scan and a status check's redaction run at once; sharing raised
            # ScratchInUseError).
            scratch = getattr(self._local, "scratch", None)
            if scratch is None:
                scratch = self._local.scratch = hyperscan.Scratch(self._database)
            self._database.scan(data, match_event_handler=on_match, scratch=scratch)
        else:
            for rule_index, trigger in enumerate(self._triggers):
                hits.update((rule_index, found.end()) for found in trigger.finditer(data))
            if marked is not None and self.rules and self._markers.search(data):
                marked.append(True)
        return hits

    def trigger_starts(self, data: bytes) -> set[int]:
        """Where a trigger of one of the rules begins in ``data``."""
        starts: set[int] = set()
        for rule_index, end in self._trigger_hits(data):
            for found in self._triggers[rule_index].finditer(data, max(0, end - 256), end):
                if found.end() == end:
                    starts.add(found.start())
        return starts

    def scan(
        self,
        fragments: Iterable[Fragment],
        *,
        config_text: bool | Callable[[Fragment], bool] = False,
        literals: Mapping[str, str] | None = None,
        text_lines: Callable[[str], bool] | None = None,
        encoded: Sequence[bytes] | None = None,
        unbound: Callable[[Fragment, int, str, bool], bool] | None = None,
    ) -> list[Match]:
        """Every credential in the fragments. ``config_text`` enables the rules for unquoted
        ``KEY=value`` lines (``.env``, ``.ini``, YAML, prose, outputs), which in code would
        be references: for every fragment, or for those the callable accepts (asked only
        about fragments where such a rule accepted a value). ``text_lines`` tells which
        lines of code are text all the same (comments, shell lines): there those rules
        apply when every line of their match is one.
        ``literals`` maps exact strings to find (injected values and their encodings) to
        the secret's name. ``encoded``: each fragment's text as :func:`encode` gives it,
        when the caller has them already (remembered for a cell seen before).
        ``unbound(fragment, position, name, final)`` tells whether a name at a UTF-8
        byte ``position`` of a fragment of code is bound to a target there, and cannot
        exist when the code runs (a value written without its quotes): then those rules
        judge it as in text. It is asked about a code line's bare names before the rules'
        expressions run on the line (not ``final``: it may say True of a name it has not
        looked up everywhere yet), and finally about a value a rule accepted there.
        A fragment is also read as a person sees it (see :mod:`.views`); what only that
        reading finds is reported at the fragment's place."""
        fragment_list = list(fragments)
        if encoded is None:
            encoded = [encode(fragment.text) for fragment in fragment_list]
        elif len(encoded) != len(fragment_list):
            raise ValueError(f"{len(encoded)} encoded texts for {len(fragment_list)} fragments")
        if not fragment_list:
            return []
        data = b"\n".join(encoded)
        marked: list[bool] = []
        hits = self._trigger_hits(data, marked)
        originals = len(fragment_list)
        prompted = [f for f in fragment_list if f.field.endswith(".stdin")]
        if marked or prompted:
            data, hits, fragment_list, encoded = self._with_readings(
                data, hits, fragment_list, list(encoded), marked=bool(marked)
            )
        starts: list[int] = []
        position = 0
        for chunk in encoded:
            starts.append(position)
            position += len(chunk) + 1

        text_fragments: dict[int, bool] = {}

        def is_text(index: int) -> bool:
            if not callable(config_text):
                return bool(config_text)
            if index not in text_fragments:
                text_fragments[index] = config_text(fragment_list[index])
            return text_fragments[index]

        seen_windows: set[tuple[int, int, int]] = set()
        unbound_lines: dict[int, bool] = {}  # by line start: binds a name that cannot exist
        found: dict[tuple[str, int, int], Match] = {}
        for rule_index, end in sorted(hits):
            rule = self.rules[rule_index]
            index = bisect_right(starts, min(end, len(data)) - 1) - 1
            if rule.config_only and text_lines is None and not is_text(index):
                continue
            frag_start = starts[index]
            frag_end = frag_start + len(encoded[index])
            line_start = max(
                data.rfind(b"\n", frag_start, max(frag_start, end - 1)) + 1, frag_start
            )
            on_code = False  # the trigger is on a line of code: only an unbound name counts
            if rule.config_only and text_lines is not None and not is_text(index):
                # In code, only text lines count, the trigger's among them: look no further
                # when it is code (the rule's own check would often reject it anyway), unless
                # it may bind a bare name to a target.
                trigger_end = data.find(b"\n", line_start, frag_end)
                trigger_line = data[line_start : frag_end if trigger_end < 0 else trigger_end]
                line_text = trigger_line.decode("utf-8", "surrogatepass")
                if not text_lines(line_text):
                    if line_start not in unbound_lines:  # several rules share a trigger line
                        unbound_lines[line_start] = _binds_unbound_name(
                            unbound, fragment_list[index], line_start - frag_start, line_text
                        )
                    if not unbound_lines[line_start]:
                        continue
                    on_code = True
            if rule.multiline:
                window_start = line_start
                window_end = _utf8_start(
                    data, min(frag_end, line_start + _MULTILINE_SPAN), line_start
                )
                if rule.context_before:
                    window_start = _context_start(data, frag_start, line_start, rule)
            else:
                line_end = data.find(b"\n", end - 1, frag_end)
                line_end = frag_end if line_end < 0 else line_end
                window_start, window_end = line_start, line_end
                if rule.context_before:
                    window_start = _context_start(data, frag_start, line_start, rule)
                if line_end - line_start > _LONG_LINE:
                    window_start = _utf8_start(
                        data, max(line_start, end - _WINDOW_BEFORE), line_start
                    )
                    window_end = _utf8_start(data, min(line_end, end + _WINDOW_AFTER), window_start)
            if (rule_index, window_start, window_end) in seen_windows:
                continue
            seen_windows.add((rule_index, window_start, window_end))
            window = data[window_start:window_end].decode("utf-8", "surrogatepass")
            # A one-line rule's lines before the trigger's are context: what is on them is
            # found from their own trigger, in a window where their own context comes first.
            earliest = window_start if rule.multiline else line_start
            for match in rule.regex.finditer(window):
                prefix = window[: match.start("secret")].encode("utf-8", "surrogatepass")
                offset = window_start + len(prefix)
                if offset < earliest:
                    continue
                # On a line of code, the value must be a bare name bound there: asked
                # first (its cell's parse, remembered); whether another cell binds it is
                # asked last, only about a value the rule takes.
                value = match.group("secret")
                position = offset - frag_start
                if on_code and not (
                    value.isidentifier()
                    and unbound is not None
                    and unbound(fragment_list[index], position, value, False)
                ):
                    continue
                if not rule.accepts(match):
                    continue
                if on_code and (
                    unbound is None or not unbound(fragment_list[index], position, value, True)
                ):
                    continue
                # Whether code is text is asked last, only about a value the rule takes.
                if (
                    rule.config_only
                    and not on_code
                    and not is_text(index)
                    and not _on_text_lines(window, match, text_lines)
                ):
                    continue
                found[(rule.id, index, offset)] = self._confirmed(
                    rule, match.group("secret"), fragment_list[index], data, frag_start, offset
                )
        for literal, name in (literals or {}).items():
            needle = literal.encode("utf-8", "surrogatepass")
            offset = data.find(needle)
            while offset >= 0:
                index = bisect_right(starts, offset) - 1
                confirmed = self._confirmed(
                    INJECTED_SECRET, literal, fragment_list[index], data, starts[index], offset
                )
                found[(INJECTED_SECRET.id, index, offset)] = replace(
                    confirmed, label=f"[secret:{name}]"
                )
                offset = data.find(needle, offset + len(needle))
        matches = list(found.values())
        if len(fragment_list) > originals:
            matches = _beyond_the_text(matches, fragment_list[:originals])
        return self._one_per_value_and_line(matches)

    def _with_readings(
        self,
        data: bytes,
        hits: set[tuple[int, int]],
        fragments: list[Fragment],
        encoded: list[bytes],
        *,
        marked: bool = True,
    ) -> tuple[bytes, set[tuple[int, int]], list[Fragment], list[bytes]]:
        """``data`` and its trigger ``hits``, ``fragments`` and their ``encoded`` texts,
        each with the other readings of the fragments that need one (see :mod:`.views`)
        added at the end; ``marked``: whether ``data`` holds a marker of one."""
        extra = [
            fragment._replace(text=reading)
            for fragment in fragments
            if marked and needs_reading(fragment.text)
            for reading in readings(fragment.text)
        ]
        for fragment in fragments:
            answers = prompt_answers(fragment.text) if fragment.field.endswith(".stdin") else None
            if answers is not None:
                extra.append(fragment._replace(text=answers))
        if not extra:
            return data, hits, fragments, encoded
        more = [encode(fragment.text) for fragment in extra]
        tail = b"\n".join(more)
        shift = len(data) + 1
        hits = hits | {(rule, end + shift) for rule, end in self._trigger_hits(tail)}
        return data + b"\n" + tail, hits, fragments + extra, encoded + more

    @staticmethod
    def _confirmed(
        rule: Rule, value: str, fragment: Fragment, data: bytes, frag_start: int, offset: int
    ) -> Match:
        line_start = max(data.rfind(b"\n", frag_start, offset) + 1, frag_start)
        line_end = data.find(b"\n", offset)
        line_end = len(data) if line_end < 0 else line_end
        line_text = data[line_start:line_end]
        allowlisted = bool(_PRAGMA.search(line_text.decode("utf-8", "replace")))
        if not allowlisted and line_start > frag_start:
            previous_start = max(data.rfind(b"\n", frag_start, line_start - 1) + 1, frag_start)
            previous = data[previous_start : line_start - 1]
            allowlisted = bool(_PRAGMA_NEXTLINE.search(previous.decode("utf-8", "replace")))
        line = data.count(b"\n", frag_start, line_start) + 1
        return Match(rule, value, fragment, line, allowlisted)

    def _one_per_value_and_line(self, matches: Iterable[Match]) -> list[Match]:
        """Where several rules found the same value on the same line, keep the first rule;
        a value that contains an injected secret is reported as that secret alone."""
        order = {rule.id: position + 1 for position, rule in enumerate(self.rules)}
        order[INJECTED_SECRET.id] = 0  # a value known by name says most
        best: dict[tuple[int, int, str], Match] = {}
        for match in matches:
            key = (id(match.fragment), match.line, match.value)
            current = best.get(key)
            if current is None or order[match.rule.id] < order[current.rule.id]:
                best[key] = match
        injected = {
            (key[0], key[1]): m.value for key, m in best.items() if m.rule is INJECTED_SECRET
        }
        kept = [
            m
            for (fragment, line, value), m in best.items()
            if m.rule is INJECTED_SECRET or injected.get((fragment, line), "\0") not in value
        ]
        return sorted(
            kept,
            key=lambda m: (
                -1 if m.fragment.cell_index is None else m.fragment.cell_index,
                m.fragment.field,
                m.line,
            ),
        )
