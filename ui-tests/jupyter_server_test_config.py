"""The Jupyter server the UI tests drive: Galata's test setup, plus jupyter-qsecure with a
policy, an encrypted-file keyring and an SSH signing key made fresh for this run."""

import os
import re
import subprocess
import tempfile
from pathlib import Path

from jupyterlab.galata import configure_jupyter_server

c = get_config()  # type: ignore[name-defined]  # noqa: F821 - defined by the config loader
configure_jupyter_server(c)
c.ServerApp.port = int(os.environ.get("QSECURE_UI_PORT", "8899"))
c.ServerApp.allow_root = True
# Notebook 7's pages expose the application as JupyterLab's do under Galata (window.jupyterapp),
# so the Notebook 7 tests can save as autosave does.
c.JupyterNotebookApp.expose_app_in_browser = True
# Documents are saved through the contents API, as without jupyter-collaboration (the
# blocked-save dialog's path). QSECURE_UI_RTC=1 turns real-time collaboration on: the
# server of collaboration.spec.ts (see playwright.config.js).
c.YDocExtension.disable_rtc = os.environ.get("QSECURE_UI_RTC", "") != "1"

state = Path(os.environ.get("QSECURE_UI_STATE") or tempfile.mkdtemp(prefix="qsecure-ui-"))
# QSECURE_UI_SIGNING=personal: the server of signing-setup.spec.ts (its own port and state).
# No [signing] table, so each user sets up their own key; a home whose ~/.ssh holds no
# key and no ssh-agent, so the keys the setup lists are only those the test makes.
personal_signing = os.environ.get("QSECURE_UI_SIGNING") == "personal"
if personal_signing:
    state = state / "personal-signing"
    home = state / "home"
    (home / ".ssh").mkdir(mode=0o700, parents=True, exist_ok=True)
    os.environ["HOME"] = str(home)
    os.environ.pop("SSH_AUTH_SOCK", None)
    os.environ.pop("SSH_AGENT_PID", None)
if os.environ.get("QSECURE_UI_RTC") == "1":
    # The server of collaboration.spec.ts (its own port and state): the served folder is
    # inside its state, so the spec can search every file the server wrote for a value.
    state = state / "collaboration"
    c.ServerApp.root_dir = str(state / "root")
    (state / "root").mkdir(parents=True, exist_ok=True)
state.mkdir(parents=True, exist_ok=True)
key = state / "id_ed25519"
subprocess.run(
    ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "galata", "-f", str(key)],
    check=True,
)
principal = "galata@lab.example"
public = key.with_suffix(".pub").read_text().split()
(state / "allowed_signers").write_text(
    f'{principal} namespaces="notebook@jupyter-qsecure" {public[0]} {public[1]}\n'
)
# The demo's secrets (the policy `make lab` uses), granted to the copy of the demo the
# tour test makes in demo-tour/.
demo_policy = (Path(__file__).parent.parent / "jupyter-config" / "qsecure.demo.toml").read_text()
demo_secrets = re.sub(r"(?m)^notebooks = .*$", 'notebooks = ["demo-tour/*.ipynb"]', demo_policy)
signing = f"""
[signing]
allowed_signers = "{state / "allowed_signers"}"
key = "{key}"
principal = "{principal}"

[signing.roles]
author = ["*"]
reviewer = ["{principal}"]
"""
(state / "qsecure.toml").write_text(
    ("" if personal_signing else signing)
    + f"""
[audit]
file = "{state / "audit.jsonl"}"
"""
    + demo_secrets
)
os.environ.update(
    {
        "QSECURE_CONFIG": str(state / "qsecure.toml"),
        "QSECURE_KEYRING_FILE": str(state / "keyring.cfg"),
        "QSECURE_KEYRING_PASSWORD": "ui-tests-only",
        "PYTHON_KEYRING_BACKEND": "keyrings.cryptfile.cryptfile.CryptFileKeyring",
        "JUPYTER_DATA_DIR": str(state / "data"),
    }
)
# With collaboration on, its Y store stays with the run's state (not beside the tests).
c.SQLiteYStore.db_path = str(state / "ystore.db")
print(f"jupyter-qsecure UI tests: state in {state}")
