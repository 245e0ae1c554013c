"""Load test of the service in Celery mode on loopback: a mixed open-loop workload for a
bounded time, with latency, errors, lost jobs and memory growth.

Everything runs here as real subprocesses, each in its own session (so its whole process
group can be stopped): a Redis on a free port (``redis-server --port P --save "" --appendonly
no --bind 127.0.0.1`` in a temporary directory; or ``--redis URL``, a database that must be
empty unless ``--flush`` is given, flushed then before and after), the API (``designsvc
serve --redis ... --port P``, with ``DESIGNSVC_RATE_LIMIT_PER_S`` and
``DESIGNSVC_RATE_LIMIT_BURST`` set far above the offered rate, other limits at their
defaults) and ``--workers`` Celery workers (``designsvc worker --queues cpu --concurrency
1``). An admin key of tenant ``load`` is made with ``designsvc keys create``.

Workload (one asyncio process, httpx, one connection pool): requests arrive as a Poisson
process at ``--rate`` requests/s for ``--duration`` s (``--quick``: 60 s), each sent at its
time whatever the earlier ones are doing (open loop; at most ``--max-inflight`` in flight,
arrivals beyond that are counted as skipped). Each arrival is, by ``--mix`` weights:

- ``submit``: POST /v1/jobs, ``builtin:gap-10x3`` with a 5 s time limit, or (``--generated``
  of them) a small generated instance (``generate:seed=N,items=15..40,bins=3..5``);
- ``get``: GET /v1/jobs/{id} of a random job not yet seen finished (a client polling);
- ``list``: GET /v1/jobs (``limit=20``, ``status=queued``, ``status=running`` or the
  ``load`` tag, in turn);
- ``cancel``: POST /v1/jobs/{id}/cancel of the newest job not yet seen finished nor canceled.

``get`` and ``cancel`` become ``list`` while no job is known yet. The default mix (submit
0.10, get 0.65, list 0.22, cancel 0.03) offers 2 jobs/s at 20 requests/s, below what two
workers finish on two cores (a ``gap-10x3`` job with its default rendering takes about 0.7 s
in a worker), so the queue stays short and the run measures a steady state; a larger submit
weight measures a growing backlog instead (at 1,000 unfinished jobs the tenant's cap answers
429 ``too-many-unfinished-jobs``, counted with the 429s). Latency is from send to
response, per kind; 429s (``rate-limited`` or the tenant's cap of unfinished jobs) and
transport errors are counted apart. After the load, a drain of at most ``--drain`` s waits
for every accepted job to finish (listing the tenant's jobs, not counted above); a job that
is then missing or not finished is *lost*. Jobs finished/s counts jobs whose ``finished_at``
falls inside the load window. Memory: VmRSS (``/proc/PID/status``) of each process and all
its descendants (a worker's pool child included) before the load, after ``--warmup`` s of it,
at its end, after the drain, and the peak of samples every 2 s; "children seen" counts a
worker's pool processes over the run (Celery replaces a child after 100 jobs, which resets its
memory).

    .venv/bin/python bench/load.py [--quick] [--duration 600] [--rate 20] [--workers 2]
        [--redis URL --flush] [--json out/load.json] [--logs DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

# bench/solvers.py would shadow the `solvers` package when this file runs as a script.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import httpx  # noqa: E402

BIN = str(Path(sys.executable).with_name("designsvc"))
KINDS = ("submit", "get", "list", "cancel")
TERMINAL = {"succeeded", "failed", "canceled"}
QUICK_SPEC: dict[str, Any] = {
    "problem": "assignment@1",
    "instance_ref": "builtin:gap-10x3",
    "limits": {"time_limit_s": 5},
    "tags": ["load"],
}
LIST_QUERIES: tuple[dict[str, str | int], ...] = (
    {"limit": 20},
    {"status": "queued", "limit": 20},
    {"status": "running"},
    {"tag": "load", "limit": 20},
)
TENANT = "load"


# -- processes -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children of all its threads, recursively)."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            text = Path(f"/proc/{pid}/task/{tid}/children").read_text()
        except OSError:
            continue
        for child in text.split():
            found.append(int(child))
            found.extend(descendants(int(child)))
    return found


def vm_rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class Proc:
    """A subprocess in its own session, its output in a log file."""

    def __init__(self, name: str, args: list[str], log: Path, env: dict[str, str], cwd: Path | None = None) -> None:
        self.name = name
        self.log = log
        self._out = log.open("wb")
        self.popen = subprocess.Popen(
            args, stdout=self._out, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def rss(self) -> dict[str, Any]:
        """VmRSS of the process and of its descendants, KiB."""
        pids = [self.pid, *descendants(self.pid)] if self.alive() else []
        per = {pid: vm_rss_kib(pid) for pid in pids}
        return {"total_kib": sum(per.values()), "processes": len(pids), "per_pid_kib": per}

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def stop(self, timeout_s: float = 15) -> None:
        """SIGTERM to the group, then SIGKILL to whatever of the group is left."""
        if self.alive():
            self._signal_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout_s)
        self._signal_group(signal.SIGKILL)  # pool children that outlived their parent too
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout_s)
        self._out.close()


def wait_until(check: Any, timeout_s: float, what: str, procs: list[Proc]) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for proc in procs:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited (rc {proc.popen.returncode}):\n{proc.tail()}")
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(0.2)
    raise RuntimeError(f"timed out after {timeout_s} s waiting for {what}")


def base_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESIGNSVC_")}
    env["DESIGNSVC_DATA_DIR"] = str(data_dir)
    env["PYTHONUNBUFFERED"] = "1"
    return env


# -- statistics ------------------------------------------------------------------------------


@dataclass
class KindStats:
    sent: int = 0
    skipped: int = 0
    latencies_s: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    transport: Counter[str] = field(default_factory=Counter)
    slugs_429: Counter[str] = field(default_factory=Counter)
    slugs_error: Counter[str] = field(default_factory=Counter)


@dataclass
class LoadState:
    rng: random.Random
    kinds: dict[str, KindStats] = field(default_factory=lambda: {k: KindStats() for k in KINDS})
    submitted: dict[str, float] = field(default_factory=dict)  # id -> monotonic time of the 202
    pending: list[str] = field(default_factory=list)  # not seen finished
    pending_set: set[str] = field(default_factory=set)
    cancel_requested: set[str] = field(default_factory=set)
    generated: int = 0
    submit_unknown: int = 0  # submits without an answer: the job may or may not exist
    lags_s: list[float] = field(default_factory=list)
    max_inflight: int = 0
    seed_counter: int = 0

    def forget(self, job_id: str) -> None:
        if job_id in self.pending_set:
            self.pending_set.discard(job_id)
            self.pending.remove(job_id)


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[round(q * 1000) - 1]


def parse_time(stamp: str | None) -> float | None:
    if not stamp:
        return None
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


# -- the workload ----------------------------------------------------------------------------


def make_spec(state: LoadState, generated_fraction: float) -> dict[str, Any]:
    if state.rng.random() >= generated_fraction:
        return QUICK_SPEC
    state.generated += 1
    state.seed_counter += 1
    items = state.rng.choice((15, 20, 30, 40))
    bins = state.rng.choice((3, 4, 5))
    return {
        "problem": "assignment@1",
        "instance_ref": f"generate:seed={state.seed_counter},items={items},bins={bins}",
        "limits": {"time_limit_s": 5},
        "tags": ["load", "generated"],
    }


async def one_request(http: httpx.AsyncClient, kind: str, state: LoadState, generated_fraction: float) -> None:
    rng = state.rng
    if kind in ("get", "cancel") and not state.pending and not state.submitted:
        kind = "list"
    job_id: str | None = None
    params: dict[str, str | int] | None = None
    body: dict[str, Any] | None = None
    if kind == "submit":
        method, url, body = "POST", "/v1/jobs", make_spec(state, generated_fraction)
    elif kind == "get":
        pool = state.pending or list(state.submitted)
        job_id = rng.choice(pool)
        method, url = "GET", f"/v1/jobs/{job_id}"
    elif kind == "list":
        query = LIST_QUERIES[state.kinds["list"].sent % len(LIST_QUERIES)]
        method, url, params = "GET", "/v1/jobs", query
    else:
        fresh = [j for j in reversed(state.pending) if j not in state.cancel_requested]
        job_id = fresh[0] if fresh else rng.choice(list(state.submitted))
        state.cancel_requested.add(job_id)
        method, url = "POST", f"/v1/jobs/{job_id}/cancel"
    stats = state.kinds[kind]
    stats.sent += 1
    started = time.perf_counter()
    try:
        response = await http.request(method, url, json=body, params=params)
    except httpx.HTTPError as exc:
        stats.transport[type(exc).__name__] += 1
        if kind == "submit":
            state.submit_unknown += 1
        return
    stats.latencies_s.append(time.perf_counter() - started)
    stats.statuses[response.status_code] += 1
    payload: Any = None
    with contextlib.suppress(ValueError):
        payload = response.json()
    if response.status_code >= 400:
        slug = str(payload.get("type", "")).rsplit("/", 1)[-1] if isinstance(payload, dict) else ""
        (stats.slugs_429 if response.status_code == 429 else stats.slugs_error)[f"{response.status_code} {slug}"] += 1
        return
    if kind == "submit" and isinstance(payload, dict):
        new_id = payload["id"]
        if new_id not in state.submitted:
            state.submitted[new_id] = time.monotonic()
            state.pending.append(new_id)
            state.pending_set.add(new_id)
    elif kind in ("get", "cancel") and isinstance(payload, dict) and payload.get("status") in TERMINAL:
        state.forget(str(job_id))


async def drive(
    http: httpx.AsyncClient, state: LoadState, args: argparse.Namespace, weights: list[float], on_warm: Any
) -> float:
    """The open-loop arrivals for ``args.duration`` s; the load's wall time."""
    loop = asyncio.get_running_loop()
    inflight: set[asyncio.Task[None]] = set()
    start = loop.time()
    next_at = start
    warm_done = False
    while True:
        next_at += state.rng.expovariate(args.rate)
        if next_at - start >= args.duration:
            break
        delay = next_at - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        state.lags_s.append(max(0.0, loop.time() - next_at))
        if not warm_done and loop.time() - start >= args.warmup:
            warm_done = True
            on_warm()
        kind = state.rng.choices(KINDS, weights)[0]
        if len(inflight) >= args.max_inflight:
            state.kinds[kind].skipped += 1
            continue
        task = asyncio.create_task(one_request(http, kind, state, args.generated))
        inflight.add(task)
        task.add_done_callback(inflight.discard)
        state.max_inflight = max(state.max_inflight, len(inflight))
    remaining = args.duration - (loop.time() - start)
    if remaining > 0:
        await asyncio.sleep(remaining)
    if not warm_done:
        on_warm()
    if inflight:
        await asyncio.wait(inflight, timeout=60)
    return loop.time() - start


