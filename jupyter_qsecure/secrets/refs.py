"""Secret references: where a value lives, written as a URL in the policy file.

- ``keyring://SERVICE/USERNAME``: the OS keyring (or the encrypted-file keyring)
- ``vault://MOUNT/PATH#FIELD`` (``?version=N`` optional): HashiCorp Vault / OpenBao KV v2
- ``file:///run/secrets/NAME``: a mounted secret file (Kubernetes, Docker)
- ``env://NAME``: the Jupyter server's own environment (tokens a hub passes in)
- ``hub://auth_state/KEY``: a key of the JupyterHub user's auth state, read through the
  hub's API (for ``[vault]`` credential sources such as ``jwt_source``; see ``hub.py``)

Other schemes come from plug-in providers (entry point group ``jupyter_qsecure.providers``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*$")


class SecretRefError(ValueError):
    """A reference that cannot be parsed; the message shows the expected form."""


@dataclass(frozen=True)
class SecretRef:
    """A parsed reference. ``location`` is what follows ``scheme://`` up to ``#``/``?``."""

    scheme: str
    location: str
    field: str | None = None
    version: int | None = None
    text: str = ""

    def __str__(self) -> str:
        return self.text

    @property
    def parts(self) -> list[str]:
        """The location's ``/``-separated parts, without empty ones."""
        return [part for part in self.location.split("/") if part]


_FORMS = {
    "keyring": "keyring://SERVICE/USERNAME",
    "vault": "vault://MOUNT/PATH#FIELD (optionally ?version=N)",
    "file": "file:///absolute/path",
    "env": "env://NAME",
    "hub": "hub://auth_state/KEY (a [vault] credential source)",
}


#: Built-in schemes whose references name one value, without a field or a version.
_PLAIN = ("keyring", "file", "env")


def parse_ref(text: str) -> SecretRef:
    """Parse ``text``; raises :class:`SecretRefError` naming the expected form."""
    # Text that is no reference is not quoted back: it may be the secret's value itself,
    # pasted where its reference belongs, and the message goes to logs and REST answers.
    if not isinstance(text, str) or "://" not in text:
        raise SecretRefError(
            f"{_unquoted(text)} is not a reference; write one of: "
            + ", ".join(_FORMS.values())
            + "; a secret's value goes in its store (`jupyter qsecure secrets set NAME`), "
            "never in the policy"
        )
    scheme, _, rest = text.partition("://")
    if not _SCHEME.match(scheme):
        raise SecretRefError(
            f"the text before :// ({len(scheme)} characters) is not a valid scheme: "
            "lowercase letters, digits, +, . and -, starting with a letter"
        )
    split = urlsplit(f"{scheme}://{rest}")
    fragment, _, fragment_query = split.fragment.partition("?")  # vault://m/p#field?version=2
    query = parse_qs(split.query or fragment_query)
    location = unquote(split.netloc + split.path)
    version: int | None = None
    if "version" in query:
        try:
            version = int(query["version"][0])
        except ValueError:
            raise SecretRefError(f"{text!r}: version must be a whole number") from None
    ref = SecretRef(scheme, location, unquote(fragment) or None, version, text)
    _check_form(ref)
    if scheme in _PLAIN and (split.query or split.fragment):
        raise SecretRefError(
            f"{text!r}: {scheme}:// references take no #FIELD or ?QUERY (they would be "
            f"ignored); expected {_FORMS[scheme]}, with # written %23 in a name"
        )
    if scheme in _FORMS and {".", ".."} & set(location.split("/")):
        raise SecretRefError(
            f"{text!r}: write the location without . or .. (expected {_FORMS[scheme]})"
        )
    return ref


def _unquoted(text: object) -> str:
    """What a text that is no reference is, without its characters."""
    if not isinstance(text, str):
        return f"a value of type {type(text).__name__}"
    return "an empty text" if not text else f"a text of {len(text)} characters without ://"


def _check_form(ref: SecretRef) -> None:
    form = _FORMS.get(ref.scheme)
    if form is None:
        return  # a plug-in provider checks its own references
    bad = (
        (ref.scheme == "keyring" and len(ref.parts) != 2)
        or (ref.scheme == "vault" and (len(ref.parts) < 2 or not ref.field))
        or (ref.scheme == "file" and not ref.location.startswith("/"))
        or (ref.scheme == "env" and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", ref.location))
        or (
            ref.scheme == "hub"
            and (
                len(ref.parts) < 2
                or ref.parts[0] != "auth_state"
                or ref.field is not None
                or ref.version is not None
            )
        )
    )
    if bad:
        raise SecretRefError(f"{ref.text!r}: expected {form}")
