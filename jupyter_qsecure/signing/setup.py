"""A personal signing setup: the key and principal one user of the server signs with when
the admin's policy names no ``[signing] key``, chosen in JupyterLab without editing a file.

The server lists the keys it could sign with: public keys held by its ssh-agent
(``SSH_AUTH_SOCK``) and ``~/.ssh/*.pub`` files whose private key file is beside them. It
can generate an ed25519 key with ``ssh-keygen`` (never overwriting a file). The user's
choice is kept per user in the server's data folder, never in the served tree nor in the
admin's policy: ``setup.json`` (key path, principal, public key) and a personal
``allowed_signers`` holding one line, the principal and the public key, for the
``notebook@jupyter-qsecure`` namespace (both mode 0600, in a 0700 folder).

What the personal setup may change (:func:`effective_settings`): the admin's ``[signing]``
settings win whenever they are set. The personal key is used only when the policy has no
``key``; the personal ``allowed_signers`` is trusted only when the policy has none, and
then only for the role ``author``, as far as the policy's own ``[signing.roles]`` grants
``author`` to the principal: trust in a key the user chose themselves never makes them a
reviewer or an approver.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
import threading
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .policy import SigningSettings

#: The namespace the personal allowed_signers line is limited to.
NAMESPACE = "notebook@jupyter-qsecure"
#: The file name a generated key gets in ``~/.ssh`` unless another is asked for.
DEFAULT_KEY_NAME = "id_ed25519_qsecure"
#: Key ids of keys held by the agent start with this.
AGENT_PREFIX = "agent:"
#: A principal: one word, no spaces, commas, quotes or allowed_signers wildcards.
_PRINCIPAL = re.compile(r"[^\s,*?!\"'\\#]{1,200}")
#: A key file name a generated key may get.
_KEY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
#: Files of ~/.ssh that OpenSSH reads for what they are (sshd runs ``rc`` at each login): a
#: generated key never takes one of these names.
_OPENSSH_FILES = frozenset(
    {
        "config",
        "rc",
        "environment",
        "authorized_keys",
        "authorized_keys2",
        "authorized_principals",
        "known_hosts",
        "known_hosts2",
        "allowed_signers",
        "revoked_keys",
    }
)
#: ssh-keygen and ssh-add may not take longer than this.
TOOL_SECONDS = 30.0
#: A public key file is read up to this many bytes (an RSA-16384 line is under 3 KiB).
PUBLIC_KEY_LIMIT = 16 << 10
#: A key id a request may name is at most this long.
KEY_ID_LIMIT = 1024


class SetupError(ValueError):
    """A setup request that cannot be done; the message names what to fix."""


class KeyOfAnotherUser(SetupError):
    """The key chosen is another user's: in their setup now or before, generated for
    them, or (on a JupyterHub server) one of the server owner's own keys."""


@dataclass(frozen=True)
class KeyCandidate:
    """A key the server could sign with: ``id`` is what a setup request names it by
    (``~/.ssh/NAME.pub``, or ``agent:SHA256:...`` for a key only the agent holds)."""

    id: str
    source: str  # "agent" or "file"
    key_type: str
    fingerprint: str
    comment: str
    public_key: str

    def to_json(self) -> dict[str, str]:
        """The candidate for the REST API: public parts only."""
        return {
            "id": self.id,
            "source": self.source,
            "key_type": self.key_type,
            "fingerprint": self.fingerprint,
            "comment": self.comment,
        }


@dataclass(frozen=True)
class PersonalSetup:
    """One user's choice: the key file the server signs with (a private key, or a
    ``.pub`` whose private half is in the agent) and the principal."""

    key: Path
    key_id: str
    principal: str
    public_key: str
    fingerprint: str
    updated: str

    def to_json(self) -> dict[str, str]:
        """The setup for the REST API (no key material beyond the public key's fingerprint)."""
        return {
            "key": self.key_id,
            "principal": self.principal,
            "fingerprint": self.fingerprint,
            "key_type": self.public_key.split()[0],
            "updated": self.updated,
        }