async def list_all(http: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    """Every job of the tenant, by id (pages of 1,000)."""
    jobs: dict[str, dict[str, Any]] = {}
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 1000}
        if cursor:
            params["cursor"] = cursor
        response = await http.get("/v1/jobs", params=params)
        response.raise_for_status()
        page = response.json()
        jobs.update({job["id"]: job for job in page["items"]})
        cursor = page["next_cursor"]
        if not cursor:
            return jobs


async def drain(http: httpx.AsyncClient, ids: list[str], timeout_s: float) -> tuple[dict[str, dict[str, Any]], float]:
    """Wait until every accepted job is finished or ``timeout_s`` has passed; the final view."""
    started = time.monotonic()
    while True:
        jobs = await list_all(http)
        unfinished = [j for j in ids if jobs.get(j, {}).get("status") not in TERMINAL]
        if not unfinished or time.monotonic() - started > timeout_s:
            break
        await asyncio.sleep(1)
    # A job missing from the listing is looked up on its own before it counts as lost.
    for job_id in [j for j in ids if j not in jobs]:
        response = await http.get(f"/v1/jobs/{job_id}")
        if response.status_code == 200:
            jobs[job_id] = response.json()
    return jobs, time.monotonic() - started


# -- the run ---------------------------------------------------------------------------------


