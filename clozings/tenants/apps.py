from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "clozings.tenants"
    label = "tenants"
