"""
The Russian plural rule, the one place that knows it.

``privatemessages/static/privatemessages/plural.js`` is its JavaScript twin; a test runs both
over the same inputs and compares them.
"""

import math
import re
from collections.abc import Sequence
from decimal import Decimal

# What a string must look like to count as a number. Kept this narrow (ASCII
# digits, an optional sign and fraction) so that Python and JavaScript agree.
_NUMBER_RE = re.compile(r"[ \t\n\r]*([+-]?)([0-9]+)(\.[0-9]+)?[ \t\n\r]*")


def _split_forms(forms: str | Sequence[str]) -> list[str]:
    items = forms.split(",") if isinstance(forms, str) else [str(item) for item in forms]
    items = [item.strip() for item in items][:3]
    if not items:
        return ["", "", ""]
    # Fewer than three forms: repeat the last one.
    return items + [items[-1]] * (3 - len(items))


def _as_number(value: object) -> int | float | None:
    """Return *value* as an int (or a non-integral float), or None if it is no number."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float | Decimal):
        number = float(value)
        if not math.isfinite(number):
            return None
        return int(number) if number.is_integer() else number
    if isinstance(value, str):
        match = _NUMBER_RE.fullmatch(value)
        if match is None:
            return None
        sign, whole, fraction = match.groups()
        if fraction and fraction.strip(".0"):
            return float(f"{sign}{whole}{fraction}")
        return int(f"{sign}{whole}")
    return None


def ru_plural(n: object, forms: str | Sequence[str]) -> str:
    """
    Return the form of *forms* ("сообщение,сообщения,сообщений": one, few, many)
    that goes with the number *n*.

    Negative numbers take the form of their absolute value, fractions the "few"
    form ("1,5 сообщения"), and anything that is not a number (None, "", "abc")
    the "many" form, as zero does.
    """
    one, few, many = _split_forms(forms)
    number = _as_number(n)
    if number is None:
        return many
    if isinstance(number, float):
        return few
    number = abs(number)
    if number % 10 == 1 and number % 100 != 11:
        return one
    if 2 <= number % 10 <= 4 and not 12 <= number % 100 <= 14:
        return few
    return many
