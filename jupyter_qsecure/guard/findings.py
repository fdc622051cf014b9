"""What a scan reports: findings that locate a credential without ever holding it."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

#: Domain separation, so a fingerprint is never equal to a plain SHA-256 of the value
#: that some other tool might publish.
_FINGERPRINT_DOMAIN = b"jupyter-qsecure/fingerprint/v1\x00"


def fingerprint(value: str) -> str:
    """A stable, non-reversible identifier of a secret value, safe to store and to log."""
    return hashlib.sha256(_FINGERPRINT_DOMAIN + value.encode("utf-8", "surrogatepass")).hexdigest()[
        :32
    ]


def detect_secrets_hash(value: str) -> str:
    """The `hashed_secret` detect-secrets writes into a `.secrets.baseline` (SHA-1, hex)."""
    return hashlib.sha1(value.encode("utf-8", "surrogatepass"), usedforsecurity=False).hexdigest()


def mask(value: str, visible_prefix: int = 0) -> str:
    """A preview that lets a person recognise a credential without revealing it.

    Only a public, fixed prefix (``ghp_``, ``AKIA``) and, for long values, the last three
    characters are shown: ``ghp_…9fQ``. Short values show nothing but their length.
    """
    prefix = value[: min(visible_prefix, len(value) // 2)]
    if len(value) - len(prefix) >= 16:
        return f"{prefix}…{value[-3:]}"
    if prefix:
        return f"{prefix}…"
    return f"…({len(value)} chars)"


#: Where a credential in a name is, as a finding's field and a refusal say it.
FILE_NAME = "the file name"
FOLDER_NAME = "the folder name"
PARENT_NAME = "a folder name in its path"
NAME_PLACES = frozenset({FILE_NAME, FOLDER_NAME, PARENT_NAME})
#: How a field inside a value that a repeated JSON key hides begins (readers keep the last).
HIDDEN_BY_REPEATED_KEY = "the first of two "
#: How the field of a finding in a file an archive holds begins (``archive member a/.env``).
ARCHIVE_MEMBER = "archive member"


@dataclass(frozen=True)
class Location:
    """Where in a notebook or file a finding sits.

    ``cell_index`` is 0-based (``None`` outside cells); ``field`` names the part of the cell
    (``source``, ``outputs[2].text/plain``, ``metadata``, ``attachments[a.txt]``) or ``text``
    for a plain file, or the name the credential is in (:data:`NAME_PLACES`: ``the file
    name``); ``line`` is 1-based within that field.
    """

    field: str
    line: int
    cell_index: int | None = None
    cell_id: str | None = None

    def describe(self) -> str:
        """Human words for the place: ``cell 3, line 2`` or ``output 1 of cell 3, line 4``."""
        if self.cell_index is None:
            if self.field in NAME_PLACES:
                return self.field
            if self.field == "binary":
                return "its binary content"
            if self.field.startswith((HIDDEN_BY_REPEATED_KEY, ARCHIVE_MEMBER)):
                return f"{self.field}, line {self.line}"
            where = "notebook metadata" if self.field.startswith("metadata") else None
            return f"{where}, line {self.line}" if where else f"line {self.line}"
        cell = f"cell {self.cell_index + 1}"
        if self.field == "source":
            return f"{cell}, line {self.line}"
        if self.field.startswith("outputs["):
            number = int(self.field[len("outputs[") : self.field.index("]")]) + 1
            return f"output {number} of {cell}, line {self.line}"
        if self.field.startswith("attachments"):
            return f"attachment of {cell}, line {self.line}"
        return f"{self.field} of {cell}, line {self.line}"


@dataclass(frozen=True)
class Finding:
    """One credential found: what kind, where, a masked preview and a fingerprint. Never the value."""

    rule: str
    kind: str
    preview: str
    fingerprint: str
    location: Location

    def describe(self) -> str:
        """``GitHub token in cell 3, line 2 (ghp_…9fQ)``."""
        return f"{self.kind} in {self.location.describe()} ({self.preview})"

    def to_json(self) -> dict[str, object]:
        """The finding as the REST API and the CLI's JSON output carry it."""
        data: dict[str, object] = {
            "rule": self.rule,
            "kind": self.kind,
            "preview": self.preview,
            "fingerprint": self.fingerprint,
        }
        data.update(asdict(self.location))
        return data
