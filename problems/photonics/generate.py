"""Seeded random ``photonics@1`` instances and the built-in named instances.

:func:`generate` draws, from ``numpy.random.default_rng(seed)`` in this order: the device
(unless given), the design region's width and height (``design_px`` pixels +-25 %, even
numbers of pixels), the waveguide width (7 to 12 pixels at 40 nm, 28 to 48 at 10 nm), the access
waveguide length (12 to 24 pixels at 40 nm), then per device the output width (mode
converter), the waveguide gap (beam splitter, 1120 to 1600 nm) or the output inset (WDM,
0 to 320 nm), and the brush diameter (2 to 3 pixels at 40 nm, 6 to 8 at 10 nm, a disk).
Sizes are then raised where the device needs room (two guides and their gap in a beam
splitter's height, two outputs in a WDM's). The spec is the device's standard one
(:mod:`problems.photonics.devices`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from problems.photonics.schema import Brush, Device, Geometry, PhotonicsInstance, Resolution

__all__ = ["BUILTIN_INSTANCES", "DEFAULT_DESIGN_PX", "DEVICES", "generate"]

DEFAULT_DESIGN_PX = 30
DEVICES = (Device.WAVEGUIDE_BEND, Device.MODE_CONVERTER, Device.BEAM_SPLITTER, Device.WDM)


def generate(
    seed: int,
    *,
    device: Device | None = None,
    resolution: Resolution = Resolution.LIGHTWEIGHT,
    design_px: int = DEFAULT_DESIGN_PX,
    name: str = "",
) -> PhotonicsInstance:
    """A random instance (see the module docstring); the same arguments give the same instance."""
    if design_px < 8:
        raise ValueError(f"design_px must be at least 8, got {design_px}")
    rng = np.random.default_rng(seed)
    drawn = DEVICES[int(rng.integers(len(DEVICES)))]
    chosen = device if device is not None else drawn
    res = 40.0 if resolution == Resolution.LIGHTWEIGHT else 10.0
    scale = 1 if resolution == Resolution.LIGHTWEIGHT else 4
    width_px = _even(rng.integers(round(0.75 * design_px), round(1.25 * design_px) + 1))
    height_px = _even(rng.integers(round(0.75 * design_px), round(1.25 * design_px) + 1))
    wg_px = _even(rng.integers(7 * scale, 12 * scale + 1))
    length_px = int(rng.integers(12 * scale, 24 * scale + 1))
    geometry: dict[str, float | int] = {"wg_width_nm": wg_px * res, "wg_length_nm": length_px * res}
    if chosen == Device.MODE_CONVERTER:
        out_px = _even(rng.integers(7 * scale, 12 * scale + 1))
        geometry.update(output_wg_width_nm=out_px * res, input_mode_order=1, output_mode_order=2)
        height_px = max(height_px, wg_px, out_px)
        width_px = max(width_px, wg_px, out_px)
    elif chosen == Device.BEAM_SPLITTER:
        gap_px = _even(np.ceil(float(rng.uniform(1120, 1600)) / res))
        geometry["wg_separation_nm"] = gap_px * res
        height_px = max(height_px, 2 * wg_px + gap_px + 2)
        width_px = max(width_px, design_px)
    elif chosen == Device.WDM:
        inset_px = int(rng.integers(0, round(320 / res) + 1))
        geometry["port_inset_nm"] = inset_px * res
        height_px = max(height_px, 2 * (wg_px + inset_px) + 2 * scale)
    else:
        height_px = max(height_px, wg_px)
        width_px = max(width_px, wg_px)
        # The ports' mode windows (560 nm padding) must fit within the access guides and the region.
        least_px = int(np.ceil((560 + wg_px * res / 2 - min(width_px, height_px) * res / 2) / res))
        length_px = max(length_px, least_px)
        geometry["wg_length_nm"] = length_px * res
    brush_px = int(rng.integers(2, 4)) if scale == 1 else int(rng.integers(6, 9))
    # The brush must fit in the region (a small design_px at the default resolution).
    width_px, height_px = max(width_px, _even(brush_px)), max(height_px, _even(brush_px))
    geometry.update(design_width_nm=width_px * res, design_height_nm=height_px * res)
    return PhotonicsInstance(
        name=name or f"{chosen.value}-seed{seed}",
        device=chosen,
        resolution=resolution,
        geometry=Geometry.model_validate(geometry),
        brush=Brush(diameter_px=brush_px),
    )


def _even(value: Any) -> int:
    """``value`` rounded up to an even number of pixels (ceviche-challenges centres guides
    on half extents, which must fall on the grid)."""
    number = int(value)
    return number + (number % 2)


def _standard(
    name: str,
    device: Device,
    *,
    design_nm: float | None = None,
    resolution: Resolution = Resolution.LIGHTWEIGHT,
    baseline_iterations: int = 50,
) -> Callable[[], PhotonicsInstance]:
    def make() -> PhotonicsInstance:
        geometry = Geometry() if design_nm is None else Geometry(design_width_nm=design_nm, design_height_nm=design_nm)
        return PhotonicsInstance(
            name=name,
            device=device,
            resolution=resolution,
            geometry=geometry,
            baseline_iterations=baseline_iterations,
        )

    size = "standard" if design_nm is None else f"{design_nm:g} x {design_nm:g} nm"
    make.__doc__ = (
        f"The built-in instance {name!r}: a {device.value}, {resolution.value} resolution, {size} design region."
    )
    return make


BUILTIN_INSTANCES: Mapping[str, Callable[[], PhotonicsInstance]] = {
    "bend-lightweight-small": _standard(
        "bend-lightweight-small", Device.WAVEGUIDE_BEND, design_nm=1200, baseline_iterations=20
    ),
    "bend-lightweight": _standard("bend-lightweight", Device.WAVEGUIDE_BEND, baseline_iterations=20),
    "splitter-lightweight": _standard("splitter-lightweight", Device.BEAM_SPLITTER, baseline_iterations=20),
    "mode-converter-lightweight": _standard(
        "mode-converter-lightweight", Device.MODE_CONVERTER, baseline_iterations=20
    ),
    "wdm-lightweight": _standard("wdm-lightweight", Device.WDM, baseline_iterations=20),
    "small-bend-default-resolution": _standard(
        "small-bend-default-resolution", Device.WAVEGUIDE_BEND, design_nm=800, resolution=Resolution.DEFAULT
    ),
}
"""Named instances (``"instance_ref": "builtin:NAME"``), each built afresh on call:
the four devices at the lightweight resolution with the standard geometry and spec, a small
lightweight bend (1.2 x 1.2 um design region, 30 x 30 pixels: the example) and a small bend
at the default 10 nm resolution (80 x 80 pixels, an 8-pixel brush). The lightweight ones
run 20 topology-optimization iterations as their baseline (enough for the small bend to
meet its spec; it keeps ``compare_baselines`` and the conformance suites quick; raise
``baseline_iterations`` for a real comparison), the default-resolution one the default 50.
The first two in sorted order (``bend-lightweight``, ``bend-lightweight-small``) are the
cheapest to simulate."""
