"""The CRM's template helpers: phone numbers as people write them, the outcome buttons."""

from __future__ import annotations

import phonenumbers
import pytest

from clozings.crm.forms import OUTCOME_BUTTONS
from clozings.crm.templatetags.crm_tags import outcome_buttons, phone

pytestmark = pytest.mark.django_db  # the suite's autouse fixtures reach the database


def _by_phonenumbers(e164: str) -> str:
    number = phonenumbers.parse(e164, None)
    style = (phonenumbers.PhoneNumberFormat.NATIONAL if number.country_code == 1
             else phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return phonenumbers.format_number(number, style)


@pytest.mark.parametrize("e164", ["+12125550141", "+15550049960", "+19995551234",
                                  "+12120000000", "+18005550199"])
def test_a_north_american_number_reads_as_phonenumbers_writes_it(e164):
    assert phone(e164) == _by_phonenumbers(e164)


@pytest.mark.parametrize(("e164", "shown"), [
    ("+12125550141", "(212) 555-0141"),
    ("+442079460958", "+44 20 7946 0958"),
    ("+11125550141", _by_phonenumbers("+11125550141")),  # no such area code: as parsed
    ("not a number", "not a number"),
    ("", ""),
])
def test_phone_numbers_as_people_write_them(e164, shown):
    assert phone(e164) == shown


def test_the_outcome_buttons_are_one_submit_button_per_outcome():
    html = outcome_buttons()

    assert html.count('<button type="submit" name="outcome"') == len(OUTCOME_BUTTONS)
    for value, label in OUTCOME_BUTTONS:
        assert f'value="{value}" class="secondary outcome-{value}">{label}</button>' in html
