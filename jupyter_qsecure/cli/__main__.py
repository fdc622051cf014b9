"""``python -m jupyter_qsecure.cli``: the same as ``jupyter qsecure``."""

import sys

from . import main

sys.exit(main())
