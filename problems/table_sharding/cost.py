"""Device cost models of ``table-sharding@1``: milliseconds per training iteration of one
device given the tables on it.

A cost model is anything with ``device_cost(tables_on_device, device) -> float`` (ms, the
device's speed included; :class:`CostModel`), so a learned (neural) model can replace the
analytic one later. The true objective of a plan is the largest device cost (the slowest
device sets the iteration time of synchronous training).

:class:`AnalyticCostModel`: for a device ``d`` with ``relative_speed`` ``s_d`` holding the
non-empty set ``S`` of tables, with batch size ``B`` and, per table ``t``, pooling factor
``P_t``, dimension ``D_t``, bytes per element ``b_t``, rows ``R_t`` and Zipf exponent
``alpha_t`` (parameter names of :class:`~problems.table_sharding.schema.CostParameters` in
``code`` font; bandwidths in GB/s, 1 GB = 10**9 bytes)::

    cost_d(S) = (lookup(S) + kernel(S) + comm(S) + saturation(S)) / s_d      [ms]
    cost_d({}) = 0

(a) lookup, memory-bandwidth bound, with skew-dependent cache hits::

        bytes_t   = B * P_t * D_t * b_t * (1 + backward_multiplier)
        h_t       = H(k_t, alpha_t) / H(R_t, alpha_t),   k_t = min(R_t, cache_bytes / (D_t * b_t))
        lookup(S) = sum_t bytes_t * ((1 - h_t) / hbm_bandwidth + h_t / cache_bandwidth)

    ``H(n, a) = sum_{i<=n} i**-a`` (generalized harmonic number): ``h_t`` is the share of
    lookups that hit the ``k_t`` hottest rows kept in the table's cache share
    (``cache_mb_per_table``). The effective bandwidth ``bytes / time`` grows with skew and
    saturates at ``cache_bandwidth`` as ``h_t -> 1``.

(b) fused kernels: the tables of a device run in one table-batched kernel per pass, so the
    launch overhead is paid once per device::

        kernel(S) = kernel_launch_ms + per_table_ms * |S|

    Costs are therefore sub-additive: for disjoint non-empty ``A``, ``B`` below the
    saturation threshold, ``cost(A | B) = cost(A) + cost(B) - kernel_launch_ms / s_d``.

(c) all-to-all of pooled embeddings (forward outputs and backward gradients)::

        comm(S) = 2 * B * sum_t D_t * output_bytes_per_element * (N - 1) / N / interconnect_bandwidth

    with ``N`` devices (a share ``1/N`` of the batch stays on the device).

(d) memory-bandwidth saturation: with the device-memory traffic
    ``Q(S) = sum_t bytes_t * (1 - h_t)`` and ``Q0 = saturation_gb``::

        saturation(S) = saturation_penalty * max(0, Q(S) - Q0)**2 / (Q0 * hbm_bandwidth)

    zero up to the threshold, then quadratic (superlinear), continuous with a continuous
    slope at ``Q0``.

Every term is non-negative and none shrinks when a table is added, so the cost is monotone
in ``S``. The model is analytic and deterministic: a stand-in for measurements, shaped by
published observations (sources in the comments below), not fitted to any machine.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from problems.table_sharding.schema import (
    BYTES_PER_GB,
    CostParameters,
    Device,
    Table,
    TableShardingInstance,
    resolved_devices,
)

__all__ = [
    "AnalyticCostModel",
    "CostModel",
    "CostTerms",
    "TableTraffic",
    "harmonic",
    "zipf_hit_fraction",
]

# Sources for the modelling choices (read for the ideas; no code taken from them):
# - M. Naumov et al., "Deep Learning Recommendation Model for Personalization and
#   Recommendation Systems", arXiv:1906.00091, 2019: embedding lookups are bound by memory
#   bandwidth, embeddings are model-parallel, and the pooled embeddings travel in an
#   all-to-all (terms a and c).
# - TorchRec's planner (D. Ivchenko et al., "TorchRec: a PyTorch Domain Library for
#   Recommendation Systems", RecSys 2022; torchrec/distributed/planner/shard_estimators.py):
#   per-shard compute estimated as bytes read and written over a device bandwidth, the
#   backward pass as a multiple of the forward, communication as output bytes over a link
#   bandwidth, caches through expected hit rates (terms a and c, backward_multiplier).
# - D. Zha et al., "DreamShard: Generalizable Embedding Table Placement for Recommender
#   Systems", NeurIPS 2022, and "Pre-train and Search: Efficient Embedding Table Sharding
#   with Pre-trained Neural Cost Models" (NeuroShard), MLSys 2023: the tables of a device
#   run as one fused (FBGEMM table-batched) operation whose cost is not the sum of the
#   tables' costs; plans are scored by the slowest device (terms b and d, the objective).
#   Their cost networks learn this non-additivity from measurements; here a launch overhead
#   paid once (b) and a convex contention penalty (d, our modelling choice) stand for it.
# - G. Sethi et al., "RecShard: Statistical Feature-Based Memory Optimization for
#   Industry-Scale Neural Recommendation", ASPLOS 2022: row accesses are highly skewed, so a
#   small fast memory serves most lookups (the Zipf hit fraction of term a).
# - A. Ferber et al., "SurCo: Learning Linear Surrogates for Combinatorial Nonlinear
#   Optimization Problems", ICML 2023: embedding table sharding as a benchmark where a
#   linear surrogate cost is learned for a MILP over the feasible placements.

_HEAD_TERMS = 1024
"""H(n, a) sums this many terms exactly; the rest by the corrected midpoint rule."""


@runtime_checkable
class CostModel(Protocol):
    """A device cost model: ``device_cost(tables_on_device, device)`` is the device's time
    per training iteration in milliseconds (>= 0, 0 for no tables), its ``relative_speed``
    included. Implementations should be monotone (adding a table never lowers the cost);
    the evaluator, the baselines and the model's surrogate costs only call this method."""

    def device_cost(self, tables_on_device: Sequence[Table], device: Device) -> float: ...


