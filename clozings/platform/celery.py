"""The Celery app. tenant-schemas-celery carries the brokerage's schema in task headers,
so a task sent during a brokerage request runs in that brokerage's schema."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clozings.platform.settings")

from celery.signals import beat_init, task_postrun, task_prerun, worker_init  # noqa: E402
from django.core.exceptions import ImproperlyConfigured  # noqa: E402
from django.db import connection  # noqa: E402
from tenant_schemas_celery.app import CeleryApp  # noqa: E402

app = CeleryApp("clozings")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# CSV imports keep their tasks beside the import code (clozings/crm/import_tasks.py).
app.autodiscover_tasks(["clozings.crm"], related_name="import_tasks")


@task_prerun.connect(weak=False, dispatch_uid="clozings_tag_brokerage")
def _tag_brokerage(task=None, **kwargs) -> None:
    # Connected after tenant-schemas-celery's own prerun handler, so the schema is set.
    from clozings.platform.observability import tag_brokerage

    tag_brokerage(getattr(connection.tenant, "slug", None))


@task_prerun.connect(weak=False, dispatch_uid="clozings_log_task_id")
def _log_task_id(task_id=None, **kwargs) -> None:
    from clozings.platform.logs import request_id

    request_id.set(task_id)


@task_postrun.connect(weak=False, dispatch_uid="clozings_clear_task_id")
def _clear_task_id(**kwargs) -> None:
    from clozings.platform.logs import request_id

    request_id.set(None)


def _refuse_development_secrets(process: str) -> None:
    # SystemExit, not the ImproperlyConfigured itself: Celery logs and swallows a signal
    # handler's exceptions, and the process must not go on.
    from clozings.platform.startup import refuse_development_secrets

    try:
        refuse_development_secrets(process)
    except ImproperlyConfigured as exc:
        raise SystemExit(str(exc)) from exc


@worker_init.connect(weak=False, dispatch_uid="clozings_refuse_development_secrets_worker")
def _check_worker_secrets(**kwargs) -> None:
    _refuse_development_secrets("Celery worker")


@beat_init.connect(weak=False, dispatch_uid="clozings_refuse_development_secrets_beat")
def _check_beat_secrets(**kwargs) -> None:
    _refuse_development_secrets("Celery beat")
