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
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np

from designsvc.core.types import JsonDict
from problems.network_planning.model import unit_bounds
from problems.network_planning.schema import NetworkPlanningInstance
from problems.network_planning.verify import plan_violations, route, verify

__all__ = ["BASELINES", "NetworkHeuristic", "greedy_shortfall"]

NetworkHeuristic = Callable[[NetworkPlanningInstance, int], JsonDict]

_MAX_ROUNDS = 1000


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


BASELINES: Mapping[str, NetworkHeuristic] = {"greedy-shortfall": greedy_shortfall}
"""The heuristics by name."""
