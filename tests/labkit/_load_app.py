"""A tiny shop look-alike for the load tests: the endpoints the shipped scenarios call, no database."""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, Form, Header, HTTPException

from sample_service.seed import KNOWN_PASSWORD

app = FastAPI()
_PRODUCTS = [{"id": i, "name": f"product {i}", "price_cents": 100 * i} for i in range(1, 21)]


@app.get("/health/ready")
def ready() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/v1/products")
def products(limit: int = 20) -> dict[str, object]:
    return {"items": _PRODUCTS[:limit], "next_cursor": None}


@app.get("/v1/products/{product_id}")
def product(product_id: int) -> dict[str, object]:
    if not 1 <= product_id <= len(_PRODUCTS):
        raise HTTPException(404, "no such product")
    return _PRODUCTS[product_id - 1]


@app.get("/v1/products/{product_id}/reviews")
def reviews(product_id: int) -> dict[str, object]:
    items = [{"id": product_id * 10 + i, "product_id": product_id, "rating": 5} for i in range(3)]
    return {"items": items, "next_cursor": None}


@app.post("/v1/auth/token")
def token(username: Annotated[str, Form()], password: Annotated[str, Form()]) -> dict[str, str]:
    if password != KNOWN_PASSWORD:
        raise HTTPException(401, "bad credentials")
    return {"access_token": f"token-for-{username}", "token_type": "bearer"}


@app.post("/v1/orders", status_code=201)
def order(
    authorization: Annotated[str, Header()], idempotency_key: Annotated[str, Header()]
) -> dict[str, object]:
    if not authorization.startswith("Bearer token-for-"):
        raise HTTPException(401, "not signed in")
    return {"id": 1, "status": "placed", "idempotency_key": idempotency_key}


@app.get("/broken")
def broken() -> dict[str, str]:
    raise HTTPException(500, "always fails")
