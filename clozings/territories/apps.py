from django.apps import AppConfig


class TerritoriesConfig(AppConfig):
    name = "clozings.territories"
    label = "territories"
