"""Named heuristics for ``table-sharding@1``, each ``(instance, seed) -> plan``.

The placement heuristics of the sharding literature (DreamShard, Zha et al. NeurIPS 2022,
compares with random, size-, dimension- and lookup-greedy experts; TorchRec's planner
places shards by estimated cost):

- ``random``: tables in a random order, each on a random device where it fits (seeded).
- ``round-robin``: table ``i`` (instance order) on device ``i mod N``, or the next device
  (cyclically) where it fits.
- ``greedy-size``, ``greedy-dim``, ``greedy-lookups``: tables by decreasing weight (bytes;
  dimension; lookups ``dim x pooling_factor``), each on the device with the least
  accumulated weight divided by its ``relative_speed`` among those where it fits (ties:
  less memory used, then the lower index).
- ``greedy-cost``: tables by decreasing standalone cost (the cost model's mean over devices
  of the table alone), each on the device whose *true* cost after adding it is smallest
  among those where it fits (ties: the lower index); the cost model sees the fusion and the
  saturation effects that the weights miss.

"Fits" uses the model's memory rule (whole KB, see :mod:`problems.table_sharding.model`), so
a plan that fits is feasible for the evaluator and for the solver (usable as a warm start).
A table that fits nowhere goes on the device with the least overflow; the plan is then
infeasible and :func:`~problems.table_sharding.evaluate.evaluate` says so. Only ``random``
uses the seed; the others are deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import numpy.typing as npt

from designsvc.core.types import JsonDict
from problems.table_sharding.cost import AnalyticCostModel, CostModel
from problems.table_sharding.evaluate import UNASSIGNED, design_from_choice
from problems.table_sharding.model import capacities_kb, sizes_kb
from problems.table_sharding.schema import Table, TableShardingInstance, resolved_devices

__all__ = [
    "BASELINES",
    "ShardingHeuristic",
    "greedy_cost",
    "greedy_dim",
    "greedy_lookups",
    "greedy_size",
    "random_fit",
    "round_robin",
]

ShardingHeuristic = Callable[[TableShardingInstance, int], JsonDict]

IntArray = npt.NDArray[np.int64]


class _Packer:
    """Memory bookkeeping shared by the heuristics (whole KB, as in the model)."""

    def __init__(self, instance: TableShardingInstance) -> None:
        self.size = np.asarray(sizes_kb(instance), dtype=np.int64)
        self.capacity = np.asarray(capacities_kb(instance), dtype=np.int64)
        self.used = np.zeros(self.capacity.size, dtype=np.int64)
        self.device_of = np.full(self.size.size, UNASSIGNED, dtype=np.int64)

    def fits(self, t: int) -> npt.NDArray[np.bool_]:
        return np.asarray(self.used + self.size[t] <= self.capacity)

    def place(self, t: int, d: int) -> None:
        self.device_of[t] = d
        self.used[d] += self.size[t]

    def place_overflowing(self, t: int) -> None:
        """On the device with the least overflow (used + size - capacity)."""
        self.place(t, int((self.used + self.size[t] - self.capacity).argmin()))


def random_fit(instance: TableShardingInstance, seed: int = 0) -> JsonDict:
    """Tables in a random order, each on a random device where it fits; seeded by ``seed``."""
    rng = np.random.default_rng(seed)
    packer = _Packer(instance)
    for t in rng.permutation(len(instance.tables)).tolist():
        fits = packer.fits(t)
        if fits.any():
            packer.place(t, int(rng.choice(np.flatnonzero(fits))))
        else:
            packer.place_overflowing(t)
    return design_from_choice(instance, packer.device_of)


def round_robin(instance: TableShardingInstance, seed: int = 0) -> JsonDict:
    """Table ``i`` on device ``i mod N`` or the next one where it fits; ``seed`` unused."""
    packer = _Packer(instance)
    num_devices = packer.capacity.size
    for t in range(len(instance.tables)):
        fits = packer.fits(t)
        if fits.any():
            order = [(t + step) % num_devices for step in range(num_devices)]
            packer.place(t, next(d for d in order if fits[d]))
        else:
            packer.place_overflowing(t)
    return design_from_choice(instance, packer.device_of)


def _weight_greedy(instance: TableShardingInstance, weights: Sequence[float]) -> JsonDict:
    """Tables by decreasing weight, each on the fitting device with the least accumulated
    weight / speed (ties: less memory used, lower index)."""
    packer = _Packer(instance)
    speed = np.array([d.relative_speed for d in resolved_devices(instance)])
    load = np.zeros(speed.size)
    w = np.asarray(weights, dtype=np.float64)
    for t in np.argsort(-w, kind="stable").tolist():
        fits = packer.fits(t)
        if fits.any():
            candidates = np.flatnonzero(fits).tolist()
            d = min(candidates, key=lambda k: (load[k] / speed[k], packer.used[k], k))
            packer.place(t, d)
        else:
            packer.place_overflowing(t)
            d = int(packer.device_of[t])
        load[d] += w[t]
    return design_from_choice(instance, packer.device_of)


def greedy_size(instance: TableShardingInstance, seed: int = 0) -> JsonDict:
    """Weight = table bytes; ``seed`` unused."""
    return _weight_greedy(instance, [float(t.rows * t.dim * t.bytes_per_element) for t in instance.tables])


def greedy_dim(instance: TableShardingInstance, seed: int = 0) -> JsonDict:
    """Weight = embedding dimension; ``seed`` unused."""
    return _weight_greedy(instance, [float(t.dim) for t in instance.tables])


def greedy_lookups(instance: TableShardingInstance, seed: int = 0) -> JsonDict:
    """Weight = ``dim x pooling_factor`` (elements read per sample); ``seed`` unused."""
    return _weight_greedy(instance, [t.dim * t.pooling_factor for t in instance.tables])


def greedy_cost(instance: TableShardingInstance, seed: int = 0, cost_model: CostModel | None = None) -> JsonDict:
    """TorchRec-planner style: tables by decreasing standalone cost, each on the fitting
    device whose true cost after adding it is smallest; ``seed`` unused."""
    model = cost_model if cost_model is not None else AnalyticCostModel.from_instance(instance)
    devices = resolved_devices(instance)
    standalone = [float(np.mean([model.device_cost([t], d) for d in devices])) for t in instance.tables]
    packer = _Packer(instance)
    groups: list[list[Table]] = [[] for _ in devices]
    for t in np.argsort(-np.asarray(standalone), kind="stable").tolist():
        table = instance.tables[t]
        fits = packer.fits(t)
        if fits.any():
            candidates = np.flatnonzero(fits).tolist()
            d = min(candidates, key=lambda k: (model.device_cost([*groups[k], table], devices[k]), k))
            packer.place(t, d)
        else:
            packer.place_overflowing(t)
            d = int(packer.device_of[t])
        groups[d].append(table)
    return design_from_choice(instance, packer.device_of)


BASELINES: Mapping[str, ShardingHeuristic] = {
    "greedy-cost": greedy_cost,
    "greedy-lookups": greedy_lookups,
    "greedy-size": greedy_size,
    "greedy-dim": greedy_dim,
    "round-robin": round_robin,
    "random": random_fit,
}
"""The heuristics by name, in the order results list them."""
