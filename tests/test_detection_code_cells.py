"""Code cells that are text: a cell magic whose body is not Python, a cell that does not
parse as Python, and comments, shell lines and magics inside Python code. There an unquoted
``password = value`` is a value, as in Markdown. In Python code it stays a variable when
the name can exist as the cell runs: when a code cell of the notebook binds it, or it is
a builtin; a name that nothing binds is a value written without its quotes."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import code, notebook

from jupyter_qsecure.guard import Scanner
from jupyter_qsecure.guard.cellcache import CellCache
from jupyter_qsecure.guard.codetext import is_text_line, source_is_text
from jupyter_qsecure.guard.rule import expand

SCANNER = Scanner()
#: A typed password (letters and digits, no credential shape of its own).
PASSWORD = "Lab" + expand("{a:9}")
TOKEN = expand("{A:12}7{A:30}")
HEX = "b" + expand("{H:31}")
#: Joined at run time: the repository scan would read that keyword argument, beside a
#: user's, as a connection string's.
KWARG = "pass" + "word"


def _values(source: str, metadata: dict[str, object] | None = None) -> list[str]:
    nb = notebook(code(source), metadata=metadata)
    findings = SCANNER.scan_notebook(nb).findings
    return [f.location.field for f in findings]


@pytest.mark.parametrize(
    "source",
    [
        f"%%writefile app.ini\n[db]\nuser = lab\npassword = {PASSWORD}\n",
        f"%%bash\nDB_PASSWORD={PASSWORD} ./migrate.sh\n",
        f'The default password for the user "lab" is "{PASSWORD}".\n',
        f"echo \"The password is '{PASSWORD}'\"\n",
        f'def connect():\n    """Log in.\n\n    The default password is "{PASSWORD}".\n    """\n',
        f"[support]\nUsername=lab\nPassword={PASSWORD}\n",
        f"import os\n# DB_PASSWORD={PASSWORD}\nconnect(os.environ['DB_PASSWORD'])\n",
        f"!sshpass -p {PASSWORD} ssh lab@host\n",
        f'notes = """\n{TOKEN}\n"""\n',
        f"Please use the following password to proceed:\n\n{HEX}\n",
    ],
    ids=[
        "writefile",
        "bash",
        "prose",
        "echo",
        "docstring",
        "ini",
        "comment",
        "shell",
        "bare",
        "below-label",
    ],
)
def test_text_in_a_code_cell_is_scanned_as_text(source: str) -> None:
    assert _values(source) == ["source"]


@pytest.mark.parametrize(
    "source",
    [
        "password = getpass()\n# password = getpass()\n",
        "# api_key = os.environ['API_KEY']\n",
        "x = 1  # password = open_sesame is code after code\n",
        # Half typed (an autosave while the cell is edited): its Python lines stay code.
        f"db = connect(\n    user=lab_user,\n    {KWARG}=hunter_pw)\nprint(\n",
        'settings = {\n    "password": hunter_pw,\n',
        "password = open_sesame\nprint(\n",
    ],
    ids=[
        "comment-call",
        "comment-reference",
        "trailing-comment",
        "half-typed-call",
        "half-typed-dict",
        "half-typed-assignment",
    ],
)
def test_python_code_keeps_its_variables(source: str) -> None:
    assert _values(source) == []


#: Nosey Parker's examples of unquoted passwords (and more lines like them), each valid
#: Python in which the value is a name that no cell binds: it cannot be a variable.
UNBOUND = [
    "user = Aladdin\npassword = open_sesame\n",
    "user = Aladdin\n// some comment\n// some other comment\npassword = open_sesame\n",
    "REACT_APP_AUTH_PASS=whiteduke",
    "REACT_APP_AUTH_PASSWORD=whiteduke",
    "    REACT_APP_AUTH_PASSWORD=whiteduke    # some comment",
    "%%time\npassword = open_sesame\n",
    "runs = [run]\npassword = open_sesame\n",
    "%matplotlib inline\nfiles = !ls\nimport os\npassword = open_sesame\n",
    "password = db_pw\n",
    f"db = connect({KWARG}=hunter2)\n",
    'settings = {"password": hunter2}\n',
]
UNBOUND_IDS = [
    "np-two-lines",
    "np-comment-lines",
    "np-pass",
    "np-password",
    "np-indented",
    "time-magic",
    "after-code",
    "after-magics",
    "short-name",
    "keyword-argument",
    "dict-value",
]


@pytest.mark.parametrize("as_list", [False, True], ids=["string", "list"])
@pytest.mark.parametrize("source", UNBOUND, ids=UNBOUND_IDS)
def test_a_name_no_cell_binds_is_a_value(source: str, as_list: bool) -> None:
    cell = code(source.splitlines(keepends=True) if as_list else source)
    findings = SCANNER.scan_notebook(notebook(code("import os\n"), cell)).findings
    assert [(f.rule, f.location.cell_index) for f in findings] == [("password-env", 1)]


#: A cell binding ``open_sesame``, in every way Python has, before or after the cell that
#: reads it (cells run in any order), and ways a name can appear that no statement shows.
BINDERS = [
    "open_sesame = getpass()\n",
    "from vault import open_sesame\n",
    "import open_sesame\n",
    "def connect(open_sesame):\n    password = open_sesame\n",
    "for open_sesame in candidates:\n    pass\n",
    "with open('pw.txt') as open_sesame:\n    pass\n",
    "try:\n    pass\nexcept OSError as open_sesame:\n    pass\n",
    "[check(x) for open_sesame in candidates]\n",
    "if (open_sesame := read()):\n    pass\n",
    "def setup():\n    global open_sesame\n    open_sesame = read()\n",
    "class open_sesame:\n    pass\n",
    "match reply:\n    case {'pw': open_sesame}:\n        pass\n",
    "open_sesame = !cat pw.txt\n",
    "%%capture open_sesame\nrun()\n",
    "from creds import *\n",
    "%run creds.py\n",
    "%store -r open_sesame\n",
    "exec(open('creds.py').read())\n",
    "globals()['open_' + 'sesame'] = read()\n",
    "def half(\n    open_sesame\n",
    "from creds import *\nprint(\n",
]
BINDER_IDS = [
    "assigned",
    "imported",
    "module",
    "parameter",
    "for",
    "with",
    "except",
    "comprehension",
    "walrus",
    "global",
    "class",
    "match",
    "shell-output",
    "capture",
    "star-import",
    "run-magic",
    "store-magic",
    "exec",
    "globals",
    "half-typed-elsewhere",
    "half-typed-star-import",
]


@pytest.mark.parametrize("later", [False, True], ids=["before", "after"])
@pytest.mark.parametrize("binder", BINDERS, ids=BINDER_IDS)
def test_a_name_a_cell_binds_is_a_variable(binder: str, later: bool) -> None:
    reader = code("user = Aladdin\npassword = open_sesame\n")
    cells = [reader, code(binder)] if later else [code(binder), reader]
    assert SCANNER.scan_notebook(notebook(*cells)).findings == []
    assert len(SCANNER.scan_notebook(notebook(reader)).findings) == 1  # alone: a value


@pytest.mark.parametrize("source", ["password = memoryview\n", "password = _i12\n"])
def test_names_the_kernel_defines_are_variables(source: str) -> None:
    assert _values(source) == []
    assert len(SCANNER.scan_text(source, path=Path("notes.txt")).findings) == 1


@pytest.mark.parametrize(
    "cells",
    [
        ["password = getpass()\n"],
        ["db_pw = getpass()\n", "password = db_pw\n"],
        ['token = os.environ["API_TOKEN"]\n'],
        ["secret = None\n", "secret = True\n"],
        ["password = config.password\n"],
        ["for password in passwords:\n    check(password)\n"],
        ["password = password_input\n", "password_input = input()\n"],
        ["password = password_input\n"],
        ["def connect(host, password):\n    return open_db(host, password=password)\n"],
        ["from settings import API_KEY\napi_key = API_KEY\n"],
        ["key = id\n"],
        ["if password == open_sesame:\n    pass\n"],
        ["password: open_sesame\n"],
    ],
    ids=[
        "getpass",
        "earlier-cell",
        "environ",
        "constants",
        "attribute",
        "for",
        "later-cell",
        "self-describing",
        "parameter",
        "imported-constant",
        "builtin",
        "comparison",
        "annotation",
    ],
)
def test_variables_stay_quiet(cells: list[str]) -> None:
    assert SCANNER.scan_notebook(notebook(*[code(source) for source in cells])).findings == []


def test_each_scan_reads_the_notebook_it_scans() -> None:
    cache, path = CellCache(), Path("analysis.ipynb")
    reader = code("password = open_sesame\n")
    quiet = notebook(code("open_sesame = getpass()\n"), reader)
    assert SCANNER.scan_notebook(quiet, path=path, cells=cache).findings == []
    flagged = notebook(code("import os\n"), reader)
    assert len(SCANNER.scan_notebook(flagged, path=path, cells=cache).findings) == 1
    assert SCANNER.scan_notebook(quiet, path=path, cells=cache).findings == []


def test_another_kernel_language_is_not_parsed_as_python() -> None:
    r_notebook: dict[str, object] = {
        "kernelspec": {"name": "ir", "language": "R", "display_name": "R"}
    }
    source = "# password = open_sesame\nruns %>% head()\n"
    assert _values(source, r_notebook) == []
    assert _values(source) == ["source"]  # a comment of Python
    assert _values("password = open_sesame\n", r_notebook) == []


def test_the_helpers() -> None:
    assert source_is_text("%%bash\necho hi\n")
    assert not source_is_text("%%capture\nx = 1\n")
    assert not source_is_text("The password is 'x'.\n")  # a line of text, in a cell of code
    assert is_text_line("  # comment") and is_text_line("!ls") and is_text_line("%env A=1")
    assert is_text_line("The password is 'x'.") and is_text_line("echo hi there")
    for line in ("x = 1  # comment", "    if ready:", "f(a,", "b=c)", '"key": value,', ""):
        assert not is_text_line(line), line


def test_many_lines_binding_one_name_elsewhere() -> None:
    readers = [code(f"user = lab_{number}\npassword = db_pw\n") for number in range(24)]
    bound = notebook(*readers, code("db_pw = getpass()\n"))
    assert SCANNER.scan_notebook(bound).findings == []
    assert len(SCANNER.scan_notebook(notebook(*readers)).findings) == 24
