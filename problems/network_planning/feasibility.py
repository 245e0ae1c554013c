"""A fast, incremental feasibility check of ``network-planning@1`` plans, for search loops
(the RL environment, heuristics) that change one link's capacity at a time.

Each scenario (see :mod:`problems.network_planning.scenarios`) holds one *elastic* routing LP
in its own persistent HiGHS object: source-aggregated flows ``flow[o, arc] >= 0`` (Gbps of
the traffic from source router ``o`` on each direction of each link that is up), flow
balance at every router, and per arc ``sum_o flow[o, arc] - extra[link] <= units * unit``
where ``extra[link] >= 0`` is capacity the plan lacks (Gbps). The objective
``sum_link (cost_per_unit / unit + EPS) * extra[link]`` is the cheapest fractional repair:
zero exactly when the scenario's required traffic routes, and its ``extra`` per link is the
*shortfall* the environment shows the policy.

Why it is fast:

- a capacity change only moves the bounds of the link's two capacity rows, and HiGHS
  re-solves from the previous optimal basis (dual simplex hot start, no presolve);
- capacity only grows in a search, so a scenario that routes keeps routing and is never
  solved again, and a scenario where the changed link is down is unaffected;
- scenarios are solved lazily, when a result is asked for;
- a scenario that does not route, whose cheapest repair did not use the grown link, is
  only marked *stale*: its last repair still repairs it (at the same or a higher cost than
  the new optimum), so :meth:`FeasibilityOracle.shortfall` keeps reporting it (an upper
  bound) until a link its repair uses changes, and :meth:`FeasibilityOracle.routes`
  re-solves stale scenarios only once every up-to-date scenario routes. Answers about
  feasibility are therefore exact; shortfall figures of stale scenarios may be high.

This is a check for search, not the verifier of record: plans are still verified by
:func:`problems.network_planning.verify.verify` (one independent LP per scenario, per
demand), and a tolerance of :data:`FEASIBILITY_TOLERANCE` Gbps applies here.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from problems.network_planning.scenarios import Scenario, scenarios
from problems.network_planning.schema import NetworkPlanningInstance

__all__ = ["EPS_COST", "FEASIBILITY_TOLERANCE", "FeasibilityOracle", "OracleStats"]

FloatArray = npt.NDArray[np.float64]

FEASIBILITY_TOLERANCE = 1e-6
"""A scenario routes when its total shortfall is at most this many Gbps x max(1, total
required traffic / 1000)."""

EPS_COST = 1e-3
"""Added to every link's cost per Gbps (relative to the mean), so that free links still
report the shortfall they absorb."""


@dataclass
class OracleStats:
    """Counters: LP solves, seconds spent in them, capacity updates."""

    solves: int = 0
    solve_s: float = 0.0
    updates: int = 0


@dataclass
class _ScenarioLP:
    scenario: Scenario
    highs: Any
    rows: dict[int, tuple[int, int]]
    """link position -> its two capacity rows in this LP."""
    extra_cols: npt.NDArray[np.int64]
    links: npt.NDArray[np.int64]
    tolerance: float
    dirty: bool = True
    stale: bool = False
    routes: bool = False
    shortfall: FloatArray = field(default_factory=lambda: np.zeros(0))
    """Gbps per link position of the instance (zero for links down here)."""
    repair_cost: float = 0.0


class FeasibilityOracle:
    """The elastic LPs of every scenario of ``instance`` for total ``units`` per link
    (see the module docstring). ``set_units`` changes one link; ``routes``, ``shortfall``
    and ``repair_costs`` solve what is out of date and answer."""

    def __init__(self, instance: NetworkPlanningInstance, units: Sequence[int]) -> None:
        import highspy

        self.instance = instance
        self.unit = float(instance.capacity_unit_gbps)
        self.units = np.array(units, dtype=np.int64)
        self.stats = OracleStats()
        num_links = len(instance.ip_links)
        cost = np.array([x.cost_per_unit for x in instance.ip_links], dtype=np.float64) / self.unit
        self.cost_gbps = cost
        self.weights = cost + EPS_COST * max(float(cost.mean()), 1e-9)
        self._num_links = num_links
        self._lps: list[_ScenarioLP] = []
        _quiet_first_highs(highspy)
        for scenario in scenarios(instance):
            if scenario.demands:
                self._lps.append(self._build(highspy, scenario))

    # -- queries -------------------------------------------------------------------------

    @property
    def num_scenarios(self) -> int:
        """Scenarios with required traffic (the others always route)."""
        return len(self._lps)

    def routes(self) -> bool:
        """Whether every scenario routes its required traffic with the current units
        (exact: stale scenarios are re-solved before a yes)."""
        self._refresh()
        if any(not lp.routes and not lp.stale for lp in self._lps):
            return False
        self._refresh(stale=True)
        return all(lp.routes for lp in self._lps)

    def routing_mask(self) -> npt.NDArray[np.bool_]:
        """Per scenario with required traffic: whether it routes (stale scenarios count as
        not routing until re-solved)."""
        self._refresh()
        return np.array([lp.routes for lp in self._lps], dtype=bool)

    def shortfall(self) -> FloatArray:
        """``(scenarios, links)`` Gbps of capacity each scenario's cheapest repair adds to
        each link (0 where it routes or where the link is down)."""
        self._refresh()
        if not self._lps:
            return np.zeros((0, self._num_links))
        return np.stack([lp.shortfall for lp in self._lps])

    def repair_costs(self) -> FloatArray:
        """Per scenario: the cost (currency) of its cheapest fractional repair; the largest
        is a lower bound on the cost still to add (up to integrality and shared links)."""
        self._refresh()
        return np.array([lp.repair_cost for lp in self._lps], dtype=np.float64)

    # -- updates -------------------------------------------------------------------------

    def set_units(self, link: int, units: int) -> None:
        """Set link ``link``'s total units. Growth marks for re-solving the scenarios that do
        not route yet and whose repair used the link (the others that do not route become
        stale); shrinking marks every scenario with the link up."""
        old = int(self.units[link])
        if units == old:
            return
        self.units[link] = units
        self.stats.updates += 1
        cap = units * self.unit
        for lp in self._lps:
            rows = lp.rows.get(link)
            if rows is None:
                continue
            lp.highs.changeRowsBounds(2, np.array(rows, dtype=np.int32), np.full(2, -np.inf), np.full(2, cap))
            if lp.dirty:
                continue
            if units < old or (not lp.routes and lp.shortfall[link] > 0):
                lp.dirty = True
            elif not lp.routes:
                lp.stale = True

    # -- internals -----------------------------------------------------------------------

    def _refresh(self, *, stale: bool = False) -> None:
        for lp in self._lps:
            if lp.dirty or (stale and lp.stale):
                self._solve(lp)

    def _solve(self, lp: _ScenarioLP) -> None:
        import highspy

        t = time.perf_counter()
        lp.highs.run()
        self.stats.solves += 1
        self.stats.solve_s += time.perf_counter() - t
        if lp.highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            status = lp.highs.modelStatusToString(lp.highs.getModelStatus())
            raise RuntimeError(f"the elastic LP of scenario {lp.scenario.name!r} ended {status}")
        values = np.asarray(lp.highs.getSolution().col_value, dtype=np.float64)
        extra = np.maximum(values[lp.extra_cols], 0.0)
        shortfall = np.zeros(self._num_links)
        shortfall[lp.links] = extra
        lp.shortfall = shortfall
        lp.routes = float(extra.sum()) <= lp.tolerance
        if lp.routes:
            lp.shortfall[:] = 0.0
        lp.repair_cost = 0.0 if lp.routes else float(self.cost_gbps[lp.links] @ extra)
        lp.dirty = False
        lp.stale = False

    def _build(self, highspy: Any, scenario: Scenario) -> _ScenarioLP:
        instance = self.instance
        router = {r.name: v for v, r in enumerate(instance.routers)}
        num_nodes = len(instance.routers)
        links = np.array(scenario.links, dtype=np.int64)
        num_arcs = 2 * len(links)
        tail = np.empty(num_arcs, dtype=np.int64)
        head = np.empty(num_arcs, dtype=np.int64)
        for j, i in enumerate(links.tolist()):
            a, b = router[instance.ip_links[i].a], router[instance.ip_links[i].b]
            tail[2 * j], head[2 * j] = a, b
            tail[2 * j + 1], head[2 * j + 1] = b, a
        supply: dict[int, FloatArray] = {}
        required = 0.0
        for k in scenario.demands:
            demand = instance.demands[k]
            o, d = router[demand.src], router[demand.dst]
            row = supply.setdefault(o, np.zeros(num_nodes))
            row[o] += demand.gbps
            row[d] -= demand.gbps
            required += demand.gbps
        sources = sorted(supply)
        num_src = len(sources)
        num_flow = num_src * num_arcs
        num_cols = num_flow + len(links)
        arcs = np.arange(num_arcs, dtype=np.int64)

        # Balance rows (o, v): out - in = supply; capacity rows (arc): flows - extra <= cap.
        r_parts: list[npt.NDArray[np.int64]] = []
        c_parts: list[npt.NDArray[np.int64]] = []
        v_parts: list[FloatArray] = []
        for s in range(num_src):
            cols = s * num_arcs + arcs
            r_parts += [s * num_nodes + tail, s * num_nodes + head]
            c_parts += [cols, cols]
            v_parts += [np.ones(num_arcs), -np.ones(num_arcs)]
        cap_row0 = num_src * num_nodes
        r_parts += [np.tile(cap_row0 + arcs, num_src), cap_row0 + arcs]
        c_parts += [np.arange(num_flow, dtype=np.int64), num_flow + arcs // 2]
        v_parts += [np.ones(num_flow), -np.ones(num_arcs)]
        num_rows = cap_row0 + num_arcs
        matrix = sp.csc_matrix(
            (np.concatenate(v_parts), (np.concatenate(r_parts), np.concatenate(c_parts))), shape=(num_rows, num_cols)
        )
        balance = np.concatenate([supply[o] for o in sources]) if sources else np.zeros(0)
        caps = np.repeat(self.units[links].astype(np.float64) * self.unit, 2)
        row_lower = np.concatenate([balance, np.full(num_arcs, -np.inf)])
        row_upper = np.concatenate([balance, caps])
        cost = np.zeros(num_cols)
        cost[num_flow:] = self.weights[links]

        lp = highspy.HighsLp()
        lp.num_col_ = num_cols
        lp.num_row_ = num_rows
        lp.col_cost_ = cost
        lp.col_lower_ = np.zeros(num_cols)
        lp.col_upper_ = np.full(num_cols, np.inf)
        lp.row_lower_ = row_lower
        lp.row_upper_ = row_upper
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.num_col_ = num_cols
        lp.a_matrix_.num_row_ = num_rows
        lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
        lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
        lp.a_matrix_.value_ = matrix.data.astype(np.float64)
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("threads", 1)
        h.setOptionValue("solver", "simplex")
        if h.passModel(lp) == highspy.HighsStatus.kError:
            raise RuntimeError(f"HiGHS rejected the elastic LP of scenario {scenario.name!r}")
        rows = {int(i): (cap_row0 + 2 * j, cap_row0 + 2 * j + 1) for j, i in enumerate(links.tolist())}
        tolerance = FEASIBILITY_TOLERANCE * max(1.0, required / 1000.0)
        extra_cols = np.arange(num_flow, num_cols, dtype=np.int64)
        return _ScenarioLP(scenario, h, rows, extra_cols, links, tolerance)


def _quiet_first_highs(highspy: Any) -> None:
    """Make the process's first Highs object with stdout closed: HiGHS prints its banner
    once per process, which would land in the middle of a progress bar or a log."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).fflush(None)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)
