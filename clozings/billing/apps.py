from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "clozings.billing"
    label = "billing"
