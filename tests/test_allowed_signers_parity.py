"""allowed_signers, differentially: our verdict against stock ``ssh-keygen -Y verify``.

The same allowed_signers file, principal and namespace go to ``ssh-keygen -Y verify
-Overify-time=T`` (with a real signature made by ``ssh-keygen -Y sign``) and to
:func:`load_allowed_signers` + :func:`trust` at the signed time T; the verdicts must agree.
Intricate cases are explicit examples (each records what ssh-keygen answers, so a change
of OpenSSH shows up as such); a property test generates files. Keys and the certificate
are generated at test time.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jupyter_qsecure.signing.allowed_signers import load_allowed_signers, trust
from jupyter_qsecure.signing.sshsig import parse_armored

pytestmark = pytest.mark.skipif(
    shutil.which("ssh-keygen") is None, reason="needs OpenSSH's ssh-keygen to compare with"
)

NS = "notebook@jupyter-qsecure"
MESSAGE = b"the canonical bytes of a notebook\n"
#: The signed time: inside the certificate's validity (2020 to 2030).
T = datetime(2026, 3, 15, 12, 0, 0, tzinfo=timezone.utc)


def _run(args: list[str], *, data: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        args, input=data, capture_output=True, timeout=60, start_new_session=True, check=False
    )


def _keygen(*args: str) -> None:
    result = _run(["ssh-keygen", "-q", *args])
    assert result.returncode == 0, result.stderr


class Lab(NamedTuple):
    """A signer's key, a CA, a certificate for the key, and two signatures of MESSAGE."""

    directory: Path
    key: str  # "ssh-ed25519 AAAA..." of the signer's plain key
    ca: str  # the CA's public key
    cert: str  # the signer's certificate (principals alice, bob; 2020 to 2030)
    other: str  # a key that signed nothing
    ecdsa: str  # an ECDSA key (its base64 ends in padding), which signs as kind "ecdsa"
    signatures: dict[str, Path]  # "plain", "cert", "ecdsa" (in NS), "plain file"...


def _public(path: Path) -> str:
    return " ".join(path.read_text().split()[:2])


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    directory = tmp_path_factory.mktemp("parity")
    for name in ("alice", "ca", "other"):
        _keygen("-t", "ed25519", "-N", "", "-C", name, "-f", str(directory / name))
    _keygen("-t", "ecdsa", "-b", "256", "-N", "", "-C", "ecdsa", "-f", str(directory / "ecdsa"))
    alice = directory / "alice"
    _keygen(
        "-s", str(directory / "ca"), "-I", "alice-id", "-n", "alice,bob",
        "-V", "20200101Z:20300101Z", str(alice.with_suffix(".pub")),
    )  # fmt: skip
    signatures = {}
    signers = [
        ("plain", alice),
        ("cert", directory / "alice-cert.pub"),
        ("ecdsa", directory / "ecdsa"),
    ]
    for kind, signer in signers:
        for namespace in (NS, "file"):
            command = ["ssh-keygen", "-Y", "sign", "-n", namespace, "-f", str(signer)]
            result = _run(command, data=MESSAGE)
            assert result.returncode == 0, result.stderr
            name = kind if namespace == NS else f"{kind} {namespace}"
            signatures[name] = directory / f"{kind}-{namespace}.sig"
            signatures[name].write_bytes(result.stdout)
    return Lab(
        directory,
        key=_public(alice.with_suffix(".pub")),
        ca=_public(directory / "ca.pub"),
        cert=_public(directory / "alice-cert.pub"),
        other=_public(directory / "other.pub"),
        ecdsa=_public(directory / "ecdsa.pub"),
        signatures=signatures,
    )


def _fill(lab: Lab, template: str) -> str:
    return (
        template.replace("{key}", lab.key)
        .replace("{ca}", lab.ca)
        .replace("{cert}", lab.cert)
        .replace("{other}", lab.other)
        .replace("{ecdsa}", lab.ecdsa)
    )


def _write(lab: Lab, text: str) -> Path:
    path = lab.directory / "allowed_signers"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    return path


def _signature(lab: Lab, kind: str, namespace: str) -> Path:
    """The signature file made with the plain key or the certificate in ``namespace``."""
    return lab.signatures[kind if namespace == NS else f"{kind} {namespace}"]


