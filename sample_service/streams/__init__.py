"""Live views for clients: an order's events (SSE) and stock changes (WebSocket).

Both read what the database already holds, so any process serves any client, and both
keep a bounded amount per client: the order stream reads the next events only once the
last were sent, and cuts off a client whose send waits too long; the stock hub drops a
client whose buffer is full. Both cap each connection's send buffer (sending.py).
"""

from sample_service.streams.orders import FINAL_STATUSES, order_events
from sample_service.streams.sending import SlowClient, bounded_send, cap_send_buffer
from sample_service.streams.stock import Dropped, StockHub, Subscriber

__all__ = [
    "FINAL_STATUSES",
    "Dropped",
    "SlowClient",
    "StockHub",
    "Subscriber",
    "bounded_send",
    "cap_send_buffer",
    "order_events",
]
