"""allowed_signers and revocation lists: parsing, trust, and agreement with ssh-keygen -Y verify.

Keys are generated fresh with ``ssh-keygen -N ''`` in temporary directories.
"""

from __future__ import annotations

import base64
import itertools
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from jupyter_qsecure.signing.allowed_signers import (
    AllowedSigner,
    AllowedSignersError,
    TrustVerdict,
    load_allowed_signers,
    load_revoked_keys,
    match_pattern_list,
    parse_allowed_signers,
    parse_revoked_keys,
    trust,
)
from jupyter_qsecure.signing.sshsig import (
    SignatureError,
    public_key_from_openssh,
    verify,
    verify_with_ssh_keygen,
)

NS = "notebook@jupyter-qsecure"
MESSAGE = b"the canonical bytes of a notebook\n"
T = datetime(2026, 3, 15, 12, 0, 0, tzinfo=timezone.utc)

pytestmark = pytest.mark.skipif(
    shutil.which("ssh-keygen") is None, reason="needs OpenSSH's ssh-keygen"
)


def _run(args: list[str], *, input: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        args, input=input, capture_output=True, timeout=60, start_new_session=True, check=False
    )


class Key:
    """A fresh ssh-keygen key pair."""

    def __init__(self, directory: Path, name: str, *kind: str) -> None:
        self.path = directory / name
        result = _run(["ssh-keygen", "-q", *kind, "-N", "", "-C", name, "-f", str(self.path)])
        assert result.returncode == 0, result.stderr
        self.line = self.path.with_suffix(".pub").read_text().strip()
        self.blob = public_key_from_openssh(self.line)

    def sign(self, message: bytes = MESSAGE, namespace: str = NS) -> str:
        result = _run(
            ["ssh-keygen", "-Y", "sign", "-n", namespace, "-f", str(self.path)], input=message
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.decode()


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Key]:
    directory = tmp_path_factory.mktemp("keys")
    return {
        "rsa": Key(directory, "id_rsa", "-t", "rsa", "-b", "3072"),
        "ca": Key(directory, "id_ca", "-t", "ed25519"),
        "file": Key(directory, "id_file", "-t", "ed25519"),
        "alice": Key(directory, "id_alice", "-t", "ed25519"),
        "bob": Key(directory, "id_bob", "-t", "ecdsa", "-b", "256"),
    }


def keygen_verify(
    directory: Path,
    allowed: str,
    armored: str,
    *,
    principal: str,
    namespace: str = NS,
    message: bytes = MESSAGE,
    verify_time: datetime | None = None,
    revoked: str | None = None,
) -> bool:
    """Stock ssh-keygen -Y verify's answer, through verify_with_ssh_keygen."""
    allowed_file = directory / "allowed_signers"
    allowed_file.write_text(allowed)
    revoked_file = None
    if revoked is not None:
        revoked_file = directory / "revoked_keys"
        revoked_file.write_text(revoked)
    return verify_with_ssh_keygen(
        message,
        armored,
        namespace,
        allowed_file,
        principal,
        verify_time=verify_time,
        revoked_keys=revoked_file,
    )


# --------------------------------------------------------------------------- the manual


def manual_example(keys: dict[str, Key]) -> str:
    """The example of ssh-keygen(1), ALLOWED SIGNERS, with fresh keys."""
    return (
        "# Comments allowed at start of line\n"
        f"user1@example.com,user2@example.com {keys['rsa'].line}\n"
        "# A certificate authority, trusted for all principals in a domain.\n"
        f"*@example.com cert-authority {keys['ca'].line}\n"
        "# A key that is accepted only for file signing.\n"
        f'user2@example.com namespaces="file" {keys["file"].line}\n'
    )


def test_manual_example_parses(keys: dict[str, Key]) -> None:
    signers = parse_allowed_signers(manual_example(keys))
    assert signers == [
        AllowedSigner(
            ("user1@example.com", "user2@example.com"), keys["rsa"].blob, None, None, None, False, 2
        ),
        AllowedSigner(("*@example.com",), keys["ca"].blob, None, None, None, True, 4),
        AllowedSigner(("user2@example.com",), keys["file"].blob, ("file",), None, None, False, 6),
    ]


