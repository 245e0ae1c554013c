"""Artifacts of ``antenna@1`` designs.

:func:`render` gives three files: ``s11.s1p`` (Touchstone v1, one port, real/imaginary,
Hz, the instance's reference impedance; written by scikit-rf), ``s11.png`` (``|S11|`` in
dB over the sweep with the pass bands shaded green and their ceilings drawn, reject bands
shaded red; matplotlib's Agg canvas, no pyplot state) and ``geometry.svg`` (the wires in
the x-z plane over the ground line, drawn by hand: no plotting library).
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from designsvc.core.types import Artifact
from problems.antenna.evaluate import parse_design, simulate_instance
from problems.antenna.families import DesignSpace, Wire, wires
from problems.antenna.nec import network, s11_db
from problems.antenna.schema import AntennaInstance

__all__ = ["geometry_svg", "render", "s11_plot_png", "touchstone_bytes"]


def touchstone_bytes(
    freqs_hz: npt.NDArray[np.float64], s11: npt.NDArray[np.complex128], reference_impedance_ohm: float, name: str
) -> bytes:
    """A Touchstone ``.s1p`` file of ``s11`` (scikit-rf ``write_touchstone``, exact floats)."""
    net = network(freqs_hz, s11, reference_impedance_ohm, name=name)
    with tempfile.TemporaryDirectory() as tmp:
        net.write_touchstone(filename="s11", dir=tmp, form="ri")
        return (Path(tmp) / "s11.s1p").read_bytes()


def s11_plot_png(instance: AntennaInstance, s11: npt.NDArray[np.complex128], title: str = "") -> bytes:
    """``|S11|`` (dB) over the sweep with the target's bands shaded, as PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    freqs_mhz = instance.sweep.freqs_hz / 1e6
    db = s11_db(s11)
    fig = Figure(figsize=(6.4, 3.6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    low = min(float(db.min()) - 3.0, min(b.max_s11_db for b in instance.target.bands) - 5.0)
    for band in instance.target.bands:
        ax.axvspan(band.start_mhz, band.stop_mhz, color="tab:green", alpha=0.15, lw=0)
        ax.hlines(band.max_s11_db, band.start_mhz, band.stop_mhz, colors="tab:green", linestyles="--", lw=1.5)
    for reject in instance.target.reject_bands:
        ax.axvspan(reject.start_mhz, reject.stop_mhz, color="tab:red", alpha=0.12, lw=0)
        ax.hlines(reject.min_s11_db, reject.start_mhz, reject.stop_mhz, colors="tab:red", linestyles="--", lw=1.5)
    ax.plot(freqs_mhz, db, color="tab:blue", lw=1.5, marker="." if len(freqs_mhz) <= 61 else None)
    ax.set_xlim(float(freqs_mhz[0]), float(freqs_mhz[-1]))
    ax.set_ylim(low, 1.0)
    ax.set_xlabel("frequency (MHz)")
    ax.set_ylabel("|S11| (dB)")
    ax.grid(alpha=0.3)
    ax.set_title(title or f"{instance.family.value}: |S11| vs target", fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def geometry_svg(
    geometry: Sequence[Wire], wire_radius_mm: float, box_mm: tuple[float, float, float] | None = None
) -> bytes:
    """An SVG side view (x-z plane) of ``geometry`` (mm) over the ground line, with the
    feed marked and the bounding box ``(x_min, x_max, height)`` dashed when given."""
    xs = [c for w in geometry for c in (w.start_mm[0], w.end_mm[0])]
    zs = [c for w in geometry for c in (w.start_mm[2], w.end_mm[2])]
    if box_mm is not None:
        xs += [box_mm[0], box_mm[1]]
        zs += [box_mm[2]]
    x0, x1 = min(xs) - 3, max(xs) + 3
    z1 = max(zs) + 3
    scale = 400.0 / max(x1 - x0, z1 + 3)
    width, height = (x1 - x0) * scale, (z1 + 3) * scale

    def point(x: float, z: float) -> str:
        return f"{(x - x0) * scale:.2f},{(z1 - z) * scale:.2f}"

    stroke = max(2 * wire_radius_mm * scale, 1.5)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.2f} {height:.2f}">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<line x1="0" y1="{z1 * scale:.2f}" x2="{width:.2f}" y2="{z1 * scale:.2f}" stroke="#555" stroke-width="3"/>',
    ]
    if box_mm is not None:
        bx, bz = point(box_mm[0], box_mm[2]).split(",")
        parts.append(
            f'<rect x="{bx}" y="{bz}" width="{(box_mm[1] - box_mm[0]) * scale:.2f}" height="{box_mm[2] * scale:.2f}" '
            'fill="none" stroke="#999" stroke-dasharray="4 3"/>'
        )
    for wire in geometry:
        a, b = point(wire.start_mm[0], wire.start_mm[2]), point(wire.end_mm[0], wire.end_mm[2])
        ax, az = a.split(",")
        bx, bz = b.split(",")
        parts.append(
            f'<line x1="{ax}" y1="{az}" x2="{bx}" y2="{bz}" stroke="#b5651d" stroke-width="{stroke:.2f}" '
            f'stroke-linecap="round"><title>{wire.label} ({wire.length_mm:.2f} mm)</title></line>'
        )
    fx, fz = point(0.0, 0.0).split(",")
    parts.append(f'<circle cx="{fx}" cy="{fz}" r="4" fill="red"><title>feed</title></circle>')
    parts.append("</svg>")
    return "\n".join(parts).encode()


def render(instance: AntennaInstance, space: DesignSpace, design: Mapping[str, Any]) -> list[Artifact]:
    """``s11.s1p``, ``s11.png`` and ``geometry.svg`` of a feasible ``design``; ``ValueError``
    for a malformed design or one outside the design space (which is not simulated)."""
    params, problems = parse_design(space, design)
    if problems:
        raise ValueError(f"cannot render the design: {problems[0]}")
    outside = space.violations(params)
    if outside:
        raise ValueError(f"cannot render a design outside the design space: {outside[0]}")
    s11 = simulate_instance(instance, params)
    freqs = instance.sweep.freqs_hz
    name = instance.name or instance.family.value
    return [
        Artifact("s11.s1p", "text/plain", touchstone_bytes(freqs, s11, instance.reference_impedance_ohm, name)),
        Artifact("s11.png", "image/png", s11_plot_png(instance, s11, title=f"{name}: |S11|")),
        Artifact(
            "geometry.svg",
            "image/svg+xml",
            geometry_svg(
                wires(instance.family, params), instance.wire_radius_mm, (*space.box_x_mm, space.max_height_mm)
            ),
        ),
    ]
