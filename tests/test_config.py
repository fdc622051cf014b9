"""qsecure.toml: trusted places only, and errors that name the file, the key and the fix."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jupyter_qsecure.config import Policy, PolicyError, load_policy, parse_policy


def test_defaults_without_a_file(jp_environ: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QSECURE_CONFIG", raising=False)
    policy = load_policy()
    assert policy.source == "(embedded defaults)"
    assert policy.guard.enabled and policy.guard.on_error == "block"


def test_read_from_the_jupyter_config_dir(
    jp_environ: None, jp_config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("QSECURE_CONFIG", raising=False)
    (jp_config_dir / "qsecure.toml").write_text(
        '[guard]\non_error = "allow"\nbaseline = "baseline.json"\n'
    )
    policy = load_policy()
    assert policy.source == str(jp_config_dir / "qsecure.toml")
    assert policy.guard.on_error == "allow"
    assert policy.guard.baseline == (jp_config_dir / "baseline.json").resolve()


def test_never_read_from_the_working_directory(
    jp_environ: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("QSECURE_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "qsecure.toml").write_text("[guard]\nenabled = false\n")
    assert load_policy().guard.enabled


def test_env_variable_naming_a_missing_file_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QSECURE_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(
        PolicyError, match=r"nope\.toml: \$QSECURE_CONFIG names this file, which does not exist"
    ):
        load_policy()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[guard\n", r"qsecure\.toml: not valid TOML"),
        (
            '[guard]\non_error = "maybe"\n',
            r"qsecure\.toml: guard\.on_error: expected \"block\" or \"allow\", got 'maybe'",
        ),
        ("[guard]\nmax_bytes = -1\n", r"guard\.max_bytes: expected a positive number of bytes"),
        (
            '[guard]\nmax_bytes = "big"\n',
            r"guard\.max_bytes: expected a whole number of bytes, got 'big'",
        ),
        ("[guard]\nenabled = 1\n", r"guard\.enabled: expected true or false, got 1"),
        (
            "[guard]\nenable = true\n",
            r"guard\.enable: unknown key; known keys in \[guard\] are: baseline, ",
        ),
        (
            '[guard]\ndisabled_rules = ["github"]\n',
            r"guard\.disabled_rules: unknown rule 'github'; see `jupyter qsecure rules`",
        ),
        ("[gaurd]\n", r"\(top level\)\.gaurd: unknown key"),
        (
            '[secrets]\npersonal_grants = "no"\n',
            r"secrets\.personal_grants: expected true or false, got 'no'",
        ),
        (
            "[secrets]\npersonal_grant = false\n",
            r"secrets\.personal_grant: expected a table \[secrets\.personal_grant\], got False; "
            r"the options of \[secrets\] itself are: personal_grants",
        ),
        (
            '[secrets.personal_grants]\nsource = "env://X"\n',
            r"secrets\.personal_grants: personal_grants is an option of \[secrets\] \(true or false\), "
            r"not a secret's name",
        ),
        ("guard = 3\n", r"guard: expected a table \[guard\], got 3"),
        (
            '[secrets.HUB_TOKEN]\nsource = "hub://auth_state/access_token"\n',
            r"qsecure\.toml: secrets\.HUB_TOKEN\.source: hub:// references are for \[vault\] "
            r"credentials \(jwt_source, token_source, secret_id_source\), not for a secret's value; "
            r"a secret's source is keyring://, vault://, file://, env:// or a plug-in",
        ),
    ],
)
def test_errors_name_file_key_and_fix(text: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_policy(text, "qsecure.toml")


def test_personal_grants_option() -> None:
    assert parse_policy("").secrets.personal_grants
    policy = parse_policy(
        '[secrets]\npersonal_grants = false\n\n[secrets.TOKEN]\nsource = "env://T"\n'
    )
    assert not policy.secrets.personal_grants and list(policy.secrets.grants) == ["TOKEN"]


def test_hub_references_stay_valid_for_vault_credentials() -> None:
    policy = parse_policy(
        '[vault]\nauth = "jwt"\nrole = "jupyter"\njwt_source = "hub://auth_state/id_token"\n'
    )
    assert str(policy.secrets.vault.jwt_source) == "hub://auth_state/id_token"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[provenance]\nhash_limit = -1\n",
            r"qsecure\.toml: provenance\.hash_limit: expected 0 or more, got -1",
        ),
        (
            "[provenance]\ntimeline_limit = 0\n",
            r"provenance\.timeline_limit: expected 1 or more, got 0",
        ),
        ("[provenance]\nstore = 3\n", r"provenance\.store: expected a file path, got 3"),
        ("[signing]\nrequire = -1\n", r"signing\.require: expected 0 or more, got -1"),
        (
            '[signing]\nrequire_roles = ["boss"]\n',
            r"signing\.require_roles: 'boss' is not a role; roles are author, reviewer, approver",
        ),
        (
            "[signing]\nrequire_roles = [1]\n",
            r"signing\.require_roles: expected a list of roles, got 1 in the list",
        ),
        (
            "[signing]\nprincipal = 1\n",
            r"signing\.principal: expected a principal \(e\.g\. an e-mail address\), got 1",
        ),
        ("[audit]\nstale_days = 0\n", r"audit\.stale_days: expected 1 or more, got 0"),
        ("[audit]\nbackup_count = 1.5\n", r"audit\.backup_count: expected a whole number"),
        ("[vault]\ntimeout = true\n", r"vault\.timeout: expected seconds, got True"),
        (
            '[vault]\nsecret_id = "s"\n',
            r"vault\.secret_id: never write a Vault credential in the policy; "
            r'use secret_id_source = "env://VAULT_SECRET_ID"',
        ),
        ("[vault]\nrole = 1\n", r"vault\.role: expected a role name, got 1"),
        ("[injection]\ntimeout = 0\n", r"injection\.timeout: expected seconds between 0 and 120"),
        (
            "[injection]\ncache_seconds = -1\n",
            r"injection\.cache_seconds: expected 0 or more seconds, got -1\.0",
        ),
        ("injection = []\n", r"injection: expected a table \[injection\], got \[\]"),
        (
            "[vault]\ntimeout = nan\n",
            r"vault\.timeout: expected seconds \(a finite number\), got nan",
        ),
        ("[vault]\ntimeout = -inf\n", r"vault\.timeout: expected seconds \(a finite number\)"),
        (
            "[vault]\ntimeout = " + "9" * 400 + "\n",
            r"vault\.timeout: expected seconds \(a finite number\), got a number of 400 digits",
        ),
        ("[vault]\ntimeout = 0\n", r"vault\.timeout: expected more than 0 seconds, got 0\.0"),
        ("[injection]\ncache_seconds = inf\n", r"injection\.cache_seconds: expected seconds"),
        (
            "[injection]\ntimeout = " + "9" * 400 + "\n",
            r"injection\.timeout: expected seconds \(a finite number\)",
        ),
        (
            '[signing]\nkey = "id\\u0000rsa"\n',
            r"signing\.key: expected a file path, got 'id\\x00rsa' \(embedded null byte\)",
        ),
        (
            '[guard]\nbaseline = "~no-such-user-here/b.json"\n',
            r"guard\.baseline: expected a file path, got '~no-such-user-here/b\.json'",
        ),
        ("secrets = 1\n", r"secrets: expected tables \[secrets\.NAME\], got 1"),
        ("[secrets.X_TOKEN]\nsource = 1\n", r"secrets\.X_TOKEN\.source: expected a reference"),
        (
            '[secrets.X_TOKEN]\nsource = "env://X"\nusers = "alice"\n',
            r"secrets\.X_TOKEN\.users: expected a list of user names, got 'alice'",
        ),
    ],
)
def test_every_section_names_file_key_and_fix(text: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_policy(text, "qsecure.toml")


def test_sections_read_values_and_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    policy = parse_policy(
        "[guard]\nmax_bytes = 10\nbaseline = '~/b.json'\ndisabled_rules = ['aws-access-key-id']\n"
        "[provenance]\nstore = 'store.sqlite'\nhash_limit = 0\n"
        "[signing]\nrequire = 2\nrequire_roles = ['reviewer']\nkey = '~/.ssh/id'\n"
        "[vault]\ntimeout = 2\nca_bundle = 'ca.pem'\nnamespace = 'lab'\n"
        "[injection]\non_error = 'refuse'\n",
        "qsecure.toml",
        tmp_path,
    )
    assert (policy.guard.max_bytes, policy.guard.enabled, policy.guard.on_error) == (
        10,
        True,
        "block",
    )
    assert policy.guard.baseline == (tmp_path / "home" / "b.json").resolve()
    assert policy.guard.disabled_rules == ("aws-access-key-id",)
    assert policy.guard.bypass_store is None
    assert policy.provenance.store == (tmp_path / "store.sqlite").resolve()
    assert (policy.provenance.hash_limit, policy.provenance.timeline_limit) == (0, 500)
    assert (policy.signing.require, policy.signing.require_roles) == (2, ("reviewer",))
    assert policy.signing.key == (tmp_path / "home" / ".ssh" / "id").resolve()
    assert policy.signing.principal is None and policy.signing.allowed_signers is None
    vault = policy.secrets.vault
    assert (vault.timeout, vault.namespace, vault.auth, vault.mount) == (
        2.0,
        "lab",
        "token",
        "secret",
    )
    assert isinstance(vault.timeout, float)
    assert vault.ca_bundle == (tmp_path / "ca.pem").resolve()
    assert policy.secrets.injection.on_error == "refuse"
    assert policy.secrets.injection.cache_seconds == 300.0


def test_the_guard_owns_its_policy() -> None:
    """``[guard]`` is parsed by the guard (``guard.policy``), as the other capabilities parse
    theirs; ``config`` still exports ``GuardPolicy``."""
    from jupyter_qsecure import config
    from jupyter_qsecure.guard.policy import GuardPolicy, parse_guard_policy

    assert config.GuardPolicy is GuardPolicy
    policy = parse_guard_policy("qsecure.toml", Path("/"), {"on_error": "allow"})
    assert policy == GuardPolicy(on_error="allow")
    assert config.parse_policy('[guard]\non_error = "allow"\n').guard == policy


#: Every key of every table, with a valid value: the base of the property below.
_FULL_POLICY: dict[str, dict[str, Any]] = {
    "guard": {
        "enabled": True,
        "on_error": "block",
        "max_bytes": 1000,
        "baseline": "b.json",
        "repo_baseline": False,
        "bypass_store": "bypass.json",
        "disabled_rules": ["github-token"],
    },
    "provenance": {"enabled": True, "store": "s.sqlite", "hash_limit": 0, "timeline_limit": 5},
    "signing": {
        "allowed_signers": "allowed_signers",
        "revoked_keys": "krl",
        "require": 1,
        "require_roles": ["author"],
        "key": "id",
        "principal": "a@b",
        "roles": {"reviewer": ["*@lab.example"]},
    },
    "vault": {
        "url": "https://vault.example.org:8200",
        "namespace": "lab",
        "mount": "secret",
        "ca_bundle": "ca.pem",
        "verify": True,
        "timeout": 2,
        "auth": "token",
        "token_source": "env://VAULT_TOKEN",
    },
    "injection": {"on_error": "refuse", "timeout": 5, "cache_seconds": 0},
    "audit": {"enabled": True, "file": "a.jsonl", "max_bytes": 0, "backup_count": 1},
    "secrets": {
        "personal_grants": True,
        "X_TOKEN": {
            "source": "env://X",
            "notebooks": ["*.ipynb"],
            "kernels": ["python3"],
            "users": ["alice"],
            "allow_short": False,
        },
    },
}


def _toml(value: Any) -> str:
    """``value`` as a TOML value (inline tables for tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"


_TOML_VALUE = st.recursive(
    st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats()
    | st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
    | st.sampled_from(["~no-such-user-here/x", "a\x00b", "", "~", "-1", "*", "[", "env://"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=2)
    ),
    max_leaves=5,
)
#: Values at the edges of what a reader takes, drawn as often as all the others.
_EDGES = st.sampled_from(
    [
        math.nan,
        math.inf,
        -math.inf,
        10**400,
        -(10**400),
        0,
        -1,
        0.0,
        "a\x00b",
        "~no-such-user-here/x",
    ]
)
_PLACES = [
    (table, key, inner)
    for table, keys in _FULL_POLICY.items()
    for key, value in keys.items()
    for inner in ([None, *value] if isinstance(value, dict) else [None])
]


@settings(max_examples=300, deadline=None)
@given(
    changes=st.lists(
        st.tuples(st.sampled_from(_PLACES), _EDGES | _TOML_VALUE), min_size=1, max_size=3
    )
)
def test_any_value_at_any_key_is_a_policy_or_a_policy_error(
    changes: list[tuple[tuple[str, str, str | None], Any]],
) -> None:
    """Every key of a full policy given any TOML value: the policy loads or is refused with
    a PolicyError naming the key; nan, a number too large for a float, a NUL in a path and
    ~user of no user were a ValueError, an OverflowError and a RuntimeError."""
    policy = json.loads(json.dumps(_FULL_POLICY))
    for (table, key, inner), value in changes:
        if inner is None:
            policy[table][key] = value
        elif isinstance(policy[table][key], dict):  # not replaced by an earlier change
            policy[table][key][inner] = value
    lines = []
    for table, keys in policy.items():
        lines.append(f"[{table}]")
        lines.extend(f"{json.dumps(key)} = {_toml(value)}" for key, value in keys.items())
    result: Policy | PolicyError
    try:
        result = parse_policy("\n".join(lines) + "\n", "qsecure.toml", Path("/nonexistent"))
    except PolicyError as error:
        result = error
    assert isinstance(result, Policy) or str(result).startswith("qsecure.toml: "), result
