"""Plans from the linear-surrogate interface alone: per-device true costs, a greedy plan
(the prior's ``greedy`` base) and a local search on the true objective (the teacher of
the ``surco-prior`` trainer's imitation).

Everything here reads only what :class:`~designsvc.core.surrogate.SurrogateInterface`
gives: the true objective of a 0/1 plan is ``relaxed_objective(x)`` (exact at plans), and
one device's cost is that of the plan restricted to its column (the other devices empty;
when the relaxed objective offers ``device_costs(x)``, all of them in one call). Memory:
the row feature ``memory_share`` (table bytes over the mean device memory) and the column
feature ``memory_share`` (device memory over the mean); a plan fits when each device's sum
stays below its share less :data:`MEMORY_MARGIN` (the model rounds sizes up to whole KB).
Without those features memory is not checked (the final solve still is).

- :func:`greedy_plan`: rows by decreasing mean ``initial_costs`` (the standalone costs),
  each on the fitting device whose cost after adding it is smallest (ties: lower index):
  the rule of the ``greedy-cost`` baseline, computed from the interface.
- :func:`local_search`: best-improvement moves (one row to another device) and swaps (two
  rows of different devices), each touching the most expensive device, accepted when the
  devices' costs sorted in decreasing order fall lexicographically (so ties at the
  maximum are worked down too), until none improves or ``max_seconds``.

Measured (2026-11-28, this machine) on the 9 measurement instances of
``checkpoints/README.md``: :func:`greedy_plan` 0.9992-1.0005 of ``greedy-cost`` (0.5-2.5
ms); the local search from it 0.9974 (mean; 0.9945, 0.9935, 0.9886 on ``dlrm-30x4``,
``dlrm-60x8``, seed 104, unchanged on the other 6; at most 0.12 s). So no plan reachable
by moves and swaps is much below ``greedy-cost`` there: the issue's "10 % below the best
greedy baseline" looks out of reach on these instances. On the 48 training instances of
the shipped checkpoint the targets beat the greedy plan on 28 (mean ratio to the balanced
objective 1.628 vs 1.638): with 2 devices and memory-bandwidth saturation ``greedy-cost``
can be far from the best (SurCo-zero finds 0.72x of it on ``generate`` seed 7004, 40 x 2).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["MEMORY_MARGIN", "PlanCosts", "greedy_plan", "local_search", "plan_matrix"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MEMORY_MARGIN = 1e-4
"""Memory headroom in units of the mean device memory (0.5 MB of 5 GB devices)."""


class PlanCosts:
    """Per-device true costs and memory of plans given as ``assign`` (row -> column)."""

    def __init__(self, interface: Any) -> None:
        self.interface = interface
        self.rows, self.columns = interface.shape
        self._fast = getattr(interface.relaxed_objective, "device_costs", None)
        names = tuple(interface.feature_names)
        column_names = tuple(interface.column_feature_names)
        if "memory_share" in names and "memory_share" in column_names:
            self.memory = np.asarray(interface.features[:, names.index("memory_share")], dtype=np.float64)
            capacity = interface.column_features[:, column_names.index("memory_share")]
            self.capacity = np.asarray(capacity, dtype=np.float64) - MEMORY_MARGIN
        else:
            self.memory = np.zeros(self.rows)
            self.capacity = np.full(self.columns, np.inf)

    def costs(self, x: FloatArray) -> FloatArray:
        """Each column's cost under the (fractional or 0/1) plan ``x``, ``(C,)``."""
        if self._fast is not None:
            costs, _ = self._fast(x)
            return np.asarray(costs, dtype=np.float64)
        out = np.zeros(self.columns)
        for k in range(self.columns):
            if x[:, k].any():
                masked = np.zeros_like(x)
                masked[:, k] = x[:, k]
                out[k] = float(self.interface.relaxed_objective(masked)[0])
        return out

    def used(self, assign: IntArray) -> FloatArray:
        return np.asarray(np.bincount(assign, weights=self.memory, minlength=self.columns), dtype=np.float64)

    def feasible(self, assign: IntArray) -> bool:
        return bool(np.all(self.used(assign) <= self.capacity))


