"""``python -m jupyter_qsecure.cli``: the same as ``jupyter qsecure``."""

from . import console_main

console_main()
