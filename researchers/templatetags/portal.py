"""Small formatting filters of the portal's templates."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def thousands(value) -> str:
    """1000000 → "1,000,000" (quotas and counts are easier to read grouped)."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return "" if value is None else str(value)


@register.filter
def percent(value) -> str:
    """0.00042 → "0.04%", 0.5 → "50%"."""
    share = float(value or 0) * 100
    if share == 0:
        return "0%"
    if share < 0.01:
        return "under 0.01%"
    return f"{share:.2f}".rstrip("0").rstrip(".") + "%"
