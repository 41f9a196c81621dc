"""What the shop scenarios share: finding product ids, signing in once per process, placing orders.

Each scenario weighs these methods in its `tasks`; Locust calls each with the user.

Locust puts this folder on sys.path while it loads a scenario, so the scenarios import it by name.
Credentials come from LABKIT_LOAD_EMAIL / LABKIT_LOAD_PASSWORD; `lk.load.run` sets them to the
seeded customer read from `sample_service.seed`, so no password is written here.
LABKIT_LOAD_THINK_MS gives every user a think time between requests (default none).
"""

from __future__ import annotations

import os
import random
import uuid
from typing import Any, ClassVar

from gevent.lock import BoundedSemaphore
from locust import FastHttpUser, constant

EMAIL = os.environ.get("LABKIT_LOAD_EMAIL", "")
PASSWORD = os.environ.get("LABKIT_LOAD_PASSWORD", "")
PAGE_SIZE = int(os.environ.get("LABKIT_LOAD_PAGE_SIZE", "20"))
THINK_SECONDS = float(os.environ.get("LABKIT_LOAD_THINK_MS", "0")) / 1000


def _items(body: Any) -> list[dict[str, Any]]:
    """The list of a page, whichever envelope the service uses."""
    if isinstance(body, dict):
        for key in ("items", "data", "results"):
            if isinstance(body.get(key), list):
                return list(body[key])
        return []
    return list(body) if isinstance(body, list) else []


class ShopUser(FastHttpUser):
    """A shop visitor: one request in flight, then LABKIT_LOAD_THINK_MS of thinking (default 0).

    With think time, users behave like people: each offers a bounded rate, so throughput
    grows with users until the service saturates (the knee of lesson 09).
    """

    abstract = True
    wait_time = constant(THINK_SECONDS)
    # Shared by all users of one Locust process: one catalog read and one sign-in, not one each
    # (argon2 is slow on purpose, and the service rate-limits sign-ins).
    product_ids: ClassVar[list[int]] = []
    token: ClassVar[str | None] = None
    signing_in: ClassVar[BoundedSemaphore] = BoundedSemaphore()

    def on_start(self) -> None:
        if not ShopUser.product_ids:
            with self.client.get(
                f"/v1/products?limit={max(PAGE_SIZE, 50)}", name="/v1/products", catch_response=True
            ) as response:
                body = response.json() if response.ok else []
                # Products out of stock would turn every order for them into a 409.
                ids = [int(p["id"]) for p in _items(body) if "id" in p and p.get("stock", 1) > 0]
                if ids:
                    ShopUser.product_ids = ids
                elif response.ok:
                    response.failure("the catalog is empty: seed the database first")

    def product_id(self) -> int:
        return random.choice(ShopUser.product_ids or [1])

    def read_reviews(self) -> None:
        """Read the newest reviews of one product."""
        product = self.product_id()
        self.client.get(f"/v1/products/{product}/reviews", name="/v1/products/{id}/reviews")

    def browse(self) -> None:
        """Read the first page of the catalog, sometimes the next one too."""
        with self.client.get(
            f"/v1/products?limit={PAGE_SIZE}", name="/v1/products", catch_response=True
        ) as response:
            body = response.json() if response.ok else {}
        cursor = body.get("next_cursor") if isinstance(body, dict) else None
        if cursor and random.random() < 0.3:
            self.client.get(
                f"/v1/products?limit={PAGE_SIZE}&cursor={cursor}", name="/v1/products?cursor"
            )

    def view_product(self) -> None:
        self.client.get(f"/v1/products/{self.product_id()}", name="/v1/products/{id}")

    def sign_in(self) -> str:
        """Return a bearer token, signing in when this process has none."""
        with ShopUser.signing_in:  # the other users of this process wait for the one token
            if ShopUser.token is None:
                response = self.client.post(
                    "/v1/auth/token", data={"username": EMAIL, "password": PASSWORD}
                )
                if response.ok:
                    ShopUser.token = str(response.json()["access_token"])
        return ShopUser.token or ""

    def place_order(self) -> None:
        """Order one unit of a product with a fresh Idempotency-Key; sign in again on 401."""
        headers = {
            "Authorization": f"Bearer {self.sign_in()}",
            "Idempotency-Key": str(uuid.uuid4()),
        }
        body = {"items": [{"product_id": self.product_id(), "quantity": 1}]}
        with self.client.post(
            "/v1/orders", json=body, headers=headers, name="/v1/orders", catch_response=True
        ) as response:
            if response.status_code == 401:
                ShopUser.token = None
                response.failure("401: the token expired or was refused; signing in again")
