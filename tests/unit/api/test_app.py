"""The app factory: its lifespan (building, recovering, closing), its OpenAPI document, and
what importing it loads."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from api_helpers import SMALL_SPEC, assert_problem
from fastapi.testclient import TestClient

from designsvc.api import create_app
from designsvc.core.jobs import Executor, JobStatus
from designsvc.runtime import ServiceSettings
from designsvc.store import open_store
from designsvc.store.sqlite import SqliteJobStore


class RecordingExecutor(Executor):
    """Records the job ids it is handed and runs nothing."""

    name = "recording"

    def __init__(self) -> None:
        self.submitted: list[str] = []
        self.shut_down = False

    def submit(self, job_id: str, *, queue: str = "cpu") -> None:
        self.submitted.append(job_id)

    def shutdown(self, *, wait: bool = True) -> None:
        self.shut_down = True


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


def test_openapi_describes_bodies_responses_and_problems(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    schemas = document["components"]["schemas"]
    for ref in _refs(document):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.rsplit("/", 1)[1] in schemas, ref
    assert "HTTPValidationError" not in schemas  # FastAPI's 422 model is replaced by problem details
    assert {"JobCreate", "BatchCreate", "JobPublic", "JobsPublic", "ResultPublic", "ProblemDetails"} <= set(schemas)
    assert {"problem", "instance", "instance_ref", "solver", "limits", "tags"} <= set(
        schemas["JobCreate"]["properties"]
    )

    paths = document["paths"]
    assert {"/v1/jobs", "/v1/jobs:validate", "/v1/jobs/{job_id}/events", "/healthz", "/readyz"} <= set(paths)
    for path, method in (("/v1/jobs", "post"), ("/v1/jobs:validate", "post")):
        body = paths[path][method]["requestBody"]
        assert body["required"] is True
        assert body["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/JobCreate"}
    batch_body = paths["/v1/batches"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert batch_body == {"$ref": "#/components/schemas/BatchCreate"}
    post_jobs = paths["/v1/jobs"]["post"]["responses"]
    assert post_jobs["202"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/JobPublic"}
    assert "text/event-stream" in paths["/v1/jobs/{job_id}/events"]["get"]["responses"]["200"]["content"]
    for item in paths.values():
        for operation in item.values():
            for code, answer in operation["responses"].items():
                if int(code) >= 400:
                    assert list(answer["content"]) == ["application/problem+json"], (code, operation["summary"])


def test_the_lifespan_builds_recovers_and_closes(tmp_path: Path) -> None:
    settings = ServiceSettings(data_dir=tmp_path, workers=1)
    earlier = open_store(settings.resolved_store_url)  # a job left queued by a previous server
    left, _ = earlier.create_job(spec={**SMALL_SPEC, "render": False}, problem="assignment@1")
    earlier.close()

    app = create_app(settings)
    with TestClient(app) as client:
        context = app.state.context
        assert isinstance(context.store, SqliteJobStore)
        assert context.owns_store
        assert context.owns_executor
        assert client.get("/readyz").json() == {"status": "ready"}
        deadline = time.monotonic() + 90
        while client.get(f"/v1/jobs/{left.id}").json()["status"] != "succeeded":
            assert time.monotonic() < deadline, "the recovered job did not run"
            time.sleep(0.1)
    assert context.store is None
    assert context.executor is None
    assert (tmp_path / "jobs.sqlite3").exists()


def test_a_given_executor_is_not_recovered_into_nor_shut_down(settings: ServiceSettings, store: SqliteJobStore) -> None:
    left, _ = store.create_job(spec=dict(SMALL_SPEC), problem="assignment@1", tags=["never-run"])
    try:
        recording = RecordingExecutor()
        with TestClient(create_app(settings, store=store, executor=recording)):
            pass
        assert recording.submitted == []
        assert not recording.shut_down
        with TestClient(create_app(settings, store=store, executor=recording, recover=True)):
            pass
        assert left.id in recording.submitted
        assert not recording.shut_down
    finally:
        store.request_cancel(left.id)
    assert store.get_job(left.id).status is JobStatus.CANCELED


def test_without_its_lifespan_the_app_is_alive_but_not_ready(tmp_path: Path) -> None:
    client = TestClient(create_app(ServiceSettings(data_dir=tmp_path)))  # no `with`: no lifespan
    assert client.get("/healthz").json() == {"status": "ok"}
    assert_problem(client.get("/readyz"), 503, slug="store-unavailable")
    assert_problem(client.post("/v1/jobs", json=SMALL_SPEC), 503, slug="store-unavailable")


def test_the_api_imports_no_solver_backend_and_no_torch(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import json, sys
        from pathlib import Path
        from fastapi.testclient import TestClient
        from designsvc.api import create_app
        from designsvc.runtime import ServiceSettings

        heavy = ("torch", "ortools", "highspy")
        app = create_app(ServiceSettings(data_dir=Path({str(tmp_path)!r})))
        app.openapi()
        at_import = [m for m in heavy if m in sys.modules]
        client = TestClient(app)
        client.get("/v1/problems")
        client.get("/v1/problems/assignment@1/schema")
        client.post("/v1/jobs:validate", json={json.dumps(SMALL_SPEC)})
        print(json.dumps({{"at_import": at_import, "after_validate": [m for m in heavy if m in sys.modules]}}))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded["at_import"] == []
    assert "torch" not in loaded["after_validate"]
