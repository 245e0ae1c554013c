"""Distributed mode end to end: a real Redis, the API in a subprocess
(``designsvc serve --redis``), real Celery workers in subprocesses (``designsvc worker``),
and the Python client. Nothing is mocked and nothing runs eagerly.

Redis database 14 only: flushed before and after the module, no other database is touched.

What these tests pin down about Celery 5.7 on Redis (measured here, see workers/celery_app.py):

- a pool child killed with SIGKILL: with ``task_reject_on_worker_lost`` the message goes back
  on the queue at once and the job runs again as a new attempt; killed every time, the job
  fails after ``DEFAULT_MAX_ATTEMPTS`` starts and never stays ``running``;
- the whole worker killed with SIGKILL: the message stays in Redis's ``unacked`` hash until
  the visibility timeout has passed, then a running worker puts it back and the job runs
  again (the test sets a 10 s timeout through ``DESIGNSVC_VISIBILITY_TIMEOUT_S``);
- a cold shutdown (SIGQUIT, docker compose's stop signal) puts the message back at once, and
  the job is not recorded as failed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

redis = pytest.importorskip("redis")

from designsvc.client import Client  # noqa: E402
from designsvc.services.jobs import DEFAULT_MAX_ATTEMPTS  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # integration tests run one at a time (Makefile)

REDIS_URL = "redis://127.0.0.1:6379/14"
DESIGNSVC = str(Path(sys.executable).with_name("designsvc"))
VISIBILITY_TIMEOUT_S = 10
T = TypeVar("T")

QUICK_SPEC = {"problem": "assignment@1", "instance_ref": "builtin:gap-10x3", "limits": {"time_limit_s": 20}}


def long_spec(time_limit_s: float) -> dict[str, Any]:
    """A job that uses its whole time limit (rel_gap 0 on a large generated instance)."""
    return {
        "problem": "assignment@1",
        "instance_ref": "generate:seed=1,items=400,bins=20",
        "limits": {"time_limit_s": time_limit_s, "rel_gap": 0},
        "tags": ["long"],
    }


def wait_until(check: Callable[[], T | None], *, timeout_s: float, what: str, interval_s: float = 0.2) -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def parse_time(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


class Proc:
    """A designsvc subprocess in its own session (so its whole process group can be signalled),
    with its output in a log file."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str]) -> None:
        self.log = log
        self._out = log.open("wb")
        self.popen = subprocess.Popen(
            [DESIGNSVC, *args], stdout=self._out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def children(self) -> list[int]:
        try:
            text = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text()
        except OSError:
            return []
        return [int(p) for p in text.split()]

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def kill_group(self, sig: int = signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, sig)

    def stop(self, timeout_s: float = 10) -> None:
        """Terminate, then kill the whole group if it does not exit in time."""
        if self.alive():
            self.kill_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout_s)
        self.kill_group(signal.SIGKILL)  # leftover pool children too
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout_s)
        self._out.close()


def base_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESIGNSVC_")}
    env["DESIGNSVC_DATA_DIR"] = str(tmp / "data")
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture(scope="module")
def redis_db() -> Iterator[Any]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        pytest.skip(f"no Redis at {REDIS_URL}: {exc}")
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture(scope="module")
def server(redis_db: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("celery-server")
    port = free_port()
    proc = Proc(
        ["serve", "--redis", REDIS_URL, "--host", "127.0.0.1", "--port", str(port)], tmp / "serve.log", base_env(tmp)
    )
    url = f"http://127.0.0.1:{port}"
    try:
        with Client(url, timeout_s=2) as client:

            def healthy() -> bool:
                assert proc.alive(), f"the server exited:\n{proc.tail()}"
                try:
                    client.health()
                except Exception:
                    return False
                return True

            wait_until(healthy, timeout_s=60, what="the server to answer /healthz")
        yield url
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def api_key(redis_db: Any) -> str:
    """A key of tenant ``ci`` (distributed mode always needs one), made as an operator would
    (``designsvc keys create --redis ...``)."""
    made = subprocess.run(
        [DESIGNSVC, "keys", "create", "--redis", REDIS_URL, "--tenant", "ci", "--scopes", "admin"],
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("DESIGNSVC_")},
    )
    return made.stdout.strip().splitlines()[-1]


@pytest.fixture
def client(server: str, api_key: str) -> Iterator[Client]:
    with Client(server, timeout_s=10, api_key=api_key) as c:
        yield c


def test_distributed_mode_refuses_requests_without_a_key(server: str, api_key: str) -> None:
    from designsvc.client import ClientError

    with Client(server, timeout_s=10) as anonymous, pytest.raises(ClientError) as caught:
        anonymous.list()
    assert caught.value.status == 401
    with Client(server, timeout_s=10, api_key=api_key) as keyed:
        keyed.list()


