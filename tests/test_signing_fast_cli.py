"""``jupyter-qsecure verify`` and ``payload`` import only what they need (no traitlets, no
Jupyter application, no other capability) and answer exactly as the full command line."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from qsecure_cli import _own_singletons

from jupyter_qsecure.cli.app import main as full_main
from jupyter_qsecure.cli.fast import fast_main

HEAVY = (
    "traitlets",
    "jupyter_core.application",
    "jupyter_server",
    "tornado",
    "asyncio",
    "jupyter_qsecure.guard",
    "jupyter_qsecure.secrets",
    "jupyter_qsecure.provenance",
    "jupyter_qsecure.config",
    "nbformat",
    # a verification of an Ed25519 signature needs none of these either
    "dataclasses",
    "rfc8785",
    "jupyter_core",
    "platformdirs",
    "subprocess",
    "tempfile",
    "cryptography",
)


@pytest.fixture
def signed(tmp_path: Path) -> dict[str, Path]:
    key = tmp_path / "id"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, timeout=60
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1", id="a")])
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    from jupyter_qsecure.signing.signatures import sign_notebook

    data = json.loads(path.read_text())
    sign_notebook(data, key, principal="ada@lab.example")
    path.write_text(json.dumps(data))
    public = key.with_suffix(".pub").read_text().split()
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"ada@lab.example {public[0]} {public[1]}\nbroken line\n")
    return {"nb": path, "allowed": allowed}


@pytest.mark.parametrize("command", ["verify", "payload"])
def test_verify_and_payload_import_only_what_they_need(
    signed: dict[str, Path], command: str
) -> None:
    args = [command, str(signed["nb"])] + (
        ["--allowed-signers", str(signed["allowed"])]
        if command == "verify"
        else ["--signature", "0"]
    )
    probe = (
        "import sys, io, contextlib\n"
        "from jupyter_qsecure.cli import main\n"
        "out = io.TextIOWrapper(io.BytesIO())\n"
        "with contextlib.redirect_stdout(out):\n"
        f"    code = main({args!r})\n"
        f"heavy = sorted(m for m in sys.modules if m in {HEAVY!r} "
        f"or m.startswith({tuple(h + '.' for h in HEAVY)!r}))\n"
        "print(code, heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "0 []", result.stdout + result.stderr


#: Standard modules the fast path's own modules used to import at load time though only a
#: type checker or a rare path needs them (``typing``: annotations and records, see
#: ``jupyter_qsecure/_records.py``; ``calendar`` and ``locale``: a UTC ``valid-after`` time
#: in allowed_signers; ``contextlib``: replacing a file). Each cost every verification its
#: start-up; none may come back.
STARTUP_ONLY = ("typing", "contextlib", "calendar", "locale")


@pytest.mark.parametrize("command", ["verify", "payload"])
def test_verify_and_payload_load_no_module_kept_for_rare_paths(
    signed: dict[str, Path], command: str
) -> None:
    """The program as a shell runs it (its output captured without ``contextlib``), under
    an interpreter that has not loaded any of :data:`STARTUP_ONLY` at start."""
    args = [command, str(signed["nb"])] + (
        ["--allowed-signers", str(signed["allowed"])]
        if command == "verify"
        else ["--signature", "0"]
    )
    probe = (
        "import io, sys\n"
        f"before = sorted(m for m in {STARTUP_ONLY!r} if m in sys.modules)\n"
        "from jupyter_qsecure.cli import main\n"
        "sys.stdout = io.TextIOWrapper(io.BytesIO())\n"
        f"code = main({args!r})\n"
        f"after = sorted(m for m in {STARTUP_ONLY!r} if m in sys.modules)\n"
        "sys.stdout = sys.__stdout__\n"
        "print(code, before, after)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "0 [] []", result.stdout + result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["verify", "{nb}", "--allowed-signers", "{allowed}"],
        ["verify", "{nb}", "--allowed-signers={allowed}", "--format", "json", "--require", "2"],
        ["verify", "{nb}", "--require-role", "reviewer", "--grant", "reviewer=*"],
        ["verify", "{nb}", "--require-role", "boss"],
        ["verify", "{nb}", "--grant", "nope"],
        ["verify", "{nb}", "--require", "many"],
        ["verify", "{nb}", "--format", "xml"],
        ["verify", "{missing}"],
        ["verify"],
        ["payload", "{nb}"],
        ["payload", "{nb}", "--signature", "3"],
        ["payload", "{nb}", "--signature=0"],
    ],
)
def test_the_fast_path_answers_as_the_full_command_line(
    signed: dict[str, Path], args: list[str], capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    argv = [
        a.format(
            nb=signed["nb"], allowed=signed["allowed"], missing=signed["nb"].with_name("x.ipynb")
        )
        for a in args
    ]
    fast = fast_main(argv)
    fast_out = capfdbinary.readouterr()
    assert gc.isenabled()  # the fast path pauses the cyclic collector only while it runs
    with _own_singletons():
        full = full_main(argv)
    full_out = capfdbinary.readouterr()
    assert fast is not None
    assert fast == full
    assert fast_out.out == full_out.out
    # errors are worded the same way, where traitlets does not word them itself
    if fast == 2 and b"--" not in fast_out.err:
        assert fast_out.err == full_out.err
    assert b"Traceback" not in fast_out.err


TRUSTING = '[signing]\nallowed_signers = "../allowed_signers"\n'


def _both(argv: list[str], capfdbinary: pytest.CaptureFixture[bytes]) -> tuple[int, bytes, bytes]:
    """Run ``argv`` through the fast path and the full command line; both must answer
    alike (exit code, output, and errors worded the same); the fast path's answer."""
    fast = fast_main(argv)
    fast_out = capfdbinary.readouterr()
    with _own_singletons():
        full = full_main(argv)
    full_out = capfdbinary.readouterr()
    assert fast is not None
    assert (fast, fast_out.out, fast_out.err) == (full, full_out.out, full_out.err)
    assert b"Traceback" not in fast_out.err
    return fast, fast_out.out, fast_out.err


