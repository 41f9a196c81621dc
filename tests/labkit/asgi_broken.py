"""An app that fails at import, as a misconfigured service does (LiveService's crash test)."""

raise RuntimeError("database URL is not configured")
