"""The syntax layer: a secret-looking value bound to a credential-like name, in any syntax.

One binding is a *name* (``DB_PASSWORD``, ``apiKey``, ``<password>``, ``-Password``), a
*separator* (``=``, ``:``, ``:=``, ``::=``, ``?=``, ``.=``, ``=>``, ``!=``, a function
argument's comma, a type annotation, an XML element) and a *value* (quoted with ``"``,
``'`` or a backtick, escaped quotes as in JSON inside a string, or unquoted up to the end
of the word). The rules below are built from these parts; the checks here decide whether
a value is a credential or a reference, a placeholder, a label or a route.

Unquoted ``name = value`` is a value in text, configuration, Markdown and outputs, but a
variable in code: those rules are ``config_only`` and the scanner enables them for every
fragment that is not code (see :func:`~.scanner.is_code_file`).
"""

from __future__ import annotations

import base64
import binascii
import math
import re

from .checks import (
    is_password_hash,
    is_placeholder,
    is_reference,
    looks_random,
    shannon_entropy,
    typed_sequence,
    within_password_hash,
)
from .rule import Rule

#: The word "password" in other languages, as people name a variable or label a line
#: (``Passwort:``, ``mot de passe :``, ``contraseña =``, ``パスワード：``); short ones stand alone.
FOREIGN_PASSWORD_WORDS = (
    r"passwort|kennwort|mot[ _-]?de[ _-]?passe|contrase[ñn]a|wachtwoord|l[öo]senord"  # noqa: S105 (a regex)
    r"|adgangskode|salasana|jelsz[óo]|[şs]ifre|пароль|パスワード|密码|密碼|비밀번호"
    r"|كلمة[ _]?(?:ال)?مرور|סיסמה|(?<![a-z])(?:senha|has[łl]o|heslo|passord)(?![a-z])"
)
#: Words that make a name a password's.
PASSWORD_WORDS = (
    r"passw(?:or)?d|passphrase|passwd|pswd|passcode|\bpwd|(?<![a-z])(?:pass|pw)(?![a-z])"
    "|" + FOREIGN_PASSWORD_WORDS
)
#: Words that make a name a secret's (tokens, keys, credentials).
SECRET_WORDS = (
    r"api[ _-]?key|apikey|secret|token|access[ _-]?key|auth[ _-]?key|account[ _-]?key"  # noqa: S105 (a regex)
    r"|client[ _-]?key|private[ _-]?key|service[ _-]?key|signing[ _-]?key|encryption[ _-]?key"
    r"|master[ _-]?key|preshared[ _-]?key|licen[cs]e[ _-]?key|credentials?|(?<![a-z])auth(?!or)"
    r"|(?<![a-z])pat(?![a-z])|(?:^|(?<=[_.-]))key(?![a-z])|(?<=[a-z])Key(?![a-z])"
)
#: A name: an identifier, dotted path or dashed header around one of the words.
_NAME_CHARS = r"[\w.-]"
PASSWORD_NAME = (
    rf"(?P<key>(?<![\w.-]){_NAME_CHARS}{{0,40}}?(?:{PASSWORD_WORDS}){_NAME_CHARS}{{0,40}})"
)
SECRET_NAME = rf"(?P<key>(?<![\w.-]){_NAME_CHARS}{{0,40}}?(?:{SECRET_WORDS}){_NAME_CHARS}{{0,40}})"
#: After the name: its closing quote (maybe escaped) or bracket, then an optional type
#: annotation (``password: str =``, Go's ``var password string =``); Markdown may close its
#: bold there (``**password**: `...` ``).
_CLOSE = r"(?:\\?[\"'`])?\]?(?:\*\*?)?"
_TYPE = r"(?:\s*:\s*[A-Za-z_][\w\[\], ]{0,30}(?=\s*=)|\s+string(?=\s*:?=))?"
SEPARATOR = _CLOSE + _TYPE + r"\s*(?:::=|:=|\?=|\.=|\+=|=>|===|!==|==|!=|=|:|<-)\s*[rbuf]?"
#: A function argument after the name: ``("API_KEY", "...")``.
ARGUMENT = r"(?P<arg>\\?[\"']\s*,\s*)(?=\\?[\"'])"

#: A quoted value: the opening quote (maybe escaped, as JSON inside a string writes it)
#: in group ``q``, maybe tripled (Python's ``"""..."""``); inside, anything but a newline or
#: that quote (escapes allowed).
QUOTED = r"(?P<q>\\?[\"'`])(?:(?P=q){2})?(?P<secret>(?:(?!(?P=q))(?:\\.|[^\n\\])){%d,%d}?)(?P=q)"
#: An unquoted value ends at whitespace, a quote, markup, a backslash, ``;`` or a closing
#: bracket; it does not start like a comment, a reference or a template.
UNQUOTED_END = r"(?=$|[\s\"'`<>\\;,)}\]])"
UNQUOTED = (
    r"(?P<secret>[^\s\"'`<>\\;,(){}\[\]#$%%&*@][^\s\"'`<>\\;,(){}\[\]]{%d,%d})" + UNQUOTED_END
)

