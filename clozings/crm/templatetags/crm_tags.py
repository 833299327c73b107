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


@register.filter
def stage_label(value: str) -> str:
    """A stage's label from its stored value ("under_contract" -> "Under contract")."""
    from clozings.crm.models import Lead

    return dict(Lead.Stage.choices).get(value, value or "—")


@register.filter
def words(value: str) -> str:
    """A stored code as words: "text_reply" -> "text reply"."""
    return (value or "").replace("_", " ")
