"""A lower bound on the best plan's largest device cost under the analytic cost model.

Benchmarks use it to say how much room a heuristic's plan leaves (no plan can beat it); it
is not used to solve. Notation of :mod:`problems.table_sharding.surrogate`: per table
``W_t = lookup_ms_t + comm_ms_t + per_table_ms`` and ``Q_t = hbm_bytes_t`` (reference
device), the launch cost ``L = kernel_launch_ms``, the saturation term ``S(Q)``
(convex, non-decreasing, 0 up to ``Q0``), device speeds ``s_d``.

Let ``T`` be a plan's largest device cost and ``U`` its set of non-empty devices,
``u = |U|``. Each ``d`` in ``U`` has ``s_d T >= W(S_d) + L + S(Q_d)``; summing over ``U``
and applying Jensen's inequality to the convex ``S``::

    T * sum_{d in U} s_d  >=  sum_t W_t + u L + u S(sum_t Q_t / u)

and ``sum_{d in U} s_d`` is at most the sum of the ``u`` largest speeds ``top(u)``. So

    T >= min over u = 1 .. min(D, tables) of (sum W + u L + u S(sum Q / u)) / top(u)

Every plan also has ``T`` at least each table's cost alone on the fastest device (costs are
monotone in the set). The bound is the larger of the two; it is tight for a plan that
splits ``W`` and ``Q`` evenly over identical devices.
"""

from __future__ import annotations

import math

import numpy as np

from problems.table_sharding.cost import AnalyticCostModel
from problems.table_sharding.schema import BYTES_PER_GB, TableShardingInstance, resolved_devices

__all__ = ["lower_bound_ms"]


def lower_bound_ms(instance: TableShardingInstance, cost_model: AnalyticCostModel | None = None) -> float:
    """The lower bound of the module docstring, ms per iteration (0 for no devices)."""
    model = cost_model if cost_model is not None else AnalyticCostModel.from_instance(instance)
    devices = resolved_devices(instance)
    if not devices:
        return 0.0
    p = model.params
    traffic = [model.traffic(t) for t in instance.tables]
    total_w = math.fsum(r.lookup_ms + r.comm_ms + p.per_table_ms for r in traffic)
    total_q = math.fsum(r.hbm_bytes for r in traffic)
    threshold = p.saturation_gb * BYTES_PER_GB
    coef = 1e3 * p.saturation_penalty / (threshold * p.hbm_bandwidth_gbps * BYTES_PER_GB)

    def saturation(q: float) -> float:
        excess = max(0.0, q - threshold)
        return coef * excess * excess

    speeds = np.sort(np.array([d.relative_speed for d in devices]))[::-1]
    top = np.cumsum(speeds)
    used_max = min(len(devices), len(instance.tables))
    spread = min(
        (total_w + u * p.kernel_launch_ms + u * saturation(total_q / u)) / float(top[u - 1])
        for u in range(1, used_max + 1)
    )
    fastest = max(devices, key=lambda d: d.relative_speed)
    alone = max((model.device_cost([t], fastest) for t in instance.tables), default=0.0)
    return max(spread, alone)
