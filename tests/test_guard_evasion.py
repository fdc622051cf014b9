"""Ways a careless researcher gets a credential into a saved notebook or file past the
guard, none of them deliberate: a key in a URL's query, a password in a table's column,
HTML that shows a value its bytes hide, a widget's saved state, a zero-width space pasted
into a name, a name in another language, a shell line that pipes a password. Each is
refused through a real server's contents API (and one through the collaboration server);
the near misses beside them are saved."""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import code, markdown, notebook
from corpus import expand
from tornado.httpclient import HTTPClientError

from jupyter_qsecure.guard import Scanner
from jupyter_qsecure.guard.views import readings, shown_html, without_invisible

SCANNER = Scanner()
RNG = random.Random(20241206)
#: A password people type, a generated API key, a hex key, a GitHub token: built at run time.
PASSWORD = expand("Qv8{A:11}", RNG)
API_KEY = expand("{A:32}", RNG)
HEX_KEY = expand("{H:32}", RNG)
WANDB_KEY = expand("{H:40}", RNG)
GITHUB = expand("gh" + "p_{A:36}", RNG)
CLASSIC_TOKEN = expand("{H:40}", RNG)
NGROK = expand("2{A:26}_{A:21}", RNG)
AWS_SECRET = expand("{B:19}/{B:20}", RNG)
TELEGRAM = expand("{D:10}:{W:35}", RNG)
DISCORD = expand("{W:68}", RNG)
GCS_SIGNATURE = expand("{H:512}", RNG)
CLOUDFRONT_SIGNATURE = expand("{W:120}~{W:50}__", RNG)


@dataclass(frozen=True)
class Way:
    """A file or notebook as it would be saved (its path and contents model) and the
    credential it holds."""

    path: str
    model: dict[str, Any]
    value: str


def nb(*cells: dict[str, Any], metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "notebook", "content": notebook(*cells, metadata=metadata)}


def base64_file(content: str) -> dict[str, Any]:
    """An upload: a file's bytes, base64-encoded."""
    return {
        "type": "file",
        "format": "base64",
        "content": base64.b64encode(content.encode()).decode(),
    }


def repeated_key(document: dict[str, Any], key: str, hidden: object, *, inner: bool = False) -> str:
    """``document`` as JSON text with ``"key": hidden`` written before its own ``key``
    (in the notebook, or with ``inner`` in its first cell), so JSON readers keep the
    document's value and never show ``hidden``."""
    text = json.dumps(document)
    holder = document["cells"][0] if inner else document
    own = f"{json.dumps(key)}: {json.dumps(holder[key])}"
    assert text.count(own) == 1
    return text.replace(own, f"{json.dumps(key)}: {json.dumps(hidden)}, {own}")


def text_file(content: str) -> dict[str, Any]:
    return {"type": "file", "format": "text", "content": content}


def stream(text: str) -> dict[str, Any]:
    return {"output_type": "stream", "name": "stdout", "text": text}


def typed(text: str) -> dict[str, Any]:
    """What JupyterLab saves of a reply to ``input()``: the prompt, a space, the value."""
    return {"output_type": "stream", "name": "stdin", "text": text}


def shown(data: dict[str, Any]) -> dict[str, Any]:
    return {"output_type": "display_data", "metadata": {}, "data": data}


def result(data: dict[str, Any]) -> dict[str, Any]:
    return {"output_type": "execute_result", "execution_count": 1, "metadata": {}, "data": data}


def error(evalue: str) -> dict[str, Any]:
    return {
        "output_type": "error",
        "ename": "HTTPError",
        "evalue": evalue,
        "traceback": [f"\x1b[0;31mHTTPError\x1b[0m: {evalue}"],
    }