def keygen_trusts(
    lab: Lab, text: str, principal: str, *, namespace: str = NS, kind: str = "plain",
    at: datetime = T,
) -> bool:  # fmt: skip
    """What ``ssh-keygen -Y verify -Overify-time=AT`` answers for this file."""
    path = _write(lab, text)
    when = at.astimezone(timezone.utc).strftime("%Y%m%d%H%M%SZ")
    result = _run(
        [
            "ssh-keygen", "-Y", "verify", "-f", str(path), "-I", principal, "-n", namespace,
            "-s", str(_signature(lab, kind, namespace)), f"-Overify-time={when}",
        ],
        data=MESSAGE,
    )  # fmt: skip
    return result.returncode == 0


def we_trust(
    lab: Lab, text: str, principal: str, *, namespace: str = NS, kind: str = "plain",
    at: datetime = T,
) -> bool:  # fmt: skip
    """What :func:`trust` answers for this file, for the signature's key, signed at AT."""
    signers = load_allowed_signers(_write(lab, text))
    key = parse_armored(_signature(lab, kind, namespace).read_text()).public_key
    return trust(signers, key, namespace, signed_at=at, principal=principal).trusted


def agree(
    lab: Lab, template: str, principal: str, expected: bool, *, namespace: str = NS,
    kind: str = "plain", at: datetime = T,
) -> None:  # fmt: skip
    """ssh-keygen answers ``expected`` for the file ``template`` (``{key}`` etc. filled in),
    and so do we."""
    text = _fill(lab, template)
    theirs = keygen_trusts(lab, text, principal, namespace=namespace, kind=kind, at=at)
    assert theirs is expected, "ssh-keygen answers otherwise than this example records"
    assert we_trust(lab, text, principal, namespace=namespace, kind=kind, at=at) is expected


# --------------------------------------------------------------------------- options


@pytest.mark.parametrize(
    ("template", "principal", "expected"),
    [
        # an empty option (leading or doubled comma) is passed over; a trailing one is not
        ('alice ,namespaces="notebook@*" {key}\n', "alice", True),
        ('alice namespaces="notebook@*",,valid-after="20200101Z" {key}\n', "alice", True),
        ('alice ,,,namespaces="file" {key}\n', "alice", False),
        ('alice namespaces="notebook@*", {key}\n', "alice", False),
        ("alice , {key}\n", "alice", False),
        # a backslash-quote outside quotes does not open a quoted part
        ('alice x\\" {key}\n', "alice", False),
        ('alice x\\" {key}\nalice {key}\n', "alice", True),
        # option names in any case, the flag repeated
        ('alice NAMESPACES="notebook@*",Valid-Before="20300101Z" {key}\n', "alice", True),
        ('alice namespaces="a\\"b,notebook@*" {key}\n', "alice", True),
        ('alice namespaces="notebook@*",namespaces="notebook@*" {key}\n', "alice", False),
        ("alice namespaces=notebook@* {key}\n", "alice", False),
        ('alice namespaces="notebook@*"x {key}\n', "alice", False),
    ],
)
def test_options_as_ssh_keygen_reads_them(
    lab: Lab, template: str, principal: str, expected: bool
) -> None:
    agree(lab, template, principal, expected)


@pytest.mark.parametrize(
    ("template", "principal", "kind", "expected"),
    [
        ("alice ,cert-authority {ca}\n", "alice", "cert", True),
        ("alice Cert-Authority,,CERT-AUTHORITY {ca}\n", "bob", "cert", False),
        ("alice,bob Cert-Authority,,CERT-AUTHORITY {ca}\n", "bob", "cert", True),
    ],
)
def test_cert_authority_options(
    lab: Lab, template: str, principal: str, kind: str, expected: bool
) -> None:
    agree(lab, template, principal, expected, kind=kind)


# --------------------------------------------------------------------------- times


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # before 1970, or at the epoch itself, ssh-keygen refuses the time and the line
        ("19600101", False),
        ("19691231235959Z", False),
        ("19700101Z", False),
        ("19700101000001Z", True),
        ("00010101Z", False),
        # strptime lets blanks lead each field
        ("2020 1 1", True),
        ("2026\t3152359Z", False),
        ("20200101 000Z", True),
        ("20200101 Z", False),
        # only ASCII digits (a line of other digits is refused)
        ("\u0662\u0660\u0662\u0660\u0660\u0661\u0660\u0661", False),
        ("\uff12\uff10\uff12\uff10\uff10\uff11\uff10\uff11", False),
        # normalised as mktime does: the 30th of February, second 61
        ("20200230", True),
        ("20260315115861Z", True),
        ("20260315115862Z", False),
        ("2026031512Z", False),
        ("20260315120001utc", False),
        ("20260315120000z", True),
    ],
)
def test_valid_after_times_as_ssh_keygen_reads_them(lab: Lab, value: str, expected: bool) -> None:
    agree(lab, f'alice valid-after="{value}" {{key}}\n', "alice", expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("99991231235961Z", True),  # beyond datetime's range, still a time for ssh-keygen
        ("99991231", True),
        ("20260315115960Z", True),  # second 60 is 12:00:00, the signed time
        ("20260315 11159Z", False),
        ("2026\t3152359Z", True),
        ("19700101Z", False),
    ],
)
def test_valid_before_times_as_ssh_keygen_reads_them(lab: Lab, value: str, expected: bool) -> None:
    agree(lab, f'alice valid-before="{value}" {{key}}\n', "alice", expected)


