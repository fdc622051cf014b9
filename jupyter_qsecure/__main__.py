"""``python -m jupyter_qsecure``: the same as ``jupyter qsecure``."""

from .cli import console_main

console_main()