def highlighted(source: str) -> str:
    """What ``IPython.display.Code`` shows: the source highlighted by Pygments, as HTML."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    return str(highlight(source, PythonLexer(), HtmlFormatter()))


def users() -> Any:
    import pandas as pd

    return pd.DataFrame(
        {"user": ["alice", "bob"], "password": [PASSWORD, "Zx" + PASSWORD[2:]], "port": [5432] * 2}
    )


def services() -> Any:
    import pandas as pd

    return pd.DataFrame({"service": ["maps", "geo"], "api_key": [API_KEY, API_KEY[::-1]]})


def widget_state(model: str, **state: str) -> dict[str, Any]:
    models = {"5d0f": {"model_module": "@jupyter-widgets/controls", "model_name": model}}
    models["5d0f"]["state"] = state  # type: ignore[assignment]
    return {
        "widgets": {
            "application/vnd.jupyter.widget-state+json": {"version_major": 2, "state": models}
        }
    }


def data_uri(text: str, mime: str = "text/plain") -> str:
    return f"data:{mime};base64," + base64.b64encode(text.encode()).decode()


SIGNED_GCS = (
    "https://storage.googleapis.com/lab-runs/run42.csv?X-Goog-Algorithm=GOOG4-RSA-SHA256"
    "&X-Goog-Date=20240101T000000Z&X-Goog-Expires=900"
    f"&X-Goog-SignedHeaders=host&X-Goog-Signature={GCS_SIGNATURE}"
)
CLOUDFRONT = (
    "https://d111111abcdef8.cloudfront.net/run42.csv?Expires=1893456000"
    f"&Signature={CLOUDFRONT_SIGNATURE}&Key-Pair-Id=K{expand('{U:13}', RNG)}"
)

#: Each way in, by name: what the researcher saves.
WAYS: dict[str, Callable[[], Way]] = {
    # A key in a URL --------------------------------------------------------------------------
    "key= in a Markdown image's URL": lambda: Way(
        "maps.ipynb",
        nb(markdown(f"![site](https://maps.example.org/api/staticmap?center=0,0&key={API_KEY})")),
        API_KEY,
    ),
    "key= in a requests error's URL": lambda: Way(
        "fetch.ipynb",
        nb(
            code(
                "r.raise_for_status()",
                [
                    error(
                        "403 Client Error: Forbidden for url: "
                        f"https://api.example.org/v1/sites?format=json&key={API_KEY}"
                    )
                ],
            )
        ),
        API_KEY,
    ),
    "&amp;key= in an HTML image's src": lambda: Way(
        "map.ipynb",
        nb(
            code(
                "show_map()",
                [
                    shown(
                        {
                            "text/html": '<img src="https://maps.example.org/api/staticmap?'
                            f'size=400x400&amp;key={API_KEY}">'
                        }
                    )
                ],
            )
        ),
        API_KEY,
    ),
    "password= in a URL in code": lambda: Way(
        "login.ipynb",
        nb(code(f'requests.get("https://lab.example.org/login?user=alice&password={PASSWORD}")')),
        PASSWORD,
    ),
    "a signed Cloud Storage URL printed": lambda: Way(
        "share.ipynb", nb(code("print(url)", [stream(SIGNED_GCS + "\n")])), GCS_SIGNATURE
    ),
    "a CloudFront signed URL in Markdown": lambda: Way(
        "links.md", text_file(f"[run 42]({CLOUDFRONT})\n"), CLOUDFRONT_SIGNATURE
    ),
    "a Telegram bot token in the Bot API's URL": lambda: Way(
        "bot.ipynb",
        nb(code(f'requests.get("https://api.telegram.org/bot{TELEGRAM}/getMe")')),
        TELEGRAM,
    ),
    "a token as a URL's user (pip install git+https://<token>@...)": lambda: Way(
        "setup.ipynb",
        nb(code(f"!pip install git+https://{CLASSIC_TOKEN}@github.com/lab/private.git")),
        CLASSIC_TOKEN,
    ),
    "ngrok config add-authtoken": lambda: Way(
        "tunnel.ipynb", nb(code(f"!ngrok config add-authtoken {NGROK}")), NGROK
    ),
    "pyngrok's set_auth_token": lambda: Way(
        "tunnel2.ipynb", nb(code(f'ngrok.set_auth_token("{NGROK}")')), NGROK
    ),
    "aws configure get aws_secret_access_key": lambda: Way(
        "aws.ipynb",
        nb(code("!aws configure get aws_secret_access_key", [stream(AWS_SECRET + "\n")])),
        AWS_SECRET,
    ),
    "a Discord webhook URL": lambda: Way(
        "notify.py",
        text_file(
            "requests.post('https://discord.com/api/webhooks/"
            f"{expand('{D:19}', RNG)}/{DISCORD}', json={{'content': 'done'}})\n"
        ),
        DISCORD,
    ),
    "a .env offered as a data: URI download link": lambda: Way(
        "export.ipynb",
        nb(
            code(
                "download_link(open('.env').read())",
                [
                    shown(
                        {
                            "text/html": '<a download=".env" href="'
                            + data_uri(f"DB_HOST=db\nDB_PASSWORD={PASSWORD}\n")
                            + '">Download .env</a>'
                        }
                    )
                ],
            )
        ),
        PASSWORD,
    ),
    "a token in a Markdown link's data: URI": lambda: Way(
        "notes.ipynb", nb(markdown(f"[token]({data_uri('GH_TOKEN=' + GITHUB)})")), GITHUB
    ),
    # HTML that shows what its bytes hide ----------------------------------------------------
    "HTML-escaped quotes in a <pre>": lambda: Way(
        "cfg.ipynb",
        nb(
            code("show(cfg)", [shown({"text/html": f"<pre>api_key = &quot;{API_KEY}&quot;</pre>"})])
        ),
        API_KEY,
    ),
    "code highlighted by Pygments (IPython.display.Code)": lambda: Way(
        "settings.ipynb",
        nb(
            code(
                "Code('settings.py')",
                [shown({"text/html": highlighted(f'DB_PASSWORD = "{PASSWORD}"\nDEBUG = True\n')})],
            )
        ),
        PASSWORD,
    ),
    "<b>Password</b>: <code>...</code>": lambda: Way(
        "setup.ipynb",
        nb(code("show()", [shown({"text/html": f"<b>Password</b>: <code>{PASSWORD}</code>"})])),
        PASSWORD,
    ),
    "an HTML file with escaped quotes": lambda: Way(
        "report.html",
        text_file(f"<html><body><pre>token = &#x27;{API_KEY}&#x27;</pre></body></html>\n"),
        API_KEY,
    ),
    # Markdown --------------------------------------------------------------------------------
    "**Password:** in a Markdown cell": lambda: Way(
        "readme.ipynb", nb(markdown(f"Lab database\n\n**Password:** {PASSWORD}\n")), PASSWORD
    ),
    "**API key**: `...` as a Markdown output": lambda: Way(
        "keys.ipynb",
        nb(code("show()", [shown({"text/markdown": f"**API key**: `{API_KEY}`"})])),
        API_KEY,
    ),
    # A widget's saved state -----------------------------------------------------------------
    "an ipywidgets Password's value in the saved widget state": lambda: Way(
        "widgets.ipynb",
        nb(
            code("pw = widgets.Password(description='Password:')"),
            metadata=widget_state("PasswordModel", description="Password:", value=PASSWORD),
        ),
        PASSWORD,
    ),
    "a Text widget labelled Password": lambda: Way(
        "form.ipynb",
        nb(
            code("pw = widgets.Text(description='Password:')"),
            metadata=widget_state("TextModel", description="Password:", value=PASSWORD),
        ),
        PASSWORD,
    ),
    "a password typed into input()": lambda: Way(
        "login.ipynb",
        nb(code('pw = input("Password: ")', [typed("Password:  sunshine\n")])),
        "sunshine",
    ),
    "a password typed after a prompt in Dutch": lambda: Way(
        "inloggen.ipynb",
        nb(code('pw = input("Wachtwoord: ")', [typed("Wachtwoord:  zonneschijn\n")])),
        "zonneschijn",
    ),
    "an API key typed into input() without a colon": lambda: Way(
        "key.ipynb",
        nb(code('key = input("Enter your API key")', [typed(f"Enter your API key {API_KEY}\n")])),
        API_KEY,
    ),
    # A table's column ------------------------------------------------------------------------
    "an IAM user's credentials.csv": lambda: Way(
        "credentials.csv",
        text_file(
            "User name,Password,Console login link\r\n"
            f"alice,{PASSWORD},https://lab.signin.aws.amazon.com/console\r\n"
        ),
        PASSWORD,
    ),
    "a Markdown table with a password column": lambda: Way(
        "accounts.ipynb",
        nb(markdown(f"| user | password |\n|------|----------|\n| alice | {PASSWORD} |\n")),
        PASSWORD,
    ),
    "df.head() as pandas writes it in HTML": lambda: Way(
        "users.ipynb",
        nb(code("users.head()", [result({"text/html": users().to_html()})])),
        PASSWORD,
    ),
    "print(df) with an api_key column": lambda: Way(
        "services.ipynb",
        nb(code("print(services)", [stream(services().to_string() + "\n")])),
        API_KEY,
    ),
    "df.iloc[0] (a Series)": lambda: Way(
        "row.ipynb",
        nb(code("users.iloc[0]", [result({"text/plain": repr(users().iloc[0])})])),
        PASSWORD,
    ),
    # Invisible characters, other scripts ----------------------------------------------------
    "a zero-width space inside 'password' in code": lambda: Way(
        "zws.ipynb", nb(code(f'pass\u200bword = "{PASSWORD}"')), PASSWORD
    ),
    "a soft hyphen inside 'Password' in Markdown": lambda: Way(
        "shy.ipynb", nb(markdown(f"Pass\u00adword: {PASSWORD}")), PASSWORD
    ),
    "a full-width colon after Password": lambda: Way(
        "fw.ipynb", nb(markdown(f"Password\uff1a{PASSWORD}")), PASSWORD
    ),
    "Passwort: (German)": lambda: Way("de.ipynb", nb(markdown(f"Passwort: {PASSWORD}")), PASSWORD),
    "contraseña = (Spanish, in code)": lambda: Way(
        "es.ipynb", nb(code(f'contraseña = "{PASSWORD}"')), PASSWORD
    ),
    "mot de passe : (French)": lambda: Way(
        "fr.ipynb", nb(markdown(f"mot de passe : {PASSWORD}")), PASSWORD
    ),
    "senha= (Portuguese, a .env)": lambda: Way(
        "pt.env", text_file(f"DB_SENHA={PASSWORD}\n"), PASSWORD
    ),
    "пароль: (Russian)": lambda: Way("ru.ipynb", nb(markdown(f"пароль: {PASSWORD}")), PASSWORD),
    "パスワード： (Japanese)": lambda: Way(
        "ja.ipynb", nb(markdown(f"パスワード\uff1a{PASSWORD}")), PASSWORD
    ),
    "密码： (Chinese)": lambda: Way("zh.ipynb", nb(markdown(f"密码\uff1a{PASSWORD}")), PASSWORD),
    # Shell lines and calls ------------------------------------------------------------------
    "docker login -p": lambda: Way(
        "registry.ipynb",
        nb(code(f"!docker login -u lab -p {PASSWORD} registry.lab.example.org")),
        PASSWORD,
    ),
    "echo ... | sudo -S": lambda: Way(
        "install.ipynb", nb(code(f"!echo {PASSWORD} | sudo -S apt-get install -y htop")), PASSWORD
    ),
    "echo ... | docker login --password-stdin": lambda: Way(
        "push.sh",
        text_file(f"echo '{PASSWORD}' | docker login -u lab --password-stdin ghcr.io\n"),
        PASSWORD,
    ),
    "smbclient -U user%password": lambda: Way(
        "fetch.ipynb",
        nb(code(f"!smbclient //files.lab/share -U alice%{PASSWORD} -c 'ls'")),
        PASSWORD,
    ),
    "wandb login <key>": lambda: Way(
        "train.ipynb", nb(code(f"!wandb login {WANDB_KEY}")), WANDB_KEY
    ),
    "wandb.login(key=...)": lambda: Way(
        "train2.ipynb", nb(code(f'import wandb\nwandb.login(key="{WANDB_KEY}")')), WANDB_KEY
    ),
    "kaggle.json written from a cell": lambda: Way(
        "kaggle.ipynb",
        nb(
            code(
                "!mkdir -p ~/.kaggle\n"
                f'!echo \'{{"username":"alice","key":"{HEX_KEY}"}}\' > ~/.kaggle/kaggle.json'
            )
        ),
        HEX_KEY,
    ),
    "keyring.set_password(..., '...')": lambda: Way(
        "store.ipynb", nb(code(f'keyring.set_password("lab-db", "alice", "{PASSWORD}")')), PASSWORD
    ),
    "auth=(user, '...')": lambda: Way(
        "api.ipynb", nb(code(f'r = requests.get(url, auth=("alice", "{PASSWORD}"))')), PASSWORD
    ),
    "HTTPBasicAuth(user, '...')": lambda: Way(
        "api2.py", text_file(f'auth = HTTPBasicAuth("alice", "{PASSWORD}")\n'), PASSWORD
    ),
    "smtp.login(user, '...')": lambda: Way(
        "mail.ipynb",
        nb(
            code(
                f'server = smtplib.SMTP_SSL("smtp.lab.org")\nserver.login("alice@lab.org", "{PASSWORD}")'
            )
        ),
        PASSWORD,
    ),
    "docker login -p as subprocess.run's argument list": lambda: Way(
        "push.ipynb",
        nb(
            code(f'subprocess.run(["docker", "login", "-u", "lab", "-p", "{PASSWORD}", "ghcr.io"])')
        ),
        PASSWORD,
    ),
    "curl -u user:... as an argument list, and its CompletedProcess": lambda: Way(
        "curl.ipynb",
        nb(
            code(
                f'subprocess.run(["curl", "-u", "alice:{PASSWORD}", url])',
                [
                    result(
                        {
                            "text/plain": f"CompletedProcess(args=['curl', '-u', 'alice:{PASSWORD}', 'https://lab.example.org'], returncode=0)"
                        }
                    )
                ],
            )
        ),
        PASSWORD,
    ),
    "an API client's key=": lambda: Way(
        "geo.ipynb", nb(code(f"client = openrouteservice.Client(key='{API_KEY}')")), API_KEY
    ),
    "'Your API key is ...' printed": lambda: Way(
        "signup.ipynb", nb(code("register()", [stream(f"Your API key is {API_KEY}\n")])), API_KEY
    ),
    # JSON readers keep the last of repeated keys: the notebook shows none of the first,
    # yet the file (and git) holds it. A merge tool or a hand edit leaves such files.
    "a notebook file whose first 'cells' key a second one hides": lambda: Way(
        "merged.ipynb",
        text_file(repeated_key(notebook(code("x = 1")), "cells", [code(f"token = '{GITHUB}'")])),
        GITHUB,
    ),
    "a cell's first 'source' hidden by a second": lambda: Way(
        "merged2.ipynb",
        text_file(
            repeated_key(notebook(code("x = 1")), "source", f'password = "{PASSWORD}"', inner=True)
        ),
        PASSWORD,
    ),
    "an uploaded notebook whose first 'metadata' a second one hides": lambda: Way(
        "uploaded.ipynb",
        base64_file(repeated_key(notebook(code("x = 1")), "metadata", {"api_key": API_KEY})),
        API_KEY,
    ),
}

#: Near misses: as close to a way in as everyday work gets, holding no credential.
NEAR_MISSES: dict[str, Callable[[], tuple[str, dict[str, Any]]]] = {
    "key= naming an object": lambda: (
        "list.ipynb",
        nb(
            markdown(
                "[runs](https://bucket.example.org/list?prefix=runs&key=runs/2024/Run42-final.csv)"
            )
        ),
    ),
    "password= then a variable": lambda: (
        "login.ipynb",
        nb(
            code(
                'requests.get("https://lab.example.org/login?user=alice&password=" + pw)\n'
                'requests.get(f"https://lab.example.org/login?user={user}&pass={pw}")'
            )
        ),
    ),
    "a Sentry DSN, a named user in a clone URL": lambda: (
        "sentry.ipynb",
        nb(
            code(
                f'sentry_sdk.init("https://{HEX_KEY}@o4504.ingest.sentry.io/4504")\n'
                "!git clone https://analysis-pipeline-readonly@git.lab.example.org/lab/repo.git"
            )
        ),
    ),
    "Signature= of an API's docs": lambda: (
        "api.md",
        text_file(
            "Call https://lab.example.org/verify?Signature=HMAC-SHA256-of-the-body-goes-here\n"
        ),
    ),
    "keyring.set_password(..., getpass())": lambda: (
        "store.ipynb",
        nb(code('keyring.set_password("lab-db", "alice", getpass.getpass())')),
    ),
    "auth=(user, os.environ[...])": lambda: (
        "api.ipynb",
        nb(code('r = requests.get(url, auth=("alice", os.environ["LAB_PW"]))')),
    ),
    "a masked password column": lambda: (
        "users.ipynb",
        nb(markdown("| user | password |\n|---|---|\n| alice | ******** |\n| bob | <hidden> |")),
    ),
    "a password policy table": lambda: (
        "policy.csv",
        text_file("setting,password\nrequired,yes\nminimum length,12\n"),
    ),
    "an NLP token table": lambda: (
        "tokens.ipynb",
        nb(
            code(
                "print(df)",
                [stream("  token  count\n0   the   1204\n1  Axc81LmQp  3\n")],
            )
        ),
    ),
    "a DataFrame of masked secrets": lambda: (
        "masked.ipynb",
        nb(
            code(
                "df",
                [
                    result(
                        {"text/plain": "    user  password\n0  alice  ********\n1    bob  ********"}
                    )
                ],
            )
        ),
    ),
    "highlighted code reading the environment": lambda: (
        "settings.ipynb",
        nb(
            code(
                "Code('settings.py')",
                [shown({"text/html": highlighted('DB_PASSWORD = os.environ["DB_PASSWORD"]\n')})],
            )
        ),
    ),
    "<b>Password</b>: a placeholder": lambda: (
        "setup.ipynb",
        nb(
            code(
                "show()",
                [shown({"text/html": "<b>Password</b>: <code>&lt;your password&gt;</code>"})],
            )
        ),
    ),
    "**Password:** a mask": lambda: ("readme.ipynb", nb(markdown("**Password:** ********"))),
    "Passwort: a placeholder": lambda: ("de.ipynb", nb(markdown("Passwort: <Ihr Passwort>"))),
    "echo $VAR | sudo -S": lambda: (
        "install.ipynb",
        nb(code('!echo "$SUDO_PASS" | sudo -S apt-get install -y htop')),
    ),
    "sorted(key=...) and a digest as key=": lambda: (
        "sort.ipynb",
        nb(
            code(
                "rows = sorted(rows, key='creation_time_in_seconds')\n"
                "cache.get(key='d41d8cd98f00b204e9800998ecf8427e')"
            )
        ),
    ),
    "docker login --password-stdin as an argument list": lambda: (
        "push.ipynb",
        nb(code('subprocess.run(["docker", "login", "-u", "lab", "--password-stdin"], input=pw)')),
    ),
    "getpass's dots, a yes or no after a password question": lambda: (
        "prompts.ipynb",
        nb(
            code(
                'pw = getpass("Password: ")\nagain = input("Reset the password? [y/n] ")',
                [typed("Password:  ········\n"), typed("Reset the password? [y/n]  y\n")],
            )
        ),
    ),
    "a password prompt, then more code on its line": lambda: (
        "prompt.ipynb",
        nb(code('pw = input("Password: ") or input("Again: ")')),
    ),
    "docker login -p $VAR": lambda: (
        "registry.ipynb",
        nb(code("!docker login -u lab -p $REGISTRY_PASSWORD registry.lab.org")),
    ),
    "Your API key is invalid.": lambda: (
        "signup.ipynb",
        nb(code("register()", [stream("Your API key is invalid.\n")])),
    ),
    "a zero-width space in prose": lambda: (
        "prose.ipynb",
        nb(markdown("The pass\u200bword reset link expires in one hour.")),
    ),
    "a data: URI image": lambda: (
        "figure.ipynb",
        nb(
            markdown(
                "![dot](data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==)"
            )
        ),
    ),
    "a notebook file with a repeated key hiding nothing secret": lambda: (
        "merged-clean.ipynb",
        text_file(repeated_key(notebook(code("x = 1")), "metadata", {"tags": ["draft"]})),
    ),
    "a data: URI of harmless text": lambda: (
        "notes.ipynb",
        nb(markdown(f"[notes]({data_uri('run 42: converged after 17 steps')})")),
    ),
    "an empty Password widget, a Text widget for a name": lambda: (
        "widgets.ipynb",
        nb(
            code("w"),
            metadata={
                "widgets": {
                    "application/vnd.jupyter.widget-state+json": {
                        "version_major": 2,
                        "state": {
                            "a": {
                                "model_name": "PasswordModel",
                                "state": {"value": "", "description": "Password:"},
                            },
                            "b": {
                                "model_name": "TextModel",
                                "state": {"value": "Ada Lovelace", "description": "Name"},
                            },
                        },
                    }
                }
            },
        ),
    ),
}


# In process: each way in, as the scanner sees it ------------------------------------------------


@pytest.mark.parametrize("name", list(WAYS))
def test_a_way_in_is_found(name: str) -> None:
    way = WAYS[name]()
    result = SCANNER.scan_model(way.model, path=Path(way.path))
    assert result.findings, name
    assert all(way.value not in finding.preview for finding in result.findings)


@pytest.mark.parametrize("name", list(NEAR_MISSES))
def test_a_near_miss_is_left_alone(name: str) -> None:
    path, model = NEAR_MISSES[name]()
    assert SCANNER.scan_model(model, path=Path(path)).findings == [], name


# Through a real server ----------------------------------------------------------------------------


async def put(jp_fetch: Any, path: str, model: dict[str, Any]) -> Any:
    return await jp_fetch("api", "contents", path, method="PUT", body=json.dumps(model))


async def test_every_way_in_is_refused_by_the_server(jp_fetch: Any, jp_root_dir: Path) -> None:
    saved = []
    for name, build in WAYS.items():
        way = build()
        refusal: HTTPClientError | None = None
        try:
            await put(jp_fetch, way.path, way.model)
        except HTTPClientError as caught:
            refusal = caught
        if refusal is None:
            saved.append(name)
            (jp_root_dir / way.path).unlink()
            continue
        assert refusal.code == 422, (name, refusal.code)
        assert refusal.response is not None
        body = refusal.response.body.decode()
        assert json.loads(body)["reason"] == "qsecure-leak"
        assert way.value not in body, name
        assert not (jp_root_dir / way.path).exists(), name
    assert saved == []


async def test_every_near_miss_is_saved_by_the_server(jp_fetch: Any, jp_root_dir: Path) -> None:
    refused = []
    for name, build in NEAR_MISSES.items():
        path, model = build()
        try:
            await put(jp_fetch, path, model)
        except HTTPClientError as refusal:
            refused.append((name, refusal.code))
        else:
            assert (jp_root_dir / path).exists()
            (jp_root_dir / path).unlink()
    assert refused == []


async def test_a_refusal_locates_what_a_reading_found(jp_fetch: Any) -> None:
    source = f'import os\n\nDB_PASSWORD = "{PASSWORD}"\n'
    model = nb(code("Code('settings.py')", [shown({"text/html": highlighted(source)})]))
    with pytest.raises(HTTPClientError) as caught:
        await put(jp_fetch, "where.ipynb", model)
    assert caught.value.response is not None
    [finding] = json.loads(caught.value.response.body)["findings"]
    assert (finding["cell_index"], finding["line"]) == (0, 3)
    assert finding["field"] == "outputs[0].text/html"


# The readings ------------------------------------------------------------------------------------


def test_readings_keep_the_lines_and_leave_plain_text_alone() -> None:
    assert readings("password = hunter2\nno markup here") == []
    shown_text = shown_html('<div>\n<b>Password</b>:\n<span\nclass="s">&quot;x&quot;</span></div>')
    assert shown_text.count("\n") == 3
    assert shown_text.split("\n")[1] == "Password:"
    assert without_invisible("pass\u200bw\u00adord\u2060") == "password"


def test_a_value_the_text_shows_as_it_is_is_reported_once() -> None:
    # The token is found in the HTML itself and again in what it shows: one finding.
    html_text = f"<pre><b>token</b> = &quot;{GITHUB}&quot;</pre>"
    result = SCANNER.scan_notebook(notebook(code("x", [shown({"text/html": html_text})])))
    assert [f.rule for f in result.findings] == ["github-token"]


# Through the collaboration server -----------------------------------------------------------------


@pytest.mark.slow
class TestCollaboration:
    """The collaboration server's saves go through the same scan: a way in typed by a
    collaborator is refused, the collaborator is told, the file keeps its last version."""

    @pytest.fixture
    def jp_server_config(self, jp_server_config: Any) -> Any:
        """The suite's server, with jupyter-collaboration on and a short autosave delay;
        file ids in memory (their default place is read once, at import)."""
        pytest.importorskip("jupyter_server_ydoc")
        from traitlets.config import Config

        config = Config(jp_server_config)
        config.ServerApp.jpserver_extensions = {
            **jp_server_config.ServerApp.jpserver_extensions,
            "jupyter_server_ydoc": True,
            "jupyter_server_fileid": True,
        }
        config.YDocExtension.document_save_delay = 0.2
        config.YDocExtension.file_poll_interval = 0.2
        config.YDocExtension.document_cleanup_delay = 0.5
        config.BaseFileIdManager.db_path = ":memory:"
        return config

    async def test_a_way_in_typed_by_a_collaborator_is_refused(
        self, jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path
    ) -> None:
        import nbformat
        from jupyter_ydoc import YNotebook
        from pycrdt import Provider
        from test_collaboration import AwareChannel, open_room, until

        cells = [nbformat.v4.new_code_cell("import keyring")]
        (jp_root_dir / "shared.ipynb").write_text(
            nbformat.writes(nbformat.v4.new_notebook(cells=cells)), encoding="utf-8"
        )
        good = (jp_root_dir / "shared.ipynb").read_bytes()
        doc = YNotebook()
        websocket, room = await open_room(jp_fetch, jp_serverapp, "shared.ipynb")
        channel = AwareChannel(websocket, room, doc.ydoc)
        try:
            async with Provider(doc.ydoc, channel):
                await until(lambda: doc.ycells.to_py())
                source = doc.ycells[0]["source"]
                source += f'\npass\u200bword = "{PASSWORD}"'
                [notice] = await until(channel.notices)
                assert "Password in cell 1, line 2" in notice["message"]
                assert PASSWORD not in json.dumps(notice)
                assert (jp_root_dir / "shared.ipynb").read_bytes() == good
        finally:
            websocket.close()
