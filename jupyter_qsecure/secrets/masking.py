"""Masking in the kernel: injected values never leave it in an output.

Every message the kernel sends (streams, results, displays, errors and tracebacks,
replies, comm messages: content, metadata and text buffers, dict keys as well as values)
has each injected value, in every form :mod:`.forms` lists, replaced by
``[secret:NAME]``; so do log records. One matcher finds every form of every secret at
once (Hyperscan's literal matcher where it is installed, one regular expression
otherwise), so the cost does not grow with the number of forms.

A value cut short by the display (pandas shows 50 characters of a column, the debugger
truncates long reprs) is masked from its first :data:`PIECE_LENGTH` characters on, and a
value cut in the middle wherever 31 characters of it in a row are shown; a value shorter
than 47 characters wherever all but 16 of its characters are (:func:`masked_run`). A value folded
across lines or split into separated pieces however narrow (``textwrap.fill(value, 8)``,
``list(value)``) is found whole by :mod:`.unfolding`.

Stream output is masked across message boundaries: the tail of a stream message that
could be the start of a value is held back and sent with the next write, after at most
:data:`HOLD_SECONDS`, or before any other message (the end of the cell included); a write
that goes on with a run of a value the stream's last writes ended in (a slice from the
middle of it, a few characters at a time) is masked from its start
(:meth:`Masker.mask_after`).

This stops accidents, not a user who wants the value out: code in the kernel can always
transform it first. Stdlib only (Hyperscan is imported once there are secrets).
"""

from __future__ import annotations

import binascii
import contextlib
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .forms import MIN_SECRET_LENGTH, encoded_forms, value_parts
from .unfolding import Unfolder

#: The longest a stream's held-back tail waits for the next write (seconds).
HOLD_SECONDS = 0.1
#: A form longer than this is also masked where only its first this many characters
#: (and any more of it) are shown: a display that cut it short; so is a value as it is
#: where any this many characters of it, from every PIECE_STRIDE-th, are shown (folded
#: across lines, cut in the middle): any 31 characters of it in a row. A shorter value
#: has shorter pieces (see :func:`masked_run`).
PIECE_LENGTH = 24
PIECE_STRIDE = 8
#: Wherever part of a value is shown, at least this many of its characters stay hidden:
#: a shown run of a value shorter than 47 characters that leaves fewer is masked.
HIDDEN_AT_LEAST = 16
#: ...but a run shorter than this is never masked (a password's common words).
SHORTEST_MASKED_RUN = 12
#: How much of what a stream sent, and of its next write, is read together to find a
#: value's run that goes on across the two (longer than any piece).
CONTINUED_WINDOW = 64
#: For how many streams (name, cell) the end of what they sent is kept.
SENT_KEYS = 8


def masked_run(length: int) -> int:
    """The shortest run of characters of a value ``length`` long that is masked wherever
    it is shown: all but :data:`HIDDEN_AT_LEAST` of them, at least
    :data:`SHORTEST_MASKED_RUN` and at most 31 (``key[:30]`` of a 32-character key left
    2 characters to guess; now ``key[:16]`` is masked)."""
    return max(SHORTEST_MASKED_RUN, min(PIECE_LENGTH + PIECE_STRIDE - 1, length - HIDDEN_AT_LEAST))


def _piece_shape(length: int) -> tuple[int, int]:
    """(piece length, stride) such that any :func:`masked_run` characters in a row of a
    value ``length`` long hold a whole piece: 24 and 8 for a value of 47 or more; for a
    shorter one, every run of exactly that length (at most 17 of them)."""
    run = masked_run(length)
    return (PIECE_LENGTH, PIECE_STRIDE) if run >= PIECE_LENGTH + PIECE_STRIDE - 1 else (run, 1)


def _agreeing(data: bytes, here: int, full: bytes, there: int, way: int) -> int:
    """How many bytes ``data`` and ``full`` have alike going on from ``here`` and
    ``there`` (``way`` 1: forwards, -1: backwards); slices compared, halving the length."""
    if way > 0:
        most = min(len(data) - here, len(full) - there)

        def alike(n: int) -> bool:
            return data[here : here + n] == full[there : there + n]
    else:
        most = min(here, there)

        def alike(n: int) -> bool:
            return data[here - n : here] == full[there - n : there]

    low, high = 0, most  # alike(low) holds; find the largest n <= high for which it does
    while low < high:
        middle = (low + high + 1) // 2
        if alike(middle):
            low = middle
        else:
            high = middle - 1
    return low


