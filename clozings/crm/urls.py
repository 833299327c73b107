"""Routes of the crm app: `public` on the platform host, `brokerage` on brokerage hosts."""

from clozings.crm import api_reports, views, views_reports

public: list = []
brokerage: list = [*views.brokerage_urls,
                   *views_reports.brokerage_urls, *api_reports.brokerage_urls]
