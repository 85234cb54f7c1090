"""Checks of configuration values that several layers share."""

from __future__ import annotations

__all__ = ["whole_number"]


def whole_number(value: object, minimum: int = 0) -> bool:
    """Whether `value` is an int of at least `minimum`. A bool is an int to Python, but
    `True` given for a count or a size is a mistake, not 1."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum
