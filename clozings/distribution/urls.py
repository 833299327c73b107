"""Routes of the distribution app: `public` on the platform host, `brokerage` on brokerage hosts."""

from clozings.distribution import api

public: list = [*api.public_urls, *api.adapter_urls]
brokerage: list = []
