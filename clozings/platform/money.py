"""Money is kept in integer cents; this is the one place that writes it for people.

Kernel module: imports no app.
"""


def format_cents(cents: int) -> str:
    """1234550 -> "$12,345.50"; -500 -> "-$5.00"."""
    whole, part = divmod(abs(cents), 100)
    return f"{'-' if cents < 0 else ''}${whole:,}.{part:02d}"
