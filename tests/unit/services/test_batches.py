"""Batches: grid expansion, pointers for bad cells, jobs stored and aggregated, CSV."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from designsvc.core.errors import SpecError
from designsvc.core.jobs import Executor, JobStatus
from designsvc.services.batches import batch_summary, batch_table_csv, expand_batch, submit_batch
from designsvc.services.jobs import execute_job
from designsvc.store.sqlite import SqliteJobStore

REQUEST: dict[str, Any] = {
    "spec": {"problem": "assignment@1", "limits": {"time_limit_s": 20, "seed": 5}, "render": False},
    "scenarios": [{"name": "small", "instance_ref": "builtin:gap-10x3"}],
    "generate": {"seeds": [1, 2], "size": {"items": 12, "bins": 3}},
    "grid": {"solver.name": ["highs", "cpsat"]},
    "repetitions": 2,
    "tags": ["study"],
}


class RecordingExecutor(Executor):
    name = "recording"

    def __init__(self) -> None:
        self.submitted: list[str] = []

    def submit(self, job_id: str, *, queue: str = "cpu") -> None:
        self.submitted.append(job_id)


def test_expansion_is_scenarios_times_grid_times_repetitions() -> None:
    _, cells = expand_batch(REQUEST)
    assert len(cells) == 3 * 2 * 2
    cell, spec = cells[0]
    assert cell == {"scenario": "small", "options": {"solver.name": "highs"}, "repetition": 0}
    assert spec["solver"]["name"] == "highs"
    assert spec["instance_ref"] == "builtin:gap-10x3"
    assert "scenario:small" in spec["tags"]
    assert "study" in spec["tags"]
    seeds = [
        s["limits"]["seed"] for c, s in cells if c["scenario"] == "small" and c["options"]["solver.name"] == "highs"
    ]
    assert seeds == [5, 6]
    refs = {s["instance_ref"] for c, s in cells if c["scenario"] == "seed=2"}
    assert refs == {"generate:seed=2,bins=3,items=12"}


@pytest.mark.parametrize(
    ("patch", "pointer"),
    [
        ({"grid": {"solver.name": ["highs", "gurobi"]}}, "/grid/solver.name"),
        ({"grid": {"limits.time_limit_s": [10, -1]}}, "/grid/limits.time_limit_s"),
        ({"scenarios": [{"name": "x", "instance_ref": "builtin:nope"}]}, "/scenarios/0"),
        ({"scenarios": [{"name": "x"}]}, "/scenarios/0"),
        ({"repetitions": 0}, "/repetitions"),
        ({"spec": {"problem": "nope@1"}}, "/spec/problem"),
    ],
)
def test_bad_cells_point_into_the_request(patch: dict[str, Any], pointer: str) -> None:
    with pytest.raises(SpecError) as info:
        expand_batch({**REQUEST, **patch})
    assert pointer in [e.pointer for e in info.value.errors]


def test_too_large_a_batch_is_refused() -> None:
    request = {**REQUEST, "generate": {"seeds": list(range(3000))}, "repetitions": 4}
    with pytest.raises(SpecError, match="at most"):
        expand_batch(request)


def test_batch_runs_and_aggregates(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "jobs.sqlite3")
    executor = RecordingExecutor()
    request = {**REQUEST, "scenarios": [], "repetitions": 1}
    batch = submit_batch(store, executor, request)
    assert len(batch.job_ids) == 4
    assert executor.submitted == list(batch.job_ids)
    summary = batch_summary(store, batch)
    assert summary["counters"]["queued"] == 4
    assert not summary["done"]
    for job_id in batch.job_ids:
        assert execute_job(store, job_id).status is JobStatus.SUCCEEDED
    summary = batch_summary(store, batch)
    assert summary["done"]
    assert summary["counters"]["succeeded"] == 4
    rows = {(r["scenario"], r["options"]["solver.name"]): r for r in summary["table"]}
    assert len(rows) == 4
    for scenario in ("seed=1", "seed=2"):
        # Both solvers reach the same optimum of the same scenario.
        assert rows[(scenario, "highs")]["objective_best"] == pytest.approx(rows[(scenario, "cpsat")]["objective_best"])
    table = list(csv.DictReader(io.StringIO(batch_table_csv(summary))))
    assert len(table) == 4
    assert set(table[0]) >= {"scenario", "solver.name", "objective_mean", "gap_mean", "time_s_mean"}
