"""Pictures of ``network-planning@1`` designs.

:func:`render` draws one PNG, ``network.png``: routers at their lon/lat (or on a circle when
some router has no coordinates), fibers as thin grey lines, IP links as straight lines (a
multi-hop link bends slightly so that it is not hidden by a fiber) with width growing with
the link's capacity and a label of its units (``+added`` when above existing). The title
has the cost. matplotlib is imported inside :func:`render` (Agg canvas, no pyplot state).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from typing import Any

from designsvc.core.types import Artifact
from problems.network_planning.evaluate import design_cost, parse_design
from problems.network_planning.schema import NetworkPlanningInstance

__all__ = ["render"]


def render(instance: NetworkPlanningInstance, design: Mapping[str, Any]) -> list[Artifact]:
    """``[Artifact("network.png", "image/png", ...)]`` for ``design`` (which may be
    infeasible; missing links are drawn at their existing units). Raises ``ValueError``
    when ``design`` is not of the design form."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    parsed = parse_design(instance, design)
    units = [
        n if n is not None else link.existing_units for n, link in zip(parsed.units, instance.ip_links, strict=True)
    ]
    routers = instance.routers
    if all(r.lat is not None and r.lon is not None for r in routers):
        pos = {r.name: (float(r.lon or 0.0), float(r.lat or 0.0)) for r in routers}
    else:
        n = len(routers)
        pos = {r.name: (math.cos(2 * math.pi * v / n), math.sin(2 * math.pi * v / n)) for v, r in enumerate(routers)}

    fig = Figure(figsize=(8, 6), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for fiber in instance.fibers:
        (x0, y0), (x1, y1) = pos[fiber.a], pos[fiber.b]
        ax.plot([x0, x1], [y0, y1], color="#bbbbbb", linewidth=1, zorder=1)
    most = max(max(units, default=1), 1)
    for link, n in zip(instance.ip_links, units, strict=True):
        (x0, y0), (x1, y1) = pos[link.a], pos[link.b]
        bend = 0.0 if len(link.fiber_path) == 1 else 0.12
        mx, my = (x0 + x1) / 2 - bend * (y1 - y0), (y0 + y1) / 2 + bend * (x1 - x0)
        added = n > link.existing_units
        color = "#c0392b" if added else "#4a90c2"
        width = 0.8 + 5.0 * n / most
        ax.plot([x0, mx, x1], [y0, my, y1], color=color, linewidth=width, alpha=0.8, zorder=2)
        label = f"{n}" + (f" (+{n - link.existing_units})" if added else "")
        ax.annotate(
            label,
            (mx, my),
            fontsize=7,
            ha="center",
            va="center",
            zorder=4,
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8},
        )
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    ax.scatter(xs, ys, s=60, color="black", zorder=3)
    for name, (x, y) in pos.items():
        ax.annotate(name, (x, y), xytext=(4, 4), textcoords="offset points", fontsize=8, zorder=5)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xticks([])
    ax.set_yticks([])
    cost = design_cost(instance, parsed.units)
    ax.set_title(
        f"{instance.name or 'network-planning'}: added cost {cost:.6g}, "
        f"unit {instance.capacity_unit_gbps:g} Gbps (red: links with added units)",
        fontsize=10,
    )
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return [Artifact(name="network.png", media_type="image/png", data=buffer.getvalue())]
