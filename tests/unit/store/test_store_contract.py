"""The JobStore contract, one suite run against every store (SQLite and Redis db 13).

The last sections hold what only one store has: SQLite's schema and query plans, Redis's
retention, index pruning and start-up checks.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from designsvc.core.errors import (
    ArtifactNotFoundError,
    IdempotencyConflictError,
    JobNotFoundError,
    StoreError,
    TransitionConflictError,
)
from designsvc.core.ids import new_id
from designsvc.core.jobs import JobRecord, JobStatus, JobStore, now_rfc3339, spec_sha256
from designsvc.core.types import Artifact, JsonDict
from designsvc.store import DEFAULT_SQLITE_NAME, open_store
from designsvc.store import sqlite as sqlite_module
from designsvc.store.redis import RedisJobStore
from designsvc.store.sqlite import SCHEMA_VERSION, SqliteJobStore

REDIS_GROUP = pytest.mark.xdist_group("redis-db13")  # the group conftest gives Redis tests

Q, R, C, S, F, X = (
    JobStatus.QUEUED,
    JobStatus.RUNNING,
    JobStatus.CANCELING,
    JobStatus.SUCCEEDED,
    JobStatus.FAILED,
    JobStatus.CANCELED,
)


def _spec(n: int = 0) -> JsonDict:
    return {"problem": "assignment@1", "instance": {"n": n}, "limits": {"time_limit_s": 5}}


def _create(store: JobStore, n: int = 0, **kwargs: Any) -> JobRecord:
    kwargs.setdefault("problem", "assignment@1")
    record, created = store.create_job(spec=_spec(n), **kwargs)
    assert created
    return record


def _all(store: JobStore, limit: int = 3, **filters: Any) -> list[str]:
    """Every matching job id, paging ``limit`` at a time."""
    ids: list[str] = []
    cursor = None
    while True:
        page = store.list_jobs(cursor=cursor, limit=limit, **filters)
        assert len(page.items) <= limit
        ids += [job.id for job in page.items]
        if page.next_cursor is None:
            return ids
        cursor = page.next_cursor


def _inline_max(store: JobStore) -> int:
    value = getattr(store, "inline_artifact_max_bytes", None)
    assert isinstance(value, int)
    return value


def _start(store: JobStore, job_id: str) -> JobRecord:
    return store.transition(job_id, expected={Q}, to=R, new_attempt=True)


# -- creating and reading jobs ----------------------------------------------------------


def test_create_job_stores_a_queued_job(store: JobStore) -> None:
    spec = _spec(1)
    record, created = store.create_job(spec=spec, problem="assignment@1", tags=["a", "b"])
    assert created
    assert uuid.UUID(record.id).version == 7
    assert record.status is Q
    assert (record.spec, record.problem, record.tags) == (spec, "assignment@1", ("a", "b"))
    assert record.spec_sha256 == spec_sha256(spec)
    assert record.attempts == 0
    assert record.started_at is None
    assert record.finished_at is None
    assert record.result is None
    assert record.error is None
    assert record.batch_id is None
    assert record.idempotency_key is None
    assert not record.cancel_requested
    assert record.created_at == record.updated_at
    assert record.created_at.endswith("Z")
    assert store.get_job(record.id) == record
    assert store.read_events(record.id) == []


def test_create_job_with_its_own_id_and_batch(store: JobStore) -> None:
    job_id, batch_id = new_id(), new_id()
    record = _create(store, job_id=job_id, batch_id=batch_id)
    assert (record.id, record.batch_id) == (job_id, batch_id)
    with pytest.raises(ValueError, match="exists"):
        store.create_job(spec=_spec(2), problem="p", job_id=job_id)
    assert store.get_job(job_id) == record
    assert _all(store) == [job_id]


def test_unknown_jobs_are_not_found(store: JobStore) -> None:
    for job_id in [new_id(), "nope", "../../etc/passwd", "a:b:events", "", "x" * 500]:
        with pytest.raises(JobNotFoundError) as info:
            store.get_job(job_id)
        assert (info.value.what, info.value.item_id) == ("job", job_id)


def test_idempotency_key_returns_the_first_job(store: JobStore) -> None:
    first, created = store.create_job(spec=_spec(1), problem="p", idempotency_key="req-1")
    assert created
    again, created = store.create_job(spec=_spec(1), problem="p", tags=["other"], idempotency_key="req-1")
    assert not created
    assert again == first
    other, created = store.create_job(spec=_spec(1), problem="p", idempotency_key="req-2")
    assert created
    assert other.id != first.id
    assert _all(store) == [first.id, other.id]


def test_idempotency_key_with_another_spec_conflicts(store: JobStore) -> None:
    first = _create(store, 1, idempotency_key="req-1")
    with pytest.raises(IdempotencyConflictError) as info:
        store.create_job(spec=_spec(2), problem="p", idempotency_key="req-1")
    assert (info.value.key, info.value.job_id) == ("req-1", first.id)
    assert _all(store) == [first.id]


def test_idempotency_key_still_holds_after_the_job_finished(store: JobStore) -> None:
    first = _create(store, 1, idempotency_key="req-1")
    store.request_cancel(first.id)
    again, created = store.create_job(spec=_spec(1), problem="p", idempotency_key="req-1")
    assert not created
    assert again.id == first.id
    assert again.status is X


@pytest.mark.parametrize(
    "kwargs",
    [
        {"job_id": "../escape"},
        {"job_id": "a/b"},
        {"job_id": ""},
        {"batch_id": "bad batch"},
        {"tags": "abc"},
        {"tags": [""]},
        {"idempotency_key": ""},
        {"problem": ""},
        {"spec": {"not json": object()}},
        {"spec": ["not", "an", "object"]},
    ],
    ids=lambda kwargs: next(iter(kwargs)) + "=" + repr(next(iter(kwargs.values())))[:12],
)
def test_invalid_create_arguments_store_nothing(store: JobStore, kwargs: dict[str, Any]) -> None:
    arguments: dict[str, Any] = {"spec": _spec(), "problem": "p", **kwargs}
    with pytest.raises((ValueError, TypeError)):
        store.create_job(**arguments)
    assert _all(store) == []


def test_store_reopens_from_its_url(store: JobStore) -> None:
    record = _create(store, tags=["t"])
    store.append_event(record.id, "log", {"message": "hello"})
    big = b"z" * (_inline_max(store) + 1)
    store.put_artifact(record.id, Artifact("big.bin", "application/octet-stream", big))
    other = open_store(store.url)
    try:
        assert type(other) is type(store)
        assert other.url == store.url
        assert other.get_job(record.id) == record
        assert other.read_events(record.id)[0].data == {"message": "hello"}
        assert other.get_artifact(record.id, "big.bin").data == big
    finally:
        other.close()


def test_ping(store: JobStore) -> None:
    store.ping()


# -- listing ----------------------------------------------------------------------------


def test_list_jobs_filters_oldest_first(store: JobStore) -> None:
    batch = new_id()
    jobs = [
        _create(store, n, tags=["even"] if n % 2 == 0 else ["odd", "x"], batch_id=batch if n < 4 else None)
        for n in range(8)
    ]
    ids = [job.id for job in jobs]
    for n in (1, 2, 5):
        _start(store, ids[n])
    store.request_cancel(ids[6])

    assert _all(store) == ids
    assert _all(store, status=Q) == [ids[n] for n in (0, 3, 4, 7)]
    assert _all(store, status=R) == [ids[n] for n in (1, 2, 5)]
    assert _all(store, status=X) == [ids[6]]
    assert _all(store, status=S) == []
    assert _all(store, tag="odd") == [ids[n] for n in (1, 3, 5, 7)]
    assert _all(store, tag="x") == [ids[n] for n in (1, 3, 5, 7)]
    assert _all(store, tag="missing") == []
    assert _all(store, batch_id=batch) == ids[:4]
    assert _all(store, status=Q, tag="odd") == [ids[3], ids[7]]
    assert _all(store, status=R, tag="even", batch_id=batch) == [ids[2]]
    assert _all(store, status=Q, tag="odd", batch_id=batch) == [ids[3]]
    for limit in (1, 2, 7, 8, 9, 100):
        assert _all(store, limit=limit) == ids


def test_last_page_has_no_cursor(store: JobStore) -> None:
    ids = [_create(store, n).id for n in range(8)]
    first = store.list_jobs(limit=4)
    assert [job.id for job in first.items] == ids[:4]
    assert first.next_cursor is not None
    second = store.list_jobs(limit=4, cursor=first.next_cursor)
    assert [job.id for job in second.items] == ids[4:]
    assert second.next_cursor is None
    empty = store.list_jobs(status=S)
    assert (list(empty.items), empty.next_cursor) == ([], None)


def test_paging_while_jobs_are_created_sees_each_job_once(store: JobStore) -> None:
    created = [_create(store, n).id for n in range(12)]
    seen: list[str] = []
    cursor = None
    while True:
        page = store.list_jobs(cursor=cursor, limit=3)
        seen += [job.id for job in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
        created += [_create(store, 100 + len(created)).id for _ in range(2)]
    # Insertion order: a job created while paging sorts after the cursor, so it is seen too.
    assert seen == created


def test_paging_while_another_thread_creates_jobs(store: JobStore) -> None:
    before = [_create(store, n).id for n in range(30)]
    during: list[str] = []
    stop = threading.Event()

    def insert() -> None:
        while not stop.is_set() and len(during) < 200:
            during.append(_create(store, 1000 + len(during)).id)

    thread = threading.Thread(target=insert)
    thread.start()
    try:
        seen = _all(store, limit=2)
    finally:
        stop.set()
        thread.join()
    assert len(seen) == len(set(seen))
    assert seen[: len(before)] == before
    order = {job_id: n for n, job_id in enumerate(before + during)}
    assert [order[job_id] for job_id in seen] == list(range(len(seen)))


@pytest.mark.parametrize("cursor", ["", "nope", "djE6", "djI6MQ", "djE6LTE", "!!!!", "v1:3"])
def test_list_jobs_rejects_an_invalid_cursor(store: JobStore, cursor: str) -> None:
    _create(store)
    with pytest.raises(ValueError, match="cursor"):
        store.list_jobs(cursor=cursor)


@pytest.mark.parametrize("limit", [0, -1, 10_001])
def test_list_jobs_rejects_an_invalid_limit(store: JobStore, limit: int) -> None:
    with pytest.raises(ValueError, match="limit"):
        store.list_jobs(limit=limit)


# -- transitions --------------------------------------------------------------------------


def test_start_counts_an_attempt_and_appends_a_status_event(store: JobStore) -> None:
    queued = _create(store)
    running = _start(store, queued.id)
    assert running.status is R
    assert running.attempts == 1
    assert running.started_at is not None
    assert running.finished_at is None
    assert running.updated_at >= queued.updated_at
    assert store.get_job(queued.id) == running
    [event] = store.read_events(queued.id)
    assert (event.id, event.type, event.data) == (1, "status", {"status": "running", "attempts": 1})


def test_finishing_stores_result_and_error(store: JobStore) -> None:
    ok, bad = _create(store, 1), _create(store, 2)
    for job in (ok, bad):
        _start(store, job.id)
    result = {"status": "succeeded", "objective": 3.5, "design": {"x": [1, 0]}}
    done = store.transition(ok.id, expected={R, C}, to=S, result=result)
    assert (done.status, done.result, done.error) == (S, result, None)
    assert done.finished_at is not None
    assert done.started_at is not None
    assert done.finished_at >= done.started_at
    error = {"type": "SolverError", "message": "boom", "pointer": "/solver"}
    failed = store.transition(bad.id, expected={R, C}, to=F, error=error)
    assert (failed.status, failed.result, failed.error) == (F, None, error)
    assert failed.finished_at is not None
    assert [e.data for e in store.read_events(ok.id)] == [
        {"status": "running", "attempts": 1},
        {"status": "succeeded", "attempts": 1},
    ]


def test_redelivery_and_hand_back_count_attempts(store: JobStore) -> None:
    job = _create(store)
    first = _start(store, job.id)
    time.sleep(0.002)
    second = store.transition(job.id, expected={R}, to=R, new_attempt=True)
    assert second.attempts == 2
    assert second.started_at is not None
    assert first.started_at is not None
    assert second.started_at > first.started_at
    back = store.transition(job.id, expected={R}, to=Q)
    assert (back.status, back.attempts, back.finished_at) == (Q, 2, None)
    assert _start(store, job.id).attempts == 3
    assert [e.data["attempts"] for e in store.read_events(job.id)] == [1, 2, 2, 3]


def test_transition_from_another_status_conflicts_and_changes_nothing(store: JobStore) -> None:
    job = _create(store)
    with pytest.raises(TransitionConflictError) as info:
        store.transition(job.id, expected={R, C}, to=S, result={"x": 1})
    assert (info.value.job_id, info.value.current, info.value.to) == (job.id, "queued", "succeeded")
    assert info.value.expected == ("canceling", "running")
    assert store.get_job(job.id) == job
    assert store.read_events(job.id) == []


@pytest.mark.parametrize(
    ("setup", "expected", "to"),
    [
        ((), {Q}, C),  # queued -> canceling goes through request_cancel's rule, not TRANSITIONS
        ((), {Q}, S),
        ((), {Q}, Q),
        ((R, S), {S}, R),  # terminal is final
        ((R, S), {S}, S),
        ((R, C), {C}, R),
        ((), {Q, S}, R),  # one forbidden status in expected is enough
        ((), set(), R),
    ],
)
def test_transition_that_transitions_forbid_raises_value_error(
    store: JobStore, setup: tuple[JobStatus, ...], expected: set[JobStatus], to: JobStatus
) -> None:
    job = _create(store)
    for status in setup:
        store.transition(job.id, expected={store.get_job(job.id).status}, to=status, new_attempt=status is R)
    before = store.get_job(job.id)
    events = store.read_events(job.id)
    with pytest.raises(ValueError, match=r"TRANSITIONS|expected"):
        store.transition(job.id, expected=expected, to=to, result={"x": 1})
    assert store.get_job(job.id) == before
    assert store.read_events(job.id) == events


def test_transition_of_an_unknown_job(store: JobStore) -> None:
    with pytest.raises(JobNotFoundError):
        store.transition(new_id(), expected={Q}, to=R)


def test_transition_to_canceling_sets_the_cancel_flag(store: JobStore) -> None:
    job = _create(store)
    _start(store, job.id)
    canceling = store.transition(job.id, expected={R}, to=C)
    assert canceling.cancel_requested
    canceled = store.transition(job.id, expected={C}, to=X, result={"status": "canceled"})
    assert canceled.status is X
    assert canceled.finished_at is not None
    assert canceled.cancel_requested


def test_unserializable_result_changes_nothing(store: JobStore) -> None:
    job = _create(store)
    _start(store, job.id)
    before = store.get_job(job.id)
    with pytest.raises(TypeError):
        store.transition(job.id, expected={R}, to=S, result={"x": object()})
    with pytest.raises(TypeError):
        store.transition(job.id, expected={R}, to=S, result=[1, 2])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        store.transition(job.id, expected={R}, to=F, error="boom")  # type: ignore[arg-type]
    assert store.get_job(job.id) == before
    assert len(store.read_events(job.id)) == 1


# -- cancel -------------------------------------------------------------------------------


def test_cancel_a_queued_job_ends_it(store: JobStore) -> None:
    job = _create(store)
    canceled = store.request_cancel(job.id)
    assert canceled.status is X
    assert canceled.cancel_requested
    assert canceled.result is None
    assert canceled.error == {"type": "Canceled", "message": "canceled before it started"}
    assert canceled.finished_at is not None
    assert canceled.attempts == 0
    assert store.get_job(job.id) == canceled
    assert [e.data for e in store.read_events(job.id)] == [{"status": "canceled", "attempts": 0}]
    with pytest.raises(TransitionConflictError):
        _start(store, job.id)


def test_cancel_a_running_job_asks_its_worker(store: JobStore) -> None:
    job = _create(store)
    _start(store, job.id)
    canceling = store.request_cancel(job.id)
    assert (canceling.status, canceling.cancel_requested, canceling.finished_at) == (C, True, None)
    assert store.read_events(job.id)[-1].data == {"status": "canceling", "attempts": 1}
    again = store.request_cancel(job.id)
    assert again == canceling
    assert len(store.read_events(job.id)) == 2
    done = store.transition(job.id, expected={R, C}, to=X, result={"status": "canceled"})
    assert done.result == {"status": "canceled"}


def test_cancel_sets_the_flag_of_a_job_already_canceling(store: JobStore, request: pytest.FixtureRequest) -> None:
    job = _create(store)
    _start(store, job.id)
    # A store written before transition() set the flag on canceling: clear it by hand.
    if isinstance(store, SqliteJobStore):
        with sqlite3.connect(store.path) as conn:
            conn.execute("UPDATE jobs SET status = 'canceling', cancel_requested = 0 WHERE id = ?", (job.id,))
    else:
        assert isinstance(store, RedisJobStore)
        client: redis.Redis = request.getfixturevalue("redis_db13")
        client.hset(f"{store.prefix}:job:{job.id}", mapping={"status": "canceling", "cancel_requested": "0"})
        client.zrem(f"{store.prefix}:status:running", job.id)
        client.zadd(f"{store.prefix}:status:canceling", {job.id: 1})
    assert not store.get_job(job.id).cancel_requested
    record = store.request_cancel(job.id)
    assert (record.status, record.cancel_requested) == (C, True)


@pytest.mark.parametrize("end", [S, F, X])
def test_cancel_leaves_a_finished_job_unchanged(store: JobStore, end: JobStatus) -> None:
    job = _create(store)
    _start(store, job.id)
    finished = store.transition(job.id, expected={R}, to=end, result={"status": end.value})
    assert store.request_cancel(job.id) == finished
    assert store.get_job(job.id) == finished
    assert len(store.read_events(job.id)) == 2


def test_cancel_an_unknown_job(store: JobStore) -> None:
    with pytest.raises(JobNotFoundError):
        store.request_cancel(new_id())


# -- events -------------------------------------------------------------------------------


def test_events_count_from_one_and_read_from_an_offset(store: JobStore) -> None:
    job, other = _create(store, 1), _create(store, 2)
    appended = [store.append_event(job.id, "progress", {"step": n, "gap": 0.5 / (n + 1)}) for n in range(5)]
    assert [e.id for e in appended] == [1, 2, 3, 4, 5]
    assert store.append_event(other.id, "log", {"message": "x"}).id == 1
    assert store.read_events(job.id) == appended
    assert store.read_events(job.id, after=2) == appended[2:]
    assert store.read_events(job.id, after=1, limit=2) == appended[1:3]
    assert store.read_events(job.id, after=5) == []
    assert store.read_events(job.id, after=99) == []
    assert _start(store, job.id) is not None
    status = store.read_events(job.id, after=5)
    assert [(e.id, e.type) for e in status] == [(6, "status")]


def test_events_of_an_unknown_job(store: JobStore) -> None:
    with pytest.raises(JobNotFoundError):
        store.append_event(new_id(), "log", {})
    with pytest.raises(JobNotFoundError):
        store.read_events(new_id())


@pytest.mark.parametrize("kwargs", [{"after": -1}, {"limit": 0}, {"limit": -5}])
def test_read_events_rejects_bad_arguments(store: JobStore, kwargs: dict[str, int]) -> None:
    job = _create(store)
    with pytest.raises(ValueError, match=r"after|limit"):
        store.read_events(job.id, **kwargs)


def test_invalid_events_are_refused(store: JobStore) -> None:
    job = _create(store)
    with pytest.raises(ValueError, match="event type"):
        store.append_event(job.id, "", {})
    with pytest.raises(TypeError):
        store.append_event(job.id, "log", {"x": object()})
    with pytest.raises(TypeError):
        store.append_event(job.id, "log", [1])  # type: ignore[arg-type]
    assert store.append_event(job.id, "log", {}).id == 1


def test_event_ids_strictly_increase_across_threads(store: JobStore) -> None:
    job = _create(store)
    threads, per_thread = 8, 15
    barrier = threading.Barrier(threads)
    ids: list[list[int]] = [[] for _ in range(threads)]

    def append(n: int) -> None:
        barrier.wait()
        for k in range(per_thread):
            ids[n].append(store.append_event(job.id, "log", {"thread": n, "k": k}).id)

    workers = [threading.Thread(target=append, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    for own in ids:
        assert own == sorted(own)
        assert len(set(own)) == len(own)
    total = threads * per_thread
    assert sorted(i for own in ids for i in own) == list(range(1, total + 1))
    events = store.read_events(job.id, limit=total)
    assert [e.id for e in events] == list(range(1, total + 1))
    for n in range(threads):  # each thread's events in the order it appended them
        assert [e.data["k"] for e in events if e.data["thread"] == n] == list(range(per_thread))


# -- artifacts ----------------------------------------------------------------------------


def test_artifacts_round_trip(store: JobStore) -> None:
    job = _create(store)
    assert store.list_artifacts(job.id) == []
    plot = Artifact("plot.svg", "image/svg+xml", b"<svg/>")
    info = store.put_artifact(job.id, plot)
    assert (info.name, info.media_type, info.size_bytes) == ("plot.svg", "image/svg+xml", 6)
    assert store.get_artifact(job.id, "plot.svg") == plot
    empty = store.put_artifact(job.id, Artifact("empty.txt", "text/plain", b""))
    assert empty.size_bytes == 0
    assert store.get_artifact(job.id, "empty.txt").data == b""
    assert [a.name for a in store.list_artifacts(job.id)] == ["empty.txt", "plot.svg"]
    assert store.list_artifacts(job.id)[1] == info


def test_artifact_checksum_is_sha256(store: JobStore) -> None:
    import hashlib

    job = _create(store)
    data = bytes(range(256)) * 3
    info = store.put_artifact(job.id, Artifact("mask.gds", "application/octet-stream", data))
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert info.size_bytes == len(data)


def test_artifact_of_the_same_name_is_replaced(store: JobStore) -> None:
    job = _create(store)
    store.put_artifact(job.id, Artifact("result.json", "application/json", b"{}"))
    store.put_artifact(job.id, Artifact("result.json", "application/json", b'{"a":1}'))
    assert store.get_artifact(job.id, "result.json").data == b'{"a":1}'
    assert len(store.list_artifacts(job.id)) == 1


def test_large_artifact_goes_to_a_file_and_round_trips(store: JobStore) -> None:
    job = _create(store)
    artifact_dir = getattr(store, "artifact_dir", None)
    assert isinstance(artifact_dir, Path)
    data = bytes(range(256)) * (_inline_max(store) // 256 + 3)
    info = store.put_artifact(job.id, Artifact("field.npy", "application/octet-stream", data))
    assert info.size_bytes == len(data)
    path = artifact_dir / job.id / "field.npy"
    assert path.read_bytes() == data
    assert [p.name for p in path.parent.iterdir()] == ["field.npy"]  # no temporary file left
    assert store.get_artifact(job.id, "field.npy").data == data
    # Replaced by a small one: back in the store, the file removed.
    store.put_artifact(job.id, Artifact("field.npy", "application/octet-stream", b"small"))
    assert store.get_artifact(job.id, "field.npy").data == b"small"
    assert not path.exists()
    # A damaged file is reported, never returned.
    store.put_artifact(job.id, Artifact("big.bin", "application/octet-stream", data))
    (artifact_dir / job.id / "big.bin").write_bytes(b"x" * len(data))
    with pytest.raises(StoreError, match="checksum"):
        store.get_artifact(job.id, "big.bin")


@pytest.mark.parametrize(
    "name",
    ["../escape", "a/b", "/etc/passwd", ".hidden", "..", "", "x" * 129, "a b", "naïve.txt", "a\\b", "-dash"],
)
def test_names_that_are_not_plain_file_names_are_refused(store: JobStore, name: str) -> None:
    job = _create(store)
    with pytest.raises(ValueError, match="name"):
        store.put_artifact(job.id, Artifact(name, "text/plain", b"x" * (_inline_max(store) + 10)))
    with pytest.raises(ValueError, match="name"):
        store.get_artifact(job.id, name)
    assert store.list_artifacts(job.id) == []
    artifact_dir = getattr(store, "artifact_dir", None)
    assert artifact_dir is None or not Path(artifact_dir).exists()


def test_longest_plain_name_is_accepted(store: JobStore) -> None:
    job = _create(store)
    name = "a" + "b" * 127
    store.put_artifact(job.id, Artifact(name, "text/plain", b"x"))
    assert store.get_artifact(job.id, name).data == b"x"


def test_missing_artifacts(store: JobStore) -> None:
    job = _create(store)
    with pytest.raises(ArtifactNotFoundError):
        store.get_artifact(job.id, "nothing.txt")
    with pytest.raises(JobNotFoundError):
        store.get_artifact(new_id(), "nothing.txt")
    with pytest.raises(JobNotFoundError):
        store.put_artifact(new_id(), Artifact("a.txt", "text/plain", b"x"))
    with pytest.raises(JobNotFoundError):
        store.list_artifacts(new_id())


# -- batches ------------------------------------------------------------------------------


def test_batch_round_trip(store: JobStore) -> None:
    batch_id = new_id()
    jobs = [_create(store, n, batch_id=batch_id).id for n in range(3)]
    cells = [{"scenario": "a", "options": {"seed": n}, "repetition": 0} for n in range(3)]
    request = {"scenarios": [{"instance_ref": "builtin:a"}], "grid": {"seed": [0, 1, 2]}}
    batch = store.create_batch(request=request, job_ids=jobs, cells=cells, tags=["exp"], batch_id=batch_id)
    assert (batch.id, batch.request, batch.job_ids, batch.cells, batch.tags) == (
        batch_id,
        request,
        tuple(jobs),
        tuple(cells),
        ("exp",),
    )
    assert store.get_batch(batch_id) == batch
    assert _all(store, batch_id=batch_id) == jobs
    made = store.create_batch(request={}, job_ids=[], cells=[])
    assert uuid.UUID(made.id).version == 7
    assert store.get_batch(made.id) == made


def test_unknown_batch_is_not_found(store: JobStore) -> None:
    for batch_id in [new_id(), "../x"]:
        with pytest.raises(JobNotFoundError) as info:
            store.get_batch(batch_id)
        assert info.value.what == "batch"


def test_batch_arguments_are_checked(store: JobStore) -> None:
    batch_id = new_id()
    with pytest.raises(ValueError, match="cell"):
        store.create_batch(request={}, job_ids=["a", "b"], cells=[{}], batch_id=batch_id)
    with pytest.raises(ValueError, match="batch id"):
        store.create_batch(request={}, job_ids=[], cells=[], batch_id="bad/id")
    with pytest.raises(TypeError):
        store.create_batch(request={"x": object()}, job_ids=[], cells=[], batch_id=batch_id)
    with pytest.raises(TypeError):
        store.create_batch(request={}, job_ids=["a"], cells=["not an object"], batch_id=batch_id)  # type: ignore[list-item]
    with pytest.raises(TypeError):
        store.create_batch(request={}, job_ids="ab", cells=[], batch_id=batch_id)
    with pytest.raises(JobNotFoundError):
        store.get_batch(batch_id)
    first = store.create_batch(request={"n": 1}, job_ids=[], cells=[], batch_id=batch_id)
    with pytest.raises(ValueError, match="exists"):
        store.create_batch(request={"n": 2}, job_ids=[], cells=[], batch_id=batch_id)
    assert store.get_batch(batch_id) == first


# -- concurrency --------------------------------------------------------------------------


def test_racing_threads_start_a_job_once(store: JobStore) -> None:
    job = _create(store)
    threads = 8
    barrier = threading.Barrier(threads)
    outcomes: list[str] = []
    lock = threading.Lock()

    def race() -> None:
        barrier.wait()
        try:
            _start(store, job.id)
            outcome = "won"
        except TransitionConflictError:
            outcome = "conflict"
        with lock:
            outcomes.append(outcome)

    workers = [threading.Thread(target=race) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sorted(outcomes) == ["conflict"] * (threads - 1) + ["won"]
    record = store.get_job(job.id)
    assert (record.status, record.attempts) == (R, 1)
    assert len(store.read_events(job.id)) == 1


def test_racing_cancel_and_start_leave_a_consistent_job(store: JobStore) -> None:
    for n in range(10):
        job = _create(store, n)
        barrier = threading.Barrier(2)

        def start(job_id: str = job.id, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            with contextlib.suppress(TransitionConflictError):
                _start(store, job_id)

        worker = threading.Thread(target=start)
        worker.start()
        barrier.wait()
        store.request_cancel(job.id)
        worker.join()
        record = store.get_job(job.id)
        events = [e.data["status"] for e in store.read_events(job.id)]
        # Either the cancel came first (canceled, never started) or the start did (canceling).
        assert (record.status, events) in [(X, ["canceled"]), (C, ["running", "canceling"])]
        assert record.cancel_requested


def _race_in_process(url: str, job_ids: list[str], barrier: Any, results: Any) -> None:
    store = open_store(url)
    try:
        barrier.wait(timeout=60)
        won = []
        for job_id in job_ids:
            try:
                store.transition(job_id, expected={Q}, to=R, new_attempt=True)
                won.append(job_id)
            except TransitionConflictError:
                pass
        results.put(won)
    finally:
        store.close()


def test_racing_processes_start_each_job_once(store: JobStore) -> None:
    jobs = [_create(store, n).id for n in range(30)]
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    results = context.Queue()
    processes = [context.Process(target=_race_in_process, args=(store.url, jobs, barrier, results)) for _ in range(2)]
    for process in processes:
        process.start()
    won = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    assert sorted(won[0] + won[1]) == sorted(jobs)  # each job started by exactly one process
    for job_id in jobs:
        record = store.get_job(job_id)
        assert (record.status, record.attempts) == (R, 1)
        assert len(store.read_events(job_id)) == 1


# -- opening stores -----------------------------------------------------------------------


@pytest.mark.parametrize("url", ["mysql://localhost/db", "nothing", "", "memory://", "http://x"])
def test_unknown_store_urls_are_refused(url: str) -> None:
    with pytest.raises(StoreError):
        open_store(url)


@pytest.mark.parametrize(
    "url", ["sqlite://relative.db", "sqlite:///tmp/x.db?bogus=1", "sqlite:///x?inline_artifact_max_bytes=a"]
)
def test_malformed_sqlite_urls_are_refused(url: str) -> None:
    with pytest.raises(StoreError):
        open_store(url)


def test_sqlite_default_url_opens_the_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DESIGNSVC_DATA_DIR", str(tmp_path / "data"))
    store = open_store("sqlite://")
    try:
        assert isinstance(store, SqliteJobStore)
        assert store.path == (tmp_path / "data" / DEFAULT_SQLITE_NAME).resolve()
        assert store.url == f"sqlite://{store.path}"
        job = _create(store)
        again = open_store(store.url)
        assert again.get_job(job.id) == job
        again.close()
    finally:
        store.close()


def test_sqlite_url_with_four_slashes_is_absolute_too(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'jobs.db'}")  # what f"sqlite:///{abs_path}" gives
    try:
        assert isinstance(store, SqliteJobStore)
        assert store.path == (tmp_path / "jobs.db").resolve()
        assert store.url == f"sqlite://{store.path}"
    finally:
        store.close()


def test_sqlite_url_with_options_round_trips(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "with space.db", artifact_dir=tmp_path / "arts", inline_artifact_max_bytes=10)
    try:
        again = open_store(store.url)
        assert isinstance(again, SqliteJobStore)
        assert (again.path, again.artifact_dir, again.inline_artifact_max_bytes) == (store.path, store.artifact_dir, 10)
        again.close()
    finally:
        store.close()


def test_closed_store_refuses_work(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "jobs.db")
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.get_job(new_id())


# -- SQLite only ----------------------------------------------------------------------------


def test_sqlite_schema_is_versioned_and_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    store = SqliteJobStore(path)
    job = _create(store)
    store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    reopened = SqliteJobStore(path)  # no second migration
    assert reopened.get_job(job.id) == job
    reopened.close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="schema version"):
        SqliteJobStore(path)


def test_sqlite_listing_walks_indexes(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "jobs.db")
    batch = new_id()
    for n in range(3):
        _create(store, n, tags=["t"], batch_id=batch)
    cursor = store.list_jobs(limit=1).next_cursor
    statements: list[str] = []
    conn = store._conn()
    conn.set_trace_callback(statements.append)
    for filters in [{"tag": "t"}, {"status": Q}, {"batch_id": batch}, {"tag": "t", "status": Q}, {}]:
        statements.clear()
        store.list_jobs(limit=10, cursor=cursor, **filters)
        [select] = [s for s in statements if s.startswith("SELECT")]
        plan = " | ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + select))
        assert "SCAN j" not in plan.replace("SCAN jobs", "SCAN j"), (filters, plan)
        assert "TEMP B-TREE" not in plan, (filters, plan)
    conn.set_trace_callback(None)
    store.close()


def test_sqlite_store_in_a_new_directory(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "a" / "b" / "jobs.db")
    store.ping()
    store.close()


# -- Redis only -----------------------------------------------------------------------------


@pytest.fixture
def redis_url(redis_db13: redis.Redis) -> str:
    """The URL of the test database 13."""
    kwargs = redis_db13.connection_pool.connection_kwargs
    return f"redis://{kwargs['host']}:{kwargs['port']}/{kwargs['db']}"


@pytest.fixture
def redis_store(redis_url: str, redis_db13: redis.Redis) -> Iterator[Callable[..., RedisJobStore]]:
    opened: list[RedisJobStore] = []

    def make(**kwargs: Any) -> RedisJobStore:
        kwargs.setdefault("prefix", f"test-{uuid.uuid4().hex[:12]}")
        store = RedisJobStore(redis_url, **kwargs)
        opened.append(store)
        return store

    yield make
    for store in opened:
        for key in redis_db13.scan_iter(match=f"{store.prefix}:*", count=1000):
            redis_db13.delete(key)
        store.close()


@REDIS_GROUP
def test_redis_unreachable_is_a_store_error() -> None:
    started = time.monotonic()
    with pytest.raises(StoreError, match="Redis job store"):
        RedisJobStore("redis://:secret@127.0.0.1:1/13")
    assert time.monotonic() - started < 30


@REDIS_GROUP
def test_redis_error_messages_hide_the_password() -> None:
    with pytest.raises(StoreError) as info:
        RedisJobStore("redis://user:secret@127.0.0.1:1/13")
    assert "secret" not in str(info.value)
    assert "user:***@127.0.0.1:1" in str(info.value)


@REDIS_GROUP
def test_redis_finished_jobs_expire_with_all_their_keys(
    redis_store: Callable[..., RedisJobStore], redis_db13: redis.Redis, tmp_path: Path
) -> None:
    store = redis_store(retention_s=100, artifact_dir=tmp_path / "a", inline_artifact_max_bytes=10)
    batch = new_id()
    job = _create(store, idempotency_key="k1", batch_id=batch)
    store.create_batch(request={}, job_ids=[job.id], cells=[], batch_id=batch)
    store.append_event(job.id, "log", {})
    store.put_artifact(job.id, Artifact("small.txt", "text/plain", b"x"))
    p = store.prefix
    keys = [
        f"{p}:job:{job.id}",
        f"{p}:job:{job.id}:events",
        f"{p}:job:{job.id}:artifacts",
        f"{p}:job:{job.id}:artifact-data",
        f"{p}:idem:k1",
        f"{p}:batch:{batch}",
        f"{p}:batch:{batch}:jobs",
    ]
    assert [redis_db13.pttl(k) for k in keys] == [-1] * len(keys)
    _start(store, job.id)
    assert redis_db13.pttl(keys[0]) == -1
    store.transition(job.id, expected={R}, to=S, result={})
    for key in keys:
        assert 0 < redis_db13.pttl(key) <= 100_000, key
    # What comes after the end inherits the remaining time.
    other = _create(store)
    store.request_cancel(other.id)
    store.append_event(other.id, "log", {})
    store.put_artifact(other.id, Artifact("late.txt", "text/plain", b"x"))
    for suffix in ("", ":events", ":artifacts", ":artifact-data"):
        assert 0 < redis_db13.pttl(f"{p}:job:{other.id}{suffix}") <= 100_000, suffix
    # Indexes do not expire.
    assert redis_db13.pttl(f"{p}:jobs") == -1


@REDIS_GROUP
def test_redis_without_retention_keeps_finished_jobs(
    redis_store: Callable[..., RedisJobStore], redis_db13: redis.Redis
) -> None:
    store = redis_store(retention_s=None)
    job = _create(store)
    store.request_cancel(job.id)
    assert redis_db13.pttl(f"{store.prefix}:job:{job.id}") == -1
    assert "retention_s=0" in store.url
    again = RedisJobStore.from_url(store.url)
    assert again.retention_s is None
    assert again.prefix == store.prefix
    again.close()


@REDIS_GROUP
def test_redis_listing_skips_and_prunes_expired_jobs(
    redis_store: Callable[..., RedisJobStore], redis_db13: redis.Redis
) -> None:
    store = redis_store()
    ids = [_create(store, n, tags=["t"]).id for n in range(5)]
    p = store.prefix
    for gone in (ids[1], ids[3]):  # as if their retention ran out
        redis_db13.delete(f"{p}:job:{gone}")
    assert _all(store, tag="t", limit=2) == [ids[0], ids[2], ids[4]]
    assert redis_db13.zscore(f"{p}:tag:t", ids[1]) is None
    assert redis_db13.zscore(f"{p}:jobs", ids[1]) is None
    assert redis_db13.zscore(f"{p}:status:queued", ids[1]) is not None  # pruned when walked
    assert _all(store, status=Q) == [ids[0], ids[2], ids[4]]
    assert redis_db13.zcard(f"{p}:status:queued") == 3
    with pytest.raises(JobNotFoundError):
        store.get_job(ids[1])


@REDIS_GROUP
def test_redis_large_artifact_without_artifact_dir_is_refused(redis_store: Callable[..., RedisJobStore]) -> None:
    store = redis_store(inline_artifact_max_bytes=10)
    job = _create(store)
    with pytest.raises(StoreError, match="artifact_dir"):
        store.put_artifact(job.id, Artifact("big.bin", "application/octet-stream", b"x" * 11))
    assert store.list_artifacts(job.id) == []


@REDIS_GROUP
def test_redis_warns_unless_noeviction(
    redis_store: Callable[..., RedisJobStore], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(redis.Redis, "config_get", lambda self, pattern: {"maxmemory-policy": "allkeys-lru"})
    with caplog.at_level(logging.WARNING, logger="designsvc.store.redis"):
        redis_store()
    assert "allkeys-lru" in caplog.text
    assert "noeviction" in caplog.text
    caplog.clear()
    monkeypatch.setattr(redis.Redis, "config_get", lambda self, pattern: {"maxmemory-policy": "noeviction"})
    with caplog.at_level(logging.WARNING, logger="designsvc.store.redis"):
        redis_store()
    assert caplog.text == ""


@REDIS_GROUP
def test_redis_url_keeps_other_query_parameters(redis_store: Callable[..., RedisJobStore], redis_url: str) -> None:
    store = redis_store()
    url = f"{redis_url}?socket_timeout=7&prefix={store.prefix}&inline_artifact_max_bytes=99"
    opened = open_store(url)
    assert isinstance(opened, RedisJobStore)
    assert (opened.prefix, opened.inline_artifact_max_bytes) == (store.prefix, 99)
    assert "socket_timeout=7" in opened.url
    opened.close()


# -- tenants, deletion, retention, records ------------------------------------------------


def test_jobs_and_batches_belong_to_a_tenant(store: JobStore) -> None:
    mine = _create(store, 0, tenant="acme")
    theirs = _create(store, 1, tenant="globex")
    default = _create(store, 2)
    assert (mine.tenant, theirs.tenant, default.tenant) == ("acme", "globex", "default")
    assert store.get_job(mine.id).tenant == "acme"
    assert _all(store, tenant="acme") == [mine.id]
    assert _all(store, tenant="globex", status=Q) == [theirs.id]
    assert _all(store, tenant="nobody") == []
    assert mine.to_json()["tenant"] == "acme"
    batch = store.create_batch(request={"n": 1}, job_ids=[mine.id], cells=[], tenant="acme")
    assert store.get_batch(batch.id).tenant == "acme"
    with pytest.raises(ValueError, match="tenant"):
        store.create_job(spec=_spec(9), problem="assignment@1", tenant="not a tenant!")
    assert _all(store) == [mine.id, theirs.id, default.id]  # nothing stored by the refusal


def test_count_unfinished_counts_queued_running_and_canceling(store: JobStore) -> None:
    jobs = [_create(store, n, tenant="acme") for n in range(4)]
    _create(store, 9, tenant="globex")
    assert store.count_unfinished("acme") == 4
    _start(store, jobs[0].id)
    _start(store, jobs[1].id)
    store.request_cancel(jobs[1].id)  # canceling
    store.transition(jobs[0].id, expected={R}, to=S, result={"ok": True})
    store.request_cancel(jobs[2].id)  # queued -> canceled
    assert store.count_unfinished("acme") == 2
    assert store.count_unfinished("globex") == 1
    assert store.count_unfinished("nobody") == 0


def test_delete_removes_a_finished_job_and_everything_it_has(store: JobStore) -> None:
    job = _create(store, 0, tags=["t"], idempotency_key="k-del", tenant="acme")
    other = _create(store, 1, tags=["t"], tenant="acme")
    with pytest.raises(TransitionConflictError, match="queued"):
        store.delete_job(job.id)  # not finished: nothing removed
    assert store.get_job(job.id).status is Q
    _start(store, job.id)
    store.append_event(job.id, "log", {"m": 1})
    data = bytes(range(256)) * (_inline_max(store) // 256 + 3)
    store.put_artifact(job.id, Artifact("big.bin", "application/octet-stream", data))
    store.put_artifact(job.id, Artifact("small.txt", "text/plain", b"hi"))
    artifact_dir = getattr(store, "artifact_dir", None)
    assert isinstance(artifact_dir, Path)
    assert (artifact_dir / job.id / "big.bin").exists()
    store.transition(job.id, expected={R}, to=S, result={"ok": True})
    deleted = store.delete_job(job.id)
    assert deleted.id == job.id
    assert deleted.status is S
    with pytest.raises(JobNotFoundError):
        store.get_job(job.id)
    with pytest.raises(JobNotFoundError):
        store.delete_job(job.id)
    with pytest.raises(JobNotFoundError):
        store.list_artifacts(job.id)
    assert not (artifact_dir / job.id).exists()
    assert _all(store, tag="t") == [other.id]
    assert _all(store, tenant="acme") == [other.id]
    assert _all(store, status=S) == []
    assert store.count_unfinished("acme") == 1
    # The idempotency key is free again: it makes a new job.
    again, created = store.create_job(spec=_spec(5), problem="assignment@1", idempotency_key="k-del")
    assert created
    assert again.id != job.id


def test_purge_finished_deletes_only_jobs_finished_before_the_cutoff(store: JobStore) -> None:
    old = _create(store, 0)
    _start(store, old.id)
    store.transition(old.id, expected={R}, to=F, error={"type": "X", "message": "m"})
    time.sleep(0.01)
    cutoff = now_rfc3339()
    time.sleep(0.01)
    new = _create(store, 1)
    store.request_cancel(new.id)
    running = _create(store, 2)
    _start(store, running.id)
    assert store.purge_finished(cutoff) == 1
    assert _all(store) == [new.id, running.id]
    assert store.purge_finished(cutoff) == 0


def test_records_round_trip(store: JobStore) -> None:
    assert store.get_record("api_keys", "k1") is None
    assert store.put_record("api_keys", "k1", {"tenant": "acme", "n": [1, 2]})
    assert store.get_record("api_keys", "k1") == {"tenant": "acme", "n": [1, 2]}
    assert not store.put_record("api_keys", "k1", {"tenant": "other"}, only_new=True)
    assert store.get_record("api_keys", "k1") == {"tenant": "acme", "n": [1, 2]}
    assert store.put_record("api_keys", "k1", {"tenant": "other"})
    assert store.put_record("api_keys", "k0", {"a": 1}, only_new=True)
    store.put_record("sessions", "k1", {"s": True})
    assert store.list_records("api_keys") == [("k0", {"a": 1}), ("k1", {"tenant": "other"})]
    assert store.delete_record("api_keys", "k1")
    assert not store.delete_record("api_keys", "k1")
    assert store.list_records("api_keys") == [("k0", {"a": 1})]
    assert store.get_record("sessions", "k1") == {"s": True}
    with pytest.raises(ValueError, match="collection"):
        store.put_record("bad collection", "k", {})
    with pytest.raises(ValueError, match="record key"):
        store.put_record("c", "", {})
    with pytest.raises(TypeError):
        store.put_record("c", "k", {"x": object()})
    assert store.list_records("c") == []


def test_sqlite_version_1_files_migrate_to_tenants(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    for statement in sqlite_module._MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute(
        "INSERT INTO jobs (id, status, spec, problem, tags, created_at, updated_at, spec_sha256) "
        "VALUES (?, 'queued', '{}', 'assignment@1', '[]', 'x', 'x', 'y')",
        (new_id(),),
    )
    conn.execute("PRAGMA user_version = 1")
    conn.execute("COMMIT")
    conn.close()
    store = SqliteJobStore(path)
    [job] = store.list_jobs().items
    assert job.tenant == "default"
    assert store.count_unfinished("default") == 1
    store.close()


# -- artifact quota -------------------------------------------------------------------------


def test_artifact_quota_refuses_a_file_over_it_and_writes_nothing(make_store: Callable[..., JobStore]) -> None:
    """``artifact_quota_bytes`` caps the artifact files' total: replacing a file counts only the
    difference, inline artifacts never count, a refused put leaves no row, file or temporary
    file, and deleting a job frees its share. Every opening of the store URL sees one total."""
    size = 5000  # over the test stores' inline maximum: a file
    store = make_store(artifact_quota_bytes=2 * size + 100)
    artifact_dir = getattr(store, "artifact_dir", None)
    assert isinstance(artifact_dir, Path)
    first, second = _create(store, 0), _create(store, 1)
    blob = bytes(range(250)) * (size // 250)
    store.put_artifact(first.id, Artifact("a.bin", "application/octet-stream", blob))
    store.put_artifact(first.id, Artifact("a.bin", "application/octet-stream", blob[::-1]))  # a replacement
    store.put_artifact(second.id, Artifact("b.bin", "application/octet-stream", blob))
    store.put_artifact(second.id, Artifact("note.txt", "text/plain", b"inline, not counted"))
    with pytest.raises(StoreError, match=f"artifact quota of {2 * size + 100} bytes exceeded: .*'c.bin'"):
        store.put_artifact(second.id, Artifact("c.bin", "application/octet-stream", blob))
    assert [a.name for a in store.list_artifacts(second.id)] == ["b.bin", "note.txt"]
    assert sorted(p.name for p in (artifact_dir / second.id).iterdir()) == ["b.bin"]  # no temporary file
    third = _create(store, 2)
    with pytest.raises(StoreError, match="artifact quota"):
        store.put_artifact(third.id, Artifact("c.bin", "application/octet-stream", blob))
    assert not (artifact_dir / third.id).exists()
    assert store.get_artifact(first.id, "a.bin").data == blob[::-1]
    assert store.get_artifact(second.id, "b.bin").data == blob

    again = open_store(store.url)  # another process's view: the same quota and total
    try:
        assert getattr(again, "artifact_quota_bytes", None) == 2 * size + 100
        with pytest.raises(StoreError, match="artifact quota"):
            again.put_artifact(third.id, Artifact("c.bin", "application/octet-stream", blob))
        _start(store, first.id)
        store.transition(first.id, expected={R}, to=S, result={"status": "succeeded"})
        store.delete_job(first.id)
        again.put_artifact(third.id, Artifact("c.bin", "application/octet-stream", blob))
        assert again.get_artifact(third.id, "c.bin").data == blob
    finally:
        again.close()
    with pytest.raises(ValueError, match="artifact_quota_bytes"):
        make_store(artifact_quota_bytes=-1)
