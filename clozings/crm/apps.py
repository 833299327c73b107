from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "clozings.crm"
    label = "crm"
