"""`migrate` is `migrate_schemas` (as in django-tenants), with the faster tenant pass."""

from clozings.platform.management.commands.migrate_schemas import Command

__all__ = ["Command"]
