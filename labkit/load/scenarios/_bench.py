"""One endpoint as fast as it answers, for `labkit bench` when wrk is not installed.

LABKIT_BENCH_PATH names the path ("{id}" becomes a product id); LABKIT_BENCH_ORDER=1 places
orders instead; LABKIT_BENCH_IDS, comma-separated, are the product ids to use (the bench's own
well-stocked products for orders).
"""

from __future__ import annotations

import os

from _shop import ShopUser
from locust import task

PATH = os.environ.get("LABKIT_BENCH_PATH", "/")
ORDERS = os.environ.get("LABKIT_BENCH_ORDER") == "1"
IDS = [int(i) for i in os.environ.get("LABKIT_BENCH_IDS", "").split(",") if i]


class BenchUser(ShopUser):  # type: ignore[misc]  # Locust puts _shop on the path
    def on_start(self) -> None:
        if IDS:
            ShopUser.product_ids = IDS
        if ORDERS or "{id}" in PATH:  # only the shop has products; the ceiling app has none
            super().on_start()

    @task
    def hit(self) -> None:
        if ORDERS:
            self.place_order()
        else:
            self.client.get(PATH.replace("{id}", str(self.product_id())), name=PATH)
