"""One code cell of a re-run against its execution record: ``reproduced``, ``within
tolerance``, ``volatile``, ``differs`` or ``not recorded``.

A record is evidence only for the code it ran and the outputs it printed: a cell whose code
was edited since, or that shows outputs the record does not name, does not reproduce, even
when the re-run prints what the record says. Outputs are compared whole: each output's
type, stream name, MIME types, every non-text value (an image) and its metadata must be
the same; only text (streams, ``text/*``, JSON and XML values, an error's name and value)
may differ, by what differs between runs by nature (:data:`NORMALISERS`) or by numbers
within the tolerance. Execution counts and tracebacks (a cell run again, a path in a
frame) are not results.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from ..provenance import execution_record
from ..signing.canonical import CanonicalFormError, canonical_outputs, outputs_digest, source_digest

REPRODUCED = "reproduced"
WITHIN_TOLERANCE = "within tolerance"
VOLATILE = "volatile"
DIFFERS = "differs"
NOT_RECORDED = "not recorded"
VOLATILE_TAG = "qsecure:volatile"
_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
#: Built-in normalisers: what differs between two runs by nature, never by result.
NORMALISERS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("memory addresses", re.compile(r"\b0x[0-9a-fA-F]{6,16}\b"), "0x<address>"),
    (
        "timestamps",
        re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"),
        "<timestamp>",
    ),
    (
        "durations",
        re.compile(r"\b\d+(?:\.\d+)?\s?(?:ns|µs|us|ms|s|sec|seconds|min|minutes)\b"),
        "<duration>",
    ),
    (
        "temporary paths",
        re.compile(r"(?:/tmp|/var/folders|/private/var/folders)/[^\s'\"]*"),
        "<tmp>",
    ),
)
_TEXT = "\0text"


@dataclass
class CellResult:
    """One code cell's outcome."""

    number: int
    cell_id: str | None
    result: str
    detail: str = ""
    diff: str = ""


def texts(outputs: Any) -> str:
    """The text a reader sees of ``outputs`` (streams, text/plain, JSON, errors), for diffs."""
    parts = []
    for output in outputs if isinstance(outputs, list) else []:
        if not isinstance(output, dict):
            continue
        if output.get("output_type") == "stream":
            text = output.get("text", "")
            parts.append("".join(map(str, text)) if isinstance(text, list) else str(text))
        elif output.get("output_type") in ("execute_result", "display_data"):
            data = output.get("data", {})
            data = data if isinstance(data, dict) else {}
            for kind in ("text/plain", "application/json"):
                if kind in data:
                    value = data[kind]
                    parts.append(
                        json.dumps(value, sort_keys=True)
                        if kind == "application/json"
                        else ("".join(map(str, value)) if isinstance(value, list) else str(value))
                    )
        elif output.get("output_type") == "error":
            parts.append(f"{output.get('ename')}: {output.get('evalue')}")
    return "\n".join(parts)


def normalise(text: str) -> tuple[str, set[str]]:
    """``text`` with the :data:`NORMALISERS`' matches replaced, and which of them matched."""
    found = set()
    for name, pattern, replacement in NORMALISERS:
        text, count = pattern.subn(replacement, text)
        if count:
            found.add(name)
    return text, found


def _close(a: str, b: str, rtol: float, atol: float) -> bool:
    x, y = float(a), float(b)
    if not (math.isfinite(x) and math.isfinite(y)):
        return a == b  # beyond a float: two different numbers both read as inf
    return math.isclose(x, y, rel_tol=rtol, abs_tol=atol)


def within_tolerance(before: str, after: str, rtol: float, atol: float) -> bool:
    """Whether two texts are the same but for numbers, each pair within ``atol + rtol*|x|``."""
    if _NUMBER.split(before) != _NUMBER.split(after):
        return False
    old, new = _NUMBER.findall(before), _NUMBER.findall(after)
    return len(old) == len(new) and all(
        _close(a, b, rtol, atol) for a, b in zip(old, new, strict=True)
    )


