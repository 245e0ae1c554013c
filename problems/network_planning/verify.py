"""An independent verifier of ``network-planning@1`` plans (no Pyomo): one linear program
per scenario, solved with ``scipy.optimize.linprog(method="highs")`` on sparse matrices.

For a plan (total units per IP link) and a scenario, the LP is a node-arc multi-commodity
flow with one commodity per source router: variables ``f[o, arc]`` >= 0 (Gbps from source
``o`` on each direction of each link that is up) and a slack ``u[o, d]`` in
``[0, D_od]`` per source-destination pair (``D_od`` the pair's required Gbps, summed over
its demands; ``u`` the part that cannot be routed). Flow conservation for commodity ``o``:
at ``o`` ``out - in = sum_d (D_od - u[o, d])``, at each destination ``d``
``in - out = D_od - u[o, d]``, elsewhere ``out - in = 0``; each direction of each link
carries at most ``units * capacity_unit_gbps``. It minimizes ``sum u``, so a positive optimum
proves that some required traffic cannot be routed. Merging the demands of one source into
one commodity is exact for fractional routing (any such flow decomposes into paths per
destination) and makes the LP about (demands / sources) times smaller than one commodity
per demand (30 times at 60 routers). A pair's unrouted Gbps is reported on its demands in
proportion to their Gbps.

The code shares nothing with the Pyomo model: it builds the matrices itself from the
instance, so a modelling error in one does not hide in the other. The unit bounds, spectrum and lease rules are
checked directly.

:func:`route` also takes optional *extra* capacity variables per link (with a cost per Gbps
and an upper bound) that the baseline uses to see which links a shortfall needs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.optimize import linprog

from problems.network_planning.scenarios import Scenario, scenarios
from problems.network_planning.schema import NetworkPlanningInstance, demand_label

__all__ = [
    "UNROUTED_TOLERANCE",
    "Routing",
    "Verification",
    "plan_violations",
    "route",
    "unrouted_lines",
    "verify",
]

UNROUTED_TOLERANCE = 1e-6
"""Unrouted traffic (Gbps) above ``UNROUTED_TOLERANCE * max(1, gbps)`` is reported."""

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Routing:
    """The LP result of one scenario: ``unrouted`` maps demand positions to unrouted Gbps
    (only those above the tolerance); ``load[l]`` is the larger direction's traffic on link
    ``l`` (Gbps, 0 for links that are down); ``extra[l]`` the extra capacity used (Gbps)."""

    scenario: Scenario
    unrouted: dict[int, float]
    load: FloatArray
    extra: FloatArray

    @property
    def total_unrouted(self) -> float:
        return float(sum(self.unrouted.values()))


@dataclass(frozen=True)
class Verification:
    """Every scenario's routing and the plan's rule violations (bounds, spectrum, leases)."""

    routings: tuple[Routing, ...]
    violations: tuple[str, ...]

    @property
    def routed(self) -> bool:
        return all(not r.unrouted for r in self.routings)

    @property
    def feasible(self) -> bool:
        return self.routed and not self.violations


def route(
    instance: NetworkPlanningInstance,
    units: Sequence[int],
    scenario: Scenario,
    *,
    extra_cost: FloatArray | None = None,
    extra_ub: FloatArray | None = None,
    unrouted_penalty: float = 1.0,
) -> Routing:
    """Solve the scenario LP for total ``units`` per link (see the module docstring).

    With ``extra_cost`` and ``extra_ub`` (per link, per Gbps), each link up in the scenario
    may get extra capacity at that cost; the objective is then
    ``unrouted_penalty * sum u + extra_cost @ extra``.
    """
    router_index = {r.name: v for v, r in enumerate(instance.routers)}
    num_nodes = len(instance.routers)
    links = list(scenario.links)
    demands = list(scenario.demands)
    num_links_all = len(instance.ip_links)
    if not demands:
        return Routing(scenario, {}, np.zeros(num_links_all), np.zeros(num_links_all))
    num_arcs = 2 * len(links)
    arc_tail = np.empty(num_arcs, dtype=np.int64)
    arc_head = np.empty(num_arcs, dtype=np.int64)
    for j, i in enumerate(links):
        a, b = router_index[instance.ip_links[i].a], router_index[instance.ip_links[i].b]
        arc_tail[2 * j], arc_head[2 * j] = a, b
        arc_tail[2 * j + 1], arc_head[2 * j + 1] = b, a
    # Commodities are sources; slacks are (source, destination) pairs.
    pair_gbps: dict[tuple[int, int], float] = {}
    for k in demands:
        demand = instance.demands[k]
        key = (router_index[demand.src], router_index[demand.dst])
        pair_gbps[key] = pair_gbps.get(key, 0.0) + demand.gbps
    pairs = list(pair_gbps)
    sources = sorted({o for o, _ in pairs})
    source_pos = {o: n for n, o in enumerate(sources)}
    num_src = len(sources)
    num_dem = len(pairs)
    with_extra = extra_cost is not None and extra_ub is not None
    num_flow = num_src * num_arcs
    num_vars = num_flow + num_dem + (len(links) if with_extra else 0)

    # Conservation rows (o, v): out - in + [v == o] sum_d u_od - u_ov = supply_o(v).
    rows: list[npt.NDArray[np.int64]] = []
    cols: list[npt.NDArray[np.int64]] = []
    vals: list[FloatArray] = []
    b_eq = np.zeros(num_src * num_nodes)
    arcs = np.arange(num_arcs, dtype=np.int64)
    for n in range(num_src):
        base = n * num_nodes
        col0 = n * num_arcs
        rows += [base + arc_tail, base + arc_head]
        cols += [col0 + arcs, col0 + arcs]
        vals += [np.ones(num_arcs), -np.ones(num_arcs)]
    for p, (o, d) in enumerate(pairs):
        base = source_pos[o] * num_nodes
        rows.append(np.array([base + o, base + d]))
        cols.append(np.array([num_flow + p, num_flow + p]))
        vals.append(np.array([1.0, -1.0]))
        b_eq[base + o] += pair_gbps[(o, d)]
        b_eq[base + d] -= pair_gbps[(o, d)]
    a_eq = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(num_src * num_nodes, num_vars),
    )

    # Capacity rows (arc): sum_o f[o, arc] - extra[link] <= units * unit_gbps.
    cap_rows: list[npt.NDArray[np.int64]] = [np.tile(arcs, num_src)]
    cap_cols: list[npt.NDArray[np.int64]] = [np.arange(num_flow, dtype=np.int64)]
    cap_vals: list[FloatArray] = [np.ones(num_flow)]
    if with_extra:
        cap_rows.append(arcs)
        cap_cols.append(num_flow + num_dem + arcs // 2)
        cap_vals.append(-np.ones(num_arcs))
    unit = float(instance.capacity_unit_gbps)
    b_ub_parts = [np.repeat(np.array([units[i] * unit for i in links], dtype=np.float64), 2)]
    num_rows = num_arcs
    if with_extra:
        # Spectrum and lease rows on the extra capacity, relaxed to Gbps / unit.
        for members, coef, room in _rule_rows(instance, units):
            picked = [(j, coef[i]) for j, i in enumerate(links) if i in members]
            if not picked:
                continue
            cap_rows.append(np.full(len(picked), num_rows))
            cap_cols.append(np.array([num_flow + num_dem + j for j, _ in picked]))
            cap_vals.append(np.array([c / unit for _, c in picked], dtype=np.float64))
            b_ub_parts.append(np.array([max(room, 0.0)]))
            num_rows += 1
    a_ub = sp.csr_matrix(
        (np.concatenate(cap_vals), (np.concatenate(cap_rows), np.concatenate(cap_cols))),
        shape=(num_rows, num_vars),
    )
    b_ub = np.concatenate(b_ub_parts)

    c = np.zeros(num_vars)
    c[num_flow : num_flow + num_dem] = unrouted_penalty
    upper = np.full(num_vars, np.inf)
    upper[num_flow : num_flow + num_dem] = [pair_gbps[pair] for pair in pairs]
    if with_extra:
        assert extra_cost is not None
        assert extra_ub is not None
        c[num_flow + num_dem :] = extra_cost[links]
        upper[num_flow + num_dem :] = extra_ub[links]
    result = linprog(
        c,
        A_ub=a_ub,
        b_ub=b_ub,
        A_eq=a_eq,
        b_eq=b_eq,
        bounds=np.column_stack([np.zeros(num_vars), upper]),
        method="highs",
    )
    if result.status != 0:
        raise RuntimeError(f"the verifier's LP for scenario {scenario.name!r} failed: {result.message}")
    x = np.asarray(result.x, dtype=np.float64)
    slack = x[num_flow : num_flow + num_dem]
    pair_slack = {pair: float(slack[p]) for p, pair in enumerate(pairs)}
    unrouted: dict[int, float] = {}
    for k in demands:
        demand = instance.demands[k]
        pair = (router_index[demand.src], router_index[demand.dst])
        share = pair_slack[pair] * demand.gbps / pair_gbps[pair]
        if share > UNROUTED_TOLERANCE * max(1.0, demand.gbps):
            unrouted[k] = share
    per_arc = x[:num_flow].reshape(num_src, num_arcs).sum(axis=0)
    load = np.zeros(num_links_all)
    extra = np.zeros(num_links_all)
    if links:
        load[links] = per_arc.reshape(len(links), 2).max(axis=1)
        if with_extra:
            extra[links] = x[num_flow + num_dem :]
    return Routing(scenario, unrouted, load, extra)


def _rule_rows(
    instance: NetworkPlanningInstance, units: Sequence[int]
) -> list[tuple[set[int], dict[int, float], float]]:
    """Spectrum and lease rules as ``(links, coefficient per link, room left)``."""
    rows: list[tuple[set[int], dict[int, float], float]] = []
    for fiber in instance.fibers:
        coef = {
            i: float(link.spectrum_per_unit)
            for i, link in enumerate(instance.ip_links)
            if fiber.name in link.fiber_path
        }
        used = sum(c * units[i] for i, c in coef.items())
        rows.append((set(coef), coef, fiber.spectrum_slots - used))
    for lease in instance.leases:
        coef = {i: 1.0 for i, link in enumerate(instance.ip_links) if link.lease == lease.name}
        rows.append((set(coef), coef, lease.max_units - sum(units[i] for i in coef)))
    return rows


def plan_violations(instance: NetworkPlanningInstance, units: Sequence[int]) -> list[str]:
    """Bound, spectrum and lease violations of total ``units`` per link."""
    violations: list[str] = []
    for link, n in zip(instance.ip_links, units, strict=True):
        if n < link.existing_units:
            violations.append(f"link {link.name} units {n} below existing {link.existing_units}")
        if n < link.min_units:
            violations.append(f"link {link.name} units {n} below min_units {link.min_units}")
        if n > link.max_units:
            violations.append(f"link {link.name} units {n} above max_units {link.max_units}")
    used = dict.fromkeys((f.name for f in instance.fibers), 0)
    for link, n in zip(instance.ip_links, units, strict=True):
        for name in dict.fromkeys(link.fiber_path):
            used[name] += link.spectrum_per_unit * n
    for fiber in instance.fibers:
        if used[fiber.name] > fiber.spectrum_slots:
            violations.append(f"fiber {fiber.name} spectrum {used[fiber.name]} > {fiber.spectrum_slots}")
    leased = {q.name: 0 for q in instance.leases}
    for link, n in zip(instance.ip_links, units, strict=True):
        if link.lease is not None:
            leased[link.lease] += n
    for lease in instance.leases:
        if leased[lease.name] > lease.max_units:
            violations.append(f"lease {lease.name} units {leased[lease.name]} > {lease.max_units}")
    return violations


def verify(instance: NetworkPlanningInstance, plan: Mapping[str, int] | Sequence[int]) -> Verification:
    """Check a plan: ``{link_name: total units}`` (every link) or units by link position."""
    if isinstance(plan, Mapping):
        units = [int(plan[link.name]) for link in instance.ip_links]
    else:
        units = [int(n) for n in plan]
    routings = tuple(route(instance, units, scenario) for scenario in scenarios(instance))
    return Verification(routings, tuple(plan_violations(instance, units)))


def unrouted_lines(instance: NetworkPlanningInstance, routing: Routing) -> list[str]:
    """One line per unrouted demand of ``routing``."""
    lines = []
    for k, gbps in sorted(routing.unrouted.items()):
        demand = instance.demands[k]
        lines.append(
            f"scenario {routing.scenario.name}: demand {demand_label(instance, k)} "
            f"{demand.src}->{demand.dst} unrouted {gbps:.6g} Gbps"
        )
    return lines
