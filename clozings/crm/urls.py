"""Routes of the crm app: `public` on the platform host, `brokerage` on brokerage hosts."""

from clozings.crm import api, contact_views, views, views_cadences, webhooks

public: list = []
brokerage: list = [*api.brokerage_urls, *views.brokerage_urls, *views_cadences.brokerage_urls,
                   *webhooks.urls, *contact_views.urls]
