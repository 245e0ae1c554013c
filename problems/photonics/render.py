"""Pictures of ``photonics@1`` designs.

:func:`render` draws one PNG, ``device-fields.png``: the first panel is the device (solid
black, void white, the design region framed in red, brush-rule violations marked in
orange); then one panel per wavelength with ``|Ez|`` when port 1 (the first excited port)
is driven, the device's outline on top, titled with that wavelength's transmissions.
matplotlib is imported inside :func:`render` (Agg canvas, no pyplot state).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import numpy as np

from designsvc.core.types import Artifact
from problems.photonics.brush import check_brush, fixed_frame
from problems.photonics.devices import DeviceSetup
from problems.photonics.evaluate import parse_design, simulate

__all__ = ["render"]


def render(setup: DeviceSetup, design: Mapping[str, Any]) -> list[Artifact]:
    """``[Artifact("device-fields.png", "image/png", ...)]`` for ``design`` (which may break
    the brush rule). ``ValueError`` for a malformed design."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    solid, problems = parse_design(setup, design)
    if problems:
        raise ValueError(f"cannot render the design: {problems[0]}")
    check = check_brush(fixed_frame(setup.background, setup.design_coords, setup.brush_px - 1), solid, setup.brush)
    sim = simulate(setup, solid.astype(np.float64))
    density = np.asarray(setup.model.density(solid.astype(np.float64)), dtype=np.float64)
    x0, y0, x1, y1 = setup.design_coords
    extent = (0.0, density.shape[0] * setup.resolution_nm / 1000, 0.0, density.shape[1] * setup.resolution_nm / 1000)
    um = setup.resolution_nm / 1000

    panels = 1 + len(setup.wavelengths_nm)
    fig = Figure(figsize=(3.2 * panels, 3.9), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, panels, squeeze=False)[0]
    ax = axes[0]
    ax.imshow(density.T, origin="lower", cmap="Greys", vmin=0, vmax=1, extent=extent)
    ax.add_patch(Rectangle((x0 * um, y0 * um), (x1 - x0) * um, (y1 - y0) * um, fill=False, color="red", lw=1))
    bad = np.argwhere(check.bad_solid | check.bad_void)
    if bad.size:
        ax.scatter((x0 + bad[:, 0] + 0.5) * um, (y0 + bad[:, 1] + 0.5) * um, s=4, color="orange")
    ax.set_title(f"device ({len(bad)} brush violations)", fontsize=9)
    ax.set_xlabel("x (um)", fontsize=8)
    ax.set_ylabel("y (um)", fontsize=8)
    first = 0
    for w, wavelength in enumerate(setup.wavelengths_nm):
        ax = axes[1 + w]
        field = np.abs(sim.fields[w, first])
        ax.imshow(field.T, origin="lower", cmap="magma", extent=extent)
        ax.contour(density.T, levels=[0.5], colors="white", linewidths=0.4, extent=extent, origin="lower")
        excited = setup.excited[first]
        values = sim.transmission[w, first]
        title = ", ".join(f"T{o + 1}{excited + 1}={values[o]:.2f}" for o in range(len(values)))
        ax.set_title(f"|Ez| at {wavelength:g} nm\n{title}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return [Artifact(name="device-fields.png", media_type="image/png", data=buffer.getvalue())]
