"""One rule for every name a person types (brokerage, person, invited seat).

Names go into mail headers, page titles and CSV exports: a line break makes a mail header
invalid (Django refuses it with BadHeaderError), and invisible controls or direction
overrides make a name read differently from what it is. Such characters are refused, with
one message, by forms, API serializers and services alike.
"""

from __future__ import annotations

import unicodedata

from django.core.exceptions import ValidationError

# Format characters that reorder or hide text (bidirectional embeddings, overrides and
# isolates, the BOM). Other format characters, such as the zero-width joiners that emoji
# and several scripts need, are allowed.
_DIRECTION_AND_INVISIBLE = {
    *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C, 0xFEFF,
}
# C0 and C1 controls and DEL (Cc), line and paragraph separators (Zl, Zp), lone surrogates.
_REFUSED_CATEGORIES = {"Cc", "Zl", "Zp", "Cs"}

CONTROL_CHARACTER_MESSAGE = (
    "Remove the line break, tab or other invisible control character from the name.")


def has_control_characters(value: str) -> bool:
    return any(unicodedata.category(char) in _REFUSED_CATEGORIES
               or ord(char) in _DIRECTION_AND_INVISIBLE for char in value or "")


def validate_name_characters(value: str) -> None:
    """Refuse control characters, line and paragraph separators and direction overrides."""
    if has_control_characters(value):
        raise ValidationError(CONTROL_CHARACTER_MESSAGE, code="control_characters")
