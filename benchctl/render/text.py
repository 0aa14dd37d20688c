"""Text from manifests and the database, made safe to print on a terminal."""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL, and C1 controls (CSI and OSC among them): an escape
# sequence in a session's notes could retitle the terminal, clear the screen or forge lines.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROL_OR_LINE_BREAK = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _shown(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


def printable(text: str) -> str:
    """``text`` with every control character but tab and newline shown as ``\\xNN``."""
    return _CONTROL.sub(_shown, text)


def one_line(text: str) -> str:
    """``text`` with every control character, newlines and tabs included, shown as ``\\xNN``."""
    return _CONTROL_OR_LINE_BREAK.sub(_shown, text)
