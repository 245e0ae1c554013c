"""Pictures of ``assignment@1`` designs.

:func:`render` draws one PNG, ``bin-loads.png``: a bar per bin with its load (size unit),
red where the bin is overloaded, and a black mark at each bin's capacity. With more than
:data:`MANY_BINS` bins the bars get thinner and only some bins are labelled. matplotlib is
imported inside :func:`render` (Agg canvas, no pyplot state), so importing this module
loads no plotting library.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from designsvc.core.types import Artifact
from problems.assignment.evaluate import (
    bin_loads,
    capacities,
    costs_matrix,
    overloaded,
    parse_design,
    sizes_matrix,
)
from problems.assignment.schema import AssignmentInstance

__all__ = ["MANY_BINS", "render"]

MANY_BINS = 60
"""Above this many bins, bars are drawn without gaps and tick labels are thinned."""

_MAX_LABELS = 40


def render(instance: AssignmentInstance, design: Mapping[str, Any]) -> list[Artifact]:
    """``[Artifact("bin-loads.png", "image/png", ...)]`` for ``design`` (which may be
    infeasible or partial; unassigned items are counted in the title).

    Raises ``ValueError`` when ``design`` is not of the design form.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    parsed = parse_design(instance, design)
    sizes = sizes_matrix(instance)
    capacity = capacities(instance)
    loads = bin_loads(sizes, parsed.bin_of)
    over = overloaded(loads, capacity)
    placed = np.flatnonzero(parsed.bin_of >= 0)
    cost = float(costs_matrix(instance)[placed, parsed.bin_of[placed]].sum())
    num_bins = len(instance.bins)
    many = num_bins > MANY_BINS

    width_in = min(16.0, max(6.0, 0.3 * num_bins + 2.0))
    fig = Figure(figsize=(width_in, 4.5), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    x = np.arange(num_bins)
    bar_width = 1.0 if many else 0.7
    colors = np.where(over, "#c0392b", "#4a90c2").tolist()
    ax.bar(x, loads, width=bar_width, color=colors, linewidth=0)
    ax.hlines(capacity, x - bar_width / 2, x + bar_width / 2, colors="black", linewidth=1.5)

    step = max(1, math.ceil(num_bins / _MAX_LABELS))
    ticks = x[::step]
    ax.set_xticks(ticks)
    ax.set_xticklabels(
        [instance.bins[k].name for k in ticks.tolist()],
        rotation=90 if many or num_bins > 12 else 0,
        fontsize=8 if many else 9,
    )
    pad = 0.5 if many else 0.7
    ax.set_xlim(-pad, num_bins - 1 + pad)
    ax.set_xlabel("bin")
    ax.set_ylabel("load (size unit)")
    unassigned = len(instance.items) - placed.size
    title = f"{instance.name or 'assignment'}: cost {cost:.6g}, {int(over.sum())} of {num_bins} bins overloaded"
    if unassigned:
        title += f", {unassigned} items unassigned"
    ax.set_title(title, fontsize=10)
    ax.legend(
        handles=[
            Patch(color="#4a90c2", label="load"),
            Patch(color="#c0392b", label="load over capacity"),
            Line2D([], [], color="black", linewidth=1.5, label="capacity"),
        ],
        loc="upper right",
        ncols=3,
        fontsize=8,
        framealpha=0.9,
    )
    ax.set_ylim(0, max(float(loads.max(initial=0.0)), float(capacity.max(initial=0.0)), 1.0) * 1.18)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return [Artifact(name="bin-loads.png", media_type="image/png", data=buffer.getvalue())]
