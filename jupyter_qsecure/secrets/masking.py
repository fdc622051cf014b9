"""Masking in the kernel: injected values never leave it in an output.

Every message the kernel sends (streams, results, displays, errors and tracebacks, replies)
has each injected value, and its base64, URL-encoded and hex forms, replaced by
``[secret:NAME]``; so do log records. This stops accidents, not a user who wants the
value out: code in the kernel can always transform it first. Stdlib only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from .forms import encoded_forms


class Masker:
    """Replaces every known form of every secret in text and in message content."""

    def __init__(self, secrets: Mapping[str, str] | None = None) -> None:
        self._replacements: list[tuple[str, str]] = []
        self.update(secrets or {})

    def update(self, secrets: Mapping[str, str]) -> None:
        """Add or replace secrets (by name)."""
        names = {name for name in secrets}
        kept = [
            (form, label)
            for form, label in self._replacements
            if label[len("[secret:") : -1] not in names
        ]
        for name, value in secrets.items():
            kept.extend((form, f"[secret:{name}]") for form in encoded_forms(value))
        self._replacements = sorted(kept, key=lambda item: len(item[0]), reverse=True)

    def __bool__(self) -> bool:
        return bool(self._replacements)

    def mask(self, text: str) -> str:
        """``text`` with every secret form replaced."""
        for form, label in self._replacements:
            if form in text:
                text = text.replace(form, label)
        return text

    def mask_content(self, value: Any) -> Any:
        """Message content (dicts, lists, strings) with every string masked."""
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, dict):
            return {key: self.mask_content(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.mask_content(item) for item in value]
        return value


def mask_session(session: Any, masker: Masker) -> None:
    """Mask the content of every message a jupyter_client Session sends."""
    original = session.send

    def send(stream: Any, msg_or_type: Any, content: Any = None, *args: Any, **kwargs: Any) -> Any:
        if masker:
            if isinstance(msg_or_type, dict) and "content" in msg_or_type:
                msg_or_type = {
                    **msg_or_type,
                    "content": masker.mask_content(msg_or_type["content"]),
                }
            if content is not None:
                content = masker.mask_content(content)
        return original(stream, msg_or_type, content, *args, **kwargs)

    session.send = send


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
