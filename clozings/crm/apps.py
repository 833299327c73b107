from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "clozings.crm"
    label = "crm"

    def ready(self) -> None:
        # Writing an open task wakes its brokerage's sender or reminder run (their
        # post_save receivers).
        from clozings.crm import messaging, reminders  # noqa: F401
        from clozings.crm import receivers  # noqa: F401 (connects the receivers)
