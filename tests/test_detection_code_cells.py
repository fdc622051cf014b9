"""Code cells that are text: a cell magic whose body is not Python, a cell that does not
parse as Python, and comments, shell lines and magics inside Python code. There an unquoted
``password = value`` is a value, as in Markdown; in Python code it stays a variable."""

from __future__ import annotations

import pytest
from conftest import code, notebook

from jupyter_qsecure.guard import Scanner
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
        "user = Aladdin\npassword = open_sesame\n",
        "%%time\npassword = open_sesame\n",
        "password = getpass()\n# password = getpass()\n",
        "# api_key = os.environ['API_KEY']\n",
        "x = 1  # password = open_sesame is code after code\n",
        "runs = [run]\npassword = open_sesame\n",
        # Half typed (an autosave while the cell is edited): its Python lines stay code.
        f"db = connect(\n    user=lab_user,\n    {KWARG}=hunter_pw)\nprint(\n",
        'settings = {\n    "password": hunter_pw,\n',
        "user = lab\n// not Python\npassword = open_sesame\n",
        "    DB_PASSWORD=open_sesame    # indented\n",
    ],
    ids=[
        "python",
        "time-magic",
        "comment-call",
        "comment-reference",
        "trailing-comment",
        "list",
        "half-typed-call",
        "half-typed-dict",
        "not-python-elsewhere",
        "indented",
    ],
)
def test_python_code_keeps_its_variables(source: str) -> None:
    assert _values(source) == []


def test_another_kernel_language_is_not_parsed_as_python() -> None:
    r_notebook = {"kernelspec": {"name": "ir", "language": "R", "display_name": "R"}}
    source = "# password = open_sesame\nruns %>% head()\n"
    assert _values(source, r_notebook) == []
    assert _values(source) == ["source"]  # a comment of Python


def test_the_helpers() -> None:
    assert source_is_text("%%bash\necho hi\n")
    assert not source_is_text("%%capture\nx = 1\n")
    assert not source_is_text("The password is 'x'.\n")  # a line of text, in a cell of code
    assert is_text_line("  # comment") and is_text_line("!ls") and is_text_line("%env A=1")
    assert is_text_line("The password is 'x'.") and is_text_line("echo hi there")
    for line in ("x = 1  # comment", "    if ready:", "f(a,", "b=c)", '"key": value,', ""):
        assert not is_text_line(line), line
