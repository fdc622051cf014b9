"""One compiled guard engine serves every thread of the server at once.

A save scan and a status check's redaction of embedded provenance run in different
threads on the same engine; Hyperscan's scratch space serves one scan at a time, so
sharing one raised ``ScratchInUseError`` (a 500 on ``POST /qsecure/signature``).
"""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from corpus import expand

from jupyter_qsecure.guard import RULES, Scanner
from jupyter_qsecure.guard.engine import Engine

THREADS = 4
ROUNDS = 8


def _busy_text() -> str:
    """A text long enough, and dense enough in triggers, that scans overlap."""
    value = expand("{A:20}", random.Random(7))
    line = "pass" + f'word = "{value}"  # token api_key secret passwd\n'
    return line * 400


@pytest.mark.skipif(not Engine(RULES).uses_hyperscan, reason="Hyperscan is not installed")
def test_one_engine_scans_from_several_threads_at_once() -> None:
    scanner = Scanner(engine=Engine(RULES))
    text = _busy_text()
    expected = len(scanner.scan_text(text).findings)
    start = threading.Barrier(THREADS)

    def scan_repeatedly() -> list[int]:
        start.wait()
        return [len(scanner.scan_text(text).findings) for _ in range(ROUNDS)]

    with ThreadPoolExecutor(THREADS) as pool:
        counts = [
            count
            for result in pool.map(lambda _: scan_repeatedly(), range(THREADS))
            for count in result
        ]
    assert counts == [expected] * (THREADS * ROUNDS)
