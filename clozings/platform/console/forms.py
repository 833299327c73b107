"""Forms of the staff console: the territory pages' inventory filter, one ZIP's settings
and a tier's price; the orphan queue's assignment."""

from __future__ import annotations

from django import forms

from clozings.distribution.routing import MAX_RADIUS_MILES
from clozings.territories import services
from clozings.territories.forms import DollarsField
from clozings.territories.models import Tier

ZIP_VALIDATORS = {"regex": r"^[0-9]{5}$", "max_length": 5,
                  "error_messages": {"invalid": "Enter a 5-digit ZIP code, like 10001."}}


class InventoryForm(forms.Form):
    zip_code = forms.RegexField(label="ZIP code", required=False, **ZIP_VALIDATORS)
    state = forms.RegexField(label="State", required=False, regex=r"^[A-Za-z]{2}$",
                             max_length=2,
                             error_messages={"invalid": "Enter a two-letter state, like NY."})
    city = forms.CharField(label="City", required=False, max_length=64)
    tier = forms.ChoiceField(label="Tier", required=False,
                             choices=[("", "Any tier"), *Tier.choices])
    availability = forms.ChoiceField(label="Availability", required=False, choices=[
        ("", "Any"), ("free", "Has a free place"), ("full", "Full"),
        ("waitlisted", "Has a waitlist")])


class TerritorySettingsForm(forms.Form):
    price = DollarsField(label="Own price (dollars a month)", required=False,
                         help_text="Like 49 or 49.00. Leave empty to use the tier's price.")
    tier = forms.ChoiceField(label="Tier", choices=Tier.choices)
    slots = forms.IntegerField(label="Slots", min_value=1, max_value=services.MAX_SLOTS,
                               help_text="1 = exclusive. Never below the places taken now.")
    is_active = forms.BooleanField(label="Offered in the catalogue", required=False)


class TierPriceForm(forms.Form):
    price = DollarsField(label="Price (dollars a month)", help_text="Like 49 or 49.00.")

    def __init__(self, *args, tier: str, **kwargs):
        kwargs.setdefault("prefix", f"tier-{tier}")
        super().__init__(*args, **kwargs)
        self.fields["price"].label = f"{Tier(tier).label} price (dollars a month)"


class OrphanAssignForm(forms.Form):
    """Where staff send an orphaned lead: an agent's seat, or the nearest eligible holder
    within a radius (one of the two)."""

    agent_id = forms.IntegerField(label="Agent seat number", required=False, min_value=1,
                                  max_value=2**31 - 1,
                                  widget=forms.NumberInput(attrs={"list": "seats"}),
                                  help_text="Any active seat; start typing to pick one.")
    nearest_within_miles = forms.FloatField(
        label="Nearest holder within (miles)", required=False, min_value=0.1,
        max_value=MAX_RADIUS_MILES)

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        if (data.get("agent_id") is None) == (data.get("nearest_within_miles") is None):
            raise forms.ValidationError("Give an agent seat number or a radius.")
        return data
