from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "clozings.billing"
    label = "billing"

    def ready(self) -> None:
        from clozings.billing import receivers  # noqa: F401  (connects the receivers)
