"""A shop's day: mostly product pages, some browsing, a few orders (weights 6 : 3 : 1)."""

from _shop import ShopUser


class ShopDayUser(ShopUser):  # type: ignore[misc]  # Locust puts _shop on the path
    tasks = {ShopUser.view_product: 6, ShopUser.browse: 3, ShopUser.place_order: 1}  # noqa: RUF012
