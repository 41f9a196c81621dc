"""Business rules and transaction boundaries, free of HTTP."""
