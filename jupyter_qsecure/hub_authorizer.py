"""An authorizer for single-user servers under JupyterHub: collaborators edit, owners sign.

JupyterHub (5 and 6) lets a user share their server (``POST /hub/api/shares/OWNER/``);
whoever it is shared with holds ``access:servers!server=OWNER/`` and passes the
single-user server's authentication. The server then asks its ``Authorizer`` about each
request's action (``read``/``write``) and resource; the hub's ``JupyterHubAuthorizer``
ignores both (any user with access may do anything), and a server run by
``jupyterhub-singleuser`` does not even select it. So, with the hub's configuration alone,
a collaborator could sign with the owner's key, write the owner's keyring and read the
owner's audit trail.

:class:`QSecureHubAuthorizer` keeps the hub's access check for every request and lets
every user with access do everything Jupyter itself offers (files, kernels, terminals) and
every *read* of jupyter-qsecure's resources (signature status, provenance, scans, the
names of secrets). Writes to a ``qsecure:*`` resource (keyring values, grants, signing,
bypasses) and any access to ``qsecure:audit`` are the server owner's (``$JUPYTERHUB_USER``)
alone, or a user's the admin grants the custom scope ``custom:qsecure:ACTION:CAPABILITY``
(:func:`custom_scope`; the names are in :data:`CUSTOM_SCOPES`), on this server or on all
of the owner's servers. Select it in the single-user server's configuration::

    c.ServerApp.authorizer_class = "jupyter_qsecure.hub_authorizer.QSecureHubAuthorizer"

This module needs ``jupyterhub`` importable, as it is wherever ``jupyterhub-singleuser``
runs; nothing else in the package imports it.
"""

from __future__ import annotations

import os
from typing import Any

from jupyterhub.services.auth import check_scopes  # type: ignore[import-untyped]
from jupyterhub.singleuser.extension import JupyterHubAuthorizer  # type: ignore[import-untyped]
from traitlets import Unicode, default

from ._shown import logged
from .authz import AUDIT

#: The namespace of jupyter-qsecure's resources, as jupyter_server's authorizer sees them.
RESOURCE_PREFIX = "qsecure:"

#: The custom scopes an admin defines in ``c.JupyterHub.custom_scopes`` to delegate what
#: is otherwise the owner's alone (names from :func:`custom_scope`).
CUSTOM_SCOPES: dict[str, dict[str, str]] = {
    "custom:qsecure:write:secrets": {
        "description": "Set and delete keyring secrets and personal grants on a server",
    },
    "custom:qsecure:write:signing": {
        "description": "Sign notebooks with the server's key",
    },
    "custom:qsecure:write:signing-setup": {
        "description": "Choose or generate the key a user signs with on a server",
    },
    "custom:qsecure:write:guard": {
        "description": "Accept (bypass) the leak guard's findings on a server",
    },
    "custom:qsecure:write:provenance": {
        "description": "Change execution provenance on a server",
    },
    "custom:qsecure:read:audit": {
        "description": "Read a server's audit trail",
    },
}


def owner_only(action: str, resource: str) -> bool:
    """Whether ``action`` on ``resource`` is the server owner's alone (or delegated by a
    custom scope): a write to any ``qsecure:*`` resource, and any access to the audit
    trail. Jupyter's own resources (``contents``, ``kernels``, ...) and reads of the
    other ``qsecure:*`` resources are everyone's who may reach the server."""
    if not resource.startswith(RESOURCE_PREFIX):
        return False
    return resource == AUDIT or action != "read"


def custom_scope(action: str, resource: str) -> str:
    """The custom scope that delegates ``action`` on the ``qsecure:*`` ``resource``:
    ``custom:qsecure:ACTION:CAPABILITY`` (``write`` on ``qsecure:signing`` is
    ``custom:qsecure:write:signing``)."""
    return f"custom:qsecure:{action}:{resource.removeprefix(RESOURCE_PREFIX)}"


class QSecureHubAuthorizer(JupyterHubAuthorizer):  # type: ignore[misc]
    """JupyterHub's access check, plus: writes to ``qsecure:*`` and the audit trail only
    for the server's owner or a holder of the matching ``custom:qsecure:...`` scope."""

    owner = Unicode(
        help="The user whose server this is (default: $JUPYTERHUB_USER, set by the hub)."
    ).tag(config=True)

    server_name = Unicode(
        help="This server's name ('' for the default server; default: $JUPYTERHUB_SERVER_NAME)."
    ).tag(config=True)

    @default("owner")
    def _default_owner(self) -> str:
        return os.environ.get("JUPYTERHUB_USER", "")

    @default("server_name")
    def _default_server_name(self) -> str:
        return os.environ.get("JUPYTERHUB_SERVER_NAME", "")

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        """Whether the hub user of the request may do ``action`` on ``resource`` here."""
        hub_user = getattr(user, "hub_user", None)
        if not isinstance(hub_user, dict):
            return False
        scopes = set(hub_user.get("scopes") or ())
        if not check_scopes(self.hub_auth.access_scopes, scopes):
            return False
        if not owner_only(action, resource):
            return True
        if self.owner and hub_user.get("kind", "user") == "user" and user.username == self.owner:
            return True
        needed = custom_scope(action, resource)
        if check_scopes({f"{needed}!server={self.owner}/{self.server_name}"}, scopes):
            return True
        self.log.info(
            "jupyter-qsecure: %s %s may not %s %s on %s's server (owner only, or scope %s)",
            logged(hub_user.get("kind", "user")),
            logged(user.username),
            logged(action),
            logged(resource),
            logged(self.owner),
            logged(needed),
        )
        return False
