"""Refuse to serve production traffic on development secrets.

`clozings check --deploy` only warns, and only when someone runs it. With DEBUG off, the
web server (wsgi.py) and the Celery worker and beat (celery.py) call
refuse_development_secrets() as they start and stop there with a clear message: a known
SECRET_KEY lets anyone sign a hand-over token or a session cookie (an admin session), and
the default webhook secret lets anyone post Stripe events.

`clozings run` gives its children a key of this machine's own (run.py) and localstripe; the
tests' settings (settings_test.py) set their own key.

Kernel module: imports no app.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# Django's own bar for a production key (check --deploy's security.W009).
SECRET_KEY_MIN_LENGTH = 50
SECRET_KEY_MIN_UNIQUE_CHARACTERS = 5


def development_secret_problems() -> list[str]:
    """What stops these settings from serving production traffic (empty: nothing)."""
    if settings.DEBUG:
        return []
    problems = []
    key = settings.SECRET_KEY
    if key == settings.DEVELOPMENT_SECRET_KEY or key.startswith("django-insecure-"):
        problems.append("SECRET_KEY is the development key: set SECRET_KEY to a long random "
                        "value (python -c 'import secrets; print(secrets.token_urlsafe(50))').")
    elif len(key) < SECRET_KEY_MIN_LENGTH or len(set(key)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS:
        problems.append(f"SECRET_KEY is too short or too plain: use at least "
                        f"{SECRET_KEY_MIN_LENGTH} random characters.")
    real_stripe = (settings.STRIPE_SECRET_KEY != settings.LOCAL_STRIPE_SECRET_KEY
                   and not settings.STRIPE_API_BASE)
    if real_stripe and settings.STRIPE_WEBHOOK_SECRET == settings.LOCAL_STRIPE_WEBHOOK_SECRET:
        problems.append("STRIPE_WEBHOOK_SECRET is the local default while STRIPE_SECRET_KEY "
                        "talks to Stripe: set it to the endpoint's signing secret (whsec_...) "
                        "from Stripe's dashboard.")
    return problems


def refuse_development_secrets(process: str) -> None:
    """Raise ImproperlyConfigured naming every problem, when there is one (DEBUG off)."""
    problems = development_secret_problems()
    if problems:
        raise ImproperlyConfigured(
            f"Refusing to start the {process} with DEBUG off:\n"
            + "\n".join(f"- {problem}" for problem in problems)
            + "\n(Set DEBUG=true only on a development machine.)")
