"""People on one test server, as JupyterHub names them: a token login whose user is named
by a request header. Authentication is jupyter_server's own; only the name changes."""

from __future__ import annotations

import inspect
from typing import Any

from jupyter_server.auth.identity import IdentityProvider, User

#: The request header that names the user.
USER_HEADER = "X-Test-User"


def header_identity(default: str) -> type[IdentityProvider]:
    """An identity provider naming each request's user by :data:`USER_HEADER`
    (``default`` without it)."""

    class HeaderIdentityProvider(IdentityProvider):
        async def get_user(self, handler: Any) -> User | None:  # type: ignore[override]
            found = super().get_user(handler)
            user = await found if inspect.isawaitable(found) else found
            if user is None:
                return None
            name = handler.request.headers.get(USER_HEADER, default)
            return User(username=name, name=name, display_name=name)

    return HeaderIdentityProvider
