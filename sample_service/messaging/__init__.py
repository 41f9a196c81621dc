"""Async work: the job queue in the shop's database, the outbox relay, the event consumers.

The worker process (``python -m sample_service.worker``) runs these; the API only enqueues
jobs and writes outbox rows inside its own transactions.
"""
