"""Routes of the crm app: `public` on the platform host, `brokerage` on brokerage hosts."""

from clozings.crm import views

public: list = []
brokerage: list = [*views.brokerage_urls]