@pytest.mark.parametrize(
    ("key", "namespace", "principal", "trusted", "reason"),
    [
        (
            "rsa",
            NS,
            "user1@example.com",
            True,
            "trusted: user1@example.com (allowed_signers line 2)",
        ),
        (
            "rsa",
            NS,
            "user2@example.com",
            True,
            "trusted: user2@example.com (allowed_signers line 2)",
        ),
        (
            "rsa",
            NS,
            "user3@example.com",
            False,
            "principal user3@example.com is not allowed this key",
        ),
        (
            "file",
            "file",
            "user2@example.com",
            True,
            "trusted: user2@example.com (allowed_signers line 6)",
        ),
        ("file", NS, "user2@example.com", False, "namespace not allowed for this key"),
        ("ca", NS, "user1@example.com", False, "unknown key"),
        ("alice", NS, "user1@example.com", False, "unknown key"),
    ],
)
def test_manual_example_trust_agrees_with_ssh_keygen(
    keys: dict[str, Key],
    tmp_path: Path,
    key: str,
    namespace: str,
    principal: str,
    trusted: bool,
    reason: str,
) -> None:
    text = manual_example(keys)
    armored = keys[key].sign(namespace=namespace)
    parsed = verify(MESSAGE, armored, namespace)
    verdict = trust(
        parse_allowed_signers(text),
        parsed.public_key,
        namespace,
        signed_at=T,
        now=T,
        principal=principal,
    )
    assert verdict.trusted is trusted
    assert verdict.reason.startswith(reason)
    assert verdict.principals == ((principal,) if trusted else ())
    assert (
        keygen_verify(tmp_path, text, armored, principal=principal, namespace=namespace) is trusted
    )


def test_a_cert_authority_key_does_not_vouch_for_its_own_signatures(
    keys: dict[str, Key],
) -> None:
    signers = parse_allowed_signers(manual_example(keys))
    verdict = trust(signers, keys["ca"].blob, NS, signed_at=T)
    assert not verdict.trusted
    assert "cert-authority" in verdict.reason
    cert = b"\0\0\0\x20ssh-ed25519-cert-v01@openssh.com" + b"\0" * 40
    with pytest.raises(SignatureError):  # a damaged certificate never verified a signature
        trust(signers, cert, NS, signed_at=T)


def test_without_principal_the_verdict_names_the_line_principals(keys: dict[str, Key]) -> None:
    text = (
        f"user1@example.com,!user9@example.com {keys['alice'].line}\n"
        f'ops@example.com namespaces="other" {keys["alice"].line}\n'
        f"user2@example.com {keys['alice'].line}\n"
    )
    verdict = trust(parse_allowed_signers(text), keys["alice"].blob, NS, signed_at=T, now=T)
    assert verdict == TrustVerdict(
        True,
        ("user1@example.com", "user2@example.com"),
        "trusted: user1@example.com, user2@example.com (allowed_signers line 1, 3)",
    )


# --------------------------------------------------------------------------- options


def test_options_quoting_case_and_quoted_principals(keys: dict[str, Key]) -> None:
    text = (
        f'"alice@example.com,bob@example.com"  NAMESPACES="a,b*",Valid-After="20260101Z" '
        f"{keys['alice'].line} trailing comment words\n"
        f'carol@example.com namespaces="say \\"hi\\"",cert-authority {keys["ca"].line}\n'
        f'dave@example.com namespaces="" {keys["bob"].line}\n'
        f"\t  \n   # indented comment\n"
    )
    alice, carol, dave = parse_allowed_signers(text)
    assert alice.principals == ("alice@example.com", "bob@example.com")
    assert alice.namespaces == ("a", "b*")
    assert alice.valid_after == datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert alice.valid_before is None and not alice.cert_authority
    assert carol.namespaces == ('say "hi"',) and carol.cert_authority
    assert dave.namespaces == ()
    verdict = trust([dave], keys["bob"].blob, NS, signed_at=T, now=T)
    assert verdict.reason == "namespace not allowed for this key"


