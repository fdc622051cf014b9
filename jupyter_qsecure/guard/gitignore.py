"""Which files git ignores in a folder, so that a scan skips what git would never commit.

Git answers with two short processes a folder (never one a file): ``git check-ignore``
says whether the folder itself is ignored, then ``git ls-files --others --ignored
--exclude-standard --directory`` lists what it ignores inside (an ignored folder as one
entry). Tracked files are never ignored. When git is missing, the folder is not in a work
tree, or git fails, nothing is skipped: a scan sees more, never less.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

#: Seconds one git process may take before the folder is scanned without it.
GIT_TIMEOUT = 30.0
#: Variables that would make git use another repository than the folder's own (a scan
#: started from a git hook inherits them).
_REPOSITORY_VARIABLES = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
)
#: What git says in a folder that is not in a work tree: not an error, scan as before.
_NOT_A_WORK_TREE = ("not a git repository", "must be run in a work tree")


@dataclass(frozen=True)
class Ignored:
    """What git ignores in one folder: paths relative to it, ``/``-separated, folders
    without their trailing slash; ``everything`` when git ignores all it holds."""

    paths: frozenset[str]
    everything: bool = False


class GitIgnore:
    """Asks git, folder by folder, what it ignores; warnings go to ``warn``."""

    def __init__(self, warn: Callable[[str], None] | None = None) -> None:
        self._warn = warn or (lambda message: None)
        self._git = shutil.which("git")
        self._env = {
            **{k: v for k, v in os.environ.items() if k not in _REPOSITORY_VARIABLES},
            "LC_ALL": "C",  # git's messages in English, to tell "not a repository" apart
            "GIT_OPTIONAL_LOCKS": "0",  # never take the index lock of the user's repository
        }

    def ignored(self, folder: Path) -> Ignored | None:
        """What git ignores in ``folder``; None to skip nothing: no git, not in a work tree,
        a folder git ignores as a whole (it was named, so it is scanned, as ``git add -f``),
        or a failure (then a warning)."""
        check = self._git_output(folder, "check-ignore", "-q", "--", ".")
        if check is None or check.returncode == 0:
            return None
        if check.returncode != 1:
            self._failed(folder, check)
            return None
        listing = self._git_output(
            folder, "ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--directory"
        )
        if listing is None:
            return None
        if listing.returncode != 0:
            self._failed(folder, listing)
            return None
        paths = set()
        everything = False
        for entry in filter(None, listing.stdout.split(b"\0")):
            name = os.fsdecode(entry).rstrip("/")
            if name in {"", "."}:  # git ignores all the folder holds
                everything = True
            else:
                paths.add(name)
        return Ignored(frozenset(paths), everything)

    def _git_output(self, folder: Path, *args: str) -> subprocess.CompletedProcess[bytes] | None:
        if self._git is None:
            return None
        command = [self._git, "-C", os.fspath(folder), "-c", "core.fsmonitor=false", *args]
        try:
            return subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                env=self._env,
                timeout=GIT_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            self._warn(
                f"{folder}: warning: git did not list the files it ignores within "
                f"{GIT_TIMEOUT:g} s; scanning every file in this folder"
            )
        except OSError as error:
            self._warn(
                f"warning: cannot run git ({error.strerror or error}); "
                "scanning every file, including those git ignores"
            )
            self._git = None
        return None

    def _failed(self, folder: Path, result: subprocess.CompletedProcess[bytes]) -> None:
        message = os.fsdecode(result.stderr).strip()
        if any(text in message for text in _NOT_A_WORK_TREE):
            return
        first = message.splitlines()[0] if message else f"exit code {result.returncode}"
        self._warn(
            f"{folder}: warning: cannot ask git which files it ignores ({first}); "
            "scanning every file in this folder"
        )