@dataclass(frozen=True)
class TableTraffic:
    """Per-table quantities of the analytic model on the reference device:
    ``lookup_bytes`` (forward and backward, per iteration), ``hit_fraction`` (share of
    lookups served by the cache, in [0, 1]), ``hbm_bytes`` (device-memory traffic, the
    misses), ``lookup_ms`` (term a) and ``comm_ms`` (term c)."""

    lookup_bytes: float
    hit_fraction: float
    hbm_bytes: float
    lookup_ms: float
    comm_ms: float


@dataclass(frozen=True)
class CostTerms:
    """The four terms of :class:`AnalyticCostModel` for one device, in ms, each already
    divided by the device's ``relative_speed``; ``total_ms`` is their sum."""

    lookup_ms: float = 0.0
    kernel_ms: float = 0.0
    comm_ms: float = 0.0
    saturation_ms: float = 0.0

    @property
    def total_ms(self) -> float:
        return self.lookup_ms + self.kernel_ms + self.comm_ms + self.saturation_ms

    def as_dict(self) -> dict[str, float]:
        """``{"lookup": ..., "kernel": ..., "comm": ..., "saturation": ...}`` in ms."""
        return {
            "lookup": self.lookup_ms,
            "kernel": self.kernel_ms,
            "comm": self.comm_ms,
            "saturation": self.saturation_ms,
        }


def harmonic(n: int, alpha: float) -> float:
    """The generalized harmonic number ``H(n, alpha) = sum_{i=1..n} i**-alpha`` (n >= 0):
    the first 1024 terms exactly, the tail by the midpoint rule
    ``integral_{1024.5}^{n+0.5} x**-alpha dx`` with its first Euler-Maclaurin correction
    (relative error below 1e-12 for alpha in [0, 10])."""
    if n <= 0:
        return 0.0
    head = min(n, _HEAD_TERMS)
    total = math.fsum(i**-alpha for i in range(1, head + 1))
    if n > head:
        lo, hi = math.log(head + 0.5), math.log(n + 0.5)
        a = 1.0 - alpha
        if abs(a) < 1e-12:
            total += hi - lo
        else:
            total += math.exp(a * lo) * math.expm1(a * (hi - lo)) / a
        # Euler-Maclaurin correction of the midpoint rule: -(f'(n + 1/2) - f'(1024.5)) / 24.
        total += alpha / 24.0 * (math.exp((-alpha - 1.0) * hi) - math.exp((-alpha - 1.0) * lo))
    return total