@pytest.mark.parametrize(
    ("text", "modes", "code", "said"),
    [
        (TRUSTING, (0o600, 0o700), 0, b""),
        (TRUSTING, (0o666, 0o700), 2, b"policy file"),
        (TRUSTING, (0o600, 0o777), 2, b"policy folder"),
        ("[signing\n", (0o600, 0o700), 2, b"not valid TOML"),
        ('[signing]\nrequire = "two"\n', (0o600, 0o700), 2, b"signing.require: expected"),
        ("[guard]\nenabled = true\n", (0o600, 0o700), 1, b"no allowed_signers file"),
        (None, (0o600, 0o700), 2, b"$QSECURE_CONFIG names this file, which does not exist"),
    ],
)
def test_the_policy_is_read_as_the_full_command_line_reads_it(
    signed: dict[str, Path],
    text: str | None,
    modes: tuple[int, int],
    code: int,
    said: bytes,
    monkeypatch: pytest.MonkeyPatch,
    capfdbinary: pytest.CaptureFixture[bytes],
) -> None:
    """From the same trusted file, refused when others could have changed it."""
    folder = signed["nb"].parent / "policy"
    folder.mkdir()
    policy = folder / "qsecure.toml"
    if text is not None:
        policy.write_text(text)
        policy.chmod(modes[0])
    folder.chmod(modes[1])
    monkeypatch.setenv("QSECURE_CONFIG", str(policy))
    answer, _, err = _both(["verify", str(signed["nb"])], capfdbinary)
    if modes != (0o600, 0o700):
        assert b"not used: " in err and b"writable by others" in err
    assert answer == code
    assert said in err


