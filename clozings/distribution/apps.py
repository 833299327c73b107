from django.apps import AppConfig


class DistributionConfig(AppConfig):
    name = "clozings.distribution"
    label = "distribution"
