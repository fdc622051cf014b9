"""Values folded across lines, or cut into pieces a display separates.

``textwrap.fill(value, 20)`` prints a value in lines shorter than any piece
:mod:`.masking` looks for; its ``repr`` (a cell's last expression) writes the breaks as
``\\n``; a list of the value's chunks puts quotes, commas and spaces between them. Each
piece alone is too short to be told from ordinary text, but read with those separators
left out the text holds the value whole.

The masker's matcher looks for the runs of :data:`PROBE_LENGTH` characters that start a
value (its first :data:`PROBE_STARTS`, a *probe* each) beside its forms: a fold of a whole
value holds one in its first line or two. Only a text holding a probe is read again here:
with the separators left out, each value found whole is replaced, with the separators
between its pieces, by its label. Code highlighted in HTML (Pygments puts each token of
a string literal in its own ``<span>``: ``'p</span><span class="se">\\\\</span>...``) is
read as shown, its tags left out and its character references decoded, and probed by the
opening of a highlighted string (:data:`HIGHLIGHTED_STRING`). ``pprint`` cuts a long
``bytes`` value into adjacent literals (``b'...'\\n b'...'``) every few bytes, wherever
a value falls: each literal's ``b`` is a separator. A value cut into single characters (``list(value)``,
``print(*value)``, ``" ".join(value)``) is probed by its first characters joined as those
write them (:data:`JOINERS`). A fold between 2 and :data:`PROBE_LENGTH` - 1 characters
wide is not found.
"""

from __future__ import annotations

import bisect
import html
import json
import re
from collections.abc import Iterable

#: What a display puts between the pieces of a folded value: white space (line breaks
#: included), the escapes a ``repr`` writes for line breaks and tabs, the quotes and
#: commas of a list or tuple of pieces, and the ``b`` that opens each of the adjacent
#: ``bytes`` literals ``pprint`` cuts a long ``bytes`` value into (after white space or an
#: opening bracket: never a ``'b'`` among a value's characters).
SEPARATORS = re.compile(r"(?:\s|\\[nrt]|[\"',]|(?<![^\s(\[{:=])b(?=[\"']))+")
#: A backslash that, with the letter after it, reads as an escape in :data:`SEPARATORS`.
_ESCAPE_BEFORE = re.compile(r"\\(?=[nrt])")
_EDGES = re.compile(rf"^{SEPARATORS.pattern}|{SEPARATORS.pattern}$")
#: A probe is a run of this many characters of a value (its separators left out)...
PROBE_LENGTH = 6
#: ... starting at one of its first this many characters (a first line shorter than a
#: probe, cut at a hyphen, say, leaves the second line starting within them).
PROBE_STARTS = 2 * PROBE_LENGTH
#: How displays join a value's single characters: ``print(*value)`` and ``" ".join``, one
#: a line, ``repr(list(value))``, ``json.dumps(list(value))``, ``", ".join``, and NumPy's
#: array of them (``str(np.array(list(value)))``: ``['g' 'h' ...]``).
JOINERS = (" ", "\n", "', '", '", "', ", ", "' '")
#: How an HTML highlighter opens a string literal's token (Pygments' classes ``s``,
#: ``s1``, ``s2``, ``se``, ``si``...): a text holding it is read as shown.
HIGHLIGHTED_STRING = '<span class="s'
#: What a reading as shown leaves out besides the separators (tags), or decodes (character
#: references: one character each).
_AS_SHOWN = re.compile(
    rf"(?P<separator>{SEPARATORS.pattern})|(?P<tag><[^<>]{{0,300}}>)"
    r"|(?P<reference>&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,10});)"
)
#: A line of a hex dump (``xxd``, ``hexdump -C``, ``od -A x -t x1``, Python's hexdump
#: helpers): an offset, then bytes as hex in groups of 1 to 8 bytes, then, often, the same
#: bytes as text (``|...|`` or after two spaces), 16 to a line. The text column shows a
#: value 16 characters a line, and the hex column all of its bytes.
_DUMP_LINE = re.compile(
    r"(?m)^(?P<offset>[0-9a-fA-F]{4,16}):?(?P<hex>(?:[ \t]{1,3}(?:[0-9a-fA-F]{2}){1,8})+)"
    r"(?=[ \t]|$)[^\n]*$"
)
#: The most bytes a dump line is read as holding (``xxd -c 64`` and wider are left).
_DUMP_WIDTH = 64
#: A value shorter than this, its separators left out, is not looked for folded (eight
#: characters of a short value are too likely to be ordinary text).
FOLDED_MINIMUM = 16


