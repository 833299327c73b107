from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "clozings.crm"
    label = "crm"

    def ready(self) -> None:
        # Writing an open task wakes its brokerage's sender or reminder run (their
        # post_save receivers); `receivers` connects crm's own.
        from clozings.crm import messaging, receivers, reminders  # noqa: F401
