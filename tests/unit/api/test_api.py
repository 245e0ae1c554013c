"""The REST API end to end against a real SQLite store and a real process pool: submit, poll,
result, listing with filters and cursors, events over SSE, artifacts, cancel, validate,
batches, the catalog and health."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import time
import uuid
from typing import Any

from api_helpers import SMALL_SPEC, TERMINAL, assert_problem, parse_sse, wait_for_job
from fastapi.testclient import TestClient

from designsvc.store.sqlite import SqliteJobStore

RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
LONG_SPEC: dict[str, Any] = {
    "problem": "assignment@1",
    "instance_ref": "generate:seed=1,items=400,bins=20",
    "limits": {"time_limit_s": 120, "rel_gap": 0},
    "render": False,
}


def _tag() -> str:
    return f"t:{uuid.uuid4().hex[:12]}"


def _events(client: TestClient, job_id: str, **kwargs: Any) -> list[dict[str, str]]:
    with client.stream("GET", f"/v1/jobs/{job_id}/events", **kwargs) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        return parse_sse(response.read().decode())


def test_submit_poll_and_get_the_result(client: TestClient) -> None:
    response = client.post("/v1/jobs", json={**SMALL_SPEC, "compare_baselines": True})
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["location"] == f"/v1/jobs/{job['id']}"
    assert UUID7.match(job["id"])
    assert job["status"] in {"queued", "running", "succeeded"}
    assert job["problem"] == "assignment@1"
    assert RFC3339_UTC.match(job["created_at"])
    assert job["spec"]["solver"]["name"] == "highs"  # the normalized spec, defaults filled in

    done = wait_for_job(client, job["id"])
    assert done["status"] == "succeeded"
    assert RFC3339_UTC.match(done["started_at"])
    assert RFC3339_UTC.match(done["finished_at"])
    assert done["attempts"] == 1
    assert done["error"] is None

    result = client.get(f"/v1/jobs/{job['id']}/result")
    assert result.status_code == 200
    document = result.json()
    assert document["id"] == job["id"]
    assert document["status"] == "succeeded"
    assert document["outcome"] == {"termination": "optimal", "solution_status": "optimal"}
    assert document["evaluation"]["feasible"] is True
    assert document["objective"] == document["evaluation"]["objective"]
    assert set(document["design"]["assignment"])
    assert document["error"] is None
    assert all(key.endswith("_s") for key in document["timings"])
    assert [a["url"] for a in document["artifacts"]] == [f"/v1/jobs/{job['id']}/artifacts/bin-loads.png"]
    assert document["comparison"]  # members beyond the documented ones pass through
    assert all(row["feasible"] is not None for row in document["comparison"])


def test_list_filters_cursor_and_link_header(client: TestClient) -> None:
    tag = _tag()
    ids = []
    for _ in range(3):
        response = client.post("/v1/jobs", json={**SMALL_SPEC, "render": False, "tags": [tag]})
        assert response.status_code == 202
        ids.append(response.json()["id"])

    first = client.get("/v1/jobs", params={"tag": tag, "limit": 2})
    assert first.status_code == 200
    page = first.json()
    assert [j["id"] for j in page["items"]] == ids[:2]  # oldest first
    assert page["next_cursor"]
    link = first.headers["link"]
    match = re.fullmatch(r'<(/v1/jobs\?[^>]+)>; rel="next"', link)
    assert match, link
    second = client.get(match.group(1))  # the Link keeps the filters and adds the cursor
    assert [j["id"] for j in second.json()["items"]] == ids[2:]
    assert second.json()["next_cursor"] is None
    assert "link" not in second.headers
    same = client.get("/v1/jobs", params={"tag": tag, "limit": 2, "cursor": page["next_cursor"]})
    assert same.json() == second.json()

    for job_id in ids:
        wait_for_job(client, job_id)
    succeeded = client.get("/v1/jobs", params={"tag": tag, "status": "succeeded"}).json()
    assert [j["id"] for j in succeeded["items"]] == ids
    assert client.get("/v1/jobs", params={"tag": tag, "status": "failed"}).json()["items"] == []
    assert client.get("/v1/jobs", params={"tag": _tag()}).json() == {"items": [], "next_cursor": None}


def test_events_stream_in_order_and_end(client: TestClient, finished_job: Any) -> None:
    blocks = _events(client, finished_job["id"])
    assert blocks[-1]["event"] == "end"
    assert "id" not in blocks[-1]
    assert json.loads(blocks[-1]["data"]) == {"job_id": finished_job["id"], "status": "succeeded"}
    events = blocks[:-1]
    ids = [int(b["id"]) for b in events]
    assert ids == list(range(1, len(ids) + 1))  # counting from 1 per job
    datas = [json.loads(b["data"]) for b in events]
    assert all(d["id"] == int(b["id"]) and d["type"] == b["event"] for d, b in zip(datas, events, strict=True))
    assert datas[0]["data"] == {"status": "running", "attempts": 1}
    assert datas[-1]["type"] == "status"
    assert datas[-1]["data"]["status"] == "succeeded"
    assert {"stage", "status"} <= {d["type"] for d in datas}
    assert all(RFC3339_UTC.match(d["at"]) for d in datas)

    # Reconnecting with Last-Event-ID gets only the later events; the header wins over ?after=.
    middle = ids[len(ids) // 2]
    resumed = _events(client, finished_job["id"], headers={"Last-Event-ID": str(middle)}, params={"after": 0})
    assert [int(b["id"]) for b in resumed[:-1]] == [i for i in ids if i > middle]
    assert resumed[-1]["event"] == "end"
    after = _events(client, finished_job["id"], params={"after": middle})
    assert [int(b["id"]) for b in after[:-1]] == [i for i in ids if i > middle]
    # Resuming after the last event: nothing left but the end.
    assert [b["event"] for b in _events(client, finished_job["id"], headers={"Last-Event-ID": str(ids[-1])})] == ["end"]


def test_events_follow_a_running_job(client: TestClient) -> None:
    job_id = client.post("/v1/jobs", json={**SMALL_SPEC, "render": False}).json()["id"]
    blocks = _events(client, job_id)  # opened while queued: polls until the job ends
    statuses = [json.loads(b["data"])["data"]["status"] for b in blocks if b.get("event") == "status"]
    assert statuses == ["running", "succeeded"]
    assert blocks[-1]["event"] == "end"


def test_artifacts_list_and_download(client: TestClient, finished_job: Any) -> None:
    job_id = finished_job["id"]
    listing = client.get(f"/v1/jobs/{job_id}/artifacts")
    assert listing.status_code == 200
    (item,) = listing.json()["items"]
    assert item["name"] == "bin-loads.png"
    assert item["media_type"] == "image/png"
    assert item["url"] == f"/v1/jobs/{job_id}/artifacts/bin-loads.png"
    png = client.get(item["url"])
    assert png.status_code == 200
    assert png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png.content) == item["size_bytes"]
    assert hashlib.sha256(png.content).hexdigest() == item["sha256"]
    assert_problem(client.get(f"/v1/jobs/{job_id}/artifacts/missing.png"), 404, slug="not-found")
    assert_problem(client.get(f"/v1/jobs/{job_id}/artifacts/..%2Fjobs.sqlite3"), 404)


def test_cancel_a_long_job_keeps_its_design(client: TestClient, store: SqliteJobStore) -> None:
    long_id = client.post("/v1/jobs", json=LONG_SPEC).json()["id"]
    queued = client.post("/v1/jobs", json={**SMALL_SPEC, "render": False})
    queued_id = queued.json()["id"]  # behind the long job on the one worker

    # Before it ends, a job has no result.
    body = assert_problem(client.get(f"/v1/jobs/{queued_id}/result"), 409, slug="result-not-ready")
    assert body["job_status"] == "queued"

    # A queued job is canceled at once and its result says so.
    canceled = client.post(f"/v1/jobs/{queued_id}/cancel")
    assert canceled.status_code == 202
    assert canceled.json()["status"] == "canceled"
    assert canceled.json()["cancel_requested"] is True
    stub = client.get(f"/v1/jobs/{queued_id}/result").json()
    assert stub["status"] == "canceled"
    assert stub["design"] is None
    assert stub["outcome"] is None
    assert stub["error"]["type"] == "Canceled"

    # The long job: wait until it has a design, then cancel it.
    deadline = time.monotonic() + 90
    while not any(e.type == "progress" and e.data.get("incumbent") is not None for e in store.read_events(long_id)):
        assert client.get(f"/v1/jobs/{long_id}").json()["status"] in {"queued", "running"}
        assert time.monotonic() < deadline, "no incumbent in time"
        time.sleep(0.2)
    response = client.post(f"/v1/jobs/{long_id}/cancel")
    assert response.status_code == 202
    assert response.json()["status"] in {"canceling", "canceled"}
    done = wait_for_job(client, long_id, timeout_s=60)
    assert done["status"] == "canceled"
    result = client.get(f"/v1/jobs/{long_id}/result").json()
    assert result["status"] == "canceled"
    assert result["outcome"]["termination"] == "interrupted"
    assert result["design"] is not None
    assert result["evaluation"]["feasible"] is True
    # Canceling a finished job changes nothing.
    again = client.post(f"/v1/jobs/{long_id}/cancel")
    assert again.status_code == 202
    assert again.json()["status"] == "canceled"


def test_validate_reports_the_model_size_and_stores_nothing(client: TestClient) -> None:
    before = client.get("/v1/jobs", params={"limit": 1000}).json()["items"]
    response = client.post("/v1/jobs:validate", json=SMALL_SPEC)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["valid"] is True
    assert report["problem"] == "assignment@1"
    assert report["solver"] == "highs"
    assert report["model"]["variables"] == 30
    assert report["model"]["integer_variables"] == 30
    assert report["model"]["constraints"] > 0
    body = assert_problem(
        client.post("/v1/jobs:validate", json={**SMALL_SPEC, "limits": {"rel_gap": -1}}), 422, slug="invalid-spec"
    )
    assert [e["pointer"] for e in body["errors"]] == ["/limits/rel_gap"]
    assert client.get("/v1/jobs", params={"limit": 1000}).json()["items"] == before


def test_batch_grid_summary_and_csv(client: TestClient) -> None:
    request = {
        "spec": {"problem": "assignment@1", "limits": {"time_limit_s": 20}, "render": False},
        "generate": {"seeds": [1, 2], "size": {"items": 10, "bins": 3}},
        "grid": {"solver.name": ["highs", "cpsat"]},
        "tags": [_tag()],
    }
    response = client.post("/v1/batches", json=request)
    assert response.status_code == 202, response.text
    batch = response.json()
    assert response.headers["location"] == f"/v1/batches/{batch['id']}"
    assert batch["jobs"] == 4
    assert len(batch["job_ids"]) == 4

    deadline = time.monotonic() + 120
    while not (summary := client.get(f"/v1/batches/{batch['id']}").json())["done"]:
        assert time.monotonic() < deadline, summary
        time.sleep(0.1)
    assert summary["counters"]["succeeded"] == 4
    assert {(row["scenario"], row["options"]["solver.name"]) for row in summary["table"]} == {
        (f"seed={s}", solver) for s in (1, 2) for solver in ("highs", "cpsat")
    }
    for scenario in ("seed=1", "seed=2"):  # both solvers prove the same optimum
        objectives = {r["objective_best"] for r in summary["table"] if r["scenario"] == scenario}
        assert len(objectives) == 1

    table = client.get(f"/v1/batches/{batch['id']}/table.csv")
    assert table.status_code == 200
    assert table.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(table.text)))
    assert len(rows) == 4
    assert {r["solver.name"] for r in rows} == {"highs", "cpsat"}
    assert all(r["succeeded"] == "1" and float(r["objective_best"]) > 0 for r in rows)

    listed = client.get("/v1/jobs", params={"batch_id": batch["id"]}).json()["items"]
    assert [j["id"] for j in listed] == batch["job_ids"]
    assert all(j["batch_id"] == batch["id"] for j in listed)

    # A bad cell stores nothing and points into the batch request.
    total = len(client.get("/v1/jobs", params={"limit": 1000}).json()["items"])
    bad = client.post("/v1/batches", json={**request, "grid": {"solver.name": ["highs", "nope"]}})
    body = assert_problem(bad, 422, slug="invalid-spec")
    assert [e["pointer"] for e in body["errors"]] == ["/grid/solver.name"]
    assert len(client.get("/v1/jobs", params={"limit": 1000}).json()["items"]) == total
    assert_problem(client.get("/v1/batches/01a22343-0000-7000-8000-000000000000"), 404, slug="not-found")
    assert_problem(client.get("/v1/batches/01a22343-0000-7000-8000-000000000000/table.csv"), 404)


def test_problems_schema_and_solvers(client: TestClient) -> None:
    problems = client.get("/v1/problems").json()["items"]
    (assignment,) = [p for p in problems if p["id"] == "assignment@1"]
    assert assignment["kind"] == "assignment"
    assert assignment["version"] == 1
    assert "gap-10x3" in assignment["builtin_instances"]
    assert assignment["schema_url"] == "/v1/problems/assignment@1/schema"

    schema = client.get(assignment["schema_url"])
    assert schema.status_code == 200
    assert {"items", "bins"} <= set(schema.json()["properties"])
    assert client.get("/v1/problems/assignment/schema").json() == schema.json()
    assert_problem(client.get("/v1/problems/nope@1/schema"), 404, slug="not-found")
    assert_problem(client.get("/v1/problems/NOT A KIND/schema"), 404, slug="not-found")

    solvers = {s["name"]: s for s in client.get("/v1/solvers").json()["items"]}
    assert {"highs", "cpsat", "scip"} <= set(solvers)
    highs = solvers["highs"]
    assert highs["available"] is True
    assert highs["reason"] is None
    assert highs["version"]
    assert highs["capabilities"]["cancel"] is True
    assert highs["capabilities"]["integer"] is True


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}
    assert client.head("/healthz").status_code == 200


def test_terminal_statuses_are_the_documented_ones() -> None:
    assert {"succeeded", "failed", "canceled"} == TERMINAL