class Workers:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: list[Proc] = []

    def start(self, **env: str) -> Proc:
        full_env = base_env(self.tmp) | env
        log = self.tmp / f"worker-{len(self.procs)}.log"
        args = ["worker", "--redis", REDIS_URL, "--queues", "cpu", "--concurrency", "1"]
        proc = Proc(args, log, full_env)
        self.procs.append(proc)
        wait_until(lambda: proc.children() or None, timeout_s=60, what="the worker's pool process")
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            proc.stop()


@pytest.fixture
def workers(tmp_path: Path, redis_db: Any) -> Iterator[Workers]:
    pool = Workers(tmp_path)
    yield pool
    pool.stop_all()


def wait_running(client: Client, job_id: str, attempt: int, *, timeout_s: float = 60) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        job = client.get(job_id)
        assert job["status"] in ("queued", "running"), job
        return job if job["status"] == "running" and job["attempts"] == attempt else None

    return wait_until(check, timeout_s=timeout_s, what=f"job {job_id} to run attempt {attempt}")


def logs(*procs: Proc) -> str:
    return "\n".join(f"--- {p.log.name}\n{p.tail()}" for p in procs)


# -- the happy path --------------------------------------------------------------------------


def test_jobs_batches_and_artifacts_through_a_celery_worker(client: Client, workers: Workers) -> None:
    worker = workers.start()
    first = client.submit(QUICK_SPEC, idempotency_key="celery-quick-1")
    again = client.submit(QUICK_SPEC, idempotency_key="celery-quick-1")
    assert again["id"] == first["id"]
    other = client.submit({**QUICK_SPEC, "solver": {"name": "cpsat"}, "tags": ["celery-test"]})

    for job_id in (first["id"], other["id"]):
        final = client.wait(job_id, timeout_s=120, poll_s=0.2)
        assert final["status"] == "succeeded", (final, logs(worker))
        assert final["attempts"] == 1
        result = client.result(job_id)
        assert result["outcome"]["termination"] == "optimal"
        assert result["evaluation"]["feasible"]
    result = client.result(first["id"])
    for artifact in result["artifacts"]:
        assert len(client.artifact(first["id"], artifact["name"])) == artifact["size_bytes"]
    assert [job["id"] for job in client.list(tag="celery-test")["items"]] == [other["id"]]

    events = list(client.events(first["id"]))
    assert events[-1].type == "end"
    assert events[-1].data["status"] == "succeeded"
    assert [e.id for e in events if e.id is not None] == sorted(e.id for e in events if e.id is not None)

    batch = client.submit_batch(
        {
            "spec": {"problem": "assignment@1", "limits": {"time_limit_s": 20}},
            "generate": {"seeds": [1, 2], "size": {"items": 12, "bins": 3}},
            "grid": {"solver.name": ["highs", "cpsat"]},
        }
    )
    summary = client.wait_batch(batch["id"], timeout_s=120, poll_s=0.3)
    assert summary["counters"]["succeeded"] == 4, (summary, logs(worker))
    csv_text = client.batch_csv(batch["id"])
    assert csv_text.splitlines()[0].startswith("scenario,")
    assert len(csv_text.splitlines()) == 5


def test_cancel_a_running_job_keeps_its_best_design(client: Client, workers: Workers) -> None:
    worker = workers.start()
    job = client.submit(long_spec(120))
    wait_running(client, job["id"], 1)
    time.sleep(5)  # let the solver find a first design
    started = time.monotonic()
    canceled = client.cancel(job["id"])
    assert canceled["status"] in ("canceling", "canceled")
    final = client.wait(job["id"], timeout_s=60, poll_s=0.2)
    assert final["status"] == "canceled", (final, logs(worker))
    assert time.monotonic() - started < 30
    result = client.result(job["id"])
    assert result["outcome"]["termination"] == "interrupted"
    assert result["outcome"]["solution_status"] == "feasible"
    assert result["design"] is not None
    assert result["evaluation"]["feasible"]


# -- lost workers ----------------------------------------------------------------------------


def test_killed_pool_child_is_redelivered_at_once_and_the_job_finishes(client: Client, workers: Workers) -> None:
    worker = workers.start()
    job = client.submit(long_spec(6))
    first = wait_running(client, job["id"], 1)
    time.sleep(1.5)
    (child,) = worker.children()
    os.kill(child, signal.SIGKILL)
    # task_reject_on_worker_lost: requeued at once (not after the 8-day visibility timeout).
    second = wait_running(client, job["id"], 2, timeout_s=30)
    assert parse_time(second["started_at"]) - parse_time(first["started_at"]) < 20
    final = client.wait(job["id"], timeout_s=90, poll_s=0.3)
    assert final["status"] == "succeeded", (final, logs(worker))
    # At least the redelivered attempt; a slow machine may see one more redelivery, but the
    # job always ends (never stays running).
    assert final["attempts"] >= 2
    assert worker.alive()  # the worker replaced its child and went on


