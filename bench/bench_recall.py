"""Recall and negatives flagged: jupyter-qsecure, detect-secrets and CredSweeper, same run.

Three suites: our labelled corpus (tests/corpus.py), TruffleHog's detector test vectors and
Nosey Parker's rule examples (suites nobody on this project wrote, from the shared data
folder beside the repository). Each text is written to its own ``.txt`` file; every tool
scans those files in-process with its defaults (detect-secrets: default plugins and
filters; CredSweeper: default rules, ML threshold ``medium``). jupyter-qsecure also scans
each text in every notebook form (code source as a string and as a list of lines,
Markdown, stream, text/plain, HTML, traceback, cell metadata): recall there should equal
the text files'.

Nosey Parker's positives count only in its ``default`` rule set (the others find
identifiers and hashes, not secrets); its negatives are all counted. A negative of one
rule can be a credential of another kind: ``--verbose`` prints each flagged negative.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from corpus import NEGATIVES, POSITIVES  # noqa: E402

from jupyter_qsecure.guard import Scanner  # noqa: E402

PEER = ROOT.parent / "shared" / "data" / "peer"
TRUFFLEHOG = PEER / "trufflehog_vectors.jsonl"
NOSEYPARKER = PEER / "noseyparker_examples.jsonl"


def _code(source: Any) -> dict[str, Any]:
    return {"cell_type": "code", "source": source, "metadata": {}, "outputs": []}


def _with_output(output: dict[str, Any]) -> dict[str, Any]:
    return {**_code("run()"), "execution_count": 1, "outputs": [output]}


def _result(data: dict[str, Any]) -> dict[str, Any]:
    return {"output_type": "execute_result", "execution_count": 1, "metadata": {}, "data": data}


FORMS: dict[str, Callable[[str], dict[str, Any]]] = {
    "code source (string)": lambda t: _code(t),
    "code source (list)": lambda t: _code(t.splitlines(keepends=True)),
    "markdown": lambda t: {"cell_type": "markdown", "source": t, "metadata": {}},
    "stream": lambda t: _with_output({"output_type": "stream", "name": "stdout", "text": t}),
    "text/plain": lambda t: _with_output(_result({"text/plain": t})),
    "text/html": lambda t: _with_output(_result({"text/html": f"<pre>{t}</pre>"})),
    "traceback": lambda t: _with_output(
        {"output_type": "error", "ename": "E", "evalue": "", "traceback": [t]}
    ),
    "metadata": lambda t: {**_code("x"), "metadata": {"notes": t}},
}


def _notebook(cell: dict[str, Any]) -> dict[str, Any]:
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [cell]}


def write_files(folder: Path, texts: list[str]) -> list[Path]:
    """Each text in its own ``.txt`` file, in order."""
    paths = []
    for index, text in enumerate(texts):
        path = folder / f"sample{index:04d}.txt"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def ours_flags(paths: list[Path]) -> list[bool]:
    scanner = Scanner()
    return [bool(scanner.scan_path(path).findings) for path in paths]


def ours_form_flags(texts: list[str]) -> dict[str, list[bool]]:
    scanner = Scanner()
    return {
        form: [bool(scanner.scan_notebook(_notebook(build(text))).findings) for text in texts]
        for form, build in FORMS.items()
    }


def detect_secrets_flags(paths: list[Path]) -> list[bool]:
    from detect_secrets import SecretsCollection
    from detect_secrets.settings import default_settings

    flagged = []
    with default_settings():
        for path in paths:
            collection = SecretsCollection()
            collection.scan_file(str(path))
            flagged.append(bool(collection.data))
    return flagged


def credsweeper_flags(folder: Path, paths: list[Path]) -> list[bool] | None:
    try:
        from credsweeper.app import CredSweeper
        from credsweeper.file_handler.files_provider import FilesProvider
    except ImportError:
        return None
    sweeper = CredSweeper()
    providers = FilesProvider([folder]).get_scannable_files(sweeper.config)
    sweeper.scan(providers, None)
    sweeper.post_processing(None)
    found = {
        Path(candidate.line_data_list[0].path).name
        for candidate in sweeper.credential_manager.get_credentials()
    }
    return [path.name in found for path in paths]


def report(
    name: str,
    positives: list[str],
    negatives: list[str],
    groups: list[str] | None = None,
    verbose: bool = False,
    negative_labels: list[str] | None = None,
) -> None:
    texts = positives + negatives
    count = len(positives)
    with tempfile.TemporaryDirectory() as folder:
        paths = write_files(Path(folder), texts)
        tools: dict[str, list[bool] | None] = {
            "jupyter-qsecure": ours_flags(paths),
            "detect-secrets": detect_secrets_flags(paths),
            "CredSweeper": credsweeper_flags(Path(folder), paths),
        }
    print(f"{name}: {count} positives, {len(negatives)} negatives")
    for tool, flags in tools.items():
        if flags is None:
            print(f"  {tool:16} not installed")
            continue
        found = sum(flags[:count])
        print(
            f"  {tool:16} recall {found}/{count} = {found / count:.3f}   "
            f"negatives flagged {sum(flags[count:])}/{len(negatives)}"
            f" = {sum(flags[count:]) / max(1, len(negatives)):.3f}"
        )
    ours = tools["jupyter-qsecure"]
    assert ours is not None
    forms = ours_form_flags(texts)
    in_text = sum(ours[:count])
    differ = {
        form: sum(flags[:count]) for form, flags in forms.items() if sum(flags[:count]) != in_text
    }
    print(
        f"  jupyter-qsecure in notebook forms: recall {in_text}/{count} in "
        f"{len(FORMS) - len(differ)} of {len(FORMS)} forms"
        + "".join(f"; {form} {found}/{count}" for form, found in differ.items())
    )
    if groups is not None:
        by_group: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for group, flag in zip(groups, ours[:count], strict=True):
            by_group[group][0] += int(flag)
            by_group[group][1] += 1
        missed = {g: (n - f) for g, (f, n) in by_group.items() if f < n}
        print(
            f"  jupyter-qsecure misses in {len(missed)} of {len(by_group)} providers: "
            + ", ".join(f"{g} {m}" for g, m in sorted(missed.items()))
        )
    if verbose:
        for text, flag in zip(positives, ours[:count], strict=True):
            if not flag:
                print(f"    missed: {text[:160]!r}")
        labels = negative_labels or [""] * len(negatives)
        for text, flag, label in zip(negatives, ours[count:], labels, strict=True):
            if flag:
                print(f"    flagged negative {label}: {text[:160]!r}")


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="print misses and flagged negatives")
    verbose = parser.parse_args().verbose
    report("our corpus (tests/corpus.py)", [s.text for s in POSITIVES], [s.text for s in NEGATIVES])
    if TRUFFLEHOG.exists():
        rows = _rows(TRUFFLEHOG)
        positives = [r for r in rows if r["positive"]]
        negatives = [r for r in rows if not r["positive"]]
        report(
            "TruffleHog detector vectors",
            [r["text"] for r in positives],
            [r["text"] for r in negatives],
            groups=[r["detector"] for r in positives],
            verbose=verbose,
            negative_labels=[r["detector"] for r in negatives],
        )
    if NOSEYPARKER.exists():
        rows = _rows(NOSEYPARKER)
        positives = [r for r in rows if r["positive"] and r["ruleset"] == "default"]
        negatives = [r for r in rows if not r["positive"]]
        report(
            "Nosey Parker rule examples (default rule set)",
            [r["text"] for r in positives],
            [r["text"] for r in negatives],
            groups=[r["rule"] for r in positives],
            verbose=verbose,
            negative_labels=[r["rule"] for r in negatives],
        )
        print(
            "  (left out: "
            + ", ".join(
                f"{n} {ruleset} positives"
                for ruleset, n in Counter(
                    r["ruleset"] for r in rows if r["positive"] and r["ruleset"] != "default"
                ).items()
            )
            + ")"
        )
    if not (TRUFFLEHOG.exists() and NOSEYPARKER.exists()):
        print(f"(peer data not found under {PEER.relative_to(ROOT.parent)}; skipped)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
