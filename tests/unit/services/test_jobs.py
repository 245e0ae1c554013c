"""Job use-cases against a real SQLite store: execute, redeliver, attempts, cancel, submit,
idempotency, recovery."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from designsvc.core.errors import IdempotencyConflictError, SpecError, StoreError
from designsvc.core.jobs import Executor, JobStatus, JobStore
from designsvc.services.jobs import execute_job, recover_jobs, submit_job
from designsvc.store.sqlite import SqliteJobStore

SMALL: dict[str, Any] = {"problem": "assignment@1", "instance_ref": "builtin:gap-10x3", "limits": {"time_limit_s": 20}}
LONG: dict[str, Any] = {
    "problem": "assignment@1",
    "instance_ref": "generate:seed=1,items=400,bins=20",
    "limits": {"time_limit_s": 120, "rel_gap": 0},
    "render": False,
}


class RecordingExecutor(Executor):
    """Collects submitted job ids; the tests run them with execute_job themselves."""

    name = "recording"

    def __init__(self) -> None:
        self.submitted: list[tuple[str, str]] = []

    def submit(self, job_id: str, *, queue: str = "cpu") -> None:
        self.submitted.append((job_id, queue))


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    return SqliteJobStore(tmp_path / "jobs.sqlite3")


def test_submit_then_execute_records_everything(store: JobStore) -> None:
    executor = RecordingExecutor()
    record, created = submit_job(store, executor, SMALL)
    assert created
    assert record.status is JobStatus.QUEUED
    assert executor.submitted == [(record.id, "cpu")]
    final = execute_job(store, record.id)
    assert final.status is JobStatus.SUCCEEDED
    assert final.attempts == 1
    assert final.result is not None
    assert final.result["id"] == record.id
    assert final.result["evaluation"]["feasible"]
    assert final.finished_at is not None
    events = store.read_events(record.id)
    kinds = [e.type for e in events]
    assert kinds[0] == "status"
    assert "stage" in kinds
    assert events[-1].type == "status"
    assert events[-1].data["status"] == "succeeded"
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    names = [a.name for a in store.list_artifacts(record.id)]
    assert names == [a["name"] for a in final.result["artifacts"]]


def test_a_redelivered_task_after_completion_is_harmless(store: JobStore) -> None:
    record, _ = submit_job(store, RecordingExecutor(), SMALL)
    first = execute_job(store, record.id)
    again = execute_job(store, record.id)
    assert again == first


def test_a_job_found_running_starts_a_new_attempt(store: JobStore) -> None:
    record, _ = submit_job(store, RecordingExecutor(), SMALL)
    store.transition(record.id, expected={JobStatus.QUEUED}, to=JobStatus.RUNNING, new_attempt=True)
    final = execute_job(store, record.id)  # the first worker was lost; this is the redelivery
    assert final.status is JobStatus.SUCCEEDED
    assert final.attempts == 2


def test_a_job_whose_worker_keeps_dying_fails_after_max_attempts(store: JobStore) -> None:
    record, _ = submit_job(store, RecordingExecutor(), SMALL)
    store.transition(record.id, expected={JobStatus.QUEUED}, to=JobStatus.RUNNING, new_attempt=True)
    for _ in range(2):
        store.transition(record.id, expected={JobStatus.RUNNING}, to=JobStatus.RUNNING, new_attempt=True)
    final = execute_job(store, record.id, max_attempts=3)
    assert final.status is JobStatus.FAILED
    assert final.error is not None
    assert final.error["type"] == "WorkerLost"


def test_cancel_before_start(store: JobStore) -> None:
    record, _ = submit_job(store, RecordingExecutor(), SMALL)
    assert store.request_cancel(record.id).status is JobStatus.CANCELED
    assert execute_job(store, record.id).status is JobStatus.CANCELED


def test_cancel_while_running_keeps_the_best_design(store: JobStore) -> None:
    record, _ = submit_job(store, RecordingExecutor(), LONG)
    outcome: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: outcome.update(final=execute_job(store, record.id)))
    worker.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(e.type == "stage" and e.data.get("stage") == "solve" for e in store.read_events(record.id)):
            break
        time.sleep(0.05)
    time.sleep(0.5)
    assert store.request_cancel(record.id).status is JobStatus.CANCELING
    worker.join(150)  # generous: a loaded machine slows the solver's stop
    assert "final" in outcome, "the job did not end after the cancel"
    final = outcome["final"]
    assert final.status is JobStatus.CANCELED
    assert final.result is not None
    assert final.result["outcome"]["termination"] == "interrupted"
    assert final.result["design"] is not None


def test_a_model_the_solver_cannot_take_fails_with_a_pointer(store: JobStore) -> None:
    spec = {
        "problem": "assignment@1",
        "solver": {"name": "cpsat"},
        "instance": {
            "bins": [{"name": "b", "capacity": 9}],
            "items": [{"name": "i", "sizes": [0.1 + 0.2], "costs": [1]}],
        },
    }
    record, _ = submit_job(store, RecordingExecutor(), spec)
    final = execute_job(store, record.id)
    assert final.status is JobStatus.FAILED
    assert final.error is not None
    assert final.error["errors"][0]["pointer"] == "/solver/name"


def test_invalid_spec_stores_nothing(store: JobStore) -> None:
    executor = RecordingExecutor()
    with pytest.raises(SpecError):
        submit_job(store, executor, {**SMALL, "limits": {"time_limit_s": 0}})
    assert store.list_jobs().items == []
    assert executor.submitted == []


def test_idempotency_keys(store: JobStore) -> None:
    executor = RecordingExecutor()
    first, created = submit_job(store, executor, SMALL, idempotency_key="k1")
    again, created_again = submit_job(store, executor, SMALL, idempotency_key="k1")
    assert created
    assert not created_again
    assert again.id == first.id
    assert len(executor.submitted) == 1
    with pytest.raises(IdempotencyConflictError):
        submit_job(store, executor, {**SMALL, "tags": ["other"]}, idempotency_key="k1")


def test_recover_resubmits_unfinished_jobs(store: JobStore) -> None:
    executor = RecordingExecutor()
    queued, _ = submit_job(store, executor, SMALL)
    running, _ = submit_job(store, executor, SMALL)
    done, _ = submit_job(store, executor, SMALL)
    store.transition(running.id, expected={JobStatus.QUEUED}, to=JobStatus.RUNNING, new_attempt=True)
    execute_job(store, done.id)
    later = RecordingExecutor()
    assert sorted(recover_jobs(store, later)) == sorted([queued.id, running.id])
    assert {job_id for job_id, _ in later.submitted} == {queued.id, running.id}


class BrokenExecutor(Executor):
    """An executor whose queue cannot be reached, as a Celery client with its broker down."""

    name = "broken"

    def submit(self, job_id: str, *, queue: str = "cpu") -> None:
        raise ConnectionError("broker unreachable")


def test_a_job_that_cannot_be_handed_over_is_marked_failed(store: JobStore) -> None:
    with pytest.raises(StoreError, match="could not be handed to the broken executor"):
        submit_job(store, BrokenExecutor(), SMALL)
    (record,) = store.list_jobs().items
    assert record.status is JobStatus.FAILED
    assert record.error is not None
    assert record.error["type"] == "SubmitError"


def test_an_artifact_over_the_quota_fails_the_job_and_keeps_its_result(tmp_path: Path) -> None:
    """Not a StoreError a worker would retry: the job ends failed with the quota's message,
    its result document kept, and nothing of the artifact stored."""
    store = SqliteJobStore(tmp_path / "jobs.sqlite3", inline_artifact_max_bytes=0, artifact_quota_bytes=100)
    record, _ = submit_job(store, RecordingExecutor(), SMALL)
    final = execute_job(store, record.id)
    assert final.status is JobStatus.FAILED
    assert final.error is not None
    assert final.error["type"] == "ArtifactQuotaExceededError"
    assert "artifact quota of 100 bytes exceeded" in final.error["message"]
    assert final.result is not None
    assert final.result["design"]
    assert store.list_artifacts(record.id) == []
    assert not any((tmp_path / "jobs.sqlite3.artifacts").rglob("*.png"))
    store.close()