_NOT_SECRET_KEYS = re.compile(
    r"(?:^|_)(?:hash|sha\d*|md5|digest|checksum|fingerprint|commit|uuid|id|ids|name|names"
    r"|url|uri|urls|endpoint|host|path|file|filename|dir|env|var|header|field|prefix|suffix"
    r"|format|type|kind|class|mode|len|length|size|count|limit|ttl|expiry|expires|expiration"
    r"|policy|scope|scopes|usage|label|description|placeholder|hint|prompt|msg|message|text"
    r"|title|icon|route|link|button|input|form|template|regex|pattern|rule|rules|version"
    r"|enabled|required|valid|validation|error|errors|status|callback|redirect|param|params"
    r"|arn|ref|reference|key_id|keyid|location|region|provider|source|store|vault|manager"
    r"|mount|method|backend|role|server|domain|realm|flow|plugin|trigger|words|md|py|txt|json"
    r"|yaml|yml|toml|ts|js|html|ipynb|cfg|ini)$"
    r"|izer$|ization$|^(?:min|max|is|has(?!ło|lo(?:_|$))|use|show|hide|reset|forgot|confirm|change|new_|old_)"
    r"|(?:^|_)(?:public|pub|cache|sort|primary|foreign|partition|idempotency|lookup|hot|csrf"
    r"|xsrf|keyboard|keystroke|keycode|keymap|keyword|keyspace|monkey|author|next|page|paging"
    r"|continuation|cursor)(?:_|$)"
)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SNAKE_OR_WORD = re.compile(r"^[A-Za-z_][A-Za-z_]*$")
_IDENTIFIER = re.compile(r"^[A-Za-z_]\w*$")
_LABEL_VALUE = re.compile(r":$|^[A-Z][a-z]+(?: [a-z]+)*[:?]?$|^\s|\s$|^[+.,)\]]")
_ROUTE = re.compile(r"^(?:#|/[\w./:-]*$|\.{0,2}/|https?://|arn:|[a-z][\w+.-]*://|~/)")
_ALL_WORD_CHARS = re.compile(r"^[A-Za-z]+$")
_PATH_OF_NAMES = re.compile(r"^[\w.-]+(?:/[\w.-]+)+/?$")
_MEMBER_ACCESS = re.compile(r"^[A-Za-z_$][\w$]*(?:\??\.[A-Za-z_$][\w$]*)+")


#: Published values that unlock nothing: the Azure Storage emulator's (Azurite) key.
_PUBLIC_PREFIXES = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6",)


def is_public_value(value: str) -> bool:
    """Whether a value is a documented public one (a development emulator's key)."""
    return value.startswith(_PUBLIC_PREFIXES)


def key_words(key: str) -> str:
    """A name in ``snake_case``: ``passwordLabel`` -> ``password_label``,
    ``X-Api-Key`` -> ``x_api_key`` (letters of any script kept: ``hasło``)."""
    return re.sub(r"[\W_]+", "_", _CAMEL.sub("_", key).lower()).strip("_")


def names_a_secret(key: str) -> bool:
    """Whether a name is a credential's, not its ID, label, route, length or hash."""
    return not _NOT_SECRET_KEYS.search(key_words(key))


def _echoes_name(value: str, key: str) -> bool:
    """``password = password_input``, ``"token": "github_token"``: the value names the
    secret (a variable, a field), it does not hold it."""
    if _SNAKE_OR_WORD.match(value) is None or not re.search(r"[a-z][_-]?[A-Z_-]", value):
        return False  # one word (``thisismypassword``) is a value, however weak
    words = ("pass", "pwd", "secret", "token", "key", "auth", "credential")
    return any(word in value.lower() for word in words)


def password_value(value: str, key: str, *, quoted: bool) -> bool:
    """A password bound to ``key``: any value people type, except placeholders, references,
    labels (``Password:``), routes (``#add-password``), paths and ARNs."""
    if not names_a_secret(key) or len(value) < 3:
        return False
    if key_words(key) == "pass" and key != "PASS":
        return False  # ``pass`` alone is a word (Python's statement, a test's name)
    if is_placeholder(value) or is_reference(value) or _ROUTE.match(value):
        return False
    if is_password_hash(value):
        return False  # ``c.ServerApp.password = 'argon2:$argon2id$...'``: its hash
    if _LABEL_VALUE.search(value) or _echoes_name(value, key):
        return False
    if key_words(value) == key_words(key):
        return False
    if not quoted and value.lower() in {"none", "null", "nil", "true", "false", "yes", "no"}:
        return False
    return not value.startswith(("{", "<", "%(", "#{", "${"))


def _file_path(value: str) -> bool:
    """``docs/secrets.md``, ``square/go-jose``: a path of names, not base64 with a slash."""
    if not _PATH_OF_NAMES.match(value):
        return False
    return bool(re.search(r"\.[a-z]{1,5}$", value)) or value == value.lower()


#: A character escaped as JSON and Python write one outside ASCII (``\\u0120``, ``\\xe9``).
_CHAR_ESCAPE = re.compile(r"\\+u([0-9a-fA-F]{4})|\\+x([0-9a-fA-F]{2})")
#: What tokenizers' vocabularies put before a word: GPT-2's byte-level BPE a space as
#: ``Ġ`` and a line break as ``Ċ``, SentencePiece a space as ``▁``.
_WORD_MARKS = "\u0120\u010a\u2581"


def _tokenizer_word(value: str) -> bool:
    """A word as a tokenizer writes it (``"token": "\\u0120quantum"``, ``'▁Quántica'``):
    once its escapes are read and its word marks dropped, letters in lower or title case."""
    word = _CHAR_ESCAPE.sub(lambda m: chr(int(m.group(1) or m.group(2), 16)), value)
    word = word.lstrip(_WORD_MARKS)
    return word.isalpha() and (word.islower() or (word[0].isupper() and word[1:].islower()))


