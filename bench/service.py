"""Service benchmark: 1,000 small assignment@1 jobs over REST from 50 concurrent clients,
in embedded mode (SQLite store + local process pool of 2) and in Celery mode (Redis store and
broker + one Celery worker with 2 processes), each started here as real subprocesses.

Reports per mode: throughput (jobs/s from the first POST to the last job seen finished), API
latency p50/p99 of POST /v1/jobs (each client's first POST, which opens its connection at the
same instant as the 49 others, is reported apart as "first POST max") and GET /v1/jobs/{id},
end-to-end latency (POST to the first GET that sees the job finished), and whether every job
finished with a result. Then
the ratio of Celery-mode to embedded-mode throughput. Redis database 12 is used and flushed.

Run: ``python bench/service.py [--jobs 1000] [--clients 50]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

BIN = Path(sys.executable).with_name("designsvc")
REDIS_URL = "redis://127.0.0.1:6379/12"
SPEC = {
    "problem": "assignment@1",
    "instance_ref": "builtin:gap-10x3",
    "limits": {"time_limit_s": 30},
    "render": False,
    "tags": ["bench"],
}


@dataclass
class Stats:
    post_s: list[float] = field(default_factory=list)
    first_post_s: list[float] = field(default_factory=list)
    get_s: list[float] = field(default_factory=list)
    end_to_end_s: list[float] = field(default_factory=list)
    finished: int = 0
    with_result: int = 0
    errors: int = 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


async def client(base: str, jobs: int, stats: Stats) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        for n in range(jobs):
            t0 = time.perf_counter()
            response = await http.post("/v1/jobs", json=SPEC)
            # Each client's first POST opens its connection, all 50 at the same instant.
            (stats.first_post_s if n == 0 else stats.post_s).append(time.perf_counter() - t0)
            if response.status_code != 202:
                stats.errors += 1
                continue
            job_id = response.json()["id"]
            while True:
                t = time.perf_counter()
                job = await http.get(f"/v1/jobs/{job_id}")
                stats.get_s.append(time.perf_counter() - t)
                if job.status_code != 200:
                    stats.errors += 1
                    break
                if job.json()["status"] in ("succeeded", "failed", "canceled"):
                    stats.end_to_end_s.append(time.perf_counter() - t0)
                    stats.finished += 1
                    result = await http.get(f"/v1/jobs/{job_id}/result")
                    if result.status_code == 200 and result.json().get("evaluation"):
                        stats.with_result += 1
                    break
                await asyncio.sleep(0.2)


async def drive(base: str, total: int, clients: int) -> tuple[Stats, float]:
    stats = Stats()
    per_client = [total // clients + (1 if i < total % clients else 0) for i in range(clients)]
    started = time.perf_counter()
    await asyncio.gather(*(client(base, n, stats) for n in per_client))
    return stats, time.perf_counter() - started


def wait_ready(base: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{base} did not become ready")


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for proc in processes:
        proc.terminate()
    for proc in processes:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def flush_redis() -> None:
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()


def run_mode(mode: str, total: int, clients: int, data_dir: Path) -> tuple[Stats, float]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DESIGNSVC_DATA_DIR": str(data_dir / mode)}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    processes: list[subprocess.Popen[bytes]] = []
    try:
        if mode == "embedded":
            cmd = [str(BIN), "serve", "--port", str(port), "--workers", "2"]
            processes.append(subprocess.Popen(cmd, env=env, **quiet))  # type: ignore[call-overload]
        else:
            flush_redis()
            serve = [str(BIN), "serve", "--port", str(port), "--redis", REDIS_URL]
            worker = [str(BIN), "worker", "--redis", REDIS_URL, "--queues", "cpu", "--concurrency", "2"]
            processes.append(subprocess.Popen(serve, env=env, **quiet))  # type: ignore[call-overload]
            processes.append(subprocess.Popen(worker, env=env, **quiet))  # type: ignore[call-overload]
        wait_ready(base)
        # Warm up: the first job in each worker process pays for imports.
        asyncio.run(drive(base, 4, 4))
        return asyncio.run(drive(base, total, clients))
    finally:
        stop(processes)
        if mode == "celery":
            flush_redis()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--modes", default="embedded,celery")
    args = parser.parse_args()
    results: dict[str, tuple[Stats, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in args.modes.split(","):
            print(f"running {mode} ...", file=sys.stderr)
            results[mode] = run_mode(mode, args.jobs, args.clients, Path(tmp))

    print(f"# service benchmark ({platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()})")
    print(f"# {args.jobs} jobs of builtin:gap-10x3 from {args.clients} concurrent clients")
    print(f"# command: python {' '.join(sys.argv)}")
    print()
    print(
        "| mode | jobs/s | POST p50 ms | POST p99 ms | first POST max ms | GET p50 ms | GET p99 ms "
        "| end-to-end p50 s | end-to-end p99 s | finished | with result | errors |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for mode, (stats, wall_s) in results.items():
        print(
            f"| {mode} | {stats.finished / wall_s:.1f} | {1000 * percentile(stats.post_s, 50):.1f} "
            f"| {1000 * percentile(stats.post_s, 99):.1f} | {1000 * max(stats.first_post_s, default=float('nan')):.1f} "
            f"| {1000 * percentile(stats.get_s, 50):.1f} "
            f"| {1000 * percentile(stats.get_s, 99):.1f} | {percentile(stats.end_to_end_s, 50):.2f} "
            f"| {percentile(stats.end_to_end_s, 99):.2f} | {stats.finished}/{args.jobs} "
            f"| {stats.with_result} | {stats.errors} |"
        )
    if "embedded" in results and "celery" in results:
        embedded = results["embedded"][0].finished / results["embedded"][1]
        celery = results["celery"][0].finished / results["celery"][1]
        print()
        print(f"celery / embedded throughput: {celery / embedded:.2f} (target >= 0.80)")
    lost = sum(args.jobs - s.finished for s, _ in results.values())
    print(f"lost jobs: {lost} (target 0)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
