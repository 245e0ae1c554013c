"""Named heuristics for ``assignment@1``, each ``(instance, seed) -> design``.

- ``greedy-cost``: the regret heuristic MTHG of Martello & Toth ("An algorithm for the
  generalized assignment problem", Operational Research '81, pp. 589-603; also their book
  *Knapsack Problems*, 1990, section 7.4). A pass repeatedly takes the unassigned item with
  the largest regret (the difference between its two best bins, by a desirability, among
  the bins where it still fits; infinite when only one fits) and puts it into its best bin
  where it fits; regrets are updated as bins fill up. Then each item moves to its cheapest
  bin with room when that is cheaper. As in MTHG, passes run with several desirabilities,
  here cost, cost x size, size and size / capacity, and the cheapest design that places
  every item wins. Cost alone ignores sizes and, on Chu & Beasley type C instances
  (capacities at 0.8 of the average load), leaves items without room almost always; the
  size-aware passes nearly always fit everything.
- ``first-fit``: items by decreasing mean size, each into the first bin (instance order)
  where it fits.
- ``random-fit``: items in a random order, each into a random bin where it fits (seeded).

When an item fits nowhere (in ``greedy-cost``: in every pass, taking the cost pass's
design), every heuristic puts it into the bin with the least overload
(load + size - capacity, size unit); the design is then infeasible and
:func:`~problems.assignment.evaluate.evaluate` says so. ``greedy-cost`` and ``first-fit`` are
deterministic and ignore the seed. Fitting uses the evaluator's tolerance.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import numpy.typing as npt

from designsvc.core.types import JsonDict
from problems.assignment.evaluate import (
    LOAD_TOLERANCE,
    UNASSIGNED,
    capacities,
    costs_matrix,
    design_from_choice,
    sizes_matrix,
)
from problems.assignment.schema import AssignmentInstance

__all__ = ["BASELINES", "AssignmentHeuristic", "first_fit", "greedy_cost", "random_fit"]

AssignmentHeuristic = Callable[[AssignmentInstance, int], JsonDict]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def greedy_cost(instance: AssignmentInstance, seed: int = 0) -> JsonDict:
    """Martello & Toth's MTHG (see the module docstring); deterministic, ``seed`` unused."""
    sizes, costs, cap = sizes_matrix(instance), costs_matrix(instance), capacities(instance)
    limit = _limit(cap)
    best_design: IntArray | None = None
    best_cost = np.inf
    fallback: IntArray | None = None
    for desirability in (
        costs,
        costs * sizes,
        sizes,
        sizes / np.maximum(cap, np.finfo(np.float64).tiny),
    ):
        bin_of, left = _regret_pass(desirability, sizes, limit)
        if left.size:
            if fallback is None:
                fallback = bin_of.copy()
                _place_overloaded(left, sizes, cap, _loads(sizes, bin_of), fallback)
            continue
        _improve(bin_of, sizes, costs, limit)
        cost = float(costs[np.arange(bin_of.size), bin_of].sum())
        if cost < best_cost:
            best_design, best_cost = bin_of, cost
    chosen = best_design if best_design is not None else fallback
    assert chosen is not None
    return design_from_choice(instance, chosen)


def _regret_pass(desirability: FloatArray, sizes: FloatArray, limit: FloatArray) -> tuple[IntArray, IntArray]:
    """One MTHG pass: repeatedly place the item with the largest regret (the gap between
    its two lowest ``desirability`` values over bins where it still fits; infinite when one
    bin fits) into its best fitting bin. Returns ``bin_of`` and the items that fit nowhere
    (left :data:`UNASSIGNED`)."""
    num_items, num_bins = sizes.shape
    load = np.zeros(num_bins)
    allowed = np.where(sizes <= limit, desirability, np.inf)
    best = np.zeros(num_items, dtype=np.int64)
    second = np.zeros(num_items, dtype=np.int64)
    regret = np.zeros(num_items)

    def refresh(rows: IntArray) -> None:
        sub = allowed[rows]
        if num_bins == 1:
            best[rows] = 0
            second[rows] = 0
            lowest, runner_up = sub[:, 0], np.full(rows.size, np.inf)
        else:
            two = np.argpartition(sub, 1, axis=1)[:, :2]
            best[rows], second[rows] = two[:, 0], two[:, 1]
            lowest = np.take_along_axis(sub, two[:, :1], axis=1)[:, 0]
            runner_up = np.take_along_axis(sub, two[:, 1:], axis=1)[:, 0]
        # No fitting bin: -inf (left for later); one fitting bin: +inf (most urgent).
        with np.errstate(invalid="ignore"):
            regret[rows] = np.where(np.isfinite(lowest), runner_up - lowest, -np.inf)

    refresh(np.arange(num_items))
    bin_of = np.full(num_items, UNASSIGNED, dtype=np.int64)
    is_open = np.ones(num_items, dtype=bool)
    while True:
        priority = np.where(is_open, regret, -np.inf)
        i = int(priority.argmax())
        if not (is_open[i] and priority[i] > -np.inf):
            break
        b = int(best[i])
        bin_of[i] = b
        is_open[i] = False
        load[b] += sizes[i, b]
        column = allowed[:, b]  # a view: updating it updates allowed
        newly = is_open & np.isfinite(column) & (load[b] + sizes[:, b] > limit[b])
        if newly.any():
            column[newly] = np.inf
            stale = np.flatnonzero(newly & ((best == b) | (second == b)))
            if stale.size:
                refresh(stale)
    return bin_of, np.flatnonzero(is_open)


