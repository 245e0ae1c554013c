"""The ground-truth evaluator of ``assignment@1`` designs, independent of Pyomo.

A design is JSON: ``{"assignment": {item_name: bin_name, ...}}``. Its objective is the total
cost (the currency of the instance) of the items that are assigned to a known bin. It is
feasible iff every item is assigned to exactly one known bin, no unknown item is named, and
every bin's load (the sum of the sizes, in that bin, of its items; the size unit) is at most
its capacity, within :data:`LOAD_TOLERANCE` relative (absolute below a capacity of 1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from designsvc.core.problem import design_member
from designsvc.core.types import Evaluation, JsonDict
from problems.assignment.schema import AssignmentInstance

__all__ = [
    "LOAD_TOLERANCE",
    "UNASSIGNED",
    "ParsedDesign",
    "bin_loads",
    "capacities",
    "costs_matrix",
    "design_from_choice",
    "evaluate",
    "overloaded",
    "parse_design",
    "sizes_matrix",
]

LOAD_TOLERANCE = 1e-9
"""A bin is overloaded when ``load > capacity + LOAD_TOLERANCE * max(capacity, 1)``."""

UNASSIGNED = -1
"""The bin index of an item that is not (validly) assigned."""

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ParsedDesign:
    """A design in index form: ``bin_of[i]`` is the bin position of item ``i`` (or
    :data:`UNASSIGNED`); ``issues`` has one human line per item that is not validly assigned
    and per unknown item; ``malformed`` is the part of ``issues`` about names or values that
    are not in the instance (everything but plainly missing items)."""

    bin_of: IntArray
    issues: tuple[str, ...]
    malformed: tuple[str, ...]


def sizes_matrix(instance: AssignmentInstance) -> FloatArray:
    """Sizes as an ``(items, bins)`` array, in the size unit."""
    return np.array([item.sizes for item in instance.items], dtype=np.float64).reshape(
        len(instance.items), len(instance.bins)
    )


def costs_matrix(instance: AssignmentInstance) -> FloatArray:
    """Costs as an ``(items, bins)`` array, in the currency."""
    return np.array([item.costs for item in instance.items], dtype=np.float64).reshape(
        len(instance.items), len(instance.bins)
    )


def capacities(instance: AssignmentInstance) -> FloatArray:
    """Capacities as a ``(bins,)`` array, in the size unit."""
    return np.array([b.capacity for b in instance.bins], dtype=np.float64)


def overloaded(loads: FloatArray, capacity: FloatArray) -> npt.NDArray[np.bool_]:
    """Which bins exceed their capacity beyond :data:`LOAD_TOLERANCE`."""
    return np.asarray(loads > capacity + LOAD_TOLERANCE * np.maximum(capacity, 1.0))


def parse_design(instance: AssignmentInstance, design: Mapping[str, Any]) -> ParsedDesign:
    """Read ``design`` into index form, collecting malformed entries as issues.

    Raises ``ValueError`` when ``design`` does not have the form
    ``{"assignment": {item_name: bin_name}}`` at all.
    """
    assignment = design_member(design, "assignment", "{item_name: bin_name}")
    item_index = {item.name: i for i, item in enumerate(instance.items)}
    bin_index = {b.name: k for k, b in enumerate(instance.bins)}
    bin_of = np.full(len(instance.items), UNASSIGNED, dtype=np.int64)
    bad_bin: dict[int, str] = {}
    unknown_items: list[str] = []
    for item_name, bin_name in assignment.items():
        i = item_index.get(item_name) if isinstance(item_name, str) else None
        if i is None:
            unknown_items.append(f"unknown item {item_name!r} is assigned to {bin_name!r}")
            continue
        k = bin_index.get(bin_name) if isinstance(bin_name, str) else None
        if k is None:
            what = "unknown bin" if isinstance(bin_name, str) else "a value that is not a bin name:"
            bad_bin[i] = f"item {item_name} is assigned to {what} {bin_name!r}"
        else:
            bin_of[i] = k
    issues: list[str] = []
    for i in np.flatnonzero(bin_of == UNASSIGNED).tolist():
        issues.append(bad_bin.get(i) or f"item {instance.items[i].name} is not assigned")
    issues.extend(unknown_items)
    malformed = [bad_bin[i] for i in sorted(bad_bin)] + unknown_items
    return ParsedDesign(bin_of=bin_of, issues=tuple(issues), malformed=tuple(malformed))


def bin_loads(sizes: FloatArray, bin_of: IntArray) -> FloatArray:
    """Load of each bin (size unit) given ``bin_of`` (unassigned items count nowhere)."""
    num_bins = sizes.shape[1]
    placed = bin_of >= 0
    rows = np.flatnonzero(placed)
    return np.bincount(bin_of[placed], weights=sizes[rows, bin_of[placed]], minlength=num_bins).astype(np.float64)


def evaluate(instance: AssignmentInstance, design: Mapping[str, Any]) -> Evaluation:
    """Total cost, feasibility and violations of ``design``.

    ``breakdown``: ``cost`` (= objective, currency), ``max_utilization`` (largest load /
    capacity over bins with capacity > 0; an overloaded zero-capacity bin is counted in
    ``overloaded_bins`` only), ``overloaded_bins`` and ``unassigned_items`` (counts, items
    not validly assigned). Raises ``ValueError`` when ``design`` is not of the design form.
    """
    parsed = parse_design(instance, design)
    sizes = sizes_matrix(instance)
    costs = costs_matrix(instance)
    capacity = capacities(instance)
    placed = np.flatnonzero(parsed.bin_of >= 0)
    cost = float(costs[placed, parsed.bin_of[placed]].sum())
    loads = bin_loads(sizes, parsed.bin_of)
    over = overloaded(loads, capacity)
    positive = capacity > 0
    utilization = float((loads[positive] / capacity[positive]).max()) if positive.any() else 0.0
    violations = list(parsed.issues)
    for k in np.flatnonzero(over).tolist():
        violations.append(f"bin {instance.bins[k].name} load {_fmt(loads[k])} exceeds capacity {_fmt(capacity[k])}")
    return Evaluation(
        objective=cost,
        feasible=not violations,
        violations=tuple(violations),
        breakdown={
            "cost": cost,
            "max_utilization": utilization,
            "overloaded_bins": float(over.sum()),
            "unassigned_items": float(len(instance.items) - placed.size),
        },
    )


def design_from_choice(instance: AssignmentInstance, bin_of: Sequence[int] | IntArray) -> JsonDict:
    """The JSON design of an index-form choice (negative entries are left unassigned)."""
    names = [b.name for b in instance.bins]
    return {
        "assignment": {item.name: names[int(k)] for item, k in zip(instance.items, bin_of, strict=True) if int(k) >= 0}
    }


def _fmt(value: float) -> str:
    """A number as a person writes it: ``30.0 -> "30"``, ``31.5 -> "31.5"``."""
    return f"{float(value):.12g}"
