"""HTTP routers: thin handlers that call the services."""
