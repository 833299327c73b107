from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "clozings.crm"
    label = "crm"

    def ready(self) -> None:
        from clozings.crm import receivers  # noqa: F401 (connects the receivers)
