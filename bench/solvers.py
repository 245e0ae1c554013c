"""Solver benchmark on assignment@1: solve time of each solver by instance size, and the
pipeline's own overhead (build + extract + evaluate) as a fraction of solve time.

Every number comes from runs made by this script, in this process: for each size, seeded
instances (one per repetition) go through ``run_job`` with each solver; the table reports
medians over the repetitions. Run: ``python bench/solvers.py`` (or ``make bench``);
``--quick`` runs the small sizes only.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass

# Run as a script, this file's folder comes first on sys.path, where this very file would
# shadow the top-level ``solvers`` package: take the folder off before importing designsvc.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

from rich.progress import Progress  # noqa: E402

from designsvc.nativeio import captured_native_output  # noqa: E402
from designsvc.services.pipeline import run_job  # noqa: E402

SIZES = [(10, 3), (50, 5), (100, 10), (200, 10), (500, 20), (1000, 25), (2000, 50)]


@dataclass
class Run:
    solve_s: float
    translate_s: float
    overhead_s: float
    termination: str
    gap: float | None
    objective: float | None
    seed: int = 0


def one_run(solver: str, items: int, bins: int, seed: int, time_limit_s: float) -> Run:
    spec = {
        "problem": "assignment@1",
        "instance_ref": f"generate:seed={seed},items={items},bins={bins}",
        "solver": {"name": solver},
        "limits": {"time_limit_s": time_limit_s, "rel_gap": 1e-4, "threads": 1, "seed": seed},
        "render": False,
    }
    with captured_native_output():
        result = run_job(spec).result
    timings = result["timings"]
    return Run(
        solve_s=timings["solve_s"],
        translate_s=(result["solver"] or {}).get("translate_s", 0.0),
        overhead_s=timings["build_s"] + timings["evaluate_s"],
        termination=result["outcome"]["termination"],
        gap=result["gap"],
        objective=(result["evaluation"] or {}).get("objective") if result["evaluation"] else None,
        seed=seed,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--solvers", default="highs,cpsat,scip")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per solve")
    parser.add_argument("--quick", action="store_true", help="sizes up to 200 x 10 only")
    args = parser.parse_args()
    solvers = args.solvers.split(",")
    sizes = SIZES[:4] if args.quick else SIZES
    rows: list[tuple[str, str, Run, list[Run]]] = []
    total = len(sizes) * len(solvers) * args.repeats
    started = time.perf_counter()
    with Progress(transient=True) as bar:
        task = bar.add_task("solving", total=total)
        for items, bins in sizes:
            for solver in solvers:
                runs = []
                for seed in range(args.repeats):
                    bar.update(task, description=f"{solver} {items}x{bins} seed {seed}")
                    runs.append(one_run(solver, items, bins, seed, args.time_limit))
                    bar.advance(task)
                median = Run(
                    solve_s=statistics.median(r.solve_s for r in runs),
                    translate_s=statistics.median(r.translate_s for r in runs),
                    overhead_s=statistics.median(r.overhead_s for r in runs),
                    termination="",
                    gap=None,
                    objective=None,
                )
                rows.append((f"{items} x {bins}", solver, median, runs))

    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"# assignment@1 solver benchmark ({machine})")
    print(f"# {args.repeats} seeded instances per size, time limit {args.time_limit:g} s, rel_gap 1e-4, 1 thread;")
    print(f"# total {time.perf_counter() - started:.0f} s; command: python {' '.join(sys.argv)}")
    print()
    # Quality: each run's objective against the best any solver found on the same instance.
    best: dict[tuple[str, int], float] = {}
    for size, _solver, _median, runs in rows:
        for r in runs:
            if r.objective is not None:
                key = (size, r.seed)
                best[key] = min(best.get(key, r.objective), r.objective)
    print(
        "| items x bins | solver | solve s (median) | translate s | overhead s | overhead / solve "
        "| terminations | with design | objective / best (median) | max gap |"
    )
    print("|---|---|---:|---:|---:|---:|---|---:|---:|---:|")
    for size, solver, median, runs in rows:
        terminations = ", ".join(sorted({r.termination for r in runs}))
        gaps = [r.gap for r in runs if r.gap is not None]
        ratio = median.overhead_s / median.solve_s if median.solve_s > 0 else float("nan")
        quality = [r.objective / best[(size, r.seed)] for r in runs if r.objective is not None and best[(size, r.seed)]]
        print(
            f"| {size} | {solver} | {median.solve_s:.3f} | {median.translate_s:.3f} | {median.overhead_s:.3f} "
            f"| {100 * ratio:.1f}% | {terminations} | {sum(r.objective is not None for r in runs)}/{len(runs)} "
            f"| {statistics.median(quality) if quality else float('nan'):.4f} "
            f"| {max(gaps) if gaps else float('nan'):.2e} |"
        )
    print()
    print("overhead = build the Pyomo model + extract the design + evaluate it (median per run);")
    print("translate = compile the model to the backend's form, inside solve time.")
    slow = [(size, solver, m) for size, solver, m, _ in rows if m.solve_s >= 1.0]
    if slow:
        worst = max(m.overhead_s / m.solve_s for _, _, m in slow)
        print(f"target: overhead below 10% of solve time where solve >= 1 s; worst such row: {100 * worst:.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
