"""A payments provider the shop depends on: its own small ASGI app with faults set at run time.

It lives inside ``sample_service`` so it ships in the same distribution and is started the same
way (``lk.LiveService("sample_service.payments.provider:app")``), yet it imports nothing from
the shop: to the shop it is a remote dependency reached over HTTP, as a real provider would be.
"""
