from datetime import datetime

from django import template

from ..events import iso_utc
from ..plural import ru_plural

register = template.Library()


@register.filter
def rupluralize(value: object, forms: str) -> str:
    """
    Return the Russian plural form of *forms* for the number *value*:
    ``{{ n|rupluralize:"сообщение,сообщения,сообщений" }}``.
    """
    return ru_plural(value, forms or "")


@register.filter
def isoutc(value: datetime | None) -> str:
    """Return *value* as an ISO 8601 UTC timestamp ("2026-01-02T03:04:05.678Z")."""
    if not isinstance(value, datetime):
        return ""
    return iso_utc(value)
