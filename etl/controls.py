"""Control characters in untrusted text (source data, file names, server replies), shown, never run.

In a module of its own so that the log formatter (etl.logs) and the terminal layer (etl.terminal) can
both use it without importing each other.
"""

from __future__ import annotations

import re

# What would steer the terminal instead of being shown: C0 controls but tab and line ends (a CR
# alone moves the cursor back over what was shown), DEL, C1 controls (0x9b is a CSI by itself), and
# the bidirectional overrides that show text in another order than it is.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]|\r(?!\n)")


def escape_controls(text: str) -> str:
    """``text`` with every character that would steer a terminal written as ``\\uXXXX``, as JSON does."""
    return _CONTROL.sub(lambda found: f"\\u{ord(found.group()):04x}", text)
