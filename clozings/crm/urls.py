"""Routes of the crm app: `public` on the platform host, `brokerage` on brokerage hosts."""

public: list = []
brokerage: list = []
