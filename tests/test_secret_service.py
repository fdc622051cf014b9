"""The keyring provider against the real Secret Service API: gnome-keyring on a private
D-Bus session bus (``dbus-run-session``), with its home, data and runtime directories in
the test's temporary directory, so the user's own keyring is never touched.

Every command (`jupyter qsecure secrets ...`, `jupyter execute` through the provisioner,
small Python probes) runs as a real process on that bus. Secret values travel on standard
input only, and are asserted absent from every output captured and every file written."""

from __future__ import annotations

import hashlib
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import nbformat
import pytest

BIN = Path(sys.executable).parent
JUPYTER = str(BIN / "jupyter")
NAME = "IBM_QUANTUM_TOKEN"
REF = "keyring://qsecure/ibm-quantum"
POLICY = f"""
[secrets.{NAME}]
source = "{REF}"
notebooks = ["experiments/**/*.ipynb"]
kernels = ["python3"]

[injection]
# A locked collection makes gnome-keyring try its unlock prompter first (which fails with
# no display); leave that plenty of time on a loaded machine so the reason stays "locked".
timeout = 60
"""
SECRET_SERVICE = "keyring.backends.SecretService.Keyring"
TIMEOUT = 120  # seconds, for any one command (a loaded CI machine is slow, never stuck)

_MISSING = [tool for tool in ("dbus-run-session", "gnome-keyring-daemon") if not shutil.which(tool)]
pytestmark = pytest.mark.skipif(
    bool(_MISSING),
    reason=f"needs {' and '.join(_MISSING)} on PATH to run a real Secret Service "
    "(Debian: apt-get install dbus gnome-keyring)",
)

# Runs inside `dbus-run-session`: reads the unlock password from the first line of stdin,
# starts gnome-keyring-daemon in the foreground (so this shell is its parent and reaps it),
# reports its pid and the bus address, and holds the session until stdin is closed.
DRIVER = r"""
IFS= read -r password || exit 3
printf '%s' "$password" | gnome-keyring-daemon --foreground --unlock --components=secrets >/dev/null &
daemon=$!
password=
trap 'kill "$daemon" 2>/dev/null; wait "$daemon"' EXIT
echo "ready $daemon $DBUS_SESSION_BUS_ADDRESS"
cat >/dev/null
"""

# Waits until the daemon we started (and no D-Bus-activated stand-in) owns the Secret Service.
PROBE_READY = r"""
import sys, time
from jeepney import DBusAddress, new_method_call
from jeepney.io.blocking import open_dbus_connection

bus = DBusAddress("/org/freedesktop/DBus", bus_name="org.freedesktop.DBus", interface="org.freedesktop.DBus")
name = ("org.freedesktop.secrets",)
deadline = time.monotonic() + float(sys.argv[2])
with open_dbus_connection(bus="SESSION") as connection:
    while True:
        (owned,) = connection.send_and_get_reply(new_method_call(bus, "NameHasOwner", "s", name), timeout=5).body
        if owned:
            (pid,) = connection.send_and_get_reply(new_method_call(bus, "GetConnectionUnixProcessID", "s", name), timeout=5).body
            sys.exit(0 if pid == int(sys.argv[1]) else f"org.freedesktop.secrets belongs to pid {pid}, not to our daemon")
        if time.monotonic() > deadline:
            sys.exit("gnome-keyring-daemon did not register org.freedesktop.secrets in time")
        time.sleep(0.05)
"""

PROBE_BACKEND = r"""
import keyring
from jupyter_qsecure.secrets.providers.keyring import describe_backend, open_keyring

chosen = keyring.get_keyring()
print("keyring.get_keyring():", describe_backend(chosen))
for backend in getattr(chosen, "backends", [chosen]):
    print("  chained:", describe_backend(backend))
print("open_keyring():", describe_backend(open_keyring()))
"""

# Reads the item through the Secret Service API itself (not through keyring); the expected
# value comes on stdin and is only compared, never printed.
PROBE_ITEM = r"""
import sys
from contextlib import closing
import secretstorage

expected = sys.stdin.read()
with closing(secretstorage.dbus_init()) as connection:
    collection = secretstorage.get_default_collection(connection)
    print("collection:", collection.get_label(), "locked:", collection.is_locked())
    items = list(collection.search_items({"service": sys.argv[1], "username": sys.argv[2]}))
    print("items:", len(items))
    for item in items:
        print("item:", item.get_label(), "matches:", item.get_secret().decode() == expected)
"""

# Locks the default collection (Lock needs no prompt), or only reports whether it is locked.
PROBE_LOCK = r"""
import sys
from contextlib import closing
import secretstorage

with closing(secretstorage.dbus_init()) as connection:
    collection = secretstorage.get_default_collection(connection)
    if sys.argv[1:] == ["lock"]:
        collection.lock()
    print("locked:", collection.is_locked())
"""


