"""Credentials in a table's column: the name is in the header, the values rows below.

A ``credentials.csv`` downloaded from a cloud console, ``df.head()`` of a table of service
accounts (as pandas writes it in HTML), a Markdown table in a note, ``df.iloc[0]`` (a
Series, one ``name value`` line each): no value sits beside its name, so the line rules
see none. These rules start at a header naming a credential (``password``, ``API key``,
``secret access key``; not ``token`` or ``key`` alone, a corpus' words and a table's
keys) and judge only the values in that column, as the line rules judge a value bound
to that name.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from functools import lru_cache

from .rule import Rule
from .syntax import FOREIGN_PASSWORD_WORDS, key_words, names_a_secret, password_value, secret_value

#: A column's name, in ``snake_case``, that holds credentials.
_CREDENTIAL_COLUMN = re.compile(
    r"(?:[a-z0-9]+_){0,3}(?:password|passwd|pwd|passphrase|passcode|secret|secret_key"
    r"|secret_access_key|client_secret|api_key|apikey|access_key|private_key|access_token"
    r"|auth_token|api_token|refresh_token|bearer_token|session_token|credentials?)"
)
_FOREIGN_PASSWORD = re.compile(FOREIGN_PASSWORD_WORDS, re.IGNORECASE)
_PASSWORD_COLUMN = re.compile(r"pass|pwd", re.IGNORECASE)
#: The words a header trigger looks for (a cheap first look, bytes for the engine).
_HEADER_WORDS = (
    r"(?:passw|pwd|passphrase|passcode|secret|api[ _-]?key|access[ _-]?key|token|credential)"
)
#: What may come before a text's first line in a notebook field: a JSON key (a metadata
#: value's), tags (an HTML ``<pre>``), a Markdown quote.
_LEAD = re.compile(r"^[ \t]*(?:\"[^\"\n]{0,80}\":\s*\")?(?:<\w+[^<>\n]*>)*")
#: The same, keeping the line's own indentation (a printed table's columns count from it).
_MARKUP_LEAD = re.compile(r"(?:\"[^\"\n]{0,80}\":\s*\")?(?:<\w+[^<>\n]*>)*")
_HEADER_CELL = re.compile(r"[\w .()/#-]{0,40}")
_NOT_A_VALUE = frozenset({"n/a", "na", "-", "—", "none", "null", "nan", "<na>"})


def credential_column(name: str) -> bool:
    """Whether a column (or a Series' index label) named ``name`` holds credentials."""
    words = key_words(name.strip().strip("\"'`*_"))
    if not words or not names_a_secret(words):
        return False
    return bool(_CREDENTIAL_COLUMN.fullmatch(words) or _FOREIGN_PASSWORD.fullmatch(words))


def column_value(name: str, value: str) -> bool:
    """Whether ``value``, in a column named ``name`` (see :func:`credential_column`), is
    a credential: as a value bound to that name is (placeholders, masks, references and
    missing values are not)."""
    value = value.strip()
    if value.lower() in _NOT_A_VALUE:
        return False
    if _PASSWORD_COLUMN.search(name) or _FOREIGN_PASSWORD.search(name):
        return len(value) >= 4 and password_value(value, "password", quoted=False)
    return secret_value(value, key_words(name))


@lru_cache(maxsize=64)
def _lines(text: str) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """Where each line of ``text`` starts, and the lines."""
    starts = (0, *(found.end() for found in re.finditer("\n", text)))
    return starts, tuple(text.split("\n"))


@lru_cache(maxsize=64)
def _runs(text: str, delimiter: str) -> tuple[int, ...]:
    """For each line of ``text``, the first line of its run: the lines in a row that hold
    as many ``delimiter`` as it does (one or more), a table's header and rows."""
    runs: list[int] = []
    previous = 0
    for index, line in enumerate(_lines(text)[1]):
        count = line.count(delimiter)
        runs.append(runs[-1] if index and count and count == previous else index)
        previous = count
    return tuple(runs)


_SEPARATOR_ROW = re.compile(r"[ \t]*\|?(?:[ \t]*:?-{2,}:?[ \t]*\|)+[ \t]*(?::?-{2,}:?[ \t]*)?")


@lru_cache(maxsize=256)
def _delimited_header(line: str, delimiter: str) -> dict[int, str] | None:
    """The names of a delimited table's credential columns, by column (the number of
    delimiters before it), when ``line`` is a header (names, not values); else None."""
    names = [cell.strip().strip("\"'`*") for cell in line.split(delimiter)]
    inner = names[1:-1] if delimiter == "|" and not names[0] and not names[-1] else names
    filled = [name for name in inner if name]
    if len(filled) < 2 or not all(
        _HEADER_CELL.fullmatch(name) and re.search("[A-Za-z]", name) for name in filled
    ):
        return None
    columns = {index: name for index, name in enumerate(names) if credential_column(name)}
    return columns or None


def _delimited_value(match: re.Match[str]) -> bool:
    """A value in a delimited table's column whose header names a credential: the header
    is the first line of the value's run of lines (see :func:`_runs`); a Markdown table's
    second line is its ``|---|`` row."""
    text, start = match.string, match.start("secret")
    starts, lines = _lines(text)
    index = bisect_right(starts, start) - 1
    line = lines[index].rstrip("\r")
    for delimiter in "|\t,;":
        if delimiter not in line:
            continue
        first = _runs(text, delimiter)[index]
        if first == index:
            continue
        header = lines[first].rstrip("\r")
        columns = _delimited_header(
            _LEAD.sub("", header, count=1) if first == 0 else header, delimiter
        )
        if columns is None:
            continue
        if delimiter == "|" and not (
            index >= first + 2 and _SEPARATOR_ROW.fullmatch(lines[first + 1].rstrip("\r"))
        ):
            continue
        padding = " \t\"'".replace(delimiter, "")
        before = line[: start - starts[index]].rstrip(padding)
        after = line[match.end("secret") - starts[index] :].lstrip(padding)
        if (before and not before.endswith(delimiter)) or (after and after[0] != delimiter):
            continue  # another character cut the cell: not this table's delimiter
        name = columns.get(before.count(delimiter))
        if name is not None:
            return column_value(name, match.group("secret"))
    return False


_ROW = re.compile(r"<tr\b[^>]*>(.*?)</tr>", re.IGNORECASE | re.DOTALL)
_CELL = re.compile(r"<t([hd])\b[^>]*>(.*?)</t[hd]>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")


def _html_column_value(match: re.Match[str]) -> bool:
    text = match.string
    start = match.start()
    row_start = text.lower().rfind("<tr", 0, start)
    if row_start < 0:
        return False
    column = len(re.findall(r"<t[hd]\b", text[row_start:start], re.IGNORECASE))
    header = None
    for row in _ROW.finditer(text, 0, row_start):
        cells = _CELL.findall(row.group(1))
        if cells and all(kind.lower() == "h" for kind, _ in cells):
            header = (row.end(), cells)
    if header is None or "</table" in text[header[0] : row_start].lower():
        return False
    cells = header[1]
    if column >= len(cells):
        return False
    name = _TAG.sub("", cells[column][1]).strip()
    return credential_column(name) and column_value(name, match.group("secret"))


#: A printed DataFrame's header: names (a space inside one) apart by two spaces or more.
_ALIGNED_NAME = re.compile(r"[\w.()-]+(?: [\w.()-]+)*")


@lru_cache(maxsize=256)
def _aligned_header(line: str) -> dict[tuple[int, int], str] | None:
    """A DataFrame's header line as pandas prints it (names two spaces apart or more):
    the (start, end) columns of its credential columns' names; None for anything else."""
    names = list(re.finditer(r"\S+(?: \S+)*", line))
    if len(names) < 2 or not all(_ALIGNED_NAME.fullmatch(name.group()) for name in names):
        return None
    columns = {
        (name.start(), name.end()): name.group()
        for name in names
        if credential_column(name.group())
    }
    return columns or None


def _header_above(text: str, line_start: int) -> dict[tuple[int, int], str] | None:
    """The credential columns of the DataFrame header above the row at ``line_start``:
    the nearest line above that is one, with only rows (no blank line) between."""
    cursor = line_start
    for _ in range(200):
        if cursor == 0:
            return None
        above = text.rfind("\n", 0, cursor - 1) + 1
        line = text[above : cursor - 1].rstrip("\r")
        if not line.strip():
            return None
        lead = _MARKUP_LEAD.match(line)
        columns = _aligned_header(line[lead.end() if lead else 0 :])
        if columns is not None:
            return columns
        cursor = above
    return None


def _aligned_value(match: re.Match[str]) -> bool:
    text = match.string
    start = match.start("secret")
    line_start = text.rfind("\n", 0, start) + 1
    columns = _header_above(text, line_start)
    if columns is None:
        return False
    begin, end = start - line_start, match.end("secret") - line_start
    line = text[line_start : text.find("\n", start) if "\n" in text[start:] else len(text)]
    after = line[end:].rstrip("\r")
    if line[max(0, begin - 2) : begin].strip() or not (
        not after.strip() or after.startswith(("  ", "<", '"'))
    ):
        return False  # a value is two spaces or more from its neighbours
    for (name_begin, name_end), name in columns.items():
        if end == name_end or begin == name_begin:  # right-aligned, or left-justified
            return column_value(name, match.group("secret"))
    return False


_SERIES_END = re.compile(
    r"^(?:(?:Name|Length): [^\n]*, )?dtype: \w+[ \t]*(?:</\w+>|\")*$", re.MULTILINE
)


def _series_value(match: re.Match[str]) -> bool:
    text = match.string
    end = _SERIES_END.search(text, match.end())
    if end is None or "\n\n" in text[match.end() : end.start()]:
        return False
    return credential_column(match.group("key")) and column_value(
        match.group("key"), match.group("secret")
    )


TABLE_RULES: tuple[Rule, ...] = (
    Rule(
        "table-column-credential",
        "Credential in a table",
        r"(?:(?<=[|,;\t])|^)[ \t]*\"?(?P<secret>[^|,;\t\n\" ][^|,;\t\n\"]{0,199}?)\"?[ \t\r]*(?=[|,;\t\n]|$)",
        # A header cell naming a credential, with a delimiter before or after it (short
        # triggers: Hyperscan compiles every rule's in one database).
        rf"[|,;\t]{_HEADER_WORDS}|, {_HEADER_WORDS}|{_HEADER_WORDS}\w{{0,12}} ?[|,;\t]",
        ignore_case=True,
        multiline=True,
        context_before=1024,
        config_only=True,
        check=_delimited_value,
        examples=(
            "User name,Password,Console login link\nalice,{A:14},https://lab.signin.example.org/console\n",
            "| service | api key |\n|---|---|\n| maps | {A:32} |\n",
            "name\tsecret_access_key\nlab\t{B:40}\n",
        ),
        negative_examples=(
            "user,password\nalice,********\nbob,<hidden>\n",
            "| setting | password |\n|---|---|\n| required | yes |\n",
            "token,count\nthe,1204\nAxc81LmQp02ZzYw,3\n",
            "user,password\n\nalice {A:14}\n",
        ),
    ),
    Rule(
        "html-table-column-credential",
        "Credential in a table",
        r"<td\b[^>]*>\s*(?P<secret>[^<\s][^<]{0,299}?)\s*</td>",
        rf"<th[^>]*>\s*(?:\w+[ _])?{_HEADER_WORDS}",
        ignore_case=True,
        multiline=True,
        context_before=2000,
        check=_html_column_value,
        examples=(
            '<table border="1" class="dataframe">\n  <thead>\n    <tr style="text-align: right;">\n'
            "      <th></th>\n      <th>user</th>\n      <th>password</th>\n    </tr>\n  </thead>\n"
            "  <tbody>\n    <tr>\n      <th>0</th>\n      <td>alice</td>\n      <td>{A:14}</td>\n"
            "    </tr>\n  </tbody>\n</table>",
        ),
        negative_examples=(
            "<table><tr><th>user</th><th>password</th></tr><tr><td>alice</td><td>****</td></tr></table>",
            "<table><tr><th>password</th><th>user</th></tr><tr><td>yes</td><td>{A:14}</td></tr></table>",
        ),
    ),
    Rule(
        "dataframe-column-credential",
        "Credential in a table",
        # pandas' DataFrame as print(df) shows it: values aligned under their column's name.
        r"(?<=[ \t])(?P<secret>[^\s<\"]{3,200})(?=[ \t<\"\r\n]|$)",
        # A header's name naming a credential, then two spaces or the line's end (not
        # two spaces before it: indentation is everywhere, and Hyperscan would stop at each).
        rf"{_HEADER_WORDS}\w*(?:  |\n)",
        ignore_case=True,
        multiline=True,
        context_before=400,
        config_only=True,
        check=_aligned_value,
        examples=(
            "    user        password  port\n0  alice  {A:14}  5432\n1    bob    {A:12}  5432",
            "  service                           api_key\n0    maps  {A:32}",
        ),
        negative_examples=(
            "    user  password\n0  alice  ********",
            "  word  token_count\n0  the  {A:14}",
        ),
    ),
    Rule(
        "series-credential",
        "Credential in a table",
        # pandas' Series, as df.iloc[0] shows a row: one "name   value" line each.
        r"(?m)^(?P<key>[^\s\n][^\n]{0,60}?)[ ]{2,}(?P<secret>\S{3,200})[ \t]*$",
        r"dtype: [a-z]",
        multiline=True,
        context_before=3000,
        check=_series_value,
        examples=(
            "user                alice\npassword    {A:14}\nport                 5432\nName: 0, dtype: object",
            "service                         maps\napi_key    {A:32}\ndtype: object",
        ),
        negative_examples=(
            "user           alice\npassword    ********\nName: 0, dtype: object",
            "user           alice\npassword    {A:14}\n\nsomething else\ndtype: object",
        ),
    ),
)
