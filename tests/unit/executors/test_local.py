"""The local executor: jobs run in real worker processes; shutting down without waiting
leaves no worker process behind."""

from __future__ import annotations

import os
import time
from pathlib import Path

from designsvc.core.jobs import JobStatus
from designsvc.executors.local import LocalExecutor
from designsvc.services.jobs import submit_job
from designsvc.store.sqlite import SqliteJobStore

LONG = {
    "problem": "assignment@1",
    "instance_ref": "generate:seed=1,items=400,bins=20",
    "limits": {"time_limit_s": 120, "rel_gap": 0},
    "render": False,
}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose (its parent, this test process, has not reaped it).
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


def test_shutdown_without_wait_stops_a_worker_in_the_middle_of_a_solve(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "jobs.sqlite3")
    executor = LocalExecutor(store, max_workers=1)
    record, _ = submit_job(store, executor, LONG)
    deadline = time.monotonic() + 60
    while store.get_job(record.id).status is not JobStatus.RUNNING:
        assert time.monotonic() < deadline, "the job did not start"
        time.sleep(0.1)
    pids = executor.worker_pids()
    assert pids
    executor.shutdown(wait=False)
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in pids):
        assert time.monotonic() < deadline, f"worker processes {pids} outlived the executor"
        time.sleep(0.1)
    # The job is left running in the store, for recover_jobs to start again.
    assert store.get_job(record.id).status is JobStatus.RUNNING
