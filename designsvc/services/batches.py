"""Batches: a scenario grid becomes jobs, and the batch's table aggregates their results.

A batch request names a base spec, the scenarios (inline instances, instance references, or
generator seeds), an option grid (spec fields by dotted path, each with a list of values;
the cartesian product), and a number of repetitions (repetition ``r`` runs with
``limits.seed`` = base seed + ``r``). Every cell is validated before any job is stored.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import statistics
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from designsvc.core.errors import FieldError, SpecError, escape_pointer_token
from designsvc.core.ids import new_id
from designsvc.core.jobs import BatchRecord, Executor, JobRecord, JobStatus, JobStore
from designsvc.core.problem import spec_error_from_validation
from designsvc.core.spec import Tag
from designsvc.core.types import JsonDict
from designsvc.services.jobs import hand_over, queue_for
from designsvc.services.policy import OPEN_POLICY, SubmitPolicy
from designsvc.services.validation import resolve_spec

__all__ = [
    "MAX_BATCH_JOBS",
    "BatchRequest",
    "batch_summary",
    "batch_table_csv",
    "expand_batch",
    "submit_batch",
]

MAX_BATCH_JOBS = 10_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Scenario(_Strict):
    """One scenario: a name and exactly one of an inline instance or an instance reference."""

    name: str = Field(min_length=1, max_length=200)
    instance: dict[str, Any] | None = None
    instance_ref: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Scenario:
        if (self.instance is None) == (self.instance_ref is None):
            raise ValueError("give exactly one of 'instance' and 'instance_ref'")
        return self


class Generator(_Strict):
    """Scenarios from the problem's seeded generator: one per seed, with the size keywords
    (``{"items": 40, "bins": 5}`` for assignment@1)."""

    seeds: list[int] = Field(min_length=1, max_length=MAX_BATCH_JOBS)
    size: dict[str, int] = Field(default_factory=dict)


class BatchRequest(_Strict):
    """``spec``: the base spec (its instance, if any, is replaced per scenario);
    ``scenarios`` and/or ``generate``: the scenarios; ``grid``: dotted spec paths to lists
    of values (``{"solver.name": ["highs", "cpsat"], "limits.time_limit_s": [5, 30]}``);
    ``repetitions``: runs per cell."""

    spec: dict[str, Any]
    scenarios: list[Scenario] = Field(default_factory=list, max_length=MAX_BATCH_JOBS)
    generate: Generator | None = None
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    repetitions: int = Field(default=1, ge=1, le=1000)
    tags: list[Tag] = Field(default_factory=list, max_length=64)

    @model_validator(mode="after")
    def _some_scenario(self) -> BatchRequest:
        if not self.scenarios and self.generate is None:
            raise ValueError("give 'scenarios' or 'generate' (or both)")
        for path, values in self.grid.items():
            if not values:
                raise ValueError(f"grid entry {path!r} has no values")
        return self


def _set_path(spec: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node = spec
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def expand_batch(data: Any) -> tuple[BatchRequest, list[tuple[JsonDict, JsonDict]]]:
    """Validate a batch request and expand it into ``(cell, spec)`` pairs, each spec fully
    validated. ``cell`` = ``{"scenario", "options", "repetition"}``. Raises SpecError with
    pointers into the batch request (a bad cell points at the grid entry or scenario)."""
    try:
        request = BatchRequest.model_validate(data)
    except ValidationError as exc:
        raise spec_error_from_validation(exc) from exc
    scenarios: list[tuple[str, JsonDict, str]] = []  # name, instance source, pointer
    for index, scenario in enumerate(request.scenarios):
        source: JsonDict = (
            {"instance": scenario.instance}
            if scenario.instance is not None
            else {"instance_ref": scenario.instance_ref}
        )
        scenarios.append((scenario.name, source, f"/scenarios/{index}"))
    if request.generate is not None:
        size = ",".join(f"{k}={v}" for k, v in sorted(request.generate.size.items()))
        for index, seed in enumerate(request.generate.seeds):
            ref = f"generate:seed={seed}" + (f",{size}" if size else "")
            scenarios.append((f"seed={seed}", {"instance_ref": ref}, f"/generate/seeds/{index}"))
    paths = sorted(request.grid)
    combos = list(itertools.product(*(request.grid[p] for p in paths)))
    total = len(scenarios) * len(combos) * request.repetitions
    if total > MAX_BATCH_JOBS:
        raise SpecError.at("", f"the batch expands to {total} jobs; at most {MAX_BATCH_JOBS} are allowed")
    base = {k: v for k, v in request.spec.items() if k not in ("instance", "instance_ref")}
    base_seed = base.get("limits", {}).get("seed", 0) if isinstance(base.get("limits"), dict) else 0
    cells: list[tuple[JsonDict, JsonDict]] = []
    checked: set[tuple[int, int]] = set()
    for s_index, (name, source, pointer) in enumerate(scenarios):
        for c_index, combo in enumerate(combos):
            options = dict(zip(paths, combo, strict=True))
            for repetition in range(request.repetitions):
                spec: JsonDict = json.loads(json.dumps(base))
                spec.update(source)
                for path, value in options.items():
                    _set_path(spec, path, value)
                if request.repetitions > 1 and isinstance(base_seed, int):
                    _set_path(spec, "limits.seed", base_seed + repetition)
                tags = spec.get("tags", [])
                if isinstance(tags, list) and all(isinstance(tag, str) for tag in tags):  # else the cell's check says
                    spec["tags"] = sorted({*tags, *request.tags, f"scenario:{name}"})
                # Repetitions differ only in the seed: check the first and the last (largest seed).
                if (s_index, c_index) not in checked or repetition == request.repetitions - 1:
                    _check_cell(spec, pointer, options)
                    checked.add((s_index, c_index))
                cells.append(({"scenario": name, "options": options, "repetition": repetition}, spec))
    return request, cells


def _check_cell(spec: JsonDict, scenario_pointer: str, options: JsonDict) -> None:
    try:
        resolve_spec(spec)
    except SpecError as exc:
        errors = []
        for error in exc.errors:
            if error.pointer.startswith(("/instance", "/problem")):
                where = scenario_pointer if error.pointer.startswith("/instance") else "/spec/problem"
            else:
                tokens = [t.replace("~1", "/").replace("~0", "~") for t in error.pointer.split("/")[1:]]
                dotted = ".".join(tokens)
                grid_path = next((p for p in options if dotted == p or dotted.startswith(p + ".")), None)
                where = f"/grid/{escape_pointer_token(grid_path)}" if grid_path is not None else "/spec" + error.pointer
            errors.append(FieldError(where, f"{error.message} (in {error.pointer or '/'} of cell {options})"))
        raise SpecError(errors) from exc


def submit_batch(store: JobStore, executor: Executor, data: Any, *, policy: SubmitPolicy = OPEN_POLICY) -> BatchRecord:
    """Validate and expand a batch request, store its jobs and the batch (owned by
    ``policy.tenant``), and enqueue the jobs. Nothing is stored when any cell is invalid or
    breaks the policy's limits, or when the batch would pass the tenant's cap of unfinished
    jobs (QuotaExceededError)."""
    request, cells = expand_batch(data)
    resolved = []
    for index, (_cell, spec) in enumerate(cells):
        job = resolve_spec(spec)
        try:
            policy.check_job(job)
        except SpecError as exc:
            raise SpecError(
                [FieldError(f"/spec{e.pointer}", f"{e.message} (in cell {index})") for e in exc.errors]
            ) from exc
        resolved.append(job)
    policy.check_capacity(store, len(resolved))
    batch_id = new_id()
    job_ids: list[str] = []
    queued: list[tuple[str, str]] = []
    for job in resolved:
        record, _ = store.create_job(
            spec=job.spec.model_dump(mode="json", exclude_none=True),
            problem=job.problem_id,
            tags=job.spec.tags,
            batch_id=batch_id,
            tenant=policy.tenant,
        )
        job_ids.append(record.id)
        queued.append((record.id, queue_for(job)))
    batch = store.create_batch(
        batch_id=batch_id,
        request=request.model_dump(mode="json", exclude_none=True),
        job_ids=job_ids,
        cells=[cell for cell, _ in cells],
        tags=request.tags,
        tenant=policy.tenant,
    )
    for job_id, queue in queued:
        hand_over(store, executor, job_id, queue)
    return batch


def _mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def batch_summary(store: JobStore, batch: BatchRecord) -> JsonDict:
    """Counters by status and the aggregate table: one row per scenario and option
    combination, over its repetitions (objective of the evaluation, gap, solve time)."""
    by_id: dict[str, JobRecord] = {}
    cursor: str | None = None
    while True:  # pages through the batch index: a few round trips, not one per job
        page = store.list_jobs(batch_id=batch.id, cursor=cursor, limit=1000)
        by_id.update((r.id, r) for r in page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    records = [by_id[job_id] if job_id in by_id else store.get_job(job_id) for job_id in batch.job_ids]
    counters = {status.value: 0 for status in JobStatus}
    for record in records:
        counters[record.status.value] += 1
    groups: dict[str, dict[str, Any]] = {}
    for cell, record in zip(batch.cells, records, strict=True):
        key = json.dumps([cell["scenario"], cell["options"]], sort_keys=True)
        group = groups.setdefault(key, {"scenario": cell["scenario"], "options": cell["options"], "records": []})
        group["records"].append(record)
    table = []
    for group in groups.values():
        done = [r for r in group["records"] if r.result is not None]
        objectives = [
            r.result["evaluation"]["objective"] for r in done if r.result and r.result.get("evaluation") is not None
        ]
        gaps = [r.result["gap"] for r in done if r.result and r.result.get("gap") is not None]
        times = [r.result["timings"]["total_s"] for r in done if r.result and r.result.get("timings")]
        feasible = [bool(r.result["evaluation"]["feasible"]) for r in done if r.result and r.result.get("evaluation")]
        table.append(
            {
                "scenario": group["scenario"],
                "options": group["options"],
                "runs": len(group["records"]),
                "finished": sum(1 for r in group["records"] if r.status.terminal),
                "succeeded": sum(1 for r in group["records"] if r.status is JobStatus.SUCCEEDED),
                "feasible": sum(feasible),
                "objective_mean": _mean(objectives),
                "objective_best": min(objectives) if objectives else None,
                "gap_mean": _mean(gaps),
                "time_s_mean": _mean(times),
            }
        )
    finished = sum(1 for r in records if r.status.terminal)
    return {
        "id": batch.id,
        "created_at": batch.created_at,
        "tags": list(batch.tags),
        "jobs": len(records),
        "finished": finished,
        "done": finished == len(records),
        "counters": counters,
        "table": table,
        "job_ids": list(batch.job_ids),
    }


def batch_table_csv(summary: JsonDict) -> str:
    """The aggregate table as CSV (one column per grid option, then the aggregates)."""
    option_keys = sorted({k for row in summary["table"] for k in row["options"]})
    fields = ["scenario", *option_keys, "runs", "finished", "succeeded", "feasible"]
    fields += ["objective_mean", "objective_best", "gap_mean", "time_s_mean"]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in summary["table"]:
        flat = {k: v for k, v in row.items() if k != "options"}
        flat.update({k: row["options"].get(k) for k in option_keys})
        writer.writerow(
            {k: ("" if v is None or (isinstance(v, float) and math.isnan(v)) else v) for k, v in flat.items()}
        )
    return out.getvalue()
