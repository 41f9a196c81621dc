"""Reviews: read one product's reviews after another (09_load_testing loads it with and without
the index on reviews.product_id)."""

from _shop import ShopUser


class ReviewsUser(ShopUser):  # type: ignore[misc]  # Locust puts _shop on the path
    tasks = {ShopUser.read_reviews: 1}  # noqa: RUF012
