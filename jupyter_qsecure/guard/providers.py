"""Providers' credential formats with a distinctive prefix or shape.

Each rule carries example templates (see :func:`~.rule.expand`): what it must find and
near misses it must leave alone. Formats without a prefix are found only beside the
provider's name (``mailgun``, ``sonar``, ``okta``).
"""

from __future__ import annotations

import base64
import binascii
import json
import re

from .checks import looks_random, shannon_entropy
from .rule import Check, Rule
from .syntax import base64_private_key, is_public_value, names_a_secret


def _random(min_entropy: float = 3.0) -> Check:
    return lambda match: looks_random(match.group("secret"), min_entropy)


def _entropy(minimum: float) -> Check:
    return lambda match: shannon_entropy(match.group("secret")) >= minimum


def _digits_and_entropy(minimum: float, digits: int = 2) -> Check:
    """Generated values have digits; typed words and method names rarely do."""
    return lambda match: (
        sum(c.isdigit() for c in match.group("secret")) >= digits
        and shannon_entropy(match.group("secret")) >= minimum
    )


def _grafana_key(match: re.Match[str]) -> bool:
    """A Grafana API key is base64 of ``{"k": ..., "n": ..., "id": ...}``."""
    value = match.group("secret")
    try:
        decoded = json.loads(base64.b64decode(value + "=" * (-len(value) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return False
    return isinstance(decoded, dict) and {"k", "n"} <= decoded.keys()


def _near(match: re.Match[str], pattern: str, distance: int = 200) -> bool:
    """Whether ``pattern`` occurs within ``distance`` characters of the match."""
    text = match.string[max(0, match.start() - distance) : match.end() + distance]
    return re.search(pattern, text) is not None


_B = r"(?<![A-Za-z0-9_-])"  # no word or token character before
_E = r"(?![A-Za-z0-9_-])"  # nor after

PROVIDER_RULES: tuple[Rule, ...] = (
    Rule(
        "private-key-base64",
        "Private key (base64-encoded)",
        r"(?<![A-Za-z0-9+/])(?P<secret>LS0tLS1CRUdJTi[A-Za-z0-9+/]{60,}={0,2})",
        r"LS0tLS1CRUdJTi",
        check=lambda m: base64_private_key(m.group("secret")),
        examples=(
            # "-----BEGIN RSA PRIVATE KEY-----\n" in base64, then the body.
            "PRIVATE_KEY_B64=LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpNSUlF{B:120}",
        ),
        negative_examples=("cert: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJ{B:120}",),
    ),
    Rule(
        "openai-project-key",
        "OpenAI API key",
        rf"{_B}(?P<secret>sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{{40,}}){_E}",
        r"sk-(?:proj|svcacct|admin)-",
        visible_prefix=8,
        check=_digits_and_entropy(4.0),
        examples=(
            'OPENAI_API_KEY="sk-proj-{W:64}"',
            "key = 'sk-svcacct-{W:120}'",
            "sk-admin-{W:80}",
        ),
        negative_examples=(
            'OPENAI_API_KEY="sk-proj-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"',
        ),
    ),
    Rule(
        "azure-entra-client-secret",
        "Azure Entra ID client secret",
        r"(?<![\w~.-])(?P<secret>[\w~.-]{3}\dQ~[\w~.-]{31,34})(?![\w~.-])",
        r"\dQ~",
        check=_digits_and_entropy(3.5),
        examples=("client_credential='{A:3}8Q~{A:10}.{A:4}-{A:17}'",),
        negative_examples=("version 1.8Q~ release notes",),
    ),
    Rule(
        "azure-connection-key",
        "Azure connection string key",
        r"(?:^|[;\"'\s])(?:AccountKey|SharedAccessKey|PrimaryKey|SecondaryKey)\s*=\s*"
        r"(?P<secret>[A-Za-z0-9+/]{30,}={0,2})",
        r"AccountKey|SharedAccessKey|PrimaryKey|SecondaryKey",
        ignore_case=True,
        check=lambda m: (
            looks_random(m.group("secret"), 3.5)
            and m.group("secret").lower() != m.group("secret")
            and not is_public_value(m.group("secret"))
        ),
        examples=(
            "HostName=hub.azure-devices.net;SharedAccessKeyName=owner;SharedAccessKey={B:43}=",
            "DefaultEndpointsProtocol=http;AccountName=acc1;\nAccountKey={B:70}==;",
        ),
        negative_examples=(
            "AccountName=<YOUR_ACCOUNT_NAME>;\nAccountKey=<YOUR_ACCOUNT_KEY>;",
            "SharedAccessKeyName=[Name goes here];SharedAccessKey=[Shared Access key goes here];",
        ),
    ),
    Rule(
        "azure-app-configuration",
        "Azure App Configuration connection string",
        r"\.azconfig\.io;\s*Id=[^;\s\"']+;\s*Secret=(?P<secret>[A-Za-z0-9+/]{40,}={0,2})",
        r"azconfig\.io",
        ignore_case=True,
        check=_random(3.5),
        examples=("Endpoint=https://app1.azconfig.io;Id=09pv-l0-s0:{A:20};Secret={B:43}=",),
        negative_examples=("Endpoint=https://contoso.azconfig.io;Id=xxx;Secret=xxx",),
    ),
    Rule(
        "azure-devops-pat",
        "Azure DevOps personal access token",
        r"\b(?P<secret>[A-Za-z0-9]{76}AZDO[A-Za-z0-9]{4})\b",
        r"AZDO",
        check=_digits_and_entropy(3.5),
        examples=('azure_devops_pat = "{A:52}JQQJ99BFACAAAAA{A:5}AAASAZDO{A:4}"',),
        negative_examples=("{A:52}JQQJ99BFACAAAAA{A:9}AAASAZDO{A:3}",),
    ),
    Rule(
        "azure-devops-pat-legacy",
        "Azure DevOps personal access token",
        r"(?i:ado|azure[_ -]?devops|devops|vsts|azdo)[\w.-]{0,20}?(?i:pat|token)\w*[\"']?\s*[=:]\s*"
        r"[\"']?(?P<secret>[a-z2-7]{52})\b",
        r"(?i)pat|token",
        check=_digits_and_entropy(3.5),
        examples=('ado_pat = "{z:52}"',),
        negative_examples=("{z:52}",),
    ),
    Rule(
        "google-oauth-client-secret",
        "Google OAuth client secret",
        rf"{_B}(?P<secret>GOCSPX-[A-Za-z0-9_-]{{28}}){_E}",
        r"GOCSPX-",
        visible_prefix=7,
        check=_entropy(3.5),
        examples=('"client_secret": "GOCSPX-{W:28}"',),
        negative_examples=('"client_secret": "GOCSPX-xxxxxxxxxxxxxxxxxxxxxxxxxxxx"',),
    ),
    Rule(
        "google-oauth-token",
        "Google OAuth token",
        rf"{_B}(?P<secret>ya29\.[A-Za-z0-9_-]{{30,}}|1//0[A-Za-z0-9_-]{{40,}}){_E}",
        r"ya29\.|1//0",
        visible_prefix=5,
        check=_digits_and_entropy(4.0),
        examples=("access_token:\n    'ya29.{W:120}'", '"refresh_token": "1//0{W:100}"'),
        negative_examples=("ya29.example_token_here",),
    ),
    Rule(
        "bedrock-api-key",
        "Amazon Bedrock API key",
        r"(?<![A-Za-z0-9+/])(?P<secret>ABSK[A-Za-z0-9+/]{100,}={0,2}|bedrock-api-key-[A-Za-z0-9+/]{60,}={0,2})",
        r"ABSK|bedrock-api-key-",
        visible_prefix=4,
        check=_digits_and_entropy(4.0),
        examples=("AWS_BEARER_TOKEN_BEDROCK=ABSK{B:128}",),
        negative_examples=("ABSKABSKABSKABSK",),
    ),
    Rule(
        "perplexity-key",
        "Perplexity API key",
        rf"{_B}(?P<secret>pplx-[A-Za-z0-9]{{48,56}}){_E}",
        r"pplx-",
        visible_prefix=5,
        check=_entropy(3.5),
        examples=('PPLX_API_KEY = "pplx-{A:48}"',),
        negative_examples=('"pplx-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"',),
    ),
    Rule(
        "deepseek-key",
        "DeepSeek API key",
        r"\b(?P<secret>sk-[a-f0-9]{32})\b",
        r"sk-[a-f0-9]{32}",
        visible_prefix=3,
        multiline=True,
        context_before=200,
        check=lambda m: shannon_entropy(m.group("secret")) >= 3.0 and _near(m, r"(?i)deepseek"),
        examples=('client = OpenAI(api_key="sk-{H:32}", base_url="https://api.deepseek.com")',),
        negative_examples=('OPENAI_KEY = "sk-{H:32}"',),
    ),
    Rule(
        "together-key",
        "Together AI API key",
        rf"{_B}(?P<secret>tgp_v1_[A-Za-z0-9_-]{{40,}}){_E}",
        r"tgp_v1_",
        visible_prefix=7,
        check=_entropy(3.5),
        examples=('TOGETHER_API_KEY="tgp_v1_{W:43}"',),
        negative_examples=('TOGETHER_API_KEY="tgp_v1_..."',),
    ),
    Rule(
        "xai-key",
        "xAI API key",
        rf"{_B}(?P<secret>xai-[A-Za-z0-9]{{70,90}}){_E}",
        r"xai-",
        visible_prefix=4,
        check=_entropy(4.0),
        examples=('XAI_API_KEY = "xai-{A:80}"',),
        negative_examples=("pip install xai-sdk",),
    ),
    Rule(
        "llamacloud-key",
        "LlamaCloud API key",
        rf"{_B}(?P<secret>llx-[A-Za-z0-9]{{40,60}}){_E}",
        r"llx-",
        visible_prefix=4,
        check=_entropy(3.5),
        examples=('LLAMA_CLOUD_API_KEY="llx-{A:48}"',),
        negative_examples=('LLAMA_CLOUD_API_KEY="llx-..."',),
    ),
    Rule(
        "tavily-key",
        "Tavily API key",
        rf"{_B}(?P<secret>tvly-(?:dev-|prod-)?[A-Za-z0-9]{{32}}){_E}",
        r"tvly-",
        visible_prefix=5,
        check=_entropy(3.5),
        examples=("tvly-{A:32}", 'TAVILY_API_KEY = "tvly-dev-{A:32}"'),
        negative_examples=('TAVILY_API_KEY = "tvly-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"',),
    ),
    Rule(
        "jina-key",
        "Jina AI API key",
        rf"{_B}(?P<secret>jina_[a-f0-9]{{32}}[A-Za-z0-9_-]{{28}}){_E}",
        r"jina_",
        visible_prefix=5,
        check=_entropy(3.5),
        examples=("JINA_KEY = os.getenv('JINA_KEY','jina_{H:32}{A:28}')",),
        negative_examples=("jina_embeddings_v3 = load()",),
    ),
    Rule(
        "vault-token",
        "HashiCorp Vault token",
        rf"{_B}(?P<secret>hv[sbr]\.[A-Za-z0-9_-]{{24,}}){_E}",
        r"hv[sbr]\.",
        visible_prefix=4,
        check=_digits_and_entropy(3.5),
        examples=("apikey: hvs.{A:24}", "VAULT_TOKEN=hvb.{W:140}"),
        negative_examples=("hvs.example",),
    ),
    Rule(
        "vault-legacy-token",
        "HashiCorp Vault token",
        r"(?<![\w.$-])(?P<secret>[sbr]\.[A-Za-z0-9_-]{24,})(?![\w(.-])",
        r"\b[sbr]\.[A-Za-z0-9_-]{24}",
        visible_prefix=2,
        check=_digits_and_entropy(3.5, digits=3),
        examples=("`-vaultToken s.{A:24}`", "VAULT_TOKEN=s.{W:90}"),
        negative_examples=(
            "function(){s.addComponentsFromRegistry()}",
            "b.removeTransientObservers()",
            "// s.getServerAddressByClientCIDRs(req.Request)",
        ),
    ),
    Rule(
        "vault-unseal-key",
        "HashiCorp Vault unseal key",
        r"(?:Unseal Key \d+:|vault operator unseal)\s+(?P<secret>[A-Za-z0-9+/]{43,44}={0,1})",
        r"Unseal Key|operator unseal",
        ignore_case=True,
        check=_random(3.5),
        examples=("Unseal Key 2: {B:44}", "vault operator unseal {B:44}"),
        negative_examples=("vault operator unseal $UNSEAL_KEY",),
    ),
    Rule(
        "terraform-cloud-token",
        "Terraform Cloud token",
        r"\b(?P<secret>[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=-]{60,70})(?![A-Za-z0-9_=-])",
        r"\.atlasv1\.",
        check=_entropy(3.5),
        examples=('token = "{A:14}.atlasv1.{W:67}"',),
        negative_examples=('token = "xxxxxxxxxxxxxx.atlasv1.xxxxxxxxxx"',),
    ),
    Rule(
        "doppler-token",
        "Doppler token",
        r"\b(?P<secret>dp\.(?:ct|pt|st|sa|scim|audit)\.(?:[a-z0-9_-]{1,40}\.)?[A-Za-z0-9]{40,44})\b",
        r"dp\.(?:ct|pt|st|sa|scim|audit)\.",
        visible_prefix=6,
        check=_entropy(3.5),
        examples=("dp.pt.{A:43}", "DOPPLER_TOKEN=dp.st.dev.{A:43}"),
        negative_examples=("dp.st.example",),
    ),
    Rule(
        "onepassword-token",
        "1Password service account token",
        r"\b(?P<secret>ops_eyJ[A-Za-z0-9+/_-]{100,}={0,2})",
        r"ops_eyJ",
        visible_prefix=7,
        check=_entropy(4.0),
        examples=("OP_SERVICE_ACCOUNT_TOKEN=ops_eyJ{W:250}",),
        negative_examples=("ops_eyJ",),
    ),
    Rule(
        "onepassword-secret-key",
        "1Password secret key",
        r"\b(?P<secret>A3-[A-Z0-9]{6}-(?:[A-Z0-9]{11}|[A-Z0-9]{6}-[A-Z0-9]{5})-[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5})\b",
        r"A3-[A-Z0-9]{6}-",
        visible_prefix=3,
        check=_digits_and_entropy(3.0),
        examples=("Secret Key: A3-{U:6}-{U:11}-{U:5}-{U:5}-{U:5}",),
        negative_examples=("A3-XXXXXX-XXXXXXXXXXX-XXXXX-XXXXX-XXXXX",),
    ),
    Rule(
        "age-secret-key",
        "age secret key",
        r"\b(?P<secret>AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58})\b",
        r"AGE-SECRET-KEY-1",
        visible_prefix=15,
        check=_entropy(3.5),
        examples=("# public key: age1...\nAGE-SECRET-KEY-1{Z:58}",),
        negative_examples=("age1epzmwwzw8n09slh0c7z1z52x43nnga7lkksx3qrh07tqz5v7lcys45428t",),
    ),
    Rule(
        "new-relic-key",
        "New Relic key",
        r"\b(?P<secret>NRAK-[A-Z0-9]{27}|NRI[IQ]-[A-Za-z0-9_-]{32}|NRRA-[a-f0-9]{42}|NRAA-[a-f0-9]{27}"
        r"|NRJS-[a-f0-9]{19}|(?:eu01xx)?[a-f0-9]{30,36}NRAL"
        r"|px-(?:dep|api)-[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12})\b",
        r"NRAK-|NRI[IQ]-|NRRA-|NRAA-|NRJS-|NRAL|px-(?:dep|api)-",
        visible_prefix=5,
        check=_entropy(2.5),
        examples=(
            "license_key: {H:36}NRAL",
            'insertKey: "NRII-{W:32}"',
            "ENV NEW_RELIC_API_KEY=NRAK-{U:27}",
            "MW_PX_DEPLOY_KEY=px-dep-{H:8}-{H:4}-{H:4}-{H:4}-{H:12}",
        ),
        negative_examples=(
            "--set newrelic-pixie.apiKey=px-api-a1b2c3d4-e5f6-g7h8-i8j0-k0l3m3n4o0p5",
            "license_key: xxxxxxxxxxxxxxx",
        ),
    ),
    Rule(
        "dynatrace-token",
        "Dynatrace token",
        r"\b(?P<secret>dt0[a-z]\d{2}\.[A-Z0-9]{24}\.[A-Z0-9]{64})\b",
        r"dt0[a-z]\d\d\.",
        visible_prefix=7,
        check=_entropy(3.5),
        examples=("apiToken: dt0c01.{U:24}.{U:64}",),
        negative_examples=("apiToken: dt0c01.XXXXXXXX",),
    ),
    Rule(
        "sentry-token",
        "Sentry token",
        r"\b(?P<secret>sntrys_eyJ[A-Za-z0-9+/=_-]{60,}|sntryu_[a-f0-9]{64})",
        r"sntry[su]_",
        visible_prefix=7,
        check=_entropy(3.5),
        examples=("SENTRY_AUTH_TOKEN=sntryu_{H:64}", "sntrys_eyJ{W:120}"),
        negative_examples=("SENTRY_AUTH_TOKEN=sntryu_...",),
    ),
    Rule(
        "grafana-token",
        "Grafana token",
        r"\b(?P<secret>glc_[A-Za-z0-9+/]{32,400}={0,2}|glsa_[A-Za-z0-9]{32}_[a-f0-9]{8})(?![A-Za-z0-9+/=_])",
        r"glc_|glsa_",
        visible_prefix=5,
        check=_entropy(3.5),
        examples=("GRAFANA_TOKEN=glsa_{A:32}_{H:8}", "glc_{B:80}"),
        negative_examples=("glsa_xxxxxxxx",),
    ),
    Rule(
        "grafana-api-key",
        "Grafana API key",
        r"(?<![A-Za-z0-9+/=])(?P<secret>eyJrIjoi[A-Za-z0-9+/]{40,}={0,2})",
        r"eyJrIjoi",
        check=_grafana_key,
        # {"k":"...","n":"adminkey","id":1} in base64
        examples=(
            'GrafanaClient("eyJrIjoi'
            + 'Y21sM1JRYjB6RnVYSTNLenRWQkFEaWN2bXI2V202U2IiLCJuIjoiYWRtaW5rZXkiLCJpZCI6MX0=")',
        ),
        negative_examples=(
            # {"k":"...","t":"..."} (a Power BI link)
            "https://app.powerbi.com/view?r=eyJrIjoiYTZjMTk3YjEtMzQ4Yi00NTI5IiwidCI6IjcyZjk4OGJmIn0=",
        ),
    ),
    Rule(
        "planetscale-token",
        "PlanetScale token",
        r"\b(?P<secret>pscale_(?:tkn|pw|oauth)_[A-Za-z0-9_.-]{32,64})",
        r"pscale_(?:tkn|pw|oauth)_",
        visible_prefix=11,
        check=_entropy(3.5),
        examples=("PLANETSCALE_PASSWORD=pscale_pw_{W:43}",),
        negative_examples=("PLANETSCALE_PASSWORD=pscale_pw_xxxx",),
    ),
    Rule(
        "supabase-token",
        "Supabase token",
        r"\b(?P<secret>sbp_[a-f0-9]{40}|sb_secret_[A-Za-z0-9_-]{31,})\b",
        r"sbp_|sb_secret_",
        visible_prefix=4,
        check=_entropy(3.0),
        examples=("SUPABASE_ACCESS_TOKEN=sbp_{H:40}", "sb_secret_{W:32}"),
        negative_examples=("sbp_0000000000000000000000000000000000000000",),
    ),
    Rule(
        "vercel-token",
        "Vercel token",
        r"\b(?P<secret>vc[pikar]_[A-Za-z0-9]{56})\b",
        r"vc[pikar]_",
        visible_prefix=4,
        check=_entropy(3.5),
        examples=("VERCEL_TOKEN=vcp_{A:56}",),
        negative_examples=("vcp_token_name",),
    ),
    Rule(
        "netlify-token",
        "Netlify token",
        r"\b(?P<secret>nf[pcuo]_[A-Za-z0-9]{36,40})\b",
        r"nf[pcuo]_",
        visible_prefix=4,
        check=_digits_and_entropy(3.5),
        examples=("NETLIFY_AUTH_TOKEN=nfp_{A:36}",),
        negative_examples=("nfp_function_handler_for_the_site",),
    ),
    Rule(
        "posthog-key",
        "PostHog personal API key",
        r"\b(?P<secret>phx_[A-Za-z0-9]{43})\b",
        r"phx_",
        visible_prefix=4,
        check=_entropy(3.5),
        examples=("POSTHOG_PERSONAL_API_KEY=phx_{A:43}",),
        negative_examples=("phx_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",),
    ),
    Rule(
        "postman-key",
        "Postman API key",
        r"\b(?P<secret>PMAK-[a-f0-9]{24}-[a-f0-9]{34})\b",
        r"PMAK-",
        visible_prefix=5,
        check=_entropy(3.0),
        examples=("X-Api-Key: PMAK-{H:24}-{H:34}",),
        negative_examples=("PMAK-xxxxxxxxxxxxxxxxxxxxxxxx",),
    ),
    Rule(
        "figma-token",
        "Figma token",
        r"\b(?P<secret>figd_[A-Za-z0-9_-]{40}|\d{3,4}-[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12})\b",
        r"figd_|\d{3}-[a-f0-9]{8}-",
        visible_prefix=5,
        context_before=200,
        multiline=True,
        check=lambda m: m.group("secret").startswith("figd_") or _near(m, r"(?i)figma"),
        examples=(
            "FIGMA_TOKEN=figd_{W:40}",
            "--header='X-Figma-Token: 1394-{H:8}-{H:4}-{H:4}-{H:4}-{H:12}'",
        ),
        negative_examples=("order 1394-{H:8}-{H:4}-{H:4}-{H:4}-{H:12} shipped",),
    ),
    Rule(
        "sonarqube-token",
        "SonarQube token",
        r"\b(?P<secret>sq[upa]_[a-f0-9]{40})\b",
        r"sq[upa]_",
        visible_prefix=4,
        examples=("SONAR_TOKEN=squ_{H:40}",),
        negative_examples=("squ_{H:20}",),
    ),
    Rule(
        "sonarqube-legacy-token",
        "SonarQube token",
        r"(?i:sonar)[\w.-]{0,10}(?i:login|token)(?:[\"']?\s*[=:]\s*[\"']?|[\"']\s*,\s*[\"'])"
        r"(?P<secret>[a-f0-9]{40})\b",
        r"(?i)sonar",
        check=_entropy(3.0),
        examples=("mvn sonar:sonar -Dsonar.login={H:40}", '$sonarLogin = "{H:40}"'),
        negative_examples=("/d:sonar.login=$(SONAR_LOGIN)",),
    ),
    Rule(
        "sourcegraph-token",
        "Sourcegraph token",
        r"\b(?P<secret>sg[ps]_(?:[a-f0-9]{16}_|local_)?[a-f0-9]{40})\b",
        r"sg[ps]_",
        visible_prefix=4,
        check=_entropy(3.0),
        examples=("access token sgp_{H:16}_{H:40}", "sgp_local_{H:40}"),
        negative_examples=("sgp_example",),
    ),
    Rule(
        "harness-token",
        "Harness token",
        r"\b(?P<secret>(?:pat|sat)\.[A-Za-z0-9_-]{22}\.[a-f0-9]{24}\.[A-Za-z0-9]{20})\b",
        r"[ps]at\.[A-Za-z0-9_-]{22}\.",
        visible_prefix=4,
        check=_entropy(3.5),
        examples=("HARNESS_API_KEY=pat.{W:22}.{H:24}.{A:20}",),
        negative_examples=("pat.example",),
    ),
    Rule(
        "telegram-bot-token-aa",
        "Telegram bot token",
        r"\b(?P<secret>\d{8,10}:AA[0-9A-Za-z_-]{30,33})(?![0-9A-Za-z_-])",
        r"\d{8}:AA",
        check=_entropy(3.5),
        examples=("{D:10}:AA{W:32}",),
        negative_examples=("1234567890:AAxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",),
    ),
    Rule(
        "facebook-token",
        "Facebook or Instagram access token",
        r"\b(?P<secret>EAA[A-Za-z0-9]{100,}|IGQV[A-Za-z0-9_-]{100,})",
        r"EAA[A-Za-z0-9]{20}|IGQV",
        visible_prefix=3,
        check=_digits_and_entropy(4.0),
        examples=("FB_ACCESS_TOKEN=EAACEdEose0cBA{A:150}", "IGQV{W:160}"),
        negative_examples=("EAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",),
    ),
    Rule(
        "facebook-secret",
        "Facebook app secret",
        r"(?i:facebook|fb)[\w.-]{0,20}(?i:secret|key)[\w.-]{0,10}[\"']?\]?\s*(?:=|:|=>)\s*[\"']?(?P<secret>[a-f0-9]{32})\b",
        r"(?i)facebook|fb_|fb-",
        check=_entropy(3.0),
        examples=('# config.facebook.key = "{H:32}"', "FB_APP_SECRET={H:32}"),
        negative_examples=('\\"fbconnectkey\\";s:32:\\"{H:32}\\";',),
    ),
    Rule(
        "slack-app-token",
        "Slack app token",
        r"\b(?P<secret>xapp-\d-[A-Z0-9]+-\d+-[a-f0-9]{64})\b",
        r"xapp-\d-",
        visible_prefix=5,
        check=_entropy(3.0),
        examples=("SLACK_APP_TOKEN=xapp-1-A{U:10}-{D:13}-{H:64}",),
        negative_examples=("xapp-1-abc-def",),
    ),
    Rule(
        "msteams-webhook",
        "Microsoft Teams webhook URL",
        r"https://[\w.-]*(?:outlook\.office|webhook\.office)\.com/webhook(?:b2)?/[0-9a-f-]{36}@[0-9a-f-]{36}/IncomingWebhook/"
        r"(?P<secret>[0-9a-f]{32}/[0-9a-f-]{36})",
        r"office\.com/webhook",
        template_placeholders_only=True,
        examples=(
            "url = 'https://outlook.office.com/webhook/{H:8}-{H:4}-{H:4}-{H:4}-{H:12}@{H:8}-{H:4}-{H:4}-{H:4}-{H:12}/IncomingWebhook/{H:32}/{H:8}-{H:4}-{H:4}-{H:4}-{H:12}'",
        ),
        negative_examples=("https://outlook.office.com/webhook/",),
    ),
    Rule(
        "discord-webhook",
        "Discord webhook URL",
        r"https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/\d{17,20}/"
        r"(?P<secret>[A-Za-z0-9_-]{60,68})(?![A-Za-z0-9_-])",
        r"discord(?:app)?\.com/api/webhooks/",
        template_placeholders_only=True,
        check=_entropy(4.0),
        examples=("requests.post('https://discord.com/api/webhooks/{D:19}/{W:68}', json=msg)",),
        negative_examples=("https://discord.com/api/webhooks/{D:19}/" + "x" * 68,),
    ),
    Rule(
        "ngrok-authtoken",
        "ngrok authtoken",
        # ngrok authtoken <token>, ngrok config add-authtoken <token>, pyngrok's
        # ngrok.set_auth_token("..."), conf.get_default().auth_token = "...".
        r"(?:\bauthtoken\s+|(?<![A-Za-z0-9])auth_?token\b[\"']?\s*(?:=|:|\()\s*[rbuf]?[\"']?)"
        r"(?P<secret>[0-9A-Za-z]{20,32}_[0-9A-Za-z]{18,32})(?![0-9A-Za-z_])",
        r"authtoken\s|auth_?token",
        ignore_case=True,
        check=_digits_and_entropy(3.5),
        examples=(
            "!ngrok config add-authtoken 2{A:26}_{A:21}",
            'ngrok.set_auth_token("2{A:26}_{A:21}")',
        ),
        negative_examples=("!ngrok config add-authtoken $NGROK_AUTHTOKEN",),
    ),
    Rule(
        "wandb-key",
        "Weights & Biases API key",
        r"(?:\bwandb\.login\s*\([^)]{0,80}?\bkey\s*=\s*[rbuf]?[\"']|\bwandb\s+login\s+(?:--?[\w-]+\s+)*[\"']?)"
        r"(?P<secret>(?:local-)?[0-9a-f]{40})(?![0-9A-Za-z])",
        r"wandb\.login|wandb\s+login",
        check=_entropy(3.0),
        examples=('wandb.login(key="{H:40}")', "!wandb login --relogin {H:40}"),
        negative_examples=('wandb.login(key=os.environ["WANDB_API_KEY"])',),
    ),
    Rule(
        "kaggle-key",
        "Kaggle API key",
        # ~/.kaggle/kaggle.json is {"username": "...", "key": "..."}; KAGGLE_KEY=... for the CLI.
        r"(?:\bKAGGLE_KEY[\"']?\]?\s*(?:=|:)\s*[\"']?|\\?\"key\\?\"\s*:\s*\\?\")(?P<secret>[0-9a-f]{32})(?![0-9A-Za-z])",
        r"KAGGLE_KEY|\"key\\?\"\s*:",
        ignore_case=True,
        check=lambda m: (
            shannon_entropy(m.group("secret")) >= 3.0
            and (
                m.group(0).lower().startswith("kaggle")
                or _near(m, r"(?i)\\?\"username\\?\"\s*:|kaggle", 120)
            )
        ),
        examples=(
            '!echo \'{"username":"alice","key":"{H:32}"}\' > ~/.kaggle/kaggle.json',
            "%env KAGGLE_KEY={H:32}",
        ),
        negative_examples=('{"id": 7, "key": "{H:32}"}',),
    ),
    Rule(
        "mapbox-secret-token",
        "Mapbox secret token",
        r"\b(?P<secret>[st]k\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{20,})",
        r"[st]k\.eyJ",
        visible_prefix=3,
        check=_entropy(3.5),
        examples=("export MAPBOX_SECRET_TOKEN=sk.eyJ1{W:40}.{W:22}",),
        negative_examples=("mapboxgl.accessToken = 'pk.eyJ1{W:40}.{W:22}'",),
    ),
    Rule(
        "adafruit-key",
        "Adafruit IO key",
        r"\b(?P<secret>aio_[A-Za-z0-9]{28})\b",
        r"aio_",
        visible_prefix=4,
        check=_digits_and_entropy(3.5),
        examples=('#define IO_KEY "aio_{A:28}"',),
        negative_examples=("aio_http_client_session_factory",),
    ),
    Rule(
        "dependency-track-key",
        "Dependency-Track API key",
        r"\b(?P<secret>odt_[A-Za-z0-9]{32,40})\b",
        r"odt_",
        visible_prefix=4,
        check=_digits_and_entropy(3.5),
        examples=("odt_{A:32}",),
        negative_examples=("odt_{A:20}",),
    ),
    Rule(
        "crates-io-token",
        "crates.io token",
        r"\b(?P<secret>cio[A-Za-z0-9]{32})\b",
        r"cio[A-Za-z0-9]{32}",
        visible_prefix=3,
        check=_digits_and_entropy(3.5),
        examples=("Bearer: cio{A:32}",),
        negative_examples=("ciot",),
    ),
    Rule(
        "rubygems-key",
        "RubyGems API key",
        r"\b(?P<secret>rubygems_[a-f0-9]{48})\b",
        r"rubygems_",
        visible_prefix=9,
        examples=("curl -H 'Authorization:rubygems_{H:48}'",),
        negative_examples=("rubygems_version",),
    ),
    Rule(
        "nuget-key",
        "NuGet API key",
        r"\b(?P<secret>oy2[a-z0-9]{43})\b",
        r"oy2[a-z0-9]{43}",
        visible_prefix=3,
        check=_digits_and_entropy(3.5),
        examples=("nuget push pkg.nupkg oy2{a:43} -Source https://api.nuget.org/v3/index.json",),
        negative_examples=("oy2",),
    ),
    Rule(
        "twitch-stream-key",
        "Twitch stream key",
        r"\b(?P<secret>live_\d{6,10}_[A-Za-z0-9]{30})\b",
        r"live_\d{6}",
        visible_prefix=5,
        check=_entropy(3.5),
        examples=("STREAM_KEY=live_{D:9}_{A:30}",),
        negative_examples=("live_{D:9}_{A:25}",),
    ),
    Rule(
        "salesforce-token",
        "Salesforce access token",
        r"\b(?P<secret>00[A-Za-z0-9]{13}![A-Za-z0-9_.]{96})",
        r"00[A-Za-z0-9]{13}!",
        check=_entropy(4.0),
        examples=("Access Token      00D{A:12}!{A:96}",),
        negative_examples=("00Dxxxxxxxxxxxx!",),
    ),
    Rule(
        "django-secret-key",
        "Django secret key",
        r"(?P<secret>django-insecure-[^\s\"']{30,})",
        r"django-insecure-",
        visible_prefix=16,
        examples=("SECRET_KEY = 'django-insecure-{W:50}'",),
        negative_examples=("pip install django-insecure-settings-check",),
    ),
    Rule(
        "kubernetes-bootstrap-token",
        "Kubernetes bootstrap token",
        # BOOTSTRAP_TOKEN: ..., and kubeadm's --token, --discovery-token and
        # --tls-bootstrap-token (kubeadm join HOST --token ... prints one to copy).
        r"(?:(?i:bootstrap)[\w-]{0,10}(?i:token)[\"']?\s*[:= ]|--(?:discovery-)?token[ =])"
        r"\s*[\"']?(?P<secret>[a-z0-9]{6}\.[a-z0-9]{16})\b",
        r"(?i)bootstrap|--token|--discovery-token",
        check=lambda m: (
            shannon_entropy(m.group("secret")) >= 3.0
            and "0123456789abcdef" not in m.group("secret")
        ),
        examples=(
            'BOOTSTRAP_TOKEN: "{a:6}.{a:16}"',
            "kubeadm join 10.0.0.1:6443 --token {a:6}.{a:16} --discovery-token-ca-cert-hash sha256:{H:64}",
            "kubeadm join 10.0.0.1:6443 --discovery-token={a:6}.{a:16}",
        ),
        negative_examples=(
            "--tls-bootstrap-token abcdef.0123456789abcdef",
            "kubeadm join 10.0.0.1:6443 --token abcdef.0123456789abcdef",
            "kubeadm token create --print-join-command --ttl 2h",
            "gh auth login --token config.main_branch_name",
        ),
    ),
    Rule(
        "okta-token",
        "Okta API token",
        r"(?:(?i:okta)[\w.-]{0,30}?(?i:token|key|secret)[\w.-]*[\"']?\s*(?:[:=]|\{\s*default\s*=)\s*[\"']?|SSWS\s+)"
        r"(?P<secret>00[A-Za-z0-9_-]{40})(?![A-Za-z0-9_-])",
        r"(?i)okta|SSWS",
        multiline=True,
        check=_digits_and_entropy(3.5),
        examples=(
            "Authorization: SSWS 00{W:40}",
            "okta_api_token = 00{W:40}",
            'variable "corp_okta_api_token" {\n  default = "00{W:40}"\n}',
        ),
        negative_examples=("okta_api_token: 000000000000000000000000000000000000000000aa",),
    ),
    Rule(
        "postmark-token",
        "Postmark server token",
        r"(?P<key>(?i:postmark)[\w-]{0,30})[\"']?\s*[:=,]\s*[\"']?(?P<secret>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b",
        r"(?i)postmark",
        check=lambda m: (
            shannon_entropy(m.group("secret")) >= 3.0 and names_a_secret(m.group("key"))
        ),
        examples=(
            'postmark: "{H:8}-{H:4}-{H:4}-{H:4}-{H:12}",',
            '"X-Postmark-Server-Token": "{H:8}-{H:4}-{H:4}-{H:4}-{H:12}",',
        ),
        negative_examples=('postmark_message_id: "{H:8}-{H:4}-{H:4}-{H:4}-{H:12}"',),
    ),
    Rule(
        "mailgun-key-context",
        "Mailgun API key",
        r"(?i:mailgun)[^\n]{0,80}?\b(?P<secret>key-[0-9a-z]{32})\b",
        r"(?i)mailgun",
        check=_entropy(3.0),
        examples=("var apiKey = process.env.MAILGUN_API || 'key-{H:32}'",),
        negative_examples=('cache_key = "key-d41d8cd98f00b204e9800998ecf8427e"',),
    ),
    Rule(
        "codeclimate-token",
        "Code Climate token",
        r"(?:CODECLIMATE_REPO_TOKEN|CC_TEST_REPORTER_ID)[\"']?\s*[:=]\s*[\"']?(?P<secret>[a-f0-9]{64})\b",
        r"CODECLIMATE_REPO_TOKEN|CC_TEST_REPORTER_ID",
        examples=("CC_TEST_REPORTER_ID: {H:64}",),
        negative_examples=("CC_TEST_REPORTER_ID: ${{ secrets.CC_TEST_REPORTER_ID }}",),
    ),
    Rule(
        "truenas-key",
        "TrueNAS API key",
        r"login_with_api_key[\s\S]{0,80}?[\"'](?P<secret>\d{1,4}-[A-Za-z0-9]{64})[\"']",
        r"login_with_api_key",
        multiline=True,
        check=_entropy(4.0),
        examples=('{"method":"auth.login_with_api_key", "params":["8-{A:64}"]}',),
        negative_examples=('{"method":"auth.login_with_api_key", "params":[]}',),
    ),
    Rule(
        "thingsboard-token",
        "ThingsBoard access token",
        r"thingsboard\.cloud/api/v1/(?P<secret>[A-Za-z0-9]{20})/",
        r"thingsboard\.cloud/api/v1/",
        check=_digits_and_entropy(3.0),
        examples=("https://thingsboard.cloud/api/v1/{a:20}/telemetry",),
        negative_examples=("https://thingsboard.cloud/api/v1/$ACCESS_TOKEN/telemetry",),
    ),
    Rule(
        "particle-token",
        "Particle access token",
        r"access_token=(?P<secret>[a-f0-9]{40})\b",
        r"access_token=",
        multiline=True,
        context_before=200,
        check=lambda m: _near(m, r"(?i)particle\.io"),
        examples=("curl https://api.particle.io/v1/devices -d access_token={H:40}",),
        negative_examples=("curl https://example.org/v1/devices -d access_token=$TOKEN",),
    ),
)