def secret_value(value: str, key: str, min_entropy: float = 3.0) -> bool:
    """A secret bound to ``key``: random-looking (see :func:`~.checks.looks_random`); a name
    of a bare ``key`` (``cache_key``, ``PrivateKey``) needs more than hex."""
    if not names_a_secret(key) or _echoes_name(value, key) or _ROUTE.match(value):
        return False
    if _file_path(value) or value.startswith(("{", "(", "[", "<")) or value.endswith(":"):
        return False
    if not looks_random(value, min_entropy) or is_public_value(value) or typed_sequence(value):
        return False
    if is_password_hash(value) or _tokenizer_word(value):
        return False
    bare_key = re.search(r"(?:^|_)key$", key_words(key)) and not re.search(
        r"(?:api|access|secret|private|auth|account|client|service|signing|encryption|master"
        r"|preshared|license|licence|io|stream|deploy|app|consumer|user|admin|write|read)_?key$",
        key_words(key),
    )
    return not (bare_key and re.fullmatch(r"[0-9a-fA-F-]+", value))


def unquoted_in_code(value: str) -> bool:
    """An unquoted value that, in code, could only be a literal: not an identifier
    (a variable) unless a long generated one, and not an expression."""
    member = _MEMBER_ACCESS.match(value)
    if member and not any(_generated(part) for part in member.group().split(".")):
        return False  # ``settings.token``; not a dotted token such as a JWT
    if "??" in value or "||" in value:
        return False
    if _IDENTIFIER.match(value):
        if value.startswith("_") or re.search(r"(?i)key|token|secret|pass", value):
            return False
        digits = sum(c.isdigit() for c in value)
        mixed_case = value.lower() != value != value.upper()
        generated = len(value) >= 16 and digits >= 2 and mixed_case
        hex_like = digits >= 3 and digits * 5 >= len(value)
        return (generated or hex_like) and shannon_entropy(value) >= 3.0
    return not re.search(r"[()\[\]]", value)


def _generated(part: str) -> bool:
    """A long part with upper case, lower case and digits: generated, not a typed name."""
    return (
        len(part) >= 20
        and sum(c.isdigit() for c in part) >= 2
        and part.lower() != part != part.upper()
    )


def basic_auth_value(value: str) -> bool:
    """The value of ``Authorization: Basic``: base64 of ``user:password``."""
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return False
    _user, colon, password = decoded.partition(":")
    return bool(colon and password) and not is_placeholder(password)


def base64_private_key(value: str) -> bool:
    """Base64 whose text is a PEM private key (``LS0tLS1CRUdJTi...``)."""
    head = value[:200]
    head = head[: len(head) - len(head) % 4]
    try:
        decoded = base64.b64decode(head, validate=False).decode("ascii", "replace")
    except (binascii.Error, ValueError):
        return False
    return "PRIVATE KEY" in decoded


# --- the rules ---------------------------------------------------------------------------


def _near(match: re.Match[str], pattern: str, before: int = 300, after: int = 300) -> bool:
    text = match.string[max(0, match.start() - before) : match.end() + after]
    return re.search(pattern, text) is not None


def _password_quoted(match: re.Match[str]) -> bool:
    return password_value(match.group("secret"), match.group("key"), quoted=True)


def _password_or_secret(match: re.Match[str]) -> bool:
    key = match.group("key")
    if re.search(PASSWORD_WORDS, key, re.IGNORECASE):
        return password_value(match.group("secret").strip(), key, quoted=True)
    return secret_value(match.group("secret").strip(), key)


def _plain_password(match: re.Match[str]) -> bool:
    return password_value(match.group("secret"), "password", quoted=True)


def _kubernetes_data(match: re.Match[str]) -> bool:
    if not _near(match, r"\bkind:[ \t]*[\"']?Secret\b", 3000, 3000):
        return False
    if not _near(match, r"(?m)^[ \t]*data:[ \t]*$", 3000, 0):
        return False
    value = match.group("secret")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        return len(raw) >= 16  # binary: a key
    return len(decoded) >= 4 and not is_placeholder(decoded) and not is_reference(decoded)


def _reads_as_words(letters: str) -> bool:
    """Whether a run of letters reads as words run together (``ThisIsAVeryLongName``):
    vowels between short consonant clusters. Random letters (``Fvzpfvbq``) soon bunch five
    consonants together or run short of vowels."""
    lowered = letters.lower()
    vowels = sum(char in "aeiouy" for char in lowered)
    return vowels >= 0.25 * len(lowered) and not re.search(r"[^aeiouy]{5}", lowered)


def identifier_like(value: str) -> bool:
    """Whether a value is mostly words and acronyms (``PBKDF2WithHMAC-SHA1AndDES-EDE3-CBC``):
    four fifths of its letters in words of three or more letters that read as words, or
    in acronyms of up to six capitals. Random tokens almost never are (0.4% at 24
    characters, none at 44)."""
    segments = re.findall(r"[A-Z]{2,}(?![a-z])|[A-Z]?[a-z]+|[A-Z]", value)
    letters = sum(len(segment) for segment in segments)
    worded = sum(
        len(segment)
        for segment in segments
        if len(segment) >= 3
        and (len(segment) <= 6 if segment.isupper() else _reads_as_words(segment))
    )
    return letters > 0 and worded >= 0.8 * letters


#: How ipywidgets writes a reference from one model to another in the saved widget state
#: (``"layout": "IPY_MODEL_<uuid4 hex>"``): a model id, never a credential.
_WIDGET_REFERENCE = re.compile(r"IPY_MODEL_[0-9a-f]{32}")