@pytest.fixture
def berlin(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time is Berlin's (CET, CEST in summer), for us and for ssh-keygen."""
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.skipif(
    not Path("/usr/share/zoneinfo/Europe/Berlin").exists(), reason="needs the tz database"
)
@pytest.mark.parametrize(
    ("value", "at", "expected"),
    [
        # ssh-keygen's mktime reads a local time as standard time (tm_isdst 0), in summer
        # too: midnight of 1 July in Berlin is 23:00 UTC, not 22:00
        ("20200701", datetime(2020, 6, 30, 22, 30, tzinfo=timezone.utc), False),
        ("20200701", datetime(2020, 6, 30, 23, 0, tzinfo=timezone.utc), True),
        ("20200101", datetime(2019, 12, 31, 23, 0, tzinfo=timezone.utc), True),
        ("20200101", datetime(2019, 12, 31, 22, 59, 59, tzinfo=timezone.utc), False),
        ("20201025023000", datetime(2020, 10, 25, 1, 0, tzinfo=timezone.utc), False),
        ("20200329023000", datetime(2020, 3, 29, 1, 30, tzinfo=timezone.utc), True),
    ],
)
def test_local_times_are_standard_time_as_ssh_keygen_reads_them(
    lab: Lab, berlin: None, value: str, at: datetime, expected: bool
) -> None:
    agree(lab, f'alice valid-after="{value}" {{key}}\n', "alice", expected, at=at)


# --------------------------------------------------------------------------- patterns


@pytest.mark.parametrize(
    ("template", "principal", "expected"),
    [
        # ? is one byte: é is two
        ("? {key}\n", "é", False),
        ("?? {key}\n", "é", True),
        ("al?ce,b?b {key}\n", "alïce", False),
        ("*é {key}\n", "josé", True),
        # a pattern of 1023 bytes or more makes the whole list match nothing
        ("alice,{long1023} {key}\n", "alice", False),
        ("alice,!{long1023} {key}\n", "alice", False),
        ("alice,{long1022} {key}\n", "alice", True),
        ("alice,!{long1022} {key}\n", "alice", True),
        # an empty pattern matches the empty name; a trailing comma ends the list
        ('"" {key}\n', "", False),
        ("alice, {key}\n", "", False),
        (", {key}\n", "", True),
        ("alice,,bob {key}\n", "", True),
        ("alice,!,bob {key}\n", "bob", True),
    ],
)
def test_principal_patterns_as_ssh_keygen_matches_them(
    lab: Lab, template: str, principal: str, expected: bool
) -> None:
    template = template.replace("{long1023}", "x" * 1023).replace("{long1022}", "é" * 511)
    agree(lab, template, principal, expected)


@pytest.mark.parametrize(
    ("namespaces", "namespace", "expected"),
    [
        ("notebook@*,", NS, True),
        ("", NS, False),
        ("notebook@jupyter-qsecur?", NS, True),
        ("!file,*", NS, True),
        ("*,!notebook@*", NS, False),
        (f"{NS},{'n' * 1100}", NS, False),
    ],
)
def test_namespace_patterns_as_ssh_keygen_matches_them(
    lab: Lab, namespaces: str, namespace: str, expected: bool
) -> None:
    agree(lab, f'alice namespaces="{namespaces}" {{key}}\n', "alice", expected, namespace=namespace)


# --------------------------------------------------------------------------- the principals field


@pytest.mark.parametrize(
    ("template", "principal", "kind", "expected"),
    [
        # a double quote opens a quoted part anywhere in the field, and it is removed
        ('alice"x y" {key}\n', "alicex y", "plain", True),
        ('al"ice" {key}\n', "alice", "plain", True),
        ('"alice, bob" {key}\n', " bob", "plain", True),
        ('"alice {key}\n', "alice", "plain", False),
        # what follows the closing quote needs no blank before it
        ('"alice"cert-authority {ca}\n', "alice", "cert", True),
        ('"alice"{key}\n', "alice", "plain", True),
        # a CR ends the field like a blank; only spaces and tabs lead a line
        ("alice\r{key}\n", "alice", "plain", True),
        ("\ralice {key}\n", "alice", "plain", False),
        ("\r\n\t \r\nalice {key}\r\n", "alice", "plain", True),
        (" \t# alice {key}\n", "alice", "plain", False),
        ("\t alice\t \t{key}  comment \t\r\n", "alice", "plain", True),
    ],
)
def test_principals_field_as_ssh_keygen_splits_it(
    lab: Lab, template: str, principal: str, kind: str, expected: bool
) -> None:
    agree(lab, template, principal, expected, kind=kind)


# --------------------------------------------------------------------------- certificates


@pytest.mark.parametrize(
    ("template", "principal", "expected"),
    [
        # a line that is not cert-authority, listing the certificate itself, vouches for it
        # as for a key: for the line's principals, whatever the certificate names
        ("alice {cert}\n", "alice", True),
        ("carol {cert}\n", "carol", True),
        ("carol {cert}\n", "alice", False),
        ('alice namespaces="file" {cert}\n', "alice", False),
        ('alice valid-before="20250101Z" {cert}\n', "alice", False),
        # the plain key does not vouch for its certificate, nor the certificate for the CA
        ("alice {key}\n", "alice", False),
        ("alice cert-authority {cert}\n", "alice", False),
        ("alice {ca}\n", "alice", False),
    ],
)
def test_a_listed_certificate_as_ssh_keygen_trusts_it(
    lab: Lab, template: str, principal: str, expected: bool
) -> None:
    agree(lab, template, principal, expected, kind="cert")


@pytest.mark.parametrize(
    "at", [datetime(2031, 1, 1, tzinfo=timezone.utc), datetime(2019, 1, 1, tzinfo=timezone.utc)]
)
def test_a_listed_certificate_is_not_trusted_outside_its_validity(lab: Lab, at: datetime) -> None:
    """Where we differ from ssh-keygen, on purpose: a line listing a certificate itself
    makes ssh-keygen trust it at any time, even after the certificate expired (or before
    it was valid). The CA gave the certificate its validity; a reviewer who lists the
    certificate expects it to end when it ends, so we trust it only while it is valid."""
    text = _fill(lab, "alice {cert}\n")
    assert keygen_trusts(lab, text, "alice", kind="cert", at=at), "ssh-keygen changed"
    assert not we_trust(lab, text, "alice", kind="cert", at=at)
    signers = load_allowed_signers(_write(lab, text))
    key = parse_armored(lab.signatures["cert"].read_text()).public_key
    verdict = trust(signers, key, NS, signed_at=at, principal="alice")
    assert verdict.reason in (
        "the certificate had expired when signed",
        "the certificate was not yet valid when signed",
    )


# --------------------------------------------------------------------------- the signed time


@pytest.mark.parametrize(
    ("template", "at", "expected"),
    [
        # ssh-keygen's verify-time is whole seconds: a fraction of a second past valid-before
        # is still that second
        ('alice valid-before="20260315120000Z" {key}\n', T + timedelta(microseconds=500_000), True),
        ('alice valid-before="20260315120000Z" {key}\n', T + timedelta(seconds=1), False),
        ('alice valid-after="20260315120000Z" {key}\n', T - timedelta(microseconds=1), False),
        ('alice valid-after="20260315120000Z" {key}\n', T + timedelta(microseconds=999_999), True),
    ],
)
def test_the_signed_time_counts_in_whole_seconds(
    lab: Lab, template: str, at: datetime, expected: bool
) -> None:
    agree(lab, template, "alice", expected, at=at)


# --------------------------------------------------------------------------- generated files

#: Principal patterns ("alice" and "*" twice, to have lines that match more often) and
#: namespaces patterns; the long ones pass OpenSSH's 1023-byte limit for one pattern.
_PATTERNS = [
    "alice", "alice", "*", "*", "bob", "al*", "a?ice", "!alice", "!bob", "?", "", "é", "??",
    "*@*", "b*", "l" * 1030, "!" + "é" * 520,
]  # fmt: skip
_NAMESPACES = [
    NS, "notebook@*", "file", "!file", "*", "notebook@jupyter-qsecur?", "", "!notebook@*",
    "n" * 1023 + "*",
]  # fmt: skip
_OFFSETS = [-400 * 86400, -86400, -3600, -61, -1, 0, 1, 59, 3600, 86400, 400 * 86400]
_ODD_TIMES = [
    "2020 1 1", "19700101Z", "19691231", "20261315", "2026031512", "99991231235961Z",
    "", "20260315120060Z", "20260315 1200Z", "2026-3-15", "20260315T1200",
]  # fmt: skip


@st.composite
def _times(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 7)) == 0:
        return draw(st.sampled_from(_ODD_TIMES))
    moment = T + timedelta(seconds=draw(st.sampled_from(_OFFSETS)))
    layout = draw(st.sampled_from(["%Y%m%d", "%Y%m%d%H%M", "%Y%m%d%H%M%S"]))
    return moment.strftime(layout) + draw(st.sampled_from(["", "Z", "z", "UTC", "utc"]))


