"""Pydantic v2 request and response schemas, the service's edge."""