def _bare_token(match: re.Match[str]) -> bool:
    """A line that is only a generated-looking token: upper case, lower case and digits,
    high entropy; not hex (a digest), not a path or a UUID."""
    value = match.group("secret")
    previous = match.string[: match.start()].rstrip("\n ").rpartition("\n")[2]
    if "-----" in previous or re.search(r"[A-Za-z0-9+/=_-]{40,}", previous):
        return False  # a line of a PEM block or of wrapped base64: encoded data, not a token
    if previous.isdigit() and len(value) == 44 and value.endswith("="):
        return False  # a signed checkpoint's root hash: 32 bytes under its tree size
    if re.fullmatch(r"[0-9a-fA-F-]+", value) or _file_path(value) or "/" in value.strip("/"):
        return False
    if _WIDGET_REFERENCE.fullmatch(value):
        return False  # a saved widget's reference to another model: its id, a UUID's hex
    if not (re.search(r"[a-z]", value) and re.search(r"[A-Z]", value)):
        return False
    if (
        sum(c.isdigit() for c in value) < 2
        or any(_reads_as_words(run) for run in re.findall(r"[A-Za-z]{16,}", value))
        or identifier_like(value)
    ):
        return False  # words run together (an identifier, a cipher's name) are typed
    # Random base62 reaches about log2(length) bits a character: 4.2 from 32 characters on.
    minimum = min(4.2, math.log2(len(value)) - 0.7)
    return shannon_entropy(value) >= minimum and not (
        is_placeholder(value) or typed_sequence(value)
    )


def _hex_token_in_context(match: re.Match[str]) -> bool:
    """128 hex digits (an IBM Quantum token's shape, and SHA-512's) beside a credential
    word, not beside a hash's name."""
    before = match.string[max(0, match.start() - 300) : match.start()]
    if re.search(r"(?i)sha-?512|sha3|digest|hash|checksum|blake|sum\b", before[-60:]):
        return False
    if within_password_hash(match.string, match.start("secret"), match.end("secret")):
        return False  # Werkzeug's scrypt hash of a password: 128 hex digits after its salt
    return (
        re.search(r"(?i)token|api[ _-]?key|secret|passw|credential|quantum|qiskit", before)
        is not None
    )


def _keyword_argument(value: str) -> bool:
    """``name)`` or ``name, other=...``: what follows ``password=`` in a call such as
    ``connect(host=host, password=pw)``, a variable passed by keyword, not a connection
    string's value (whose parts end at ``;``)."""
    return re.fullmatch(r"[A-Za-z_]\w*(?:\.\w+)*\s*(?:\).*|,\s*\w+\s*=.*)", value) is not None


#: Tools that log in to a container registry (``docker login -u lab -p ...``).
_REGISTRY_TOOLS = r"docker|podman|nerdctl|buildah|skopeo|helm|oras|crane"


def _plain_password_not_word(match: re.Match[str]) -> bool:
    """A password on a command line: not a placeholder or reference, not one bare word
    (``-p password``, an option's name in a usage line)."""
    return _plain_password(match) and not re.fullmatch(r"[A-Za-z_-]+", match.group("secret"))


def _generated_key(match: re.Match[str]) -> bool:
    """A value given as ``key=``: only a generated one (upper and lower case, digits, not
    hex, not words), since ``key=`` also names a sort key, a cache key, a column."""
    value = match.group("secret")
    return (
        bool(re.search("[a-z]", value) and re.search("[A-Z]", value))
        and sum(char.isdigit() for char in value) >= 2
        and not re.fullmatch(r"[0-9a-fA-F-]+", value)
        and looks_random(value, 3.5)
        and not identifier_like(value)
        and not typed_sequence(value)
        and not _file_path(value)
    )


def _prose_credential(match: re.Match[str]) -> bool:
    """``Your API key is <value>``: a value that looks generated (a word, a sentence's
    next word, a reference is none)."""
    value = match.group("secret")
    return (
        looks_random(value, 3.0)
        and password_value(value, "password", quoted=True)
        and not is_reference(value)
    )