def _literal_database(literals: list[bytes]) -> Any:
    """A Hyperscan block-mode database of ``literals`` (leftmost starts reported), or None
    when Hyperscan is not installed or refuses one of them. A refusal is logged, naming
    no literal (they are the secrets' forms): masking then runs on regular expressions,
    as right and slower, which nobody would otherwise know."""
    try:
        import hyperscan
    except ImportError:
        return None
    try:
        database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        database.compile(
            expressions=literals,
            ids=list(range(len(literals))),
            elements=len(literals),
            flags=[hyperscan.HS_FLAG_SOM_LEFTMOST] * len(literals),
            literal=True,
        )
    except Exception as error:
        logging.getLogger(__name__).warning(
            "jupyter-qsecure: Hyperscan refused the masking forms (%s); masking uses "
            "regular expressions instead, more slowly",
            type(error).__name__,
        )
        return None
    return database


class _Matcher:
    """Finds the leftmost-longest, non-overlapping occurrences of a set of literals; an
    occurrence of a piece (``pieces``: piece -> (a form it is part of, where in it))
    reaches as far both ways as the text goes on as that form (a display that cut the
    value short or folded it across lines shows pieces of it). A text holding one of the
    ``unfolder``'s probes is also read with separators left out (:mod:`.unfolding`)."""

    def __init__(
        self,
        forms: Mapping[str, str],
        pieces: Mapping[str, list[tuple[str, int]]] | None = None,
        unfolder: Unfolder | None = None,
    ) -> None:
        self.labels = forms
        ordered = sorted(forms, key=len, reverse=True)
        self._ordered = ordered
        self._unfolder = unfolder if unfolder else None
        probes = sorted(self._unfolder.probes() - set(forms)) if self._unfolder else []
        pieces = pieces or {}
        #: Form index -> (the UTF-8 of a form it is a piece of, its byte offset there).
        self._longer = {
            index: [
                (
                    full.encode("utf-8", "surrogatepass"),
                    len(full[:at].encode("utf-8", "surrogatepass")),
                )
                for full, at in pieces[form]
            ]
            for index, form in enumerate(ordered)
            if form in pieces
        }
        #: No text shorter than this (in characters) holds a form: it is not scanned.
        self.shortest = min((len(form) for form in ordered), default=0)
        self._database: Any = None
        #: Hyperscan's scratch space is per thread: the kernel masks from its IOPub thread,
        #: its main thread (log records) and the fd relays at once, and a scan on a scratch
        #: in use by another thread fails.
        self._local = threading.local()
        self._database = _literal_database(
            [form.encode("utf-8", "surrogatepass") for form in ordered + probes]
        )
        if self._database is None:  # not installed, or a form it refuses
            self._regex = re.compile("|".join(re.escape(form) for form in ordered))
            self._index = {form: index for index, form in enumerate(ordered)}
            self._probe = re.compile("|".join(re.escape(probe) for probe in probes or ["(?!)"]))

    def _byte_spans(self, data: bytes) -> tuple[list[tuple[int, int, int]], bool]:
        """Leftmost-longest non-overlapping (start, end, form index) in ``data``, and
        whether it holds a probe."""
        found: list[tuple[int, int, int]] = []
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            import hyperscan

            scratch = self._local.scratch = hyperscan.Scratch(self._database)
        self._database.scan(
            data,
            match_event_handler=lambda id_, start, end, flags, ctx: found.append(
                (start, -end, id_)
            ),
            scratch=scratch,
        )
        found.sort()
        spans, position, probed, forms = [], 0, False, len(self._ordered)
        for start, negative_end, id_ in found:
            if id_ >= forms:
                probed = True
                continue
            if start < position:
                continue  # inside an occurrence already found (a piece of it, say)
            end = -negative_end
            if id_ in self._longer:
                first, end = self._extend(data, start, end, id_)
                start = max(first, position)
            spans.append((start, end, id_))
            position = end
        return spans, probed

    def _unfolded(self, text: str) -> str | None:
        """``text`` with its folded values masked (:mod:`.unfolding`); None when it holds
        none."""
        return self._unfolder.unfold(text) if self._unfolder is not None else None

    def _extend(self, data: bytes, start: int, end: int, index: int) -> tuple[int, int]:
        """The occurrence of a piece at ``start:end`` widened both ways as far as ``data``
        goes on as a form it is part of, within whole characters."""
        first, last = start, end
        for full, at in self._longer[index]:
            # Only whole characters of the form: never a character the text and the form
            # share the first bytes of only (the piece itself is whole characters).
            after = at + end - start
            ahead = _agreeing(data, end, full, after, 1)
            while ahead and after + ahead < len(full) and full[after + ahead] & 0xC0 == 0x80:
                ahead -= 1
            behind = _agreeing(data, start, full, at, -1)
            while behind and full[at - behind] & 0xC0 == 0x80:
                behind -= 1
            first, last = min(first, start - behind), max(last, end + ahead)
        return first, last

    def _text_spans(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, label) of each occurrence, in characters (the regular expression)."""
        spans = []
        data: bytes | None = None
        for match in self._regex.finditer(text):
            start, end = match.span()
            index = self._index[match.group()]
            if index in self._longer:
                if data is None:
                    data = text.encode("utf-8", "surrogatepass")
                begin = len(text[:start].encode("utf-8", "surrogatepass"))
                found = begin + len(match.group().encode("utf-8", "surrogatepass"))
                first, last = self._extend(data, begin, found, index)
                start = len(data[:first].decode("utf-8", "surrogatepass"))
                end = len(data[:last].decode("utf-8", "surrogatepass"))
            spans.append((start, end, self.labels[match.group()]))
        selected, position = [], 0
        for start, end, label in sorted(spans, key=lambda span: (span[0], -span[1])):
            if start >= position:
                selected.append((start, end, label))
                position = end
        return selected

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        """Where the occurrences are in ``text`` (character offsets), and their labels."""
        if self._database is None:
            return self._text_spans(text)
        data = text.encode("utf-8", "surrogatepass")

        def chars(offset: int) -> int:
            return len(data[:offset].decode("utf-8", "surrogatepass"))

        return [
            (chars(start), chars(end), self.labels[self._ordered[id_]])
            for start, end, id_ in self._byte_spans(data)[0]
        ]

    def replace_bytes(self, data: bytes) -> bytes:
        """``data`` with every occurrence of a form's UTF-8 bytes replaced by its label,
        whatever the bytes around it (binary data is left byte for byte as it was)."""
        if self._database is None:
            text = data.decode("utf-8", "surrogateescape")
            return self.replace(text).encode("utf-8", "surrogateescape")
        spans = self._byte_spans(data)[0]
        if not spans:
            return data
        out, position = [], 0
        for start, end, id_ in spans:
            out += [data[position:start], self.labels[self._ordered[id_]].encode()]
            position = end
        out.append(data[position:])
        return b"".join(out)

    def replace(self, text: str) -> str:
        """``text`` with every occurrence replaced by its label, folded ones included."""
        if self._database is None:
            if self._unfolder is not None and self._probe.search(text):
                text = self._unfolded(text) or text
            out, position = [], 0
            for start, end, label in self._text_spans(text):
                if start >= position:
                    out += [text[position:start], label]
                    position = end
            return "".join([*out, text[position:]]) if out else text
        data = text.encode("utf-8", "surrogatepass")
        spans, probed = self._byte_spans(data)
        if probed:
            unfolded = self._unfolded(text)
            if unfolded is not None:
                text = unfolded
                data = text.encode("utf-8", "surrogatepass")
                spans = self._byte_spans(data)[0]
        if not spans:
            return text
        out, position = [], 0
        for start, end, id_ in spans:
            out.append(data[position:start].decode("utf-8", "surrogatepass"))
            out.append(self.labels[self._ordered[id_]])
            position = end
        out.append(data[position:].decode("utf-8", "surrogatepass"))
        return "".join(out)


def _pieces(
    forms: Mapping[str, str], parts: list[tuple[str, str]]
) -> dict[str, tuple[str, list[tuple[str, int]]]]:
    """piece -> (label, [(the form or part it is in, where)]): the first
    :data:`PIECE_LENGTH` characters of every longer form (a display that cut the value
    short shows its beginning), and every :data:`PIECE_STRIDE` characters a piece of each
    longer part of a value as it is (a display that folded it across lines, or cut it in
    the middle, shows pieces of it). Text holding a piece is masked as far both ways as it
    goes on as that form."""
    pieces: dict[str, tuple[str, list[tuple[str, int]]]] = {}

    def add(piece: str, label: str, whole: str, at: int) -> None:
        if piece not in forms:
            pieces.setdefault(piece, (label, []))[1].append((whole, at))

    for form, label in forms.items():
        length = min(PIECE_LENGTH, masked_run(len(form)))
        if len(form) > length:
            add(form[:length], label, form, 0)
    for part, label in parts:
        length, stride = _piece_shape(len(part))
        last = len(part) - length
        for at in sorted({*range(stride, last, stride), last} - {0}) if last > 0 else ():
            add(part[at : at + length], label, part, at)
    return pieces


def _wide_forms(part: str) -> list[bytes]:
    """``part`` in UTF-32, both byte orders: NumPy keeps an array of strings so
    (``np.array([token])``), and its raw buffer or pickle in a comm message holds them.
    Looked for in buffers only (:meth:`Masker.mask_buffer`): no text holds the NUL bytes,
    which Hyperscan's literals cannot hold either."""
    return [part.encode(codec, "surrogatepass") for codec in ("utf-32-le", "utf-32-be")]


