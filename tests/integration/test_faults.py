"""Faults injected into real processes: a Celery worker killed mid-solve, Redis killed and
restarted mid-batch, an SSE client that drops its connection, the artifact disk quota used up.

Nothing is mocked. The distributed tests start their own ``redis-server`` on a free port (never
the shared one on 6379), the API (``designsvc serve``) and the workers (``designsvc worker``)
as subprocesses, each in its own session so that a whole process group can be killed. The
embedded tests run ``designsvc serve --workers 1`` with a temporary data directory.

Redis persistence a production deployment needs (measured by
``test_redis_killed_and_restarted_mid_batch_loses_no_job``): the job store *and* the Celery
broker live in Redis, so a Redis that restarts without its data loses queued messages and job
records. Run it with

- ``appendonly yes`` (the append-only file; RDB snapshots alone lose every write since the last
  snapshot),
- ``appendfsync everysec`` (at most about one second of writes lost on a power loss or kernel
  crash; a killed ``redis-server`` process loses nothing, the kernel still writes its page
  cache) or ``appendfsync always`` (nothing lost, every write waits for the disk),
- ``maxmemory-policy noeviction`` (an evicted job record or queue would lose a job silently;
  the store warns at start-up without it),
- the data directory (``dir``) on a persistent volume.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

redis = pytest.importorskip("redis")

from designsvc.client import Client, ServerEvent, _parse_sse  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # integration tests run one at a time (Makefile)

DESIGNSVC = str(Path(sys.executable).with_name("designsvc"))
REDIS_SERVER = "redis-server"
VISIBILITY_TIMEOUT_S = 10
T = TypeVar("T")

QUICK_SPEC = {"problem": "assignment@1", "instance_ref": "builtin:gap-10x3", "limits": {"time_limit_s": 20}}


def long_spec(time_limit_s: float, **extra: Any) -> dict[str, Any]:
    """A job that uses its whole time limit (rel_gap 0 on a large generated instance)."""
    return {
        "problem": "assignment@1",
        "instance_ref": "generate:seed=1,items=400,bins=20",
        "limits": {"time_limit_s": time_limit_s, "rel_gap": 0},
        **extra,
    }


# -- helpers (the patterns of test_celery.py, copied: tests do not import each other) --------


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
    """A subprocess in its own session (so its whole process group can be signalled), with
    its output in a log file."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str]) -> None:
        self.log = log
        self._out = log.open("ab")
        self.popen = subprocess.Popen(args, stdout=self._out, stderr=subprocess.STDOUT, env=env, start_new_session=True)

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


def logs(*procs: Proc) -> str:
    return "\n".join(f"--- {p.log.name}\n{p.tail()}" for p in procs)