def test_times_without_z_are_local_time(keys: dict[str, Key]) -> None:
    (signer,) = parse_allowed_signers(
        f'a@b valid-after="20260101",valid-before="202612312359" {keys["alice"].line}'
    )
    assert signer.valid_after == datetime(2026, 1, 1).astimezone()
    assert signer.valid_before == datetime(2026, 12, 31, 23, 59).astimezone()
    assert signer.valid_after.tzinfo is not None
    (signer,) = parse_allowed_signers(f'a@b valid-after="20260101123456Z" {keys["alice"].line}')
    assert signer.valid_after == datetime(2026, 1, 1, 12, 34, 56, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("signed_at", "reason"),
    [
        (T, None),
        (datetime(2026, 1, 1, tzinfo=timezone.utc), None),  # valid-after is inclusive
        (datetime(2026, 12, 31, tzinfo=timezone.utc), None),  # valid-before is inclusive
        (
            datetime(2025, 12, 31, 23, 59, 59, tzinfo=timezone.utc),
            "key not valid before 2026-01-01",
        ),
        (datetime(2026, 12, 31, 0, 0, 1, tzinfo=timezone.utc), "key expired 2026-12-31"),
        (datetime(2027, 6, 1, tzinfo=timezone.utc), "key expired 2026-12-31"),
    ],
)
def test_validity_window_is_judged_at_the_signed_time(
    keys: dict[str, Key], tmp_path: Path, signed_at: datetime, reason: str | None
) -> None:
    """As git judges a signed commit at its signed time (ssh-keygen -Overify-time)."""
    text = (
        f'alice@example.com valid-after="20260101Z",valid-before="20261231Z" {keys["alice"].line}'
    )
    signers = parse_allowed_signers(text)
    for now in (T, datetime(2030, 1, 1, tzinfo=timezone.utc)):  # now does not matter
        verdict = trust(
            signers,
            keys["alice"].blob,
            NS,
            signed_at=signed_at,
            now=now,
            principal="alice@example.com",
        )
        assert verdict.trusted is (reason is None)
        if reason is not None:
            assert verdict.reason.startswith(reason)
    assert keygen_verify(
        tmp_path, text, keys["alice"].sign(), principal="alice@example.com", verify_time=signed_at
    ) is (reason is None)


def test_naive_datetimes_are_local_time(keys: dict[str, Key]) -> None:
    signers = parse_allowed_signers(f'a@b valid-after="20260101" {keys["alice"].line}')
    assert trust(
        signers, keys["alice"].blob, NS, signed_at=datetime(2026, 1, 1), now=datetime(2026, 1, 1)
    ).trusted
    assert not trust(
        signers,
        keys["alice"].blob,
        NS,
        signed_at=datetime(2025, 12, 31, 23, 59),
        now=datetime(2026, 2, 1),
    ).trusted


def test_a_time_reason_shows_the_time_when_not_midnight(keys: dict[str, Key]) -> None:
    signers = parse_allowed_signers(f'a@b valid-before="202601011230Z" {keys["alice"].line}')
    verdict = trust(signers, keys["alice"].blob, NS, signed_at=T, now=T)
    assert verdict.reason.startswith("key expired 2026-01-01 12:30:00+00:00")


def test_another_line_for_the_same_key_can_allow_it(keys: dict[str, Key], tmp_path: Path) -> None:
    text = (
        f'alice@example.com namespaces="file" {keys["alice"].line}\n'
        f'alice@example.com valid-before="20200101Z" {keys["alice"].line}\n'
        f'alice@example.com namespaces="notebook@*" {keys["alice"].line}\n'
    )
    verdict = trust(
        parse_allowed_signers(text),
        keys["alice"].blob,
        NS,
        signed_at=T,
        now=T,
        principal="alice@example.com",
    )
    assert verdict.trusted and verdict.reason.endswith("line 3)")
    armored = keys["alice"].sign()
    assert keygen_verify(tmp_path, text, armored, principal="alice@example.com", verify_time=T)


