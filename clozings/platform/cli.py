"""The `clozings` command: Django's manage.py plus the project's own commands."""

import os
import sys

# Commands that never touch the database start no embedded service.
NO_DATABASE = {"help", "--help", "-h", "version", "--version", "check", "makemigrations",
               "collectstatic", "spectacular"}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clozings.platform.settings")
    command = sys.argv[1] if len(sys.argv) > 1 else "help"
    if command not in NO_DATABASE:
        from clozings.platform.embedded import ensure_services

        # `run` needs the broker too, and keeps its queues; other commands only the database.
        try:
            ensure_services(redis=command == "run", redis_must_persist=command == "run")
        except RuntimeError as exc:
            sys.exit(f"clozings: {exc}")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
