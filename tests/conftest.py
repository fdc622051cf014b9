"""Shared fixtures: a real Jupyter server with jupyter-qsecure, on real files."""

from __future__ import annotations

import io
import json
import logging
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from corpus import expand
from traitlets.config import Config

pytest_plugins = ["pytest_jupyter.jupyter_server"]


@pytest.fixture
def jp_server_config() -> Config:
    """The server under test: our extension, and no request without a token."""
    return Config(
        {
            "ServerApp": {
                # jupyter_server_terminals refuses to load with unauthenticated access off.
                "jpserver_extensions": {"jupyter_qsecure": True, "jupyter_server_terminals": False},
                "allow_unauthenticated_access": False,
            }
        }
    )


@pytest.fixture
def policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Path]:
    """Write a trusted policy file (``$QSECURE_CONFIG``) before the server starts."""

    def write(text: str) -> Path:
        path = tmp_path / "policy" / "qsecure.toml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        monkeypatch.setenv("QSECURE_CONFIG", str(path))
        return path

    return write


@pytest.fixture
def qsecure_app(jp_serverapp: Any) -> Any:
    """The running jupyter-qsecure extension app."""
    return jp_serverapp.web_app.settings["jupyter_qsecure"]


@pytest.fixture
def github_token() -> str:
    """A GitHub token-shaped value, random for each test."""
    return expand("gh" + "p_{A:36}", random.Random())


@pytest.fixture
def audit_events(jp_serverapp: Any) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """A function returning every jupyter_events event the server emitted so far, parsed."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    jp_serverapp.event_logger.register_handler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    jp_serverapp.event_logger.remove_handler(handler)


@pytest.fixture
def server_log(jp_serverapp: Any, qsecure_app: Any) -> Iterator[Callable[[], str]]:
    """Everything the server, tornado and our extension log during the test, as text."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.DEBUG)
    loggers = [jp_serverapp.log, qsecure_app.log, logging.getLogger("tornado"), logging.getLogger()]
    for logger in loggers:
        logger.addHandler(handler)
    yield stream.getvalue
    for logger in loggers:
        logger.removeHandler(handler)


def notebook(*cells: dict[str, Any], metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """An nbformat 4.5 notebook with the given cells (ids filled in)."""
    filled = []
    for index, cell in enumerate(cells):
        cell = {"metadata": {}, **cell}
        cell.setdefault("id", f"cell-{index}")
        if cell["cell_type"] == "code":
            cell.setdefault("outputs", [])
            cell.setdefault("execution_count", None)
        filled.append(cell)
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": metadata
        or {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "cells": filled,
    }


def code(source: str | list[str], outputs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A code cell."""
    return {
        "cell_type": "code",
        "source": source,
        "outputs": outputs or [],
        "execution_count": 1 if outputs else None,
    }


def markdown(source: str) -> dict[str, Any]:
    """A markdown cell."""
    return {"cell_type": "markdown", "source": source}