def _case(name: str, draw: st.DrawFn) -> str:
    return draw(st.sampled_from([name, name.upper(), name.title()]))


@st.composite
def _options(draw: st.DrawFn) -> str:
    options = []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["ca", "ns", "ns", "after", "after", "before", "empty", "odd"]))
        if kind == "ca":
            options.append(_case("cert-authority", draw))
        elif kind == "ns":
            patterns = draw(st.lists(st.sampled_from(_NAMESPACES), min_size=0, max_size=3))
            options.append(f'{_case("namespaces", draw)}="{",".join(patterns)}"')
        elif kind in ("after", "before"):
            options.append(f'{_case("valid-" + kind, draw)}="{draw(_times())}"')
        elif kind == "empty":
            options.append("")
        else:
            odd = ["unknown", "namespaces=file", "cert-authorityx", '"x y"', '\\"x', 'x\\"']
            odd += ['namespaces="a b,*"', 'valid-after="20200101Z"x', 'namespaces="a\\",*"']
            options.append(draw(st.sampled_from(odd)))
    return ",".join(options)


@st.composite
def _lines(draw: st.DrawFn, lab: Lab) -> str:
    blank = draw(st.sampled_from(["", " ", "\t", " \t"]))
    if draw(st.integers(0, 7)) == 0:
        return blank + draw(st.sampled_from(["", "# alice {key}", "#", "\r"]))
    principals = ",".join(draw(st.lists(st.sampled_from(_PATTERNS), min_size=1, max_size=3)))
    principals += draw(st.sampled_from(["", "", ","]))
    if draw(st.booleans()) or principals == "":
        quoting = ['"{}"', '"{} "', '" {}"', 'a"{}"', '"{}"x', "\r{}", "{}\0x"]
        principals = draw(st.sampled_from(quoting)).format(principals)
    gap = st.sampled_from([" ", "\t", "  ", " \t "])
    options = draw(_options())
    keys = ["{key}"] * 6 + ["{ca}"] * 3 + ["{cert}", "{other}", "{ecdsa}", "ssh-ed25519 AAAA"]
    keys += ["{key}=", "{key}\rx", "ssh-rsa " + lab.key.split()[1]]
    key = draw(st.sampled_from(keys))
    comment = draw(st.sampled_from(["", "", " alice@example", ' a "quoted', "\t#x"]))
    return _fill(
        lab,
        blank + principals + draw(gap) + (options + draw(gap) if options else "") + key + comment,
    )


