"""The Pyomo model of ``antenna@1``: the design space as a linear program.

Variables: ``x[p]`` (mm, continuous) for each parameter ``p`` of the family, bounded by the
instance's bounds; ``dev[p] >= 0`` the deviation from the target in unit coordinates.
Constraints: ``rules[name]``, the family's linear rules (:mod:`problems.antenna.families`:
wire lengths, spacing, bounding box); ``dev_above[p]``: ``dev[p] >= (x[p] - target[p]) / span_p``
and ``dev_below[p]``: ``dev[p] >= (target[p] - x[p]) / span_p`` (``span_p`` the bound's width).

Objective: ``minimize sum_p dev[p]``, the L1 distance (unit coordinates) from the mutable
parameter ``target[p]`` (mm): solving it projects the target onto the design space, so the
solver returns a feasible design nearest to what a proposer wants. ``fixed`` (from
``Problem.build_model(fixed=...)``): ``{"target": {p: mm}}`` (parameters left out keep the
default target), ``{"bounds": {p: [lower_mm, upper_mm]}}`` (narrow bounds; a proposer's
pruning; the model may then be infeasible, which the solver reports), or both. The default
target is the instance's ``reference`` design, else the Chebyshev centre of the space (so the
default solve returns the centre design).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, cast

import pyomo.environ as pyo
from pyomo.common.collections import ComponentMap

from designsvc.core.types import JsonDict
from problems.antenna.evaluate import parse_design
from problems.antenna.families import DesignSpace

__all__ = ["build_model", "encode_design", "extract_design", "resolve_fixed"]


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{where} must be a finite number of mm, got {value!r}")
    return float(value)


def resolve_fixed(
    space: DesignSpace, fixed: Mapping[str, Any] | None, default_target: Mapping[str, float]
) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    """``(target, bounds)`` (mm) from ``fixed`` (see the module docstring). ``ValueError``
    naming the key or parameter for another form, an unknown parameter or empty bounds."""
    target = dict(default_target)
    bounds = {n: (float(lo), float(hi)) for n, (lo, hi) in space.bounds_mm.items()}
    if fixed is None:
        return target, bounds
    if not isinstance(fixed, Mapping):
        raise ValueError(f"fixed must be {{'target': {{param: mm}}, 'bounds': {{...}}}}, got {type(fixed).__name__}")
    extra = sorted(str(k) for k in fixed if k not in ("target", "bounds"))
    if extra:
        raise ValueError(f"unknown key(s) in fixed: {', '.join(map(repr, extra))}; expected 'target' or 'bounds'")
    given_target = fixed.get("target", {})
    if not isinstance(given_target, Mapping):
        raise ValueError("fixed['target'] must be an object {param: mm}")
    for name, value in given_target.items():
        if name not in space.names:
            raise ValueError(f"fixed['target']: unknown parameter {name!r} (known: {', '.join(space.names)})")
        target[name] = _number(value, f"fixed['target'][{name!r}]")
    given_bounds = fixed.get("bounds", {})
    if not isinstance(given_bounds, Mapping):
        raise ValueError("fixed['bounds'] must be an object {param: [lower_mm, upper_mm]}")
    for name, pair in given_bounds.items():
        if name not in space.names:
            raise ValueError(f"fixed['bounds']: unknown parameter {name!r} (known: {', '.join(space.names)})")
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ValueError(f"fixed['bounds'][{name!r}] must be [lower_mm, upper_mm], got {pair!r}")
        lo = max(bounds[name][0], _number(pair[0], f"fixed['bounds'][{name!r}][0]"))
        hi = min(bounds[name][1], _number(pair[1], f"fixed['bounds'][{name!r}][1]"))
        if lo > hi:
            raise ValueError(
                f"fixed['bounds'][{name!r}] = {list(pair)!r} leaves nothing of {name}'s bounds "
                f"{list(bounds[name])!r} mm"
            )
        bounds[name] = (lo, hi)
    return target, bounds


def build_model(
    space: DesignSpace,
    target: Mapping[str, float],
    bounds: Mapping[str, tuple[float, float]] | None = None,
    name: str = "antenna",
) -> pyo.ConcreteModel:
    """A fresh LP over ``space`` projecting ``target`` (mm) onto it; ``bounds`` (mm)
    narrow the variables' bounds (default: the space's)."""
    limits = dict(bounds or space.bounds_mm)
    span = {n: max(space.bounds_mm[n][1] - space.bounds_mm[n][0], 1e-9) for n in space.names}
    model = pyo.ConcreteModel(name=name)
    model.P = pyo.Set(initialize=list(space.names), ordered=True)
    model.x = pyo.Var(model.P, domain=pyo.Reals, bounds=lambda _, p: limits[p])
    model.dev = pyo.Var(model.P, domain=pyo.NonNegativeReals)
    model.target = pyo.Param(model.P, initialize=dict(target), mutable=True, within=pyo.Reals)
    rules = {rule.name: rule for rule in space.rules}
    model.R = pyo.Set(initialize=list(rules), ordered=True)

    def rule_expr(m: pyo.ConcreteModel, r: str) -> Any:
        rule = rules[r]
        body = sum(c * m.x[p] for p, c in rule.coefs.items())
        return (rule.lower, body, rule.upper)

    model.rules = pyo.Constraint(model.R, rule=rule_expr)
    model.dev_above = pyo.Constraint(model.P, rule=lambda m, p: m.dev[p] >= (m.x[p] - m.target[p]) / span[p])
    model.dev_below = pyo.Constraint(model.P, rule=lambda m, p: m.dev[p] >= (m.target[p] - m.x[p]) / span[p])
    model.objective = pyo.Objective(expr=sum(model.dev[p] for p in model.P), sense=pyo.minimize)
    return model


def extract_design(space: DesignSpace, model: pyo.ConcreteModel) -> JsonDict:
    """``{"params": {p: mm}}`` of the values loaded in ``model`` (an unset value: the
    target's)."""
    params: dict[str, float] = {}
    for p in space.names:
        value = model.x[p].value
        params[p] = float(value) if value is not None else float(pyo.value(model.target[p]))
    return {"params": params}


def encode_design(space: DesignSpace, model: pyo.ConcreteModel, design: Mapping[str, Any]) -> Mapping[Any, float]:
    """Warm-start values of ``design`` in ``model``: ``x`` from the design and ``dev`` its
    distance from the model's target. ``ValueError`` for a malformed design."""
    params, problems = parse_design(space, design)
    if problems:
        raise ValueError(f"cannot encode the design: {problems[0]}")
    span = {n: max(space.bounds_mm[n][1] - space.bounds_mm[n][0], 1e-9) for n in space.names}
    start = ComponentMap()
    for p in space.names:
        start[model.x[p]] = params[p]
        start[model.dev[p]] = abs(params[p] - float(pyo.value(model.target[p]))) / span[p]
    return cast("Mapping[Any, float]", start)
