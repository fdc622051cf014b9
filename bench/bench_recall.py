"""Recall and false positives: jupyter-qsecure against detect-secrets on the same inputs.

Two suites: our labelled corpus (tests/corpus.py) and TruffleHog's detector test vectors
(a suite nobody on this project wrote, from the shared data folder beside the repository).
detect-secrets runs in-process with its default plugins and filters, each text in its own
file, as its README's reference figure was measured.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from corpus import NEGATIVES, POSITIVES  # noqa: E402

from jupyter_qsecure.guard import Scanner  # noqa: E402

VECTORS = ROOT.parent / "shared" / "data" / "peer" / "trufflehog_vectors.jsonl"


def detect_secrets_flags(texts: list[str]) -> list[bool]:
    """Whether detect-secrets reports anything for each text (written to its own .txt file)."""
    from detect_secrets import SecretsCollection
    from detect_secrets.settings import default_settings

    flagged = []
    with tempfile.TemporaryDirectory() as folder, default_settings():
        for index, text in enumerate(texts):
            path = Path(folder) / f"sample{index}.txt"
            path.write_text(text, encoding="utf-8")
            collection = SecretsCollection()
            collection.scan_file(str(path))
            flagged.append(bool(collection.data))
    return flagged


def report(
    name: str, positives: list[str], negatives: list[str], by: list[str] | None = None
) -> None:
    scanner = Scanner()
    ours = [bool(scanner.scan_text(text).findings) for text in positives + negatives]
    theirs = detect_secrets_flags(positives + negatives)
    count = len(positives)
    print(f"{name}: {count} positives, {len(negatives)} negatives")
    for tool, flags in (("jupyter-qsecure", ours), ("detect-secrets", theirs)):
        recall = sum(flags[:count]) / count
        false_positives = sum(flags[count:])
        print(
            f"  {tool:16} recall {sum(flags[:count])}/{count} = {recall:.3f}   negatives flagged {false_positives}/{len(negatives)}"
        )
    print(
        f"  recall ratio (ours / detect-secrets): {sum(ours[:count]) / max(1, sum(theirs[:count])):.2f}"
    )
    if by is not None:
        missed = Counter(
            detector for detector, found in zip(by, ours[:count], strict=True) if not found
        )
        if missed:
            print(
                "  missed by jupyter-qsecure, by detector: "
                + ", ".join(f"{k} {v}" for k, v in sorted(missed.items()))
            )


def main() -> int:
    report("our corpus (tests/corpus.py)", [s.text for s in POSITIVES], [s.text for s in NEGATIVES])
    if VECTORS.exists():
        rows = [json.loads(line) for line in VECTORS.read_text().splitlines() if line.strip()]
        positives = [r for r in rows if r["positive"]]
        negatives = [r for r in rows if not r["positive"]]
        report(
            "TruffleHog detector vectors",
            [r["text"] for r in positives],
            [r["text"] for r in negatives],
            by=[r["detector"] for r in positives],
        )
    else:
        print(f"(peer vectors not found at {VECTORS.relative_to(ROOT.parent)}; skipped)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