def cpu_ticks(pid: int) -> int:
    """User + system CPU time of a process, in clock ticks (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


class RedisServer:
    """A private ``redis-server`` on a free port, its data (the append-only file) in ``dir``;
    :meth:`kill` and :meth:`start` again restart it on the same port with the same data."""

    def __init__(self, tmp: Path, *, appendonly: bool) -> None:
        self.port = free_port()
        self.dir = tmp / "redis"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log = tmp / "redis.log"
        self.appendonly = appendonly
        self.proc: Proc | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--dir", str(self.dir)]
        args += ["--maxmemory-policy", "noeviction"]
        if self.appendonly:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        self.proc = Proc(args, self.log, dict(os.environ))
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        try:

            def answers() -> bool:
                assert self.proc is not None
                assert self.proc.alive(), f"redis-server exited:\n{self.proc.tail()}"
                try:
                    return bool(client.ping())
                except redis.exceptions.RedisError:
                    return False

            wait_until(answers, timeout_s=20, what="redis-server to answer", interval_s=0.05)
        finally:
            client.close()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill_group(signal.SIGKILL)
        self.proc.popen.wait(10)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if subprocess.run(["which", REDIS_SERVER], capture_output=True, check=False).returncode != 0:
        pytest.skip("no redis-server on PATH")
    server = RedisServer(tmp_path, appendonly=True)
    server.start()
    yield server
    server.stop()


def start_api(tmp: Path, args: list[str], env: dict[str, str] | None = None) -> tuple[Proc, str]:
    """``designsvc serve ARGS`` on a free port, once it answers /healthz."""
    port = free_port()
    proc = Proc(
        [DESIGNSVC, "serve", "--host", "127.0.0.1", "--port", str(port), *args], tmp / "serve.log", env or base_env(tmp)
    )
    url = f"http://127.0.0.1:{port}"
    with Client(url, timeout_s=2) as client:

        def healthy() -> bool:
            assert proc.alive(), f"the server exited:\n{proc.tail()}"
            try:
                client.health()
            except Exception:
                return False
            return True

        try:
            wait_until(healthy, timeout_s=60, what="the server to answer /healthz")
        except BaseException:
            proc.stop()
            raise
    return proc, url


def create_key(redis_url: str) -> str:
    """A key of tenant ``faults``, made as an operator would (``designsvc keys create``)."""
    made = subprocess.run(
        [DESIGNSVC, "keys", "create", "--redis", redis_url, "--tenant", "faults", "--scopes", "admin"],
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("DESIGNSVC_")},
    )
    return made.stdout.strip().splitlines()[-1]


@dataclass
class Distributed:
    """The API and workers on a private Redis."""

    tmp: Path
    redis: RedisServer
    api: Proc
    url: str
    key: str
    workers: list[Proc]

    def client(self, timeout_s: float = 10) -> Client:
        return Client(self.url, timeout_s=timeout_s, api_key=self.key)

    def start_worker(self, **env: str) -> Proc:
        log = self.tmp / f"worker-{len(self.workers)}.log"
        args = [DESIGNSVC, "worker", "--redis", self.redis.url, "--queues", "cpu", "--concurrency", "1"]
        proc = Proc(args, log, base_env(self.tmp) | env)
        self.workers.append(proc)
        return proc

    def wait_ready(self, worker: Proc) -> None:
        wait_until(lambda: worker.children() or None, timeout_s=60, what="the worker's pool process")
        wait_until(lambda: "ready." in worker.tail(200) or None, timeout_s=60, what="the worker to be ready")


@pytest.fixture
def distributed(tmp_path: Path, redis_server: RedisServer) -> Iterator[Distributed]:
    key = create_key(redis_server.url)
    api, url = start_api(tmp_path, ["--redis", redis_server.url])
    setup = Distributed(tmp_path, redis_server, api, url, key, [])
    yield setup
    for proc in [*setup.workers, api]:
        proc.stop()


def wait_running(client: Client, job_id: str, attempt: int, *, timeout_s: float = 60) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        job = client.get(job_id)
        assert job["status"] in ("queued", "running"), job
        return job if job["status"] == "running" and job["attempts"] == attempt else None

    return wait_until(check, timeout_s=timeout_s, what=f"job {job_id} to run attempt {attempt}")


# -- 1. a whole Celery worker killed mid-solve, another one idle beside it ---------------------


def test_killed_worker_job_finishes_on_the_other_running_worker(distributed: Distributed) -> None:
    """Two workers run side by side; the one solving the job is killed outright (SIGKILL to
    its main process and its pool child at once). The job's message waits in Redis's
    ``unacked`` hash; after the visibility timeout (10 s here, ``DESIGNSVC_VISIBILITY_TIMEOUT_S``)
    the *other, already running* worker's periodic sweep puts it back and runs it: the job
    succeeds with ``attempts == 2``, and its events show both starts.

    test_celery.py covers the whole worker killed with the replacement worker started only
    afterwards (redelivered at its start-up) and a pool child killed alone (requeued at once);
    this is the variant where nothing new starts: recovery relies on the survivor's sweep.
    """
    env = {"DESIGNSVC_VISIBILITY_TIMEOUT_S": str(VISIBILITY_TIMEOUT_S)}
    pair = [distributed.start_worker(**env), distributed.start_worker(**env)]
    for worker in pair:
        distributed.wait_ready(worker)
    with distributed.client() as client:
        job = client.submit(long_spec(5, tags=["kill-worker"]))
        first = wait_running(client, job["id"], 1)
        # Which worker took it: the one whose pool child burns CPU.
        before = {w.pid: sum(cpu_ticks(c) for c in w.children()) for w in pair}
        time.sleep(1.0)
        spent = {w.pid: sum(cpu_ticks(c) for c in w.children()) - before[w.pid] for w in pair}
        busy, idle = sorted(pair, key=lambda w: spent[w.pid], reverse=True)
        assert spent[busy.pid] > 3 * max(spent[idle.pid], 1), spent
        busy.kill_group(signal.SIGKILL)
        busy.popen.wait(10)
        killed_at = time.monotonic()
        assert client.get(job["id"])["status"] == "running"

        second = wait_running(client, job["id"], 2, timeout_s=VISIBILITY_TIMEOUT_S + 40)
        waited = parse_time(second["started_at"]) - parse_time(first["started_at"])
        assert waited >= VISIBILITY_TIMEOUT_S - 1, f"redelivered after {waited:.1f} s, before the visibility timeout"
        final = client.wait(job["id"], timeout_s=60, poll_s=0.3)
        recovered_s = time.monotonic() - killed_at
        assert final["status"] == "succeeded", (final, logs(*pair))
        assert final["attempts"] == 2
        assert idle.alive()
        assert "designsvc.run_job" in idle.tail(200)  # the survivor ran it
        statuses = [e.data["data"] for e in client.events(job["id"]) if e.type == "status"]
        starts = [s for s in statuses if s["status"] == "running"]
        assert starts == [{"status": "running", "attempts": 1}, {"status": "running", "attempts": 2}]
        print(
            f"\nkilled worker: redelivered {waited:.1f} s after the first start, "
            f"done {recovered_s:.1f} s after the kill"
        )


# -- 2. Redis killed and restarted in the middle of a batch ------------------------------------


@dataclass
class Probe:
    path: str
    status: int
    content_type: str
    seconds: float


def probe(url: str, key: str, path: str, method: str = "GET", json: Any = None) -> Probe:
    started = time.monotonic()
    try:
        response = httpx.request(method, url + path, headers={"Authorization": f"Bearer {key}"}, json=json, timeout=30)
    except httpx.HTTPError as exc:
        raise AssertionError(f"{method} {path} while Redis was down: {exc!r}") from exc
    return Probe(path, response.status_code, response.headers.get("content-type", ""), time.monotonic() - started)


def test_redis_killed_and_restarted_mid_batch_loses_no_job(distributed: Distributed) -> None:
    """Redis (store and broker) is SIGKILLed while a batch of six short jobs runs, stays down
    a few seconds, then restarts on the same port with the same append-only file. While it is
    down the API answers 503 problem+json at once (not 500, not a hang); afterwards the API
    and the worker reconnect by themselves and every job of the batch ends, none lost.

    The Redis here runs with ``appendonly yes``, ``appendfsync always`` and ``maxmemory-policy
    noeviction``; see the module docstring for what production needs.
    """
    worker = distributed.start_worker()
    distributed.wait_ready(worker)
    with distributed.client() as client:
        batch = client.submit_batch(
            {
                "spec": {"problem": "assignment@1", "limits": {"time_limit_s": 20}, "tags": ["redis-restart"]},
                "generate": {"seeds": [1, 2, 3], "size": {"items": 40, "bins": 6}},
                "grid": {"solver.name": ["highs", "cpsat"]},
            }
        )
        job_ids = [job["id"] for job in client.list(tag="redis-restart", limit=50)["items"]]
        assert len(job_ids) == 6

        def some_done_some_not() -> bool:
            statuses = [client.get(i)["status"] for i in job_ids]
            return "succeeded" in statuses and any(s in ("queued", "running") for s in statuses)

        wait_until(some_done_some_not, timeout_s=60, what="the batch to be under way", interval_s=0.1)
        before = {i: client.get(i)["status"] for i in job_ids}

        log_mark = worker.log.stat().st_size
        distributed.redis.kill()
        down_at = time.monotonic()
        probes = [
            probe(distributed.url, distributed.key, f"/v1/jobs/{job_ids[0]}"),
            probe(distributed.url, distributed.key, f"/v1/batches/{batch['id']}"),
            probe(distributed.url, distributed.key, "/v1/jobs", "POST", QUICK_SPEC),
            probe(distributed.url, distributed.key, "/readyz"),
        ]
        # Down until the task that was running has ended in the worker, its last store write
        # failed ("store unavailable": the task waits to publish its retry), and at least 3 s.
        running_before = "running" in before.values()

        def task_ended() -> bool:
            with worker.log.open("rb") as handle:
                handle.seek(log_mark)
                text = handle.read().decode(errors="replace")
            return (
                re.search(r"store unavailable|Task designsvc\.run_job\[[^\]]+\] (succeeded|raised)", text) is not None
            )

        if running_before:
            wait_until(task_ended, timeout_s=30, what="the running task to end while Redis is down")
        time.sleep(max(0.0, 3 - (time.monotonic() - down_at)))
        distributed.redis.start()
        down_s = time.monotonic() - down_at

        for seen in probes:
            assert seen.status == 503, (seen, logs(distributed.api))
            assert seen.content_type.startswith("application/problem+json"), seen
            assert seen.seconds < 10, seen
        assert distributed.api.alive()
        assert worker.alive()

        def all_ended() -> dict[str, Any] | None:
            try:
                summary = client.batch(batch["id"])
            except Exception:
                return None
            return summary if summary.get("done") else None

        started = time.monotonic()
        try:
            summary = wait_until(all_ended, timeout_s=90, what="every job of the batch to end", interval_s=0.5)
        except AssertionError:
            states = {i: client.get(i) for i in job_ids}
            raise AssertionError(f"{states}\n{logs(distributed.api, worker, distributed.redis.proc)}") from None  # type: ignore[arg-type]
        finals = {i: client.get(i) for i in job_ids}
        assert set(finals) == set(job_ids)  # no job lost
        assert all(job["status"] == "succeeded" for job in finals.values()), finals
        assert len(client.batch_csv(batch["id"]).splitlines()) == 7
        # Acks sent on the connection that died are lost: those messages wait in ``unacked`` for
        # the visibility timeout, then find their job finished and do nothing.
        with contextlib.closing(redis.Redis(port=distributed.redis.port)) as broker:
            stale = broker.hlen("unacked")
        print(
            f"\nredis down {down_s:.1f} s; statuses when killed {sorted(before.values())}; "
            f"probes {[(p.path, p.status, round(p.seconds, 2)) for p in probes]}; "
            f"batch done {time.monotonic() - started:.1f} s after the restart; "
            f"attempts {sorted(j['attempts'] for j in finals.values())}; counters {summary['counters']}; "
            f"{stale} message(s) left in unacked"
        )


# -- embedded servers ----------------------------------------------------------------------


@pytest.fixture
def embedded(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[str, Path]]:
    """``designsvc serve --workers 1`` with its data in a temporary folder; an indirect
    parameter, when given, is the store URL (``DESIGNSVC_STORE_URL``). Yields the server's
    URL and the data folder."""
    env = base_env(tmp_path)
    store_url = getattr(request, "param", None)
    if store_url:
        env["DESIGNSVC_STORE_URL"] = store_url.format(data=tmp_path / "data")
    proc, url = start_api(tmp_path, ["--workers", "1"], env)
    try:
        yield url, tmp_path / "data"
        assert "Traceback" not in proc.log.read_text(errors="replace"), proc.tail(80)
    finally:
        proc.stop()


# -- 3. an SSE client dropping its connection mid-stream --------------------------------------


def read_events(response: httpx.Response, count: int | None) -> list[ServerEvent]:
    """Events of an open stream: ``count`` of them (with ids), or all until ``end``."""
    events: list[ServerEvent] = []
    for event in _parse_sse(response.iter_lines()):
        events.append(event)
        if event.type == "end" or (count is not None and sum(e.id is not None for e in events) >= count):
            break
    return events


def test_sse_stream_resumes_after_a_dropped_connection(embedded: tuple[str, Path]) -> None:
    """A client reads a few events of a running job, drops the TCP connection abruptly (no
    reading to the end), and reconnects with ``Last-Event-ID``: the stream goes on exactly
    after that id (no duplicate, no gap, ids strictly increasing) until ``event: end``; the
    server stays healthy."""
    url, _ = embedded
    with Client(url, timeout_s=10) as client:
        job = client.submit(long_spec(4, render=False))
        wait_until(lambda: client.get(job["id"])["status"] == "running", timeout_s=60, what="the job to run")
        events_url = f"{url}/v1/jobs/{job['id']}/events"
        with httpx.Client(timeout=httpx.Timeout(10, read=30)) as http:
            with http.stream("GET", events_url, headers={"Accept": "text/event-stream"}) as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                first = read_events(response, 3)
                # Drop the connection mid-stream: close the socket under the open response.
                response.close()
            assert client.get(job["id"])["status"] == "running"  # dropped while the job still runs
            last = [e.id for e in first if e.id is not None][-1]
            time.sleep(1.0)  # events keep coming meanwhile
            with http.stream(
                "GET", events_url, headers={"Accept": "text/event-stream", "Last-Event-ID": str(last)}
            ) as response:
                assert response.status_code == 200
                rest = read_events(response, None)
        assert rest[-1].type == "end"
        assert rest[-1].data["status"] == "succeeded"
        first_ids = [e.id for e in first if e.id is not None]
        rest_ids = [e.id for e in rest if e.id is not None]
        ids = first_ids + rest_ids
        assert rest_ids[0] == last + 1, (first_ids, rest_ids)
        assert ids == list(range(1, len(ids) + 1)), ids  # from 1, strictly increasing, no gap, no duplicate
        everything = list(client.events(job["id"]))
        assert [e.id for e in everything if e.id is not None] == ids  # the stored events, each seen once
        assert [(e.type, e.data) for e in everything if e.id is not None] == [
            (e.type, e.data) for e in [*first, *rest] if e.id is not None
        ]
        assert client.health()["status"] == "ok"
        assert client.ready()["status"] == "ready"
        print(f"\nSSE: {len(first_ids)} events, dropped after id {last}, resumed with {len(rest_ids)} more")


# -- 4. the artifact disk quota used up --------------------------------------------------------

QUOTA_BYTES = 30_000
"""Room for the small job's PNG (about 17 kB), not for the large job's (about 38 kB)."""


@pytest.mark.parametrize(
    "embedded",
    [f"sqlite:///{{data}}/jobs.sqlite3?inline_artifact_max_bytes=0&artifact_quota_bytes={QUOTA_BYTES}"],
    indirect=True,
    ids=["tiny-quota"],
)
def test_artifact_quota_exhausted_fails_the_job_with_a_clear_message(embedded: tuple[str, Path]) -> None:
    """Every artifact is a file (``inline_artifact_max_bytes=0``) and the files may take
    30 000 bytes. A job whose artifact does not fit ends ``failed`` with the quota message.

    Failed, not succeeded-with-a-warning: the result document lists its artifacts, so a job
    that "succeeded" without them would promise downloads that 404, and a script that only
    checks the status would not notice. The operator sees why in the job's error; the
    earlier jobs' artifacts are untouched and still download byte for byte, and jobs without
    artifacts still run."""
    url, data = embedded
    with Client(url, timeout_s=10) as client:
        small = client.submit(QUICK_SPEC)
        done = client.wait(small["id"], timeout_s=120, poll_s=0.2)
        assert done["status"] == "succeeded", done
        [png] = client.result(small["id"])["artifacts"]
        assert png["size_bytes"] <= QUOTA_BYTES
        stored = data / "jobs.sqlite3.artifacts" / small["id"] / png["name"]
        assert stored.stat().st_size == png["size_bytes"]  # a file, as the URL asks

        large = client.submit(
            {
                "problem": "assignment@1",
                "instance_ref": "generate:seed=1,items=60,bins=40",
                "limits": {"time_limit_s": 20},
            }
        )
        failed = client.wait(large["id"], timeout_s=120, poll_s=0.2)
        assert failed["status"] == "failed", failed
        assert f"artifact quota of {QUOTA_BYTES} bytes exceeded" in failed["error"]["message"], failed["error"]
        assert failed["attempts"] == 1
        assert not (data / "jobs.sqlite3.artifacts" / large["id"]).exists()  # nothing half-written

        # The store is consistent: the earlier artifact downloads byte for byte, and a job
        # without artifacts still runs to its end.
        body = client.artifact(small["id"], png["name"])
        assert hashlib.sha256(body).hexdigest() == png["sha256"]
        assert body == stored.read_bytes()
        plain = client.submit({**QUICK_SPEC, "render": False})
        assert client.wait(plain["id"], timeout_s=120, poll_s=0.2)["status"] == "succeeded"
        print(f"\nquota: {png['size_bytes']} bytes kept; the large job failed with: {failed['error']['message']}")
