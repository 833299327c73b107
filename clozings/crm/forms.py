"""Forms of the CRM pages. They check what a person typed; every rule about leads lives in
services. Text a person types may hold line breaks (notes) but no other control character."""

from __future__ import annotations

import unicodedata
from decimal import Decimal, InvalidOperation

from django import forms
from django.core.exceptions import ValidationError

from clozings.crm.models import Activity, Lead

TOUCH_KINDS = [(kind, label) for kind, label in Activity.Kind.choices
               if kind in (Activity.Kind.CALL, Activity.Kind.TEXT, Activity.Kind.EMAIL)]
# Where a logged touch sends the person back to (a name, never a URL).
RETURN_TO = [("leads", "All leads"), ("today", "Today"), ("lead", "The lead")]
CONTROL_MESSAGE = "Remove the invisible control character from the text."
_DIRECTION = {*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C, 0xFEFF}


def validate_text(value: str) -> None:
    """Refuse control characters other than line breaks and tabs (and direction
    overrides, which make text read differently from what it is)."""
    for char in value or "":
        if char in "\n\r\t":
            continue
        if unicodedata.category(char) in {"Cc", "Zl", "Zp", "Cs"} or ord(char) in _DIRECTION:
            raise ValidationError(CONTROL_MESSAGE, code="control_characters")


def validate_line(value: str) -> None:
    """A one-line value: no control character at all."""
    if any(char in "\n\r\t" for char in value or ""):
        raise ValidationError(CONTROL_MESSAGE, code="control_characters")
    validate_text(value)


class TouchForm(forms.Form):
    kind = forms.ChoiceField(label="What you did", choices=TOUCH_KINDS,
                             initial=Activity.Kind.CALL)
    outcome = forms.ChoiceField(label="How it went", required=False,
                                choices=[("", "—"), *Activity.Outcome.choices])
    note = forms.CharField(label="Note", required=False, max_length=2000,
                           validators=[validate_text],
                           widget=forms.Textarea(attrs={"rows": 2}))
    back = forms.ChoiceField(choices=RETURN_TO, required=False, widget=forms.HiddenInput)


# The outcome buttons, in the order an agent meets them after a call.
OUTCOME_BUTTONS = [
    (Activity.Outcome.CONNECTED, "Connected"),
    (Activity.Outcome.VOICEMAIL, "Voicemail"),
    (Activity.Outcome.NO_ANSWER, "No answer"),
    (Activity.Outcome.REPLIED, "Replied"),
    (Activity.Outcome.BAD_NUMBER, "Bad number"),
]

# Stages a person may move a lead to (reassigned is the routing's, never a person's).
STAGE_CHOICES = [(value, label) for value, label in Lead.Stage.choices
                 if value != Lead.Stage.REASSIGNED]
MAX_DOLLARS = Decimal("1000000000")  # a billion dollars: more is a typo


def dollars_to_cents(value: str, *, label: str) -> int | None:
    text = (value or "").strip().replace(",", "").replace("$", "").replace(" ", "")
    if not text:
        return None
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValidationError(f"Enter the {label} in dollars, for example 450000 or "
                              "450,000.00.", code="invalid") from None
    if not amount.is_finite() or amount < 0:
        raise ValidationError(f"Enter the {label} as a positive amount of dollars.",
                              code="invalid")
    if amount >= MAX_DOLLARS:
        raise ValidationError(f"The {label} is too large; check the number.", code="invalid")
    if amount != amount.quantize(Decimal("0.01")):
        raise ValidationError(f"Enter the {label} to the cent at most.", code="invalid")
    return int(amount * 100)


class StageForm(forms.Form):
    """A stage change. Closed asks the sale price and commission (in dollars); lost asks a
    reason."""

    stage = forms.ChoiceField(label="Move to", choices=STAGE_CHOICES)
    sale_price = forms.CharField(label="Sale price ($)", required=False, max_length=20,
                                 widget=forms.TextInput(attrs={"inputmode": "decimal",
                                                               "autocomplete": "off"}))
    commission = forms.CharField(label="Your commission ($)", required=False, max_length=20,
                                 widget=forms.TextInput(attrs={"inputmode": "decimal",
                                                               "autocomplete": "off"}))
    reason = forms.CharField(label="Why it was lost", required=False, max_length=200,
                             validators=[validate_line])

    def clean(self):
        data = super().clean()
        for name, label in (("sale_price", "sale price"), ("commission", "commission")):
            try:
                data[f"{name}_cents"] = dollars_to_cents(data.get(name, ""), label=label)
            except ValidationError as exc:
                self.add_error(name, exc)
        stage = data.get("stage")
        if stage == Lead.Stage.CLOSED and not self.errors:
            if data.get("sale_price_cents") is None:
                self.add_error("sale_price", "Enter the sale price to close the lead.")
            if data.get("commission_cents") is None:
                self.add_error("commission", "Enter your commission to close the lead.")
        if stage == Lead.Stage.LOST and not (data.get("reason") or "").strip():
            self.add_error("reason", "Say why the lead was lost.")
        return data


class ContactForm(forms.Form):
    first_name = forms.CharField(label="First name", required=False, max_length=100,
                                 validators=[validate_line])
    last_name = forms.CharField(label="Last name", required=False, max_length=100,
                                validators=[validate_line])
    phone = forms.CharField(label="Phone", required=False, max_length=30,
                            validators=[validate_line],
                            widget=forms.TextInput(attrs={"inputmode": "tel",
                                                          "autocomplete": "off"}))
    email = forms.EmailField(label="Email", required=False, max_length=254)
    zip_code = forms.CharField(label="ZIP code", required=False, max_length=10,
                               validators=[validate_line],
                               widget=forms.TextInput(attrs={"inputmode": "numeric",
                                                             "autocomplete": "off"}))


class CadenceForm(forms.Form):
    """Switch the lead to another of the brokerage's cadences (choices set per request,
    from this brokerage's schema only)."""

    cadence = forms.TypedChoiceField(label="Cadence", coerce=int, choices=())

    def __init__(self, *args, cadences=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["cadence"].choices = [(c.pk, c.name) for c in cadences]


class OptOutForm(forms.Form):
    note = forms.CharField(label="What the lead said", required=False, max_length=500,
                           validators=[validate_text],
                           widget=forms.Textarea(attrs={"rows": 2}))
