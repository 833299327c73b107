"""Load every active US ZIP (and the tier prices) so every database has the catalogue."""

from django.db import migrations


def load(apps, schema_editor):
    from clozings.territories.catalogue import load_catalogue

    load_catalogue(connection=schema_editor.connection)


class Migration(migrations.Migration):

    dependencies = [
        ("territories", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(load, migrations.RunPython.noop, elidable=False),
    ]
