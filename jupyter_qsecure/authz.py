"""Authorization resources: one per capability, as jupyter_server's ``Authorizer`` sees them.

Each REST handler declares the resource of the capability it serves; jupyter_server's
``@authorized`` asks the server's authorizer for ``read`` (GET, and POSTs that only look)
or ``write`` (changes) on it. The guarded contents routes keep Jupyter's ``contents``.
"""

from __future__ import annotations

SECRETS = "qsecure:secrets"
SIGNING = "qsecure:signing"
#: A user's personal signing setup: the key and principal the server signs with for them.
SIGNING_SETUP = "qsecure:signing-setup"
PROVENANCE = "qsecure:provenance"
GUARD = "qsecure:guard"
AUDIT = "qsecure:audit"

#: Every resource this extension's handlers are authorized against.
RESOURCES = (SECRETS, SIGNING, SIGNING_SETUP, PROVENANCE, GUARD, AUDIT)
