"""Routes of the territories app: `public` on the platform host, `brokerage` on brokerage hosts."""

from clozings.territories import api, views

public = [*api.public_urls]
brokerage = [*api.brokerage_urls, *views.brokerage_urls]