def _textual(mime: str) -> bool:
    return mime.startswith("text/") or mime.endswith(
        ("/json", "+json", "/xml", "+xml", "/javascript")
    )


@dataclass
class _Parts:
    """Outputs taken apart: what must be equal (``skeleton``), the text that may differ
    by nature or within tolerance (``texts``, labelled), and what is no result at all
    (execution counts, tracebacks)."""

    skeleton: list[Any]
    texts: list[tuple[str, str]]
    counts: list[Any]
    tracebacks: list[Any]


def _parts(outputs: Any) -> _Parts | None:
    try:
        forms = canonical_outputs(outputs)
    except (CanonicalFormError, TypeError, ValueError, AttributeError):
        return None
    parts = _Parts([], [], [], [])
    for number, form in enumerate(forms, start=1):
        kind = form["output_type"]
        if kind == "stream":
            parts.skeleton.append(("stream", form["name"], _TEXT))
            parts.texts.append((f"output {number} ({form['name']})", form["text"]))
        elif kind == "error":
            parts.skeleton.append(("error", _TEXT, _TEXT))
            parts.texts.append((f"output {number} (error name)", form["ename"]))
            parts.texts.append((f"output {number} (error value)", form["evalue"]))
            parts.tracebacks.append(form["traceback"])
        else:
            data = []
            for mime in sorted(form["data"]):
                value = form["data"][mime]
                if _textual(mime):
                    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
                    data.append((mime, _TEXT))
                    parts.texts.append((f"output {number} ({mime})", text))
                else:
                    data.append((mime, json.dumps(value, sort_keys=True)))
            metadata = json.dumps(form["metadata"], sort_keys=True)
            parts.skeleton.append((kind, tuple(data), metadata))
            parts.counts.append(form.get("execution_count"))
    return parts


def _what_differs(before: list[Any], after: list[Any]) -> str:
    """In words, the first difference between two skeletons."""
    if len(before) != len(after):
        return f"{len(after)} output(s) where the recorded run had {len(before)}"
    for number, (old, new) in enumerate(zip(before, after, strict=True), start=1):
        if old == new:
            continue
        if old[0] != new[0]:
            return f"output {number} is {_kind(new)} where the recorded run had {_kind(old)}"
        if old[0] == "stream":
            return f"output {number} went to {new[1]} where the recorded run printed to {old[1]}"
        if old[0] == "error":  # pragma: no cover - an error's skeleton has no other field
            return f"output {number} differs"
        old_data, new_data = dict(old[1]), dict(new[1])
        if set(old_data) != set(new_data):
            gone = sorted(set(old_data) - set(new_data))
            added = sorted(set(new_data) - set(old_data))
            return f"output {number}: MIME types differ (recorded only: {gone}, now only: {added})"
        for mime in sorted(old_data):
            if old_data[mime] != new_data[mime]:
                return f"output {number}: its {mime} differs"
        return f"output {number}: its metadata differs"
    return "the outputs differ"  # pragma: no cover - only called when skeletons differ


def _kind(part: Any) -> str:
    if part[0] == "stream":
        return f"a stream ({part[1]})"
    return f"an {part[0]}" if part[0] in ("error", "execute_result") else f"a {part[0]}"


def _ignored(before: _Parts, after: _Parts) -> set[str]:
    kinds = set()
    if before.counts != after.counts:
        kinds.add("execution counts")
    if before.tracebacks != after.tracebacks:
        kinds.add("tracebacks")
    return kinds