# --------------------------------------------------------------------------- principals


@pytest.mark.parametrize(
    ("patterns", "value", "expected"),
    [
        ("*@example.com", "alice@example.com", True),
        ("*@example.com", "alice@example.org", False),
        ("?lice@example.com", "alice@example.com", True),
        ("?lice@example.com", "aalice@example.com", False),
        ("*", "", True),
        ("a*c", "abbbc", True),
        ("a*c", "abbbd", False),
        ("*@example.com,!mallory@example.com", "mallory@example.com", False),
        ("!mallory@example.com,*@example.com", "mallory@example.com", False),
        ("!mallory@example.com", "alice@example.com", False),  # negation alone allows nobody
        ("alice@EXAMPLE.com", "alice@example.com", False),  # case-sensitive
        ("a.b", "axb", False),  # no regular expressions
        ("a[b]", "a[b]", True),
    ],
)
def test_pattern_lists(patterns: str, value: str, expected: bool) -> None:
    assert match_pattern_list(value, patterns.split(",")) is expected


@pytest.mark.parametrize(
    ("principal", "trusted"),
    [
        ("alice@example.com", True),
        ("bob@example.com", True),
        ("mallory@example.com", False),
        ("alice@example.org", False),
        ("x@sub.example.com", True),
    ],
)
def test_wildcard_principals_agree_with_ssh_keygen(
    keys: dict[str, Key], tmp_path: Path, principal: str, trusted: bool
) -> None:
    text = f"*@example.com,*@*.example.com,!mallory@* {keys['alice'].line}\n"
    verdict = trust(
        parse_allowed_signers(text), keys["alice"].blob, NS, signed_at=T, now=T, principal=principal
    )
    assert verdict.trusted is trusted
    if not trusted:
        assert verdict.reason == f"principal {principal} is not allowed this key"
    assert keygen_verify(tmp_path, text, keys["alice"].sign(), principal=principal) is trusted


# --------------------------------------------------------------------------- revocation


def test_revoked_keys_agree_with_ssh_keygen(keys: dict[str, Key], tmp_path: Path) -> None:
    revoked_text = f"# revoked 2026-02-01\n\n{keys['bob'].line}\n{keys['alice'].line} old laptop\n"
    path = tmp_path / "revoked"
    path.write_text(revoked_text)
    revoked = load_revoked_keys(path)
    assert revoked == {keys["alice"].blob, keys["bob"].blob}
    text = f"alice@example.com {keys['alice'].line}\nrsa@example.com {keys['rsa'].line}\n"
    signers = parse_allowed_signers(text)
    verdict = trust(signers, keys["alice"].blob, NS, signed_at=T, now=T, revoked=revoked)
    assert verdict == TrustVerdict(False, (), "key revoked")
    assert trust(signers, keys["rsa"].blob, NS, signed_at=T, now=T, revoked=revoked).trusted
    assert (
        trust(
            signers, keys["alice"].blob, NS, signed_at=T, now=T, revoked={keys["alice"].blob}
        ).reason
        == "key revoked"
    )
    armored = keys["alice"].sign()
    assert keygen_verify(tmp_path, text, armored, principal="alice@example.com")
    assert not keygen_verify(
        tmp_path, text, armored, principal="alice@example.com", revoked=revoked_text
    )


