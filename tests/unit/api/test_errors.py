"""Every bad input gets an RFC 9457 problem document with the right status, and none of them
disturbs what the store already holds."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from api_helpers import MAX_BODY_BYTES, SMALL_SPEC, assert_problem, wait_for_job
from fastapi.testclient import TestClient

from designsvc.core.errors import StoreError
from designsvc.core.jobs import JobRecord, JobStatus
from designsvc.store.sqlite import SqliteJobStore

UNKNOWN_ID = "01a22343-0000-7000-8000-000000000000"


def _snapshot(store: SqliteJobStore) -> dict[str, JobRecord]:
    return {r.id: r for r in store.list_jobs(limit=10_000).items}


@pytest.fixture
def queued_job(store: SqliteJobStore) -> Iterator[JobRecord]:
    """A job stored as queued and never handed to the executor (it stays queued)."""
    record, _ = store.create_job(spec=dict(SMALL_SPEC), problem="assignment@1", tags=["never-run"])
    yield record
    store.request_cancel(record.id)


def _pointers(body: dict[str, Any]) -> list[str]:
    return sorted(e["pointer"] for e in body["errors"])


def test_malformed_json_is_400_with_line_and_column(client: TestClient) -> None:
    body = assert_problem(client.post("/v1/jobs", content=b'{"problem":\n  "assignment@1",,}'), 400)
    assert body["type"] == "urn:designsvc:problem:malformed-json"
    assert "line 2 column 18" in body["detail"]
    assert "errors" not in body
    assert_problem(client.post("/v1/jobs", content=b""), 400, slug="malformed-json")
    assert_problem(client.post("/v1/jobs", content=b'{"problem": "\xff"}'), 400, slug="malformed-json")
    nan = assert_problem(client.post("/v1/jobs", content=b'{"limits": {"rel_gap": NaN}}'), 400)
    assert "NaN" in nan["detail"]
    deep = assert_problem(client.post("/v1/jobs", content=b"[" * 20_000 + b"]" * 20_000), 400)
    assert "nested too deeply" in deep["detail"]
    assert_problem(client.post("/v1/jobs:validate", content=b"[1,"), 400, slug="malformed-json")
    assert_problem(client.post("/v1/batches", content=b"{"), 400, slug="malformed-json")


def test_spec_errors_are_422_with_pointers(client: TestClient) -> None:
    unknown = assert_problem(client.post("/v1/jobs", json={**SMALL_SPEC, "problem": "nope@1"}), 422)
    assert unknown["type"] == "urn:designsvc:problem:invalid-spec"
    assert _pointers(unknown) == ["/problem"]
    assert "assignment@1" in unknown["errors"][0]["detail"]  # names the known kinds

    bad = {**SMALL_SPEC, "limits": {"time_limit_s": -1, "threads": 0}, "bogus": 1}
    body = assert_problem(client.post("/v1/jobs", json=bad), 422, slug="invalid-spec")
    assert _pointers(body) == ["/bogus", "/limits/threads", "/limits/time_limit_s"]
    assert all(e["detail"] for e in body["errors"])

    assert _pointers(assert_problem(client.post("/v1/jobs", json=[1, 2]), 422)) == [""]
    no_instance = assert_problem(client.post("/v1/jobs", json={"problem": "assignment@1"}), 422)
    assert _pointers(no_instance) == ["/instance"]
    bad_ref = assert_problem(client.post("/v1/jobs", json={**SMALL_SPEC, "instance_ref": "builtin:nope"}), 422)
    assert _pointers(bad_ref) == ["/instance_ref"]
    bad_solver = {**SMALL_SPEC, "solver": {"name": "highs", "options": {"nonsense": 1}}}
    assert _pointers(assert_problem(client.post("/v1/jobs", json=bad_solver), 422)) == ["/solver/options/nonsense"]
    bad_instance = {"problem": "assignment@1", "instance": {"bins": "x"}}
    assert all(
        p.startswith("/instance/") for p in _pointers(assert_problem(client.post("/v1/jobs", json=bad_instance), 422))
    )


def test_oversized_bodies_are_413(client: TestClient) -> None:
    big = b'{"problem": "assignment@1", "pad": "' + b"x" * MAX_BODY_BYTES + b'"}'
    # With an honest Content-Length: refused before the body is read.
    body = assert_problem(client.post("/v1/jobs", content=big), 413, slug="content-too-large")
    assert body["max_body_bytes"] == MAX_BODY_BYTES

    # Without one (chunked): the bytes are counted as they come.
    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), 8192):
            yield big[start : start + 8192]

    assert_problem(client.post("/v1/jobs", content=chunks()), 413, slug="content-too-large")
    # A lying Content-Length cannot get past either.
    lying = client.post("/v1/jobs", content=big, headers={"Content-Length": "10"})
    assert_problem(lying, 413, slug="content-too-large")
    assert_problem(client.post("/v1/batches", content=chunks()), 413)
    # Just under the limit is fine (and then a spec error).
    small = b'{"problem": "x", "pad": "' + b"x" * (MAX_BODY_BYTES - 100) + b'"}'
    assert client.post("/v1/jobs:validate", content=small).status_code == 422


def test_unknown_things_are_404(client: TestClient) -> None:
    for path in (
        f"/v1/jobs/{UNKNOWN_ID}",
        f"/v1/jobs/{UNKNOWN_ID}/result",
        f"/v1/jobs/{UNKNOWN_ID}/events",
        f"/v1/jobs/{UNKNOWN_ID}/artifacts",
        f"/v1/jobs/{UNKNOWN_ID}/artifacts/x.png",
        "/v1/jobs/..%5C..%5Cetc/result",
        "/v1/jobs/not%20an%20id",
        "/v1/jobs/" + "a" * 300,
    ):
        body = assert_problem(client.get(path), 404, slug="not-found")
        assert body["instance"].startswith("/v1/jobs/")
    assert_problem(client.post(f"/v1/jobs/{UNKNOWN_ID}/cancel"), 404, slug="not-found")
    for path in ("/v2/nothing", "/v1/jobs/..%2F..%2Fetc/result"):
        route = assert_problem(client.get(path), 404)
        assert route["type"] == "about:blank"
        assert route["title"] == "Not Found"


def test_wrong_method_is_405_with_allow(client: TestClient, finished_job: Any) -> None:
    body = assert_problem(client.delete("/v1/jobs"), 405)
    assert body["type"] == "about:blank"
    assert client.delete("/v1/jobs").headers["allow"] == "GET, POST"
    put = client.put(f"/v1/jobs/{finished_job['id']}", json={})
    assert_problem(put, 405)
    assert put.headers["allow"] == "DELETE, GET"
    assert client.get(f"/v1/jobs/{finished_job['id']}/cancel").headers["allow"] == "POST"


def test_result_before_the_end_is_409(client: TestClient, queued_job: JobRecord) -> None:
    body = assert_problem(client.get(f"/v1/jobs/{queued_job.id}/result"), 409, slug="result-not-ready")
    assert body["job_status"] == "queued"
    assert body["instance"] == f"/v1/jobs/{queued_job.id}/result"


def test_idempotency_key(client: TestClient) -> None:
    headers = {"Idempotency-Key": "key-for-test-idempotency"}
    first = client.post("/v1/jobs", json={**SMALL_SPEC, "render": False}, headers=headers)
    assert first.status_code == 202
    # The same spec (even spelled out with its defaults) returns the same job with 200.
    spelled = {**SMALL_SPEC, "render": False, "solver": {"name": "highs", "options": {}}}
    again = client.post("/v1/jobs", json=spelled, headers=headers)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["location"] == first.headers["location"]
    # Another spec under the same key: 422, and no new job.
    other = client.post("/v1/jobs", json={**SMALL_SPEC, "limits": {"seed": 7}}, headers=headers)
    body = assert_problem(other, 422, slug="idempotency-conflict")
    assert body["job_id"] == first.json()["id"]
    assert body["errors"][0]["parameter"] == "Idempotency-Key"
    assert body["errors"][0]["in"] == "header"
    too_long = assert_problem(client.post("/v1/jobs", json=SMALL_SPEC, headers={"Idempotency-Key": "k" * 300}), 422)
    assert too_long["type"] == "urn:designsvc:problem:invalid-request"
    assert too_long["errors"][0]["parameter"] == "Idempotency-Key"
    wait_for_job(client, first.json()["id"])


def test_bad_query_parameters_are_422(client: TestClient, finished_job: Any) -> None:
    for params, parameter in (
        ({"status": "sleeping"}, "status"),
        ({"limit": 0}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
    ):
        body = assert_problem(client.get("/v1/jobs", params=params), 422, slug="invalid-request")
        assert [(e["parameter"], e["in"]) for e in body["errors"]] == [(parameter, "query")]
    events = client.get(f"/v1/jobs/{finished_job['id']}/events", headers={"Last-Event-ID": "seven"})
    assert assert_problem(events, 422)["errors"][0]["parameter"] == "Last-Event-ID"


def test_store_errors_are_503_and_unexpected_errors_500_without_leaks(
    client: TestClient, store: SqliteJobStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def down(*args: Any, **kwargs: Any) -> Any:
        raise StoreError("disk on fire at /secret/path")

    monkeypatch.setattr(store, "ping", down)
    body = assert_problem(client.get("/readyz"), 503, slug="store-unavailable")
    assert "secret" not in str(body)
    monkeypatch.setattr(store, "get_job", down)
    assert_problem(client.get(f"/v1/jobs/{UNKNOWN_ID}"), 503, slug="store-unavailable")

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret-token-123")

    monkeypatch.setattr(store, "get_job", broken)
    with caplog.at_level(logging.ERROR, logger="designsvc.api"):
        response = client.get(f"/v1/jobs/{UNKNOWN_ID}")
    body = assert_problem(response, 500, slug="internal-error")
    assert "secret" not in response.text
    assert "Traceback" not in response.text
    logged = [r for r in caplog.records if r.exc_info]
    assert logged
    assert "secret-token-123" in str(logged[-1].exc_info[1])


def test_no_bad_request_disturbs_stored_jobs(
    client: TestClient, store: SqliteJobStore, finished_job: Any, queued_job: JobRecord
) -> None:
    before = _snapshot(store)
    big = b"[" + b"0," * MAX_BODY_BYTES + b"0]"
    bad_requests = [
        client.post("/v1/jobs", content=b"{nope"),
        client.post("/v1/jobs", json={"problem": "nope@1", "instance_ref": "builtin:gap-10x3"}),
        client.post("/v1/jobs", json={**SMALL_SPEC, "limits": {"time_limit_s": 0}}),
        client.post("/v1/jobs", content=big),
        client.post("/v1/batches", json={"spec": {}, "generate": {"seeds": []}}),
        client.post(f"/v1/jobs/{UNKNOWN_ID}/cancel"),
        client.get(f"/v1/jobs/{queued_job.id}/result"),
        client.put(f"/v1/jobs/{finished_job['id']}/result"),
        client.delete(f"/v1/jobs/{queued_job.id}"),  # 409: not finished
        client.delete(f"/v1/jobs/{UNKNOWN_ID}"),
        client.post(f"/v1/jobs/{finished_job['id']}", json=SMALL_SPEC),
        client.get("/v1/jobs", params={"cursor": "zzz"}),
    ]
    assert all(400 <= r.status_code < 500 for r in bad_requests), [r.status_code for r in bad_requests]
    assert all(r.headers["content-type"].startswith("application/problem+json") for r in bad_requests)
    after = _snapshot(store)
    assert set(after) == set(before)
    for job_id, record in before.items():
        if record.status.terminal:
            assert after[job_id] == record
        else:
            assert after[job_id].spec == record.spec
    kept = store.get_job(finished_job["id"])
    assert kept.status is JobStatus.SUCCEEDED
    assert kept.result is not None
    assert client.get(f"/v1/jobs/{finished_job['id']}/result").json()["status"] == "succeeded"
    assert store.get_job(queued_job.id).status is JobStatus.QUEUED