@dataclass
class SecretServiceSession:
    """A private session bus with an unlocked gnome-keyring, and the environment to use it."""

    root: Path
    env: dict[str, str]
    log: Path
    daemon_pid: int = 0
    captured: list[str] = field(default_factory=list)

    def run(
        self,
        args: list[str],
        *,
        stdin: str = "",
        env: dict[str, str] | None = None,
        timeout: float = TIMEOUT,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command on the session's bus, in the notebook root; keep its output."""
        result = subprocess.run(
            args,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**self.env, **(env or {})},
            cwd=self.root,
        )
        self.captured += [result.stdout, result.stderr]
        return result

    def python(self, code: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        """A Python probe (the project's interpreter) on the session's bus."""
        result = self.run([sys.executable, "-c", code, *args], stdin=stdin)
        assert result.returncode == 0, result.stderr
        return result

    def set_secret(self, value: str) -> None:
        """`jupyter qsecure secrets set NAME`, the value piped on stdin."""
        result = self.run([JUPYTER, "qsecure", "secrets", "set", NAME], stdin=value + "\n")
        assert result.returncode == 0, result.stderr
        assert f"stored {NAME} in {REF}" in result.stdout

    def execute(self, notebook: str) -> tuple[subprocess.CompletedProcess[str], str]:
        """`jupyter execute --inplace` through the provisioner; the outputs as text."""
        result = self.run(
            [JUPYTER, "execute", "--inplace", "--timeout=60", "--startup_timeout=60", notebook],
            env={
                "JUPYTER_DEFAULT_PROVISIONER_NAME": "qsecure-provisioner",
                "QSECURE_NOTEBOOK": notebook,
            },
            timeout=TIMEOUT + 60,
        )
        assert result.returncode == 0, result.stderr
        return result, outputs_text(self.root / notebook)

    def assert_never_shown(self, value: str) -> None:
        """The value is in no output captured and in no file under the test's directory
        (the notebooks, the IPython history, the keyring files, the session log)."""
        assert not [text for text in self.captured if value in text]
        encoded = value.encode()
        base = self.root.parent
        leaked = [p for p in base.rglob("*") if p.is_file() and encoded in p.read_bytes()]
        assert not leaked, (
            f"the value is in plain text in {[str(p.relative_to(base)) for p in leaked]}"
        )


def _read_line(stream: IO[bytes], timeout: float) -> str:
    """One line from a pipe, or '' at end of file or after ``timeout`` seconds."""
    fd = stream.fileno()
    data = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while b"\n" not in data:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                break
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            data += chunk
    return data.decode(errors="replace")


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie no longer counts)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


@pytest.fixture
def session(tmp_path: Path) -> Iterator[SecretServiceSession]:
    """gnome-keyring-daemon under `dbus-run-session`, unlocked with a random password; torn
    down (daemon killed and reaped, bus ended) after the test."""
    home = tmp_path / "home"
    runtime = tmp_path / "runtime"
    root = tmp_path / "root"
    for directory in (home, runtime, root):
        directory.mkdir(mode=0o700)
    runtime.chmod(0o700)
    # A clean environment: no display (an unlock prompt must fail, never wait for a person),
    # no keyring configuration, no Jupyter or IPython directories of the developer's.
    env = {
        "PATH": str(BIN) + os.pathsep + os.environ.get("PATH", os.defpath),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_RUNTIME_DIR": str(runtime),
    }
    if os.environ.get("TMPDIR"):
        env["TMPDIR"] = os.environ["TMPDIR"]
    log = tmp_path / "session.log"
    with (
        log.open("wb") as log_file,
        subprocess.Popen(
            ["dbus-run-session", "--", "sh", "-c", DRIVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log_file,
            env=env,
            cwd=tmp_path,
            start_new_session=True,
        ) as driver,
    ):
        assert driver.stdin is not None and driver.stdout is not None
        service = SecretServiceSession(root, env, log)
        try:
            driver.stdin.write(secrets.token_urlsafe(18).encode() + b"\n")
            driver.stdin.flush()
            line = _read_line(driver.stdout, 30)
            assert line.startswith("ready "), (
                f"the session did not start: {line!r}\n{log.read_text(errors='replace')}"
            )
            _, pid, address = line.split()
            service.daemon_pid = int(pid)
            env["DBUS_SESSION_BUS_ADDRESS"] = address
            ready = service.run([sys.executable, "-c", PROBE_READY, pid, "30"], timeout=60)
            assert ready.returncode == 0, ready.stderr + log.read_text(errors="replace")
            yield service
        finally:
            driver.stdin.close()
            try:
                driver.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(driver.pid, signal.SIGKILL)
                driver.wait(timeout=20)
    deadline = time.monotonic() + 10
    while service.daemon_pid and _running(service.daemon_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not (service.daemon_pid and _running(service.daemon_pid)), (
        "gnome-keyring-daemon outlived its session"
    )


@pytest.fixture
def secret_value() -> str:
    """A fresh value for each test; no pattern rule knows it."""
    return f"qsv-{secrets.token_hex(12)}"


def write_policy(service: SecretServiceSession) -> None:
    """The policy (outside the notebook root), in force through ``$QSECURE_CONFIG``."""
    path = service.root.parent / "policy" / "qsecure.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(POLICY, encoding="utf-8")
    service.env["QSECURE_CONFIG"] = str(path)


def write_notebook(service: SecretServiceSession, relative: str, value: str) -> None:
    """A notebook whose cell checks the secret by digest (the value itself is never in a
    file), and prints the value, which the kernel must mask."""
    digest = hashlib.sha256(value.encode()).hexdigest()
    source = (
        "import hashlib, os\n"
        f"value = os.environ.get({NAME!r}, '')\n"
        f"print('received', hashlib.sha256(value.encode()).hexdigest() == {digest!r})\n"
        "print('names', repr(os.environ.get('QSECURE_SECRET_NAMES')))\n"
        "print('problems', repr(os.environ.get('QSECURE_SECRET_PROBLEMS')))\n"
        "print('value', value)\n"
    )
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(source)],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    )
    path = service.root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)


