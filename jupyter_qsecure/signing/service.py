"""What the CLI and the REST API do with signatures: trust anchors from the policy (or
given on the command line), default principal, sign and verify."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

from .allowed_signers import load_allowed_signers, load_revoked_keys
from .policy import SigningSettings
from .signatures import NotebookVerdict, SigningPolicy, sign_notebook, verify_notebook

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def default_principal(settings: SigningSettings) -> str:
    """The policy's principal, else git's user.email, else the user name. git's identity
    is the server account's: it is used for that account's own requests and commands
    only, never for another user of the same server (a collaborator's request)."""
    import shutil
    import subprocess

    from ..identity import acting_user, server_user

    if settings.principal:
        return settings.principal
    user = acting_user()
    git = shutil.which("git") if user == server_user() else None
    if git:
        try:
            email = subprocess.run(
                [git, "config", "user.email"], capture_output=True, text=True, timeout=5
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            email = ""
        if email:
            return email
    return user


if TYPE_CHECKING:  # annotations only (the fast path does not import typing)
    EventSink = Callable[[str, dict[str, Any]], None]


class NoSigningKey(ValueError):
    """Signing was asked for, but neither the policy nor the user's setup names a key."""


class SigningKeyChanged(RuntimeError):
    """The key file signed with another key than the one the user's setup shows and
    trusts (its files were replaced since the setup was chosen)."""


class NotYourPrincipal(PermissionError):
    """A sign request named a principal other than the one the policy or the user's own
    signing setup says they sign as."""


if TYPE_CHECKING:
    #: Embeds what a save would add (provenance) into a notebook about to be signed.
    Embedder = Callable[[dict[str, Any], str], None]


class SigningService:
    """Signing and verification under one ``[signing]`` policy; ``emit`` receives the
    audit events of the server's signing and verification."""

    def __init__(self, settings: SigningSettings, emit: EventSink | None = None) -> None:
        self.settings = settings
        self._emit = emit or (lambda schema, data: None)

    def with_overrides(
        self,
        *,
        allowed_signers: Path | None = None,
        revoked_keys: Path | None = None,
        require: int | None = None,
        require_roles: tuple[str, ...] | None = None,
        grants: Mapping[str, tuple[str, ...]] | None = None,
    ) -> SigningService:
        """The same service with command-line choices taking precedence over the policy
        (``grants`` replace the policy's ``[signing.roles]`` whole)."""
        settings = self.settings
        if allowed_signers is not None:
            settings = settings._replace(allowed_signers=allowed_signers)
        if revoked_keys is not None:
            settings = settings._replace(revoked_keys=revoked_keys)
        if require is not None:
            settings = settings._replace(require=require)
        if require_roles is not None:
            settings = settings._replace(require_roles=require_roles)
        if grants is not None:
            settings = settings._replace(grants=dict(grants))
        return type(self)(settings, self._emit)

    def with_settings(self, settings: SigningSettings) -> SigningService:
        """The same service (same audit sink) under other settings, e.g. the policy's
        completed by a user's personal setup (:mod:`.setup`)."""
        if settings == self.settings:
            return self
        return type(self)(settings, self._emit)

    def policy(self) -> SigningPolicy:
        """The reviewer policy of these settings."""
        return SigningPolicy(
            self.settings.require, self.settings.require_roles, dict(self.settings.grants)
        )

    def verify(
        self, notebook: dict[str, Any], warnings: list[str] | None = None
    ) -> NotebookVerdict:
        """Check a notebook's signatures against the trust anchors and the policy.
        allowed_signers lines that cannot be used are skipped, as ssh-keygen skips them,
        and described in ``warnings`` (logged when no list is given). Raises
        AllowedSignersError for an unreadable allowed_signers or revocation file."""
        skipped: list[str] = [] if warnings is None else warnings
        signers = (
            load_allowed_signers(self.settings.allowed_signers, skipped)
            if self.settings.allowed_signers
            else None
        )
        if warnings is None and skipped:
            import logging

            from .._shown import logged

            for warning in skipped:
                logging.getLogger(__name__).warning("%s", logged(warning))
        revoked = (
            load_revoked_keys(self.settings.revoked_keys)
            if self.settings.revoked_keys
            else frozenset()
        )
        return verify_notebook(notebook, signers, policy=self.policy(), revoked=revoked)

    def sign(
        self,
        notebook: dict[str, Any],
        *,
        key: Path | None = None,
        principal: str | None = None,
        role: str = "author",
    ) -> dict[str, Any]:
        """Sign with ``key`` (else the policy's key) and return the new entry."""
        chosen = key or self.settings.key
        if chosen is None:
            raise ValueError(
                "no signing key: pass --key PATH (a private key, or a .pub whose key is in ssh-agent) or set [signing] key"
            )
        return self._sign(notebook, chosen, principal=principal, role=role)

    def own_principal(self) -> str:
        """The principal these settings sign as: the policy's (or the personal setup's),
        else git's user.email, else the user name."""
        return default_principal(self.settings)

    def _sign(
        self, notebook: dict[str, Any], chosen: Path, *, principal: str | None, role: str
    ) -> dict[str, Any]:
        return sign_notebook(
            notebook, chosen, principal=principal or default_principal(self.settings), role=role
        )

    def status(self, notebook: dict[str, Any]) -> tuple[NotebookVerdict, dict[str, Any]]:
        """The verdict on ``notebook`` and its JSON for the REST API, with the policy's
        required number of signatures and roles. Raises ValueError when the notebook or
        the trust anchors cannot be checked."""
        verdict = self.verify(notebook)
        return verdict, {
            **verdict.to_json(),
            "required": self.settings.require,
            "require_roles": list(self.settings.require_roles),
        }

    def audited_status(
        self, notebook: dict[str, Any], path: str, trust: str = "policy"
    ) -> dict[str, Any]:
        """:meth:`status` of a saved notebook, recorded in the audit trail with where the
        trust came from (``trust``: ``policy``, ``personal`` or ``none``), so a verdict
        by a user's own personal allowed_signers is never read as the lab's."""
        from ..events import SIGNATURE_VERIFIED
        from ..identity import acting_user

        verdict, answer = self.status(notebook)
        self._emit(
            SIGNATURE_VERIFIED,
            {
                "path": path,
                "user": acting_user(),
                "status": verdict.status,
                "meets_policy": verdict.meets_policy,
                "signatures": len(verdict.results),
                "trust": trust if self.settings.allowed_signers else "none",
            },
        )
        return answer

    def unsaved_status(
        self, notebook: dict[str, Any], path: str, embed: Embedder
    ) -> dict[str, Any]:
        """The status of editor content not saved yet, as it would be once saved (``embed``
        adds what the save adds to a copy). Not audited: the editor asks after each edit."""
        import copy

        saved = copy.deepcopy(notebook)
        embed(saved, path)
        return self.status(saved)[1]

    async def sign_and_save(
        self,
        contents: Any,
        path: str,
        *,
        role: str,
        principal: str | None,
        embed: Embedder,
    ) -> dict[str, Any]:
        """Sign the saved notebook at ``path`` with the server's key and save it through
        the contents manager ``contents`` (the guard checks that save like any other).

        What the save will embed is embedded first, so the signature covers it. Returns
        ``{path, signature: {principal, role, key_fingerprint, signed_at}, ...status}``,
        the status of the file as saved.
        ``principal``, when given, must be the one the settings sign as (the policy's, else
        the user's setup's): a request never signs as someone else.
        Raises NotebookNotFound, NoSigningKey, NotYourPrincipal, SigningKeyChanged,
        ValueError (bad role), SignatureError."""
        import asyncio

        from jupyter_server.utils import ensure_async

        from ..events import NOTEBOOK_SIGNED
        from ..identity import acting_user

        if self.settings.key is None:
            raise NoSigningKey(
                "no signing key is set up for you on this server: in JupyterLab, choose "
                "Secure > Set up Signing… to pick or generate a key (or an administrator "
                "sets [signing] key in qsecure.toml)"
            )
        own = await asyncio.to_thread(self.own_principal)
        if principal is not None and principal != own:
            raise NotYourPrincipal(
                f"you sign as {own!r} on this server (the principal [signing] or your "
                "signing setup names), not as another: leave principal out, or change "
                "yours in Secure > Set up Signing…"
            )
        notebook = await load_notebook(contents, path)
        await asyncio.to_thread(embed, notebook, path)
        entry = await asyncio.to_thread(
            self._sign, notebook, self.settings.key, principal=own, role=role
        )
        expected = self.settings.key_public
        if expected is not None and entry["public_key"] != " ".join(expected.split()[:2]):
            raise SigningKeyChanged(
                f"the key file {self.settings.key.name} now holds another key than the one "
                "you set up (its fingerprint is not the one shown): nothing was signed; "
                "choose your key again in Secure > Set up Signing…"
            )
        await ensure_async(contents.save({"type": "notebook", "content": notebook}, path))
        self._emit(
            NOTEBOOK_SIGNED,
            {
                "path": path,
                "user": acting_user(),
                **{k: entry[k] for k in ("principal", "role", "key_fingerprint")},
            },
        )
        # The status of what was written: a pre-save hook (a formatter, an output
        # stripper) may have changed it after it was signed.
        saved = await load_notebook(contents, path)
        _, answer = await asyncio.to_thread(self.status, saved)
        signature = {k: entry[k] for k in ("principal", "role", "key_fingerprint", "signed_at")}
        return {"path": path, "signature": signature, **answer}


class NotebookNotFound(LookupError):
    """No notebook at the path a request names."""


async def load_notebook(contents: Any, path: str) -> dict[str, Any]:
    """The saved content of the notebook at ``path`` (a plain JSON copy) from the contents
    manager ``contents``. Raises NotebookNotFound."""
    from jupyter_server.utils import ensure_async

    if not path.endswith(".ipynb") or not await ensure_async(contents.file_exists(path)):
        raise NotebookNotFound(f"no notebook at {path!r}")
    model = await ensure_async(contents.get(path, content=True, type="notebook"))
    return dict(json.loads(json.dumps(model["content"])))


async def check_one_reading(contents: Any, path: str) -> None:
    """Raise ValueError when the file of the notebook at ``path`` repeats a key in one
    object: JSON readers disagree on which one counts (Python and JavaScript keep the
    last, others the first), so what its signatures cover would depend on the reader, and
    ``jupyter qsecure verify`` refuses it as bad input too."""
    import asyncio

    from jupyter_server.utils import ensure_async

    from .._json import loads

    model = await ensure_async(contents.get(path, content=True, type="file", format="text"))
    text = model.get("content")
    if not isinstance(text, str):
        return
    try:
        await asyncio.to_thread(loads, text, unique_keys=True)
    except ValueError as error:
        raise ValueError(f"{path}: cannot be verified: {error}") from None
