"""Durations in journey files: "90s", "15m", "12h", "30d", "2w", or plain seconds."""

from __future__ import annotations

import math
import re

__all__ = ["UNITS", "parse_duration"]

#: seconds per unit letter
UNITS: dict[str, int] = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}

_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_HINT = "use a number with a unit s, m, h, d or w (e.g. 90s, 15m, 12h, 30d, 2w) or plain seconds"


def parse_duration(value: object) -> float:
    """Return a duration in seconds; raise ValueError naming the value if it is not one.

    >>> parse_duration("15m")
    900.0
    """
    if isinstance(value, bool):
        raise ValueError(f"bad duration {value!r}: {_HINT}")
    if isinstance(value, int | float):
        return _positive(float(value), value)
    if isinstance(value, str):
        match = _PATTERN.match(value)
        if match:
            return _positive(float(match.group(1)) * UNITS[match.group(2)], value)
    raise ValueError(f"bad duration {_show(value)}: {_HINT}")


def _positive(seconds: float, value: object) -> float:
    """Check that a duration is a finite number above zero."""
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"bad duration {_show(value)}: a duration must be a positive, finite length")
    return seconds


def _show(value: object) -> str:
    """The value as the user wrote it, quoted when it is text."""
    return repr(str(value)) if isinstance(value, str) else repr(value)
