"""Personal grants: a researcher grants a secret from their keyring to a notebook, from
JupyterLab, without editing the policy.

They live in a JSON file only the server writes, in the Jupyter data dir
(``<jupyter data dir>/qsecure/personal-grants.json``, mode 0600, replaced atomically),
never in a notebook's folder: a cloned repository cannot grant itself anything. A personal
grant always reads the default keyring reference (``keyring://qsecure/NAME``), names exact
notebook paths (no globs) and holds for the user who made it only. The policy decides
whether they exist at all (``[secrets] personal_grants = false``), and a name the policy
defines is the policy's: a personal grant never widens or replaces it.

The file::

    {"version": 1, "grants": {"alice": {"IBM_QUANTUM_TOKEN": ["experiments/run.ipynb"]}}}
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any

from .policy import SecretGrant, SecretsPolicy, name_problem
from .refs import SecretRef, parse_ref

FILENAME = "personal-grants.json"
#: The keyring service personal grants (and `secrets set` of a new name) read and write.
DEFAULT_SERVICE = "qsecure"
FILE_MODE = 0o600
VERSION = 1


def default_ref(name: str) -> SecretRef:
    """Where a personal grant reads ``name``, and where a value for a name the policy does
    not define is written: ``keyring://qsecure/NAME``."""
    return parse_ref(f"keyring://{DEFAULT_SERVICE}/{name}")


class PersonalGrantsError(ValueError):
    """A personal grants file that cannot be read or written; the message names it."""


class GrantInPolicy(ValueError):
    """The policy file defines this secret: only its admin can change who gets it."""

    def __init__(self, name: str, policy_source: str) -> None:
        self.name = name
        self.policy_source = policy_source
        super().__init__(
            f"{name} is defined by the policy file {policy_source}; its grants are changed "
            "there: ask the admin who maintains it"
        )


def default_path() -> Path:
    """``<jupyter data dir>/qsecure/personal-grants.json``."""
    from jupyter_core.paths import jupyter_data_dir

    return Path(jupyter_data_dir()) / "qsecure" / FILENAME


def notebook_problem(notebook: str) -> str | None:
    """Why ``notebook`` cannot be granted (a personal grant names one notebook exactly,
    relative to the server root), or None."""
    parts = notebook.split("/")
    if not notebook or notebook.startswith("/") or ".." in parts:
        return f"{notebook!r}: give the notebook's path relative to the server root, without .."
    if "." in parts or "" in parts:
        # A kernel's session path is judged without them: the grant would never apply.
        return f"{notebook!r}: write the path without ./ or // ({PurePosixPath(notebook)})"
    if not notebook.endswith(".ipynb"):
        return f"{notebook!r}: secrets are granted to notebooks (.ipynb)"
    if any(char in notebook for char in "*?[]\\\n\r\0"):
        return f"{notebook!r}: a personal grant names one notebook; globs belong in the policy"
    return None


def _clean(notebook: str) -> str:
    return notebook.strip("/")


