"""The environment of a re-run's kernel: the reviewer's, less what gives access in the
reviewer's name.

The notebook under review is someone else's code. Its kernel gets the secrets the policy
grants it (the provisioner injects them, as in JupyterLab), but not the credentials that
happen to be in the environment of whoever runs ``reproduce``: a CI job's token, the AWS
keys that let ``--dataset`` check data in S3, the ssh-agent socket (with it, the notebook
could sign anything, a reproduction attestation included, with the reviewer's keys).
Withheld: variables named like a credential (``*_TOKEN``, ``*_SECRET*``, ``*PASSWORD``,
``*_KEY``, ``*_AUTH*``...), the cloud providers' (``AWS_*``, ``AZURE_*``,
``GOOGLE_APPLICATION_CREDENTIALS``...), agent sockets and ticket caches, and any
variable whose value is a URL holding a user and password or a signature. ``--pass-env
NAME`` gives one back. This is no sandbox: the code runs as the reviewer and can read the
reviewer's files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from .remote import url_secrets

_CREDENTIAL_NAME = re.compile(
    r"(?:^|_)(?:TOKEN|TOKENS|SECRET|SECRETS|PASSWORD|PASSWD|PASS|PASSPHRASE|CREDENTIAL"
    r"|CREDENTIALS|CREDS|APIKEY|KEY|KEYS|AUTH|COOKIE|PRIVATE|DSN|SAS|SIGNATURE)(?:$|_)",
    re.IGNORECASE,
)
_CREDENTIAL_PREFIXES = (
    "AWS_",
    "AZURE_",
    "ARM_",
    "GOOGLE_",
    "GCP_",
    "GCLOUD_",
    "CLOUDSDK_",
    "OCI_",
    "DIGITALOCEAN_",
    "ACTIONS_ID_TOKEN",
    "ACTIONS_RUNTIME",
    "VAULT_",
    "BAO_",
)
_CREDENTIAL_NAMES = frozenset(
    {
        "SSH_AUTH_SOCK",
        "SSH_AGENT_PID",
        "GPG_AGENT_INFO",
        "GNUPGHOME",
        "KRB5CCNAME",
        "KRB5_CLIENT_KTNAME",
        "KUBECONFIG",
        "DOCKER_CONFIG",
        "NETRC",
        "PGPASSFILE",
        "GIT_ASKPASS",
        "SSH_ASKPASS",
        "SUDO_ASKPASS",
    }
)


def is_credential(name: str, value: str) -> bool:
    """Whether the variable ``name=value`` gives access in its owner's name."""
    upper = name.upper()
    return (
        upper in _CREDENTIAL_NAMES
        or upper.startswith(_CREDENTIAL_PREFIXES)
        or bool(_CREDENTIAL_NAME.search(upper))
        or bool(url_secrets(value))
    )


def kernel_environment(
    environ: Mapping[str, str], passed: Iterable[str] = ()
) -> tuple[dict[str, str], list[str]]:
    """``environ`` without its credentials (but those named in ``passed``), and the names
    withheld, sorted."""
    keep = set(passed)
    withheld = sorted(
        name for name, value in environ.items() if name not in keep and is_credential(name, value)
    )
    left = set(withheld)
    return {name: value for name, value in environ.items() if name not in left}, withheld
