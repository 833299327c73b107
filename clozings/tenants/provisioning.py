"""Creating a brokerage's schema."""

from django.core.management import call_command
from django.db import connection
from django_tenants.utils import schema_context


def create_brokerage_schema(schema_name: str) -> None:
    """Create the schema and bring it to the current tenant migrations."""
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA "{schema_name}"')
    with schema_context("public"):
        call_command("migrate_schemas", schema_name=schema_name, tenant=True,
                     interactive=False, verbosity=0)
