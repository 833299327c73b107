"""Routes of the crm app: `public` on the platform host, `brokerage` on brokerage hosts."""

from clozings.crm import api_imports, api_me, views, views_calendar, views_imports

public: list = []
brokerage: list = [*views.brokerage_urls, *views_imports.brokerage_urls,
                   *views_calendar.brokerage_urls, *api_imports.brokerage_urls,
                   *api_me.brokerage_urls]
