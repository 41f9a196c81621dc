"""Catalog: browse the product list and read products, three reads of one product per page."""

from _shop import ShopUser
from locust import task


class CatalogUser(ShopUser):  # type: ignore[misc]  # Locust puts _shop on the path
    @task(3)
    def product(self) -> None:
        self.view_product()

    @task(1)
    def catalog(self) -> None:
        self.browse()
