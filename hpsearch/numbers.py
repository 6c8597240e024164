"""How a number reads, the same in the console, the CSV's companions, the HTML tables, text and chart axes.

Accuracies are fractions wherever they are stored (trials, CSV, JSON); people read them as per cent with one
decimal ("71.2%"), and differences as signed percentage points with one decimal ("+7.1 pts"). Charts use the
same rule through AXIS_PERCENT (plotly's d3 format).
"""

from __future__ import annotations

import math
from typing import Any

AXIS_PERCENT = ".1%"  # plotly tickformat / hoverformat: 0.7123 -> 71.2%
DECIMALS = 1


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def stored(value: Any) -> Any:
    """A stored accuracy, or a difference of two, to the 6 decimals Keras's float32 holds (core/callbacks.py):
    0.01, not 0.010000000000000009; anything else as it is."""
    return round(value, 6) if is_number(value) else value


def pct(value: Any) -> str:
    """0.7123 -> "71.2%"; missing -> "—"."""
    return f"{value * 100:.{DECIMALS}f}%" if is_number(value) else "—"


def pts(value: Any) -> str:
    """A difference of two accuracies in percentage points, signed: 0.071 -> "+7.1 pts" (never "-0.0")."""
    if not is_number(value):
        return "—"
    points = round(value * 100, DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0
    return f"{points:+.{DECIMALS}f} pts"


def spread(value: Any) -> str:
    """A standard deviation or standard error of an accuracy, in points, unsigned: 0.003 -> "0.3 pts"."""
    return f"{value * 100:.{DECIMALS}f} pts" if is_number(value) else "—"


def p_value(value: Any) -> str:
    """Two significant digits, three near the 5 % line (0.0496 and 0.0504 must not both read "0.05")."""
    if not is_number(value):
        return "—"
    if value < 1e-4:
        return f"{value:.1e}"
    return f"{value:.3g}" if 0.01 <= value < 0.1 else f"{value:.2g}"


def param(value: Any) -> str:
    """A parameter's value in text and tables (console and page alike): floats to 4 significant digits."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)
