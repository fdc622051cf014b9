"""``python -m jupyter_qsecure``: the same as ``jupyter qsecure``."""

import sys

from .cli import main

sys.exit(main())
