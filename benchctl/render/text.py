"""Text from manifests and the database, made safe to print on a terminal."""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL, and C1 controls (CSI and OSC among them): an escape
# sequence in a session's notes could retitle the terminal, clear the screen or forge lines.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with every control character shown as ``\\xNN`` instead of acting."""
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)
