"""A shop's day: mostly browsing, some product pages, a few orders (weights 6 : 3 : 1)."""

from _shop import ShopUser
from locust import task


class ShopDayUser(ShopUser):  # type: ignore[misc]  # Locust puts _shop on the path
    @task(6)
    def product(self) -> None:
        self.view_product()

    @task(3)
    def catalog(self) -> None:
        self.browse()

    @task(1)
    def order(self) -> None:
        self.place_order()