SYNTAX_RULES: tuple[Rule, ...] = (
    Rule(
        "url-password",
        "Password in a URL",
        # A query parameter: a login form's GET, a device's web API (?user=lab&pwd=...).
        r"(?:[?&]|&amp;)(?P<key>password|passwd|pwd|pass|pw)=(?P<secret>[^&#\s\"'<>\\]{3,200})",
        r"[?&;](?:passw|pwd|pass|pw)",
        ignore_case=True,
        check=lambda m: _plain_password(m) and not is_reference(m.group("secret")),
        examples=(
            'requests.get("https://lab.example.org/login?user=alice&password={A:12}")',
            "http://192.168.1.20/cgi-bin/snapshot.cgi?user=admin&pwd={A:10}",
        ),
        negative_examples=(
            'requests.get("https://lab.example.org/login?user=alice&password=" + pw)',
            'url = f"https://lab.example.org/login?user={user}&pass={pw}"',
            "https://lab.example.org/login?user=alice&password=%s",
        ),
    ),
    Rule(
        "key-argument",
        "API key",
        # An API client's key by keyword: googlemaps.Client(key="..."), SomeApi(key='...').
        r"[(,]\s*key\s*=\s*[rbuf]?(?P<q>[\"'])(?P<secret>[A-Za-z0-9_+/=.~-]{24,200})(?P=q)",
        r"[(,]\s*key\s*=",
        check=_generated_key,
        examples=("gmaps = ORSClient(key='{A:12}7{A:20}3{A:8}')",),
        negative_examples=(
            "rows = sorted(rows, key='creation_time_in_seconds')",
            "cache.get(key='d41d8cd98f00b204e9800998ecf8427e')",
            "plot(df, key='ThisIsAVeryLongColumnNameForThePlot')",
        ),
    ),
    Rule(
        "registry-login-password",
        "Password on a command line",
        rf"\b(?:{_REGISTRY_TOOLS})\b[^\n|;&]{{0,80}}?\blogin\b[^\n|;&]*?[\s\"']-p(?:=|\s+|[\"']\s*,\s*)"
        r"[\"']?(?P<secret>[^\s\"'$%<>|;&\\-][^\s\"'|;&<>\\]{2,200})",
        rf"(?:{_REGISTRY_TOOLS})(?: |[\"'], [\"'])login|registry login",
        ignore_case=True,
        check=_plain_password_not_word,
        examples=(
            "!docker login -u lab -p {A:16} registry.lab.example.org",
            'subprocess.run(["docker", "login", "-u", "lab", "-p", "{A:16}", "registry.lab.org"])',
            "helm registry login lab.example.org -u lab -p {A:12}",
        ),
        negative_examples=(
            "!docker login -u lab -p $REGISTRY_PASSWORD registry.lab.example.org",
            "docker login -u lab -p password",
        ),
    ),
    Rule(
        "piped-password",
        "Password on a command line",
        # echo <password> | docker login --password-stdin, | sudo -S, | passwd --stdin
        r"\becho\s+(?:-[neE]+\s+)?(?P<q>[\"']?)(?P<secret>[^\s\"'$%<>|;&\\-][^\s\"'|;&<>\\]{2,200})"
        r"(?P=q)\s*\|\s*(?:[^\n|;&]*?--password-stdin|sudo\s+(?:-\w+\s+)*-\w*S\b|passwd\s+--stdin)",
        r"--password-stdin|sudo\s+(?:-\w+\s+)*-\w*S\b|passwd\s+--stdin",
        check=_plain_password,
        examples=(
            "!echo {A:12} | sudo -S apt-get install -y htop",
            "!echo '{A:16}' | docker login -u lab --password-stdin registry.lab.example.org",
        ),
        negative_examples=(
            'echo "$REGISTRY_PASSWORD" | docker login -u lab --password-stdin',
            "cat token.txt | docker login -u lab --password-stdin",
        ),
    ),
    Rule(
        "password-argument",
        "Password",
        # A password passed by position: keyring.set_password("db", "lab", "..."),
        # auth=("lab", "..."), HTTPBasicAuth("lab", "..."), smtp.login("lab@...", "...").
        r"(?:\bset_password\s*\((?:\s*[rbuf]?[\"'][^\"'\n]*[\"']\s*,){2}"
        r"|(?:\b(?:HTTPBasicAuth|HTTPDigestAuth|HTTPProxyAuth|BasicAuth|DigestAuth|login"
        r"|simple_bind_s|bind_s|NTLMAuth)\s*\(|\bauth\s*=\s*[(\[])"
        r"\s*[rbuf]?[\"'][^\"'\n]*[\"']\s*,)"
        r"\s*[rbuf]?(?P<q>[\"'])(?P<secret>[^\"'\n]{3,200})(?P=q)\s*[,)\]]",
        r"set_password|HTTP(?:Basic|Digest|Proxy)Auth|BasicAuth|DigestAuth|login\s*\(|bind_s"
        r"|NTLMAuth|auth\s*=\s*[(\[]",
        check=_plain_password,
        examples=(
            'keyring.set_password("lab-db", "alice", "{A:14}")',
            'r = requests.get(url, auth=("alice", "{A:12}"))',
            'server.login("alice@lab.example.org", "{A:16}")',
        ),
        negative_examples=(
            'keyring.set_password("lab-db", "alice", getpass.getpass())',
            'r = requests.get(url, auth=("alice", os.environ["PW"]))',
            'server.login("alice@lab.example.org", "<password>")',
        ),
    ),
    Rule(
        "smb-user-password",
        "Password on a command line",
        r"\b(?:smbclient|rpcclient|smbget|smbmap|smbcacls|net)\b[^\n|;&]*?\s(?:-U|--user(?:name)?)(?:=|\s*)"
        r"[\"']?[^\s%\"']+%(?P<secret>[^\s\"'$<\\][^\s\"'<\\]{2,200})",
        r"smbclient|rpcclient|smbget|smbmap|smbcacls|net\s",
        check=_plain_password,
        examples=("!smbclient //files.lab/share -Ualice%{A:12} -c 'get run.csv'",),
        negative_examples=("smbclient //files.lab/share -U alice%$SMB_PASSWORD",),
    ),
    Rule(
        "credential-in-prose",
        "Credential",
        r"\b(?P<key>api[ _-]?key|access[ _-]?token|auth[ _-]?token|token|secret[ _-]?key|secret"
        r"|password|passphrase)\b[^\n.]{0,20}?\bis\b\s*:?\s+`?"
        r"(?P<secret>[A-Za-z0-9+/_~!@#$%^&*=-][A-Za-z0-9+/_.~!@#$%^&*=-]{6,198}[A-Za-z0-9+/_~!@#$%^&*=-])`?"
        r"(?=[.,;)]?(?:[\s<\"]|$))",
        r"(?:key|token|secret|password|passphrase)(?: [a-z]+){0,3} is\b",
        ignore_case=True,
        config_only=True,
        check=_prose_credential,
        examples=(
            "Your API key is {A:32}",
            "Your new access token is: {W:40}.",
        ),
        negative_examples=(
            "Your API key is invalid.",
            "The token is refreshed every hour",
            "Your password is PASSWORD_FROM_THE_VAULT",
        ),
    ),
    Rule(
        "sql-password",
        "Password",
        r"\b(?:IDENTIFIED\s+(?:WITH\s+\w+\s+)?BY|WITH\s+(?:ENCRYPTED\s+)?PASSWORD)\s*"
        r"(?P<q>[\"'`])(?P<secret>[^\"'`\n]{3,200})(?P=q)",
        r"IDENTIFIED|PASSWORD",
        ignore_case=True,
        check=_plain_password,
        examples=(
            "CREATE USER 'lab'@'%' IDENTIFIED BY '{A:14}';",
            "ALTER ROLE lab WITH PASSWORD '{A:12}';",
        ),
        negative_examples=("CREATE USER 'lab'@'%' IDENTIFIED BY '<password>';",),
    ),
    Rule(
        "connection-string-password",
        "Password in a connection string",
        r"(?:^|[;\"'\s{])(?P<key>Password|Pwd)\s*=\s*(?P<secret>[^;\"'\s<>\\][^;\"'\n<>\\]{0,200}?)\s*(?=;|\"|'|$|\n|<|\\)",
        r"Password\s*=|Pwd\s*=",
        ignore_case=True,
        template_placeholders_only=True,
        check=lambda m: (
            _near(
                m,
                r"(?i)(?:server|data source|host|provider|driver|user id|uid|user|database"
                r"|initial catalog|dsn|endpoint|port)\s*=",
                300,
                0,
            )
            and not is_reference(m.group("secret"))
            and not m.group("secret").startswith(("#{", "{", "%"))
            and not _keyword_argument(m.group("secret"))
        ),
        examples=(
            "Server=host;Port=5432;User Id=username;Password={A:12};Database=db;",
            "Provider=SQLNCLI;Server=srv,1433;Database=db;Uid=lab;Pwd={A:10};",
            '<add name="Db" connectionString="Server=sql1; Database=db; User Id=lab; password= {A:16}" />',
        ),
        negative_examples=(
            "conn = 'Server=db;Database=runs;User Id=sa;Password=****;'",
            "Password={A:12};",
            "conn = psycopg2.connect(host=host, user=user, password=secret_pw)",
            "engine = connect(server=srv, password=settings.db_password, port=5432)",
        ),
    ),
    Rule(
        "command-line-password",
        "Password on a command line",
        r"(?:^|[\s\"'`(])--?(?P<key>password|passwd|pass|passphrase|pwd|secret|token|api-key|apikey"
        r"|auth-token|access-token|client-secret|storepass|keypass)(?:=|\s+)"
        r"(?P<secret>[^\s\"'`$%<>|;&{\[(\\-][^\s\"'`|;&<>\\]{2,200})",
        r"-(?:password|passwd|pass|passphrase|pwd|secret|token|api-key|apikey|auth-token|access-token|client-secret|storepass|keypass)",
        ignore_case=True,
        check=lambda m: (
            _password_or_secret(m) and not re.fullmatch(r"[A-Za-z_-]+", m.group("secret"))
        ),
        examples=(
            "Connect-VIServer -Server 192.168.1.51 -User administrator -Password {A:10}!",
            "gpg --batch --passphrase {A:16} -d backup.gpg",
            "keytool -genkey -storepass {A:12} -keystore lab.jks",
        ),
        negative_examples=(
            "Connect-VIServer $ESXiHost -user $ESXiUser -password $ESXipass",
            "docker login --password-stdin < token.txt",
            "use --password through the prompt",
        ),
    ),
    Rule(
        "command-line-password-quoted",
        "Password on a command line",
        r"(?:^|[\s(])--?(?P<key>password|passwd|pass|passphrase|pwd|secret|token|api-key|apikey"
        r"|auth-token|access-token|client-secret)(?:=|\s+)(?P<q>[\"'])(?P<secret>[^\"'\n]{3,200})(?P=q)",
        r"-(?:password|passwd|pass|passphrase|pwd|secret|token|api-key|apikey|auth-token|access-token|client-secret)",
        ignore_case=True,
        check=lambda m: _password_quoted(m) and not _near(m, r"add_argument|\bhelp\s*=", 120, 0),
        examples=('Connect-VIServer "$endpoint" -User "admin" -Password "{A:12}"',),
        negative_examples=('Connect-VIServer "$endpoint" -User "$username" -Password "$password"',),
    ),
    Rule(
        "command-line-user-password",
        "Password on a command line",
        # Also as an argument list: subprocess.run(["curl", "-u", "user:...", url]).
        r"(?:^|[\s\"'])(?:-u|--user|-U)(?:\s+|[\"']\s*,\s*)[\"']?(?P<key>[^\s:\"'/@$]{1,80}):(?P<secret>[^\s\"'@$<\\][^\s\"'@<\\]{2,200})[\"']?(?=[\s,)\]]|$|<|\\)",
        r"-u\s|--user\s|-U\s|-[uU][\"'],|--user[\"'],",
        check=lambda m: not is_reference(m.group("secret")),
        examples=(
            "curl -X POST https://api.example.org/token -u client-{A:12}:{A:32}",
            'subprocess.run(["curl", "-u", "lab:{A:14}", url])',
            "curl -u lab:{A:12} https://ci.example.org/job/build",
        ),
        negative_examples=(
            "curl -u $USER:$PASS https://example.org",
            "curl -u user:<password> url",
        ),
    ),
    Rule(
        "mysql-password",
        "Password on a command line",
        r"\b(?:mysql(?:dump|admin|import|show)?|mariadb)\b[^\n|;&]*?\s-p(?P<secret>[^\s\"'$-][^\s\"']{2,})",
        r"mysql|mariadb",
        ignore_case=True,
        examples=("mysql -u root -p{A:12} lab < dump.sql",),
        negative_examples=("mysql -u root -p lab < dump.sql",),
    ),
    Rule(
        "remote-exec-password",
        "Password on a command line",
        r"\b(?:psexec(?:\.exe)?|sshpass|smbclient|paexec)\b[^\n|;&]*?[\s\"']-p(?:\s+|[\"']\s*,\s*[\"'])"
        r"(?P<secret>[^\s\"'$%][^\s\"']*)",
        r"psexec|sshpass|smbclient|paexec",
        ignore_case=True,
        check=_plain_password,
        examples=("PsExec.exe \\\\10.0.94.120 -u Administrator -p {A:10} cmd",),
        negative_examples=("psexec \\\\host -u User -p $Password -i calc.exe",),
    ),
    Rule(
        "http-authorization",
        "HTTP Authorization header",
        r"\bAuthorization\s*[:=]\s*[\"']?(?P<scheme>Basic|Bearer|Token|SSWS|Bot|Digest|token)\s+"
        r"(?P<secret>[A-Za-z0-9+/=_.~-]{8,})",
        r"Authorization",
        ignore_case=True,
        check=lambda m: (
            basic_auth_value(m.group("secret"))
            if m.group("scheme").lower() == "basic"
            else shannon_entropy(m.group("secret")) >= 3.0
            and not is_reference(m.group("secret"))
            and any(c.isdigit() for c in m.group("secret"))
        ),
        examples=(
            "Authorization: Basic " + "QWxhZGRpbjpvcGVuIHNlc2FtZQ==",  # Aladdin:open sesame
            "Authorization: Bearer {A:8}4{A:3}.{W:4}",
        ),
        negative_examples=(
            "Authorization: Basic dXNlcjo=",
            "Authorization: Bearer $TOKEN",
        ),
    ),
    Rule(
        "netrc-password",
        ".netrc password",
        r"\bmachine\s+\S+\s+(?:login\s+\S+\s+)?password\s+(?P<secret>[^\s\"'<\\]{3,200})",
        r"\bmachine\s",
        multiline=True,
        check=_plain_password,
        examples=(
            "machine api.github.com login lab password {A:12}",
            "machine raw.example.org\n  login lab\n  password {A:10}\n",
        ),
        negative_examples=("machine api.github.com login lab password $PASSWORD",),
    ),
    Rule(
        "kubernetes-secret",
        "Kubernetes Secret data",
        r"(?m)^[ \t]+(?P<key>[\w.-]+):[ \t]*[\"']?(?P<secret>[A-Za-z0-9+/]{8,}={0,2})[\"']?[ \t]*$",
        r"kind:\s*[\"']?Secret",
        multiline=True,
        context_before=3000,
        check=_kubernetes_data,
        examples=(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ndata:\n  password: UzNjcjN0UGFzc3cwcmQh\n",
            "apiVersion: v1\ndata:\n  token: {B:40}\nkind: Secret\n",
        ),
        negative_examples=("apiVersion: v1\nkind: ConfigMap\ndata:\n  mode: cHJvZHVjdGlvbg==\n",),
    ),
    Rule(
        "xml-credential",
        "Credential in XML",
        r"<(?P<key>[\w:.-]{0,40}?(?:"
        + PASSWORD_WORDS
        + "|"
        + SECRET_WORDS
        + r")[\w:.-]{0,40})(?:\s[^<>]{0,200})?>"
        r"\s*(?P<secret>[^<\s][^<\n]{1,300}?)\s*</(?P=key)>",
        r"<[\w:.-]{0,40}(?:passw|pwd|pass>|secret|token|key|credential|auth)",
        ignore_case=True,
        check=_password_or_secret,
        examples=(
            "<password>{A:12}</password>",
            "<properties><api.token>{A:32}</api.token></properties>",
        ),
        negative_examples=(
            "<password>${db.password}</password>",
            "<passwordHint>your pet</passwordHint>",
        ),
    ),
    Rule(
        "xml-attribute-credential",
        "Credential in XML",
        r"\b(?:key|name)\s*=\s*(?P<kq>[\"'])(?P<key>[^\"'<>]{0,60}?(?:"
        + PASSWORD_WORDS
        + "|"
        + SECRET_WORDS
        + r")[^\"'<>]{0,60}?)(?P=kq)"
        r"\s+value\s*=\s*(?P<q>[\"'])(?P<secret>[^\"'\n]{3,300})(?P=q)",
        r"(?:key|name)\s*=\s*[\"'][^\"']{0,60}(?:passw|pwd|pass|secret|token|key|credential|auth)",
        ignore_case=True,
        check=_password_or_secret,
        examples=(
            '<add key="FromEmailPassword" value="{A:12}$"/>',
            '<add key="ClearTextPassword" value="{A:24}" />',
        ),
        negative_examples=('<add key="PasswordLength" value="12"/>',),
    ),
    Rule(
        "html-table-credential",
        "Credential in a table",
        r"<t[dh][^>]*>\s*(?P<key>[^<]{0,60}?(?:"
        + PASSWORD_WORDS
        + "|"
        + SECRET_WORDS
        + r")[^<]{0,60}?)\s*</t[dh]>\s*"
        r"<t[dh][^>]*>\s*(?P<secret>[^<\s]{8,300})\s*</t[dh]>",
        r"<t[dh][^>]*>[^<]{0,60}(?:passw|pwd|secret|token|key|credential|auth)",
        ignore_case=True,
        multiline=True,
        check=_password_or_secret,
        examples=("<table><tr><td>IBM_QUANTUM_TOKEN</td>\n<td>{H:128}</td></tr></table>",),
        negative_examples=("<tr><td>token_count</td><td>4096</td></tr>",),
    ),
    Rule(
        "dotnet-credential",
        "Password",
        r"\b(?:NetworkCredential|DirectoryEntry|PSCredential|SqlCredential)\s*\((?:\s*[\"'][^\"'\n]*[\"']\s*,){1,2}\s*"
        r"(?P<q>[\"'])(?P<secret>[^\"'\n]{3,200})(?P=q)",
        r"NetworkCredential|DirectoryEntry|PSCredential|SqlCredential",
        multiline=True,
        check=_plain_password,
        examples=('sender.Credentials = new NetworkCredential("lab@example.org", "{a:16}");',),
        negative_examples=('new NetworkCredential("lab@example.org", password);',),
    ),
    Rule(
        "powershell-secure-string",
        "Password",
        r"ConvertTo-SecureString\s+(?:-String\s+)?(?P<q>[\"'])(?P<secret>[^\"'\n]{3,200})(?P=q)",
        r"ConvertTo-SecureString",
        ignore_case=True,
        check=_plain_password,
        examples=('$pw = ConvertTo-SecureString "{A:12}" -AsPlainText -Force',),
        negative_examples=("$pw = ConvertTo-SecureString $plain -AsPlainText -Force",),
    ),
    Rule(
        "password-in-prose",
        "Password",
        r"\bpassword\b[^\n.]{0,60}?\bis\s*:?\s*(?P<q>[\"'])(?P<secret>[^\"'\n]{3,64})(?P=q)",
        r"password",
        ignore_case=True,
        config_only=True,
        check=_plain_password,
        examples=(
            'The default password for the user "lab" is "{a:8}".',
            "echo \"The password is '{A:9}'\"",
        ),
        negative_examples=("The password is 'password'.",),
    ),
    Rule(
        "credential-below-label",
        "Credential",
        r"(?P<key>passw(?:or)?d|passphrase|api[ _-]?key|access[ _-]?token|auth[ _-]?token|token|secret)\b"
        r"[^\n=]{0,60}?:?[ \t]*\n(?:[ \t]*\n)?[ \t>*`-]*(?P<secret>[A-Za-z0-9+/_.~!@#$%^&*-]{12,200}={0,2})[ \t`*]*(?=\n|$|<|\\|\")",
        r"(?:passw|passphrase|api[ _-]?key|token|secret)[^\n]{0,60}\n",
        ignore_case=True,
        multiline=True,
        config_only=True,
        check=lambda m: (
            looks_random(m.group("secret"), 3.0)
            and not is_reference(m.group("secret").rstrip("."))  # a.dotted.Name at a sentence's end
            and password_value(m.group("secret"), "password", quoted=True)
            and not re.fullmatch(r"[A-Z0-9_]+=*", m.group("secret"))  # VARIABLE= on its line
        ),
        examples=(
            "Please use the following password to proceed to installation:\n\n{H:32}\n",
            "**Your API token**\n\n`{W:40}`",
        ),
        negative_examples=("Token usage:\n\nprint_usage_and_exit_now()",),
    ),
    Rule(
        "ibm-quantum-token-context",
        "IBM Quantum token",
        r"(?<![0-9A-Za-z])(?P<secret>[0-9a-f]{128})(?![0-9A-Za-z])",
        r"(?:^|[^0-9a-f])[0-9a-f]{128}(?:[^0-9a-f]|$)",
        context_before=300,
        multiline=True,
        check=_hex_token_in_context,
        examples=(
            "Your IBM Quantum API key: {H:128}",
            "| service | token |\n| --- | --- |\n| ibm_quantum | {H:128} |",
        ),
        negative_examples=(
            "sha512: {H:128}",
            "{H:128}",
            "password: scrypt:32768:8:1${A:16}${H:128}",  # Werkzeug's hash of a password
        ),
    ),
)

