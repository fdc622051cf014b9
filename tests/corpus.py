"""Our labelled corpus: credentials the guard must find, and text it must leave alone.

Positives are templates expanded with a seeded random generator at import, so the
repository never holds anything that looks like a live credential (and our own scanner,
GitHub push protection and detect-secrets stay quiet on it). ``{A:36}`` means 36 random
alphanumerics; ``{H:32}`` hex; ``{L:34}`` letters; ``{U:20}`` upper case and digits;
``{B:86}`` base64 characters; ``{D:9}`` digits; ``{W:20}`` base64url characters.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from jupyter_qsecure.guard.rule import expand


@dataclass(frozen=True)
class Sample:
    """One labelled line: the rule that must find it (None for a negative) and the text."""

    rule: str | None
    text: str


# The kind (by rule id) and a line of notebook code or output that holds it.
_POSITIVE_TEMPLATES: list[tuple[str, str]] = [
    ("github-token", 'token = "gh' + 'p_{A:36}"'),
    ("github-token", "git clone https://x-access-token:gh" + "s_{A:36}@github.com/lab/repo"),
    ("github-fine-grained-token", "GITHUB_TOKEN = 'github" + "_pat_{A:22}_{A:59}'"),
    ("gitlab-token", 'headers = {"PRIVATE-TOKEN": "gl' + 'pat-{W:20}"}'),
    ("openai-key", 'client = OpenAI(api_key="sk-' + "proj-{W:40}T3Blbk" + 'FJ{W:40}")'),
    ("openai-key", "openai.api_key = 'sk-{A:20}T3Blbk" + "FJ{A:20}'"),
    ("anthropic-key", 'anthropic.Anthropic(api_key="sk-' + 'ant-api03-{W:93}AA")'),
    ("huggingface-token", 'login(token="h' + 'f_{L:34}")'),
    ("google-api-key", 'genai.configure(api_key="AI' + 'za{W:35}")'),
    ("sendgrid-key", "sg = SendGridAPIClient('S" + "G.{W:22}.{W:43}')"),
    ("npm-token", "//registry.npmjs.org/:_authToken=np" + "m_{A:36}"),
    ("twilio-key", 'client = Client("S' + 'K{H:32}", secret)'),
    ("twilio-account", 'account_sid = "A' + 'C{H:32}"'),
    (
        "azure-storage-key",
        'conn = "DefaultEndpointsProtocol=https;AccountName=labdata;AccountKey={B:86}==;EndpointSuffix=core.windows.net"',
    ),
    (
        "database-url",
        'engine = create_engine("postgresql+psycopg2://alice:{A:16}@db.lab.example.org:5432/runs")',
    ),
    ("database-url", "MONGO = 'mongodb+srv://analyst:{A:14}@cluster0.abcde.mongodb.net/test'"),
    ("database-url", "r = redis.from_url('redis://default:{A:24}@cache:6379/0')"),
    (
        "jwt",
        "Authorization: Bearer ey"
        + "JhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkFkYSIsImlhdCI6MTUxNjIzOTAyMn0.{W:43}",
    ),
    (
        "private-key",
        "-----BEGIN RSA PRIV" + "ATE KEY-----\nMIIEow{B:58}\n{B:64}\n-----END RSA PRIVATE KEY-----",
    ),
    (
        "private-key",
        "-----BEGIN OPENSSH PRIV"
        + "ATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA{B:46}\n-----END OPENSSH PRIVATE KEY-----",
    ),
    (
        "private-key",
        '"private_key": "-----BEGIN PRIV'
        + 'ATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC{B:40}\\n-----END PRIVATE KEY-----\\n"',
    ),
    ("password-assignment", 'password = "Tr0ub4dor&{A:3}"'),
    ("password-assignment", 'conn = psycopg2.connect(host="db", user="alice", password="{A:12}")'),
    ("password-assignment", 'os.environ["DB_PASSWORD"] = "{A:10}"'),
    ("password-assignment", 'config = {"smtp_password": "{A:14}"}'),
    ("aws-access-key-id", 'aws_access_key_id = "AK' + 'IA{U:16}"'),
    ("aws-secret-key", 'aws_secret_access_key = "{B:40}"'),
    ("slack-token", 'slack = WebClient(token="xo' + 'xb-{D:12}-{D:13}-{A:24}")'),
    ("stripe-key", "stripe.api_key = 'sk_" + "live_{A:24}'"),
    (
        "ibm-quantum-token",
        'QiskitRuntimeService.save_account(channel="ibm_quantum", token="{H:128}", overwrite=True)',
    ),
    (
        "ibm-quantum-token",
        'service = QiskitRuntimeService(channel="ibm_cloud", token="{W:44}", instance="crn:v1:bluemix:public:quantum-computing:us-east:a/1:2::")',
    ),
    ("ibm-quantum-token", 'IBMQ.save_account("{H:128}")'),
    ("ibm-quantum-token-env", "%env QISKIT_IBM_TOKEN={H:128}"),
    ("ionq-key", 'provider = IonQProvider("{A:32}")'),
    (
        "azure-quantum-key",
        'workspace = Workspace.from_connection_string("SubscriptionId=0f1e2d3c-4b5a-6978-8899-aabbccddeeff;ResourceGroupName=lab;WorkspaceName=qws;ApiKey={W:48};QuantumEndpoint=https://eastus.quantum.azure.com/;")',
    ),
    ("quantinuum-credential", 'QUANTINUUM_PASSWORD = "{A:14}"'),
    ("keyword-secret", 'client_secret = "{W:32}"'),
    ("keyword-secret", '"api_key": "{A:40}"'),
    ("url-credentials", "ftp://labuser:{A:12}@files.lab.example.org/pub"),
    (
        "slack-webhook",
        "requests.post('https://hooks.slack.com/services/T{U:8}/B{U:8}/{A:24}', json=msg)",
    ),
    ("pypi-token", "TWINE_PASSWORD=pyp" + "i-AgEIcHlwaS5vcmc{W:60}"),
    # Provider formats without a distinctive prefix, found by a provider keyword nearby.
    ("provider-token", '"heroku_secret": "{H:8}-{H:4}-{H:4}-{H:4}-{H:12}"'),
    ("provider-token", "GITLAB_TOKEN={A:20}"),
    ("provider-token", "%env NPM_TOKEN={H:8}-{H:4}-{H:4}-{H:4}-{H:12}"),
    ("atlassian-token", 'JIRA_TOKEN = "AT' + "ATT3xFf" + 'G{W:180}={A:8}"'),
    ("atlassian-token-context", "# token for the JIRA API: AT" + "ATT{A:40}={A:8}"),
    (
        "atlassian-legacy-token",
        'jira = JIRA(server="https://lab.atlassian.net")\napi_key = "{A:24}"',
    ),
    ("azure-storage-key", 'storage_account_key = (\n    "{B:86}=="\n)'),
    ("azure-storage-key", "<account_key>{B:86}==</account_key>"),
    ("mailgun-key", 'MAILGUN_API_KEY = "{H:32}-{H:8}-{H:8}"'),
    ("mailgun-key", 'requests.post(url, auth=("api", "ke' + 'y-{a:32}"))'),
    ("square-token", 'SQUARE_ACCESS_TOKEN = "EA' + 'AA{W:30}={W:29}"'),
    ("sendgrid-key", "SENDGRID = 'S" + "G.{W:21}.{W:49}'"),
    ("telegram-bot-token", 'bot = telegram.Bot(token="{D:10}:{W:35}")'),
    ("cloudflare-token", 'CLOUDFLARE_API_TOKEN = "cf' + 'ut_{A:40}{H:8}"'),
    ("cloudflare-token", "X-Auth-Key: cf" + "k_{A:40}{H:8}"),
    ("aws-appsync-key", 'const key = "da' + '2-{a:26}";'),
    ("keyword-secret", 'bot_secret = "o{A:23}.{A:6}.{A:27}"'),
    (
        "private-key",
        r'{"credentials": "{\n  \"private_key\": \"-----BEGIN PRIV'
        + r'ATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC{B:40}\\n-----END PRIVATE KEY-----\\n\"}"}',
    ),
    # In URLs and connection strings a weak password is still a working login.
    ("database-url", "MONGO_URI = 'mongodb://analyst:password@db.lab.internal:27017/runs'"),
    ("jdbc-password", "jdbc:sqlserver://db.lab:1433;database=runs;user=sa;password={A:12}"),
    ("url-credentials", '<a href="http://admin:secret@10.0.0.7/status">status</a>'),
    # Providers with a distinctive prefix or shape, and the syntax layer.
    ("azure-entra-client-secret", "client_secret = '{A:3}8Q~{A:10}.{A:4}-{A:17}'"),
    ("vault-token", 'VAULT_TOKEN = "hv' + 's.{A:24}"'),
    ("google-oauth-client-secret", '"client_secret": "GOC' + 'SPX-{W:28}"'),
    ("openai-project-key", 'OPENAI_API_KEY = "sk-' + 'proj-{A:64}"'),
    ("connection-string-password", 'conn = "Server=db;Database=lab;User Id=lab;Password={A:12};"'),
    ("xml-credential", "<password>{A:12}</password>"),
    ("sql-password", "cur.execute(\"CREATE USER lab IDENTIFIED BY '{A:12}'\")"),
    ("command-line-user-password", "!curl -u lab:{A:12} https://ci.example.org/api"),
    ("ibm-quantum-token-context", "Your IBM Quantum API key: {H:128}"),
    (
        "private-key-base64",
        "PRIVATE_KEY_B64 = 'LS0tLS1CRUdJTi" + "BSU0EgUFJJVkFURSBLRVktLS0tLQpNSUlF{B:120}'",
    ),
]

POSITIVES: list[Sample] = [
    Sample(rule, expand(template, random.Random(f"{index}:{template}")))
    for index, (rule, template) in enumerate(_POSITIVE_TEMPLATES)
]

# Each line must produce no finding, in a notebook cell or output.
NEGATIVES: list[Sample] = [
    Sample(None, text)
    for text in [
        # hashes and identifiers
        'sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"',
        "commit 4b825dc642cb6eb9a060e54bf8d69288fbee4904",
        'expected_sha1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"',
        'digest = hashlib.md5(b"x").hexdigest()  # 9e107d9d372bb6826bd81d3542a419d6',
        'run_id = "123e4567-e89b-12d3-a456-426614174000"',
        '{"id": "a9c2f4d0-5b1e-4c3f-9e2d-7f8a6b5c4d3e", "cell_type": "code"}',
        "job = backend.run(qc)  # job id: d1k3l8tq4t2s73a0fcbg",
        "  export const manageSecrets = 'qsecure:manage-secrets';",
        # placeholders and references
        'api_key = "YOUR_API_KEY"',
        'token = "xxxxxxxxxxxxxxxxxxxxxxxxxxxx"',
        'password = "<password>"',
        "password = os.environ['DB_PASSWORD']",
        'token = os.getenv("QISKIT_IBM_TOKEN")',
        "password = getpass.getpass('Password: ')",
        'secret = "${SECRET_VALUE}"',
        "url = 'postgresql://{user}:{password}@{host}/db'",
        'QiskitRuntimeService.save_account(channel="ibm_quantum", token="<IBM Quantum API token>")',
        'service = QiskitRuntimeService(channel="ibm_quantum", token=os.environ["IBM_QUANTUM_TOKEN"])',
        "export API_TOKEN=$API_TOKEN",
        'client = OpenAI(api_key="sk-...")',
        'GITHUB_TOKEN = "ghp_your_token_here"',
        "password: ********",
        # quantum content
        'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\nh q[0];\ncx q[0],q[1];\nmeasure q -> c;',
        "{'00': 507, '11': 517}",
        "Counts: {'0000': 251, '0101': 249, '1010': 262, '1111': 262}",
        "backend = AerSimulator()\ntranspiled = transpile(qc, backend, optimization_level=3, seed_transpiler=1234)",
        "tokenizer = AutoTokenizer.from_pretrained('bert-base-uncased')",
        'token_count = len(tokens)\nmax_tokens = 4096\napi_key_env = "OPENAI_API_KEY"',
        # numbers and tables
        "   energy    fidelity\n0  -1.137283  0.998712\n1  -1.136189  0.997654\n2  -1.101163  0.995112",
        "array([[0.70710678+0.j, 0.        +0.j],\n       [0.        +0.j, 0.70710678+0.j]])",
        "Elapsed: 12.3456789s; shots=8192; depth=37",
        # code that mentions keywords without values
        "def login(username: str, password: str) -> Session:",
        "if not password:\n    raise ValueError('password required')",
        'parser.add_argument("--token", help="API token (default: $GITHUB_TOKEN)")',
        'secret_name = "ibm-quantum"',
        'SECRET_INJECTED = f"{SCHEMA_BASE}/secret-injected/v1"',
        'token = f"lab-{secrets.token_hex(16)}"',
        "keyring.get_password('qsecure', 'ibm-quantum')",
        "Bearer authentication is described in RFC 6750",
        "https://docs.python.org/3/library/secrets.html",
        "pip install qiskit==1.2.4 qiskit-aer==0.15.1",
        '<img src="data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==">',
        # template placeholders in URLs and connection strings
        "mongodb+srv://<user>:<password>@cluster0.example.mongodb.net/test",
        "mongodb://xxxx:xxxxx@xxxxxxx:3717/zkquant?replicaSet=mgset-3017917",
        "engine = create_engine('postgresql://lab:${DB_PASS}@db:5432/runs')",
        "jdbc:sqlserver://db:1433;user=sa;password=<your password>",
        "conn = 'Server=db;Database=runs;User Id=sa;Password=****;'",
        "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
        'help="A proxy in the form scheme://[user:passwd@]proxy.server:port."',
        # typed sequences and hashes in credential-shaped places
        'key = "da2-abcdefghijklmnopqrstuvwxyz"',
        "CLOUDFLARE_API_KEY=abcdef1234567890abcdef1234567890abcdef0",
        'cache_key = "key-d41d8cd98f00b204e9800998ecf8427e"',
        '"jira": {"key": "QS-12", "accountId": "5b10ac8d82e05b22cc7d4ef5"}',
        # provider keywords beside identifiers, references and plain UUIDs
        "GITLAB_TOKEN = gitlab_token_from_vault_2",
        "heroku_api_key = settings.heroku.api_key",
        "token = config.secrets.ibm_quantum_token",
        '"heroku_app_id": "01234567-89ab-4cde-8f01-23456789abcd"',
        "storage_account_key = os.environ['AZURE_STORAGE_KEY']",
        "npm install --save-dev @jupyterlab/builder  # npm token not needed",
        # what other scanners flag: placeholders, labels, routes, example keys, ARNs
        'SLACK_TOKEN = "xoxb-abcdef-abcdef"',
        "this.addPassword = '#add-password';",
        'usernameLabel:"Username or email:",passwordLabel:"Password:"',
        'author: "ada.lovelace@example.org"',
        'credentialId = "b7Qz9XfP2kLm4RtY8vWc"',
        'aws_access_key_id = "AKIAIOSFODNN7EXAMPLE"',
        'aws_secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"',
        'IAMUserChangePassword = "arn:aws:iam::aws:policy/IAMUserChangePassword"',
        "Reset your password: click the link below",
        "auth_mount = 'k8s-prod'",
    ]
]
