from django.apps import AppConfig


class DistributionConfig(AppConfig):
    name = "clozings.distribution"
    label = "distribution"

    def ready(self) -> None:
        from clozings.distribution import receivers  # noqa: F401 (connects the receivers)
