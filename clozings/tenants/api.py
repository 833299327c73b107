"""API of the tenants app (auth token, brokerages, seats)."""

public_urls: list = []
brokerage_urls: list = []
