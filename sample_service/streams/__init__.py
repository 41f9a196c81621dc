"""Live views for clients: an order's events (SSE) and stock changes (WebSocket).

Both read what the database already holds, so any process serves any client, and both
keep a bounded amount per client: the order stream reads the next events only once the
last were sent; the stock hub drops a client whose buffer is full.
"""

from sample_service.streams.orders import FINAL_STATUSES, order_events
from sample_service.streams.stock import Dropped, StockHub, Subscriber

__all__ = ["FINAL_STATUSES", "Dropped", "StockHub", "Subscriber", "order_events"]
