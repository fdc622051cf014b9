"""Shared fixtures: a real Jupyter server with jupyter-qsecure, on real files."""

from __future__ import annotations

import io
import json
import logging
import random
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from corpus import expand
from traitlets.config import Config

if TYPE_CHECKING:
    from vault_double import VaultDouble

    from jupyter_qsecure.secrets.providers.vault import VaultProvider

pytest_plugins = ["pytest_jupyter.jupyter_server"]

#: A grant of ``LAB_TOKEN`` (from ``$LAB_TOKEN_SOURCE``) to every notebook.
LAB_TOKEN_GRANT = (
    '[secrets.LAB_TOKEN]\nsource = "env://LAB_TOKEN_SOURCE"\nnotebooks = ["**/*.ipynb"]\n'
)


@pytest.fixture
def jp_server_config() -> Config:
    """The server under test: our extension, and no request without a token."""
    return Config(
        {
            "ServerApp": {
                # jupyter_server_terminals refuses to load with unauthenticated access off.
                "jpserver_extensions": {"jupyter_qsecure": True, "jupyter_server_terminals": False},
                "allow_unauthenticated_access": False,
            },
            # As the package's jupyter_server_config.d file installs it: saves wait for the load.
            "ContentsManager": {"pre_save_hook": "jupyter_qsecure.gate.refuse_until_ready"},
            "KernelProvisionerFactory": {"default_provisioner_name": "qsecure-provisioner"},
        }
    )


@pytest.fixture
def policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Path]:
    """Write a trusted policy file (``$QSECURE_CONFIG``) before the server starts."""

    def write(text: str) -> Path:
        path = tmp_path / "policy" / "qsecure.toml"
        path.parent.mkdir(mode=0o755, exist_ok=True)
        if "[injection]" not in text:
            # An encrypted-file keyring costs two Argon2 derivations per first read; on a
            # loaded 2-core machine that passed the 10 s default and a kernel started
            # without its secret. Tests of the timeout write their own [injection].
            text += "\n[injection]\ntimeout = 60\n"
        path.write_text(text, encoding="utf-8")
        path.chmod(0o644)  # a policy others can write is refused, whatever the umask
        monkeypatch.setenv("QSECURE_CONFIG", str(path))
        return path

    return write


@pytest.fixture
def provenance_policy(tmp_path: Path, policy: Callable[[str], Path]) -> Callable[[str], Path]:
    """Write a trusted policy naming the provenance store ``tmp_path/provenance.sqlite``,
    followed by ``extra`` TOML; return the store's path."""

    def write(extra: str = "") -> Path:
        path = tmp_path / "provenance.sqlite"
        policy(f"[provenance]\nstore = {json.dumps(str(path))}\n" + (f"\n{extra}" if extra else ""))
        return path

    return write


@pytest.fixture
def store_path(provenance_policy: Callable[[str], Path]) -> Path:
    """A trusted policy naming the provenance store; the store's path."""
    return provenance_policy("")


