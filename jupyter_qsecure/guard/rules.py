"""The credential formats the guard knows.

Each :class:`Rule` has a Python regular expression whose named group ``secret`` is the
credential, a short *trigger* that the fast engine looks for first (a distinctive literal
or keyword), and an optional check on the match. Rules are per line, except those marked
``multiline`` (PEM keys), which see up to 4 KiB from the line on.

Order matters: when two rules find the same value on the same line, the first one wins,
so specific formats come before generic keyword rules.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from .checks import (
    is_jwt,
    is_placeholder,
    is_reference,
    is_template_placeholder,
    is_uuid,
    looks_random,
    shannon_entropy,
)

Check = Callable[[re.Match[str]], bool]


@dataclass(frozen=True)
class Rule:
    """One credential format.

    ``template_placeholders_only`` is for credentials inside URLs and connection strings:
    there only template markers and masks count as placeholders (see
    :func:`~.checks.is_template_placeholder`), since ``user:password@host`` logs in.
    """

    id: str
    kind: str
    pattern: str
    trigger: str
    visible_prefix: int = 0
    check: Check | None = None
    ignore_case: bool = False
    multiline: bool = False
    config_only: bool = False
    template_placeholders_only: bool = False
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        flags = re.IGNORECASE if self.ignore_case else 0
        object.__setattr__(self, "regex", re.compile(self.pattern, flags))

    def accepts(self, match: re.Match[str]) -> bool:
        """Whether a regex match is a credential (not a placeholder, and passes the check)."""
        value = match.group("secret")
        placeholder = is_template_placeholder if self.template_placeholders_only else is_placeholder
        if placeholder(value):
            return False
        return self.check is None or self.check(match)


def _random(min_entropy: float = 3.0) -> Check:
    return lambda match: looks_random(match.group("secret"), min_entropy)


def _entropy(minimum: float) -> Check:
    return lambda match: shannon_entropy(match.group("secret")) >= minimum


_NOT_SECRET_KEYS = re.compile(
    r"(?i)(?:^|[_.-])(?:hash|sha\d*|md5|digest|checksum|fingerprint|commit|uuid|id|ids|name|names"
    r"|url|uri|endpoint|path|file|dir|env|var|header|field|prefix|suffix|format|type|kind|class|mode"
    r"|len|length|size|count|limit|ttl|expiry|expires|policy|scope|usage|label|description|length)$"
    r"|izer$|ization$"
)


def _keyword_secret(match: re.Match[str]) -> bool:
    key = match.group("key")
    if _NOT_SECRET_KEYS.search(key):
        return False
    return looks_random(match.group("secret"))


_HEX_ONLY = re.compile(r"^[0-9a-f]+$")
_SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)+$")


def _generated_not_hex(min_entropy: float) -> Check:
    """Random-looking but not hex only (hex of that length is an ID or a hash)."""
    return lambda match: (
        looks_random(match.group("secret"), min_entropy)
        and not _HEX_ONLY.match(match.group("secret").lower())
    )


def _mailgun(match: re.Match[str]) -> bool:
    """``key-`` and 32 base-36 characters (not a hex digest), or the 32-8-8 hex form."""
    value = match.group("secret")
    if value.startswith("key-"):
        body = value[4:]
        has_digit = any(char.isdigit() for char in body)
        return not _HEX_ONLY.match(body) and has_digit and shannon_entropy(body) >= 3.5
    return shannon_entropy(value) >= 3.0


def _provider_secret(match: re.Match[str]) -> bool:
    """A value under a provider's secret key: a UUID (Heroku and legacy npm keys are UUIDs)
    or a random-looking value; unquoted, not a ``snake_case`` name (a variable in code)."""
    if _NOT_SECRET_KEYS.search(match.group("key")):
        return False
    value = match.group("secret")
    if match.group("q") is None and _SNAKE_CASE.match(value):
        return False
    return is_uuid(value) or looks_random(value)


_PUBLIC_VALUES = frozenset(
    {
        # Azurite / Azure Storage emulator's documented development key.
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
    }
)


def _not_public(match: re.Match[str]) -> bool:
    return match.group("secret") not in _PUBLIC_VALUES


def _password(match: re.Match[str]) -> bool:
    value = match.group("secret")
    if is_reference(value) or value.startswith(("/", "~/", "./", "http://", "https://")):
        return False
    key = match.group("key")
    return not _NOT_SECRET_KEYS.search(key) and not re.search(
        r"(?i)(?:^|_)(?:min|max|policy|reset|hint|prompt|label|msg|message|field|confirm)", key
    )


#: Keys start where an identifier starts: searching from every character inside one made
#: these rules the slowest of the set on keyword-heavy notebooks.
_PASSWORD_KEY = r"(?P<key>(?<![\w.-])[\w.-]{0,40}(?:passw(?:or)?d|passphrase|\bpwd)[\w.-]{0,40})"  # noqa: S105 (a regex)
_SECRET_KEY = (
    r"(?P<key>(?<![\w.-])[\w.-]{0,40}(?:api[_-]?key|apikey|secret|token|access[_-]?key|auth[_-]?key|account[_-]?key"  # noqa: S105 (a regex)
    r"|client[_-]?key|private[_-]?key|service[_-]?key|credentials?|auth)[\w.-]{0,40})"
)
_ASSIGN = r"[\"']?\]?\s*(?:=|:=|:|=>|==|,)\s*[rbuf]?"
_QUOTED = r"(?P<q>[\"'])(?P<secret>[^\"'\s]{%d,%d})(?P=q)"
#: Providers whose older keys have no distinctive prefix. A key naming one of them and a
#: secret (``GITLAB_TOKEN``, ``"heroku_secret"``) is context enough for a UUID or an
#: unquoted value.
_PROVIDERS = (
    r"gitlab|github|bitbucket|heroku|okta|npm|twilio|mailgun|sendgrid|cloudflare|jira|atlassian"
    r"|confluence|discord|slack|datadog"
)
_PROVIDER_LABEL = r"(?:key|token|secret|pat|passw(?:or)?d|auth)"
_PROVIDER_KEY = rf"(?P<key>(?:{_PROVIDERS})[\w.-]{{0,30}}?{_PROVIDER_LABEL}[\w.-]{{0,20}})"
#: The trigger: a provider's name then a secret label, as in ``GITLAB_TOKEN``.
_PROVIDER_TRIGGER = rf"(?:{_PROVIDERS})[\w.-]{{0,30}}{_PROVIDER_LABEL}"
_DB_SCHEMES = (
    r"postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|redis|rediss|amqps?|mssql|sqlserver|oracle"
    r"|db2|cockroachdb|clickhouse|snowflake|couchdb|neo4j|cassandra|memcached|influxdb"
)

RULES: tuple[Rule, ...] = (
    Rule(
        "private-key",
        "Private key",
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?:\\{1,2}[rn]|\s|(?:Proc-Type|DEK-Info|Comment):[^\n\\]*)*"
        r"(?P<secret>[A-Za-z0-9+/=]{16,64})",
        r"PRIVATE KEY",
        multiline=True,
    ),
    Rule(
        "putty-private-key",
        "PuTTY private key",
        r"PuTTY-User-Key-File-\d: (?P<secret>[\w-]+)[\s\S]{0,400}?Private-Lines",
        "PuTTY-User-Key-File",
        multiline=True,
        check=lambda m: True,
    ),
    Rule(
        "github-token",
        "GitHub token",
        r"\b(?P<secret>(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,251})\b",
        r"gh[pousr]_",
        visible_prefix=4,
    ),
    Rule(
        "github-fine-grained-token",
        "GitHub fine-grained token",
        r"\b(?P<secret>github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})\b",
        r"github_pat_",
        visible_prefix=11,
    ),
    Rule(
        "gitlab-token",
        "GitLab token",
        r"\b(?P<secret>(?:glpat|gldt|glrt|glptt|glft|glsoat|glcbt|gloas|glimt|glagent|glffct)-[A-Za-z0-9_-]{20,}|GR1348941[A-Za-z0-9_-]{20,})",
        r"gl[a-z]{1,6}-|GR1348941",
        visible_prefix=6,
    ),
    Rule(
        "anthropic-key",
        "Anthropic API key",
        r"\b(?P<secret>sk-ant-(?:api|admin)\d\d-[A-Za-z0-9_-]{80,}AA)(?![A-Za-z0-9_-])",
        r"sk-ant-",
        visible_prefix=13,
    ),
    Rule(
        "openai-key",
        "OpenAI API key",
        r"\b(?P<secret>sk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_-]{16,}T3BlbkFJ[A-Za-z0-9_-]{16,})",
        r"T3BlbkFJ",
        visible_prefix=3,
    ),
    Rule(
        "huggingface-token",
        "Hugging Face token",
        r"\b(?P<secret>(?:hf_|api_org_)[A-Za-z]{34})\b",
        r"hf_|api_org_",
        visible_prefix=3,
        check=_entropy(3.5),
    ),
    Rule(
        "google-api-key",
        "Google API key",
        r"\b(?P<secret>AIza[0-9A-Za-z_-]{35})(?![0-9A-Za-z_-])",
        r"AIza",
        visible_prefix=4,
    ),
    Rule(
        "sendgrid-key",
        "SendGrid API key",
        r"\b(?P<secret>SG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{30,64})(?![A-Za-z0-9_-])",
        r"SG\.",
        visible_prefix=3,
        check=_entropy(3.5),
    ),
    Rule(
        "npm-token", "npm token", r"\b(?P<secret>npm_[A-Za-z0-9]{36})\b", r"npm_", visible_prefix=4
    ),
    Rule(
        "npmrc-auth",
        "npm registry token",
        r"_auth(?:Token)?\s*=\s*(?P<secret>[^\s\"'${][^\s\"']{15,})",
        r"_auth",
    ),
    Rule(
        "aws-access-key-id",
        "AWS access key ID",
        r"\b(?P<secret>(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16})\b",
        r"AKIA|ASIA|ABIA|ACCA|A3T",
        visible_prefix=4,
    ),
    Rule(
        "aws-secret-key",
        "AWS secret access key",
        r"aws[\w.-]{0,20}(?:secret|session)[\w.-]{0,20}[\"']?\]?\s*(?:=|:|=>|,)\s*[\"']?(?P<secret>[A-Za-z0-9/+=]{40,})(?![A-Za-z0-9/+=])",
        r"aws",
        ignore_case=True,
        check=_random(3.5),
    ),
    Rule(
        "stripe-key",
        "Stripe API key",
        r"\b(?P<secret>(?:sk|rk)_(?:live|test)_[0-9a-zA-Z]{24,})\b",
        r"[sr]k_(?:live|test)_",
        visible_prefix=8,
    ),
    Rule(
        "slack-token",
        "Slack token",
        r"\b(?P<secret>xox[abposer]-(?:\d+-)?[0-9A-Za-z-]{10,})",
        r"xox[abposer]-",
        visible_prefix=5,
        check=_entropy(3.0),
    ),
    Rule(
        "slack-webhook",
        "Slack webhook URL",
        r"https://hooks\.slack\.com/(?:services|workflows|triggers)/(?P<secret>[A-Za-z0-9+/_-]{20,})",
        r"hooks\.slack\.com/",
        template_placeholders_only=True,
    ),
    Rule(
        "discord-bot-token",
        "Discord bot token",
        r"\b(?P<secret>[MNO][A-Za-z\d_-]{23,25}\.[A-Za-z\d_-]{6}\.[A-Za-z\d_-]{27,38})\b",
        r"[MNO][A-Za-z\d_-]{23,25}\.[A-Za-z\d_-]{6}\.",
        check=_entropy(3.5),
    ),
    Rule(
        "telegram-bot-token",
        "Telegram bot token",
        r"\b(?P<secret>\d{8,10}:[0-9A-Za-z_-]{35})(?![0-9A-Za-z_-])",
        r"\d{8}:[0-9A-Za-z_-]{35}",
        check=_random(3.5),
    ),
    Rule("mailchimp-key", "Mailchimp API key", r"\b(?P<secret>[0-9a-f]{32}-us\d{1,2})\b", r"-us\d"),
    Rule(
        "mailgun-key",
        "Mailgun API key",
        r"\b(?P<secret>key-[a-z0-9]{32}|[0-9a-f]{32}-[0-9a-f]{8}-[0-9a-f]{8})\b",
        r"key-|[0-9a-f]{8}-[0-9a-f]{8}",
        check=_mailgun,
    ),
    Rule(
        "pypi-token",
        "PyPI token",
        r"\b(?P<secret>pypi-AgE(?:IcHlwaS5vcmc|NdGVzdC5weXBpLm9yZw)[A-Za-z0-9_-]{50,})",
        r"pypi-AgE",
        visible_prefix=5,
    ),
    Rule(
        "square-token",
        "Square token",
        r"\b(?P<secret>sq0(?:csp|atp|idp)-[0-9A-Za-z_-]{22,43}(?![0-9A-Za-z_-])"
        r"|EAAA[A-Za-z0-9_=+-]{60}(?![A-Za-z0-9_=+-]))",
        r"sq0(?:csp|atp|idp)-|EAAA",
        visible_prefix=7,
        check=_entropy(3.5),
    ),
    Rule(
        "twilio-key",
        "Twilio API key",
        r"\b(?P<secret>SK[0-9a-fA-F]{32})\b",
        r"SK[0-9a-fA-F]{32}",
        visible_prefix=2,
        check=_entropy(3.0),
    ),
    Rule(
        "twilio-account",
        "Twilio account SID",
        r"\b(?P<secret>AC[0-9a-f]{32})\b",
        r"AC[0-9a-f]{32}",
        visible_prefix=2,
        check=_entropy(3.0),
    ),
    Rule(
        "azure-storage-key",
        "Azure storage account key",
        # AccountKey=..., storageAccountKey: ..., <account_key>...; the value may be on the next
        # line. Anchored: the engine gives one window per trigger line, searched from its start.
        r"\A[^\n]*?(?:account|storage)[\w-]{0,30}?key\W{1,30}?(?<![A-Za-z0-9+/])(?P<secret>[A-Za-z0-9+/]{86}==)",
        r"account[\w-]{0,30}key|storage[\w-]{0,30}key",
        ignore_case=True,
        multiline=True,
        check=_not_public,
    ),
    Rule(
        "azure-sas",
        "Azure shared access signature",
        r"(?:SharedAccessSignature=|[?&;])sig=(?P<secret>[A-Za-z0-9%+/=]{40,})",
        r"sig=",
        ignore_case=True,
    ),
    Rule(
        "azure-quantum-key",
        "Azure Quantum access key",
        r"(?:^|[;\"'\s])ApiKey=(?P<secret>[^;\s\"']{20,})",
        r"ApiKey=",
        ignore_case=True,
        check=_random(),
    ),
    Rule(
        "ibm-quantum-token",
        "IBM Quantum token",
        r"(?:QiskitRuntimeService|save_account|enable_account|IBMProvider|IBMQ\.\w+|QiskitRuntimeLocalService)\s*\("
        r"(?:[^)]*?\btoken\s*=\s*|\s*)[rbuf]?[\"'](?P<secret>[^\"'\s]{16,})[\"']",
        r"QiskitRuntime|save_account|enable_account|IBMProvider|IBMQ\.",
        check=_random(),
    ),
    Rule(
        "ibm-quantum-token-env",
        "IBM Quantum token",
        r"(?:QISKIT_IBM_TOKEN|IBMQ_TOKEN|IBM_QUANTUM_TOKEN|QE_TOKEN)[\"']?\]?\s*(?:=|:)\s*[\"']?(?P<secret>[^\s\"']{16,})",
        r"QISKIT_IBM_TOKEN|IBMQ_TOKEN|IBM_QUANTUM_TOKEN|QE_TOKEN",
        check=_random(),
    ),
    Rule(
        "ibm-quantum-classic-token",
        "IBM Quantum token",
        r"\btoken[\"']?\]?\s*(?:=|:)\s*[rbuf]?[\"'](?P<secret>[0-9a-f]{128})[\"']",
        r"token",
        ignore_case=True,
    ),
    Rule(
        "ionq-key",
        "IonQ API key",
        r"(?:IonQProvider\s*\(\s*(?:token\s*=\s*)?|ionq[\w.-]*(?:api[_-]?key|token)[\w.-]*[\"']?\]?\s*(?:=|:)\s*)[rbuf]?[\"']?(?P<secret>[A-Za-z0-9]{32})\b",
        r"ionq",
        ignore_case=True,
        check=_random(),
    ),
    Rule(
        "quantinuum-credential",
        "Quantinuum credential",
        r"(?:quantinuum[\w.-]*(?:password|pwd|token|api[_-]?key)[\w.-]*[\"']?\]?\s*(?:=|:)\s*[rbuf]?[\"']?"
        r"|(?:QuantinuumBackend|QuantinuumAPI\w*|set_user_credentials)\s*\([^)]*?(?:password|token)\s*=\s*[rbuf]?[\"'])"
        r"(?P<secret>[^\s\"']{6,})",
        r"quantinuum|set_user_credentials",
        ignore_case=True,
        check=lambda m: not is_reference(m.group("secret")),
    ),
    Rule(
        "ibm-cloud-api-key",
        "IBM Cloud API key",
        r"(?:ibm|iam|cloud|cos|qiskit)[\w.-]*api[_-]?key[\w.-]*[\"']?\]?\s*(?:=|:|\()\s*[rbuf]?[\"']?(?P<secret>[A-Za-z0-9_-]{44})(?![A-Za-z0-9_-])",
        r"api[_-]?key",
        ignore_case=True,
        check=_random(),
    ),
    Rule(
        "ibm-cos-hmac",
        "IBM COS HMAC secret",
        r"secret[_-]?access[_-]?key[\"']?\]?\s*(?:=|:)\s*[\"']?(?P<secret>[a-f0-9]{48})\b",
        r"secret[_-]?access[_-]?key",
        ignore_case=True,
    ),
    Rule(
        "databricks-token",
        "Databricks token",
        r"\b(?P<secret>dapi[a-f0-9]{32}(?:-\d)?)\b",
        r"dapi[a-f0-9]",
        visible_prefix=4,
    ),
    Rule(
        "digitalocean-token",
        "DigitalOcean token",
        r"\b(?P<secret>do[opr]_v1_[a-f0-9]{64})\b",
        r"do[opr]_v1_",
        visible_prefix=7,
    ),
    Rule(
        "dockerhub-token",
        "Docker Hub token",
        r"\b(?P<secret>dckr_(?:pat|oat)_[A-Za-z0-9_-]{27,})",
        r"dckr_",
        visible_prefix=9,
    ),
    Rule(
        "groq-key",
        "Groq API key",
        r"\b(?P<secret>gsk_[A-Za-z0-9]{52})\b",
        r"gsk_",
        visible_prefix=4,
    ),
    Rule(
        "heroku-key",
        "Heroku API key",
        r"\b(?P<secret>HRKU-[A-Za-z0-9_-]{60})",
        r"HRKU-",
        visible_prefix=5,
    ),
    Rule(
        "linear-key",
        "Linear API key",
        r"\b(?P<secret>lin_api_[A-Za-z0-9]{40})\b",
        r"lin_api_",
        visible_prefix=8,
    ),
    Rule(
        "notion-token",
        "Notion token",
        r"\b(?P<secret>(?:secret_[A-Za-z0-9]{43}|ntn_[0-9]{11}[A-Za-z0-9]{35}))\b",
        r"secret_|ntn_",
        visible_prefix=4,
        check=_random(),
    ),
    Rule(
        "replicate-token",
        "Replicate token",
        r"\b(?P<secret>r8_[A-Za-z0-9]{37})\b",
        r"r8_",
        visible_prefix=3,
    ),
    Rule(
        "shopify-token",
        "Shopify token",
        r"\b(?P<secret>shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32})\b",
        r"shp(?:at|ca|pa|ss)_",
        visible_prefix=6,
    ),
    Rule(
        "atlassian-token",
        "Atlassian API token",
        r"\b(?P<secret>AT[AC]TT3xFfG[A-Za-z0-9_=+/-]{10,}=[A-Za-z0-9]{8}(?![A-Za-z0-9_=+/-])"
        r"|ATATT3[A-Za-z0-9_=-]{180,})",
        r"AT[AC]TT3",
        visible_prefix=6,
    ),
    Rule(
        "atlassian-token-context",
        "Atlassian API token",
        r"(?i:jira|atlassian|confluence)[^\n]{0,120}?"
        r"\b(?P<secret>ATATT[A-Za-z0-9_=+/-]{20,}=[A-Za-z0-9]{8})(?![A-Za-z0-9_=+/-])",
        r"ATATT",
        visible_prefix=5,
        check=_entropy(3.5),
    ),
    Rule(
        "atlassian-legacy-token",
        "Atlassian API token",
        # 24 characters under a key, token or secret label within a few lines of the product's
        # name. Only its first mention on the trigger line is tried (the lookahead is atomic),
        # so a line that repeats the name costs one attempt, not one per mention.
        r"\A(?=(?P<lead>[^\n]*?(?:atlassian|jira|confluence)))(?P=lead)"
        r"[\s\S]{0,80}?(?:key|token|secret|password)\b"
        r"[^A-Za-z0-9\n]{1,4}(?:[A-Za-z0-9]{1,12} )?(?P<secret>[A-Za-z0-9]{24})\b",
        r"atlassian|jira|confluence",
        ignore_case=True,
        multiline=True,
        check=_generated_not_hex(3.5),
    ),
    Rule(
        "pinecone-key",
        "Pinecone API key",
        r"\b(?P<secret>pcsk_[A-Za-z0-9_]{40,})",
        r"pcsk_",
        visible_prefix=5,
    ),
    Rule(
        "cloudflare-ca-key",
        "Cloudflare origin CA key",
        r"\b(?P<secret>v1\.0-[A-Za-z0-9]{24}-[A-Za-z0-9]{146})\b",
        r"v1\.0-",
        check=_entropy(3.5),
    ),
    Rule(
        "cloudflare-token",
        "Cloudflare API token",
        r"\b(?P<secret>cf(?:k|ut|at)_[A-Za-z0-9]{40}[a-f0-9]{8})\b",
        r"cf(?:k|ut|at)_",
        visible_prefix=5,
        check=_entropy(3.5),
    ),
    Rule(
        "aws-appsync-key",
        "AWS AppSync API key",
        r"\b(?P<secret>da2-[a-z0-9]{26})\b",
        r"da2-",
        visible_prefix=4,
        check=_random(3.5),
    ),
    Rule(
        "artifactory-token",
        "Artifactory token",
        r"(?:^|[\s=:\"'])(?P<secret>AKC[a-zA-Z0-9]{10,}|AP[\dABCDEF][a-zA-Z0-9]{8,})\b",
        r"AKC|AP[\dABCDEF]",
        check=_random(3.5),
    ),
    Rule(
        "jwt",
        "JSON Web Token",
        r"\b(?P<secret>eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{10,})",
        r"eyJ[A-Za-z0-9_-]{8,}\.eyJ",
        visible_prefix=3,
        check=lambda m: is_jwt(m.group("secret")),
    ),
    Rule(
        "database-url",
        "Database URL with password",
        rf"\b(?:{_DB_SCHEMES}|jdbc:[a-z0-9]+:?(?:[a-z0-9]+:)?)(?:\+[a-z0-9]+)?://[^\s:/@\"'<>\[\]]+:(?P<secret>[^\s@\"'<>]+)@",
        r"://",
        ignore_case=True,
        check=lambda m: not is_reference(m.group("secret")),
        template_placeholders_only=True,
    ),
    Rule(
        "jdbc-password",
        "Database URL with password",
        r"jdbc:[^\s\"']*?[;?&]password=(?P<secret>[^;&\s\"']+)",
        r"jdbc:",
        ignore_case=True,
        template_placeholders_only=True,
    ),
    Rule(
        "url-credentials",
        "Password in URL",
        # Not scheme://[user:password@]host, the syntax line of a usage message.
        r"\b[a-z][a-z0-9+.-]*://[^\s:/@\"'<>{}\[\]]+:(?P<secret>[^\s:/@\"'<>{}]{3,})@[^\s/\"'@]",
        r"://",
        ignore_case=True,
        check=lambda m: not is_reference(m.group("secret")),
        template_placeholders_only=True,
    ),
    Rule(
        "url-token",
        "Token in URL",
        r"[?&](?:access_?token|api_?key|apikey|auth_?token|token|secret|client_secret|password|passwd)=(?P<secret>[A-Za-z0-9_\-.~%+/]{16,})",
        r"[?&][a-z_]+=",
        ignore_case=True,
        check=_random(),
    ),
    Rule(
        "bearer-token",
        "Bearer token",
        r"\bBearer\s+(?P<secret>[A-Za-z0-9_\-.~+/]{20,}=*)",
        r"bearer",
        ignore_case=True,
        check=_random(),
    ),
    Rule(
        "password-assignment",
        "Password",
        _PASSWORD_KEY + _ASSIGN + (_QUOTED % (4, 200)),
        r"passw|passphrase|pwd",
        ignore_case=True,
        check=_password,
    ),
    Rule(
        "password-env",
        "Password",
        r"^\s*(?:export\s+|%env\s+|%set_env\s+|!export\s+|set\s+)?"
        + _PASSWORD_KEY
        + r"\s*[=:]\s*(?P<secret>[^\s\"'#]{4,200})\s*$",
        r"passw|passphrase|pwd",
        ignore_case=True,
        check=_password,
        config_only=True,
    ),
    Rule(
        "password-magic",
        "Password",
        r"^\s*(?:%env|%set_env|!export|export)\s+"
        + _PASSWORD_KEY
        + r"\s*[= ]\s*(?P<secret>[^\s\"'#]{4,200})",
        r"passw|passphrase|pwd",
        ignore_case=True,
        check=_password,
    ),
    Rule(
        "provider-token",
        "API token",
        # "heroku_secret": "...", GITLAB_TOKEN=..., %env NPM_TOKEN=..., okta_token: ...
        # Quoted after any assignment; unquoted after = or : up to the end of the value.
        _PROVIDER_KEY
        + r"(?:"
        + _ASSIGN
        + r"(?P<q>[\"'`])|\s*[=:]\s*)"
        + r"(?P<secret>(?(q)[^\"'`\s]{16,200}|[A-Za-z0-9][\w+/.-]{15,199}={0,2}))"
        + r"(?(q)(?P=q)|(?=$|[\s\"'<>`,;)}\]\\]))",
        _PROVIDER_TRIGGER,
        ignore_case=True,
        check=_provider_secret,
    ),
    Rule(
        "keyword-secret",
        "Secret",
        _SECRET_KEY + _ASSIGN + (_QUOTED % (12, 500)),
        r"key|secret|token|credential|auth",
        ignore_case=True,
        check=_keyword_secret,
    ),
    Rule(
        "keyword-secret-env",
        "Secret",
        r"^\s*(?:export\s+|%env\s+|%set_env\s+|!export\s+)?"
        + _SECRET_KEY
        + r"\s*[=:]\s*(?P<secret>[^\s\"'#]{12,500})\s*$",
        r"key|secret|token|credential|auth",
        ignore_case=True,
        check=_keyword_secret,
        config_only=True,
    ),
    Rule(
        "keyword-secret-magic",
        "Secret",
        r"^\s*(?:%env|%set_env|!export|export)\s+"
        + _SECRET_KEY
        + r"\s*[= ]\s*(?P<secret>[^\s\"'#]{12,500})",
        r"key|secret|token|credential|auth",
        ignore_case=True,
        check=_keyword_secret,
    ),
)

RULES_BY_ID = {rule.id: rule for rule in RULES}
