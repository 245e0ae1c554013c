"""The Pyomo model of ``network-planning@1`` and the translation between models and designs.

Formulation (a mixed-integer linear program; positions index the instance's lists):

- ``units[l]`` (integer) is the total number of capacity units of IP link ``l``, with bounds
  ``[max(existing_units, min_units), max_units]`` (capacity is never removed), narrowed by
  ``fixed``.
- Scenarios ``s`` (see :mod:`problems.network_planning.scenarios`): 0 is the no-failure
  scenario (every demand), then each failure scenario (only the protected classes' demands;
  links whose fiber path uses a failed fiber are down and get no flow variables).
- ``flow[s, o, l, d]`` (continuous, >= 0, Gbps) is the traffic of source router ``o`` on
  link ``l`` in direction ``d`` (0: a -> b, 1: b -> a), for each source with required
  demand in ``s`` and each link up in ``s``. Demands are aggregated by source (a
  source-based multi-commodity flow, exact for fractional routing).
- ``balance[s, o, v]``: at every router ``v``, out-flow minus in-flow equals the total
  required demand of ``o`` when ``v == o``, minus the demand from ``o`` to ``v`` otherwise.
- ``capacity[s, l, d]``: ``sum_o flow[s, o, l, d] <= capacity_unit_gbps * units[l]``
  (links are full duplex: each direction has the full capacity).
- ``spectrum[f]``: ``sum_{l rides f} spectrum_per_unit_l * units[l] <= spectrum_slots_f``
  (for fibers that some link rides).
- ``lease[q]``: ``sum_{l on lease q} units[l] <= max_units_q``.
- Objective ``cost``: minimize ``sum_l cost_per_unit_l * (units[l] - existing_units_l)``
  (currency); the constant ``-sum cost * existing`` is part of the objective so that it
  equals :func:`~problems.network_planning.evaluate.evaluate`'s cost.

Rows are built from linear expressions directly with Pyomo's garbage collector paused.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, cast

import pyomo.environ as pyo
from pyomo.common.collections import ComponentMap
from pyomo.common.gc_manager import PauseGC
from pyomo.core.expr.numeric_expr import LinearExpression

from designsvc.core.types import JsonDict
from problems.network_planning.evaluate import parse_design
from problems.network_planning.scenarios import scenarios as all_scenarios
from problems.network_planning.schema import NetworkPlanningInstance

__all__ = ["build_model", "encode_design", "extract_design", "resolve_fixed", "unit_bounds"]


def unit_bounds(instance: NetworkPlanningInstance) -> list[tuple[int, int]]:
    """``(lower, upper)`` total units of each link without ``fixed``."""
    return [(max(x.existing_units, x.min_units), x.max_units) for x in instance.ip_links]


def resolve_fixed(instance: NetworkPlanningInstance, fixed: Mapping[str, Any] | None) -> list[tuple[int, int]]:
    """The unit bounds of each link after ``fixed`` = ``{"units": {link: [lo, hi]}}``.

    Each pair is intersected with the link's own bounds. Raises ``ValueError`` for another
    form, an unknown link, bounds that are not integers or ``lo > hi``, or a pair that
    leaves no allowed value.
    """
    bounds = unit_bounds(instance)
    if fixed is None:
        return bounds
    if not isinstance(fixed, Mapping):
        raise ValueError(f"fixed must be {{'units': {{link: [lo, hi]}}}}, got {type(fixed).__name__}")
    extra = sorted(str(k) for k in fixed if k != "units")
    if extra:
        raise ValueError(f"unknown key(s) in fixed: {', '.join(map(repr, extra))}; expected 'units'")
    units = fixed.get("units", {})
    if not isinstance(units, Mapping):
        raise ValueError(f"fixed['units'] must map link names to [lo, hi], got {type(units).__name__}")
    index = {link.name: i for i, link in enumerate(instance.ip_links)}
    for name, pair in units.items():
        i = index.get(name) if isinstance(name, str) else None
        if i is None:
            raise ValueError(f"fixed['units'] names unknown link {name!r}")
        if (
            not isinstance(pair, (list, tuple))
            or len(pair) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in pair)
        ):
            raise ValueError(f"fixed['units'][{name!r}] must be [lo, hi] with integers, got {pair!r}")
        lo, hi = int(pair[0]), int(pair[1])
        if lo > hi:
            raise ValueError(f"fixed['units'][{name!r}] = [{lo}, {hi}] has lo > hi")
        own_lo, own_hi = bounds[i]
        new_lo, new_hi = max(lo, own_lo), min(hi, own_hi)
        if new_lo > new_hi:
            raise ValueError(
                f"fixed['units'][{name!r}] = [{lo}, {hi}] leaves no value within the link's bounds [{own_lo}, {own_hi}]"
            )
        bounds[i] = (new_lo, new_hi)
    return bounds


def build_model(
    instance: NetworkPlanningInstance,
    fixed: Mapping[str, Any] | None = None,
    *,
    scenarios: Sequence[int] | None = None,
) -> pyo.ConcreteModel:
    """A fresh model of ``instance`` (see the module docstring for its components).

    ``scenarios`` restricts the flow, balance and capacity rows to those scenario positions
    (indices into :func:`~problems.network_planning.scenarios.scenarios`; 0 is the
    no-failure scenario); ``None`` keeps every scenario. A restricted model is a relaxation
    of the full one (used by the ``ilp-heur`` baseline). Raises ``ValueError`` for an index
    out of range.
    """
    bounds = resolve_fixed(instance, fixed)
    every = all_scenarios(instance)
    if scenarios is None:
        chosen = set(range(len(every)))
    else:
        chosen = set()
        for s in scenarios:
            if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < len(every):
                raise ValueError(f"scenario index {s!r} is out of range [0, {len(every)})")
            chosen.add(s)
    links = instance.ip_links
    num_links = len(links)
    router_index = {r.name: v for v, r in enumerate(instance.routers)}
    ends = [(router_index[x.a], router_index[x.b]) for x in links]
    unit = float(instance.capacity_unit_gbps)
    demand_ends = [(router_index[d.src], router_index[d.dst], float(d.gbps)) for d in instance.demands]

    flow_index: list[tuple[int, int, int, int]] = []
    balance_rows: list[tuple[tuple[int, int, int], list[int], list[float], float]] = []
    capacity_rows: list[tuple[tuple[int, int, int], list[int]]] = []
    for s, scenario in enumerate(every):
        if s not in chosen:
            continue
        supply: dict[int, dict[int, float]] = defaultdict(lambda: defaultdict(float))
        for k in scenario.demands:
            o, t, gbps = demand_ends[k]
            supply[o][o] += gbps
            supply[o][t] -= gbps
        per_arc: dict[tuple[int, int], list[int]] = defaultdict(list)
        for o in sorted(supply):
            out_of: dict[int, list[int]] = defaultdict(list)
            into: dict[int, list[int]] = defaultdict(list)
            for i in scenario.links:
                a, b = ends[i]
                for d, (u, v) in enumerate(((a, b), (b, a))):
                    pos = len(flow_index)
                    flow_index.append((s, o, i, d))
                    out_of[u].append(pos)
                    into[v].append(pos)
                    per_arc[i, d].append(pos)
            for v in range(len(instance.routers)):
                cols = out_of[v] + into[v]
                if not cols and not supply[o].get(v):
                    continue
                coefs = [1.0] * len(out_of[v]) + [-1.0] * len(into[v])
                balance_rows.append(((s, o, v), cols, coefs, supply[o].get(v, 0.0)))
        for i in scenario.links:
            for d in (0, 1):
                if per_arc[i, d]:
                    capacity_rows.append(((s, i, d), per_arc[i, d]))

    fiber_index = {f.name: j for j, f in enumerate(instance.fibers)}
    riders: dict[int, list[int]] = defaultdict(list)
    for i, link in enumerate(links):
        for name in dict.fromkeys(link.fiber_path):
            riders[fiber_index[name]].append(i)
    lease_index = {q.name: j for j, q in enumerate(instance.leases)}
    on_lease: dict[int, list[int]] = defaultdict(list)
    for i, link in enumerate(links):
        if link.lease is not None:
            on_lease[lease_index[link.lease]].append(i)

    with PauseGC():
        model = pyo.ConcreteModel(name=instance.name or "network-planning")
        model.units = pyo.Var(range(num_links), domain=pyo.Integers, bounds=lambda _, i: bounds[i])
        model.flow = pyo.Var(flow_index, domain=pyo.NonNegativeReals)
        unit_vars = [model.units[i] for i in range(num_links)]
        flow_vars = [model.flow[key] for key in flow_index]
        balance_map = {row[0]: row for row in balance_rows}
        model.balance = pyo.Constraint(
            list(balance_map),
            rule=lambda _, s, o, v: _balance(balance_map[s, o, v], flow_vars),
        )
        capacity_map = dict(capacity_rows)
        model.capacity = pyo.Constraint(
            list(capacity_map),
            rule=lambda _, s, i, d: (
                LinearExpression(
                    constant=0,
                    linear_coefs=[1.0] * len(capacity_map[s, i, d]) + [-unit],
                    linear_vars=[flow_vars[p] for p in capacity_map[s, i, d]] + [unit_vars[i]],
                )
                <= 0
            ),
        )
        model.spectrum = pyo.Constraint(
            sorted(riders),
            rule=lambda _, f: (
                LinearExpression(
                    constant=0,
                    linear_coefs=[float(links[i].spectrum_per_unit) for i in riders[f]],
                    linear_vars=[unit_vars[i] for i in riders[f]],
                )
                <= instance.fibers[f].spectrum_slots
            ),
        )
        model.lease = pyo.Constraint(
            sorted(on_lease),
            rule=lambda _, q: (
                LinearExpression(
                    constant=0,
                    linear_coefs=[1.0] * len(on_lease[q]),
                    linear_vars=[unit_vars[i] for i in on_lease[q]],
                )
                <= instance.leases[q].max_units
            ),
        )
        costs = [float(x.cost_per_unit) for x in links]
        model.cost = pyo.Objective(
            expr=LinearExpression(
                constant=-sum(c * x.existing_units for c, x in zip(costs, links, strict=True)),
                linear_coefs=costs,
                linear_vars=unit_vars,
            ),
            sense=pyo.minimize,
        )
    return model


def _balance(row: tuple[tuple[int, int, int], list[int], list[float], float], flow_vars: list[Any]) -> Any:
    _, cols, coefs, rhs = row
    return LinearExpression(constant=0, linear_coefs=coefs, linear_vars=[flow_vars[p] for p in cols]) == rhs


def extract_design(instance: NetworkPlanningInstance, model: pyo.ConcreteModel) -> JsonDict:
    """``{"units": {link: int}}`` from the values loaded in ``model`` (rounded); an unset
    value gives the link's lower bound."""
    lower = unit_bounds(instance)
    units: dict[str, int] = {}
    for i, link in enumerate(instance.ip_links):
        value = model.units[i].value
        units[link.name] = lower[i][0] if value is None else round(value)
    return {"units": units}


def encode_design(
    instance: NetworkPlanningInstance, model: pyo.ConcreteModel, design: Mapping[str, Any]
) -> Mapping[Any, float]:
    """Warm-start values ``{units[l]: value}`` (a Pyomo ``ComponentMap``) of ``design``;
    flows are left unset. Raises ``ValueError`` when ``design`` is malformed."""
    parsed = parse_design(instance, design)
    if parsed.malformed:
        raise ValueError(f"cannot encode the design: {parsed.malformed[0]}")
    start = ComponentMap()
    for i, value in enumerate(parsed.units):
        if value is not None:
            start[model.units[i]] = float(value)
    return cast("Mapping[Any, float]", start)
