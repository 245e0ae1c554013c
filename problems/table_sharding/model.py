"""The Pyomo model of ``table-sharding@1`` and the translation between models and plans.

The model states the feasible set exactly and the objective as an *additive surrogate* of
the true (non-additive) makespan; the true cost is the evaluator's
(:mod:`problems.table_sharding.evaluate`). Variables are indexed by position:
``x[t, d]`` (binary) is 1 iff table ``t`` (its position in ``instance.tables``) goes on
device ``d`` (its position among the devices). Constraints:

- ``assign[t]``: ``sum_d x[t, d] == 1``;
- ``memory[d]``: ``sum_t kb_t * x[t, d] <= capacity_kb_d`` in kilobytes (1 KB = 1000
  bytes), table sizes rounded up and capacities down to whole KB, so every integer
  coefficient is exact (CP-SAT takes the model as it is) and a plan the model allows fits
  in exact bytes. (A table within 1 KB of filling a device alone may thus be refused.)

Objective, by default: the plain MILP on additive costs (the surrogate a learned proposer
re-costs): ``z`` (integer, in ticks of :data:`TICK_MS` = 10 microseconds) with
``makespan[d]``: ``sum_t c[t, d] * x[t, d] - z <= 0``, where ``c[t, d]`` is table ``t``'s
standalone cost on device ``d`` (the cost model's ``device_cost([t], d)``, which includes
the device's speed) rounded to ticks; minimize ``TICK_MS * z`` (ms). Standalone costs
over-count the fused-kernel overhead and miss the saturation of a crowded device, which is
why the evaluator's objective differs (``objective_is_linear`` is False).

With ``fixed = {"costs": [[...]]}`` (one row per table, one entry per device; the SurCo
hook) the objective is ``minimize sum c[t, d] * x[t, d]`` with the given costs instead, and
``z`` and the makespan rows are left out. The costs are used as given: HiGHS and SCIP take
any finite numbers, CP-SAT only those it can scale exactly to integers (short decimals).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pyomo.environ as pyo
from pyomo.common.collections import ComponentMap
from pyomo.common.gc_manager import PauseGC
from pyomo.core.expr.numeric_expr import LinearExpression

from designsvc.core.types import JsonDict
from problems.table_sharding.cost import AnalyticCostModel, CostModel
from problems.table_sharding.evaluate import (
    UNASSIGNED,
    capacity_bytes,
    design_from_choice,
    memory_used_bytes,
    over_capacity,
    parse_design,
)
from problems.table_sharding.schema import (
    BYTES_PER_GB,
    TableShardingInstance,
    device_label,
    format_gb,
    resolved_devices,
    table_bytes,
)

__all__ = [
    "BYTES_PER_KB",
    "TICK_MS",
    "Fixed",
    "build_model",
    "capacities_kb",
    "encode_design",
    "extract_design",
    "resolve_fixed",
    "sizes_kb",
    "standalone_ticks",
]

TICK_MS = 1e-2
"""The unit of the surrogate costs in the model: 10 microseconds, in ms."""

BYTES_PER_KB = 1000

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Fixed:
    """``fixed`` read into positions: ``pins`` maps a table to the device it is fixed on;
    ``costs`` is the ``(tables, devices)`` linear cost matrix, or None for the makespan."""

    pins: Mapping[int, int]
    costs: FloatArray | None


def sizes_kb(instance: TableShardingInstance) -> list[int]:
    """Table sizes in whole KB, rounded up."""
    return [-(-table_bytes(t) // BYTES_PER_KB) for t in instance.tables]


def capacities_kb(instance: TableShardingInstance) -> list[int]:
    """Device memory in whole KB, rounded down."""
    return [math.floor(d.memory_gb * (BYTES_PER_GB // BYTES_PER_KB)) for d in resolved_devices(instance)]


def standalone_ticks(instance: TableShardingInstance, cost_model: CostModel | None = None) -> IntArray:
    """``(tables, devices)`` integer costs: each table alone on each device, in ticks of
    :data:`TICK_MS` (rounded to nearest)."""
    model = cost_model if cost_model is not None else AnalyticCostModel.from_instance(instance)
    devices = resolved_devices(instance)
    ticks = np.zeros((len(instance.tables), len(devices)), dtype=np.int64)
    for t, table in enumerate(instance.tables):
        for d, device in enumerate(devices):
            ticks[t, d] = max(0, round(model.device_cost([table], device) / TICK_MS))
    return ticks


def resolve_fixed(instance: TableShardingInstance, fixed: Mapping[str, Any] | None) -> Fixed:
    """Read ``fixed`` = ``{"assign": {table_name: device_index}, "costs": [[...]]}`` (both
    optional) into positions.

    Raises ``ValueError`` for another form, unknown tables, device indices out of range,
    pinned tables that alone overfill a device, or a cost matrix of the wrong shape or with
    non-finite entries.
    """
    if fixed is None:
        return Fixed(pins={}, costs=None)
    if not isinstance(fixed, Mapping):
        raise ValueError(f"fixed must be {{'assign': {{table: device}}, 'costs': [[...]]}}, got {type(fixed).__name__}")
    extra = sorted(str(k) for k in fixed if k not in ("assign", "costs"))
    if extra:
        raise ValueError(f"unknown key(s) in fixed: {', '.join(map(repr, extra))}; expected 'assign' and/or 'costs'")
    pins = _pins(instance, fixed.get("assign", {}))
    costs = _costs(instance, fixed["costs"]) if "costs" in fixed else None
    return Fixed(pins=pins, costs=costs)


def build_model(
    instance: TableShardingInstance,
    fixed: Mapping[str, Any] | None = None,
    cost_model: CostModel | None = None,
) -> pyo.ConcreteModel:
    """A fresh model of ``instance`` (see the module docstring for its components).

    ``fixed`` (see :func:`resolve_fixed`) pins tables (``x[t, d]`` fixed to 1 on the pinned
    device, 0 elsewhere) and/or replaces the objective by given linear costs. ``cost_model``
    gives the standalone costs of the surrogate (default: the instance's analytic model).
    """
    spec = resolve_fixed(instance, fixed)
    num_tables, num_devices = len(instance.tables), len(resolved_devices(instance))
    tables, devices = range(num_tables), range(num_devices)
    size = sizes_kb(instance)
    capacity = capacities_kb(instance)
    with PauseGC():
        model = pyo.ConcreteModel(name=instance.name or "table-sharding")
        model.x = pyo.Var(tables, devices, domain=pyo.Binary)
        grid = [model.x[t, d] for t in tables for d in devices]  # row-major: grid[t * D + d]
        by_table = [grid[t * num_devices : (t + 1) * num_devices] for t in tables]
        by_device = [grid[d::num_devices] for d in devices]
        model.assign = pyo.Constraint(tables, rule=lambda _, t: LinearExpression(by_table[t]) == 1)
        model.memory = pyo.Constraint(
            devices,
            rule=lambda _, d: LinearExpression(constant=0, linear_coefs=size, linear_vars=by_device[d]) <= capacity[d],
        )
        if spec.costs is None:
            ticks = standalone_ticks(instance, cost_model)
            lower = int(ticks.min(axis=1).max(initial=0))
            upper = max(lower, int(ticks.max(axis=1).sum()))
            model.z = pyo.Var(domain=pyo.NonNegativeIntegers, bounds=(lower, upper))
            columns = [[int(v) for v in ticks[:, d]] for d in devices]
            model.makespan = pyo.Constraint(
                devices,
                rule=lambda m, d: (
                    LinearExpression(
                        constant=0,
                        linear_coefs=[*columns[d], -1],
                        linear_vars=[*by_device[d], m.z],
                    )
                    <= 0
                ),
            )
            model.objective = pyo.Objective(
                expr=LinearExpression(constant=0, linear_coefs=[TICK_MS], linear_vars=[model.z]),
                sense=pyo.minimize,
            )
        else:
            model.objective = pyo.Objective(
                expr=LinearExpression(constant=0, linear_coefs=spec.costs.ravel().tolist(), linear_vars=grid),
                sense=pyo.minimize,
            )
        for t, k in spec.pins.items():
            for d, var in enumerate(by_table[t]):
                var.fix(1 if d == k else 0)
    return model


def extract_design(instance: TableShardingInstance, model: pyo.ConcreteModel) -> JsonDict:
    """The plan of the values loaded in ``model``: each table goes to the device whose
    ``x[t, d]`` is largest and > 0.5; a table with none is left out (unassigned). Unset
    values count as 0."""
    num_tables, num_devices = len(instance.tables), len(resolved_devices(instance))
    values = np.zeros((num_tables, num_devices))
    for (t, d), var in model.x.items():
        value = var.value
        if value is not None:
            values[t, d] = value
    best = values.argmax(axis=1) if num_devices else np.zeros(num_tables, dtype=np.int64)
    chosen = values[np.arange(num_tables), best] > 0.5
    return design_from_choice(instance, np.where(chosen, best, UNASSIGNED))


def encode_design(
    instance: TableShardingInstance,
    model: pyo.ConcreteModel,
    design: Mapping[str, Any],
    cost_model: CostModel | None = None,
) -> Mapping[Any, float]:
    """Warm-start values (a Pyomo ``ComponentMap``) of ``design`` in ``model``, the inverse
    of :func:`extract_design`: ``x[t, d]`` for every device of each assigned table, and,
    when the model has the makespan ``z``, its value (the largest device load in ticks of
    the plan's assigned tables). Unassigned tables get no values.

    Raises ``ValueError`` when ``design`` is malformed or names unknown tables or devices.
    """
    parsed = parse_design(instance, design)
    if parsed.malformed:
        raise ValueError(f"cannot encode the design: {parsed.malformed[0]}")
    device_of = parsed.device_of.tolist()
    start = ComponentMap()
    for (t, d), var in model.x.items():
        k = device_of[t]
        if k != UNASSIGNED:
            start[var] = 1.0 if d == k else 0.0
    z = model.component("z")
    if z is not None:
        ticks = standalone_ticks(instance, cost_model)
        loads = np.zeros(ticks.shape[1], dtype=np.int64)
        for t, k in enumerate(device_of):
            if k != UNASSIGNED:
                loads[k] += ticks[t, k]
        lower = z.lb if z.lb is not None else 0
        start[z] = float(max(int(loads.max(initial=0)), int(lower)))
    return cast("Mapping[Any, float]", start)


def _pins(instance: TableShardingInstance, assign: Any) -> dict[int, int]:
    if not isinstance(assign, Mapping):
        raise ValueError(f"fixed['assign'] must map table names to device indices, got {type(assign).__name__}")
    devices = resolved_devices(instance)
    table_index = {t.name: i for i, t in enumerate(instance.tables)}
    pins: dict[int, int] = {}
    for name, device in assign.items():
        t = table_index.get(name) if isinstance(name, str) else None
        if t is None:
            raise ValueError(f"fixed['assign'] names unknown table {name!r}")
        if isinstance(device, bool) or not isinstance(device, int) or not 0 <= device < len(devices):
            raise ValueError(f"fixed['assign'] puts table {name!r} on {device!r}; devices are 0 to {len(devices) - 1}")
        pins[t] = device
    if pins:
        device_of = np.full(len(instance.tables), UNASSIGNED, dtype=np.int64)
        device_of[list(pins)] = list(pins.values())
        used = memory_used_bytes(instance, device_of)
        capacity = capacity_bytes(devices)
        over = np.flatnonzero(over_capacity(used, capacity))
        if over.size:
            k = int(over[0])
            used_gb, cap_gb = used[k] / BYTES_PER_GB, devices[k].memory_gb
            raise ValueError(
                f"fixed['assign'] alone overfills device {device_label(devices[k], k)}: "
                f"{format_gb(used_gb, other=cap_gb)} GB > {format_gb(cap_gb, other=used_gb)} GB"
            )
    return pins


def _costs(instance: TableShardingInstance, costs: Any) -> FloatArray:
    num_tables, num_devices = len(instance.tables), len(resolved_devices(instance))
    if not _is_list(costs) or len(costs) != num_tables:
        found = f"{len(costs)} rows" if _is_list(costs) else type(costs).__name__
        raise ValueError(f"fixed['costs'] must be a list of {num_tables} rows (one per table), got {found}")
    matrix = np.zeros((num_tables, num_devices))
    for t, row in enumerate(costs):
        name = instance.tables[t].name
        if not _is_list(row) or len(row) != num_devices:
            found = f"{len(row)} entries" if _is_list(row) else type(row).__name__
            raise ValueError(
                f"fixed['costs'][{t}] (table {name}) must have {num_devices} entries (one per device), got {found}"
            )
        for d, value in enumerate(row):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"fixed['costs'][{t}][{d}] (table {name}) must be a finite number, got {value!r}")
            matrix[t, d] = float(value)
    return matrix


def _is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))