class Run:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.procs: list[Proc] = []
        self.rss: dict[str, dict[str, Any]] = {}  # phase -> process name -> rss
        self.samples: list[dict[str, Any]] = []
        self.redis_url = args.redis
        self.redis_version = ""

    def start(self, name: str, argv: list[str], env: dict[str, str], cwd: Path | None = None) -> Proc:
        proc = Proc(name, argv, self.workdir / f"{name}.log", env, cwd)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self.procs):  # workers and the API before Redis
            proc.stop()

    def snapshot(self, phase: str | None = None) -> dict[str, Any]:
        now = {p.name: p.rss() for p in self.procs}
        if phase:
            self.rss[phase] = now
        return now

    def setup(self) -> tuple[str, str]:
        import redis

        args = self.args
        if self.redis_url is None:
            port = free_port()
            redis_dir = self.workdir / "redis"
            redis_dir.mkdir()
            argv = ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"]
            self.start("redis", argv, {**os.environ}, cwd=redis_dir)
            self.redis_url = f"redis://127.0.0.1:{port}/0"
        db = redis.Redis.from_url(self.redis_url)
        try:
            wait_until(db.ping, 30, "Redis", self.procs)
            self.redis_version = str(db.info("server").get("redis_version", ""))
            if args.redis:
                if db.dbsize() and not args.flush:
                    raise SystemExit(f"{args.redis} is not empty; give --flush to empty it (before and after)")
                db.flushdb()
        finally:
            db.close()

        data_dir = self.workdir / "data"
        env = base_env(data_dir)
        limit = str(max(1000, int(50 * args.rate)))
        api_env = env | {"DESIGNSVC_RATE_LIMIT_PER_S": limit, "DESIGNSVC_RATE_LIMIT_BURST": limit}
        made = subprocess.run(
            [BIN, "keys", "create", "--redis", self.redis_url, "--tenant", TENANT, "--scopes", "admin"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        if made.returncode != 0:
            raise RuntimeError(f"designsvc keys create failed:\n{made.stdout}{made.stderr}")
        key = made.stdout.strip().splitlines()[-1]

        port = free_port()
        self.start(
            "api", [BIN, "serve", "--redis", self.redis_url, "--host", "127.0.0.1", "--port", str(port)], api_env
        )
        base = f"http://127.0.0.1:{port}"
        workers = [
            self.start(
                f"worker-{i}",
                [BIN, "worker", "--redis", self.redis_url, "--queues", "cpu", "--concurrency", "1"],
                env,
            )
            for i in range(args.workers)
        ]
        wait_until(lambda: httpx.get(f"{base}/readyz", timeout=2).status_code == 200, 120, "the API", self.procs)
        for worker in workers:
            wait_until(lambda w=worker: descendants(w.pid), 120, f"{worker.name}'s pool process", self.procs)
        # Consuming: a ready worker logs "ready." once its consumer is up.
        for worker in workers:
            wait_until(lambda w=worker: "ready." in w.log.read_text(errors="replace"), 120, worker.name, self.procs)
        return base, key

    async def load(self, base: str, key: str) -> dict[str, Any]:
        args = self.args
        state = LoadState(rng=random.Random(args.seed))
        weights = [float(w) for w in args.mix.split(",")]
        limits = httpx.Limits(max_connections=args.max_inflight, max_keepalive_connections=args.max_inflight)
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=args.timeout, limits=limits) as http:
            stop_sampling = asyncio.Event()

            async def sampler() -> None:
                t0 = time.monotonic()
                while not stop_sampling.is_set():
                    now = self.snapshot()
                    self.samples.append({"t_s": round(time.monotonic() - t0, 1)} | now)
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(stop_sampling.wait(), 2.0)

            self.snapshot("start")
            sampling = asyncio.create_task(sampler())
            wall_start = time.time()
            print(f"load: {args.rate:g} req/s for {args.duration:g} s ...", file=sys.stderr, flush=True)
            load_s = await drive(http, state, args, weights, lambda: self.snapshot("warm"))
            wall_end = time.time()
            self.snapshot("end")
            print(f"drain: up to {args.drain:g} s ...", file=sys.stderr, flush=True)
            ids = list(state.submitted)
            jobs, drain_s = await drain(http, ids, args.drain)
            self.snapshot("drained")
            stop_sampling.set()
            await sampling
        return {
            "state": state,
            "load_s": load_s,
            "drain_s": drain_s,
            "wall_start": wall_start,
            "wall_end": wall_end,
            "jobs": {j: jobs.get(j) for j in ids},
        }


# -- the report ------------------------------------------------------------------------------


def summarize(run: Run, outcome: dict[str, Any]) -> dict[str, Any]:
    state: LoadState = outcome["state"]
    load_s = outcome["load_s"]
    kinds: dict[str, Any] = {}
    for kind, s in state.kinds.items():
        lat = s.latencies_s
        kinds[kind] = {
            "sent": s.sent,
            "skipped": s.skipped,
            "responses": len(lat),
            "rps": len(lat) / load_s,
            "p50_ms": 1000 * quantile(lat, 0.5),
            "p90_ms": 1000 * quantile(lat, 0.9),
            "p99_ms": 1000 * quantile(lat, 0.99),
            "max_ms": 1000 * max(lat, default=float("nan")),
            "statuses": {str(k): v for k, v in sorted(s.statuses.items())},
            "status_429": s.statuses.get(429, 0),
            "status_5xx": sum(v for k, v in s.statuses.items() if k >= 500),
            "status_4xx_other": sum(v for k, v in s.statuses.items() if 400 <= k < 500 and k != 429),
            "transport_errors": dict(s.transport),
            "slugs_429": dict(s.slugs_429),
            "error_slugs": dict(s.slugs_error),
            "latencies_ms": [round(1000 * v, 2) for v in lat],
        }
    all_lat = [v for s in state.kinds.values() for v in s.latencies_s]
    statuses: Counter[int] = sum((s.statuses for s in state.kinds.values()), Counter())
    transport: Counter[str] = sum((s.transport for s in state.kinds.values()), Counter())
    kinds["all"] = {
        "sent": sum(s.sent for s in state.kinds.values()),
        "skipped": sum(s.skipped for s in state.kinds.values()),
        "responses": len(all_lat),
        "rps": len(all_lat) / load_s,
        "p50_ms": 1000 * quantile(all_lat, 0.5),
        "p90_ms": 1000 * quantile(all_lat, 0.9),
        "p99_ms": 1000 * quantile(all_lat, 0.99),
        "max_ms": 1000 * max(all_lat, default=float("nan")),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "status_429": statuses.get(429, 0),
        "status_5xx": sum(v for k, v in statuses.items() if k >= 500),
        "status_4xx_other": sum(v for k, v in statuses.items() if 400 <= k < 500 and k != 429),
        "transport_errors": dict(transport),
    }

    jobs: dict[str, dict[str, Any] | None] = outcome["jobs"]
    final = Counter((j or {}).get("status", "missing") for j in jobs.values())
    not_found = [i for i, j in jobs.items() if j is None]
    not_terminal = [i for i, j in jobs.items() if j is not None and j["status"] not in TERMINAL]
    errors = Counter((j.get("error") or {}).get("type", "?") for j in jobs.values() if j and j["status"] == "failed")
    finished_in_window = 0
    queue_wait: list[float] = []
    end_to_end: list[float] = []
    for job in jobs.values():
        if not job:
            continue
        created, started, finished = (parse_time(job.get(k)) for k in ("created_at", "started_at", "finished_at"))
        if finished is not None and outcome["wall_start"] <= finished <= outcome["wall_end"]:
            finished_in_window += 1
        if job["status"] == "succeeded" and created is not None and finished is not None:
            end_to_end.append(finished - created)
            if started is not None:
                queue_wait.append(started - created)
    attempts = Counter(j["attempts"] for j in jobs.values() if j)
    job_summary = {
        "accepted": len(jobs),
        "generated": state.generated,
        "submit_unanswered": state.submit_unknown,
        "cancel_requested": len(state.cancel_requested),
        "final_statuses": dict(final),
        "failed_error_types": dict(errors),
        "attempts": {str(k): v for k, v in sorted(attempts.items())},
        "lost_not_found": not_found,
        "lost_not_terminal": not_terminal,
        "finished_in_window": finished_in_window,
        "finished_per_s": finished_in_window / load_s,
        "queue_wait_p50_s": quantile(queue_wait, 0.5),
        "queue_wait_p99_s": quantile(queue_wait, 0.99),
        "end_to_end_p50_s": quantile(end_to_end, 0.5),
        "end_to_end_p99_s": quantile(end_to_end, 0.99),
        "drain_s": outcome["drain_s"],
    }
    memory: dict[str, Any] = {}
    for proc in run.procs:
        seen = [s[proc.name] for s in [*run.samples, *run.rss.values()] if proc.name in s]
        peak = max((s["total_kib"] for s in seen), default=0)
        row = {phase: run.rss.get(phase, {}).get(proc.name, {}).get("total_kib", 0) for phase in run.rss}
        # Pool children are replaced after MAX_TASKS_PER_CHILD jobs: count the ones seen.
        children = {pid for s in seen for pid in s["per_pid_kib"]} - {proc.pid}
        memory[proc.name] = {"pid": proc.pid, **row, "peak": peak, "children_seen": len(children)}
    logs = {}
    for proc in run.procs:
        text = proc.log.read_text(errors="replace") if proc.log.exists() else ""
        logs[proc.name] = {
            "tracebacks": text.count("Traceback (most recent call last)"),
            "error_lines": sum(1 for line in text.splitlines() if " ERROR" in line or "ERROR/" in line),
            "warning_lines": sum(1 for line in text.splitlines() if "WARNING" in line),
        }
    return {
        "kinds": kinds,
        "jobs": job_summary,
        "memory_kib": memory,
        "logs": logs,
        "load_s": load_s,
        "generator_lag_p99_ms": 1000 * quantile(state.lags_s, 0.99),
        "generator_lag_max_ms": 1000 * max(state.lags_s, default=0.0),
        "max_inflight": state.max_inflight,
    }


def fmt(value: float, digits: int = 1) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def report(run: Run, summary: dict[str, Any], command: str) -> None:
    args = run.args
    mib = 1024.0
    print(
        f"# designsvc load test, Celery mode on loopback ({platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, Redis {run.redis_version})"
    )
    print(f"# command: {command}")
    print(
        f"# API + {args.workers} worker(s) x concurrency 1 + {'own Redis' if not args.redis else args.redis}; "
        f"offered {args.rate:g} req/s (Poisson, seed {args.seed}) for {args.duration:g} s, mix "
        f"submit/get/list/cancel = {args.mix}, {args.generated:.0%} of submits generated; warm-up "
        f"{args.warmup:g} s; drain <= {args.drain:g} s"
    )
    print()
    print(
        "| kind | sent | responses | req/s | p50 ms | p90 ms | p99 ms | max ms | 2xx | 4xx (not 429) | 429 | 5xx "
        "| transport errors |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for kind in (*KINDS, "all"):
        k = summary["kinds"][kind]
        ok = sum(v for s, v in k["statuses"].items() if 200 <= int(s) < 300)
        transport = sum(k["transport_errors"].values())
        name = f"**{kind}**" if kind == "all" else kind
        print(
            f"| {name} | {k['sent']} | {k['responses']} | {k['rps']:.2f} | {fmt(k['p50_ms'])} | {fmt(k['p90_ms'])} "
            f"| {fmt(k['p99_ms'])} | {fmt(k['max_ms'])} | {ok} | {k['status_4xx_other']} | {k['status_429']} "
            f"| {k['status_5xx']} | {transport} |"
        )
    print()
    j = summary["jobs"]
    lost = len(j["lost_not_found"]) + len(j["lost_not_terminal"])
    print(
        "| jobs accepted | finished in window | jobs finished/s | succeeded | failed | canceled | lost: not found "
        "| lost: not finished | queue wait p50 / p99 s | end-to-end p50 / p99 s | drain s |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    fs = j["final_statuses"]
    print(
        f"| {j['accepted']} | {j['finished_in_window']} | {j['finished_per_s']:.2f} | {fs.get('succeeded', 0)} "
        f"| {fs.get('failed', 0)} | {fs.get('canceled', 0)} | {len(j['lost_not_found'])} "
        f"| {len(j['lost_not_terminal'])} | {fmt(j['queue_wait_p50_s'], 3)} / {fmt(j['queue_wait_p99_s'], 3)} "
        f"| {fmt(j['end_to_end_p50_s'], 3)} / {fmt(j['end_to_end_p99_s'], 3)} | {j['drain_s']:.1f} |"
    )
    print()
    print(
        "| process (with children) | start MiB | after warm-up MiB | end of load MiB | after drain MiB | peak MiB "
        "| growth end - warm-up MiB | children seen |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, m in summary["memory_kib"].items():
        start, warm, end, drained = (m.get(phase, 0) / mib for phase in ("start", "warm", "end", "drained"))
        print(
            f"| {name} | {start:.1f} | {warm:.1f} | {end:.1f} | {drained:.1f} | {m['peak'] / mib:.1f} "
            f"| {end - warm:+.1f} | {m['children_seen']} |"
        )
    print()
    details = []
    for kind in KINDS:
        k = summary["kinds"][kind]
        extra = {**k["slugs_429"], **k["error_slugs"], **k["transport_errors"]}
        details.append(f"{kind} {k['statuses']}" + (f" {extra}" if extra else ""))
    print(f"- statuses by kind: {'; '.join(details)}")
    skipped = summary["kinds"]["all"]["skipped"]
    print(
        f"- submits: {j['generated']} generated, {j['submit_unanswered']} without an answer; cancels asked for "
        f"{j['cancel_requested']} jobs; attempts per job {j['attempts']}"
        + (f"; failed jobs by error: {j['failed_error_types']}" if j["failed_error_types"] else "")
    )
    print(
        f"- load generator: lag behind schedule p99 {summary['generator_lag_p99_ms']:.1f} ms, max "
        f"{summary['generator_lag_max_ms']:.1f} ms; at most {summary['max_inflight']} requests in flight; "
        f"{skipped} arrivals skipped (over --max-inflight)"
    )
    logs = ", ".join(
        f"{name}: {v['tracebacks']} tracebacks, {v['error_lines']} ERROR, {v['warning_lines']} WARNING lines"
        for name, v in summary["logs"].items()
    )
    print(f"- logs: {logs}")
    if lost:
        print(f"- lost jobs: {(j['lost_not_found'] + j['lost_not_terminal'])[:10]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load (default 600)")
    parser.add_argument("--quick", action="store_true", help="60 s of load")
    parser.add_argument("--rate", type=float, default=20.0, help="offered requests/s, all kinds together")
    parser.add_argument("--mix", default="0.1,0.65,0.22,0.03", help="weights of submit,get,list,cancel")
    parser.add_argument("--generated", type=float, default=0.3, help="fraction of submits on generated instances")
    parser.add_argument("--workers", type=int, default=2, help="Celery workers, each --concurrency 1")
    parser.add_argument("--redis", help="use this Redis database instead of starting one (must be empty)")
    parser.add_argument("--flush", action="store_true", help="with --redis: flush the database before and after")
    parser.add_argument("--warmup", type=float, help="seconds of load before the warm-up memory sample (10%%)")
    parser.add_argument("--drain", type=float, default=120.0, help="seconds to wait for jobs to finish after")
    parser.add_argument("--max-inflight", type=int, default=200, help="cap on requests in flight")
    parser.add_argument("--timeout", type=float, default=30.0, help="per-request timeout, s")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="write the raw numbers here")
    parser.add_argument("--logs", type=Path, help="keep the processes' logs in this folder")
    args = parser.parse_args()
    if args.quick:
        args.duration = 60.0
    if args.warmup is None:
        args.warmup = max(5.0, 0.1 * args.duration)
    if len(args.mix.split(",")) != len(KINDS):
        parser.error("--mix takes four weights: submit,get,list,cancel")
    command = "python " + " ".join(sys.argv)

    def terminate(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, terminate)

    workdir = Path(tempfile.mkdtemp(prefix="designsvc-load-"))
    run = Run(args, workdir)
    failed = True
    try:
        base, key = run.setup()
        outcome = asyncio.run(run.load(base, key))
        summary = summarize(run, outcome)
        failed = False
    finally:
        try:
            run.stop_all()
            if failed:
                for proc in run.procs:
                    print(f"--- {proc.name} (last lines)\n{proc.tail()}", file=sys.stderr)
            if args.redis and args.flush:
                import redis

                with contextlib.closing(redis.Redis.from_url(args.redis)) as db:
                    db.flushdb()
        finally:
            if args.logs:
                args.logs.mkdir(parents=True, exist_ok=True)
                for log in workdir.glob("*.log"):
                    shutil.copy(log, args.logs / log.name)
            shutil.rmtree(workdir, ignore_errors=True)

    report(run, summary, command)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        raw = {
            "command": command,
            "machine": {
                "arch": platform.machine(),
                "cores": os.cpu_count(),
                "python": platform.python_version(),
                "redis": run.redis_version,
            },
            "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            **summary,
            "memory_phases_kib": run.rss,
            "memory_samples_kib": [
                {"t_s": s["t_s"], **{n: v["total_kib"] for n, v in s.items() if n != "t_s"}} for s in run.samples
            ],
        }
        args.json.write_text(json.dumps(raw, indent=1, default=str))
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:
        print("interrupted: every process started here has been stopped", file=sys.stderr)
        raise SystemExit(130) from None
