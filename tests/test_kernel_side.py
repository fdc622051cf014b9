"""The kernel side runs in every kernel: it must stay light."""

from __future__ import annotations

import subprocess
import sys


def test_kernel_extension_imports_nothing_heavy() -> None:
    code = (
        "import sys, jupyter_qsecure.kernel\n"
        "heavy = ['tornado', 'jupyter_server', 'hyperscan', 'keyring', 'hvac', 'requests', 'nbformat', 'detect_secrets']\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"
