"""The Celery app. tenant-schemas-celery carries the brokerage's schema in task headers,
so a task sent during a brokerage request runs in that brokerage's schema."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clozings.platform.settings")

from tenant_schemas_celery.app import CeleryApp  # noqa: E402

app = CeleryApp("clozings")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
