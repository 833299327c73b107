"""Routes of the crm app: `public` on the platform host, `brokerage` on brokerage hosts."""

from clozings.crm import (api, api_reports, contact_views, views, views_cadences,
                          views_reports, webhooks)

public: list = []
brokerage: list = [*api.brokerage_urls, *views.brokerage_urls, *views_cadences.brokerage_urls,
                   *webhooks.urls, *contact_views.urls, *views_reports.brokerage_urls,
                   *api_reports.brokerage_urls]
