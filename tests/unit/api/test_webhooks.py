"""Webhooks through the REST API: endpoints per tenant, and job events delivered, signed per
Standard Webhooks, to a real HTTP receiver on loopback (with retries, failure, 410 Gone, two
dispatchers over one store, and a restart). Each test has its own store."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from api_helpers import SMALL_SPEC, assert_problem, wait_for_job
from fastapi.testclient import TestClient
from standardwebhooks import Webhook

from designsvc.api import create_app
from designsvc.core.jobs import Executor, JobStatus
from designsvc.executors.local import LocalExecutor
from designsvc.runtime import ServiceSettings
from designsvc.services.jobs import cancel_job
from designsvc.services.keys import create_key
from designsvc.services.webhooks import (
    DELIVERIES,
    LEASES,
    POLL_ENV,
    SCHEDULE_ENV,
    WebhookDispatcher,
    enqueue_job_webhooks,
)
from designsvc.store.sqlite import SqliteJobStore


@dataclass(frozen=True)
class Received:
    at: float
    headers: dict[str, str]
    body: bytes


class Receiver:
    """An HTTP server on loopback that records every POST and answers the next status of
    ``statuses`` (200 once they are used up), after ``delay_s``."""

    def __init__(self, statuses: Sequence[int] = (), delay_s: float = 0.0) -> None:
        self.statuses = list(statuses)
        self.received: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                if delay_s:
                    time.sleep(delay_s)
                with receiver._lock:
                    receiver.received.append(Received(time.monotonic(), dict(self.headers.items()), body))
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/designsvc"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def wait_for(self, count: int, timeout_s: float = 30.0) -> list[Received]:
        deadline = time.monotonic() + timeout_s
        while True:
            with self._lock:
                if len(self.received) >= count:
                    return list(self.received)
            if time.monotonic() > deadline:
                raise AssertionError(f"the receiver got {len(self.received)} request(s), expected {count}")
            time.sleep(0.02)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class HeldExecutor(Executor):
    """Takes jobs and runs none: they stay queued until canceled (a job.canceled event)."""

    name = "held"

    def submit(self, job_id: str, *, queue: str = "cpu") -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def quick_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SCHEDULE_ENV, "0.4,1.2")
    monkeypatch.setenv(POLL_ENV, "0.05")


def _app(store: SqliteJobStore, tmp_path: Path, executor: Executor | None = None) -> TestClient:
    app = create_app(ServiceSettings(data_dir=tmp_path, workers=1), store=store, executor=executor or HeldExecutor())
    return TestClient(app)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteJobStore]:
    job_store = SqliteJobStore(tmp_path / "jobs.sqlite3")
    yield job_store
    job_store.close()


def _register(client: TestClient, url: str, **body: Any) -> dict[str, Any]:
    response = client.post("/v1/webhooks", json={"url": url, **body})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _canceled_job(client: TestClient) -> str:
    response = client.post("/v1/jobs", json=SMALL_SPEC)
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    assert client.post(f"/v1/jobs/{job_id}/cancel").json()["status"] == "canceled"
    return job_id


def _verify(secret: str, request: Received) -> Any:
    return Webhook(secret).verify(request.body, request.headers)


def _deliveries(client: TestClient, webhook_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/v1/webhooks/{webhook_id}/deliveries")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _wait_delivery(client: TestClient, webhook_id: str, state: str, timeout_s: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        items = _deliveries(client, webhook_id)
        if items and items[0]["state"] == state:
            return items[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"no {state} delivery: {items}")
        time.sleep(0.05)


def test_a_succeeded_job_is_delivered_signed(tmp_path: Path, store: SqliteJobStore, receiver: Receiver) -> None:
    executor = LocalExecutor(store, max_workers=1)
    try:
        with _app(store, tmp_path, executor) as client:
            created = _register(client, receiver.url, description="ci")
            assert created["secret"].startswith("whsec_")
            assert created["events"] == ["job.succeeded", "job.failed", "job.canceled"]
            assert created["enabled"] is True
            response = client.post("/v1/jobs", json={**SMALL_SPEC, "tags": ["hooked"]})
            job = wait_for_job(client, response.json()["id"])
            assert job["status"] == "succeeded", job
            [request] = receiver.wait_for(1, timeout_s=60)
            payload = _verify(created["secret"], request)
            assert request.headers["content-type"] == "application/json"
            assert payload["type"] == "job.succeeded"
            assert payload["timestamp"] == job["finished_at"]
            assert payload["data"] == {
                "id": job["id"],
                "status": "succeeded",
                "problem": job["problem"],
                "tags": ["hooked"],
                "finished_at": job["finished_at"],
                "error": None,
                "result_url": f"/v1/jobs/{job['id']}/result",
            }
            delivery = _wait_delivery(client, created["id"], "delivered")
            assert delivery["id"] == request.headers["webhook-id"]
            assert (delivery["attempts"], delivery["last_status_code"], delivery["job_id"]) == (1, 200, job["id"])
            assert client.get(payload["data"]["result_url"]).status_code == 200
            time.sleep(0.3)
            assert len(receiver.received) == 1
    finally:
        executor.shutdown(wait=True)


def test_retries_back_off_until_a_2xx(tmp_path: Path, store: SqliteJobStore) -> None:
    receiver = Receiver(statuses=[500, 500, 200])
    try:
        with _app(store, tmp_path) as client:
            created = _register(client, receiver.url, events=["job.canceled"])
            job_id = _canceled_job(client)
            first, second, third = receiver.wait_for(3)
            payloads = [_verify(created["secret"], r) for r in (first, second, third)]
            assert {p["data"]["id"] for p in payloads} == {job_id}
            assert len({r.headers["webhook-id"] for r in (first, second, third)}) == 1  # one message, retried
            gap1, gap2 = second.at - first.at, third.at - second.at
            assert gap1 >= 0.35, gap1
            assert gap2 >= 1.15, gap2
            assert gap2 > gap1
            delivery = _wait_delivery(client, created["id"], "delivered")
            assert delivery["attempts"] == 3
            assert [a["status_code"] for a in delivery["attempt_log"]] == [500, 500, 200]
            assert delivery["payload"]["type"] == "job.canceled"
    finally:
        receiver.close()


def test_a_delivery_fails_once_the_schedule_is_spent(tmp_path: Path, store: SqliteJobStore) -> None:
    receiver = Receiver(statuses=[500] * 10)
    try:
        with _app(store, tmp_path) as client:
            created = _register(client, receiver.url)
            _canceled_job(client)
            delivery = _wait_delivery(client, created["id"], "failed")
            assert delivery["attempts"] == 3  # the first attempt and one per delay of "0.4,1.2"
            assert (delivery["last_status_code"], delivery["last_error"]) == (500, "HTTP 500")
            assert delivery["next_attempt_at"] is None
            time.sleep(0.6)
            assert len(receiver.received) == 3
            assert client.get("/v1/webhooks").json()["items"][0]["enabled"] is True
    finally:
        receiver.close()


def test_an_unreachable_url_is_retried_with_its_error(tmp_path: Path, store: SqliteJobStore) -> None:
    closed = Receiver()
    url = closed.url
    closed.close()  # nothing listens there any more
    with _app(store, tmp_path) as client:
        created = _register(client, url)
        _canceled_job(client)
        delivery = _wait_delivery(client, created["id"], "failed")
        assert delivery["attempts"] == 3
        assert delivery["last_status_code"] is None
        assert "ConnectError" in delivery["last_error"]


def test_410_gone_disables_the_endpoint(tmp_path: Path, store: SqliteJobStore) -> None:
    receiver = Receiver(statuses=[410])
    try:
        with _app(store, tmp_path) as client:
            created = _register(client, receiver.url)
            _canceled_job(client)
            delivery = _wait_delivery(client, created["id"], "failed")
            assert (delivery["attempts"], delivery["last_status_code"]) == (1, 410)
            [endpoint] = client.get("/v1/webhooks").json()["items"]
            assert endpoint["enabled"] is False
            assert "410" in endpoint["disabled_reason"]
            _canceled_job(client)  # a disabled endpoint gets no more events
            time.sleep(0.5)
            assert len(receiver.received) == 1
            assert len(_deliveries(client, created["id"])) == 1
    finally:
        receiver.close()


def test_endpoints_belong_to_their_tenant(tmp_path: Path, store: SqliteJobStore, receiver: Receiver) -> None:
    acme = {"Authorization": f"Bearer {create_key(store, tenant='acme', scopes=['admin']).key}"}
    globex = {"Authorization": f"Bearer {create_key(store, tenant='globex', scopes=['admin']).key}"}
    reader = {"Authorization": f"Bearer {create_key(store, tenant='acme', scopes=['read', 'submit']).key}"}
    with _app(store, tmp_path) as client:
        response = client.post("/v1/webhooks", json={"url": receiver.url}, headers=acme)
        assert response.status_code == 201, response.text
        webhook_id = response.json()["id"]
        assert_problem(client.post("/v1/webhooks", json={"url": receiver.url}, headers=reader), 403, slug="forbidden")
        assert_problem(client.get("/v1/webhooks"), 401, slug="unauthenticated")
        [listed] = client.get("/v1/webhooks", headers=reader).json()["items"]
        assert listed["id"] == webhook_id
        assert "secret" not in listed
        assert client.get("/v1/webhooks", headers=globex).json()["items"] == []
        assert_problem(client.get(f"/v1/webhooks/{webhook_id}/deliveries", headers=globex), 404, slug="not-found")
        assert_problem(client.delete(f"/v1/webhooks/{webhook_id}", headers=globex), 404, slug="not-found")
        assert_problem(client.delete(f"/v1/webhooks/{webhook_id}", headers=reader), 403, slug="forbidden")

        # Another tenant's jobs are not sent to acme's endpoint; acme's are.
        job = client.post("/v1/jobs", json=SMALL_SPEC, headers=globex).json()
        client.post(f"/v1/jobs/{job['id']}/cancel", headers=globex)
        job = client.post("/v1/jobs", json=SMALL_SPEC, headers=acme).json()
        client.post(f"/v1/jobs/{job['id']}/cancel", headers=acme)
        [request] = receiver.wait_for(1)
        assert json.loads(request.body)["data"]["id"] == job["id"]
        time.sleep(0.3)
        assert len(receiver.received) == 1

        assert client.delete(f"/v1/webhooks/{webhook_id}", headers=acme).status_code == 204
        assert client.get("/v1/webhooks", headers=acme).json()["items"] == []
        assert_problem(client.delete(f"/v1/webhooks/{webhook_id}", headers=acme), 404, slug="not-found")
        assert_problem(client.get("/v1/webhooks/..%2Fx/deliveries", headers=acme), 404)


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"url": "ftp://example.com/hook"}, "/url"),
        ({"url": "https://user:secret@example.com/hook"}, "/url"),
        ({"url": "not a url"}, "/url"),
        ({"url": "https://"}, "/url"),
        ({"url": 42}, "/url"),
        ({}, "/url"),
        ({"url": "https://example.com", "events": ["job.started"]}, "/events/0"),
        ({"url": "https://example.com", "events": []}, "/events"),
        ({"url": "https://example.com", "secret": "mine"}, "/secret"),
        ([], ""),
    ],
)
def test_bad_bodies_are_422_with_pointers(tmp_path: Path, store: SqliteJobStore, body: Any, pointer: str) -> None:
    with _app(store, tmp_path) as client:
        problem = assert_problem(client.post("/v1/webhooks", json=body), 422, slug="invalid-spec")
        assert pointer in [e["pointer"] for e in problem["errors"]], problem
        assert client.get("/v1/webhooks").json()["items"] == []


def test_a_pending_delivery_survives_a_restart(tmp_path: Path, store: SqliteJobStore, receiver: Receiver) -> None:
    with _app(store, tmp_path) as client:
        created = _register(client, receiver.url)
        job_id = client.post("/v1/jobs", json=SMALL_SPEC).json()["id"]
    # The job ends while no API (so no dispatcher) runs: its delivery waits in the store.
    assert cancel_job(store, job_id).status is JobStatus.CANCELED
    [(delivery_id, pending)] = store.list_records(DELIVERIES)
    assert pending["state"] == "pending"
    time.sleep(0.3)
    assert receiver.received == []
    with _app(store, tmp_path) as client:
        [request] = receiver.wait_for(1)
        assert request.headers["webhook-id"] == delivery_id
        assert _verify(created["secret"], request)["data"]["id"] == job_id
        assert _wait_delivery(client, created["id"], "delivered")["attempts"] == 1


def test_enqueueing_is_idempotent_and_follows_the_events(
    tmp_path: Path, store: SqliteJobStore, receiver: Receiver
) -> None:
    with _app(store, tmp_path) as client:
        failed_only = _register(client, receiver.url, events=["job.failed"])
        everything = _register(client, receiver.url)
        job_id = client.post("/v1/jobs", json=SMALL_SPEC).json()["id"]
    record = store.transition(
        job_id, expected={JobStatus.QUEUED}, to=JobStatus.FAILED, error={"type": "X", "message": "m"}
    )
    ids = enqueue_job_webhooks(store, record)
    assert enqueue_job_webhooks(store, record) == ids
    assert len(ids) == 2
    canceled, _ = store.create_job(spec=SMALL_SPEC, problem="assignment@1")
    assert len(enqueue_job_webhooks(store, store.request_cancel(canceled.id))) == 1
    by_endpoint: dict[str, list[str]] = {}
    for _, delivery in store.list_records(DELIVERIES):
        by_endpoint.setdefault(delivery["endpoint_id"], []).append(delivery["event_type"])
    assert sorted(by_endpoint[failed_only["id"]]) == ["job.failed"]
    assert sorted(by_endpoint[everything["id"]]) == ["job.canceled", "job.failed"]


def test_two_dispatchers_never_send_one_delivery_twice(tmp_path: Path, store: SqliteJobStore) -> None:
    receiver = Receiver(delay_s=0.3)
    try:
        with _app(store, tmp_path) as client:
            created = _register(client, receiver.url)
            job_ids = [client.post("/v1/jobs", json=SMALL_SPEC).json()["id"] for _ in range(6)]
        for job_id in job_ids:
            cancel_job(store, job_id)
        replicas = [WebhookDispatcher(store, poll_s=0.01, schedule_s=(0.1,)) for _ in range(2)]
        for replica in replicas:
            replica.start()
        try:
            received = receiver.wait_for(6)
            time.sleep(0.8)
        finally:
            for replica in replicas:
                replica.stop()
        assert len(receiver.received) == 6, [r.headers["webhook-id"] for r in receiver.received]
        assert {_verify(created["secret"], r)["data"]["id"] for r in received} == set(job_ids)
        assert {d["state"] for _, d in store.list_records(DELIVERIES)} == {"delivered"}
        assert store.list_records(LEASES) == []
    finally:
        receiver.close()


def test_a_live_lease_holds_a_delivery_and_an_expired_one_is_broken(
    tmp_path: Path, store: SqliteJobStore, receiver: Receiver
) -> None:
    with _app(store, tmp_path) as client:
        _register(client, receiver.url)
        job_id = client.post("/v1/jobs", json=SMALL_SPEC).json()["id"]
    cancel_job(store, job_id)
    [(delivery_id, _)] = store.list_records(DELIVERIES)
    store.put_record(LEASES, f"{delivery_id}.0.0", {"owner": "other", "expires_at": time.time() + 60})
    dispatcher = WebhookDispatcher(store, poll_s=0.02)
    dispatcher.start()
    try:
        time.sleep(0.4)
        assert receiver.received == []  # another replica holds it
        store.put_record(LEASES, f"{delivery_id}.0.0", {"owner": "other", "expires_at": time.time() - 1})
        [request] = receiver.wait_for(1)
        assert request.headers["webhook-id"] == delivery_id
    finally:
        dispatcher.stop()
    assert store.get_record(DELIVERIES, delivery_id)["state"] == "delivered"  # type: ignore[index]
