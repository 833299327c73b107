from django.apps import AppConfig


class PlatformConfig(AppConfig):
    name = "clozings.platform"
    label = "platform"
    verbose_name = "Platform"

    def ready(self) -> None:
        from clozings.platform import celery  # noqa: F401  (tasks use this app)