#: Rules that apply only when no other rule names the value: they come last.
FALLBACK_RULES: tuple[Rule, ...] = (
    Rule(
        "bare-token",
        "Token on a line of its own",
        r"(?m)^(?:\"[^\"\n]{0,80}\":\s*\")?(?:<\w+[^<>\n]*>)*[ \t>*`'\"-]*"
        r"(?P<secret>[A-Za-z0-9+/_~-]{24,100}={0,2})[ \t`'\",]*(?:</\w+>)*\"?$",
        r"(?:^|\n|>|\": \")[ \t>*`'\"-]*[A-Za-z0-9+/_~-]{24}",
        # In code too: a line of one generated token is a literal (in a multi-line string),
        # never a variable's name.
        context_before=200,
        check=_bare_token,
        examples=("{A:12}7{A:30}", "`{W:44}`", "{A:10}7{A:5}3{A:7}"),
        negative_examples=(
            "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6",
            "{H:64}",
            "{H:8}-{H:4}-{H:4}-{H:4}-{H:12}",
            "ThisIsAVeryLongIdentifierNameForTheParser",
            "-----BEGIN CERTIFICATE-----\nMIIB{A:8}7{A:52}\n{A:20}8{A:43}\n-----END CERTIFICATE-----",
            "/usr/local/lib/python3/site-packages/jupyter_qsecure",
            "lab.example.org/provenance.sqlite\n12\n{A:12}7{A:30}=\n",
            '"layout": "IPY_MODEL_{H:32}"',
        ),
    ),
)
