"""Network-planning benchmark: NeuroPlan-style RL + ILP against plain ILP, greedy and
ILP-heur on seeded ``network-planning@1`` instances from 8 to 60 routers.

For each instance (generated with seeds the shipped policy never saw in training) and a
wall-clock budget per method, in this process:

- ``ilp``: the full ILP on HiGHS with the budget as its time limit (its best bound is the
  lower bound column);
- ``rl+ilp``: the ``neuroplan`` proposer with the shipped checkpoint (policy episodes, then
  the ILP restricted to ``[min, ceil(alpha x policy units)]``), the same budget for
  everything (policy time included);
- ``rl+ilp ft``: the same after fine-tuning the shipped policy on the instance itself
  (``--finetune-iterations`` PPO iterations; the fine-tuning time is reported apart and not
  counted in the budget), on instances up to ``--finetune-max-nodes`` routers;
- ``greedy``: the greedy-shortfall heuristic (no budget; its time is reported);
- ``ilp-heur``: NeuroPlan's ILP on growing scenario subsets, with the same budget.

Costs are the evaluator's added cost (currency) of feasible plans; ``/best`` divides by the
best feasible cost any method found; ``gap`` is (cost - bound) / cost against the plain ILP's
bound. Run ``python bench/network_planning.py`` (``--quick`` for the small instances).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

from rich.progress import Progress  # noqa: E402

from designsvc.nativeio import captured_native_output  # noqa: E402
from designsvc.services.pipeline import run_any, run_job  # noqa: E402
from designsvc.services.validation import resolve_any  # noqa: E402
from problems.network_planning import baselines  # noqa: E402
from problems.network_planning.evaluate import evaluate  # noqa: E402
from problems.network_planning.generate import generate  # noqa: E402

# (nodes, extra_links, scenarios or None for every single fiber cut, seed, budget seconds)
INSTANCES: list[tuple[int, int, int | None, int, float]] = [
    (8, 3, None, 201, 30),
    (10, 3, None, 202, 30),
    (12, 4, None, 203, 30),
    (12, 4, None, 204, 30),
    (16, 5, None, 205, 60),
    (20, 6, None, 206, 60),
    (24, 8, None, 207, 90),
    (30, 10, None, 208, 120),
    (40, 12, 50, 209, 180),
    (50, 15, 50, 210, 180),
    (60, 20, 50, 211, 240),
    (60, 20, 60, 212, 240),
]


@dataclass
class Outcome:
    cost: float | None
    seconds: float
    note: str = ""


def ref(nodes: int, extra: int, scenarios: int | None, seed: int) -> str:
    text = f"generate:seed={seed},nodes={nodes},extra_links={extra}"
    return text + (f",scenarios={scenarios}" if scenarios is not None else "")


def solve(instance_ref: str, budget: float, proposer: dict[str, Any] | None = None) -> tuple[Outcome, dict[str, Any]]:
    spec: dict[str, Any] = {
        "problem": "network-planning@1",
        "instance_ref": instance_ref,
        "solver": {"name": "highs"},
        "limits": {"time_limit_s": budget, "rel_gap": 1e-4, "threads": 1, "seed": 0},
        "render": False,
    }
    if proposer is not None:
        spec["proposer"] = proposer
    t = time.perf_counter()
    with captured_native_output():
        result = run_job(spec).result
    seconds = time.perf_counter() - t
    evaluation = result.get("evaluation") or {}
    cost = evaluation.get("objective") if evaluation.get("feasible") else None
    note = result["outcome"]["termination"] if result.get("outcome") else result["status"]
    return Outcome(cost, seconds, note), result


def heuristic(name: str, instance: Any, budget: float) -> Outcome:
    baselines.ILP_HEUR_BUDGET_S = budget  # the same budget as the other methods
    t = time.perf_counter()
    with captured_native_output():
        design = baselines.BASELINES[name](instance, 0)
    seconds = time.perf_counter() - t
    evaluation = evaluate(instance, design)
    return Outcome(evaluation.objective if evaluation.feasible else None, seconds)


def finetune(instance_ref: str, iterations: int, folder: Path) -> tuple[Path, float]:
    spec = {
        "train": {"name": "neuroplan", "options": {"iterations": iterations, "init_checkpoint": "shipped"}},
        "problem": "network-planning@1",
        "instances": [instance_ref],
        "limits": {"time_limit_s": 3600, "seed": 0},
    }
    t = time.perf_counter()
    output = run_any(resolve_any(spec))
    seconds = time.perf_counter() - t
    if output.result["status"] != "succeeded":
        raise RuntimeError(f"fine-tuning failed: {output.result.get('error')}")
    path = folder / f"ft-{abs(hash(instance_ref))}.pt"
    path.write_bytes(output.artifacts[0].data)
    return path, seconds


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the four smallest instances only")
    parser.add_argument("--select", default="", help="comma-separated positions in the instance list (default: all)")
    parser.add_argument("--budget-scale", type=float, default=1.0, help="multiply every budget")
    parser.add_argument("--finetune-iterations", type=int, default=10)
    parser.add_argument("--finetune-max-nodes", type=int, default=16)
    parser.add_argument("--alpha", type=float, default=1.5)
    parser.add_argument("--samples", type=int, default=2)
    args = parser.parse_args()
    instances = INSTANCES[:4] if args.quick else INSTANCES
    if args.select:
        instances = [INSTANCES[int(i)] for i in args.select.split(",")]
    methods = ["ilp", "rl+ilp", "rl+ilp ft", "greedy", "ilp-heur"]
    rows: list[tuple[str, Any, float, dict[str, Outcome], float | None, dict[str, Any]]] = []
    started = time.perf_counter()
    folder = Path(tempfile.mkdtemp(prefix="np-bench-"))
    with Progress(transient=True) as bar:
        task = bar.add_task("instances", total=len(instances))
        for nodes, extra, scenarios, seed, base_budget in instances:
            budget = base_budget * args.budget_scale
            instance_ref = ref(nodes, extra, scenarios, seed)
            instance = generate(seed, nodes=nodes, extra_links=extra, scenarios=scenarios)
            label = f"n{nodes}-s{seed}"
            outcomes: dict[str, Outcome] = {}
            bar.update(task, description=f"{label}: ilp")
            outcomes["ilp"], ilp_result = solve(instance_ref, budget)
            bound = ilp_result.get("bound")
            options = {"alpha": args.alpha, "samples": args.samples}
            bar.update(task, description=f"{label}: rl+ilp")
            outcomes["rl+ilp"], rl_result = solve(instance_ref, budget, {"name": "neuroplan", "options": options})
            extras: dict[str, Any] = {"policy": (rl_result.get("proposer") or {}).get("neuroplan") or {}}
            if nodes <= args.finetune_max_nodes:
                bar.update(task, description=f"{label}: fine-tune")
                path, tune_s = finetune(instance_ref, args.finetune_iterations, folder)
                bar.update(task, description=f"{label}: rl+ilp ft")
                outcome, _ = solve(
                    instance_ref, budget, {"name": "neuroplan", "options": {**options, "checkpoint": str(path)}}
                )
                outcome.note = f"fine-tune {tune_s:.0f} s"
                outcomes["rl+ilp ft"] = outcome
            for name in ("greedy-shortfall", "ilp-heur"):
                bar.update(task, description=f"{label}: {name}")
                outcomes[name.split("-")[0] if name == "greedy-shortfall" else name] = heuristic(name, instance, budget)
            rows.append((label, instance, budget, outcomes, bound, extras))
            bar.advance(task)

    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"# network-planning@1: RL+ILP vs ILP, greedy, ILP-heur ({machine})")
    print(f"# alpha {args.alpha:g}, {args.samples} sampled episodes + 1 greedy; HiGHS, 1 thread; ")
    print(f"# total {time.perf_counter() - started:.0f} s; command: python {' '.join(sys.argv)}")
    print()
    head = " | ".join(f"{m} cost | {m} s" for m in methods)
    print(
        f"| instance | routers | links | scenarios | budget s | {head} | bound "
        "| rl+ilp / best | rl+ilp / greedy | rl+ilp / ilp | policy cost | policy s |"
    )
    print("|---|---:|---:|---:|---:|" + "---:|---:|" * len(methods) + "---:|---:|---:|---:|---:|---:|")
    for label, instance, budget, outcomes, bound, extras in rows:
        costs = [o.cost for o in outcomes.values() if o.cost is not None]
        best = min(costs) if costs else None
        cells = []
        for m in methods:
            o = outcomes.get(m)
            cells += ["n/a", "n/a"] if o is None else [fmt(o.cost), fmt(o.seconds)]
        rl = outcomes["rl+ilp"].cost

        def ratio(other: float | None, rl: float | None = rl) -> str:
            return "-" if rl is None or not other else f"{rl / other:.3f}"

        policy = extras["policy"]
        print(
            f"| {label} | {len(instance.routers)} | {len(instance.ip_links)} | {len(instance.failure_scenarios)} "
            f"| {budget:.0f} | {' | '.join(cells)} | {fmt(bound)} | {ratio(best)} | {ratio(outcomes['greedy'].cost)} "
            f"| {ratio(outcomes['ilp'].cost)} | {fmt(policy.get('policy_cost'))} | {fmt(policy.get('inference_s'))} |"
        )
    print()
    print(
        "notes: "
        + "; ".join(f"{label} ilp {o['ilp'].note}, rl+ilp {o['rl+ilp'].note}" for label, _, _, o, _, _ in rows)
    )
    fts = [(label, o["rl+ilp ft"].note) for label, _, _, o, _, _ in rows if "rl+ilp ft" in o]
    if fts:
        print("fine-tuning: " + "; ".join(f"{label} {note}" for label, note in fts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
