"""What a rule is: a credential format the engine looks for, with its own examples."""

from __future__ import annotations

import random
import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field

from .checks import is_placeholder, is_template_placeholder

Check = Callable[[re.Match[str]], bool]

_ALPHABETS = {
    "A": string.ascii_letters + string.digits,
    "H": "0123456789abcdef",
    "L": string.ascii_letters,
    "U": string.ascii_uppercase + string.digits,
    "B": string.ascii_letters + string.digits + "+/",
    "D": string.digits,
    "W": string.ascii_letters + string.digits + "-_",
    "a": string.ascii_lowercase + string.digits,
    "Z": "qpzry9x8gf2tvdw0s3jn54khce6mua7l".upper(),
    "z": "abcdefghijklmnopqrstuvwxyz234567",
}
_FIELD = re.compile(r"\{([AHLUBDWaZz]):(\d+)\}")


def expand(template: str, rng: random.Random | None = None) -> str:
    """Fill a template's ``{X:n}`` fields with ``n`` random characters of alphabet X:
    ``A`` letters and digits, ``H`` hex, ``L`` letters, ``U`` upper case and digits, ``B``
    base64, ``D`` digits, ``W`` base64url, ``a`` lower case and digits, ``Z`` bech32 upper case, ``z`` base32 lower case.

    Rule examples are templates, so that the code never holds a credential-shaped string;
    the generator is seeded by the template, so an example expands the same way each time.
    """
    generator = rng or random.Random(template)  # noqa: S311 (test data, not keys)
    return _FIELD.sub(
        lambda m: "".join(generator.choice(_ALPHABETS[m.group(1)]) for _ in range(int(m.group(2)))),
        template,
    )


@dataclass(frozen=True)
class Rule:
    """One credential format.

    ``pattern`` is a Python regular expression whose named group ``secret`` is the
    credential; ``trigger`` a short expression the fast engine looks for first. Rules are
    per line, except ``multiline`` ones, which see up to 4 KiB from the trigger's line on;
    any rule sees ``context_before`` characters before the trigger's line too. ``config_only`` rules read unquoted
    ``name = value`` and apply only outside code (text, configuration, Markdown, outputs),
    and in a notebook's code to a bare name that no code cell binds.

    ``template_placeholders_only`` is for credentials inside URLs and connection strings:
    there only template markers and masks count as placeholders (see
    :func:`~.checks.is_template_placeholder`), since ``user:password@host`` logs in.

    ``examples`` and ``negative_examples`` are templates (see :func:`expand`) the rule must
    and must not find; ``jupyter qsecure rules --check`` and the test suite run them.
    """

    id: str
    kind: str
    pattern: str
    trigger: str
    visible_prefix: int = 0
    check: Check | None = None
    ignore_case: bool = False
    multiline: bool = False
    config_only: bool = False
    template_placeholders_only: bool = False
    examples: tuple[str, ...] = ()
    negative_examples: tuple[str, ...] = ()
    context_before: int = 0
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        flags = re.IGNORECASE if self.ignore_case else 0
        object.__setattr__(self, "regex", re.compile(self.pattern, flags))

    def accepts(self, match: re.Match[str]) -> bool:
        """Whether a regex match is a credential (not a placeholder, and passes the check)."""
        value = match.group("secret")
        placeholder = is_template_placeholder if self.template_placeholders_only else is_placeholder
        if placeholder(value):
            return False
        return self.check is None or self.check(match)
