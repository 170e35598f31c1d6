from datetime import datetime

from django import template

from ..events import iso_utc

register = template.Library()


@register.filter
def isoutc(value: datetime | None) -> str:
    """Return *value* as an ISO 8601 UTC timestamp ("2026-01-02T03:04:05.678Z")."""
    if not isinstance(value, datetime):
        return ""
    return iso_utc(value)