class PersonalGrants:
    """The personal grants file of one server (grants of each user, by secret name)."""

    #: The file's name in the server's state folder.
    FILENAME = FILENAME

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    # Reading ---------------------------------------------------------------------------

    def _read(self) -> dict[str, dict[str, list[str]]]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError) as error:
            raise PersonalGrantsError(f"{self.path}: cannot read ({error})") from None
        try:
            data = json.loads(text)
        except ValueError:
            raise PersonalGrantsError(
                f"{self.path}: not JSON; fix it or delete it (its grants are then lost)"
            ) from None
        return self._validated(data)

    def _validated(self, data: Any) -> dict[str, dict[str, list[str]]]:
        def bad(why: str) -> PersonalGrantsError:
            return PersonalGrantsError(
                f"{self.path}: {why}; fix it or delete it (its grants are then lost)"
            )

        if not isinstance(data, dict) or data.get("version") != VERSION:
            raise bad(f'expected {{"version": {VERSION}, "grants": {{...}}}}')
        grants = data.get("grants", {})
        if not isinstance(grants, dict):
            raise bad("grants is not an object")
        out: dict[str, dict[str, list[str]]] = {}
        for user, by_name in grants.items():
            if not isinstance(by_name, dict):
                raise bad(f"grants of {user!r} are not an object")
            for name, notebooks in by_name.items():
                problem = name_problem(name)
                if problem is not None:
                    raise bad(f"{name!r}: {problem}")
                if not isinstance(notebooks, list) or not all(
                    isinstance(n, str) and notebook_problem(n) is None for n in notebooks
                ):
                    raise bad(f"{name}: expected a list of notebook paths")
                if notebooks:
                    out.setdefault(user, {})[name] = list(dict.fromkeys(notebooks))
        return out

    def of_user(self, user: str) -> dict[str, tuple[str, ...]]:
        """``user``'s personal grants: notebooks by secret name."""
        with self._lock:
            return {name: tuple(nbs) for name, nbs in self._read().get(user, {}).items()}

    def as_grants(self, user: str) -> dict[str, SecretGrant]:
        """``user``'s personal grants as policy grants (keyring, exact paths, that user)."""
        return {
            name: SecretGrant(
                name=name,
                source=default_ref(name),
                notebooks=notebooks,
                users=(user,),
                personal=True,
            )
            for name, notebooks in self.of_user(user).items()
        }

    # Writing ---------------------------------------------------------------------------

    def add(self, user: str, name: str, notebook: str) -> tuple[tuple[str, ...], bool]:
        """Grant ``name`` to ``notebook`` for ``user``; return the notebooks of that grant
        now and whether anything changed."""
        _check(name, notebook)
        notebook = _clean(notebook)
        with self._lock:
            data = self._read()
            notebooks = data.setdefault(user, {}).setdefault(name, [])
            changed = notebook not in notebooks
            if changed:
                notebooks.append(notebook)
                self._write(data)
            return tuple(notebooks), changed

    def remove(self, user: str, name: str, notebook: str | None = None) -> tuple[str, ...]:
        """Withdraw ``name`` from ``notebook`` (from every notebook when None) for ``user``;
        return the notebooks it was removed from (empty: nothing changed)."""
        problem = name_problem(name)
        if problem is not None:
            raise ValueError(problem)
        with self._lock:
            data = self._read()
            by_name = data.get(user, {})
            current = by_name.get(name, [])
            if notebook is None:
                removed = list(current)
            else:
                removed = [n for n in current if n == _clean(notebook)]
            if not removed:
                return ()
            left = [n for n in current if n not in removed]
            if left:
                by_name[name] = left
            else:
                by_name.pop(name, None)
            if not by_name:
                data.pop(user, None)
            self._write(data)
            return tuple(removed)

    def _write(self, data: dict[str, dict[str, list[str]]]) -> None:
        """Replace the file atomically: a temporary file (0600) in the same folder, synced,
        then renamed over it. A crash leaves the old file or the new one, never half."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        text = json.dumps({"version": VERSION, "grants": data}, indent=1, sort_keys=True) + "\n"
        # mkstemp creates the file 0600 (FILE_MODE), and os.replace keeps that mode.
        fd, temporary = tempfile.mkstemp(prefix=f".{FILENAME}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as stream:
                stream.write(text)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def _check(name: str, notebook: str) -> None:
    problem = name_problem(name) or notebook_problem(_clean(notebook))
    if problem is not None:
        raise ValueError(problem)


def _store_entry(ref: SecretRef) -> tuple[str, str]:
    """A reference's store entry, as the stores compare it (keyrings ignore case)."""
    return ref.scheme, ref.location.casefold()


def merge(policy: SecretsPolicy, personal: dict[str, SecretGrant]) -> SecretsPolicy:
    """The policy's grants plus the personal ones it does not define (the policy wins a
    name both have); ``policy`` itself unchanged. Without ``personal_grants``, the policy.

    A personal grant never reads a store entry a policy secret uses: its name may differ
    from the policy's, but ``keyring://qsecure/NAME`` may be where the admin keeps another
    secret's value, which would then reach any notebook its user names. Nor one the
    server logs in to Vault with (``[vault] token_source``, ``secret_id_source``,
    ``jwt_source``): a server credential reaches a kernel only when the policy grants it."""
    if not policy.personal_grants:
        return policy
    vault = policy.vault
    credentials = (vault.token_source, vault.secret_id_source, vault.jwt_source)
    admin_entries = {_store_entry(grant.source) for grant in policy.grants.values()}
    admin_entries.update(_store_entry(ref) for ref in credentials if ref is not None)
    extra = {
        name: grant
        for name, grant in personal.items()
        if name not in policy.grants and _store_entry(grant.source) not in admin_entries
    }
    if not extra:
        return policy
    return replace(policy, grants={**policy.grants, **extra})
