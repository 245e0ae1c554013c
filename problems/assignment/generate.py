"""Seeded random ``assignment@1`` instances and the built-in named instances.

The generator follows Chu & Beasley's type C GAP instances (P. C. Chu and J. E. Beasley,
"A genetic algorithm for the generalised assignment problem", Computers & Operations
Research 24(1), 1997, pp. 17-23; the OR-Library ``gapc`` sets): sizes are uniform integers in
[5, 25], costs uniform integers in [10, 50], and each bin's capacity is
``floor(tightness * sum_i size[i][b] / bins)`` with ``tightness = 0.8``. Every value is an
integral float, so integer-only backends (CP-SAT) take the instance exactly.

Feasibility is guaranteed by a certificate: the design that puts each item into a bin where
it is smallest (ties broken at random) must fit, so a bin whose capacity is below that
design's load is raised to it (rare with 10 or more items per bin). Draws come from
``numpy.random.default_rng(seed)`` in a fixed order (sizes, costs, tie-breaks), so a seed
and a size give the same instance.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from problems.assignment.schema import MAX_VARIABLES, AssignmentInstance, Bin, Item

__all__ = ["BUILTIN_INSTANCES", "DEFAULT_BINS", "DEFAULT_ITEMS", "generate"]

DEFAULT_ITEMS = 40
DEFAULT_BINS = 5
SIZE_RANGE = (5, 25)
COST_RANGE = (10, 50)


def generate(
    seed: int,
    items: int = DEFAULT_ITEMS,
    bins: int = DEFAULT_BINS,
    *,
    tightness: float = 0.8,
    name: str = "",
) -> AssignmentInstance:
    """A feasible Chu & Beasley type C instance with ``items`` items and ``bins`` bins.

    ``tightness`` scales capacities (0.8 in the reference; smaller is tighter, but the
    certificate keeps every instance feasible). ``name`` defaults to
    ``"gap-{items}x{bins}-s{seed}"``. Items are named ``i1..iN``, bins ``B1..BM``.
    Raises ``ValueError`` for a size below 1, above the schema's limit, or a bad tightness.
    """
    if items < 1 or bins < 1:
        raise ValueError(f"items and bins must be >= 1, got items={items}, bins={bins}")
    if items * bins > MAX_VARIABLES:
        raise ValueError(f"items x bins = {items * bins:,} exceeds the limit of {MAX_VARIABLES:,}")
    if not (0 < tightness <= 10):
        raise ValueError(f"tightness must be in (0, 10], got {tightness}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    rng = np.random.default_rng(seed)
    sizes = rng.integers(SIZE_RANGE[0], SIZE_RANGE[1], size=(items, bins), endpoint=True)
    costs = rng.integers(COST_RANGE[0], COST_RANGE[1], size=(items, bins), endpoint=True)
    capacity = np.floor(tightness * sizes.sum(axis=0) / bins)
    # Ties between equal smallest sizes are broken at random so that no bin takes them all.
    smallest = (sizes + 0.5 * rng.random(size=(items, bins))).argmin(axis=1)
    certificate = np.bincount(smallest, weights=sizes[np.arange(items), smallest], minlength=bins)
    capacity = np.maximum(capacity, certificate)
    return AssignmentInstance(
        name=name or f"gap-{items}x{bins}-s{seed}",
        bins=[Bin(name=f"B{b + 1}", capacity=float(c)) for b, c in enumerate(capacity.tolist())],
        items=[
            Item(
                name=f"i{i + 1}",
                sizes=[float(s) for s in size_row],
                costs=[float(c) for c in cost_row],
            )
            for i, (size_row, cost_row) in enumerate(zip(sizes.tolist(), costs.tolist(), strict=True))
        ],
    )


def _builtin(name: str, seed: int, items: int, bins: int) -> Callable[[], AssignmentInstance]:
    def make() -> AssignmentInstance:
        return generate(seed, items, bins, name=name)

    make.__doc__ = f"The built-in instance {name!r}: generate(seed={seed}, items={items}, bins={bins})."
    return make


BUILTIN_INSTANCES: Mapping[str, Callable[[], AssignmentInstance]] = {
    "gap-10x3": _builtin("gap-10x3", 1, 10, 3),
    "gap-40x5": _builtin("gap-40x5", 2, 40, 5),
    "gap-200x10": _builtin("gap-200x10", 3, 200, 10),
}
"""Named instances (``"instance_ref": "builtin:NAME"``), each built afresh on call."""
