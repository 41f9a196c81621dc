"""Orders: sign in once, then place orders, each with its own Idempotency-Key."""

from _shop import ShopUser
from locust import task


class OrderUser(ShopUser):  # type: ignore[misc]  # Locust puts _shop on the path
    @task
    def order(self) -> None:
        self.place_order()
