"""Embedding-table sharding benchmark: SurCo proposers against the greedy baselines and the
plain MILP on seeded ``table-sharding@1`` instances.

Settings (instances from ``generate(seed, tables, devices)``, 5 GB per device, seeds from
20000 on, which no shipped checkpoint was trained on):

- ``surco``: SurCo's setting, 10, 20, 30, 40, 50 and 60 tables on 4 devices,
  ``--instances`` per size (50 by default);
- ``large``: 200, 400 and 800 tables on 8, 16 and 32 devices, ``--large-instances`` each.

Methods, each run in this process on the same instance:

- the baselines ``random``, ``round-robin``, ``greedy-size``, ``greedy-dim``,
  ``greedy-lookups`` and ``greedy-cost`` (the problem's own heuristics);
- ``milp``: the plain MILP minimizing the additive makespan (no proposer; HiGHS, one thread,
  ``--milp-limit`` seconds);
- ``surco-zero``, ``surco-prior``, ``surco-hybrid``: the proposers with their defaults (the
  shipped prior checkpoint), HiGHS finalizing every plan (``--job-limit`` seconds per job).

Per size the table gives, for every method, the median over instances of its plan's true
cost (largest device cost, ms) over the best greedy baseline's on that instance (lower is
better), and the median wall seconds per plan (for the proposers: the whole job, inner
solves and the final solve included). ``best greedy / LB`` divides the best greedy plan by
the lower bound of :mod:`problems.table_sharding.bounds`: no plan can beat the bound, so
``1 / (best greedy / LB)`` is the least ratio any method could reach (analytic model only).
``--calibration cpu-small`` costs every instance with the shipped CPU calibration instead
(the neural model of :mod:`problems.table_sharding.neural`; no bound then).

``--measure N`` adds measured latency (:mod:`surrogates.shardcost.measure`): for the first
``N`` instances of each SurCo-setting size up to 30 tables, every distinct plan the methods
returned is executed for real on this machine (each device's lookups, forward, backward and
sparse update, one device at a time, in this process) and the Spearman rank correlation
between the cost model's objective and the measured latency (the slowest device) over the
plans is reported, for the analytic model (its parameters describe a GPU, not this CPU) and
for the shipped CPU calibration ``cpu-small`` (the neural model fitted to this CPU's
timings, :mod:`problems.table_sharding.neural`).

Run ``python bench/table_sharding.py`` (``--quick`` for 3 instances of 10-30 tables).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any

sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

from rich.progress import Progress  # noqa: E402

from designsvc.nativeio import captured_native_output  # noqa: E402
from designsvc.services.pipeline import run_job  # noqa: E402
from problems.table_sharding.bounds import lower_bound_ms  # noqa: E402
from problems.table_sharding.cost import AnalyticCostModel  # noqa: E402
from problems.table_sharding.generate import generate  # noqa: E402
from problems.table_sharding.problem import TableShardingProblem  # noqa: E402
from problems.table_sharding.schema import TableShardingInstance  # noqa: E402

BASELINES = ("random", "round-robin", "greedy-size", "greedy-dim", "greedy-lookups", "greedy-cost")
GREEDY = tuple(b for b in BASELINES if b.startswith("greedy"))
PROPOSERS = ("surco-zero", "surco-prior", "surco-hybrid")
METHODS = (*BASELINES, "milp", *PROPOSERS)
SURCO_SIZES = ((10, 4), (20, 4), (30, 4), (40, 4), (50, 4), (60, 4))
LARGE_SIZES = ((200, 8), (400, 16), (800, 32))
SEED0 = 20_000


@dataclass
class Plan:
    objective: float | None
    seconds: float
    design: dict[str, Any] | None = None


@dataclass
class Row:
    tables: int
    devices: int
    seed: int
    lower_bound: float | None
    plans: dict[str, Plan] = field(default_factory=dict)

    @property
    def best_greedy(self) -> float:
        return min(p.objective for name, p in self.plans.items() if name in GREEDY and p.objective is not None)


def run_method(instance: TableShardingInstance, proposer: str | None, limit: float) -> Plan:
    spec: dict[str, Any] = {
        "problem": "table-sharding@1",
        "instance": instance.model_dump(mode="json", exclude_defaults=True),
        "solver": {"name": "highs"},
        "limits": {"time_limit_s": limit, "rel_gap": 1e-4, "threads": 1, "seed": 0},
        "render": False,
    }
    if proposer is not None:
        spec["proposer"] = {"name": proposer}
    t = time.perf_counter()
    with captured_native_output():
        result = run_job(spec).result
    seconds = time.perf_counter() - t
    evaluation = result.get("evaluation") or {}
    feasible = evaluation.get("feasible")
    return Plan(evaluation.get("objective") if feasible else None, seconds, result.get("design") if feasible else None)


def make_instance(seed: int, tables: int, devices: int, calibration: str | None) -> TableShardingInstance:
    instance = generate(seed, tables, devices)
    return instance if calibration is None else instance.model_copy(update={"calibration": calibration})


def run_instance(tables: int, devices: int, seed: int, args: argparse.Namespace) -> Row:
    instance = make_instance(seed, tables, devices, args.calibration)
    problem = TableShardingProblem(instance)
    bound = lower_bound_ms(instance, problem.cost_model) if isinstance(problem.cost_model, AnalyticCostModel) else None
    row = Row(tables, devices, seed, bound)
    for name, heuristic in problem.baselines().items():
        t = time.perf_counter()
        design = heuristic(seed)
        seconds = time.perf_counter() - t
        evaluation = problem.evaluate(design)
        row.plans[name] = Plan(evaluation.objective if evaluation.feasible else None, seconds, design)
    row.plans["milp"] = run_method(instance, None, args.milp_limit)
    for name in PROPOSERS:
        row.plans[name] = run_method(instance, name, args.job_limit)
    return row


def median(values: list[float]) -> str:
    return "-" if not values else f"{statistics.median(values):.3f}"


def summarize(rows: list[Row]) -> list[str]:
    lines = []
    sizes = sorted({(r.tables, r.devices) for r in rows})
    head = " | ".join(METHODS)
    lines.append(f"| tables x devices | n | best greedy / LB | {head} |")
    lines.append("|---|---:|---:|" + "---:|" * len(METHODS))
    for size in sizes:
        group = [r for r in rows if (r.tables, r.devices) == size]
        cells = []
        for m in METHODS:
            ratios = [r.plans[m].objective / r.best_greedy for r in group if r.plans[m].objective is not None]
            missing = sum(1 for r in group if r.plans[m].objective is None)
            cells.append(median(ratios) + (f" ({missing} none)" if missing else ""))
        lb = median([r.best_greedy / r.lower_bound for r in group if r.lower_bound])
        lines.append(f"| {size[0]} x {size[1]} | {len(group)} | {lb} | {' | '.join(cells)} |")
    lines.append("")
    lines.append(f"median seconds per plan: | tables x devices | {head} |")
    lines.append("|---|" + "---:|" * len(METHODS))
    for size in sizes:
        group = [r for r in rows if (r.tables, r.devices) == size]
        cells = [f"{statistics.median(r.plans[m].seconds for r in group):.3g}" for m in METHODS]
        lines.append(f"| {size[0]} x {size[1]} | {' | '.join(cells)} |")
    return lines


def targets(rows: list[Row]) -> list[str]:
    """The issue's targets over the SurCo-setting rows, and how often each method beat the
    best greedy baseline (by more than 0.1 %) and by how much on average."""
    surco = [r for r in rows if (r.tables, r.devices) in SURCO_SIZES]
    if not surco:
        return []
    hybrid = [r.plans["surco-hybrid"].objective / r.best_greedy for r in surco if r.plans["surco-hybrid"].objective]
    pairs = [
        (r.plans["surco-prior"], r.plans["surco-hybrid"])
        for r in surco
        if r.plans["surco-prior"].objective and r.plans["surco-hybrid"].objective
    ]
    prior_gap = [p.objective / h.objective for p, h in pairs if p.objective and h.objective]
    speed = [h.seconds / p.seconds for p, h in pairs if p.seconds > 0]
    headroom = [r.lower_bound / r.best_greedy for r in surco if r.lower_bound]
    lines = [
        f"surco-hybrid / best greedy, median over {len(hybrid)}: {median(hybrid)} (target <= 0.900)",
        f"least possible ratio (LB / best greedy), median: {median(headroom)}",
        f"surco-prior / surco-hybrid, median: {median(prior_gap)} (target <= 1.030); "
        f"hybrid seconds / prior seconds, median: {median(speed)} (target >= 20)",
        "",
        "| method | mean / best greedy | instances better than best greedy by > 0.1 % | best ratio |",
        "|---|---:|---:|---:|",
    ]
    for m in ("milp", *PROPOSERS):
        ratios = [r.plans[m].objective / r.best_greedy for r in surco if r.plans[m].objective is not None]
        wins = sum(1 for v in ratios if v < 0.999)
        lines.append(f"| {m} | {statistics.fmean(ratios):.4f} | {wins} of {len(ratios)} | {min(ratios):.3f} |")
    return lines


def measure(rows: list[Row], count: int, batch: int) -> list[str]:
    """Spearman correlation between model cost and measured latency over each instance's
    distinct plans (see the module docstring), for the first ``count`` instances of each
    size up to 30 tables."""
    from scipy.stats import spearmanr

    from surrogates.shardcost.measure import MeasureConfig, TableSpec, measure_plan

    config = MeasureConfig(device="cpu", batch=batch, repeats=7, warmup=2, statistic="min")
    lines = [
        f"measured on this CPU (batch {batch}, scaled to the instance's; least of 7, one device at a time):",
        "",
        "| instance | plans | spearman analytic | spearman calibrated (cpu-small) | measured ms: best by model, best |",
        "|---|---:|---:|---:|---:|",
    ]
    analytic_rho: list[float] = []
    calibrated_rho: list[float] = []
    chosen = [r for r in rows if r.tables <= 30 and r.devices == 4]
    picked: list[Row] = []
    for size in sorted({r.tables for r in chosen}):
        picked += [r for r in chosen if r.tables == size][:count]
    for row in picked:
        instance = generate(row.seed, row.tables, row.devices)
        plain = TableShardingProblem(instance)
        calibrated = TableShardingProblem(instance.model_copy(update={"calibration": "cpu-small"}))
        unique: dict[str, dict[str, Any]] = {}
        for plan in row.plans.values():
            if plan.design is not None:
                unique.setdefault(str(sorted(plan.design["assign"].items())), plan.design)
        designs = list(unique.values())
        measured: list[float] = []
        for design in designs:
            groups: list[list[TableSpec]] = [[] for _ in range(row.devices)]
            for table in instance.tables:
                groups[design["assign"][table.name]].append(TableSpec.from_mapping(table))
            result = measure_plan(groups, config, batch_size=instance.batch_size, in_process=True)
            measured.append(float(result["max_ms"]))
        analytic = [plain.evaluate(d).objective for d in designs]
        model = [calibrated.evaluate(d).objective for d in designs]
        rho_a = float(spearmanr(analytic, measured).statistic) if len(designs) > 2 else float("nan")
        rho_c = float(spearmanr(model, measured).statistic) if len(designs) > 2 else float("nan")
        analytic_rho.append(rho_a)
        calibrated_rho.append(rho_c)
        by_model = measured[min(range(len(designs)), key=lambda k: model[k])]
        lines.append(
            f"| {row.tables}x{row.devices}-s{row.seed} | {len(designs)} | {rho_a:.3f} | {rho_c:.3f} "
            f"| {by_model:.1f}, {min(measured):.1f} |"
        )
    lines.append("")
    lines.append(
        f"mean Spearman over {len(picked)} instances: analytic {statistics.fmean(analytic_rho):.3f}, "
        f"calibrated {statistics.fmean(calibrated_rho):.3f} (target >= 0.8)"
    )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=50, help="instances per size, SurCo setting")
    parser.add_argument("--large-instances", type=int, default=3, help="instances per size, large setting")
    parser.add_argument("--sizes", default="", help="comma-separated TxD sizes (default: all of both settings)")
    parser.add_argument("--quick", action="store_true", help="3 instances of 10, 20 and 30 tables on 4 devices")
    parser.add_argument("--milp-limit", type=float, default=30.0, help="time limit of the plain MILP, s")
    parser.add_argument("--job-limit", type=float, default=60.0, help="time limit of each proposer's job, s")
    parser.add_argument(
        "--calibration", default=None, help="cost every instance with this calibration (e.g. cpu-small)"
    )
    parser.add_argument("--measure", type=int, default=0, help="measure the plans of this many instances")
    parser.add_argument("--measure-batch", type=int, default=2048, help="batch of the measured lookups")
    args = parser.parse_args()
    if args.quick:
        plan = [(t, d, 3) for t, d in SURCO_SIZES[:3]]
    else:
        sizes = [(t, d, args.instances) for t, d in SURCO_SIZES] + [
            (t, d, args.large_instances) for t, d in LARGE_SIZES
        ]
        if args.sizes:
            wanted = {tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")}
            sizes = [s for s in sizes if (s[0], s[1]) in wanted]
        plan = sizes
    jobs = [(t, d, SEED0 + 1000 * k + i) for k, (t, d, n) in enumerate(plan) for i in range(n)]
    rows: list[Row] = []
    started = time.perf_counter()
    with Progress(transient=True) as bar:
        task = bar.add_task("instances", total=len(jobs))
        for tables, devices, seed in jobs:
            bar.update(task, description=f"{tables}x{devices} seed {seed}")
            rows.append(run_instance(tables, devices, seed, args))
            bar.advance(task)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"# table-sharding@1: SurCo vs greedy baselines and the plain MILP ({machine})")
    model = f"the calibration {args.calibration}" if args.calibration else "the analytic model"
    print(f"# HiGHS, 1 thread; MILP limit {args.milp_limit:g} s, proposer jobs {args.job_limit:g} s; costs: {model}")
    print(f"# total {time.perf_counter() - started:.0f} s; command: python {' '.join(sys.argv)}")
    print()
    print("median true cost / best greedy baseline's (lower is better):")
    print()
    print("\n".join(summarize(rows)))
    print()
    print("\n".join(targets(rows)))
    if args.measure:
        print()
        print("\n".join(measure(rows, args.measure, args.measure_batch)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