def _improve(bin_of: IntArray, sizes: FloatArray, costs: FloatArray, limit: FloatArray) -> None:
    """MTHG's second phase: each item in turn moves to its cheapest bin with room for it,
    when that is cheaper than where it is (``bin_of`` is updated in place)."""
    load = _loads(sizes, bin_of)
    for i in range(bin_of.size):
        here = int(bin_of[i])
        room = load + sizes[i] <= limit
        room[here] = True
        b = int(np.where(room, costs[i], np.inf).argmin())
        if costs[i, b] < costs[i, here]:
            load[here] -= sizes[i, here]
            load[b] += sizes[i, b]
            bin_of[i] = b


def first_fit(instance: AssignmentInstance, seed: int = 0) -> JsonDict:
    """Items by decreasing mean size (stable), each into the first bin where it fits;
    deterministic, ``seed`` unused."""
    sizes, cap = sizes_matrix(instance), capacities(instance)
    order = np.argsort(-sizes.mean(axis=1), kind="stable")
    return design_from_choice(instance, _fit(order, sizes, cap, lambda fits: int(fits.argmax())))


def random_fit(instance: AssignmentInstance, seed: int = 0) -> JsonDict:
    """Items in a random order, each into a random bin where it fits; seeded by ``seed``."""
    rng = np.random.default_rng(seed)
    sizes, cap = sizes_matrix(instance), capacities(instance)
    order = rng.permutation(len(instance.items))
    return design_from_choice(instance, _fit(order, sizes, cap, lambda fits: int(rng.choice(np.flatnonzero(fits)))))


BASELINES: Mapping[str, AssignmentHeuristic] = {
    "greedy-cost": greedy_cost,
    "first-fit": first_fit,
    "random-fit": random_fit,
}
"""The heuristics by name, in the order results list them."""


def _limit(cap: FloatArray) -> FloatArray:
    """The largest load each bin may reach (the evaluator's tolerance included)."""
    return np.asarray(cap + LOAD_TOLERANCE * np.maximum(cap, 1.0))


def _fit(
    order: IntArray,
    sizes: FloatArray,
    cap: FloatArray,
    pick: Callable[[npt.NDArray[np.bool_]], int],
) -> IntArray:
    """Place items in ``order``, each into ``pick(fits)`` when some bin fits it, else into
    the bin with the least overload."""
    limit = _limit(cap)
    load = np.zeros(sizes.shape[1])
    bin_of = np.full(sizes.shape[0], UNASSIGNED, dtype=np.int64)
    for i in order.tolist():
        fits = load + sizes[i] <= limit
        if fits.any():
            b = pick(fits)
            bin_of[i] = b
            load[b] += sizes[i, b]
        else:
            _place_overloaded(np.array([i]), sizes, cap, load, bin_of)
    return bin_of


def _loads(sizes: FloatArray, bin_of: IntArray) -> FloatArray:
    placed = np.flatnonzero(bin_of >= 0)
    return np.bincount(bin_of[placed], weights=sizes[placed, bin_of[placed]], minlength=sizes.shape[1]).astype(
        np.float64
    )


def _place_overloaded(rows: IntArray, sizes: FloatArray, cap: FloatArray, load: FloatArray, bin_of: IntArray) -> None:
    """Put each item of ``rows`` into the bin with the least overload (updates ``load``)."""
    for i in rows.tolist():
        b = int((load + sizes[i] - cap).argmin())
        bin_of[i] = b
        load[b] += sizes[i, b]
