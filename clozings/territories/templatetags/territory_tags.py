"""Template helpers for territory pages: `{{ cents|price }}` -> "$49.00"."""

from django import template

register = template.Library()


@register.filter
def price(cents) -> str:
    try:
        cents = int(cents)
    except (TypeError, ValueError):
        return ""
    whole, part = divmod(abs(cents), 100)
    return f"{'-' if cents < 0 else ''}${whole:,}.{part:02d}"


@register.filter
def get_item(mapping, key):
    """`{{ mapping|get_item:key }}`: a dict's value in a template."""
    return mapping.get(key) if hasattr(mapping, "get") else None
