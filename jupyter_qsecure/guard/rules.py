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

from .checks import (
    is_jwt,
    is_reference,
    is_uuid,
    looks_random,
    shannon_entropy,
    within_password_hash,
)
from .providers import PROVIDER_RULES
from .rule import Check, Rule, expand
from .syntax import (
    ARGUMENT,
    FALLBACK_RULES,
    PASSWORD_NAME,
    QUOTED,
    SECRET_NAME,
    SEPARATOR,
    SYNTAX_RULES,
    UNQUOTED,
    identifier_like,
    names_a_secret,
    password_value,
    secret_value,
    unquoted_in_code,
)
from .tables import TABLE_RULES

__all__ = ["RULES", "RULES_BY_ID", "Check", "Rule", "expand"]


def _random(min_entropy: float = 3.0) -> Check:
    return lambda match: looks_random(match.group("secret"), min_entropy)


def _digits_and_entropy(minimum: float, digits: int) -> Check:
    """Generated tokens carry digits (IDs, random parts); ``xoxb-abcdef-abcdef`` does not."""
    return lambda match: (
        sum(c.isdigit() for c in match.group("secret")) >= digits
        and shannon_entropy(match.group("secret")) >= minimum
    )


def _entropy(minimum: float) -> Check:
    return lambda match: shannon_entropy(match.group("secret")) >= minimum


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
    if not names_a_secret(match.group("key")):
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


def _argument_word(match: re.Match[str]) -> bool:
    """``.replace("password", "mode")``: a word after a name given as an argument is an
    argument too, not the name's value."""
    return match.groupdict().get("arg") is not None and bool(
        re.fullmatch(r"[A-Za-z]+", match.group("secret"))
    )


_PATH_IN_URL = re.compile(r"/|%2F|\.[A-Za-z]{2,4}$", re.IGNORECASE)


def _url_token(match: re.Match[str]) -> bool:
    """A generated value after a credential's parameter name; after a bare ``key=`` (an
    API key for Google and many others, an object's name for a store), not a path."""
    value = match.group("secret")
    if match.group("key").lower() == "key" and _PATH_IN_URL.search(value):
        return False
    return looks_random(value, 3.0) and not (
        match.group("key").lower() == "key" and identifier_like(value)
    )


def _url_token_user(match: re.Match[str]) -> bool:
    """A URL's user that is a token: generated-looking, not a Sentry DSN's public key."""
    host = match.group("host").lower()
    if "sentry" in host or re.match(r"o\d+\.ingest\.", host):
        return False  # a Sentry DSN (https://<key>@o123.ingest.sentry.io/...): public
    value = match.group("secret")
    return looks_random(value, 3.0) and not identifier_like(value) and not _SNAKE_CASE.match(value)


def _signed_url(match: re.Match[str]) -> bool:
    """A signature of a signed URL: random, and for CloudFront's plain ``Signature``, in a
    URL that names its key pair."""
    if shannon_entropy(match.group("secret")) < 3.5:
        return False
    if "EXAMPLE" in match.string or "EXAMBLE" in match.string:
        return False  # a provider's documented example (AKIAEXAMPLE...)
    return match.group("key").lower() != "signature" or "key-pair-id=" in match.string.lower()


def _password_quoted(match: re.Match[str]) -> bool:
    if _argument_word(match):
        return False
    return password_value(match.group("secret"), match.group("key"), quoted=True)


_LINE_START_KEY = re.compile(
    r"(?:^|\n)[ \t]*(?:\"[^\"\n]{0,80}\":\s*\")?(?:<\w+[^<>\n]*>)*[ \t]*(?:export[ \t]+|set[ \t]+|#[ \t]*|-[ \t]+|//[ \t]*)?$"
)


def _password_unquoted(match: re.Match[str]) -> bool:
    """An unquoted password: a bare word counts only on a configuration line
    (``PASSWORD=word`` at the start of a line); after ``Password:`` in prose it is a word."""
    value = match.group("secret")
    if not password_value(value, match.group("key"), quoted=False):
        return False
    if within_password_hash(match.string, match.start("secret"), match.end("secret")):
        return False  # ``password: argon2:$argon2id$v=19$m=65536,...``, read up to a comma
    if re.fullmatch(r"[A-Za-z_-]+", value):
        starts_line = _LINE_START_KEY.search(match.string, 0, match.start("key")) is not None
        return "=" in match.group("sep") and starts_line
    return True


def _secret_quoted(match: re.Match[str]) -> bool:
    return secret_value(match.group("secret"), match.group("key"))


#: A word that ends a sentence (``... secretsmanager:ListSecrets.``): judged without its period.
_WORD_AND_PERIOD = re.compile(r"[A-Za-z0-9_-]+\.")


def _secret_unquoted(match: re.Match[str]) -> bool:
    value = match.group("secret")
    if value.startswith(":"):
        return False  # a path: TokenStream::from_str, a C++ or Rust name
    if _WORD_AND_PERIOD.fullmatch(value):
        value = value[:-1]
    return secret_value(value, match.group("key")) and unquoted_in_code(value)


