"""The product's one date format (Django's date-filter syntax), in place of Django's
"Dec. 2, 2026, 3:05 p.m.": "Dec 2, 2026" and "Dec 2, 2026, 3:05 PM"."""

DATE_FORMAT = "M j, Y"
DATETIME_FORMAT = "M j, Y, g:i A"
SHORT_DATE_FORMAT = "M j, Y"
SHORT_DATETIME_FORMAT = "M j, Y, g:i A"
TIME_FORMAT = "g:i A"
MONTH_DAY_FORMAT = "M j"
YEAR_MONTH_FORMAT = "M Y"