def _judge(before: _Parts, after: _Parts, rtol: float, atol: float) -> tuple[str, str]:
    """The result and its detail for two different sets of outputs."""
    if before.skeleton != after.skeleton:
        return DIFFERS, _what_differs(before.skeleton, after.skeleton)
    old = [text for _, text in before.texts]
    new = [text for _, text in after.texts]
    if old == new:
        return VOLATILE, "differs only in " + ", ".join(sorted(_ignored(before, after)))
    kinds = _ignored(before, after)
    normalised_old, normalised_new = [], []
    for a, b in zip(old, new, strict=True):
        (na, ka), (nb, kb) = normalise(a), normalise(b)
        normalised_old.append(na)
        normalised_new.append(nb)
        kinds |= ka | kb
    if normalised_old == normalised_new:
        return VOLATILE, "differs only in " + ", ".join(sorted(kinds))
    if (rtol or atol) and all(
        within_tolerance(a, b, rtol, atol) for a, b in zip(old, new, strict=True)
    ):
        return WITHIN_TOLERANCE, f"rtol={rtol}, atol={atol}"
    labels = [label for (label, a), b in zip(before.texts, new, strict=True) if a != b]
    return DIFFERS, f"{labels[0]} differs" + (f", and {len(labels) - 1} more" if labels[1:] else "")


def _digest(outputs: Any) -> str | None:
    try:
        return outputs_digest(outputs)
    except (CanonicalFormError, TypeError, ValueError, AttributeError):
        return None


def _source_digest(cell: dict[str, Any]) -> str | None:
    try:
        return source_digest(cell.get("source", ""))
    except (CanonicalFormError, TypeError, ValueError, AttributeError):
        return None


def _diff(before: Any, after: Any) -> str:
    import difflib

    return "".join(
        difflib.unified_diff(
            texts(before).splitlines(keepends=True),
            texts(after).splitlines(keepends=True),
            "recorded",
            "reproduced",
        )
    )


def compare_cell(
    number: int, cell: dict[str, Any], new: list[dict[str, Any]], rtol: float, atol: float
) -> CellResult:
    """The outcome of one code cell: its record against ``new``, the re-run's outputs."""
    cell_id = cell.get("id")
    cell_id = cell_id if isinstance(cell_id, str) else None
    execution = execution_record(cell)
    recorded = execution.get("outputs_digest") if execution is not None else None
    if execution is None or not isinstance(recorded, str) or not recorded:
        return CellResult(number, cell_id, NOT_RECORDED, "no recorded outputs digest")
    recorded_code = execution.get("code_sha256")
    if not isinstance(recorded_code, str) or not recorded_code:
        return CellResult(number, cell_id, NOT_RECORDED, "no recorded code digest")
    if _source_digest(cell) != recorded_code:
        return CellResult(
            number,
            cell_id,
            DIFFERS,
            "its code is not the code its record ran (edited after the recorded run)",
        )
    saved = cell.get("outputs", [])
    saved_is_recorded = _digest(saved) == recorded
    cleared = saved == [] and not saved_is_recorded
    if _digest(new) == recorded:
        if saved_is_recorded:
            return CellResult(number, cell_id, REPRODUCED)
        if cleared:
            return CellResult(
                number,
                cell_id,
                REPRODUCED,
                "the notebook's outputs were cleared; the re-run printed what the record says",
            )
    if not saved_is_recorded and not cleared:
        return CellResult(
            number,
            cell_id,
            DIFFERS,
            "the notebook shows outputs that are not the recorded ones",
            _diff(saved, new),
        )
    diff = _diff(saved, new) if saved_is_recorded else ""
    metadata = cell.get("metadata")
    tags = metadata.get("tags") if isinstance(metadata, dict) else None
    if isinstance(tags, list) and VOLATILE_TAG in tags:
        return CellResult(number, cell_id, VOLATILE, "marked volatile by the author", diff)
    if cleared:
        return CellResult(
            number, cell_id, DIFFERS, "the notebook's outputs were cleared: no diff", diff
        )
    before, after = _parts(saved), _parts(new)
    if before is None or after is None:
        return CellResult(number, cell_id, DIFFERS, "the outputs have no canonical form", diff)
    result, detail = _judge(before, after, rtol, atol)
    return CellResult(number, cell_id, result, detail, diff)
