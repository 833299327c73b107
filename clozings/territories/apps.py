from django.apps import AppConfig


class TerritoriesConfig(AppConfig):
    name = "clozings.territories"
    label = "territories"

    def ready(self) -> None:
        from clozings.territories import receivers  # noqa: F401 (connects the receivers)
