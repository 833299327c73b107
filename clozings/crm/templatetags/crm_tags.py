"""Template helpers for CRM pages: `{{ "+12125550141"|phone }}` -> "(212) 555-0141"."""

from __future__ import annotations

import phonenumbers
from django import template

register = template.Library()


@register.filter
def phone(e164: str) -> str:
    """A stored E.164 number as people write it: national for US numbers, else international."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    style = (phonenumbers.PhoneNumberFormat.NATIONAL if number.country_code == 1
             else phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return phonenumbers.format_number(number, style)
