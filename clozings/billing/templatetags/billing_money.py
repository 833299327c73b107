"""`{{ cents|dollars }}` -> "$1,234.50" (money is stored in integer cents)."""

from django import template

register = template.Library()


@register.filter
def dollars(cents) -> str:
    try:
        cents = int(cents)
    except (TypeError, ValueError):
        return ""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}${whole:,}.{part:02d}"