def test_revocation_list_errors_name_the_line(tmp_path: Path, keys: dict[str, Key]) -> None:
    path = tmp_path / "revoked"
    path.write_text(f"{keys['alice'].line}\n# fine\nssh-ed25519 not*base64\n")
    with pytest.raises(AllowedSignersError) as error:
        load_revoked_keys(path)
    assert str(error.value).startswith(f"{path}:3: ")
    assert error.value.line == 3
    with pytest.raises(AllowedSignersError) as error:
        load_revoked_keys(tmp_path / "missing")
    assert "cannot read" in str(error.value)
    assert parse_revoked_keys("") == set()


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("alice@example.com", "expected 'principals [options] keytype base64-key [comment]'"),
        ('alice@example.com namespaces="x"', "missing key after the options"),
        ("alice@example.com bogus {key}", "unknown option 'bogus'"),
        ("alice@example.com no-touch-required {key}", "unknown option 'no-touch-required'"),
        (
            "alice@example.com namespaces=x {key}",
            "the value of namespaces must be in double quotes",
        ),
        ('alice@example.com namespaces="x {key}', "no closing double quote"),
        ('"alice@example.com {key}', "quoted principals field has no closing double quote"),
        ('alice@example.com valid-after="2026" {key}', "invalid \"valid-after\" time '2026'"),
        ('alice@example.com valid-after="20261301" {key}', 'invalid "valid-after" time'),
        ('alice@example.com valid-before="20260101T" {key}', 'invalid "valid-before" time'),
        (
            'alice@example.com valid-after="20260102Z",valid-before="20260101Z" {key}',
            '"valid-before" time is not after the "valid-after" time',
        ),
        ('alice@example.com namespaces="a",namespaces="b" {key}', 'multiple "namespaces" options'),
        ('alice@example.com namespaces="a", {key}', "the options end with a comma"),
        ('alice@example.com namespaces="a"x {key}', "unexpected 'x' after an option"),
        ("alice@example.com ssh-ed25519 AAAA!!!!", "invalid key"),
        ("alice@example.com ssh-ed25519", "invalid key"),
        ("alice@example.com ssh-rsa {b64}", "holds a ssh-ed25519 key, not a ssh-rsa key"),
        (
            "alice@example.com ssh-dss AAAAB3NzaC1kc3MAAAABAw==",
            "key type 'ssh-dss' is not supported",
        ),
    ],
)
def test_a_bad_line_is_skipped_with_a_warning_naming_it(
    keys: dict[str, Key], tmp_path: Path, line: str, expected: str
) -> None:
    """As ssh-keygen 9.x: the line is skipped, the lines around it still count."""
    key = keys["alice"].line
    text = (
        f"# team\nbob@example.com {keys['bob'].line}\n"
        + line.format(key=key, b64=key.split()[1])
        + f"\ncarol@example.com {key}\n"
    )
    path = tmp_path / "allowed_signers"
    path.write_text(text)
    warnings: list[str] = []
    signers = load_allowed_signers(path, warnings)
    assert [s.line for s in signers] == [2, 4]
    [message] = warnings
    assert message.startswith(f"{path}:3: "), message
    assert expected in message and message.endswith("(line skipped)"), message
    warnings.clear()
    parse_allowed_signers(text, source="team_signers", warnings=warnings)
    assert warnings[0].startswith("team_signers:3: ")
    armored = keys["alice"].sign()
    assert keygen_verify(tmp_path, text, armored, principal="carol@example.com")


def test_unreadable_files_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(AllowedSignersError) as error:
        load_allowed_signers(tmp_path / "nope")
    assert str(tmp_path / "nope") in str(error.value) and "cannot read" in str(error.value)
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    warnings: list[str] = []
    assert load_allowed_signers(binary, warnings) == [] and len(warnings) == 1


def test_crlf_files_and_empty_files(keys: dict[str, Key], tmp_path: Path) -> None:
    path = tmp_path / "allowed_signers"
    path.write_bytes(f"# x\r\nalice@example.com {keys['alice'].line}\r\n".encode())
    (signer,) = load_allowed_signers(path)
    assert signer.line == 2 and signer.public_key == keys["alice"].blob
    assert parse_allowed_signers("") == []
    assert trust([], keys["alice"].blob, NS, signed_at=T, now=T) == TrustVerdict(
        False, (), "unknown key"
    )


# --------------------------------------------------------------------------- agreement


