"""Value checks of the scanner: typed sequences and self-describing placeholders are not
credentials; generated tokens are, alone on a line (from 24 characters), in a JWT-like
dotted form under a key name, and on every line of a run of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_qsecure.guard import Scanner
from jupyter_qsecure.guard.checks import is_placeholder, typed_sequence
from jupyter_qsecure.guard.rule import expand

SCANNER = Scanner()


def _rules(text: str, name: str = "notes.txt") -> list[str]:
    return [f.rule for f in SCANNER.scan_text(text, path=Path(name)).findings]


@pytest.mark.parametrize(
    "value",
    [
        "Q7r8s9T0u1V2w3X4y5Z6a7B8c9D0e1F2g3H4",  # every other character in order
        "X9y8Z7a6B5c4D3e2F1g0H9i8J7k6L5m4N3o2",  # up and down, z to a, 0 to 9
    ],
)
def test_interleaved_sequences_are_typed(value: str) -> None:
    # Not a placeholder for a provider's rule (a test's ``ghp_`` token may look so), but
    # no generic secret and no bare token.
    assert typed_sequence(value) and not is_placeholder(value)
    assert _rules(f"GITHUB_TOKEN=ghp_{value}\n", ".env") == ["github-token"]
    assert _rules(f"{value}\n") == []
    assert _rules(f"SERVICE_SECRET={value}\n", ".env") == []


@pytest.mark.parametrize(
    "value",
    [
        "abcdefg12346+FJQCK",  # three fifths typed
        "9876543210zyxwvu",
        "mypassword",
        "YOURPASSWORD",
        "my_api_key",
    ],
)
def test_typed_values_are_placeholders(value: str) -> None:
    assert is_placeholder(value)


@pytest.mark.parametrize("template", ["{A:40}", "{W:44}", "{a:32}", "my{A:20}", "set{A:30}"])
def test_generated_values_are_not(template: str) -> None:
    assert not is_placeholder(expand(template)) and not typed_sequence(expand(template))


def test_a_typed_password_starting_with_my_is_a_password() -> None:
    # ``my`` starts a placeholder only when words follow (``mypassword``, ``my_token``).
    assert _rules("REACT_APP_GUEST_PASSWORD=mycoin!1\n", ".env") == ["password-env"]
    assert _rules("REACT_APP_GUEST_PASSWORD=mypassword\n", ".env") == []


def test_a_short_bare_token_on_its_own_line() -> None:
    token = expand("{A:10}7{A:5}3{A:7}")
    assert _rules(f"Your new key:\n\n{token}\n") != []
    assert _rules("a1B2c3D4e5F6g7H8i9J0k1L2\n") == []  # typed


def test_a_random_token_with_a_long_run_of_letters() -> None:
    # Random base64url often has 16 letters in a row; words run together read as words.
    token = "0y" + expand("{a:3}") + "tcwnIqFvzpfvbqrT" + expand("{A:3}8{A:3}-0{A:14}")
    assert _rules(f"{token}\n") == ["bare-token"]
    assert _rules("ThisIsAVeryLongIdentifierNameForTheParser42\n") == []


def test_a_dotted_token_under_a_key_is_a_value_not_a_member() -> None:
    header = "eyJhbGciOiJIUzI1NiIsEnR5cCI6IkpXVCJ9"  # a header that does not decode
    token = f"{header}.{expand('{W:60}')}.{expand('{W:43}')}"
    assert _rules(f"SERVICE_ANON_KEY={token}\n", ".env") != []
    assert _rules("SERVICE_ANON_KEY=settings.anon.key_value\n", ".env") == []


def test_consecutive_bare_tokens_after_a_long_line_are_each_found() -> None:
    # Both lines' windows start at the text's start; the second is not skipped as seen.
    first, second = expand("{A:12}7{A:19}"), expand("{A:11}4{A:20}")
    prose = "The new keys are printed below, one a line; keep them somewhere safe. " * 2
    findings = SCANNER.scan_text(f"{prose}\n{first}\n{second}\n", path=Path("a.txt"))
    assert [f.location.line for f in findings.findings] == [2, 3]


def test_names_of_ciphers_and_dotted_names_are_not_tokens() -> None:
    source = (
        'SCHEMES = [\n    "PBKDF2WithHMAC-SHA1AndDES-EDE3-CBC",\n    "scryptAndAES256-GCM",\n]\n'
    )
    assert _rules(source, "schemes.py") == []
    label = "The token handler, for example of type\n    oauthlib.oauth2.BearerToken.\n"
    assert _rules(label) == []


def test_a_wrapped_base64url_block_is_one_value() -> None:
    lines = [expand("{W:64}") for _ in range(3)] + [expand("{A:9}5{A:12}")]
    assert len(_rules("\n".join(lines) + "\n")) <= 1  # its first line at most
