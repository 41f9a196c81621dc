"""One catalog read over REST: the first page of products (notebook 13 compares styles)."""

from locust import FastHttpUser, constant, task

PAGE_SIZE = 20


class CatalogRestUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def list_products(self) -> None:
        self.client.get(f"/v1/products?limit={PAGE_SIZE}", name="GET /v1/products")
