"""Pages of the tenants app (sign-up, login, dashboard, seats, invitations)."""

public_urls: list = []
brokerage_urls: list = []