def test_a_job_whose_child_dies_every_time_fails_after_the_attempt_limit(client: Client, workers: Workers) -> None:
    worker = workers.start()
    job = client.submit(long_spec(30))
    for attempt in range(1, DEFAULT_MAX_ATTEMPTS + 1):
        wait_running(client, job["id"], attempt, timeout_s=30)
        time.sleep(0.5)
        for child in worker.children():
            os.kill(child, signal.SIGKILL)
    final = client.wait(job["id"], timeout_s=30, poll_s=0.2)
    assert final["status"] == "failed", (final, logs(worker))
    assert final["attempts"] == DEFAULT_MAX_ATTEMPTS
    assert final["error"]["type"] == "WorkerLost"


def test_whole_worker_killed_mid_job_is_recovered_after_the_visibility_timeout(
    client: Client, workers: Workers, redis_db: Any
) -> None:
    env = {"DESIGNSVC_VISIBILITY_TIMEOUT_S": str(VISIBILITY_TIMEOUT_S)}
    first_worker = workers.start(**env)
    job = client.submit(long_spec(6))
    first = wait_running(client, job["id"], 1)
    time.sleep(1)
    first_worker.kill_group(signal.SIGKILL)
    first_worker.popen.wait(10)
    unacked = [v.decode() for v in redis_db.hvals("unacked")]
    assert any(job["id"] in v for v in unacked), unacked  # the message waits in Redis, not lost
    assert client.get(job["id"])["status"] == "running"

    second_worker = workers.start(**env)
    second = wait_running(client, job["id"], 2, timeout_s=VISIBILITY_TIMEOUT_S + 40)
    waited = parse_time(second["started_at"]) - parse_time(first["started_at"])
    assert waited >= VISIBILITY_TIMEOUT_S - 1, f"redelivered after {waited:.1f} s, before the visibility timeout"
    final = client.wait(job["id"], timeout_s=90, poll_s=0.3)
    assert final["status"] == "succeeded", (final, logs(second_worker))
    assert final["attempts"] == 2


def test_cold_shutdown_requeues_the_running_job_at_once(client: Client, workers: Workers, redis_db: Any) -> None:
    worker = workers.start(DESIGNSVC_SOFT_SHUTDOWN_TIMEOUT_S="1")
    job = client.submit(long_spec(8))
    wait_running(client, job["id"], 1)
    time.sleep(1.5)
    worker.popen.send_signal(signal.SIGQUIT)  # docker compose's stop_signal for workers
    worker.popen.wait(30)
    # Not failed (the solver was not interrupted into an error), and back on the queue.
    assert client.get(job["id"])["status"] == "running", logs(worker)
    queued = [v.decode() for v in redis_db.lrange("cpu", 0, -1)]
    unacked = [v.decode() for v in redis_db.hvals("unacked")]
    assert any(job["id"] in v for v in queued), queued  # back on the queue at once
    assert not any(job["id"] in v for v in unacked), unacked  # not left waiting for the timeout

    workers.start()  # default visibility timeout: only the requeue can explain a second attempt
    wait_running(client, job["id"], 2, timeout_s=30)
    final = client.wait(job["id"], timeout_s=90, poll_s=0.3)
    assert final["status"] == "succeeded", final
    assert final["attempts"] >= 2


def test_a_hard_time_limit_is_recorded_as_a_failed_job(redis_db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Celery's task_failure signal (sent in the worker's main process when the hard time
    limit kills a child) fails the job in the store instead of leaving it running."""
    from celery.exceptions import TimeLimitExceeded
    from celery.signals import task_failure

    from designsvc.core.jobs import JobStatus
    from designsvc.store import open_store

    monkeypatch.setenv("DESIGNSVC_REDIS_URL", REDIS_URL)
    monkeypatch.setenv("DESIGNSVC_STORE_URL", REDIS_URL)
    from workers import tasks

    monkeypatch.setattr(tasks, "_stores", {})
    store = open_store(REDIS_URL)
    try:
        record, _ = store.create_job(spec=json.loads(json.dumps(QUICK_SPEC)), problem="assignment@1")
        store.transition(record.id, expected={JobStatus.QUEUED}, to=JobStatus.RUNNING, new_attempt=True)
        task_failure.send(
            sender=tasks.app.tasks["designsvc.run_job"],
            task_id="celery-task-id",
            exception=TimeLimitExceeded(5.0),
            args=[record.id],
            kwargs={},
        )
        failed = store.get_job(record.id)
        assert failed.status is JobStatus.FAILED
        assert failed.error is not None
        assert failed.error["type"] == "TimeLimitExceeded"
    finally:
        for opened in tasks._stores.values():
            opened.close()
        store.close()
