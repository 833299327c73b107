"""The kernel's schema helper and enqueue-on-commit, with TENANT_LIMIT_SET_CALLS on."""

import pytest
from django.conf import settings
from django.db import DataError, connection, transaction

from clozings.platform.tenancy import in_schema


def _database_schema() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        return cursor.fetchone()[0]


def test_the_setting_under_test_is_on():
    assert settings.TENANT_LIMIT_SET_CALLS is True


def test_in_schema_restores_the_previous_schema_even_when_the_block_raises(acme, globex):
    with in_schema(acme.brokerage.schema_name):
        with pytest.raises(ZeroDivisionError), in_schema(globex.brokerage.schema_name):
            assert _database_schema() == globex.brokerage.schema_name
            raise ZeroDivisionError
        assert connection.schema_name == acme.brokerage.schema_name
        assert _database_schema() == acme.brokerage.schema_name
    assert _database_schema() == "public"


def test_a_rolled_back_savepoint_leaves_the_next_statement_in_the_brokerage_schema(acme):
    # Distribution writes into brokerage schemas from public-schema code with a savepoint
    # per lead. The first statement in the schema runs inside the savepoint, so the
    # SET search_path is rolled back with it: the next statement must still be right.
    with transaction.atomic(), in_schema(acme.brokerage.schema_name):
        with pytest.raises(DataError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT 1 / 0")
        assert _database_schema() == acme.brokerage.schema_name


def test_after_a_savepoint_rollback_in_one_brokerage_the_next_brokerage_is_right(acme, globex):
    with transaction.atomic():
        with in_schema(acme.brokerage.schema_name):
            with pytest.raises(DataError), transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT 1 / 0")
        with in_schema(globex.brokerage.schema_name):
            assert _database_schema() == globex.brokerage.schema_name
        assert _database_schema() == "public"


def test_a_savepoint_opened_in_public_and_failed_in_a_brokerage_schema_rolls_back_cleanly(acme):
    # The delivery shape: public-schema code opens a savepoint per lead and switches to the
    # brokerage's schema inside it, so the SET search_path itself is rolled back.
    with transaction.atomic():
        with pytest.raises(DataError), transaction.atomic():
            with in_schema(acme.brokerage.schema_name), connection.cursor() as cursor:
                cursor.execute("SELECT 1 / 0")
        assert _database_schema() == "public"
        with in_schema(acme.brokerage.schema_name):
            assert _database_schema() == acme.brokerage.schema_name


def test_a_schema_switched_inside_a_failed_savepoint_is_restored_after_it(acme, globex):
    with transaction.atomic(), in_schema(acme.brokerage.schema_name):
        assert _database_schema() == acme.brokerage.schema_name
        with pytest.raises(DataError), transaction.atomic():
            with in_schema(globex.brokerage.schema_name), connection.cursor() as cursor:
                cursor.execute("SELECT 1 / 0")
        assert _database_schema() == acme.brokerage.schema_name
