"""Pictures of ``table-sharding@1`` plans.

:func:`render` draws one PNG, ``device-costs.png``, with two panels sharing the device axis:
on top each device's cost (ms per iteration) as a bar stacked by cost term (lookup, fused
kernel, all-to-all, saturation; terms of the analytic model, see
:mod:`problems.table_sharding.cost`), with a dashed line at the plan's objective (the
slowest device); below, each device's table memory (GB) with a black mark at its capacity,
red where it is over. Costs are stacked by term, not by table, because the model is not
additive in tables. The calibrated model (:mod:`problems.table_sharding.neural`) is stacked
as its two parts, the network's compute time and the analytic all-to-all term; any other
cost model is drawn as one plain bar per device. matplotlib is imported inside
:func:`render` (Agg canvas, no pyplot state).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from designsvc.core.types import Artifact
from problems.table_sharding.cost import AnalyticCostModel, CostModel
from problems.table_sharding.evaluate import (
    capacity_bytes,
    memory_used_bytes,
    over_capacity,
    parse_design,
    tables_by_device,
)
from problems.table_sharding.neural import CalibratedCostModel
from problems.table_sharding.schema import BYTES_PER_GB, TableShardingInstance, device_label, resolved_devices

__all__ = ["render"]

_TERM_COLORS = {
    "lookup": "#4a90c2",
    "kernel": "#f0a030",
    "comm": "#6ab04c",
    "saturation": "#8e44ad",
    "compute (calibrated)": "#4a90c2",
}
_MAX_LABELS = 40


def render(
    instance: TableShardingInstance,
    design: Mapping[str, Any],
    cost_model: CostModel | None = None,
) -> list[Artifact]:
    """``[Artifact("device-costs.png", "image/png", ...)]`` for ``design`` (which may be
    infeasible or partial; unassigned tables are counted in the title).

    Raises ``ValueError`` when ``design`` is not of the design form.
    """
    from matplotlib.artist import Artist
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    model = cost_model if cost_model is not None else AnalyticCostModel.from_instance(instance)
    parsed = parse_design(instance, design)
    devices = resolved_devices(instance)
    groups = tables_by_device(instance, parsed.device_of)
    num_devices = len(devices)
    x = np.arange(num_devices)
    if isinstance(model, AnalyticCostModel):
        terms = {name: np.zeros(num_devices) for name in _TERM_COLORS}
        for k, group in enumerate(groups):
            for name, value in model.terms(group, devices[k]).as_dict().items():
                terms[name][k] = value
    elif isinstance(model, CalibratedCostModel):
        speed = np.array([d.relative_speed for d in devices])
        terms = {
            "compute (calibrated)": np.array([model.compute_ms(group) for group in groups]) / speed,
            "comm": np.array([model.comm_ms(group) for group in groups]) / speed,
        }
    else:
        terms = {"cost": np.array([model.device_cost(group, devices[k]) for k, group in enumerate(groups)])}
    total = sum(terms.values(), np.zeros(num_devices))
    used_gb = memory_used_bytes(instance, parsed.device_of) / BYTES_PER_GB
    capacity = capacity_bytes(devices)
    capacity_gb = capacity / BYTES_PER_GB
    over = over_capacity(used_gb * BYTES_PER_GB, capacity)

    width_in = min(16.0, max(6.0, 0.35 * num_devices + 3.0))
    fig = Figure(figsize=(width_in, 6.5), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    cost_ax, memory_ax = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    bar_width = 0.7 if num_devices <= 60 else 1.0
    bottom = np.zeros(num_devices)
    handles: list[Artist] = []
    for name, values in terms.items():
        color = _TERM_COLORS.get(name, "#4a90c2")
        cost_ax.bar(x, values, width=bar_width, bottom=bottom, color=color, linewidth=0)
        bottom = bottom + values
        handles.append(Patch(color=color, label=name))
    objective = float(total.max(initial=0.0))
    cost_ax.axhline(objective, color="black", linestyle="--", linewidth=1.0)
    handles.append(Line2D([], [], color="black", linestyle="--", linewidth=1.0, label="slowest device"))
    cost_ax.set_ylabel("cost (ms / iteration)")
    cost_ax.set_ylim(0, max(objective, 1e-9) * 1.25)
    cost_ax.legend(handles=handles, loc="upper right", ncols=len(handles), fontsize=8, framealpha=0.9)
    unassigned = int((parsed.device_of < 0).sum())
    title = (
        f"{instance.name or 'table-sharding'}: slowest device {objective:.4g} ms, "
        f"{int(over.sum())} of {num_devices} devices over memory"
    )
    if unassigned:
        title += f", {unassigned} tables unassigned"
    cost_ax.set_title(title, fontsize=10)

    colors = np.where(over, "#c0392b", "#8e8e8e").tolist()
    memory_ax.bar(x, used_gb, width=bar_width, color=colors, linewidth=0)
    memory_ax.hlines(capacity_gb, x - bar_width / 2, x + bar_width / 2, colors="black", linewidth=1.5)
    memory_ax.set_ylabel("table memory (GB)")
    memory_ax.set_ylim(0, max(float(used_gb.max(initial=0.0)), float(capacity_gb.max(initial=0.0)), 1e-9) * 1.15)
    memory_ax.legend(
        handles=[
            Patch(color="#8e8e8e", label="used"),
            Patch(color="#c0392b", label="over memory"),
            Line2D([], [], color="black", linewidth=1.5, label="memory"),
        ],
        loc="upper right",
        ncols=3,
        fontsize=8,
        framealpha=0.9,
    )
    step = max(1, math.ceil(num_devices / _MAX_LABELS))
    ticks = x[::step]
    memory_ax.set_xticks(ticks)
    memory_ax.set_xticklabels(
        [f"{device_label(devices[k], k)} ({len(groups[k])})" for k in ticks.tolist()],
        rotation=90 if num_devices > 12 else 0,
        fontsize=8,
    )
    memory_ax.set_xlabel("device (tables on it)")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return [Artifact(name="device-costs.png", media_type="image/png", data=buffer.getvalue())]
