"""The ground-truth evaluator of ``table-sharding@1`` plans, independent of Pyomo.

A design (a plan) is JSON: ``{"assign": {table_name: device_index, ...}}`` with device
indices counting from 0 in the order of the instance's devices (the shorthand's devices
are ``d0, d1, ...``). Its objective is the largest device cost (ms per training iteration,
see :mod:`problems.table_sharding.cost`) over the tables that are validly assigned. It is
feasible iff every table is assigned to exactly one existing device, no unknown table is
named, and no device holds more table bytes than its memory (within
:data:`MEMORY_TOLERANCE` relative). Broken rules are reported as violations, never raised.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from designsvc.core.problem import design_member
from designsvc.core.types import Evaluation, JsonDict
from problems.table_sharding.cost import AnalyticCostModel, CostModel
from problems.table_sharding.schema import (
    BYTES_PER_GB,
    Device,
    Table,
    TableShardingInstance,
    device_label,
    format_gb,
    resolved_devices,
    table_bytes,
)

__all__ = [
    "MAX_BREAKDOWN_DEVICES",
    "MEMORY_TOLERANCE",
    "UNASSIGNED",
    "ParsedDesign",
    "capacity_bytes",
    "design_from_choice",
    "device_costs",
    "evaluate",
    "memory_used_bytes",
    "over_capacity",
    "parse_design",
    "sizes_bytes",
    "tables_by_device",
]

MEMORY_TOLERANCE = 1e-9
"""A device is over capacity when ``used > capacity * (1 + MEMORY_TOLERANCE)`` (bytes)."""

UNASSIGNED = -1
"""The device index of a table that is not (validly) assigned."""

MAX_BREAKDOWN_DEVICES = 256
"""Per-device breakdown entries are given for at most this many devices (the first ones)."""

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ParsedDesign:
    """A plan in index form: ``device_of[t]`` is the device of table ``t`` (or
    :data:`UNASSIGNED`); ``issues`` has one human line per table not validly assigned and
    per unknown table; ``malformed`` is the part of ``issues`` about names or values that
    are not in the instance (everything but plainly missing tables)."""

    device_of: IntArray
    issues: tuple[str, ...]
    malformed: tuple[str, ...]


def sizes_bytes(instance: TableShardingInstance) -> FloatArray:
    """Table memory as a ``(tables,)`` array, bytes (exact below 2**53)."""
    return np.array([float(table_bytes(t)) for t in instance.tables], dtype=np.float64)


def capacity_bytes(devices: Sequence[Device]) -> FloatArray:
    """Device memory as a ``(devices,)`` array, bytes."""
    return np.array([d.memory_gb * BYTES_PER_GB for d in devices], dtype=np.float64)


def over_capacity(used: FloatArray, capacity: FloatArray) -> npt.NDArray[np.bool_]:
    """Which devices hold more than their memory beyond :data:`MEMORY_TOLERANCE`."""
    return np.asarray(used > capacity * (1.0 + MEMORY_TOLERANCE))


def parse_design(instance: TableShardingInstance, design: Mapping[str, Any]) -> ParsedDesign:
    """Read ``design`` into index form, collecting malformed entries as issues.

    Raises ``ValueError`` only when ``design`` is not of the form
    ``{"assign": {table_name: device_index}}`` at all.
    """
    assign = design_member(design, "assign", "{table_name: device_index}")
    num_devices = len(resolved_devices(instance))
    table_index = {t.name: i for i, t in enumerate(instance.tables)}
    device_of = np.full(len(instance.tables), UNASSIGNED, dtype=np.int64)
    bad: dict[int, str] = {}
    unknown: list[str] = []
    for name, device in assign.items():
        t = table_index.get(name) if isinstance(name, str) else None
        if t is None:
            unknown.append(f"unknown table {name!r} is assigned to device {device!r}")
            continue
        if isinstance(device, bool) or not isinstance(device, int):
            bad[t] = f"table {name} is assigned to {device!r}, not a device index (an integer)"
        elif not 0 <= device < num_devices:
            bad[t] = f"table {name} is assigned to device {device}; devices are 0 to {num_devices - 1}"
        else:
            device_of[t] = device
    issues: list[str] = []
    for t in np.flatnonzero(device_of == UNASSIGNED).tolist():
        issues.append(bad.get(t) or f"table {instance.tables[t].name} is not assigned")
    issues.extend(unknown)
    malformed = [bad[t] for t in sorted(bad)] + unknown
    return ParsedDesign(device_of=device_of, issues=tuple(issues), malformed=tuple(malformed))


def tables_by_device(instance: TableShardingInstance, device_of: Sequence[int] | IntArray) -> list[list[Table]]:
    """The tables on each device, in instance order (unassigned tables nowhere)."""
    groups: list[list[Table]] = [[] for _ in resolved_devices(instance)]
    for table, k in zip(instance.tables, device_of, strict=True):
        if int(k) >= 0:
            groups[int(k)].append(table)
    return groups


def memory_used_bytes(instance: TableShardingInstance, device_of: Sequence[int] | IntArray) -> FloatArray:
    """Bytes of tables on each device, a ``(devices,)`` array."""
    chosen = np.asarray(device_of, dtype=np.int64)
    placed = chosen >= 0
    num_devices = len(resolved_devices(instance))
    return np.bincount(chosen[placed], weights=sizes_bytes(instance)[placed], minlength=num_devices).astype(np.float64)


def device_costs(
    instance: TableShardingInstance,
    device_of: Sequence[int] | IntArray,
    cost_model: CostModel | None = None,
) -> list[float]:
    """Each device's cost (ms per iteration) under ``cost_model`` (default: the instance's
    :class:`AnalyticCostModel`)."""
    model = cost_model if cost_model is not None else AnalyticCostModel.from_instance(instance)
    devices = resolved_devices(instance)
    return [model.device_cost(group, devices[k]) for k, group in enumerate(tables_by_device(instance, device_of))]


def evaluate(
    instance: TableShardingInstance,
    design: Mapping[str, Any],
    cost_model: CostModel | None = None,
) -> Evaluation:
    """The largest device cost (ms), feasibility and violations of ``design``.

    ``breakdown``: ``max_device_cost_ms`` (= objective), ``mean_device_cost_ms``,
    ``imbalance`` (max / mean device cost; 1 is perfectly balanced, 0 for no cost),
    ``max_memory_utilization`` (largest used / memory), ``overfull_devices`` and
    ``unassigned_tables`` (counts), and per device ``k`` (the first
    :data:`MAX_BREAKDOWN_DEVICES`): ``device{k}_cost_ms`` and ``device{k}_memory_gb``
    (GB of tables on it). Raises ``ValueError`` only when ``design`` is not of the design
    form; an infeasible plan is evaluated and its violations listed.
    """
    parsed = parse_design(instance, design)
    devices = resolved_devices(instance)
    costs = device_costs(instance, parsed.device_of, cost_model)
    used = memory_used_bytes(instance, parsed.device_of)
    capacity = capacity_bytes(devices)
    over = over_capacity(used, capacity)
    violations = list(parsed.issues)
    groups = tables_by_device(instance, parsed.device_of)
    for k in np.flatnonzero(over).tolist():
        names = ", ".join(t.name for t in sorted(groups[k], key=lambda t: -table_bytes(t))[:5])
        more = "" if len(groups[k]) <= 5 else f" and {len(groups[k]) - 5} more"
        used_gb, cap_gb = used[k] / BYTES_PER_GB, devices[k].memory_gb
        violations.append(
            f"device {device_label(devices[k], k)} holds {format_gb(used_gb, other=cap_gb)} GB of tables, "
            f"over its {format_gb(cap_gb, other=used_gb)} GB memory (tables {names}{more})"
        )
    objective = max(costs, default=0.0)
    mean = math.fsum(costs) / len(costs) if costs else 0.0
    breakdown: dict[str, float] = {
        "max_device_cost_ms": objective,
        "mean_device_cost_ms": mean,
        "imbalance": objective / mean if mean > 0 else 0.0,
        "max_memory_utilization": float((used / capacity).max(initial=0.0)),
        "overfull_devices": float(over.sum()),
        "unassigned_tables": float(int((parsed.device_of == UNASSIGNED).sum())),
    }
    for k in range(min(len(devices), MAX_BREAKDOWN_DEVICES)):
        breakdown[f"device{k}_cost_ms"] = costs[k]
        breakdown[f"device{k}_memory_gb"] = float(used[k] / BYTES_PER_GB)
    return Evaluation(objective=objective, feasible=not violations, violations=tuple(violations), breakdown=breakdown)


def design_from_choice(instance: TableShardingInstance, device_of: Sequence[int] | IntArray) -> JsonDict:
    """The JSON design of an index-form choice (negative entries are left unassigned)."""
    return {"assign": {table.name: int(k) for table, k in zip(instance.tables, device_of, strict=True) if int(k) >= 0}}
