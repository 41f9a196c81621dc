"""Catalog: browse the product list and read products, three reads of one product per page."""

from _shop import ShopUser


class CatalogUser(ShopUser):  # type: ignore[misc]  # Locust puts _shop on the path
    tasks = {ShopUser.view_product: 3, ShopUser.browse: 1}  # noqa: RUF012
