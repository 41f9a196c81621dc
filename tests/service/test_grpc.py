"""gRPC for the catalog: calls, status codes from domain errors, deadlines, the stock stream."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import psutil
import pytest

from labkit.service import LiveService
from labkit.styles import catalog_stub
from sample_service.errors import ServiceError
from sample_service.grpc import STATUS_OF, status_of
from tests.service.conftest import Seeded

CHILD = {"environment": "test", "access_log": False, "redis_url": "", "rate_limit_enabled": False}


@pytest.fixture(scope="module")
def live(seeded: Seeded) -> Iterator[LiveService]:
    """The shop with gRPC beside HTTP, on the seeded database; gone after the module."""
    # The child signs with the secret the test's tokens are minted with.
    settings = {**CHILD, "jwt_secret": seeded.settings().jwt_secret}
    with LiveService(db=seeded.db, scale=None, settings=settings, grpc=True) as svc:
        yield svc
    assert svc.pid is None


@pytest.fixture
def stub(live: LiveService) -> Iterator[tuple[Any, Any]]:
    assert live.grpc_target is not None
    with catalog_stub(live.grpc_target) as pair:
        yield pair


def test_get_product_matches_the_rest_representation(live: LiveService, stub: Any) -> None:
    catalog, messages = stub
    product = catalog.GetProduct(messages.GetProductRequest(id=1), timeout=5)
    rest = live.client().get("/v1/products/1").json()
    assert (product.id, product.sku, product.price_cents, product.stock) == (
        rest["id"],
        rest["sku"],
        rest["price_cents"],
        rest["stock"],
    )


def test_unknown_product_is_not_found(stub: Any) -> None:
    catalog, messages = stub
    with pytest.raises(grpc.RpcError) as caught:
        catalog.GetProduct(messages.GetProductRequest(id=999_999), timeout=5)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert "999999" in caught.value.details()


def test_list_products_pages_by_token_without_overlap(stub: Any) -> None:
    catalog, messages = stub
    first = catalog.ListProducts(messages.ListProductsRequest(page_size=5), timeout=5)
    second = catalog.ListProducts(
        messages.ListProductsRequest(page_size=5, page_token=first.next_page_token), timeout=5
    )
    ids = [p.id for p in list(first.products) + list(second.products)]
    assert first.next_page_token and ids == sorted(ids) and len(set(ids)) == 10


@pytest.mark.parametrize(
    ("request_fields", "code"),
    [
        ({"page_size": 500}, grpc.StatusCode.INVALID_ARGUMENT),
        ({"page_token": "not-a-cursor"}, grpc.StatusCode.INVALID_ARGUMENT),
    ],
)
def test_bad_list_requests_are_invalid_argument(
    stub: Any, request_fields: dict[str, Any], code: grpc.StatusCode
) -> None:
    catalog, messages = stub
    with pytest.raises(grpc.RpcError) as caught:
        catalog.ListProducts(messages.ListProductsRequest(**request_fields), timeout=5)
    assert caught.value.code() == code


def test_every_domain_error_maps_to_a_grpc_status() -> None:
    statuses = {error.status for error in _subclasses(ServiceError)}
    assert statuses <= STATUS_OF.keys()
    assert status_of(ServiceError("x")) == grpc.StatusCode.INVALID_ARGUMENT


def _subclasses(cls: type) -> list[type[ServiceError]]:
    return [sub for child in cls.__subclasses__() for sub in [child, *_subclasses(child)]]


def test_an_expired_deadline_is_deadline_exceeded(stub: Any) -> None:
    catalog, messages = stub
    with pytest.raises(grpc.RpcError) as caught:
        catalog.ListProducts(messages.ListProductsRequest(page_size=50), timeout=0.0001)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


def test_stock_stream_sends_the_snapshot_then_each_change(
    live: LiveService, stub: Any, seeded: Seeded
) -> None:
    catalog, messages = stub
    http = live.client()
    sku = f"G-{uuid.uuid4().hex[:8].upper()}"
    body = {"category_id": 1, "sku": sku, "name": "Stream kettle", "price_cents": 100, "stock": 5}
    created = http.post("/v1/products", json=body, headers=seeded.staff)
    assert created.status_code == 201, created.text
    product = created.json()
    request = messages.WatchStockRequest(
        product_ids=[product["id"]], max_changes=2, poll_interval_ms=20
    )
    stream = catalog.WatchStock(request, timeout=10)
    first = next(stream)

    def order() -> None:
        key = {"Idempotency-Key": str(uuid.uuid4()), **seeded.customer}
        items = {"items": [{"product_id": product["id"], "quantity": 2}]}
        assert http.post("/v1/orders", json=items, headers=key).status_code == 201

    thread = threading.Thread(target=order)
    thread.start()
    second = next(stream)
    thread.join()
    assert (first.stock, second.stock) == (5, 3)
    assert second.version > first.version
    assert list(stream) == []  # max_changes reached: the server ended the stream


def test_stock_stream_ends_cleanly_before_its_deadline(stub: Any) -> None:
    catalog, messages = stub
    request = messages.WatchStockRequest(product_ids=[1, 2], poll_interval_ms=50)
    changes = list(catalog.WatchStock(request, timeout=1.5))
    assert sorted(change.product_id for change in changes) == [1, 2]  # the snapshot only


def test_the_grpc_server_stops_with_the_service(seeded: Seeded) -> None:
    # The child signs with the secret the test's tokens are minted with.
    settings = {**CHILD, "jwt_secret": seeded.settings().jwt_secret}
    with LiveService(db=seeded.db, scale=None, settings=settings, grpc=True) as svc:
        pid = svc.pid
        assert svc.grpc_target is not None
        with catalog_stub(svc.grpc_target) as (catalog, messages):
            assert catalog.GetProduct(messages.GetProductRequest(id=1), timeout=5).id == 1
    assert pid is not None and not psutil.pid_exists(pid)
    with (
        catalog_stub(svc.grpc_target) as (catalog, messages),
        pytest.raises(grpc.RpcError) as caught,
    ):
        catalog.GetProduct(messages.GetProductRequest(id=1), timeout=1)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
