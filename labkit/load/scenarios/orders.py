"""Orders: sign in once, then place orders, each with its own Idempotency-Key."""

from _shop import ShopUser


class OrderUser(ShopUser):  # type: ignore[misc]  # Locust puts _shop on the path
    tasks = [ShopUser.place_order]  # noqa: RUF012
