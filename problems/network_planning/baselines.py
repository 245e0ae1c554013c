"""Named heuristics for ``network-planning@1``, each ``(instance, seed) -> design``.

- ``greedy-shortfall``: start from every link at its lower bound
  ``max(existing_units, min_units)``; repeatedly run the verifier
  (:mod:`problems.network_planning.verify`) and, in the first scenario with the most
  unrouted traffic, solve the verifier's LP with *extra* capacity allowed on every link up
  in that scenario (priced at ``cost_per_unit / capacity_unit_gbps`` per Gbps, bounded by
  the link's remaining units; unrouted traffic costs far more). Every link that needs extra
  capacity gets ``ceil(extra / unit)`` more units, added one at a time while spectrum and
  leases allow. Stop when every scenario routes, or when no unit can be added (the design is
  then infeasible and :func:`~problems.network_planning.evaluate.evaluate` says so).
  Deterministic; the seed is unused.
- ``ilp-heur``: NeuroPlan's ILP-heur (H. Zhu et al., "Network Planning with Deep
  Reinforcement Learning", SIGCOMM 2021): solve the ILP
  (:func:`~problems.network_planning.model.build_model`) restricted to a growing subset of
  scenarios with the registered ``highs`` solver, starting from the no-failure scenario
  alone; check the plan with the independent verifier on *every* scenario and add the one
  scenario with the most unrouted traffic (the first on ties) to the subset; repeat until
  the plan routes everywhere or every scenario is in the subset. A restricted ILP is a
  relaxation, so a plan that routes everywhere is feasible (not necessarily optimal). The
  whole loop stops at ``ILP_HEUR_BUDGET_S`` wall-clock seconds (each solve gets the time
  left) and returns the last plan, which the evaluator reports infeasible if it is. The
  seed is the solver's seed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping

import numpy as np

from designsvc.core.types import JsonDict, SolverConfig
from problems.network_planning.model import build_model, extract_design, unit_bounds
from problems.network_planning.schema import NetworkPlanningInstance
from problems.network_planning.verify import plan_violations, route, verify

__all__ = ["BASELINES", "ILP_HEUR_BUDGET_S", "NetworkHeuristic", "greedy_shortfall", "ilp_heur"]

NetworkHeuristic = Callable[[NetworkPlanningInstance, int], JsonDict]

_MAX_ROUNDS = 1000

ILP_HEUR_BUDGET_S = 30.0
"""Wall-clock seconds for the whole ``ilp-heur`` loop (every solve and verification)."""


def greedy_shortfall(instance: NetworkPlanningInstance, seed: int = 0) -> JsonDict:
    """See the module docstring; deterministic, ``seed`` unused."""
    links = instance.ip_links
    units = [lo for lo, _ in unit_bounds(instance)]
    unit = float(instance.capacity_unit_gbps)
    cost = np.array([x.cost_per_unit for x in links], dtype=np.float64) / unit
    penalty = 1000.0 * (float(cost.max(initial=0.0)) * len(links) + 1.0)
    for _ in range(_MAX_ROUNDS):
        result = verify(instance, units)
        if result.routed:
            break
        worst = max(result.routings, key=lambda r: r.total_unrouted)
        room = np.array([(x.max_units - n) * unit for x, n in zip(links, units, strict=True)], dtype=np.float64)
        aug = route(instance, units, worst.scenario, extra_cost=cost, extra_ub=room, unrouted_penalty=penalty)
        wanted = {i: math.ceil(aug.extra[i] / unit - 1e-9) for i in np.flatnonzero(aug.extra > 1e-9).tolist()}
        added = False
        for i in sorted(wanted, key=lambda i: (-aug.extra[i], i)):
            for _ in range(wanted[i]):
                if units[i] >= links[i].max_units:
                    break
                units[i] += 1
                if plan_violations(instance, units):
                    units[i] -= 1
                    break
                added = True
        if not added:
            break
    return {"units": {link.name: n for link, n in zip(links, units, strict=True)}}


def ilp_heur(instance: NetworkPlanningInstance, seed: int = 0) -> JsonDict:
    """NeuroPlan's ILP-heur (SIGCOMM 2021), see the module docstring: the ILP on a growing
    subset of scenarios, within ``ILP_HEUR_BUDGET_S`` seconds in all; ``seed`` goes to HiGHS."""
    from designsvc.core.plugins import SOLVERS

    solver = SOLVERS.load("highs")()
    deadline = time.perf_counter() + ILP_HEUR_BUDGET_S
    subset = [0]
    units = [lo for lo, _ in unit_bounds(instance)]
    while True:
        left = deadline - time.perf_counter()
        if left <= 0:
            break
        model = build_model(instance, scenarios=subset)
        result = solver.solve(model, SolverConfig(time_limit_s=left, rel_gap=1e-4, seed=seed))
        if not result.has_solution:
            break
        plan = extract_design(instance, model)["units"]
        units = [int(plan[link.name]) for link in instance.ip_links]
        check = verify(instance, units)
        if check.routed:
            break
        worst = max(
            (s for s, r in enumerate(check.routings) if r.unrouted and s not in subset),
            key=lambda s: check.routings[s].total_unrouted,
            default=None,
        )
        if worst is None:
            break
        subset.append(worst)
    return {"units": {link.name: n for link, n in zip(instance.ip_links, units, strict=True)}}


BASELINES: Mapping[str, NetworkHeuristic] = {"greedy-shortfall": greedy_shortfall, "ilp-heur": ilp_heur}
"""The heuristics by name."""
