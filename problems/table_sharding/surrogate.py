"""The linear-surrogate view of ``table-sharding@1`` (for SurCo-style proposers; see
:mod:`designsvc.core.surrogate`).

The cost matrix ``c`` has one row per table and one column per device (positions as in the
model, :mod:`problems.table_sharding.model`); ``build_model(fixed={"costs": c})`` minimizes
``sum c[t, d] x[t, d]`` over the memory-feasible plans.

**Relaxed objective.** The true objective (the evaluator's) is the largest device cost of
:class:`~problems.table_sharding.cost.AnalyticCostModel`. For a fractional plan ``x`` in
``[0, 1]^(T x D)`` (``x[t, d]``: the share of table ``t`` on device ``d``), with per table
``W_t = lookup_ms_t + comm_ms_t + per_table_ms`` (ms on the reference device) and
``Q_t = hbm_bytes_t`` (device-memory traffic, bytes), device ``d`` of speed ``s_d`` costs::

    cost_d(x) = ( sum_t x[t,d] W_t                       lookup, comm, per-table kernel
                + kernel_launch_ms * (1 - prod_t (1 - x[t,d]))   launch, paid once if used
                + S(sum_t x[t,d] Q_t) ) / s_d            saturation
    S(Q) = 1e3 * saturation_penalty * max(0, Q - Q0)**2 / (Q0 * hbm_bandwidth_gbps * 1e9)   [ms]

with ``Q0 = saturation_gb * 1e9`` bytes. ``1 - prod_t (1 - x[t,d])`` is the multilinear
extension of "the device holds a table": 1 when it holds one, 0 when empty. At a 0/1 plan
every term equals the analytic model's, so ``cost_d`` is the device cost exactly (up to
floating-point summation order). The objective is ``max_d cost_d(x)`` (temperature 0; its
gradient is that of the first device attaining the maximum, a subgradient at ties), or with
``temperature = tau > 0`` (ms) the log-sum-exp ``tau * log sum_d exp(cost_d / tau)``, which
is smooth, lies in ``[max, max + tau log D]``, and whose gradient weights each device's
gradient by its softmax share. Gradient of one device's cost (ms per unit of ``x``)::

    d cost_d / d x[t,d] = ( W_t + kernel_launch_ms * prod_{s != t} (1 - x[s,d])
                          + S'(Q_d) Q_t ) / s_d,      S'(Q) = 2e3 * pen * max(0, Q - Q0) / (Q0 * bw * 1e9)

**Calibrated cost model.** When the instance names a ``calibration``, ``cost_d(x)`` and its
gradient are those of the relaxed form in :mod:`problems.table_sharding.neural` (network
compute ms times "the device is used", plus the analytic all-to-all), again equal to the
device cost at 0/1 plans; max and log-sum-exp over devices as above. The features below
stay the analytic model's (a learned prior's checkpoint checks their names).

**Features** (scale-free, for a learned prior; ``W``, ``Q``, ``M`` (bytes of a table) as
above, sums over tables, ``D`` devices)::

    load_share      W_t / (sum W / D)       the table's share of an even device load
    lookup_fraction lookup_ms_t / W_t
    hbm_share       Q_t / (sum Q / D)
    hbm_saturation  Q_t / Q0
    memory_share    M_t / (mean device memory)
    hit_fraction    share of lookups served by the cache
    load_rank       sum of W_s over tables s with W_s > W_t, / sum W   (in [0, 1))
    hbm_rank        the same for Q
    memory_rank     the same for M

Column features: ``speed_share`` (``s_d`` / mean speed) and ``memory_share`` (memory /
mean memory). Context: ``inverse_devices`` (1/D), ``log_tables_per_device`` (log(T/D)),
``memory_utilization`` (sum M / total memory), ``saturation_pressure`` (sum Q / (D Q0)) and
``launch_share`` (kernel_launch_ms / (sum W / D)). Ranks use strict comparisons, so tables
with equal values get equal features: nothing depends on the order of the tables.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from designsvc.core.surrogate import FloatArray, SurrogateInterface
from designsvc.core.types import JsonDict
from problems.table_sharding.cost import AnalyticCostModel, CostModel
from problems.table_sharding.evaluate import UNASSIGNED, design_from_choice, parse_design
from problems.table_sharding.model import TICK_MS, standalone_ticks
from problems.table_sharding.neural import CalibratedCostModel
from problems.table_sharding.schema import BYTES_PER_GB, TableShardingInstance, resolved_devices, table_bytes

__all__ = [
    "COLUMN_FEATURE_NAMES",
    "CONTEXT_NAMES",
    "FEATURE_NAMES",
    "RelaxedCalibratedMakespan",
    "RelaxedMakespan",
    "surrogate_interface",
]

FEATURE_NAMES = (
    "load_share",
    "lookup_fraction",
    "hbm_share",
    "hbm_saturation",
    "memory_share",
    "hit_fraction",
    "load_rank",
    "hbm_rank",
    "memory_rank",
)
COLUMN_FEATURE_NAMES = ("speed_share", "memory_share")
CONTEXT_NAMES = (
    "inverse_devices",
    "log_tables_per_device",
    "memory_utilization",
    "saturation_pressure",
    "launch_share",
)


class RelaxedMakespan:
    """The relaxed objective of the module docstring for one instance and its analytic
    cost model; call it as ``relaxed(x, temperature=0.0) -> (value_ms, gradient)``."""

    def __init__(self, instance: TableShardingInstance, cost_model: AnalyticCostModel) -> None:
        p = cost_model.params
        traffic = [cost_model.traffic(t) for t in instance.tables]
        devices = resolved_devices(instance)
        self.lookup_ms = np.array([r.lookup_ms for r in traffic])
        self.load_ms = np.array([r.lookup_ms + r.comm_ms + p.per_table_ms for r in traffic])
        """``W_t``, ms on the reference device."""
        self.hbm_bytes = np.array([r.hbm_bytes for r in traffic])
        self.hit_fraction = np.array([r.hit_fraction for r in traffic])
        self.speed = np.array([d.relative_speed for d in devices])
        self.launch_ms = p.kernel_launch_ms
        self.threshold_bytes = p.saturation_gb * BYTES_PER_GB
        self.saturation_coef = 1e3 * p.saturation_penalty / (self.threshold_bytes * p.hbm_bandwidth_gbps * BYTES_PER_GB)
        self.shape = (len(instance.tables), len(devices))

    def device_costs(self, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        """``(cost (D,), d cost_d / d x[:, d] as (T, D))`` in ms."""
        x = np.asarray(x, dtype=np.float64)
        if x.shape != self.shape:
            raise ValueError(f"x has shape {x.shape}, expected {self.shape} (tables x devices)")
        free = 1.0 - x
        prefix = np.vstack([np.ones((1, x.shape[1])), np.cumprod(free, axis=0)[:-1]])
        suffix = np.vstack([np.cumprod(free[::-1], axis=0)[::-1][1:], np.ones((1, x.shape[1]))])
        empty = prefix[-1] * free[-1]  # prod_t (1 - x[t, d])
        traffic = self.hbm_bytes @ x
        excess = np.maximum(0.0, traffic - self.threshold_bytes)
        raw = self.load_ms @ x + self.launch_ms * (1.0 - empty) + self.saturation_coef * excess * excess
        slope = 2.0 * self.saturation_coef * excess
        grad = (
            self.load_ms[:, None] + self.launch_ms * prefix * suffix + self.hbm_bytes[:, None] * slope[None, :]
        ) / self.speed[None, :]
        return raw / self.speed, grad

    def __call__(self, x: FloatArray, *, temperature: float = 0.0) -> tuple[float, FloatArray]:
        """``(objective in ms, gradient (T, D) in ms per unit of x)``; see the module
        docstring (``temperature`` in ms, >= 0)."""
        if not (temperature >= 0.0 and math.isfinite(temperature)):
            raise ValueError(f"temperature must be a finite number >= 0, got {temperature}")
        costs, grad = self.device_costs(x)
        if temperature == 0.0:
            k = int(np.argmax(costs))
            out = np.zeros_like(grad)
            out[:, k] = grad[:, k]
            return float(costs[k]), out
        top = float(costs.max())
        weights = np.exp((costs - top) / temperature)
        total = float(weights.sum())
        value = top + temperature * math.log(total)
        return value, grad * (weights / total)[None, :]


def _rank_share(values: FloatArray) -> FloatArray:
    """Per entry, the sum of strictly larger entries over the sum of all (0 if all are 0)."""
    total = float(values.sum())
    if total <= 0.0:
        return np.zeros_like(values)
    order = np.sort(values)[::-1]
    cumulative = np.concatenate([[0.0], np.cumsum(order)])
    # number of strictly larger entries = count of sorted-descending values > v
    larger = np.searchsorted(-order, -values, side="left")
    return np.asarray(cumulative[larger] / total, dtype=np.float64)


def _safe_ratio(a: FloatArray, b: float) -> FloatArray:
    return np.asarray(a / b if b > 0 else np.zeros_like(a), dtype=np.float64)


class RelaxedCalibratedMakespan(RelaxedMakespan):
    """The relaxed objective with the device costs of a
    :class:`~problems.table_sharding.neural.CalibratedCostModel` (its relaxed form, see
    :mod:`problems.table_sharding.neural`); the analytic per-table quantities (features)
    stay those of the instance's analytic model."""

    def __init__(self, instance: TableShardingInstance, cost_model: CalibratedCostModel) -> None:
        super().__init__(instance, cost_model.analytic)
        self.calibrated = cost_model.relaxed(instance)

    def device_costs(self, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        """``(cost (D,), d cost_d / d x[:, d] as (T, D))`` in ms, of the calibrated model."""
        return self.calibrated.device_costs(x)


def surrogate_interface(instance: TableShardingInstance, cost_model: CostModel) -> SurrogateInterface:
    """The :class:`SurrogateInterface` of ``instance`` (see the module docstring).

    With a :class:`~problems.table_sharding.neural.CalibratedCostModel` the features and
    the additive costs' form are unchanged (the features come from the analytic traffic),
    while the relaxed objective and the initial (standalone) costs are the calibrated
    model's. Raises NotImplementedError for any other cost model that is not an
    :class:`AnalyticCostModel` (the relaxed objective is derived from its formulas)."""
    relaxed: RelaxedMakespan
    if isinstance(cost_model, CalibratedCostModel):
        relaxed = RelaxedCalibratedMakespan(instance, cost_model)
    elif isinstance(cost_model, AnalyticCostModel):
        relaxed = RelaxedMakespan(instance, cost_model)
    else:
        raise NotImplementedError("the linear-surrogate interface needs the analytic or a calibrated cost model")
    devices = resolved_devices(instance)
    num_tables, num_devices = relaxed.shape
    memory = np.array([float(table_bytes(t)) for t in instance.tables])
    capacity = np.array([d.memory_gb * BYTES_PER_GB for d in devices])
    even_load = float(relaxed.load_ms.sum()) / num_devices
    even_hbm = float(relaxed.hbm_bytes.sum()) / num_devices
    features = np.column_stack(
        [
            _safe_ratio(relaxed.load_ms, even_load),
            np.divide(relaxed.lookup_ms, relaxed.load_ms, out=np.zeros(num_tables), where=relaxed.load_ms > 0),
            _safe_ratio(relaxed.hbm_bytes, even_hbm),
            relaxed.hbm_bytes / relaxed.threshold_bytes,
            memory / float(capacity.mean()),
            relaxed.hit_fraction,
            _rank_share(relaxed.load_ms),
            _rank_share(relaxed.hbm_bytes),
            _rank_share(memory),
        ]
    )
    column_features = np.column_stack([relaxed.speed / float(relaxed.speed.mean()), capacity / float(capacity.mean())])
    context = np.array(
        [
            1.0 / num_devices,
            math.log(num_tables / num_devices),
            float(memory.sum() / capacity.sum()),
            float(relaxed.hbm_bytes.sum()) / (num_devices * relaxed.threshold_bytes),
            relaxed.launch_ms / even_load if even_load > 0 else 0.0,
        ]
    )
    initial = standalone_ticks(instance, cost_model).astype(np.float64) * TICK_MS

    def decision(design: JsonDict) -> FloatArray:
        device_of = parse_design(instance, design).device_of
        x = np.zeros((num_tables, num_devices))
        placed = device_of != UNASSIGNED
        x[np.flatnonzero(placed), device_of[placed]] = 1.0
        return x

    def design(x: FloatArray) -> JsonDict:
        x = np.asarray(x, dtype=np.float64)
        if x.shape != relaxed.shape:
            raise ValueError(f"x has shape {x.shape}, expected {relaxed.shape} (tables x devices)")
        best = x.argmax(axis=1)
        chosen = x[np.arange(num_tables), best] > 0.5
        return design_from_choice(instance, np.where(chosen, best, UNASSIGNED))

    def costs_fixed(c: FloatArray) -> JsonDict:
        c = np.asarray(c, dtype=np.float64)
        if c.shape != relaxed.shape or not np.isfinite(c).all():
            raise ValueError(f"costs must be a finite {relaxed.shape} matrix (tables x devices), got shape {c.shape}")
        rows: Sequence[Sequence[float]] = c.tolist()
        return {"costs": rows}

    return SurrogateInterface(
        shape=relaxed.shape,
        features=np.asarray(features, dtype=np.float64),
        column_features=np.asarray(column_features, dtype=np.float64),
        context=context,
        feature_names=FEATURE_NAMES,
        column_feature_names=COLUMN_FEATURE_NAMES,
        context_names=CONTEXT_NAMES,
        initial_costs=initial,
        decision=decision,
        design=design,
        costs_fixed=costs_fixed,
        relaxed_objective=relaxed,
    )
