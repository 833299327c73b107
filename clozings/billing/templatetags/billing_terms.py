"""`{% load billing_terms %}{% seat_price as cents %}`: what a seat costs a month, for
pages outside billing (the invite form) that say so."""

from django import template
from django.conf import settings

register = template.Library()


@register.simple_tag
def seat_price() -> int:
    return settings.BILLING_SEAT_PRICE_CENTS