@st.composite
def _files(draw: st.DrawFn, lab: Lab) -> str:
    lines = draw(st.lists(_lines(lab), min_size=1, max_size=3))
    ends = [draw(st.sampled_from(["\n", "\r\n", " \n"])) for _ in lines]
    text = "".join(line + end for line, end in zip(lines, ends, strict=True))
    return text[: -len(ends[-1])] if draw(st.integers(0, 5)) == 0 else text


@settings(max_examples=120)
@given(data=st.data())
def test_generated_files_agree_with_ssh_keygen(lab: Lab, data: st.DataObject) -> None:
    """For a generated allowed_signers file (principal patterns, options in any case and
    order, times in every layout, comments, blanks, CRLF, certificates), ssh-keygen -Y
    verify at the signed time and we answer the same."""
    text = data.draw(_files(lab), label="file")
    principals = ["alice"] * 5 + ["bob", "é", "carol", "", "aalice", "alice "]
    principal = data.draw(st.sampled_from(principals), label="principal")
    namespace = data.draw(st.sampled_from([NS, "file"]), label="namespace")
    kind = data.draw(st.sampled_from(["plain", "plain", "cert", "cert", "ecdsa"]), label="kind")
    ours = we_trust(lab, text, principal, namespace=namespace, kind=kind)
    assert ours is keygen_trusts(lab, text, principal, namespace=namespace, kind=kind), text


