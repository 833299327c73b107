"""`{% load money %}` then `{{ cents|dollars }}` -> "$1,234.50"."""

from django import template

from clozings.platform.money import format_cents

register = template.Library()


@register.filter
def dollars(cents) -> str:
    try:
        return format_cents(int(cents))
    except (TypeError, ValueError):
        return ""