def zipf_hit_fraction(cached_rows: int, rows: int, alpha: float) -> float:
    """The share of lookups that hit the ``cached_rows`` most popular of ``rows`` rows when
    row ``i`` (by popularity) is looked up with probability proportional to ``i**-alpha``:
    ``H(k, alpha) / H(rows, alpha)``; 0 for no cache, 1 when every row is cached, ``k/rows``
    for uniform accesses (``alpha = 0``)."""
    if cached_rows <= 0:
        return 0.0
    if cached_rows >= rows:
        return 1.0
    return min(1.0, harmonic(cached_rows, alpha) / harmonic(rows, alpha))


class AnalyticCostModel:
    """The analytic cost model of the module docstring.

    ``params`` are the instance's cost parameters, ``batch_size`` the global batch
    (samples per iteration), ``num_devices`` the number of devices ``N`` (for the
    all-to-all share). Per-table quantities are computed once and cached by value."""

    def __init__(self, params: CostParameters, *, batch_size: int, num_devices: int) -> None:
        if batch_size < 1 or num_devices < 1:
            raise ValueError(f"batch_size and num_devices must be >= 1, got {batch_size}, {num_devices}")
        self.params = params
        self.batch_size = batch_size
        self.num_devices = num_devices
        self._traffic: dict[tuple[int, int, float, float, int], TableTraffic] = {}

    @classmethod
    def from_instance(cls, instance: TableShardingInstance) -> AnalyticCostModel:
        """The model with ``instance``'s parameters, batch size and number of devices."""
        return cls(
            instance.cost_model,
            batch_size=instance.batch_size,
            num_devices=max(1, len(resolved_devices(instance))),
        )

    def traffic(self, table: Table) -> TableTraffic:
        """Per-table quantities (reference device, see :class:`TableTraffic`)."""
        key = (table.rows, table.dim, table.pooling_factor, table.zipf_alpha, table.bytes_per_element)
        known = self._traffic.get(key)
        if known is not None:
            return known
        p = self.params
        row_bytes = table.dim * table.bytes_per_element
        lookup_bytes = self.batch_size * table.pooling_factor * row_bytes * (1.0 + p.backward_multiplier)
        cached_rows = min(table.rows, math.floor(p.cache_mb_per_table * 1e6 / row_bytes))
        hit = zipf_hit_fraction(cached_rows, table.rows, table.zipf_alpha)
        seconds = lookup_bytes * ((1.0 - hit) / p.hbm_bandwidth_gbps + hit / p.cache_bandwidth_gbps) / BYTES_PER_GB
        share_out = (self.num_devices - 1) / self.num_devices
        comm_bytes = 2.0 * self.batch_size * table.dim * p.output_bytes_per_element * share_out
        traffic = TableTraffic(
            lookup_bytes=lookup_bytes,
            hit_fraction=hit,
            hbm_bytes=lookup_bytes * (1.0 - hit),
            lookup_ms=1e3 * seconds,
            comm_ms=1e3 * comm_bytes / (p.interconnect_bandwidth_gbps * BYTES_PER_GB),
        )
        self._traffic[key] = traffic
        return traffic

    def terms(self, tables_on_device: Sequence[Table], device: Device) -> CostTerms:
        """The four cost terms of ``device`` holding ``tables_on_device`` (ms each)."""
        if not tables_on_device:
            return CostTerms()
        p = self.params
        rows = [self.traffic(t) for t in tables_on_device]
        hbm_bytes = math.fsum(r.hbm_bytes for r in rows)
        threshold = p.saturation_gb * BYTES_PER_GB
        excess = max(0.0, hbm_bytes - threshold)
        saturation_ms = 1e3 * p.saturation_penalty * excess * excess / (threshold * p.hbm_bandwidth_gbps * BYTES_PER_GB)
        speed = device.relative_speed
        return CostTerms(
            lookup_ms=math.fsum(r.lookup_ms for r in rows) / speed,
            kernel_ms=(p.kernel_launch_ms + p.per_table_ms * len(rows)) / speed,
            comm_ms=math.fsum(r.comm_ms for r in rows) / speed,
            saturation_ms=saturation_ms / speed,
        )

    def device_cost(self, tables_on_device: Sequence[Table], device: Device) -> float:
        """``terms(...).total_ms``: ms per iteration of ``device`` holding these tables."""
        return self.terms(tables_on_device, device).total_ms