#: After the name, for an unquoted value (no comparison: ``password == x`` is code).
#: Markdown emphasis may close around the name or its colon (``**Password:** value``,
#: ``**API key**: value``); CJK text writes full-width colons and equals signs.
_UNQUOTED_SEP = (
    r"(?P<sep>(?:\\?[\"'`])?\]?(?:\*\*?|__?)?\s*(?:::=|:=|\?=|\.=|=>|=|:|：|＝)"
    r"(?:(?:\*\*?|__?)(?=\s))?\s*)"
)
#: A shell or magic line (also as the first line of an HTML ``<pre>`` or a JSON string).
_MAGIC = (
    r"^(?:\"[^\"\n]{0,80}\":\s*\")?(?:<\w+[^<>\n]*>)*\s*(?:%env|%set_env|!export|export|set)\s+"
)
_PASSWORD_TRIGGER = (
    r"passw|passphrase|pwd|pswd|passcode|pass\b|pw\b|kennwort|mot.de.passe|contrase(?:ñ|n)a"  # noqa: S105 (a regex)
    r"|wachtwoord|l(?:ö|o)senord|adgangskode|salasana|jelsz(?:ó|o)|(?:ş|Ş|s)ifre|senha"
    r"|has(?:ł|l)o|heslo|passord|(?:п|П)ароль|ПАРОЛЬ|パスワード|密码|密碼|비밀번호|كلمة|סיסמה"
)
_SECRET_TRIGGER = r"key|secret|token|credential|auth|pat\b"  # noqa: S105 (a regex)
_ASSIGN = r"[\"']?\]?\s*(?:=|:=|:|=>|==|,)\s*[rbuf]?"
#: Keys start where an identifier starts.
#: Providers whose older keys have no distinctive prefix. A key naming one of them and a
#: secret (``GITLAB_TOKEN``, ``"heroku_secret"``) is context enough for a UUID or an
#: unquoted value.
_PROVIDERS = (
    r"gitlab|github|bitbucket|heroku|okta|npm|twilio|mailgun|sendgrid|cloudflare|jira|atlassian"
    r"|confluence|discord|slack|datadog|jenkins|postmark|sauce|codecov|circleci|travis|pagerduty"
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
        # Also split over string literals: "-----BEGIN ...-----" +\n "MIIE..." +
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?:\\{1,2}[rn]|[\s\"'`+,]|(?:Proc-Type|DEK-Info|Comment):[^\n\\]*)*"
        r"(?P<secret>[A-Za-z0-9+/=]{16,64})",
        r"PRIVATE KEY",
        multiline=True,
        examples=(
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEow{B:58}\n{B:64}\n-----END RSA PRIVATE KEY-----",
            '"-----BEGIN RSA PRIVATE KEY-----" +\n"MIIEow{B:60}" +\n"{B:64}"',
        ),
        negative_examples=("-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----",),
    ),
    Rule(
        "putty-private-key",
        "PuTTY private key",
        r"PuTTY-User-Key-File-\d: (?P<secret>[\w-]+)[\s\S]{0,400}?Private-Lines",
        "PuTTY-User-Key-File",
        multiline=True,
        check=lambda m: True,
        examples=(
            "PuTTY-User-"
            + "Key-File-3: ssh-ed25519\nEncryption: none\nComment: lab\nPublic-Lines: 2\n{B:64}\n{B:16}\nPrivate-Lines: 1\n{B:44}",
        ),
        negative_examples=("PuTTY-User-Key-File-3 is the header of a .ppk file",),
    ),
    Rule(
        "github-token",
        "GitHub token",
        r"\b(?P<secret>(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,251})\b",
        r"gh[pousr]_",
        visible_prefix=4,
        examples=(
            'token = "ghp_{A:36}"',
            "git clone https://x-access-token:ghs_{A:36}@github.com/lab/repo",
        ),
        negative_examples=('GITHUB_TOKEN = "ghp_your_token_here"',),
    ),
    Rule(
        "github-fine-grained-token",
        "GitHub fine-grained token",
        r"\b(?P<secret>github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})\b",
        r"github_pat_",
        visible_prefix=11,
        examples=("GITHUB_TOKEN = 'github_pat_{A:22}_{A:59}'",),
        negative_examples=("github_pat_",),
    ),
    Rule(
        "gitlab-token",
        "GitLab token",
        r"\b(?P<secret>(?:glpat|gldt|glrt|glptt|glft|glsoat|glcbt|gloas|glimt|glagent|glffct)-[A-Za-z0-9_-]{20,}|GR1348941[A-Za-z0-9_-]{20,})",
        r"gl[a-z]{1,6}-|GR1348941",
        visible_prefix=6,
        examples=('headers = {"PRIVATE-TOKEN": "glpat-{W:20}"}',),
        negative_examples=('"PRIVATE-TOKEN": "glpat-xxxxxxxxxxxxxxxxxxxx"',),
    ),
    Rule(
        "anthropic-key",
        "Anthropic API key",
        r"\b(?P<secret>sk-ant-(?:api|admin)\d\d-[A-Za-z0-9_-]{80,}AA)(?![A-Za-z0-9_-])",
        r"sk-ant-",
        visible_prefix=13,
        examples=('anthropic.Anthropic(api_key="sk-ant-api03-{W:93}AA")',),
        negative_examples=('api_key="sk-ant-api03-..."',),
    ),
    Rule(
        "openai-key",
        "OpenAI API key",
        r"\b(?P<secret>sk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_-]{16,}T3BlbkFJ[A-Za-z0-9_-]{16,})",
        r"T3BlbkFJ",
        visible_prefix=3,
        examples=('client = OpenAI(api_key="sk-proj-{W:40}T3BlbkFJ{W:40}")',),
        negative_examples=('client = OpenAI(api_key="sk-...")',),
    ),
    Rule(
        "huggingface-token",
        "Hugging Face token",
        r"\b(?P<secret>(?:hf_|api_org_)[A-Za-z]{34})\b",
        r"hf_|api_org_",
        visible_prefix=3,
        check=_entropy(3.5),
        examples=('login(token="hf_{L:34}")',),
        negative_examples=('login(token="hf_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")',),
    ),
    Rule(
        "google-api-key",
        "Google API key",
        r"\b(?P<secret>AIza[0-9A-Za-z_-]{35})(?![0-9A-Za-z_-])",
        r"AIza",
        visible_prefix=4,
        examples=('genai.configure(api_key="AIza{W:35}")',),
        negative_examples=('genai.configure(api_key="AIza...")',),
    ),
    Rule(
        "sendgrid-key",
        "SendGrid API key",
        r"\b(?P<secret>SG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{30,64})(?![A-Za-z0-9_-])",
        r"SG\.",
        visible_prefix=3,
        check=_entropy(3.5),
        examples=("sg = SendGridAPIClient('SG.{W:22}.{W:43}')",),
        negative_examples=(
            "SG.xxxxxxxxxxxxxxxxxxxxxx.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        ),
    ),
    Rule(
        "npm-token",
        "npm token",
        r"\b(?P<secret>npm_[A-Za-z0-9]{36})\b",
        r"npm_",
        visible_prefix=4,
        examples=("//registry.npmjs.org/:_authToken=npm_{A:36}",),
        negative_examples=("npm_config_registry=https://registry.npmjs.org",),
    ),
    Rule(
        "npmrc-auth",
        "npm registry token",
        r"_auth(?:Token)?\s*=\s*(?P<secret>[^\s\"'${<\\][^\s\"'<\\]{15,})",
        r"_auth",
        examples=("//registry.npmjs.org/:_authToken={W:36}",),
        negative_examples=("//registry.npmjs.org/:_authToken=${NPM_TOKEN}",),
    ),
    Rule(
        "aws-access-key-id",
        "AWS access key ID",
        r"\b(?P<secret>(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16})\b",
        r"AKIA|ASIA|ABIA|ACCA|A3T",
        visible_prefix=4,
        examples=('aws_access_key_id = "AKIA{U:16}"',),
        negative_examples=('aws_access_key_id = "AKIAIOSFODNN7EXAMPLE"',),
    ),
    Rule(
        "aws-secret-key",
        "AWS secret access key",
        r"aws[\w.-]{0,20}(?:secret|session)[\w.-]{0,20}[\"']?\]?\s*(?:=|:|=>|,)\s*[\"']?(?P<secret>[A-Za-z0-9/+=]{40,})(?![A-Za-z0-9/+=])",
        r"aws",
        ignore_case=True,
        check=_random(3.5),
        examples=('aws_secret_access_key = "{B:40}"',),
        negative_examples=('aws_secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"',),
    ),
    Rule(
        "stripe-key",
        "Stripe API key",
        r"\b(?P<secret>(?:sk|rk)_(?:live|test|prod)_[0-9a-zA-Z]{24,})\b",
        r"[sr]k_(?:live|test|prod)_",
        visible_prefix=8,
        examples=(
            "stripe.api_key = 'sk_live_{A:24}'",
            "STRIPE_KEY=rk_prod_{A:24}",
        ),
        negative_examples=("stripe.api_key = 'sk_live_...'",),
    ),
    Rule(
        "slack-token",
        "Slack token",
        r"\b(?P<secret>xox[abposer]-(?:\d+-)+[0-9A-Za-z][0-9A-Za-z-]{7,})",
        r"xox[abposer]-",
        visible_prefix=5,
        check=_digits_and_entropy(3.0, digits=4),
        examples=('slack = WebClient(token="xoxb-{D:12}-{D:13}-{A:24}")',),
        negative_examples=('SLACK_TOKEN = "xoxb-abcdef-abcdef"',),
    ),
    Rule(
        "slack-webhook",
        "Slack webhook URL",
        r"https://hooks\.slack\.com/(?:services|workflows|triggers)/(?P<secret>[A-Za-z0-9+/_-]{20,})",
        r"hooks\.slack\.com/",
        template_placeholders_only=True,
        examples=(
            "requests.post('https://hooks.slack.com/services/T{U:8}/B{U:8}/{A:24}', json=msg)",
        ),
        negative_examples=(
            "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
        ),
    ),
    Rule(
        "discord-bot-token",
        "Discord bot token",
        r"\b(?P<secret>[MNO][A-Za-z\d_-]{23,25}\.[A-Za-z\d_-]{6}\.[A-Za-z\d_-]{27,38})\b",
        r"[MNO][A-Za-z\d_-]{23,25}\.[A-Za-z\d_-]{6}\.",
        check=_entropy(3.5),
        examples=('bot.run("M{A:23}.{W:6}.{W:27}")',),
        negative_examples=("bot.run(os.environ['DISCORD_TOKEN'])",),
    ),
    Rule(
        "telegram-bot-token",
        "Telegram bot token",
        # Also in the Bot API's URLs: https://api.telegram.org/bot<token>/getUpdates
        r"(?:\b|(?<=/bot))(?P<secret>\d{8,10}:[0-9A-Za-z_-]{35})(?![0-9A-Za-z_-])",
        r"\d{8}:[0-9A-Za-z_-]{35}",
        check=_random(3.5),
        examples=(
            'bot = telegram.Bot(token="{D:10}:{W:35}")',
            'requests.get("https://api.telegram.org/bot{D:10}:{W:35}/getUpdates")',
        ),
        negative_examples=("Elapsed 12345678:00:00",),
    ),
    Rule(
        "mailchimp-key",
        "Mailchimp API key",
        r"\b(?P<secret>[0-9a-f]{32}-us\d{1,2})\b",
        r"-us\d",
        examples=('MAILCHIMP_KEY = "{H:32}-us{D:2}"',),
        negative_examples=('"version": "3.0-us1"',),
    ),
    Rule(
        "mailgun-key",
        "Mailgun API key",
        r"\b(?P<secret>key-[a-z0-9]{32}|[0-9a-f]{32}-[0-9a-f]{8}-[0-9a-f]{8})\b",
        r"key-|[0-9a-f]{8}-[0-9a-f]{8}",
        check=_mailgun,
        examples=(
            'MAILGUN_API_KEY = "{H:32}-{H:8}-{H:8}"',
            'requests.post(url, auth=("api", "key-{a:32}"))',
        ),
        negative_examples=('cache_key = "key-d41d8cd98f00b204e9800998ecf8427e"',),
    ),
    Rule(
        "pypi-token",
        "PyPI token",
        r"\b(?P<secret>pypi-AgE(?:IcHlwaS5vcmc|NdGVzdC5weXBpLm9yZw)[A-Za-z0-9_-]{50,})",
        r"pypi-AgE",
        visible_prefix=5,
        examples=("TWINE_PASSWORD=pypi-AgEIcHlwaS5vcmc{W:60}",),
        negative_examples=("TWINE_PASSWORD=pypi-AgEIcHlwaS5vcmc",),
    ),
    Rule(
        "square-token",
        "Square token",
        r"\b(?P<secret>sq0(?:csp|atp|idp)-[0-9A-Za-z_-]{22,43}(?![0-9A-Za-z_-])"
        r"|EAAA[A-Za-z0-9_=+-]{60}(?![A-Za-z0-9_=+-]))",
        r"sq0(?:csp|atp|idp)-|EAAA",
        visible_prefix=7,
        check=_entropy(3.5),
        examples=('SQUARE_ACCESS_TOKEN = "EAAA{W:30}={W:29}"',),
        negative_examples=('SQUARE_ACCESS_TOKEN = "sq0atp-..."',),
    ),
    Rule(
        "twilio-key",
        "Twilio API key",
        r"\b(?P<secret>SK[0-9a-fA-F]{32})\b",
        r"SK[0-9a-fA-F]{32}",
        visible_prefix=2,
        check=_entropy(3.0),
        examples=('client = Client("SK{H:32}", secret)',),
        negative_examples=('client = Client("SK00000000000000000000000000000000", secret)',),
    ),
    Rule(
        "twilio-account",
        "Twilio account SID",
        r"\b(?P<secret>AC[0-9a-f]{32})\b",
        r"AC[0-9a-f]{32}",
        visible_prefix=2,
        check=_entropy(3.0),
        examples=('account_sid = "AC{H:32}"',),
        negative_examples=('account_sid = "AC00000000000000000000000000000000"',),
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
        examples=(
            'conn = "DefaultEndpointsProtocol=https;AccountName=lab;AccountKey={B:86}==;EndpointSuffix=core.windows.net"',
            'storage_account_key = (\n    "{B:86}=="\n)',
        ),
        negative_examples=("storage_account_key = os.environ['AZURE_STORAGE_KEY']",),
    ),
    Rule(
        "azure-sas",
        "Azure shared access signature",
        r"(?:SharedAccessSignature=|[?&;])sig=(?P<secret>[A-Za-z0-9%+/=]{40,})",
        r"sig=",
        ignore_case=True,
        examples=(
            "https://lab.blob.core.windows.net/c/f?sv=2022-11-02&se=2030-01-01&sr=b&sp=r&sig={B:43}%3D",
        ),
        negative_examples=("https://lab.blob.core.windows.net/c/f?sig=",),
    ),
    Rule(
        "signed-url",
        "Signed URL signature",
        # A pre-signed S3 or Google Cloud Storage URL, a CloudFront signed URL: whoever has
        # it reads (or writes) the object until it expires.
        r"(?:[?&]|&amp;)(?P<key>X-Amz-Signature|X-Goog-Signature|Signature)"
        r"=(?P<secret>[A-Za-z0-9%_~.+/=-]{40,})",
        r"(?:X-Amz-|X-Goog-)?Signature=",
        ignore_case=True,
        check=_signed_url,
        examples=(
            "https://lab.storage.example.org/b/o.csv?X-Goog-Algorithm=GOOG4-RSA-SHA256"
            "&X-Goog-Date=20240101T000000Z&X-Goog-Expires=900&X-Goog-Signature={H:512}",
            "https://d111111abcdef8.cloudfront.net/run.csv?Expires=1893456000"
            "&Signature={W:100}~{W:60}__&Key-Pair-Id=K{U:13}",
        ),
        negative_examples=(
            "https://lab.example.org/api?Signature=HMAC-SHA256-of-the-request-body-goes-here",
            "https://lab.example.org/verify?Signature={W:64}",
        ),
    ),
    Rule(
        "azure-quantum-key",
        "Azure Quantum access key",
        r"(?:^|[;\"'\s])ApiKey=(?P<secret>[^;\s\"']{20,})",
        r"ApiKey=",
        ignore_case=True,
        check=_random(),
        examples=(
            'Workspace.from_connection_string("SubscriptionId=0f1e2d3c;ResourceGroupName=lab;WorkspaceName=qws;ApiKey={W:48};QuantumEndpoint=https://eastus.quantum.azure.com/;")',
        ),
        negative_examples=('"ApiKey=<your key>;"',),
    ),
    Rule(
        "ibm-quantum-token",
        "IBM Quantum token",
        r"(?:QiskitRuntimeService|save_account|enable_account|IBMProvider|IBMQ\.\w+|QiskitRuntimeLocalService)\s*\("
        r"(?:[^)]*?\btoken\s*=\s*|\s*)[rbuf]?[\"'](?P<secret>[^\"'\s]{16,})[\"']",
        r"QiskitRuntime|save_account|enable_account|IBMProvider|IBMQ\.",
        check=_random(),
        examples=(
            'QiskitRuntimeService.save_account(channel="ibm_quantum", token="{H:128}", overwrite=True)',
            'IBMQ.save_account("{H:128}")',
        ),
        negative_examples=(
            'QiskitRuntimeService.save_account(channel="ibm_quantum", token="<IBM Quantum API token>")',
        ),
    ),
    Rule(
        "ibm-quantum-token-env",
        "IBM Quantum token",
        r"(?:QISKIT_IBM_TOKEN|IBMQ_TOKEN|IBM_QUANTUM_TOKEN|QE_TOKEN)[\"']?\]?\s*(?:=|:)\s*[\"']?(?P<secret>[^\s\"'<\\]{16,})",
        r"QISKIT_IBM_TOKEN|IBMQ_TOKEN|IBM_QUANTUM_TOKEN|QE_TOKEN",
        check=_random(),
        examples=("%env QISKIT_IBM_TOKEN={H:128}",),
        negative_examples=('token = os.getenv("QISKIT_IBM_TOKEN")',),
    ),
    Rule(
        "ibm-quantum-classic-token",
        "IBM Quantum token",
        r"\btoken[\"']?\]?\s*(?:=|:)\s*[rbuf]?[\"'](?P<secret>[0-9a-f]{128})[\"']",
        r"token",
        ignore_case=True,
        examples=('token = "{H:128}"',),
        negative_examples=('token = "{H:64}"',),
    ),
    Rule(
        "ionq-key",
        "IonQ API key",
        r"(?:IonQProvider\s*\(\s*(?:token\s*=\s*)?|ionq[\w.-]*(?:api[_-]?key|token)[\w.-]*[\"']?\]?\s*(?:=|:)\s*)[rbuf]?[\"']?(?P<secret>[A-Za-z0-9]{32})\b",
        r"ionq",
        ignore_case=True,
        check=_random(),
        examples=('provider = IonQProvider("{A:32}")',),
        negative_examples=('provider = IonQProvider(os.environ["IONQ_API_KEY"])',),
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
        examples=('QUANTINUUM_PASSWORD = "{A:14}"',),
        negative_examples=("QUANTINUUM_PASSWORD = os.environ['QPW']",),
    ),
    Rule(
        "ibm-cloud-api-key",
        "IBM Cloud API key",
        r"(?:ibm|iam|cloud|cos|qiskit)[\w.-]*api[_-]?key[\w.-]*[\"']?\]?\s*(?:=|:|\()\s*[rbuf]?[\"']?(?P<secret>[A-Za-z0-9_-]{44})(?![A-Za-z0-9_-])",
        r"api[_-]?key",
        ignore_case=True,
        check=_random(),
        examples=('IBM_CLOUD_API_KEY = "{W:44}"',),
        negative_examples=('IBM_CLOUD_API_KEY = "<api key>"',),
    ),
    Rule(
        "ibm-cos-hmac",
        "IBM COS HMAC secret",
        r"secret[_-]?access[_-]?key[\"']?\]?\s*(?:=|:)\s*[\"']?(?P<secret>[a-f0-9]{48})\b",
        r"secret[_-]?access[_-]?key",
        ignore_case=True,
        examples=('secret_access_key = "{H:48}"',),
        negative_examples=('secret_access_key = "<hmac secret>"',),
    ),
    Rule(
        "databricks-token",
        "Databricks token",
        r"\b(?P<secret>dapi[a-f0-9]{32}(?:-\d)?)\b",
        r"dapi[a-f0-9]",
        visible_prefix=4,
        examples=('DATABRICKS_TOKEN = "dapi{H:32}"',),
        negative_examples=('DATABRICKS_TOKEN = "dapi..."',),
    ),
    Rule(
        "digitalocean-token",
        "DigitalOcean token",
        r"\b(?P<secret>do[opr]_v1_[a-f0-9]{64})\b",
        r"do[opr]_v1_",
        visible_prefix=7,
        examples=('DO_TOKEN = "dop_v1_{H:64}"',),
        negative_examples=('DO_TOKEN = "dop_v1_..."',),
    ),
    Rule(
        "dockerhub-token",
        "Docker Hub token",
        r"\b(?P<secret>dckr_(?:pat|oat)_[A-Za-z0-9_-]{27,})",
        r"dckr_",
        visible_prefix=9,
        examples=("docker login -u lab -p dckr_pat_{W:27}",),
        negative_examples=("docker login -u lab -p dckr_pat_...",),
    ),
    Rule(
        "groq-key",
        "Groq API key",
        r"\b(?P<secret>gsk_[A-Za-z0-9]{52})\b",
        r"gsk_",
        visible_prefix=4,
        examples=('GROQ_API_KEY = "gsk_{A:52}"',),
        negative_examples=('GROQ_API_KEY = "gsk_..."',),
    ),
    Rule(
        "heroku-key",
        "Heroku API key",
        r"\b(?P<secret>HRKU-[A-Za-z0-9_-]{60})",
        r"HRKU-",
        visible_prefix=5,
        examples=('HEROKU_API_KEY = "HRKU-{W:60}"',),
        negative_examples=('HEROKU_API_KEY = "HRKU-..."',),
    ),
    Rule(
        "linear-key",
        "Linear API key",
        r"\b(?P<secret>lin_api_[A-Za-z0-9]{40})\b",
        r"lin_api_",
        visible_prefix=8,
        examples=('LINEAR_API_KEY = "lin_api_{A:40}"',),
        negative_examples=('LINEAR_API_KEY = "lin_api_..."',),
    ),
    Rule(
        "notion-token",
        "Notion token",
        r"\b(?P<secret>(?:secret_[A-Za-z0-9]{43}|ntn_[0-9]{11}[A-Za-z0-9]{35}))\b",
        r"secret_|ntn_",
        visible_prefix=4,
        check=_random(),
        examples=('NOTION_TOKEN = "ntn_{D:11}{A:35}"',),
        negative_examples=('NOTION_TOKEN = "secret_..."',),
    ),
    Rule(
        "replicate-token",
        "Replicate token",
        r"\b(?P<secret>r8_[A-Za-z0-9]{37})\b",
        r"r8_",
        visible_prefix=3,
        examples=('REPLICATE_API_TOKEN = "r8_{A:37}"',),
        negative_examples=('REPLICATE_API_TOKEN = "r8_..."',),
    ),
    Rule(
        "shopify-token",
        "Shopify token",
        r"\b(?P<secret>shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32})\b",
        r"shp(?:at|ca|pa|ss)_",
        visible_prefix=6,
        examples=('SHOPIFY_TOKEN = "shpat_{H:32}"',),
        negative_examples=('SHOPIFY_TOKEN = "shpat_..."',),
    ),
    Rule(
        "atlassian-token",
        "Atlassian API token",
        r"\b(?P<secret>AT[AC]TT3xFfG[A-Za-z0-9_=+/-]{10,}=[A-Za-z0-9]{8}(?![A-Za-z0-9_=+/-])"
        r"|ATATT3[A-Za-z0-9_=-]{180,})",
        r"AT[AC]TT3",
        visible_prefix=6,
        examples=('JIRA_TOKEN = "ATATT3xFfG{W:180}={A:8}"',),
        negative_examples=('JIRA_TOKEN = "ATATT3..."',),
    ),
    Rule(
        "atlassian-token-context",
        "Atlassian API token",
        r"(?i:jira|atlassian|confluence)[^\n]{0,120}?"
        r"\b(?P<secret>ATATT[A-Za-z0-9_=+/-]{20,}=[A-Za-z0-9]{8})(?![A-Za-z0-9_=+/-])",
        r"ATATT",
        visible_prefix=5,
        check=_entropy(3.5),
        examples=("# token for the JIRA API: ATATT{A:40}={A:8}",),
        negative_examples=("# token for the JIRA API: ATATT...",),
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
        examples=('jira = JIRA(server="https://lab.atlassian.net")\napi_key = "{A:24}"',),
        negative_examples=('"jira": {"key": "QS-12", "accountId": "5b10ac8d82e05b22cc7d4ef5"}',),
    ),
    Rule(
        "pinecone-key",
        "Pinecone API key",
        r"\b(?P<secret>pcsk_[A-Za-z0-9_]{40,})",
        r"pcsk_",
        visible_prefix=5,
        examples=('PINECONE_API_KEY = "pcsk_{A:60}"',),
        negative_examples=('PINECONE_API_KEY = "pcsk_..."',),
    ),
    Rule(
        "cloudflare-ca-key",
        "Cloudflare origin CA key",
        r"\b(?P<secret>v1\.0-[A-Za-z0-9]{24}-[A-Za-z0-9]{146})\b",
        r"v1\.0-",
        check=_entropy(3.5),
        examples=('CF_ORIGIN_CA_KEY = "v1.0-{A:24}-{A:146}"',),
        negative_examples=('CF_ORIGIN_CA_KEY = "v1.0-..."',),
    ),
    Rule(
        "cloudflare-token",
        "Cloudflare API token",
        r"\b(?P<secret>cf(?:k|ut|at)_[A-Za-z0-9]{40}[a-f0-9]{8})\b",
        r"cf(?:k|ut|at)_",
        visible_prefix=5,
        check=_entropy(3.5),
        examples=('CLOUDFLARE_API_TOKEN = "cfut_{A:40}{H:8}"',),
        negative_examples=('CLOUDFLARE_API_TOKEN = "cfut_..."',),
    ),
    Rule(
        "aws-appsync-key",
        "AWS AppSync API key",
        r"\b(?P<secret>da2-[a-z0-9]{26})\b",
        r"da2-",
        visible_prefix=4,
        check=_random(3.5),
        examples=('const key = "da2-{a:26}";',),
        negative_examples=('key = "da2-abcdefghijklmnopqrstuvwxyz"',),
    ),
    Rule(
        "artifactory-token",
        "Artifactory token",
        r"(?:^|[\s=:\"'])(?P<secret>AKC[a-zA-Z0-9]{10,}|AP[\dABCDEF][a-zA-Z0-9]{8,})\b",
        r"AKC|AP[\dABCDEF]",
        check=_random(3.5),
        examples=('ARTIFACTORY_API_KEY = "AKCp{A:69}"',),
        negative_examples=("APPLICATION_NAME = 'lab'",),
    ),
    Rule(
        "jwt",
        "JSON Web Token",
        r"\b(?P<secret>eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{10,})",
        r"eyJ[A-Za-z0-9_-]{8,}\.eyJ",
        visible_prefix=3,
        check=lambda m: is_jwt(m.group("secret")),
        examples=(
            "Authorization: Bearer ey"
            + "JhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkFkYSIsImlhdCI6MTUxNjIzOTAyMn0.{W:43}",
        ),
        negative_examples=("eyJhbGciOiJIUzI1NiJ9.eyJ.notajwt",),
    ),
    Rule(
        "database-url",
        "Database URL with password",
        rf"\b(?:{_DB_SCHEMES}|jdbc:[a-z0-9]+:?(?:[a-z0-9]+:)?)(?:\+[a-z0-9]+)?://[^\s:/@\"'<>\[\]]+:(?P<secret>[^\s@\"'<>]+)@",
        r"://",
        ignore_case=True,
        check=lambda m: not is_reference(m.group("secret")),
        template_placeholders_only=True,
        examples=(
            'engine = create_engine("postgresql+psycopg2://alice:{A:16}@db.lab.example.org:5432/runs")',
        ),
        negative_examples=("url = 'postgresql://{user}:{password}@{host}/db'",),
    ),
    Rule(
        "jdbc-password",
        "Database URL with password",
        r"jdbc:[^\s\"']*?[;?&]password=(?P<secret>[^;&\s\"'<\\]+)",
        r"jdbc:",
        ignore_case=True,
        template_placeholders_only=True,
        examples=("jdbc:sqlserver://db.lab:1433;database=runs;user=sa;password={A:12}",),
        negative_examples=("jdbc:sqlserver://db:1433;user=sa;password=<your password>",),
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
        examples=("ftp://labuser:{A:12}@files.lab.example.org/pub",),
        negative_examples=('help="A proxy in the form scheme://[user:passwd@]proxy.server:port."',),
    ),
    Rule(
        "url-token-user",
        "Token in URL",
        # A token given as the URL's user, with no password: git clone / pip install
        # git+https://<token>@host/..., as GitHub (classic tokens) and GitLab accept it.
        r"\b(?:https?|git\+https?|git)://(?P<secret>[A-Za-z0-9_-]{20,200})@(?P<host>[\w.-]+)",
        r"://[A-Za-z0-9_-]{20}",
        ignore_case=True,
        check=_url_token_user,
        examples=(
            "!pip install git+https://{H:40}@github.com/lab/private.git",
            "!git clone https://{A:8}7{A:20}@gitlab.lab.example.org/lab/repo.git",
        ),
        negative_examples=(
            "https://{H:32}@o4504.ingest.sentry.io/4504",
            "git clone https://analysis-pipeline-readonly@git.lab.example.org/lab/repo.git",
        ),
    ),
    Rule(
        "url-token",
        "Token in URL",
        # ``&amp;`` is how HTML writes ``&`` in an ``href`` or ``src``.
        r"(?:[?&]|&amp;)(?P<key>access_?token|api_?key|apikey|api-key|auth_?token|token|secret"
        r"|client_secret|password|passwd|key|app_?key|subscription-key)"
        r"=(?P<secret>[A-Za-z0-9_\-.~%+/]{16,})",
        r"[?&][a-z_-]+=|&amp;",
        ignore_case=True,
        check=_url_token,
        examples=(
            "https://api.example.org/v1/runs?api_key={A:32}",
            "![map](https://maps.example.org/static?center=0,0&key={A:32})",
            '<img src="https://maps.example.org/static?size=400x400&amp;key={W:39}">',
            "HTTPError: 403 Client Error: Forbidden for url: https://api.example.org/v1/x?key={A:32}",
        ),
        negative_examples=(
            "https://api.example.org/v1/runs?api_key=YOUR_API_KEY",
            "https://bucket.example.org/list?prefix=runs&key=runs/2024/Run42-final.csv",
            "https://docs.example.org/search?q=lab&key=InstallationGuideForLabs",
        ),
    ),
    Rule(
        "bearer-token",
        "Bearer token",
        r"\bBearer\s+(?P<secret>[A-Za-z0-9_\-.~+/]{20,}=*)",
        r"bearer",
        ignore_case=True,
        check=_random(),
        examples=('headers = {"Authorization": "Bearer {W:40}"}',),
        negative_examples=("Bearer authentication is described in RFC 6750",),
    ),
    *PROVIDER_RULES,
    *SYNTAX_RULES,
    *TABLE_RULES,
    Rule(
        "password-assignment",
        "Password",
        PASSWORD_NAME + f"(?:{SEPARATOR}|{ARGUMENT})" + (QUOTED % (3, 200)),
        _PASSWORD_TRIGGER,
        ignore_case=True,
        check=_password_quoted,
        examples=(
            'password = "Tr0ub4dor&{A:3}"',
            "$password .= '{A:10}';",
            'var dbPassword string = "{A:12}"',
            'db_pass := "{A:12}"',
            r'"cmd": "login --user lab password=\"{A:10}\""',
            "buildConfigField 'String', 'DB_PASSWORD', '{A:12}'",
            "user = 'Aladdin'\npassword = 'open sesame'",
            'password = """Tr0ub4dor&{A:3}"""',
            "db_pw = '{A:12}'",
        ),
        negative_examples=(
            "this.addPassword = '#add-password';",
            "pw = getpass.getpass('Password: ')",
            'password = """',
            'usernameLabel:"Username or email:",passwordLabel:"Password:"',
            'IAMUserChangePassword = "arn:aws:iam::aws:policy/IAMUserChangePassword"',
            "password = os.environ['DB_PASSWORD']",
            'password = "<password>"',
            'const password = process.env.PASSWORD || "not-set"',
            # Hashes stored to check a password against: Jupyter's, Django's, Werkzeug's.
            "c.PasswordIdentityProvider.hashed_password = 'argon2:$argon2id$v=19$m=65536,t=3,p=4${A:22}${A:43}'",
            "c.ServerApp.password = 'sha1:{H:12}:{H:40}'",
            "PASSWORD = 'pbkdf2_sha256$600000${A:12}${A:43}='",
            "admin_password = 'pbkdf2:sha256:600000${A:16}${H:64}'",
        ),
    ),
    Rule(
        "password-env",
        "Password",
        PASSWORD_NAME + _UNQUOTED_SEP + (UNQUOTED % (2, 200)),
        _PASSWORD_TRIGGER,
        ignore_case=True,
        check=_password_unquoted,
        config_only=True,
        examples=(
            "DB_PASSWORD=Wq8vN3zLp2",
            "[SupportSite]\nUsername=lab\nPassword=thisismy{a:6}\n",
            "REACT_APP_AUTH_PASSWORD=whiteduke    # some comment",
            "spring.datasource.password: {A:12}",
            "DB_PASS ?= {A:12}",
            "PASSWORD ::= {A:12}",
        ),
        negative_examples=(
            "PASSWORD=$(get-setting LOCAL_DATABASE_PASSWORD)",
            "password = env.TEST_PASSWORD",
            "Reset your password: click the link below",
            "password: ********",
            "password: argon2:$argon2id$v=19$m=65536,t=3,p=4${A:22}${A:43}",
            "ROOT_PASSWORD=$6$rounds=5000${A:16}${A:86}",
        ),
    ),
    Rule(
        "password-magic",
        "Password",
        _MAGIC + PASSWORD_NAME + r"\s*[= ]\s*(?P<secret>[^\s\"'#<\\]{4,200})",
        _PASSWORD_TRIGGER,
        ignore_case=True,
        check=_password_quoted,
        examples=("%env DB_PASSWORD={A:12}", "!export PGPASSWORD={A:12}"),
        negative_examples=("%env DB_PASSWORD=$DB_PASSWORD",),
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
        examples=(
            '"heroku_secret": "{H:8}-{H:4}-{H:4}-{H:4}-{H:12}"',
            "GITLAB_TOKEN={A:20}",
            "- SAUCE_ACCESS_KEY={H:8}-{H:4}-{H:4}-{H:4}-{H:12}",
            'postmarkApiToken: "{H:8}-{H:4}-{H:4}-{H:4}-{H:12}"',
        ),
        negative_examples=(
            "GITLAB_TOKEN = gitlab_token_from_vault_2",
            '"heroku_app_id": "01234567-89ab-4cde-8f01-23456789abcd"',
        ),
    ),
    Rule(
        "keyword-secret",
        "Secret",
        SECRET_NAME + f"(?:{SEPARATOR}|{ARGUMENT})" + (QUOTED % (8, 500)),
        _SECRET_TRIGGER,
        ignore_case=True,
        check=_secret_quoted,
        examples=(
            'client_secret = "{W:32}"',
            '"api_key": "{A:40}"',
            'ado_pat = "{a:52}"',
            r'{"config": "{\"apiKey\": \"{A:32}\"}"}',
            "PrivateKey = 'A{B:42}='",
            "client_secret = '''{W:32}'''",
        ),
        negative_examples=(
            'api_key = "YOUR_API_KEY"',
            'credentialId = "{A:24}"',
            'cache_key = "d41d8cd98f00b204e9800998ecf8427e"',
            'author: "ada@example.org"',
            # Tokenizers' vocabulary entries, escaped as JSON writes them: words.
            '  "token": "\\u0120quantum",',
            "[{'score': 0.13, 'token': 2204, 'token_str': '\\u2581Qu\\u00e1ntica'}]",
            # A QKD course's sifted key: random bits, printed as teaching material.
            "{'sifted_key': '0010111001111010011001111110110001001011001010100110'}",
        ),
    ),
    Rule(
        "keyword-secret-env",
        "Secret",
        SECRET_NAME + _UNQUOTED_SEP + (UNQUOTED % (7, 500)),
        _SECRET_TRIGGER,
        ignore_case=True,
        check=_secret_unquoted,
        examples=(
            "STRIPE_SECRET={A:32}",
            "X-Api-Key: {A:32}",
            "PrivateKey = A{B:42}=",
            "license_key: {H:40}",
            "curl -d access_token={H:40} https://api.example.org",
        ),
        negative_examples=(
            "heroku_api_key = settings.heroku.api_key",
            "token = config.secrets.ibm_quantum_token",
            "tokenizer = AutoTokenizer.from_pretrained('bert-base-uncased')",
            "storage_account_key = os.environ['AZURE_STORAGE_KEY']",
        ),
    ),
    Rule(
        "keyword-secret-magic",
        "Secret",
        _MAGIC + SECRET_NAME + r"\s*[= ]\s*(?P<secret>[^\s\"'#<\\]{12,500})",
        _SECRET_TRIGGER,
        ignore_case=True,
        check=_secret_quoted,
        examples=("%env OPENAI_API_KEY={A:40}",),
        negative_examples=("%env OPENAI_API_KEY=$OPENAI_API_KEY",),
    ),
    *FALLBACK_RULES,
)


RULES_BY_ID = {rule.id: rule for rule in RULES}
