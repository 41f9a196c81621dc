"""How the shop calls what it depends on: timeouts, retries, a breaker, a bulkhead.

Written by hand because they are the lesson of notebook 11: each policy is small, takes an
injectable clock or random source, and reports its state in ``/metrics`` and the logs.
"""