NAMESPACE_OPTIONS = {
    "any": None,
    "exact": f'namespaces="{NS}"',
    "wildcard": 'namespaces="notebook@*"',
    "other": 'namespaces="file,git"',
    "negated": f'namespaces="*,!{NS}"',
    "empty": 'namespaces=""',
}
_DAY = timedelta(days=1)


def _stamp(moment: datetime, utc: bool = True) -> str:
    if utc:
        return moment.astimezone(timezone.utc).strftime("%Y%m%d%H%M%SZ")
    return moment.astimezone().strftime("%Y%m%d%H%M%S")


WINDOW_OPTIONS = {
    "none": None,
    "after-past": f'valid-after="{_stamp(T - _DAY)}"',
    "after-future": f'valid-after="{_stamp(T + _DAY)}"',
    "after-exactly-now": f'valid-after="{_stamp(T)}"',
    "before-past": f'valid-before="{_stamp(T - _DAY)}"',
    "before-future": f'valid-before="{_stamp(T + _DAY)}"',
    "before-exactly-now": f'valid-before="{_stamp(T)}"',
    "inside": f'valid-after="{_stamp(T - _DAY)}",valid-before="{_stamp(T + _DAY)}"',
    "outside-later": f'valid-after="{_stamp(T + _DAY)}",valid-before="{_stamp(T + 2 * _DAY)}"',
    "local-time-inside": (
        f'valid-after="{_stamp(T - _DAY, utc=False)}",valid-before="{_stamp(T + _DAY, utc=False)}"'
    ),
    "local-date-future": f'valid-after="{(T + 2 * _DAY).astimezone().strftime("%Y%m%d")}"',
}
PRINCIPALS = ["alice@example.com", "*@example.com", "*,!alice@example.com", "bob@example.com"]


@pytest.mark.parametrize("window", list(WINDOW_OPTIONS))
@pytest.mark.parametrize("namespaces", list(NAMESPACE_OPTIONS))
def test_trust_agrees_with_ssh_keygen_verify(
    keys: dict[str, Key], tmp_path: Path, namespaces: str, window: str
) -> None:
    armored = keys["alice"].sign()
    parsed = verify(MESSAGE, armored, NS)
    options = ",".join(o for o in (NAMESPACE_OPTIONS[namespaces], WINDOW_OPTIONS[window]) if o)
    disagreements = []
    for principals, revoked in itertools.product(PRINCIPALS, [False, True]):
        line = " ".join(p for p in (principals, options, keys["alice"].line) if p) + "\n"
        # a second, unrelated line keeps the file realistic
        text = f"rsa@example.com {keys['rsa'].line}\n{line}"
        ours = trust(
            parse_allowed_signers(text),
            parsed.public_key,
            NS,
            signed_at=T,
            now=T,
            principal="alice@example.com",
            revoked={parsed.public_key} if revoked else set(),
        )
        theirs = keygen_verify(
            tmp_path,
            text,
            armored,
            principal="alice@example.com",
            verify_time=T,
            revoked=keys["alice"].line + "\n" if revoked else None,
        )
        if ours.trusted is not theirs:
            disagreements.append((line, revoked, ours, theirs))
    assert not disagreements


def test_base64_of_the_line_is_what_ssh_keygen_sees(keys: dict[str, Key]) -> None:
    (signer,) = parse_allowed_signers(f"a@b {keys['bob'].line}")
    assert base64.b64encode(signer.public_key).decode() == keys["bob"].line.split()[1]


def test_signature_by_another_key_is_unknown(keys: dict[str, Key], tmp_path: Path) -> None:
    text = f"alice@example.com {keys['alice'].line}\n"
    armored = keys["bob"].sign()
    parsed = verify(MESSAGE, armored, NS)
    verdict = trust(
        parse_allowed_signers(text),
        parsed.public_key,
        NS,
        signed_at=T,
        now=T,
        principal="alice@example.com",
    )
    assert verdict == TrustVerdict(False, (), "unknown key")
    assert not keygen_verify(tmp_path, text, armored, principal="alice@example.com")