# --------------------------------------------------------------------------- the key


def _base64_variant(lab: Lab, how: str) -> str:
    kind, encoded = lab.ecdsa.split() if how.startswith("ecdsa") else lab.key.split()
    if how == "cr inside":
        encoded = f"{encoded[:20]}\r{encoded[20:]}"
    elif how == "form feed inside":
        encoded = f"{encoded[:20]}\f{encoded[20:]}"
    elif how == "extra padding":
        encoded += "="
    elif how == "cr then comment":
        encoded += "\rcomment"
    elif how == "ecdsa, spare bits set":
        # the character before the padding carries two bits the padding leaves over;
        # setting one changes no decoded byte, and b64_pton refuses it
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        last = alphabet.index(encoded[-2])
        assert encoded.endswith("=") and last & 0b11 == 0
        encoded = encoded[:-2] + alphabet[last | 1] + "="
    elif how == "cr after the type":
        return f"alice {kind}\r{encoded}\n"
    return f"alice {kind} {encoded} comment\n"


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("as it is", True),
        ("ecdsa, as it is", True),
        # b64_pton passes over blanks inside the base64 (the field ends at space or tab)
        ("cr inside", True),
        ("form feed inside", True),
        ("cr then comment", False),
        ("cr after the type", False),
        # and is strict where Python's decoder is not
        ("extra padding", False),
        ("ecdsa, spare bits set", False),
    ],
)
def test_the_key_field_as_ssh_keygen_reads_it(lab: Lab, how: str, expected: bool) -> None:
    kind = "ecdsa" if how.startswith("ecdsa") else "plain"
    agree(lab, _base64_variant(lab, how), "alice", expected, kind=kind)


# --------------------------------------------------------------------------- without a principal


def keygen_finds(lab: Lab, text: str, *, kind: str = "plain", at: datetime = T) -> set[str]:
    """The principals ``ssh-keygen -Y find-principals -Overify-time=AT`` prints (none when
    it finds no line)."""
    path = _write(lab, text)
    when = at.astimezone(timezone.utc).strftime("%Y%m%d%H%M%SZ")
    result = _run(
        [
            "ssh-keygen", "-Y", "find-principals", "-f", str(path),
            "-s", str(_signature(lab, kind, NS)), f"-Overify-time={when}",
        ]
    )  # fmt: skip
    return set(result.stdout.decode().split()) if result.returncode == 0 else set()


@pytest.mark.parametrize(
    ("template", "found"),
    [
        # a cert-authority line vouches for the certificate's principals it allows, and
        # only if there is one
        ("carol cert-authority {ca}\n", set()),
        ("a*,carol cert-authority {ca}\n", {"alice"}),
        ("alice,bob cert-authority {ca}\n", {"alice", "bob"}),
        ("carol cert-authority {ca}\n*@x,b?b cert-authority {ca}\n", {"bob"}),
        ("* cert-authority {ca}\n", {"alice", "bob"}),
    ],
)
def test_a_certificate_without_a_principal_as_ssh_keygen_finds_it(
    lab: Lab, template: str, found: set[str]
) -> None:
    text = _fill(lab, template)
    assert keygen_finds(lab, text, kind="cert") == found, "ssh-keygen changed"
    signers = load_allowed_signers(_write(lab, text))
    key = parse_armored(_signature(lab, "cert", NS).read_text()).public_key
    verdict = trust(signers, key, NS, signed_at=T)
    assert verdict.trusted is bool(found)
    assert set(verdict.principals) == found


def test_a_negated_pattern_excludes_a_certificate_principal_without_a_principal(lab: Lab) -> None:
    """Where we differ from ssh-keygen: find-principals matches each pattern of a
    cert-authority line alone, so ``*,!bob`` finds bob (whom ``-Y verify -I bob`` refuses);
    we name only the principals that verify would accept."""
    text = _fill(lab, "*,!bob cert-authority {ca}\n")
    assert keygen_finds(lab, text, kind="cert") == {"alice", "bob"}, "ssh-keygen changed"
    assert not keygen_trusts(lab, text, "bob", kind="cert")
    signers = load_allowed_signers(_write(lab, text))
    key = parse_armored(_signature(lab, "cert", NS).read_text()).public_key
    assert trust(signers, key, NS, signed_at=T).principals == ("alice",)
