"""The same catalog read over GraphQL: the first page of products, the fields REST returns."""

from locust import FastHttpUser, constant, task

QUERY = """{ products(first: 20) { edges { node {
  id sku name description priceCents stock } } pageInfo { hasNextPage endCursor } } }"""


class CatalogGraphQLUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def list_products(self) -> None:
        with self.client.post(
            "/graphql", json={"query": QUERY}, name="POST /graphql products", catch_response=True
        ) as response:
            if response.status_code != 200 or "errors" in (response.json() or {}):
                response.failure(response.text[:200])
