"""Locustfiles shipped with labkit; Locust loads them by path (`-f`), nothing imports them here."""
