"""API keys, tenants, scopes and limits through the REST API (each test its own store, so
the keys made here never reach the shared fixtures' store)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from api_helpers import SMALL_SPEC, assert_problem, wait_for_job
from fastapi.testclient import TestClient

from designsvc.api import create_app
from designsvc.api.sse import EventStreamSettings
from designsvc.core.jobs import Executor, JobStatus
from designsvc.executors.local import LocalExecutor
from designsvc.runtime import ServiceSettings
from designsvc.services.keys import create_key, list_keys, revoke_key, verify_key
from designsvc.services.limits import MemoryTokenBuckets, RedisTokenBuckets
from designsvc.store.sqlite import SqliteJobStore


class HeldExecutor(Executor):
    """Takes jobs and runs none (they stay queued): what the cap and limit tests need."""

    name = "held"

    def __init__(self) -> None:
        self.submitted: list[str] = []

    def submit(self, job_id: str, *, queue: str = "cpu") -> None:
        self.submitted.append(job_id)


def _app(tmp_path: Path, executor: Executor | None = None, **settings: Any) -> tuple[TestClient, SqliteJobStore]:
    store = SqliteJobStore(tmp_path / "jobs.sqlite3")
    app = create_app(
        ServiceSettings(data_dir=tmp_path, workers=1, **settings),
        store=store,
        executor=executor or HeldExecutor(),
        event_stream=EventStreamSettings(poll_s=0.05, keepalive_s=0.5),
    )
    return TestClient(app), store


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def pool(tmp_path: Path) -> Iterator[tuple[TestClient, SqliteJobStore]]:
    store = SqliteJobStore(tmp_path / "jobs.sqlite3")
    executor = LocalExecutor(store, max_workers=1)
    app = create_app(ServiceSettings(data_dir=tmp_path, workers=1), store=store, executor=executor)
    with TestClient(app) as client:
        yield client, store
    executor.shutdown(wait=True)
    store.close()


def test_without_keys_the_embedded_service_is_open(tmp_path: Path) -> None:
    client, store = _app(tmp_path)
    with client:
        response = client.post("/v1/jobs", json=SMALL_SPEC)
        assert response.status_code == 202, response.text
        assert response.json()["tenant"] == "default"
        assert client.get("/v1/jobs").json()["items"][0]["tenant"] == "default"
    store.close()


def test_once_a_key_exists_requests_need_one(tmp_path: Path) -> None:
    client, store = _app(tmp_path)
    new = create_key(store, tenant="acme", scopes=["read", "submit"])
    with client:
        body = assert_problem(client.get("/v1/jobs"), 401, slug="unauthenticated")
        assert "API key" in body["detail"]
        assert client.get("/v1/jobs").headers["www-authenticate"].startswith("Bearer")
        assert client.get("/v1/jobs", headers=_bearer(new.key)).status_code == 200
        assert client.get("/healthz").status_code == 200  # health stays open
    store.close()


def test_distributed_mode_always_requires_keys(tmp_path: Path) -> None:
    client, store = _app(tmp_path, require_keys=True)
    with client:
        assert_problem(client.get("/v1/problems"), 401, slug="unauthenticated")
    store.close()


@pytest.mark.parametrize(
    "header",
    [
        "Bearer dsk_nothex",
        "Basic dXNlcjpwYXNz",
        "Bearer ",
        "Bearer dsk_0123456789ab_" + "A" * 43,
    ],
)
def test_bad_keys_are_401(tmp_path: Path, header: str) -> None:
    client, store = _app(tmp_path)
    create_key(store, tenant="acme", scopes=["read"])
    with client:
        assert_problem(client.get("/v1/jobs", headers={"Authorization": header}), 401, slug="unauthenticated")
    store.close()


def test_revoked_and_expired_keys_are_401(tmp_path: Path) -> None:
    client, store = _app(tmp_path)
    revoked = create_key(store, tenant="acme", scopes=["read"])
    expiring = create_key(store, tenant="acme", scopes=["read"], expires_in_s=1.5)
    revoke_key(store, revoked.info.id)
    with client:
        assert "revoked" in assert_problem(client.get("/v1/jobs", headers=_bearer(revoked.key)), 401)["detail"]
        assert client.get("/v1/jobs", headers=_bearer(expiring.key)).status_code == 200
        time.sleep(1.6)
        assert "expired" in assert_problem(client.get("/v1/jobs", headers=_bearer(expiring.key)), 401)["detail"]
    store.close()


def test_keys_are_hashed_at_rest(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "jobs.sqlite3")
    new = create_key(store, tenant="acme", scopes=["submit", "read"], name="ci")
    raw = (tmp_path / "jobs.sqlite3").read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob("jobs.sqlite3-*"))
    assert new.key.encode() not in raw
    assert new.key[len("dsk_") + 13 :].encode() not in raw  # the secret part
    assert verify_key(store, new.key).tenant == "acme"
    [info] = list_keys(store)
    assert (info.id, info.scopes, info.name, info.active) == (new.info.id, ("read", "submit"), "ci", True)
    with pytest.raises(ValueError, match="scope"):
        create_key(store, tenant="acme", scopes=["write"])
    with pytest.raises(ValueError, match="tenant"):
        create_key(store, tenant="a b", scopes=["read"])
    store.close()


def test_scopes_are_403(tmp_path: Path) -> None:
    client, store = _app(tmp_path)
    reader = create_key(store, tenant="acme", scopes=["read"])
    submitter = create_key(store, tenant="acme", scopes=["submit"])
    admin = create_key(store, tenant="acme", scopes=["admin"])
    with client:
        body = assert_problem(client.post("/v1/jobs", json=SMALL_SPEC, headers=_bearer(reader.key)), 403)
        assert body["type"] == "urn:designsvc:problem:forbidden"
        assert "submit" in body["detail"]
        assert_problem(client.get("/v1/jobs", headers=_bearer(submitter.key)), 403)
        assert client.post("/v1/jobs", json=SMALL_SPEC, headers=_bearer(submitter.key)).status_code == 202
        assert client.get("/v1/jobs", headers=_bearer(admin.key)).status_code == 200  # admin holds read
        assert client.post("/v1/jobs", json=SMALL_SPEC, headers=_bearer(admin.key)).status_code == 202
    store.close()


def test_tenants_never_see_each_others_jobs(pool: tuple[TestClient, SqliteJobStore]) -> None:
    client, store = pool
    acme = _bearer(create_key(store, tenant="acme", scopes=["admin"]).key)
    globex = _bearer(create_key(store, tenant="globex", scopes=["admin"]).key)
    created = client.post("/v1/jobs", json=SMALL_SPEC, headers=acme)
    assert created.status_code == 202, created.text
    job_id = created.json()["id"]
    assert created.json()["tenant"] == "acme"
    job = wait_for_job_as(client, job_id, acme)
    assert job["status"] == "succeeded"
    for path in ("", "/result", "/artifacts", "/events", "/artifacts/assignment.png"):
        body = assert_problem(client.get(f"/v1/jobs/{job_id}{path}", headers=globex), 404, slug="not-found")
        assert "acme" not in body["detail"]
    assert_problem(client.post(f"/v1/jobs/{job_id}/cancel", headers=globex), 404)
    assert_problem(client.delete(f"/v1/jobs/{job_id}", headers=globex), 404)
    assert client.get("/v1/jobs", headers=globex).json()["items"] == []
    assert [j["id"] for j in client.get("/v1/jobs", headers=acme).json()["items"]] == [job_id]
    assert client.get(f"/v1/jobs/{job_id}/result", headers=acme).json()["status"] == "succeeded"
    # Batches too.
    batch = client.post(
        "/v1/batches",
        json={"spec": SMALL_SPEC, "scenarios": [{"name": "s1", "instance_ref": "builtin:gap-10x3"}]},
        headers=acme,
    )
    assert batch.status_code == 202, batch.text
    batch_id = batch.json()["id"]
    assert_problem(client.get(f"/v1/batches/{batch_id}", headers=globex), 404)
    assert_problem(client.get(f"/v1/batches/{batch_id}/table.csv", headers=globex), 404)
    assert client.get(f"/v1/batches/{batch_id}", headers=acme).status_code == 200
    # Idempotency keys are per tenant: the same key makes a job in each.
    keyed = {"Idempotency-Key": "nightly-1"}
    first = client.post("/v1/jobs", json=SMALL_SPEC, headers={**acme, **keyed})
    second = client.post("/v1/jobs", json=SMALL_SPEC, headers={**globex, **keyed})
    again = client.post("/v1/jobs", json=SMALL_SPEC, headers={**acme, **keyed})
    assert (first.status_code, second.status_code, again.status_code) == (202, 202, 200)
    assert first.json()["id"] == again.json()["id"] != second.json()["id"]
    for response in (first, second):
        wait_for_job_as(client, response.json()["id"], acme if response is first else globex)
    for item in client.get(f"/v1/batches/{batch_id}", headers=acme).json().get("job_ids", []):
        wait_for_job_as(client, item, acme)


def wait_for_job_as(client: TestClient, job_id: str, headers: dict[str, str]) -> Any:
    deadline = time.monotonic() + 90
    while True:
        job = client.get(f"/v1/jobs/{job_id}", headers=headers).json()
        if JobStatus(job["status"]).terminal or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def test_delete_removes_a_finished_job_and_refuses_a_running_one(pool: tuple[TestClient, SqliteJobStore]) -> None:
    client, _store = pool
    job_id = client.post("/v1/jobs", json=SMALL_SPEC).json()["id"]
    job = wait_for_job(client, job_id)
    assert job["status"] == "succeeded"
    assert client.get(f"/v1/jobs/{job_id}/artifacts").json()["items"]
    response = client.delete(f"/v1/jobs/{job_id}")
    assert response.status_code == 204, response.text
    assert_problem(client.get(f"/v1/jobs/{job_id}"), 404)
    assert_problem(client.get(f"/v1/jobs/{job_id}/artifacts"), 404)
    assert_problem(client.delete(f"/v1/jobs/{job_id}"), 404)
    slow = {"problem": "assignment@1", "instance_ref": "builtin:gap-200x10", "limits": {"time_limit_s": 30}}
    running = client.post("/v1/jobs", json=slow).json()["id"]
    wait_for_job(client, running, {"running"})
    body = assert_problem(client.delete(f"/v1/jobs/{running}"), 409)
    assert "cancel" in body["detail"] or "running" in body["detail"]
    client.post(f"/v1/jobs/{running}/cancel")
    wait_for_job(client, running)
    assert client.delete(f"/v1/jobs/{running}").status_code == 204


def test_a_reader_cannot_delete(tmp_path: Path) -> None:
    client, store = _app(tmp_path)
    reader = create_key(store, tenant="acme", scopes=["read"])
    submitter = create_key(store, tenant="acme", scopes=["submit", "read"])
    with client:
        job_id = client.post("/v1/jobs", json=SMALL_SPEC, headers=_bearer(submitter.key)).json()["id"]
        assert_problem(client.delete(f"/v1/jobs/{job_id}", headers=_bearer(reader.key)), 403)
        store.transition(job_id, expected={JobStatus.QUEUED}, to=JobStatus.CANCELED)
        assert client.delete(f"/v1/jobs/{job_id}", headers=_bearer(submitter.key)).status_code == 204
    store.close()


def test_rate_limit_is_429_with_retry_after(tmp_path: Path) -> None:
    client, store = _app(tmp_path, rate_limit_per_s=0.5, rate_limit_burst=3)
    acme = _bearer(create_key(store, tenant="acme", scopes=["read"]).key)
    globex = _bearer(create_key(store, tenant="globex", scopes=["read"]).key)
    with client:
        codes = [client.get("/v1/jobs", headers=acme).status_code for _ in range(3)]
        assert codes == [200, 200, 200]
        limited = client.get("/v1/jobs", headers=acme)
        body = assert_problem(limited, 429, slug="rate-limited")
        assert int(limited.headers["retry-after"]) >= 1
        assert "acme" in body["detail"]
        assert client.get("/v1/jobs", headers=globex).status_code == 200  # buckets are per tenant
        assert client.get("/healthz").status_code == 200
    store.close()


def test_a_request_takes_one_token_however_many_checks_it_has(tmp_path: Path) -> None:
    client, store = _app(tmp_path, rate_limit_per_s=0.01, rate_limit_burst=2)
    store.create_job(spec={"n": 1}, problem="assignment@1", tenant="acme")
    [job] = store.list_jobs().items
    acme = _bearer(create_key(store, tenant="acme", scopes=["admin"]).key)
    with client:
        # cancel needs the job's owner (read) and the submit scope: still one token
        assert client.post(f"/v1/jobs/{job.id}/cancel", headers=acme).status_code == 202
        assert client.get(f"/v1/jobs/{job.id}", headers=acme).status_code == 200
        assert_problem(client.get(f"/v1/jobs/{job.id}", headers=acme), 429)
    store.close()


def test_unfinished_jobs_cap_is_429_and_stores_nothing(tmp_path: Path) -> None:
    executor = HeldExecutor()
    client, store = _app(tmp_path, executor, max_unfinished_jobs=2)
    with client:
        for _ in range(2):
            assert client.post("/v1/jobs", json=SMALL_SPEC).status_code == 202
        refused = client.post("/v1/jobs", json=SMALL_SPEC)
        body = assert_problem(refused, 429, slug="too-many-unfinished-jobs")
        assert body["max_unfinished_jobs"] == 2
        assert "retry-after" in refused.headers
        batch = client.post(
            "/v1/batches", json={"spec": SMALL_SPEC, "scenarios": [{"name": "s1", "instance_ref": "builtin:gap-10x3"}]}
        )
        assert_problem(batch, 429)
        assert len(store.list_jobs().items) == 2 == len(executor.submitted)
        first = executor.submitted[0]
        client.post(f"/v1/jobs/{first}/cancel")  # queued -> canceled: room for one more
        assert client.post("/v1/jobs", json=SMALL_SPEC).status_code == 202
    store.close()


def test_time_limit_and_instance_size_limits_point_at_the_field(tmp_path: Path) -> None:
    client, store = _app(
        tmp_path,
        max_time_limit_s=120.0,
        max_instance_bytes=10_000_000,
        max_instance_bytes_per_kind={"assignment@1": 500},
    )
    with client:
        body = assert_problem(client.post("/v1/jobs", json={**SMALL_SPEC, "limits": {"time_limit_s": 121}}), 422)
        assert [e["pointer"] for e in body["errors"]] == ["/limits/time_limit_s"]
        assert "120" in body["errors"][0]["detail"]
        body = assert_problem(client.post("/v1/jobs", json={**SMALL_SPEC, "limits": {"time_limit_s": 60}}), 422)
        assert [e["pointer"] for e in body["errors"]] == ["/instance_ref"]
        assert "500" in body["errors"][0]["detail"]
        assert store.list_jobs().items == []
    store.close()


def test_retention_deletes_old_finished_jobs_at_start_up(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "jobs.sqlite3")
    old, _ = store.create_job(spec={"n": 1}, problem="assignment@1")
    store.request_cancel(old.id)
    time.sleep(1.2)
    kept, _ = store.create_job(spec={"n": 2}, problem="assignment@1")
    store.request_cancel(kept.id)
    app = create_app(ServiceSettings(data_dir=tmp_path, retention_s=1), store=store, executor=HeldExecutor())
    with TestClient(app):
        deadline = time.monotonic() + 10
        while len(store.list_jobs().items) > 1 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert [j.id for j in store.list_jobs().items] == [kept.id]
    store.close()


def test_memory_token_bucket_refills() -> None:
    buckets = MemoryTokenBuckets(rate_per_s=20.0, burst=2)
    assert [buckets.take("a"), buckets.take("a")] == [0.0, 0.0]
    wait = buckets.take("a")
    assert 0 < wait <= 0.05 + 1e-9
    time.sleep(wait + 0.01)
    assert buckets.take("a") == 0.0
    assert buckets.take("b") == 0.0


@pytest.mark.xdist_group("redis-db13")
def test_redis_token_bucket_is_shared_between_limiters() -> None:
    url = "redis://127.0.0.1:6379/13"
    prefix = f"test-rl-{time.monotonic_ns()}"
    first = RedisTokenBuckets(url, rate_per_s=10.0, burst=2, prefix=prefix)
    second = RedisTokenBuckets(url, rate_per_s=10.0, burst=2, prefix=prefix)
    try:
        assert first.take("acme") == 0.0
        assert second.take("acme") == 0.0  # the same bucket, another API replica
        wait = first.take("acme")
        assert 0 < wait <= 0.2
        time.sleep(wait + 0.02)
        assert second.take("acme") == 0.0
    finally:
        client = redis.Redis.from_url(url)
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)
        client.close()
        first.close()
        second.close()


def test_openapi_declares_bearer_keys(tmp_path: Path) -> None:
    client, store = _app(tmp_path)
    with client:
        document = client.get("/openapi.json").json()
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert document["paths"]["/v1/jobs"]["post"]["security"] == [{"bearerAuth": []}, {}]
    assert "security" not in document["paths"]["/healthz"]["get"]
    responses = document["paths"]["/v1/jobs"]["post"]["responses"]
    assert {"401", "403", "429"} <= set(responses)
    store.close()
