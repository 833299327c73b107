"""Template helpers for territory pages: `{{ cents|price }}` -> "$49.00"."""

from django import template

from clozings.platform.templatetags.money import dollars

register = template.Library()


@register.filter
def price(cents) -> str:
    return dollars(cents)


@register.filter
def get_item(mapping, key):
    """`{{ mapping|get_item:key }}`: a dict's value in a template."""
    return mapping.get(key) if hasattr(mapping, "get") else None
