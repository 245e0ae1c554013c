"""The Pyomo model of ``assignment@1`` and the translation between models and designs.

Variables are indexed by position: ``x[i, b]`` (binary) is 1 iff item ``i`` (its position in
``instance.items``) goes into bin ``b`` (its position in ``instance.bins``); Pyomo names them
``x[i,b]``. Constraints: ``assign[i]``: ``sum_b x[i, b] == 1``; ``capacity[b]``:
``sum_i sizes[i][b] * x[i, b] <= capacity_b`` (size unit). Objective ``cost``: minimize
``sum costs[i][b] * x[i, b]`` (currency).

The model is built from linear expressions directly (no operator overloading) with Pyomo's
garbage collector paused: 2000 items x 50 bins builds in well under a second.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import numpy as np
import pyomo.environ as pyo
from pyomo.common.collections import ComponentMap
from pyomo.common.gc_manager import PauseGC
from pyomo.core.expr.numeric_expr import LinearExpression

from designsvc.core.types import JsonDict
from problems.assignment.evaluate import (
    UNASSIGNED,
    bin_loads,
    capacities,
    design_from_choice,
    overloaded,
    parse_design,
    sizes_matrix,
)
from problems.assignment.schema import AssignmentInstance

__all__ = ["build_model", "encode_design", "extract_design", "resolve_fixed"]


def resolve_fixed(instance: AssignmentInstance, fixed: Mapping[str, Any] | None) -> dict[int, int]:
    """Read ``fixed`` = ``{"assign": {item_name: bin_name}}`` into ``{item: bin}`` positions.

    Raises ``ValueError`` for another form, an unknown item or bin name, or pinned items that
    alone overload a bin (no design could satisfy them).
    """
    if fixed is None:
        return {}
    if not isinstance(fixed, Mapping):
        raise ValueError(f"fixed must be {{'assign': {{item: bin}}}}, got {type(fixed).__name__}")
    extra = sorted(str(k) for k in fixed if k != "assign")
    if extra:
        raise ValueError(f"unknown key(s) in fixed: {', '.join(map(repr, extra))}; expected 'assign'")
    assign = fixed.get("assign", {})
    if not isinstance(assign, Mapping):
        raise ValueError(f"fixed['assign'] must map item names to bin names, got {type(assign).__name__}")
    item_index = {item.name: i for i, item in enumerate(instance.items)}
    bin_index = {b.name: k for k, b in enumerate(instance.bins)}
    pins: dict[int, int] = {}
    for item_name, bin_name in assign.items():
        i = item_index.get(item_name) if isinstance(item_name, str) else None
        if i is None:
            raise ValueError(f"fixed['assign'] names unknown item {item_name!r}")
        k = bin_index.get(bin_name) if isinstance(bin_name, str) else None
        if k is None:
            raise ValueError(f"fixed['assign'] puts item {item_name!r} into unknown bin {bin_name!r}")
        pins[i] = k
    if pins:
        bin_of = np.full(len(instance.items), UNASSIGNED, dtype=np.int64)
        bin_of[list(pins)] = list(pins.values())
        loads = bin_loads(sizes_matrix(instance), bin_of)
        capacity = capacities(instance)
        over = np.flatnonzero(overloaded(loads, capacity))
        if over.size:
            k = int(over[0])
            raise ValueError(
                f"fixed['assign'] alone overloads bin {instance.bins[k].name!r}: "
                f"load {loads[k]:g} > capacity {capacity[k]:g}"
            )
    return pins


def build_model(instance: AssignmentInstance, fixed: Mapping[str, Any] | None = None) -> pyo.ConcreteModel:
    """A fresh model of ``instance`` (see the module docstring for its components).

    ``fixed`` (see :func:`resolve_fixed`) pins items: ``x[i, b]`` is fixed to 1 for the
    pinned bin and to 0 for the others (fixed variables are constants to the solvers).
    """
    pins = resolve_fixed(instance, fixed)
    num_items, num_bins = len(instance.items), len(instance.bins)
    items, bins = range(num_items), range(num_bins)
    size_by_bin = [[item.sizes[b] for item in instance.items] for b in bins]
    costs = [c for item in instance.items for c in item.costs]
    capacity = [b.capacity for b in instance.bins]
    with PauseGC():
        model = pyo.ConcreteModel(name=instance.name or "assignment")
        model.x = pyo.Var(items, bins, domain=pyo.Binary)
        grid = [model.x[i, b] for i in items for b in bins]  # row-major: grid[i * m + b]
        by_item = [grid[i * num_bins : (i + 1) * num_bins] for i in items]
        by_bin = [grid[b::num_bins] for b in bins]
        model.assign = pyo.Constraint(items, rule=lambda _, i: LinearExpression(by_item[i]) == 1)
        model.capacity = pyo.Constraint(
            bins,
            rule=lambda _, b: (
                LinearExpression(constant=0, linear_coefs=size_by_bin[b], linear_vars=by_bin[b]) <= capacity[b]
            ),
        )
        model.cost = pyo.Objective(
            expr=LinearExpression(constant=0, linear_coefs=costs, linear_vars=grid),
            sense=pyo.minimize,
        )
        for i, k in pins.items():
            for b, var in enumerate(by_item[i]):
                var.fix(1 if b == k else 0)
    return model


def extract_design(instance: AssignmentInstance, model: pyo.ConcreteModel) -> JsonDict:
    """The design of the values loaded in ``model``: each item goes to the bin whose
    ``x[i, b]`` is largest and > 0.5; an item with none is left out (unassigned).
    Unset values count as 0."""
    num_items, num_bins = len(instance.items), len(instance.bins)
    values = np.zeros((num_items, num_bins))
    for (i, b), var in model.x.items():
        value = var.value
        if value is not None:
            values[i, b] = value
    best = values.argmax(axis=1)
    chosen = values[np.arange(num_items), best] > 0.5
    return design_from_choice(instance, np.where(chosen, best, UNASSIGNED))


def encode_design(
    instance: AssignmentInstance, model: pyo.ConcreteModel, design: Mapping[str, Any]
) -> Mapping[Any, float]:
    """Warm-start values ``{x[i, b]: 0.0 or 1.0}`` (a Pyomo ``ComponentMap``) of ``design`` in
    ``model`` (the inverse of :func:`extract_design`): all bins of each assigned item;
    unassigned items get none.

    Raises ``ValueError`` when ``design`` is malformed or names unknown items or bins.
    """
    parsed = parse_design(instance, design)
    if parsed.malformed:
        raise ValueError(f"cannot encode the design: {parsed.malformed[0]}")
    bin_of = parsed.bin_of.tolist()
    start = ComponentMap()
    for (i, b), var in model.x.items():
        k = bin_of[i]
        if k != UNASSIGNED:
            start[var] = 1.0 if b == k else 0.0
    return cast("Mapping[Any, float]", start)