def compacted(text: str) -> str:
    """``text`` with every separator left out."""
    return SEPARATORS.sub("", text)


class Unfolder:
    """Finds values folded across lines or split by separators, and masks them."""

    def __init__(self, parts: Iterable[tuple[str, str]]) -> None:
        """``parts``: (a value, or a part of one found on its own; its label)."""
        targets: dict[str, str] = {}
        #: The values as they are (separators at their ends left out): not folds.
        self._as_they_are: set[str] = set()
        for part, label in parts:
            # As written, as code writes it in a string literal (shown highlighted), and
            # in a ``bytes`` literal (``pprint`` of bytes: ``b'...'`` pieces).
            raw = repr(part.encode("utf-8", "surrogatepass"))[2:-1]
            for written in (part, repr(part)[1:-1], json.dumps(part)[1:-1], raw):
                target = compacted(written)
                if len(target) >= FOLDED_MINIMUM:
                    targets.setdefault(target, label)
                    self._as_they_are.add(_EDGES.sub("", written))
        #: Longest first: a value found whole is not also taken for a part of it.
        self._targets = sorted(targets.items(), key=lambda item: -len(item[0]))
        #: Every value's first characters (see :meth:`unfold`).
        self._heads = {target[:PROBE_LENGTH] for target in targets}
        #: The UTF-8 of each value and part, longest first: looked for in hex dumps.
        raws: dict[bytes, str] = {}
        for part, label in parts:
            raw_part = part.encode("utf-8", "surrogatepass")
            if len(raw_part) >= FOLDED_MINIMUM:
                raws.setdefault(raw_part, label)
        self._raws = sorted(raws.items(), key=lambda item: -len(item[0]))

    def __bool__(self) -> bool:
        return bool(self._targets)

    def probes(self) -> set[str]:
        """The probes of every value looked for."""
        probes = set()
        for target, _ in self._targets:
            starts = range(min(PROBE_STARTS, len(target) - PROBE_LENGTH + 1))
            probes |= {target[at : at + PROBE_LENGTH] for at in starts}
            probes |= {joiner.join(target[:PROBE_LENGTH]) for joiner in JOINERS}
        if probes:
            probes.add(HIGHLIGHTED_STRING)
        return probes

    def unfold(self, text: str) -> str | None:
        """``text`` with every value that appears whole once separators are left out, and
        only then (folded, or split into pieces), replaced by its label; None when
        there is none. A value as it is is left to the masker's forms."""
        dumped = self._undumped(text) if self._raws and (":" in text or "  " in text) else None
        if dumped is not None:
            return self.unfold(dumped) or dumped
        reading = _AS_SHOWN if HIGHLIGHTED_STRING in text else SEPARATORS
        found = self._found(text, reading)
        if not found and "\\" in text:
            # A backslash written just before a value that starts with n, r or t reads as
            # an escape that takes the value's first character with it: read again with
            # each such backslash taken as an ordinary character (same length, so the
            # places found are the text's).
            found = self._found(_ESCAPE_BEFORE.sub(self._literal_backslash, text), reading)
        if not found:
            return None
        out, position = [], 0
        for begin, finish, label in sorted(found):
            out += [text[position:begin], label]
            position = finish
        out.append(text[position:])
        return "".join(out)

    def _undumped(self, text: str) -> str | None:
        """``text`` with each line of a hex dump that shows a byte of a value replaced,
        after its offset, by the value's label; None when no dump in it shows one.

        The bytes are read from the hex column (the text column shows other bytes as
        ``.``), each line holding as many as the next line's offset says (16 in most
        dumps), so a text column made of hex digits is not read as bytes."""
        lines = list(_DUMP_LINE.finditer(text))
        if len(lines) < 2:
            return None
        # Runs of dump lines whose offsets go on from one to the next.
        blocks: list[list[tuple[re.Match[str], bytes]]] = []
        for index, line in enumerate(lines):
            digits = re.sub(r"\s", "", line["hex"])
            offset = int(line["offset"], 16)
            following = lines[index + 1] if index + 1 < len(lines) else None
            width = int(following["offset"], 16) - offset if following is not None else 0
            if not 0 < width <= _DUMP_WIDTH:
                width = len(blocks[-1][-1][1]) if blocks and blocks[-1] else 16
            data = bytes.fromhex(digits[: 2 * width]) if len(digits) % 2 == 0 else b""
            if not data:
                continue
            previous = blocks[-1][-1] if blocks and blocks[-1] else None
            if previous is None or int(previous[0]["offset"], 16) + len(previous[1]) != offset:
                blocks.append([])
            blocks[-1].append((line, data))
        masked: dict[int, tuple[re.Match[str], str]] = {}
        for block in blocks:
            joined = b"".join(data for _, data in block)
            ends = []
            total = 0
            for _, data in block:
                total += len(data)
                ends.append(total)
            for raw, label in self._raws:
                at = joined.find(raw)
                while at >= 0:
                    first = bisect.bisect_right(ends, at)
                    last = bisect.bisect_left(ends, at + len(raw))
                    for line, _ in block[first : last + 1]:
                        masked.setdefault(line.start(), (line, label))
                    at = joined.find(raw, at + len(raw))
        if not masked:
            return None
        out, position = [], 0
        for start in sorted(masked):
            line, label = masked[start]
            out += [text[position : line.end("offset")], "  ", label]
            position = line.end()
        out.append(text[position:])
        return "".join(out)

    def _literal_backslash(self, match: re.Match[str]) -> str:
        start = match.end()
        return "\x00" if match.string[start : start + PROBE_LENGTH] in self._heads else "\\"

    def _found(self, text: str, reading: re.Pattern[str]) -> list[tuple[int, int, str]]:
        """(begin, end, label) in ``text`` of each value found folded under ``reading``."""
        #: (where in text, where in the compacted text, and for a decoded reference the
        #: length of it in text: its one character stands for all of it).
        segments: list[tuple[int, int, int]] = []
        kept: list[str] = []
        position = length = 0
        for skipped in reading.finditer(text):
            if skipped.start() > position:
                segments.append((position, length, 0))
                kept.append(text[position : skipped.start()])
                length += skipped.start() - position
            reference = skipped.groupdict().get("reference")
            if reference:
                character = html.unescape(reference)
                if len(character) == 1 and not SEPARATORS.fullmatch(character):
                    segments.append((skipped.start(), length, len(reference)))
                    kept.append(character)
                    length += 1
            position = skipped.end()
        if position < len(text):
            segments.append((position, length, 0))
            kept.append(text[position:])
        joined = "".join(kept)
        starts = [at for _, at, _ in segments]

        def original(index: int, end: bool = False) -> int:
            where, at, reference = segments[bisect.bisect_right(starts, index) - 1]
            if reference:
                return where + (reference if end else 0)
            return where + index - at + (1 if end else 0)

        found: list[tuple[int, int, str]] = []
        taken: list[tuple[int, int]] = []
        for target, label in self._targets:
            at = joined.find(target)
            while at >= 0:
                end = at + len(target)
                if all(end <= first or at >= last for first, last in taken):
                    begin, finish = original(at), original(end - 1, end=True)
                    if text[begin:finish] not in self._as_they_are:
                        found.append((begin, finish, label))
                    taken.append((at, end))
                at = joined.find(target, at + 1)
        return found
