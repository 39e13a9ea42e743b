"""Formatting of figures as the reports print them ("92.03 %", "122,950.00", "—")."""

from __future__ import annotations

DASH = "—"


def pct(value: float | None) -> str:
    """A fraction as a percentage with two decimals (``0.9203`` → ``92.03 %``); None → ``—``."""
    if value is None:
        return DASH
    return f"{value * 100:.2f} %"


def area(value: float | None) -> str:
    """m² with thousands separators and two decimals; None → ``—``."""
    if value is None:
        return DASH
    return f"{value:,.2f}"


def count(value: int | None) -> str:
    """An integer with thousands separators; None → ``—``."""
    if value is None:
        return DASH
    return f"{value:,d}"


def days(value: float | None) -> str:
    """Days with one decimal; None → ``—``."""
    if value is None:
        return DASH
    return f"{value:.1f}"


def score(value: float | None) -> str:
    """An index or score (0–100) with two decimals; None → ``—``."""
    if value is None:
        return DASH
    return f"{value:.2f}"
