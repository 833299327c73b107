"""`clozings load_territories`: refresh the ZIP catalogue from the `zipcodes` package.

Migrations load it on a fresh database; run this after upgrading `zipcodes`. Staff's
prices, tiers and slots are kept.
"""

from django.core.management.base import BaseCommand

from clozings.territories.catalogue import load_catalogue


class Command(BaseCommand):
    help = "Load or refresh every active US ZIP into the territory catalogue."

    def handle(self, *args, **options):
        count = load_catalogue()
        self.stdout.write(f"{count} ZIP codes in the catalogue.")