def test_the_policy_is_found_in_the_jupyter_config_folders(
    signed: dict[str, Path],
    jp_environ: None,
    jp_config_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfdbinary: pytest.CaptureFixture[bytes],
) -> None:
    monkeypatch.delenv("QSECURE_CONFIG", raising=False)
    (jp_config_dir / "qsecure.toml").write_text(
        f'[signing]\nallowed_signers = "{signed["allowed"]}"\n'
    )
    assert _both(["verify", str(signed["nb"])], capfdbinary)[0] == 0


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"[" * 100_000 + b"]" * 100_000, b"\xff\xfe", b'{"nbformat": 3}'],
    ids=["malformed", "nested", "not utf-8", "nbformat 3"],
)
def test_a_file_that_is_not_a_notebook_is_explained_alike(
    tmp_path: Path, content: bytes, capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    path = tmp_path / "bad.ipynb"
    path.write_bytes(content)
    for command in ("verify", "payload"):
        answer, _, err = _both([command, str(path)], capfdbinary)
        assert answer == 2
        assert err.startswith(f"jupyter qsecure: error: {path}: not ".encode()) or b"not a" in err


def test_anything_else_goes_to_the_full_command_line() -> None:
    assert fast_main(["verify", "nb.ipynb", "--help"]) is None
    assert fast_main(["verify", "nb.ipynb", "--unknown", "x"]) is None
    assert fast_main(["scan", "x"]) is None
    assert fast_main([]) is None


@pytest.mark.parametrize(
    "program",
    [
        [str(Path(sys.executable).with_name("jupyter-qsecure"))],
        [sys.executable, "-m", "jupyter_qsecure"],
        [sys.executable, "-m", "jupyter_qsecure.cli"],
    ],
    ids=["script", "-m jupyter_qsecure", "-m jupyter_qsecure.cli"],
)
def test_the_program_ends_only_after_all_its_output_is_written(
    signed: dict[str, Path], program: list[str], tmp_path: Path
) -> None:
    """``verify`` and ``payload`` end the process without the interpreter's teardown:
    what they wrote still reaches a pipe whole (here far more than a pipe holds), with
    their own exit code; other subcommands exit as usual."""
    big = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(f"x = {n}\n" + "# " + "y" * 2_000, id=f"c{n}")
            for n in range(300)
        ]
    )
    path = tmp_path / "big.ipynb"
    nbformat.write(big, path)
    from jupyter_qsecure.signing.canonical import notebook_payload

    payload = subprocess.run([*program, "payload", str(path)], capture_output=True, timeout=60)
    assert (payload.returncode, payload.stderr) == (0, b"")
    assert payload.stdout == notebook_payload(json.loads(path.read_text()))
    assert len(payload.stdout) > 600_000

    verify = [*program, "verify", str(signed["nb"]), "--allowed-signers", str(signed["allowed"])]
    refused = subprocess.run(
        [*verify, "--require", "2", "--format", "json"], capture_output=True, timeout=60
    )
    assert refused.returncode == 1
    assert json.loads(refused.stdout)[0]["meets_policy"] is False
    assert b"warning" in refused.stderr  # the malformed allowed_signers line, named
    usage = subprocess.run([*program, "verify"], capture_output=True, timeout=60)
    assert usage.returncode == 2 and b"name at least one notebook" in usage.stderr
    full = subprocess.run([*program, "rules", "--check"], capture_output=True, timeout=120)
    assert full.returncode == 0, full.stderr[-2000:]


HOSTS = {
    "runpy.run_module": (
        "import atexit, runpy, sys\n"
        "atexit.register(print, 'host teardown ran', flush=True)\n"
        "sys.argv = ['jupyter-qsecure', *{args!r}]\n"
        "try:\n"
        "    runpy.run_module('jupyter_qsecure', run_name='__main__', alter_sys=True)\n"
        "except SystemExit as stop:\n"
        "    print('host caught exit', stop.code, flush=True)\n"
        "print('host continues', flush=True)\n"
    ),
    "entry point called by a host": (
        "import sys\n"
        "from jupyter_qsecure.cli import console_main\n"
        "def run():\n"
        "    sys.argv = ['jupyter-qsecure', *{args!r}]\n"
        "    try:\n"
        "        console_main()\n"
        "    except SystemExit as stop:\n"
        "        print('host caught exit', stop.code, flush=True)\n"
        "run()\n"
        "print('host continues', flush=True)\n"
    ),
}


