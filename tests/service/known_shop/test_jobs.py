"""202 + a job resource: an orders export queued, run by a worker, polled, cancelled, expired."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from labkit import _process
from labkit.worker import LiveWorker
from sample_service.db import make_engine
from sample_service.messaging.queue import EXPORTS, DatabaseQueue
from sample_service.models import Job, Order
from sample_service.worker import Worker
from tests.service.known_shop.conftest import Shop, bearer

MakeWorker = Callable[..., Worker]


@pytest.fixture
def make_worker(shop: Shop) -> Iterator[MakeWorker]:
    """``make_worker(**settings)`` → an in-process worker on the shop (its engine disposed)."""
    made: list[Worker] = []

    def make(
        queues: tuple[str, ...] = (EXPORTS,), relay: bool = False, **settings: object
    ) -> Worker:
        worker = Worker(
            shop.settings(**settings), name=f"t-{uuid.uuid4().hex[:6]}", queues=queues, relay=relay
        )
        made.append(worker)
        return worker

    yield make
    for worker in made:
        worker.close()


def drain(worker: Worker) -> int:
    """Run the worker until it finds nothing to do; how many steps did something."""
    steps = 0
    while worker.step():
        steps += 1
    return steps


def _export(client: TestClient, **body: object) -> int:
    response = client.post("/v1/exports/orders", json=body or None,
                           headers=bearer(client, "staff@shop.test"))  # fmt: skip
    assert response.status_code == 202, response.text
    assert response.headers["location"] == f"/v1/jobs/{response.json()['id']}"
    return int(response.json()["id"])


def test_export_answers_202_with_the_location_of_a_queued_job(client: TestClient) -> None:
    job_id = _export(client)
    response = client.get(f"/v1/jobs/{job_id}", headers=bearer(client, "staff@shop.test"))
    assert response.status_code == 200
    job = response.json()
    assert (job["status"], job["progress"], job["attempts"]) == ("queued", 0, 0)
    assert "result" not in job["links"] and response.headers["retry-after"] == "1"


def test_worker_finishes_the_export_with_a_csv_result(
    client: TestClient, shop: Shop, make_worker: MakeWorker
) -> None:
    job_id = _export(client)
    drain(make_worker())
    staff = bearer(client, "staff@shop.test")
    job = client.get(f"/v1/jobs/{job_id}", headers=staff).json()
    assert (job["status"], job["progress"]) == ("done", 100)
    assert job["expires_at"] is not None
    result = client.get(job["links"]["result"]["href"], headers=staff)
    assert result.status_code == 200 and result.headers["content-type"].startswith("text/csv")
    with shop.db.engine.connect() as conn:
        orders = conn.scalar(select(func.count()).select_from(Order))
    lines = result.text.splitlines()
    assert lines[0] == "id,user_id,status,total_cents,created_at" and len(lines) == orders + 1


def test_a_cancelled_queued_job_is_never_run(client: TestClient, make_worker: MakeWorker) -> None:
    job_id = _export(client)
    staff = bearer(client, "staff@shop.test")
    assert client.delete(f"/v1/jobs/{job_id}", headers=staff).json()["status"] == "cancelled"
    assert client.delete(f"/v1/jobs/{job_id}", headers=staff).status_code == 200  # idempotent
    drain(make_worker())
    assert client.get(f"/v1/jobs/{job_id}", headers=staff).json()["status"] == "cancelled"


def test_cancelling_a_running_export_stops_it_at_its_next_page(
    client: TestClient, make_worker: MakeWorker
) -> None:
    drain(worker := make_worker())
    job_id = _export(client)
    claimed = worker.queue.claim([EXPORTS], worker=worker.name)
    assert claimed is not None and claimed.id == job_id
    staff = bearer(client, "staff@shop.test")
    assert client.delete(f"/v1/jobs/{job_id}", headers=staff).status_code == 200
    assert not worker.queue.progress(job_id, worker=worker.name, percent=50)
    assert not worker.queue.complete(job_id, worker=worker.name, result="late")
    job = client.get(f"/v1/jobs/{job_id}", headers=staff).json()
    assert job["status"] == "cancelled" and "result" not in job["links"]


def test_a_finished_job_cannot_be_cancelled(client: TestClient, make_worker: MakeWorker) -> None:
    job_id = _export(client)
    drain(make_worker())
    response = client.delete(f"/v1/jobs/{job_id}", headers=bearer(client, "staff@shop.test"))
    assert response.status_code == 409


def test_result_before_done_is_409_and_after_expiry_is_410(
    client: TestClient, shop: Shop, make_worker: MakeWorker
) -> None:
    job_id = _export(client)
    staff = bearer(client, "staff@shop.test")
    assert client.get(f"/v1/jobs/{job_id}/result", headers=staff).status_code == 409
    drain(make_worker())
    assert client.get(f"/v1/jobs/{job_id}/result", headers=staff).status_code == 200
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    with shop.db.engine.begin() as conn:
        conn.execute(update(Job).where(Job.id == job_id).values(expires_at=past))
    response = client.get(f"/v1/jobs/{job_id}/result", headers=staff)
    assert response.status_code == 410
    assert response.headers["content-type"] == "application/problem+json"


def test_jobs_are_their_owners(client: TestClient) -> None:
    job_id = _export(client)
    alice = bearer(client, "alice@shop.test")
    assert client.post("/v1/exports/orders", headers=alice).status_code == 403
    assert client.get(f"/v1/jobs/{job_id}", headers=alice).status_code == 404
    assert client.delete(f"/v1/jobs/{job_id}", headers=alice).status_code == 404
    admin = bearer(client, "admin@shop.test")
    assert client.get(f"/v1/jobs/{job_id}", headers=admin).status_code == 200


def test_export_refuses_an_unknown_status_with_422(client: TestClient) -> None:
    response = client.post("/v1/exports/orders", json={"status": "lost"},
                           headers=bearer(client, "staff@shop.test"))  # fmt: skip
    assert response.status_code == 422


def test_metrics_show_the_queue_and_the_outbox_backlog(client: TestClient) -> None:
    _export(client)
    body = client.get("/metrics").text
    queued = [line for line in body.splitlines()
              if line.startswith('shop_jobs{queue="exports",status="queued"}')]  # fmt: skip
    assert queued and float(queued[0].split()[-1]) >= 1, body[-2000:]
    assert "shop_outbox_unpublished " in body and "shop_outbox_lag_seconds " in body


def test_live_workers_scale_and_take_over_a_job_whose_worker_died(
    client: TestClient, shop: Shop
) -> None:
    settings = {"job_visibility_seconds": 0.5, "job_poll_seconds": 0.05}
    engine = make_engine(shop.db.url)
    with LiveWorker(shop.db.url, processes=2, settings=settings) as workers:
        killed = workers.pids[0]
        workers.kill()  # a crash: SIGKILL, no goodbye
        assert not _process.is_running(killed)
        workers.scale(0)
        job_id = _export(client)
        # A worker claims the job and dies holding it: the job reappears after its lease.
        dying = DatabaseQueue(engine, visibility_seconds=0.5)
        while (claimed := dying.claim([EXPORTS], worker="died")) is not None:
            if claimed.id != job_id:  # older jobs of other tests: finish them
                dying.complete(claimed.id, worker="died")
            else:
                break
        assert claimed is not None
        workers.scale(3)
        pids = workers.pids
        assert len(pids) == 3
        staff = bearer(client, "staff@shop.test")
        deadline = time.monotonic() + 30
        while (job := client.get(f"/v1/jobs/{job_id}", headers=staff).json())["status"] != "done":
            assert time.monotonic() < deadline, job
            time.sleep(0.05)
    engine.dispose()
    assert job["attempts"] == 2
    assert not any(_process.is_running(pid) for pid in pids)
