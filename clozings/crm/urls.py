"""Routes of the crm app: `public` on the platform host, `brokerage` on brokerage hosts."""

from clozings.crm import (
    api,
    api_imports,
    api_me,
    views,
    views_cadences,
    views_calendar,
    views_imports,
)

public: list = []
# The import and export routes come before api.py's, so "import" is never read as an id.
brokerage: list = [*api_imports.brokerage_urls, *api_me.brokerage_urls, *api.brokerage_urls,
                   *views_imports.brokerage_urls, *views_calendar.brokerage_urls,
                   *views.brokerage_urls, *views_cadences.brokerage_urls]