def check_principal(value: object) -> str:
    """A principal a setup may use; raises SetupError naming what to fix."""
    if not isinstance(value, str) or not value.strip():
        raise SetupError(
            "principal: give who signs, one word such as alice@lab.example (your e-mail address)"
        )
    if _PRINCIPAL.fullmatch(value) is None or _unseen(value):
        raise SetupError(
            f"principal {value!r}: use one word of at most 200 characters, without spaces, "
            "line breaks, control or invisible characters, commas, quotes, # or the "
            "wildcards * ? ! (e.g. alice@lab.example)"
        )
    return value


def _unseen(text: str) -> bool:
    """Whether ``text`` holds a character a reader cannot see or that ends the text for
    OpenSSH: control characters (NUL, ESC, DEL), format characters (zero-width spaces,
    bidirectional overrides), unassigned or private-use code points, separators."""
    return any(unicodedata.category(c)[0] in "CZ" for c in text)


def _read_public(path: Path) -> str | None:
    """The text of the public key file ``path``, or None when it is not a regular file
    (a FIFO, a device, a folder, also behind a link) or larger than a public key can be.
    Opened without blocking, so a FIFO put in its place never hangs the server."""
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except (OSError, ValueError):
        return None
    with os.fdopen(handle, "rb") as stream:
        info = os.fstat(stream.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > PUBLIC_KEY_LIMIT:
            return None
        return stream.read(PUBLIC_KEY_LIMIT + 1)[:PUBLIC_KEY_LIMIT].decode("utf-8", "replace")


def _short(path: Path, home: Path) -> str:
    try:
        return "~/" + path.relative_to(home).as_posix()
    except ValueError:
        return str(path)


def _parse_public(line: str) -> tuple[str, str, str, str] | None:
    """(key type, base64, comment, fingerprint) of an OpenSSH public key line, or None."""
    from .sshsig import SignatureError, fingerprint, public_key_from_openssh

    try:
        blob = public_key_from_openssh(line)
    except SignatureError:
        return None
    fields = line.strip().split(None, 2)
    comment = fields[2].strip() if len(fields) > 2 else ""
    return fields[0], fields[1], comment, fingerprint(blob)


class PersonalSigning:
    """Per-user signing setups kept under ``state_dir`` (the server's data folder), over the
    keys of ``home``'s ``.ssh`` folder and the agent at ``SSH_AUTH_SOCK``."""

    def __init__(self, state_dir: Path, home: Path | None = None) -> None:
        self.state_dir = Path(state_dir)
        self._home = home
        #: Held while a setup's two files are written or read together, so concurrent
        #: requests never leave (nor see) one key's trust line beside another key's setup.
        self._files = threading.RLock()

    @property
    def home(self) -> Path:
        """The server user's home (read each time: tests and containers move it)."""
        return self._home or Path.home()

    @property
    def ssh_dir(self) -> Path:
        """The server user's ``~/.ssh``."""
        return self.home / ".ssh"

    # Where a user's setup lives ----------------------------------------------------------

    def user_dir(self, user: str) -> Path:
        """The folder of ``user``'s setup: a readable part of the name and a digest."""
        readable = re.sub(r"[^A-Za-z0-9_-]", "_", user)[:40] or "user"
        digest = hashlib.sha256(user.encode("utf-8")).hexdigest()[:16]
        return self.state_dir / f"{readable}-{digest}"

    def allowed_signers(self, user: str) -> Path | None:
        """``user``'s personal allowed_signers file, when they have a setup."""
        path = self.user_dir(user) / "allowed_signers"
        return path if path.is_file() else None

    def load(self, user: str) -> PersonalSetup | None:
        """``user``'s setup, or None when there is none (or it cannot be read: the user
        sets up again)."""
        try:
            raw = json.loads((self.user_dir(user) / "setup.json").read_text(encoding="utf-8"))
            return PersonalSetup(
                key=Path(raw["key_path"]),
                key_id=str(raw["key"]),
                principal=str(raw["principal"]),
                public_key=str(raw["public_key"]),
                fingerprint=str(raw["fingerprint"]),
                updated=str(raw["updated"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    # The keys the server could use -------------------------------------------------------

    def agent_keys(self) -> tuple[list[KeyCandidate], str]:
        """The public keys the server's ssh-agent holds, and a note on the agent (empty
        when it answered)."""
        socket = os.environ.get("SSH_AUTH_SOCK")
        if not socket:
            return [], "no ssh-agent: SSH_AUTH_SOCK is not set for the server"
        tool = shutil.which("ssh-add")
        if tool is None:
            return [], "ssh-add is not installed (Debian: openssh-client)"
        try:
            result = _run_tool([tool, "-L"])
        except (OSError, subprocess.SubprocessError) as error:
            return [], f"ssh-add -L failed: {error}"
        if result.returncode == 1:
            return [], ""  # "The agent has no identities."
        if result.returncode != 0:
            return [], "the ssh-agent at SSH_AUTH_SOCK does not answer"
        keys = []
        for line in result.stdout.splitlines():
            parsed = _parse_public(line)
            if parsed is not None:
                key_type, _, comment, print_ = parsed
                keys.append(
                    KeyCandidate(
                        AGENT_PREFIX + print_,
                        "agent",
                        key_type,
                        print_,
                        comment,
                        f"{parsed[0]} {parsed[1]}",
                    )
                )
        return keys, ""

    def file_keys(self) -> list[KeyCandidate]:
        """``~/.ssh/*.pub`` files whose private key file is beside them."""
        if not self.ssh_dir.is_dir():
            return []
        keys = []
        for public in sorted(self.ssh_dir.glob("*.pub")):
            private = public.with_suffix("")
            if not (public.is_file() and private.is_file()):
                continue
            text = _read_public(public)
            parsed = _parse_public(text) if text is not None else None
            if parsed is not None:
                key_type, encoded, comment, print_ = parsed
                keys.append(
                    KeyCandidate(
                        _short(public, self.home),
                        "file",
                        key_type,
                        print_,
                        comment,
                        f"{key_type} {encoded}",
                    )
                )
        return keys

    def candidates(self) -> tuple[list[KeyCandidate], str]:
        """Every key to choose from (a key both in a file and in the agent once, as the
        file), and the agent's note."""
        files = self.file_keys()
        agent, note = self.agent_keys()
        seen = {key.fingerprint for key in files}
        return files + [key for key in agent if key.fingerprint not in seen], note

    # Choosing and generating -------------------------------------------------------------

    def _file_key(self, value: str) -> Path:
        """The public key file a request names (``~/.ssh/NAME.pub``, the same path
        spelled out, or the private key's path); raises SetupError."""
        home = self.home
        if len(value) > KEY_ID_LIMIT or _unseen(value):
            raise SetupError(
                f"key {value[:60]!r}: not the id of a key (control characters, or longer "
                f"than {KEY_ID_LIMIT} characters); pick one of the listed keys"
            )
        path = Path(home / value[2:] if value.startswith("~/") else value)
        if not path.is_absolute():
            path = self.ssh_dir / path
        if path.suffix != ".pub":
            path = path.with_name(path.name + ".pub")
        try:
            outside = ".." in path.parts or path.parent.resolve() != self.ssh_dir.resolve()
            pair = path.is_file() and path.with_suffix("").is_file()
        except (OSError, ValueError):  # a name too long for the file system
            outside, pair = False, False
        if outside:
            raise SetupError(
                f"key {value!r}: only keys in {_short(self.ssh_dir, home)} or held by the "
                "ssh-agent can be chosen; pick one of the listed keys"
            )
        if not pair:
            raise SetupError(
                f"key {value!r}: there is no key pair {_short(path.with_suffix(''), home)} "
                f"and {_short(path, home)}; pick one of the listed keys or generate one"
            )
        return path

    def choose(self, user: str, key: object, principal: object) -> PersonalSetup:
        """Make ``key`` (a candidate's id) and ``principal`` ``user``'s setup. A key that
        is another user's (:meth:`_claim`) is refused with :class:`KeyOfAnotherUser`."""
        return self._choose(user, key, principal, generated=False)

    def _choose(
        self, user: str, key: object, principal: object, *, generated: bool
    ) -> PersonalSetup:
        principal = check_principal(principal)
        if not isinstance(key, str) or not key.strip():
            raise SetupError("key: give the id of one of the listed keys, or generate one")
        if key.startswith(AGENT_PREFIX):
            agent, note = self.agent_keys()
            match = next((k for k in agent if k.id == key), None)
            if match is None:
                raise SetupError(
                    f"key {key!r}: the ssh-agent holds no such key"
                    + (f" ({note})" if note else "")
                    + "; pick one of the listed keys"
                )
            with self._files:
                self._claim(user, match.fingerprint, generated=False)
                folder = self._user_folder(user)
                public_file = folder / "agent-key.pub"
                _write_private(public_file, f"{match.public_key} {match.comment}".rstrip() + "\n")
                return self._save(user, public_file, key, principal, match.public_key)
        public = self._file_key(key)
        text = _read_public(public)
        parsed = _parse_public(text) if text is not None else None
        if parsed is None:
            raise SetupError(
                f"key {key!r}: {_short(public, self.home)} is not an OpenSSH public key "
                "of a type that can sign (ed25519, ecdsa, rsa, sk-)"
            )
        key_id = _short(public, self.home)
        with self._files:
            self._claim(user, parsed[3], generated=generated)
            return self._save(
                user, public.with_suffix(""), key_id, principal, f"{parsed[0]} {parsed[1]}"
            )

    def generate(
        self,
        user: str,
        principal: object,
        *,
        name: object = None,
        comment: object = None,
        no_passphrase: object = False,
    ) -> PersonalSetup:
        """Generate an ed25519 key in ``~/.ssh`` with ``ssh-keygen`` and make it ``user``'s
        setup. The key has no passphrase (the server signs without asking for one), so the
        request must say ``no_passphrase``; an existing file is never overwritten."""
        principal = check_principal(principal)
        if no_passphrase is not True:
            raise SetupError(
                "no_passphrase: a key generated here has no passphrase (the server signs "
                "without asking for one), so confirm with no_passphrase: true; for a key "
                "with a passphrase, run ssh-keygen -t ed25519 in a terminal, load it with "
                "ssh-add, and pick it from the ssh-agent's keys"
            )
        name = DEFAULT_KEY_NAME if name is None else name
        if (
            not isinstance(name, str)
            or _KEY_NAME.fullmatch(name) is None
            or name.endswith(".pub")
            or name.lower() in _OPENSSH_FILES
        ):
            raise SetupError(
                f"name {name!r}: a file name for the new key in ~/.ssh (letters, digits, "
                f". _ -; not a file OpenSSH reads, such as config; e.g. {DEFAULT_KEY_NAME})"
            )
        comment = principal if comment is None else comment
        if (
            not isinstance(comment, str)
            or any(unicodedata.category(c)[0] == "C" for c in comment)
            or len(comment) > 200
        ):
            raise SetupError(
                "comment: one line of at most 200 characters, without control or invisible "
                "characters"
            )
        private = self.ssh_dir / name
        public = private.with_name(name + ".pub")
        for existing in (private, public):
            if existing.exists() or existing.is_symlink():
                raise SetupError(
                    f"name {name!r}: {_short(existing, self.home)} exists and is never "
                    "overwritten; pick that key, or give another name"
                )
        tool = shutil.which("ssh-keygen")
        if tool is None:
            raise SetupError("ssh-keygen is not installed on the server (Debian: openssh-client)")
        self.ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        # ssh-keygen writes into a private folder of its own; the pair is then linked into
        # place, which fails on any name that appeared meanwhile (a file, or a link that
        # would have sent the key elsewhere) instead of writing through it.
        with tempfile.TemporaryDirectory(dir=self.ssh_dir, prefix=".qsecure-keygen-") as work:
            fresh = Path(work) / name
            try:
                result = _run_tool(
                    [tool, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(fresh)]
                )
            except (OSError, subprocess.SubprocessError) as error:
                raise SetupError(f"ssh-keygen could not run: {error}") from None
            if result.returncode != 0:
                detail = " ".join(result.stderr.split())[:300] or "no message"
                raise SetupError(f"ssh-keygen failed (exit {result.returncode}): {detail}")
            _link_new(fresh, private, self.home)
            try:
                _link_new(fresh.with_name(name + ".pub"), public, self.home)
            except SetupError:
                private.unlink()
                raise
        return self._choose(user, _short(public, self.home), principal, generated=True)

    def _user_folder(self, user: str) -> Path:
        folder = self.user_dir(user)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)
        return folder

    def _save(
        self, user: str, key: Path, key_id: str, principal: str, public_key: str
    ) -> PersonalSetup:
        from .sshsig import fingerprint, public_key_from_openssh

        setup = PersonalSetup(
            key=key,
            key_id=key_id,
            principal=principal,
            public_key=public_key,
            fingerprint=fingerprint(public_key_from_openssh(public_key)),
            updated=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )
        record: dict[str, Any] = {
            "key": key_id,
            "key_path": str(key),
            "principal": principal,
            "public_key": public_key,
            "fingerprint": setup.fingerprint,
            "updated": setup.updated,
        }
        with self._files:
            used = self._keys_of(self.user_dir(user))
            record["keys"] = sorted(used | {setup.fingerprint})
            folder = self._user_folder(user)
            _write_private(
                folder / "allowed_signers",
                f'{principal} namespaces="{NAMESPACE}" {public_key}\n',
            )
            _write_private(folder / "setup.json", json.dumps(record, indent=1) + "\n")
        return setup

    @staticmethod
    def _keys_of(folder: Path) -> set[str]:
        """The fingerprints of every key the setup in ``folder`` used (now or before)."""
        try:
            raw = json.loads((folder / "setup.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return set()
        if not isinstance(raw, dict):
            return set()
        keys = raw.get("keys")
        used = {k for k in keys if isinstance(k, str)} if isinstance(keys, list) else set()
        if isinstance(raw.get("fingerprint"), str):
            used.add(raw["fingerprint"])
        return used

    def choosable(self, user: str, candidates: list[KeyCandidate]) -> list[KeyCandidate]:
        """The ``candidates`` ``user`` may choose (:meth:`_claim`): not another's key."""
        kept = []
        with self._files:
            for candidate in candidates:
                try:
                    self._claim(user, candidate.fingerprint, generated=False)
                except KeyOfAnotherUser:
                    continue
                kept.append(candidate)
        return kept

    def _claim(self, user: str, fingerprint: str, *, generated: bool) -> None:
        """Refuse (:class:`KeyOfAnotherUser`) a key that is not ``user``'s to choose: one
        another user's setup uses or used (their signatures carry it, and their personal
        file, or a lab's allowed_signers, trusts it for them), or, on a JupyterHub server
        shared with others, a key of the server's own (``~/.ssh``, the agent) chosen by
        anyone but its owner, ``$JUPYTERHUB_USER``. A key generated for ``user`` is
        theirs. Called with the files' lock held."""
        mine = self.user_dir(user)
        if self.state_dir.is_dir():
            for folder in self.state_dir.iterdir():
                if folder != mine and fingerprint in self._keys_of(folder):
                    raise KeyOfAnotherUser(
                        f"key {fingerprint}: another user of this server signs with it, so "
                        "it cannot be yours; generate a key of your own"
                    )
        owner = os.environ.get("JUPYTERHUB_USER")
        if owner and user != owner and not generated and fingerprint not in self._keys_of(mine):
            raise KeyOfAnotherUser(
                f"key {fingerprint}: the keys in {_short(self.ssh_dir, self.home)} and the "
                "ssh-agent are those of the server's owner; generate a key of your own"
            )

    # What signing and verification use ---------------------------------------------------

    def effective(
        self, settings: SigningSettings, user: str, *, trust: bool = True
    ) -> SigningSettings:
        """``settings`` (the admin's) with ``user``'s setup where the admin left a gap;
        without ``trust`` (the admin's policy cannot be read, so what it requires is not
        known), the personal allowed_signers is not trusted."""
        setup, signers = self.current(user)
        return effective_settings(settings, setup, signers if trust else None)

    def current(self, user: str) -> tuple[PersonalSetup | None, Path | None]:
        """``user``'s setup and personal allowed_signers file, read together."""
        with self._files:
            return self.load(user), self.allowed_signers(user)


def effective_settings(
    settings: SigningSettings, setup: PersonalSetup | None, personal_signers: Path | None
) -> SigningSettings:
    """The admin's ``settings``, completed by a personal ``setup``: its key and principal
    when the policy has no key; its allowed_signers file when the policy has none, and
    then only ``author`` may be granted (as far as the policy grants ``author`` to the
    principal). The admin's values always win when set."""
    if setup is None:
        return settings
    changed = settings
    if settings.key is None:
        changed = changed._replace(
            key=setup.key, principal=setup.principal, key_public=setup.public_key
        )
    elif settings.principal is None:
        changed = changed._replace(principal=setup.principal)
    if settings.allowed_signers is None and personal_signers is not None:
        author: Mapping[str, tuple[str, ...]] = (
            {"author": settings.grants["author"]} if settings.grants.get("author") else {}
        )
        changed = changed._replace(allowed_signers=personal_signers, grants=dict(author))
    return changed


def trust_source(settings: SigningSettings, personal_signers: Path | None) -> str | None:
    """Where verification takes its trust from: ``policy``, ``personal`` or None."""
    if settings.allowed_signers is not None:
        return "policy"
    return "personal" if personal_signers is not None else None


def _run_tool(command: list[str]) -> subprocess.CompletedProcess[str]:
    """Run ssh-add or ssh-keygen without a terminal, its output captured, within
    :data:`TOOL_SECONDS`; raises ``OSError`` or ``SubprocessError`` when it cannot run."""
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=TOOL_SECONDS,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def _link_new(source: Path, target: Path, home: Path) -> None:
    """Give ``source`` the new name ``target``; never replace or follow what is there."""
    try:
        os.link(source, target, follow_symlinks=False)
    except FileExistsError:
        raise SetupError(
            f"{_short(target, home)} appeared while the key was generated and is never "
            "overwritten; pick that key, or give another name"
        ) from None
    except OSError as error:
        raise SetupError(f"cannot create {_short(target, home)}: {error.strerror}") from None


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, readable by the server's user alone."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    try:
        os.fchmod(handle, 0o600)
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def describe(
    personal: PersonalSigning,
    settings: SigningSettings,
    user: str,
    default_principal: str,
    *,
    trust: bool = True,
) -> dict[str, Any]:
    """``GET /qsecure/signing/setup``: ``user``'s setup, what signing would use (key,
    principal, where trust comes from, roles the policy grants the principal) and the
    keys to choose from. Public keys' fingerprints only, never key material. Without
    ``trust``, the personal allowed_signers is not trusted (see :meth:`PersonalSigning.effective`)."""
    from .signatures import SigningPolicy

    setup, signers = personal.current(user)
    signers = signers if trust else None
    effective = effective_settings(settings, setup, signers)
    candidates, agent_note = personal.candidates()
    candidates = personal.choosable(user, candidates)
    key: dict[str, Any] | None = None
    if settings.key is not None:
        key = {"source": "policy", **_key_facts(settings.key)}
    elif setup is not None:
        key = {"source": "personal", "id": setup.key_id, "fingerprint": setup.fingerprint}
    principal = effective.principal or (setup.principal if setup else None) or default_principal
    policy = SigningPolicy(effective.require, effective.require_roles, dict(effective.grants))
    return {
        "setup": setup.to_json() if setup else None,
        "key": key,
        "principal": principal,
        "trust": trust_source(settings, signers),
        "granted_roles": [
            role for role in ("author", "reviewer", "approver") if policy.granted(principal, role)
        ],
        "default_principal": default_principal,
        "candidates": [candidate.to_json() for candidate in candidates],
        "agent": agent_note,
        "ssh_dir": _short(personal.ssh_dir, personal.home),
    }


def _key_facts(key: Path) -> dict[str, Any]:
    """The admin key's fingerprint (from its .pub), when it can be read."""
    public = key if key.suffix == ".pub" else key.with_name(key.name + ".pub")
    try:
        parsed = _parse_public(public.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        parsed = None
    return {"id": str(key.name), "fingerprint": parsed[3] if parsed else None}