@pytest.fixture
def store_with_secret(
    provenance_policy: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A trusted policy naming the provenance store and granting ``LAB_TOKEN`` (a random
    value in ``$LAB_TOKEN_SOURCE``) to every notebook; the store's path."""
    monkeypatch.setenv("LAB_TOKEN_SOURCE", f"lab-{secrets.token_hex(16)}")
    return provenance_policy(LAB_TOKEN_GRANT)


@pytest.fixture
def keyring_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The embedded encrypted-file keyring, in a temporary file, unlocked from the environment."""
    env = {
        "PYTHON_KEYRING_BACKEND": "keyrings.cryptfile.cryptfile.CryptFileKeyring",
        "QSECURE_KEYRING_FILE": str(tmp_path / "keyring" / "keyring.cfg"),
        "QSECURE_KEYRING_PASSWORD": "test-keyring-unlock",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def make_provider(vault: VaultDouble) -> Iterator[Callable[..., VaultProvider]]:
    """Build Vault providers from ``VaultSettings`` fields (``url`` defaults to the test
    module's ``vault`` double, ``timeout`` to 5 s; references given as text are parsed); all
    are closed, before the double stops, at the end of the test."""
    from jupyter_qsecure.secrets.policy import SecretsPolicy, VaultSettings
    from jupyter_qsecure.secrets.providers.vault import VaultProvider
    from jupyter_qsecure.secrets.refs import parse_ref

    made: list[VaultProvider] = []

    def make(**fields: Any) -> VaultProvider:
        fields.setdefault("url", vault.url)
        fields.setdefault("timeout", 5.0)
        for key in ("token_source", "secret_id_source", "jwt_source"):
            if isinstance(fields.get(key), str):
                fields[key] = parse_ref(fields[key])
        provider = VaultProvider.from_policy(SecretsPolicy(vault=VaultSettings(**fields)))
        assert isinstance(provider, VaultProvider)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()


@pytest.fixture
def qsecure_app(jp_serverapp: Any) -> Any:
    """The running jupyter-qsecure extension app."""
    return jp_serverapp.web_app.settings["jupyter_qsecure"]


@pytest.fixture
def github_token() -> str:
    """A GitHub token-shaped value, random for each test."""
    return expand("gh" + "p_{A:36}", random.Random())


@pytest.fixture
def audit_events(jp_serverapp: Any) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """A function returning every jupyter_events event the server emitted so far, parsed."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    jp_serverapp.event_logger.register_handler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    jp_serverapp.event_logger.remove_handler(handler)


@pytest.fixture
def server_log(jp_serverapp: Any, qsecure_app: Any) -> Iterator[Callable[[], str]]:
    """Everything the server, tornado and our extension log during the test, as text."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.DEBUG)
    loggers = [jp_serverapp.log, qsecure_app.log, logging.getLogger("tornado"), logging.getLogger()]
    for logger in loggers:
        logger.addHandler(handler)
    yield stream.getvalue
    for logger in loggers:
        logger.removeHandler(handler)


def notebook(*cells: dict[str, Any], metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """An nbformat 4.5 notebook with the given cells (ids filled in)."""
    filled = []
    for index, cell in enumerate(cells):
        cell = {"metadata": {}, **cell}
        cell.setdefault("id", f"cell-{index}")
        if cell["cell_type"] == "code":
            cell.setdefault("outputs", [])
            cell.setdefault("execution_count", None)
        filled.append(cell)
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": metadata
        or {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "cells": filled,
    }


def code(source: str | list[str], outputs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A code cell."""
    return {
        "cell_type": "code",
        "source": source,
        "outputs": outputs or [],
        "execution_count": 1 if outputs else None,
    }


def code_cell(
    cell_id: str,
    source: str,
    outputs: list[dict[str, Any]] | None = None,
    execution_count: int | None = None,
) -> dict[str, Any]:
    """A code cell as JupyterLab saves it, with its id (no outputs, never run, by default)."""
    return {
        "cell_type": "code",
        "id": cell_id,
        "metadata": {},
        "source": source,
        "outputs": [] if outputs is None else outputs,
        "execution_count": execution_count,
    }


def as_notebook(*cells: dict[str, Any]) -> dict[str, Any]:
    """An nbformat 4.5 notebook of exactly these cells, with empty metadata."""
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": list(cells)}


def markdown(source: str) -> dict[str, Any]:
    """A markdown cell."""
    return {"cell_type": "markdown", "source": source}


# --- Hermetic runs --------------------------------------------------------------------------
# Nothing a test does depends on, or lands in, the machine's own settings or the repository:
# no bytecode is written (by this process from here on, and by the servers, kernels and
# commands it starts; `make test` sets PYTHONDONTWRITEBYTECODE before pytest starts, so this
# conftest's own bytecode stays out too), Hypothesis's examples go to a folder of the
# system's temporary directory, and each test gets a home and Jupyter folders of its own.
# (Not a PYTHONPYCACHEPREFIX: with it, every process ignores the installed packages'
# bytecode and compiles them again.)

import getpass  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

import jupyter_core.paths  # noqa: E402
from hypothesis import HealthCheck  # noqa: E402
from hypothesis import settings as hypothesis_settings  # noqa: E402
from hypothesis.configuration import set_hypothesis_home_dir  # noqa: E402
from hypothesis.database import DirectoryBasedExampleDatabase  # noqa: E402

#: Where the test session keeps its caches: outside the repository.
SESSION_CACHE = Path(tempfile.gettempdir()) / f"jupyter-qsecure-tests-{getpass.getuser()}"

sys.dont_write_bytecode = True
os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
set_hypothesis_home_dir(str(SESSION_CACHE / "hypothesis"))
# No time limit on an example or on generating them: the properties are about results, and
# a loaded 2-core machine took 260-470 ms for one walk of a 20,000-deep list that takes
# 30 ms alone, past the default 200 ms deadline ("Unreliable test timings", the product
# right). Tests that mean a bound on time assert it themselves.
hypothesis_settings.register_profile(
    "qsecure",
    database=DirectoryBasedExampleDatabase(SESSION_CACHE / "hypothesis" / "examples"),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
hypothesis_settings.load_profile("qsecure")

#: Variables of the machine's environment that would change what a test does: Jupyter's
#: search paths, the hub's identity, a policy, a keyring, a Vault, an ssh-agent.
MACHINE_VARIABLES = (
    "JUPYTER_PATH",
    "JUPYTER_CONFIG_PATH",
    "JUPYTER_PLATFORM_DIRS",
    "JUPYTER_PREFER_ENV_PATH",
    "JUPYTER_NO_CONFIG",
    "JUPYTER_DEFAULT_PROVISIONER_NAME",
    "PYTHON_KEYRING_BACKEND",
    "SSH_AUTH_SOCK",
    "SSH_AGENT_PID",
)
MACHINE_PREFIXES = ("QSECURE_", "JUPYTERHUB_", "VAULT_", "BAO_")


@pytest.fixture(autouse=True)
def hermetic_environment(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A home of the test's own (outside ``tmp_path``, which tests use as a project folder)
    holding Jupyter's, IPython's and the XDG folders; the machine-wide Jupyter folders out
    of the search path; none of the machine's variables in :data:`MACHINE_VARIABLES`. Later
    fixtures (``jp_environ``, ``policy``, ...) set their own on top. The home's path."""
    home = tmp_path_factory.mktemp("home")
    for name in list(os.environ):
        if name in MACHINE_VARIABLES or name.startswith(MACHINE_PREFIXES):
            monkeypatch.delenv(name)
    folders = {
        "HOME": home,
        "USERPROFILE": home,
        "JUPYTER_CONFIG_DIR": home / ".jupyter",
        "JUPYTER_DATA_DIR": home / ".local" / "share" / "jupyter",
        "JUPYTER_RUNTIME_DIR": home / ".local" / "share" / "jupyter" / "runtime",
        "IPYTHONDIR": home / ".ipython",
        "XDG_CONFIG_HOME": home / ".config",
        "XDG_DATA_HOME": home / ".local" / "share",
        "XDG_CACHE_HOME": home / ".cache",
        "XDG_STATE_HOME": home / ".local" / "state",
    }
    for name, folder in folders.items():
        monkeypatch.setenv(name, str(folder))
    monkeypatch.setattr(jupyter_core.paths, "SYSTEM_JUPYTER_PATH", [])
    monkeypatch.setattr(jupyter_core.paths, "SYSTEM_CONFIG_PATH", [])
    return home


@pytest.fixture(autouse=True, scope="session")
def stopped_rooms_close_their_update_stream() -> Iterator[None]:
    """pycrdt-websocket leaves a stopped room's update stream open; garbage-collected
    later, its ResourceWarning failed whichever test ran then. Close it when the room
    stops."""
    try:
        from pycrdt.websocket import YRoom
    except ImportError:  # collaboration not installed
        yield
        return
    stop = YRoom.stop

    async def stop_and_close(room: Any) -> None:
        await stop(room)
        send = getattr(room, "_update_send_stream", None)
        if send is not None:
            send.close()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(YRoom, "stop", stop_and_close)
        yield
