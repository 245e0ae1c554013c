"""Photonic inverse-design benchmark: SurCo proposers against density topology optimization
on seeded ``photonics@1`` instances at the lightweight settings (40 nm pixels, two
wavelengths).

Instances: ``PhotonicsProblem.generate(seed, device=d, design_px=--design-px)`` for each
device type (waveguide bend, mode converter, beam splitter, WDM; the standard spec, a 2 or
3 pixel brush), ``--instances`` per device, seeds from 30000 (no shipped checkpoint was
trained on them).

Methods, each run in this process on the same instance:

- ``surco-zero``: the proposer with its defaults and ``max_simulations`` = ``--max-simulations``
  (it stops at the first brush-feasible design that meets the spec), HiGHS finalizing (the
  exact brush model, ``--job-limit`` seconds per job);
- ``surco-hybrid``: the same from the shipped pixel prior's costs;
- ``surco-prior``: the shipped pixel prior, one shot (one simulation), HiGHS finalizing;
- ``topology-optimization``: the problem's density baseline (``--baseline-iterations``
  iterations, each one simulation; no brush rule), thresholded.

Per device the table gives, per method: the success rate (the returned design meets every
spec window and the brush rule, by the evaluator), the brush-feasible rate, the rate of
designs meeting the spec whatever the brush rule, the median spec loss, and over the
successful runs the median simulations and wall seconds to the first success (for the
proposers the job's whole time; for SurCo-zero the simulations its loop reports, plus the
job's final evaluation; for the baseline its iterations and run time, as it has no early
stop).

Run ``python bench/photonics.py`` (``--instances 2 --max-simulations 60`` for a quick look).
With ``--runs FILE.jsonl`` every run is appended to FILE as it finishes and runs already
in FILE are not repeated, so an interrupted benchmark resumes, and two processes on
different ``--devices`` (each with its own file) can share the work; ``--report
FILE.jsonl ...`` prints the table of the runs in the files without running anything.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from designsvc.services.pipeline import run_job  # noqa: E402
from problems.photonics.generate import DEVICES  # noqa: E402
from problems.photonics.problem import PhotonicsProblem  # noqa: E402

PROPOSERS = ("surco-zero", "surco-hybrid", "surco-prior")
BASELINE = "topology-optimization"
METHODS = (*PROPOSERS, BASELINE)
SEED0 = 30_000


@dataclass
class Run:
    success: bool
    feasible: bool
    loss: float | None
    simulations: int | None
    seconds: float
    spec_met: bool = False


def _proposer_run(instance: Any, name: str, args: argparse.Namespace) -> Run:
    options: dict[str, Any] = {}
    if name != "surco-prior":
        # The budget is simulations: the loop's own time budget is lifted so that a loaded
        # machine does not cut a run short of them.
        options["max_simulations"] = args.max_simulations
        options["time_budget_s"] = 0.8 * args.job_limit
    spec = {
        "problem": "photonics@1",
        "instance": instance.model_dump(mode="json", exclude_none=True),
        "solver": {"name": "highs", "options": {}},
        "limits": {"time_limit_s": args.job_limit, "threads": 1, "seed": 0},
        "proposer": {"name": name, "options": options},
    }
    t = time.perf_counter()
    result = run_job(spec).result
    seconds = time.perf_counter() - t
    evaluation = result.get("evaluation") or {}
    feasible = bool(evaluation.get("feasible"))
    met = (evaluation.get("breakdown") or {}).get("spec_met") == 1.0
    surco = (result.get("proposer") or {}).get("surco") or {}
    loss = evaluation.get("objective")  # the spec loss (the result's "objective" is the linear model's)
    if name == "surco-prior":
        # One simulation: the proposer's; the job's evaluation of the same design is cached.
        return Run(met and feasible, feasible, loss, 1, seconds, met)
    sims = surco.get("first_success_simulations")
    if met and sims is None:
        sims = surco.get("simulations")
    # + 1: the job evaluates its final design once more (the loop's simulations are adjoint runs).
    return Run(met and feasible, feasible, loss, None if sims is None else int(sims) + 1, seconds, met)


def _baseline_run(problem: PhotonicsProblem) -> Run:
    t = time.perf_counter()
    design = problem.baselines()[BASELINE](0)
    evaluation = problem.evaluate(design)
    seconds = time.perf_counter() - t
    met = evaluation.breakdown.get("spec_met") == 1.0
    sims = problem.instance.baseline_iterations + 1
    return Run(met and evaluation.feasible, evaluation.feasible, evaluation.objective, sims, seconds, met)


def _device_index(value: str) -> int:
    return [d.value for d in DEVICES].index(value)


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.3g}" if values else "-"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=10, help="instances per device type")
    parser.add_argument(
        "--devices", default="0,1,2,3", help="device indices (0 bend, 1 mode converter, 2 splitter, 3 WDM)"
    )
    parser.add_argument("--design-px", type=int, default=30, help="design region side, pixels (+-25 %%)")
    parser.add_argument("--max-simulations", type=int, default=200, help="simulation budget of the SurCo loops")
    parser.add_argument("--baseline-iterations", type=int, default=50, help="topology-optimization iterations")
    parser.add_argument("--job-limit", type=float, default=3600.0, help="time limit of each proposer's job, s")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated methods")
    parser.add_argument("--runs", default=None, help="JSON-lines file: append each run, skip runs already in it")
    parser.add_argument("--report", nargs="*", default=None, help="print the table of these JSON-lines files and stop")
    args = parser.parse_args()
    methods = [m for m in args.methods.split(",") if m]
    devices = [DEVICES[int(d)] for d in args.devices.split(",")]
    runs: dict[tuple[str, str], list[Run]] = {}
    done: set[tuple[str, int, str]] = set()
    for path in [*(args.report or []), *([args.runs] if args.runs else [])]:
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    continue
                record = json.loads(line)
                key = (record.pop("device"), int(record.pop("seed")), record.pop("method"))
                if key in done:
                    continue
                done.add(key)
                if args.report is None and key[1] - SEED0 - 100 * _device_index(key[0]) >= args.instances:
                    continue
                runs.setdefault((key[0], key[2]), []).append(Run(**record))
    started = time.perf_counter()
    # Instance index outside, device inside: an interrupted run covers the devices evenly.
    for i in range(args.instances if args.report is None else 0):
        for d in devices:
            seed = SEED0 + 100 * DEVICES.index(d) + i
            if all((d.value, seed, m) in done for m in methods):
                continue
            instance = PhotonicsProblem.generate(
                seed=seed, device=DEVICES.index(d), design_px=args.design_px
            ).model_copy(update={"baseline_iterations": args.baseline_iterations})
            problem = PhotonicsProblem(instance)
            rows, cols = problem.setup.design_shape
            for method in methods:
                if (d.value, seed, method) in done:
                    continue
                run = _baseline_run(problem) if method == BASELINE else _proposer_run(instance, method, args)
                runs.setdefault((d.value, method), []).append(run)
                if args.runs:
                    with open(args.runs, "a", encoding="utf-8") as handle:
                        handle.write(
                            json.dumps({"device": d.value, "seed": seed, "method": method, **asdict(run)}) + "\n"
                        )
                print(
                    f"  {d.value} seed {seed} ({rows}x{cols}, brush {problem.setup.brush_px}) {method}: "
                    f"success {run.success} feasible {run.feasible} loss {run.loss:.4g} "
                    f"sims {run.simulations} {run.seconds:.1f} s",
                    file=sys.stderr,
                    flush=True,
                )
    if args.report is not None:
        devices = [d for d in DEVICES if any(k[0] == d.value for k in runs)]
        counts = sorted({len(v) for v in runs.values()})
        args.instances = counts[-1] if counts else 0
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"# photonics@1 (lightweight): SurCo vs topology optimization ({machine})")
    print(
        f"# {args.instances} instance(s) per device, design ~{args.design_px} px; SurCo budget "
        f"{args.max_simulations} simulations; baseline {args.baseline_iterations} iterations; HiGHS, 1 thread"
    )
    summed = sum(r.seconds for got in runs.values() for r in got)
    print(
        f"# this process {time.perf_counter() - started:.0f} s; all runs in the table {summed:.0f} s; "
        f"command: python {' '.join(sys.argv)}"
    )
    print()
    header = (
        f"{'device':16} {'method':22} {'success':>8} {'feasible':>8} {'spec met':>8} {'loss':>9} "
        f"{'sims*':>6} {'time* s':>8}"
    )
    print(header)
    print("-" * len(header))
    for d in devices:
        for method in methods:
            got = runs.get((d.value, method), [])
            if not got:
                continue
            ok = [r for r in got if r.success]
            losses = [r.loss for r in got if r.loss is not None]
            print(
                f"{d.value:16} {method:22} {len(ok)}/{len(got):<6} {sum(r.feasible for r in got)}/{len(got):<6} "
                f"{sum(r.spec_met for r in got)}/{len(got):<6} "
                f"{_median(losses):>9} {_median([float(r.simulations) for r in ok if r.simulations]):>6} "
                f"{_median([r.seconds for r in ok]):>8}"
            )
    print()
    print("success: spec met and brush-feasible; feasible: brush rule; spec met: whatever the brush rule;")
    print(
        "loss: median spec loss; * medians over the successful runs: simulations and wall seconds to the first success"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
