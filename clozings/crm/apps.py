from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "clozings.crm"
    label = "crm"

    def ready(self) -> None:
        # Connects the receivers: crmcore's, and the post_save ones by which writing an
        # open task wakes its brokerage's sender (messaging) or reminder run (reminders).
        from clozings.crm import messaging, receivers, reminders  # noqa: F401