def plan_matrix(assign: IntArray, columns: int) -> FloatArray:
    """The 0/1 ``(R, C)`` plan of ``assign``."""
    x = np.zeros((len(assign), columns))
    x[np.arange(len(assign)), assign] = 1.0
    return x


def greedy_plan(interface: Any, plan_costs: PlanCosts | None = None) -> IntArray:
    """The greedy plan of the module docstring, as ``assign`` (row -> column)."""
    pc = plan_costs or PlanCosts(interface)
    rows, columns = interface.shape
    x = np.zeros((rows, columns))
    used = np.zeros(columns)
    assign = np.zeros(rows, dtype=np.int64)
    order = np.argsort(-np.asarray(interface.initial_costs, dtype=np.float64).mean(axis=1), kind="stable")
    for t in order.tolist():
        fits = used + pc.memory[t] <= pc.capacity
        trial = x.copy()
        trial[t, :] = 1.0  # every column with the row added: column k's cost is that of S_k + t
        after = pc.costs(trial)
        if fits.any():
            d = int(np.flatnonzero(fits)[np.argmin(after[fits])])
        else:
            d = int(np.argmin(used + pc.memory[t] - pc.capacity))
        x[t, d] = 1.0
        used[d] += pc.memory[t]
        assign[t] = d
    return assign


def _key(costs: FloatArray) -> tuple[float, ...]:
    return tuple(np.round(np.sort(costs)[::-1], 9).tolist())


def local_search(
    interface: Any,
    assign: IntArray,
    *,
    max_seconds: float = 2.0,
    plan_costs: PlanCosts | None = None,
) -> IntArray:
    """The local search of the module docstring from ``assign`` (a memory-feasible plan
    stays feasible; an infeasible one is only improved where moves keep memory within
    capacity)."""
    pc = plan_costs or PlanCosts(interface)
    columns = pc.columns
    assign = np.asarray(assign, dtype=np.int64).copy()
    x = plan_matrix(assign, columns)
    costs = pc.costs(x)
    used = pc.used(assign)
    stop = time.perf_counter() + max_seconds
    while time.perf_counter() < stop:
        m = int(np.argmax(costs))
        on_m = np.flatnonzero(assign == m)
        best_key = _key(costs)
        best_change: tuple[tuple[int, int], ...] | None = None
        for t in on_m.tolist():
            # moves of t off m: column m without t, every other column with t (one call)
            trial = x.copy()
            trial[t, :] = 1.0
            trial[t, m] = 0.0
            after = pc.costs(trial)
            for d in range(columns):
                if d == m or used[d] + pc.memory[t] > pc.capacity[d]:
                    continue
                new = costs.copy()
                new[m], new[d] = after[m], after[d]
                key = _key(new)
                if key < best_key:
                    best_key, best_change = key, ((t, d),)
            # swaps of t with a row s of another column
            for s in np.flatnonzero(assign != m).tolist():
                d = int(assign[s])
                if used[d] - pc.memory[s] + pc.memory[t] > pc.capacity[d]:
                    continue
                if used[m] - pc.memory[t] + pc.memory[s] > pc.capacity[m]:
                    continue
                trial = x.copy()
                trial[t, m], trial[s, m], trial[s, d], trial[t, d] = 0.0, 1.0, 0.0, 1.0
                cost_m, cost_d = _pair_costs(pc, trial, m, d)
                new = costs.copy()
                new[m], new[d] = cost_m, cost_d
                key = _key(new)
                if key < best_key:
                    best_key, best_change = key, ((t, d), (s, m))
        if best_change is None:
            break
        for t, d in best_change:
            used[assign[t]] -= pc.memory[t]
            x[t, assign[t]] = 0.0
            assign[t] = d
            used[d] += pc.memory[t]
            x[t, d] = 1.0
        costs = pc.costs(x)
    return assign


def _pair_costs(pc: PlanCosts, x: FloatArray, a: int, b: int) -> tuple[float, float]:
    if pc._fast is not None:
        costs = pc.costs(x)
        return float(costs[a]), float(costs[b])
    out = []
    for k in (a, b):
        masked = np.zeros_like(x)
        masked[:, k] = x[:, k]
        out.append(float(pc.interface.relaxed_objective(masked)[0]))
    return out[0], out[1]