@pytest.mark.parametrize("host", list(HOSTS))
@pytest.mark.parametrize("command", ["verify", "payload"])
def test_a_host_running_the_program_in_its_own_process_survives_it(
    signed: dict[str, Path], host: str, command: str
) -> None:
    """IPython's ``%run -m jupyter_qsecure verify ...`` (runpy in a kernel), a test runner
    calling the entry point, a profiler: the fast path's exit without teardown is for the
    program's own process only; a host gets SystemExit and goes on (it was ended with it:
    a kernel died, a profile was never printed)."""
    args = [command, str(signed["nb"])] + (
        ["--allowed-signers", str(signed["allowed"])] if command == "verify" else []
    )
    result = subprocess.run(
        [sys.executable, "-c", HOSTS[host].format(args=args)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "host caught exit 0\nhost continues\n" in result.stdout, result.stdout[-300:]
    if host == "runpy.run_module":
        assert result.stdout.endswith("host continues\nhost teardown ran\n")


def test_a_profiler_running_the_program_reports(signed: dict[str, Path]) -> None:
    verify = ["verify", str(signed["nb"]), "--allowed-signers", str(signed["allowed"])]
    result = subprocess.run(
        [sys.executable, "-m", "cProfile", "-m", "jupyter_qsecure", *verify],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "function calls" in result.stdout


@pytest.mark.parametrize(
    "program",
    [
        [str(Path(sys.executable).with_name("jupyter-qsecure"))],
        [sys.executable, "-c", "from jupyter_qsecure.cli import console_main; console_main()"],
        [sys.executable, "-m", "jupyter_qsecure"],
        [sys.executable, "-m", "jupyter_qsecure.cli"],
    ],
    ids=["script", "python -c", "-m jupyter_qsecure", "-m jupyter_qsecure.cli"],
)
def test_the_program_itself_still_ends_without_teardown(
    signed: dict[str, Path], program: list[str], tmp_path: Path
) -> None:
    """As its own process (a console script's or ``python -m``'s top level), ``verify``
    still ends once its output is flushed: an exit handler registered at start-up does not
    run (the full command line's does)."""
    (tmp_path / "sitecustomize.py").write_text(
        "import atexit\natexit.register(print, 'teardown ran', flush=True)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    verify = [*program, "verify", str(signed["nb"])]
    fast = subprocess.run(
        [*verify, "--allowed-signers", str(signed["allowed"])],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert fast.returncode == 0, fast.stderr
    assert "meets the policy" in fast.stdout and "teardown ran" not in fast.stdout
    full = subprocess.run([*verify, "--help"], capture_output=True, text=True, timeout=120, env=env)
    assert "teardown ran" in full.stdout


def test_python_dash_i_still_gets_its_prompt(signed: dict[str, Path]) -> None:
    """``python -i -m jupyter_qsecure verify ...`` asks for a prompt after the program."""
    verify = ["verify", str(signed["nb"]), "--allowed-signers", str(signed["allowed"])]
    result = subprocess.run(
        [sys.executable, "-i", "-m", "jupyter_qsecure", *verify],
        input="print('prompt ' + 'reached')\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "meets the policy" in result.stdout
    assert "prompt reached" in result.stdout, result.stderr[-500:]


@pytest.mark.parametrize("command", ["payload", "verify", "rules"])
def test_output_that_cannot_be_written_is_an_error_not_a_traceback(
    signed: dict[str, Path], command: str, tmp_path: Path
) -> None:
    """A full disk (``/dev/full``) is named with exit code 2; a reader that went away
    (``| head -c 10``) ends the program quietly with exit code 1. Never a traceback: in
    the fast path (verify, payload) and the full command line (rules) alike."""
    program = str(Path(sys.executable).with_name("jupyter-qsecure"))
    big = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("#" + "y" * 3_000, id=f"c{n}") for n in range(200)]
    )
    path = tmp_path / "big.ipynb"
    nbformat.write(big, path)
    args = (
        [program, "payload", str(path)]
        if command == "payload"
        else [program, "rules"]
        if command == "rules"
        else [
            program,
            "verify",
            str(signed["nb"]),
            "--allowed-signers",
            str(signed["allowed"]),
            "--format",
            "json",
        ]
    )
    with open("/dev/full", "wb") as full:
        result = subprocess.run(args, stdout=full, stderr=subprocess.PIPE, timeout=60)
    assert result.returncode == 2, result.stderr
    assert b"cannot write the output: No space left on device" in result.stderr
    assert b"Traceback" not in result.stderr and b"Exception ignored" not in result.stderr

    if command == "payload":
        reader = subprocess.Popen(
            ["head", "-c", "10"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert reader.stdin is not None
        writer = subprocess.run(args, stdout=reader.stdin, stderr=subprocess.PIPE, timeout=60)
        reader.stdin.close()
        assert reader.stdout is not None and len(reader.stdout.read()) == 10
        reader.stdout.close()
        assert reader.wait(timeout=30) == 0
        assert writer.returncode == 1
        assert writer.stderr == b""


@pytest.mark.parametrize("command", ["verify", "payload"])
def test_a_key_repeated_in_a_signed_notebook_is_refused_alike(
    signed: dict[str, Path], command: str, capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    """Code written before the signed source under a second "source" key: Python and
    JavaScript keep the last (the signature verifies), other readers the first, so what
    the reviewer sees of the notebook would depend on the tool."""
    text = signed["nb"].read_text()
    assert text.count('"source": ["1 + 1"]') == 1
    signed["nb"].write_text(
        text.replace(
            '"source": ["1 + 1"]', '"source": "import os; os.remove(x)", "source": ["1 + 1"]'
        )
    )
    argv = [command, str(signed["nb"])]
    if command == "verify":
        argv += ["--allowed-signers", str(signed["allowed"])]
    answer, out, err = _both(argv, capfdbinary)
    assert (answer, out) == (2, b"")
    assert b'the key "source" appears twice in one object' in err
    assert str(signed["nb"]).encode() in err