def outputs_text(path: Path) -> str:
    """Every output of an executed notebook, as plain text."""
    notebook = nbformat.read(path, as_version=4)  # multi-line strings joined
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                parts.append(output.text)
            elif output.output_type == "error":
                parts.append("\n".join(output.traceback))
            else:
                parts.append(output.get("data", {}).get("text/plain", ""))
    return "".join(parts)


def embedded_keyring_files(service: SecretServiceSession) -> list[Path]:
    """Files of our embedded keyring or of keyring's own file backends: there must be none
    when the Secret Service is used."""
    return [
        p
        for p in service.root.parent.rglob("*")
        if p.name == "keyring.cfg" or "python_keyring" in p.parts
    ]


def test_keyring_and_open_keyring_pick_secret_service(session: SecretServiceSession) -> None:
    out = session.python(PROBE_BACKEND).stdout
    print(out)
    assert f"chained: {SECRET_SERVICE}" in out
    assert f"open_keyring(): {SECRET_SERVICE}\n" in out
    assert not embedded_keyring_files(session)
    assert not (session.root.parent / "home" / ".local" / "share" / "jupyter" / "qsecure").exists()


def test_set_stores_into_secret_service(session: SecretServiceSession, secret_value: str) -> None:
    write_policy(session)
    session.set_secret(secret_value)
    out = session.python(PROBE_ITEM, "qsecure", "ibm-quantum", stdin=secret_value).stdout
    assert "collection: Login locked: False" in out
    assert "items: 1" in out and "matches: True" in out, out
    assert not embedded_keyring_files(session)
    keyrings = session.root.parent / "home" / ".local" / "share" / "keyrings"
    assert (keyrings / "login.keyring").is_file()  # gnome-keyring's own (encrypted) file
    session.assert_never_shown(secret_value)


def test_check_reports_ok(session: SecretServiceSession, secret_value: str) -> None:
    write_policy(session)
    result = session.run([JUPYTER, "qsecure", "secrets", "check"])
    assert result.returncode == 1 and f"{NAME}  {REF}  FAILED (not-found)" in result.stdout
    session.set_secret(secret_value)
    result = session.run([JUPYTER, "qsecure", "secrets", "check"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{NAME}  {REF}  ok" in result.stdout
    session.assert_never_shown(secret_value)


@pytest.mark.slow
def test_provisioned_kernel_receives_the_secret_masked(
    session: SecretServiceSession, secret_value: str
) -> None:
    write_policy(session)
    session.set_secret(secret_value)
    write_notebook(session, "experiments/run.ipynb", secret_value)
    write_notebook(session, "scratch/other.ipynb", secret_value)

    _, text = session.execute("experiments/run.ipynb")
    assert "received True" in text
    assert f"names '{NAME}'" in text and "problems None" in text
    assert f"value [secret:{NAME}]" in text

    _, text = session.execute("scratch/other.ipynb")
    assert "received False" in text
    assert "names ''" in text and "problems None" in text
    assert "[secret:" not in text
    session.assert_never_shown(secret_value)


@pytest.mark.slow
def test_locked_collection_starts_the_kernel_without_it_and_says_why(
    session: SecretServiceSession, secret_value: str
) -> None:
    write_policy(session)
    session.set_secret(secret_value)
    assert "locked: True" in session.python(PROBE_LOCK, "lock").stdout

    result = session.run([JUPYTER, "qsecure", "secrets", "check"])
    assert result.returncode == 1
    assert (
        f"{NAME}  {REF}  FAILED (locked): {REF}: the keyring refused (KeyringLocked)"
        in result.stdout
    )

    write_notebook(session, "experiments/run.ipynb", secret_value)
    _, text = session.execute("experiments/run.ipynb")
    assert "received False" in text and "names ''" in text
    assert f"problems '{NAME}: {REF}: the keyring refused (KeyringLocked)'" in text
    assert "jupyter-qsecure: started without some secrets" in text
    # Nobody answered the unlock prompt: the collection is still locked.
    assert "locked: True" in session.python(PROBE_LOCK).stdout
    session.assert_never_shown(secret_value)
