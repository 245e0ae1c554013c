"""Fixtures of the API tests: one SQLite store, one real process pool (one worker) and one
app for the whole api test package, so the pool starts once (helpers: api_helpers.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_helpers import MAX_BODY_BYTES, SMALL_SPEC, wait_for_job
from fastapi.testclient import TestClient

from designsvc.api import create_app
from designsvc.api.sse import EventStreamSettings
from designsvc.core.jobs import JobStatus
from designsvc.executors.local import LocalExecutor
from designsvc.runtime import ServiceSettings
from designsvc.store.sqlite import SqliteJobStore


@pytest.fixture(scope="session")
def api_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("api")


@pytest.fixture(scope="session")
def store(api_dir: Path) -> Iterator[SqliteJobStore]:
    job_store = SqliteJobStore(api_dir / "jobs.sqlite3")
    yield job_store
    job_store.close()


@pytest.fixture(scope="session")
def executor(store: SqliteJobStore) -> Iterator[LocalExecutor]:
    pool = LocalExecutor(store, max_workers=1)
    yield pool
    # Stop whatever a failed test left running, so shutting the pool down cannot hang.
    for status in (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.CANCELING):
        for record in store.list_jobs(status=status, limit=1000).items:
            store.request_cancel(record.id)
    pool.shutdown(wait=True)


@pytest.fixture(scope="session")
def settings(api_dir: Path) -> ServiceSettings:
    return ServiceSettings(data_dir=api_dir, max_body_bytes=MAX_BODY_BYTES, workers=1)


@pytest.fixture(scope="session")
def client(settings: ServiceSettings, store: SqliteJobStore, executor: LocalExecutor) -> Iterator[TestClient]:
    app = create_app(
        settings, store=store, executor=executor, event_stream=EventStreamSettings(poll_s=0.05, keepalive_s=0.5)
    )
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def finished_job(client: TestClient) -> Any:
    """A gap-10x3 job run to its end (with its PNG artifact)."""
    response = client.post("/v1/jobs", json={**SMALL_SPEC, "tags": ["fixture:finished"]})
    assert response.status_code == 202, response.text
    job = wait_for_job(client, response.json()["id"])
    assert job["status"] == "succeeded", job
    return job