class Masker:
    """Replaces every known form of every secret in text and in message content."""

    def __init__(self, secrets: Mapping[str, str] | None = None) -> None:
        self._secrets: dict[str, str] = {}
        #: Values a refresh replaced (value -> name): still masked, as they may still be
        #: valid (a lease until it expires) and held by objects made before the refresh.
        self._retired: dict[str, str] = {}
        self._matcher: _Matcher | None = None
        self._heads: dict[str, list[str]] = {}
        self._longest = 0
        #: Every character of every form: a text ending in another one holds nothing back.
        self._characters: frozenset[str] = frozenset()
        #: The values' UTF-32 forms (:func:`_wide_forms`) -> label, and one pattern for all.
        self._wide: re.Pattern[bytes] | None = None
        self._wide_labels: dict[bytes, bytes] = {}
        self._lock = threading.Lock()
        self.update(secrets or {})

    def update(self, secrets: Mapping[str, str]) -> None:
        """Add or replace secrets (by name); a replaced value stays masked under its name.
        A value shorter than the usual minimum (one granted with ``allow_short``) is
        masked too, in its forms at least as long."""
        if not secrets:
            return
        with self._lock:
            for name, value in secrets.items():
                previous = self._secrets.get(name)
                if previous and previous != value:
                    self._retired[previous] = name
            self._secrets.update(secrets)
            labels: dict[str, str] = {}
            parts: list[tuple[str, str]] = []
            retired = sorted((name, value) for value, name in self._retired.items())
            for name, value in sorted(self._secrets.items()) + retired:
                if not value:
                    continue
                minimum = min(MIN_SECRET_LENGTH, len(value))
                for form in encoded_forms(value, minimum):
                    labels.setdefault(form, f"[secret:{name}]")
                parts += [(part, f"[secret:{name}]") for part in value_parts(value, minimum)]
            heads: dict[str, list[str]] = {}
            for form in labels:
                heads.setdefault(form[:2], []).append(form)
            self._heads = heads
            self._characters = frozenset("".join(labels))
            self._longest = max((len(form) for form in labels), default=0)
            pieces = _pieces(labels, parts)
            for piece, (label, _) in pieces.items():
                labels.setdefault(piece, label)
            wide = {form: label.encode() for part, label in parts for form in _wide_forms(part)}
            self._wide = (
                re.compile(b"|".join(map(re.escape, sorted(wide, key=len, reverse=True))))
                if wide
                else None
            )
            self._wide_labels = wide
            within = {piece: places for piece, (_, places) in pieces.items()}
            unfolder = Unfolder(parts)
            self._matcher = _Matcher(labels, within, unfolder) if labels else None

    def __bool__(self) -> bool:
        return self._matcher is not None

    def mask(self, text: str) -> str:
        """``text`` with every secret form replaced."""
        matcher = self._matcher
        if matcher is None or len(text) < matcher.shortest:
            return text  # keys, stream names, short words: nothing to scan
        return matcher.replace(text)

    def held_from(self, text: str) -> int:
        """Where the tail of ``text`` that could be the start of a value (in any form)
        begins; ``len(text)`` when none could."""
        heads, length = self._heads, len(text)
        if not length or text[-1] not in self._characters:
            return length  # most writes end in a line break, which few values hold
        for index in range(max(0, length - self._longest + 1), length):
            rest = text[index:]
            candidates = (
                heads.get(rest[:2], ())
                if len(rest) > 1
                else [form for head, forms in heads.items() if head[0] == rest for form in forms]
            )
            if any(len(form) > len(rest) and form.startswith(rest) for form in candidates):
                return index
        return length

    def split_held(self, text: str, sent: str = "") -> tuple[str, str]:
        """(``text`` up to its held-back tail, masked; the tail, as it is): the tail is
        what could be the start of a value, from the start of any value that crosses it.

        ``sent`` is the end of what the same stream sent before, unmasked: where a run of
        a value it ends in goes on into ``text`` far enough to be masked (a slice from the
        middle of a value, written a few characters at a time), the rest of the run is
        masked here. What was sent stays sent, so at most :func:`masked_run` - 1
        characters of the run are shown, as in one write."""
        cut = self.held_cut(text)
        return self.mask_after(sent, text[:cut]), text[cut:]

    def held_cut(self, text: str) -> int:
        """Where the tail :meth:`split_held` holds back begins."""
        cut = self.held_from(text)
        matcher = self._matcher
        if matcher is not None and cut < len(text):
            for start, end, _ in reversed(matcher.spans(text)):
                if start < cut < end:
                    cut = start
        return cut

    def mask_after(self, sent: str, text: str) -> str:
        """``text`` masked, its start included where a value's run that ``sent`` (the
        end of what the same stream sent before, unmasked) ends in goes on into it."""
        matcher = self._matcher
        if (
            matcher is None
            or not sent
            or not text
            # A run goes on across the two only through characters of a value; the run
            # of a value's line never through a line break (most writes end in one).
            or sent[-1] in "\r\n"
            or sent[-1] not in self._characters
            or text[0] not in self._characters
        ):
            return self.mask(text)
        continued = self._continued(matcher, sent[-CONTINUED_WINDOW:], text)
        return self.mask(text) if continued is None else continued

    def _continued(self, matcher: _Matcher, sent: str, head: str) -> str | None:
        joined = sent + head[:CONTINUED_WINDOW]
        found = [span for span in matcher.spans(joined) if span[0] < len(sent) < span[1]]
        if found and found[0][1] == len(joined) and len(head) > CONTINUED_WINDOW:
            joined = sent + head  # the run may go on past the window
            found = [span for span in matcher.spans(joined) if span[0] < len(sent) < span[1]]
        if not found:
            return None
        _, end, label = found[0]
        return label + self.mask(head[end - len(sent) :])

    def mask_content(self, value: Any) -> Any:
        """Message content with every string masked, dict keys too, as jupyter_client
        will serialize it: ``bytes`` as their base64 text, other iterables (sets,
        generators, arrays) as lists, and dict keys JSON cannot hold as their ``str``."""
        if self._matcher is None:
            return value
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, dict):
            return {self._mask_key(key): self.mask_content(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.mask_content(item) for item in value]
        if value is None or isinstance(value, (int, float)):
            return value
        if isinstance(value, bytes):
            encoded = binascii.b2a_base64(value, newline=False).decode("ascii")
            masked = self.mask(encoded)
            return value if masked == encoded else masked
        if isinstance(value, Iterable):
            return [self.mask_content(item) for item in value]
        return value

    def _mask_key(self, key: Any) -> Any:
        """A dict key masked: a string, or the ``str`` jupyter_client falls back to for a
        key JSON cannot hold (a tuple's repr, say)."""
        if isinstance(key, str):
            return self.mask(key)
        if key is None or isinstance(key, (int, float)):
            return key
        text = str(key)
        masked = self.mask(text)
        return key if masked == text else masked

    def mask_buffer(self, buffer: Any) -> Any:
        """A binary message buffer with every form's UTF-8 bytes replaced, whether the
        buffer is text or not (a pickle, an Arrow table, a file hold strings as UTF-8
        among other bytes); the buffer itself when it holds none."""
        matcher = self._matcher
        if matcher is None:
            return buffer
        try:
            data = bytes(buffer)
        except TypeError:  # not a buffer: jupyter_client refuses to send it anyway
            return buffer
        if len(data) < matcher.shortest:
            return buffer
        masked = matcher.replace_bytes(data)
        wide = self._wide
        if wide is not None and b"\0\0\0" in masked:
            labels = self._wide_labels
            masked = wide.sub(lambda match: labels[match.group()], masked)
        return buffer if masked == data else masked


class _Capture:
    """Where ``Session.send`` hands a message's frames instead of to ipykernel's IOPub
    socket: serialized while the order is decided, sent after (:class:`_Streams`)."""

    def __init__(self) -> None:
        self.frames: list[Any] | None = None
        self.options: dict[str, Any] = {}

    def send_multipart(self, frames: list[Any], **options: Any) -> None:
        self.frames, self.options = frames, options


def _iopub(stream: Any) -> Any:
    """ipykernel's IOPub thread when ``stream`` is its output socket (the thread itself, as
    streams send through, or the socket-like wrapper status and displays go through)."""
    io = getattr(stream, "io_thread", None) or stream
    return io if callable(getattr(io, "schedule", None)) else None


class _Streams:
    """The order output leaves in: stream text held back per (stream name, parent
    message), released by the next write, a timer or any other output, and the messages
    decided but not yet handed to the IOPub socket.

    The order is decided under :attr:`lock`, and each message serialized there; the frames
    are handed on outside it (:meth:`flush`). Handing a message to ipykernel's IOPub socket
    can block: each thread signals the IOPub thread through its own event pipe, which holds
    about 2,000 signals, and a cell printing with ``flush=True`` fills the main thread's.
    Handing on under the lock let the IOPub thread, flushing buffered output through this
    masking, wait for the lock while its holder waited for the IOPub thread: the kernel
    hung. So the IOPub thread never waits here: when another thread is handing messages
    on, that thread sends the IOPub thread's too, in order. When nothing waits to be
    handed on, the IOPub thread sends its own output at once (:attr:`direct`): blocked
    on its own event pipe, it would be stuck with or without this masking."""

    def __init__(self, masker: Masker, delay: float) -> None:
        self.masker = masker
        self.delay = delay
        self.lock = threading.RLock()
        #: key -> (held raw text, the message it came from, stream, ident, deadline)
        self.held: dict[tuple[str, str], tuple[str, dict[str, Any], Any, Any, float]] = {}
        #: key -> the end of the raw text sent, for the latest few keys (a cell's output
        #: shows its writes joined: :meth:`Masker.mask_after`).
        self.sent: dict[tuple[str, str], str] = {}
        #: (stream, frames, send options) decided and serialized, not yet handed on.
        self.outbox: deque[tuple[Any, list[Any], dict[str, Any]]] = deque()
        #: Held by the one thread handing the outbox on.
        self.sending = threading.Lock()
        #: ipykernel's IOPub thread (its ident), once a message for it is seen.
        self.io_thread: int | None = None
        #: Set (under the lock) while the IOPub thread sends its own messages at once.
        self.direct = False
        self._wake = threading.Condition(self.lock)
        self._timer: threading.Thread | None = None

    def masked(self, key: tuple[str, str], raw: str) -> str:
        """``raw``, about to be sent on ``key``'s stream, masked after what went before;
        under the lock."""
        sent = self.sent.pop(key, "")
        masked = self.masker.mask_after(sent, raw)
        self.sent[key] = (sent + raw)[-CONTINUED_WINDOW:]
        while len(self.sent) > SENT_KEYS:
            del self.sent[next(iter(self.sent))]
        return masked

    def flush(self) -> None:
        """Hand the outbox on, in order; never under :attr:`lock`. Another thread waits
        for the one handing on (and so is held back as ipykernel holds back a thread
        that outpaces its IOPub thread); the IOPub thread leaves its messages to it."""
        wait = threading.get_ident() != self.io_thread
        while self.outbox:
            if not self.sending.acquire(blocking=wait):
                return  # the thread handing on sends ours, and checks again after
            try:
                while True:
                    with self.lock:
                        if not self.outbox:
                            break
                        stream, frames, options = self.outbox.popleft()
                    stream.send_multipart(frames, **options)
            finally:
                self.sending.release()

    def start_timer(self, release: Callable[[float], None]) -> None:
        """Start the thread that releases tails once due (once; it runs for the kernel's
        life)."""
        if self._timer is not None:
            return

        def run() -> None:
            while True:
                with self.lock:
                    while True:
                        if not self.held:
                            self._wake.wait()
                            continue
                        now = time.monotonic()
                        due = min(entry[4] for entry in self.held.values())
                        if due <= now:
                            break
                        self._wake.wait(due - now)
                    try:
                        release(now)
                    except Exception as error:  # dropped, never sent unmasked; keep going
                        logging.getLogger(__name__).warning(
                            "jupyter-qsecure: held-back output dropped (%s)", type(error).__name__
                        )
                self.flush()

        self._timer = threading.Thread(target=run, name="qsecure-stream-release", daemon=True)
        self._timer.start()

    def notify(self) -> None:
        self._wake.notify()


def _stream_key(msg: dict[str, Any]) -> tuple[str, str]:
    parent = msg.get("parent_header") or {}
    return str((msg.get("content") or {}).get("name", "")), str(parent.get("msg_id", ""))


def mask_session(session: Any, masker: Masker, delay: float = HOLD_SECONDS) -> None:
    """Mask every message a jupyter_client Session sends: content (keys too), metadata
    and text buffers; join stream text across messages as the module docstring says.
    Install it last, so that whatever else wraps ``session.send`` sees masked messages."""
    original = session.send
    streams = _Streams(masker, delay)

    def queue(stream: Any, msg: dict[str, Any], ident: Any, buffers: Any = None) -> Any:
        """Serialize ``msg`` (through the wrappers below this one) into the outbox, or
        send it at once when :attr:`_Streams.direct`; under the lock."""
        if streams.direct:
            return original(stream, msg, ident=ident, buffers=buffers)
        capture = _Capture()
        sent = original(capture, msg, ident=ident, buffers=buffers)
        if capture.frames is not None:  # None: Session.send refused (a forked process)
            streams.outbox.append((stream, capture.frames, capture.options))
        return sent

    def release(now: float | None = None) -> None:
        """Queue held tails (all of them, or those due at ``now``); under the lock."""
        for key, (text, source, stream, ident, deadline) in list(streams.held.items()):
            if now is not None and deadline > now:
                continue
            del streams.held[key]
            content = {**source["content"], "text": streams.masked(key, text)}
            msg = session.msg("stream", content=content, parent=source.get("parent_header"))
            queue(stream, msg, ident)

    def send(
        stream: Any,
        msg_or_type: Any,
        content: Any = None,
        parent: Any = None,
        ident: Any = None,
        buffers: Any = None,
        track: bool = False,
        header: Any = None,
        metadata: Any = None,
    ) -> Any:
        if not masker:
            return original(
                stream, msg_or_type, content, parent, ident, buffers, track, header, metadata
            )
        if isinstance(msg_or_type, dict):
            msg = msg_or_type
            buffers = buffers or msg.get("buffers")
            content = msg.get("content")
        else:
            msg = session.msg(
                msg_or_type, content=content, parent=parent, header=header, metadata=metadata
            )
        msg_type = (msg.get("header") or {}).get("msg_type") or msg.get("msg_type")
        body = msg.get("content")
        text = None
        if msg_type == "stream" and isinstance(body, dict) and isinstance(body.get("text"), str):
            # The text itself is masked once, joined with what is held (_queue_stream).
            text = body["text"]
            body = {key: value for key, value in body.items() if key != "text"}
        metadata = msg.get("metadata")
        msg = {
            **msg,
            "content": masker.mask_content(body),
            "metadata": masker.mask_content(metadata) if metadata else {},
        }
        msg.pop("buffers", None)
        if buffers:
            buffers = [masker.mask_buffer(buffer) for buffer in buffers]
        io = _iopub(stream)
        if io is not None and streams.io_thread is None:
            streams.io_thread = io.thread.ident
        if io is None and text is None:
            # Replies on the shell, control and stdin channels: sent by the thread that
            # owns that socket, as they are; held output goes first.
            with streams.lock:
                release()
            streams.flush()
            return original(stream, msg, ident=ident, buffers=buffers, track=track)
        own = threading.get_ident() == streams.io_thread
        with streams.lock:
            streams.direct = own and not streams.outbox and streams.sending.acquire(False)
            try:
                if text is not None:
                    sent = _queue_stream(msg, text, stream, ident)
                else:
                    release()
                    sent = queue(stream, msg, ident, buffers)
            finally:
                if streams.direct:
                    streams.direct = False
                    streams.sending.release()
        if streams.outbox:
            streams.flush()
        return sent

    def _queue_stream(msg: dict[str, Any], raw_text: str, stream: Any, ident: Any) -> Any:
        """Queue what cannot be the start of a value, masked; hold the rest (under the
        lock). ``msg``'s content is masked already, without its text."""
        key = _stream_key(msg)
        if streams.held:
            held = streams.held.pop(key, None)
            # Other streams' tails go first, so the output keeps its order.
            release()
            if held:
                raw_text = held[0] + raw_text
        cut = masker.held_cut(raw_text)
        head, tail = (streams.masked(key, raw_text[:cut]) if cut else ""), raw_text[cut:]
        if tail:
            streams.held[key] = (tail, msg, stream, ident, time.monotonic() + streams.delay)
            streams.start_timer(release)
            streams.notify()
        if not head:
            return None
        return queue(stream, {**msg, "content": {**msg["content"], "text": head}}, ident)

    def release_all() -> None:
        with streams.lock:
            release()
        streams.flush()

    session.send = send
    session.qsecure_release_streams = release_all


def mask_logging(masker: Masker) -> None:
    """Mask every log record as it is made (whatever handler later writes it)."""
    factory = logging.getLogRecordFactory()

    def make_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        if masker:
            message = record.getMessage()
            masked = masker.mask(message)
            if masked != message:
                record.msg, record.args = masked, None
            if record.exc_info and record.exc_info[0] is not None:
                # Handlers format the traceback later; give them a masked one now.
                record.exc_text = masker.mask(logging.Formatter().formatException(record.exc_info))
        return record

    logging.setLogRecordFactory(make_record)


def mask_fd_echo(stream: Any, fd: int, masker: Masker, delay: float = HOLD_SECONDS) -> int:
    """Mask file-descriptor output (``os.system``, subprocesses, C libraries) before it
    reaches the kernel's original stdout/stderr, which is the Jupyter server's log.

    ipykernel captures fd output for the notebook and echoes the raw bytes to a copy of
    the original descriptor (``stream._original_stdstream_copy``); without that capture,
    ``fd`` itself reaches the server. Either descriptor is made to write into a pipe whose
    reader masks (joining chunks as streams are joined) and writes on. Returns the
    descriptor masked."""
    import os
    import select

    echo = getattr(stream, "_original_stdstream_copy", None)
    if not isinstance(echo, int):
        echo = fd
    reader, writer = os.pipe()
    real = os.dup(echo)
    os.dup2(writer, echo)
    os.close(writer)

    def relay() -> None:
        held, sent = b"", ""
        while True:
            ready, _, _ = select.select([reader], [], [], delay if held else None)
            chunk = os.read(reader, 65536) if ready else b""
            if ready and not chunk:
                break
            try:
                text = (held + chunk).decode("utf-8", "surrogateescape")
                cut = masker.held_cut(text) if chunk else len(text)
                out = masker.mask_after(sent, text[:cut]).encode("utf-8", "surrogateescape")
                held = text[cut:].encode("utf-8", "surrogateescape")
                sent = (sent + text[:cut])[-CONTINUED_WINDOW:]
            except Exception:  # never echo unmasked, never stop reading (writers would block)
                out, held = b"", b""
            if out:
                # The server's stream may be gone: drop the echo then, never block the kernel.
                with contextlib.suppress(OSError):
                    os.write(real, out)
        if held:
            try:
                text = masker.mask_after(sent, held.decode("utf-8", "surrogateescape"))
                os.write(real, text.encode("utf-8", "surrogateescape"))
            except OSError:
                pass

    threading.Thread(target=relay, name="qsecure-fd-echo", daemon=True).start()
    return echo
