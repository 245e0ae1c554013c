"""The instance schema of ``photonics@1``: inverse design of a planar photonic device (a
ceviche-challenges device) under a foundry's minimum feature size.

An instance names the ``device`` (``waveguide-bend``, ``mode-converter``, ``beam-splitter``
or ``wdm``, the four devices of ceviche-challenges), the ``resolution`` (``lightweight``:
40 nm pixels, two wavelengths; ``default``: 10 nm pixels, six wavelengths), its
``geometry`` (waveguide widths, lengths and separation, design-region size, port
positions; each field left out takes the device's standard value), the ``wavelengths_nm``
(default: the resolution's), the ``spec`` (transmission windows ``[lower, upper]`` per
input port, output port and wavelength, within [0, 1]; default: the device's standard spec)
and the ``brush`` (the minimum feature size, a disk or square of ``diameter_px`` pixels or
``diameter_nm``; default: 3 pixels = 120 nm lightweight, 8 pixels = 80 nm default).

Units: lengths in nm; ports are numbered from 1 in ceviche-challenges' order (port 1 is the
input); transmission is ``|S_out,in|^2`` (power, 0 to 1).

Cross-field rules (:func:`check_instance`, :class:`SpecError` with JSON pointers relative
to the instance): a window with ``lower > upper``, a port or wavelength the device lacks, a
brush larger than the design region (or narrower than 1 pixel), a geometry ceviche-challenges
refuses, and the size limits: the simulation grid (:data:`MAX_SIM_CELLS` cells, memory of the
FDFD solve) and the exact feasibility model (:data:`MAX_MODEL_TERMS` pixel-placement terms).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from designsvc.core.errors import FieldError, SpecError

__all__ = [
    "MAX_MODEL_TERMS",
    "MAX_SIM_CELLS",
    "Brush",
    "BrushShape",
    "Device",
    "Geometry",
    "PhotonicsInstance",
    "Resolution",
    "SpecWindow",
    "check_instance",
    "instance_errors",
    "model_terms",
]

MAX_SIM_CELLS = 1_000_000
"""The largest simulation grid (cells, PML included): a sparse LU of the FDFD system of
10**6 cells takes several GB; larger grids are refused."""

MAX_MODEL_TERMS = 8_000_000
"""The largest exact feasibility model: ``2 x placements x brush pixels`` linking terms.
Measured here (Pyomo 6.10, one thread): the full default-resolution bend (160 x 160
pixels, 8-pixel disk, 2.9 million terms) builds in 31 s and compiles to the solvers'
linear form (5.2 million nonzeros) in 24 s, 1.3 GB in all, about 450 bytes a term; so the
limit, about 3.6 GB, admits the default-resolution bend, mode converter (2.9 million) and
beam splitter (7.0 million) and refuses the default WDM (640 x 640 pixels, 43.5 million
terms, about 20 GB): coarsen the resolution, shrink the design region or the brush."""

LengthNm = Annotated[float, Field(gt=0, le=20_000, allow_inf_nan=False, strict=True)]
Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


class Device(StrEnum):
    """The device types of ceviche-challenges."""

    WAVEGUIDE_BEND = "waveguide-bend"
    MODE_CONVERTER = "mode-converter"
    BEAM_SPLITTER = "beam-splitter"
    WDM = "wdm"


class Resolution(StrEnum):
    """``lightweight``: 40 nm pixels, wavelengths 1270 and 1290 nm; ``default``: 10 nm
    pixels, wavelengths 1265 to 1295 nm (six)."""

    LIGHTWEIGHT = "lightweight"
    DEFAULT = "default"


class BrushShape(StrEnum):
    """``disk``: pixels whose centres lie within ``diameter/2`` of the brush centre;
    ``square``: a ``diameter x diameter`` block."""

    DISK = "disk"
    SQUARE = "square"


class Geometry(BaseModel):
    """Device geometry in nm; a field left out takes the device's standard value (see
    :mod:`problems.photonics.devices`). Fields a device does not use are refused."""

    model_config = ConfigDict(extra="forbid")

    design_width_nm: LengthNm | None = Field(default=None, description="Design region extent along x, nm.")
    design_height_nm: LengthNm | None = Field(default=None, description="Design region extent along y, nm.")
    wg_width_nm: LengthNm | None = Field(default=None, description="Waveguide width, nm (input side).")
    output_wg_width_nm: LengthNm | None = Field(
        default=None, description="Mode converter: width of the output waveguide, nm."
    )
    wg_length_nm: LengthNm | None = Field(default=None, description="Length of the access waveguides, nm.")
    wg_separation_nm: LengthNm | None = Field(
        default=None, description="Beam splitter: gap between the two waveguides on each side, nm."
    )
    port_inset_nm: Annotated[float, Field(ge=0, le=20_000, allow_inf_nan=False, strict=True)] | None = Field(
        default=None, description="WDM: inset of the output waveguides from the design region's edges, nm."
    )
    input_mode_order: Annotated[int, Field(ge=1, le=4, strict=True)] | None = Field(
        default=None, description="Mode converter: mode order at the input (1 = fundamental)."
    )
    output_mode_order: Annotated[int, Field(ge=1, le=4, strict=True)] | None = Field(
        default=None, description="Mode converter: mode order at the output."
    )


class SpecWindow(BaseModel):
    """Transmission ``|S_{output_port, input_port}|^2`` must lie in ``[lower, upper]`` at
    ``wavelength_nm`` (every simulated wavelength when left out)."""

    model_config = ConfigDict(extra="forbid")

    input_port: Annotated[int, Field(ge=1, strict=True)] = Field(default=1, description="Excited port (from 1).")
    output_port: Annotated[int, Field(ge=1, strict=True)] = Field(description="Observed port (from 1).")
    wavelength_nm: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = Field(
        default=None, description="Wavelength of the window, nm; all wavelengths when left out."
    )
    lower: Fraction = Field(default=0.0, description="Least transmission, in [0, 1].")
    upper: Fraction = Field(default=1.0, description="Most transmission, in [0, 1].")


class Brush(BaseModel):
    """The minimum feature size: every solid pixel lies in a placement of the brush wholly
    in solid, every void pixel in one wholly in void. Give ``diameter_px`` or
    ``diameter_nm`` (rounded to pixels), not both; neither: the resolution's default."""

    model_config = ConfigDict(extra="forbid")

    shape: BrushShape = Field(default=BrushShape.DISK, description="disk or square.")
    diameter_px: Annotated[int, Field(ge=1, le=1000, strict=True)] | None = Field(
        default=None, description="Brush diameter in pixels."
    )
    diameter_nm: Annotated[float, Field(gt=0, le=20_000, allow_inf_nan=False, strict=True)] | None = Field(
        default=None, description="Brush diameter in nm (rounded to whole pixels)."
    )


class PhotonicsInstance(BaseModel):
    """Design the pixels of the device's design region (solid silicon or void cladding) so
    that every spec window is met and the brush rule holds."""

    model_config = ConfigDict(extra="forbid", title="photonics@1 instance")

    name: str = Field(default="", description="Free-form name of the instance.")
    device: Device = Field(description="waveguide-bend, mode-converter, beam-splitter or wdm.")
    resolution: Resolution = Field(
        default=Resolution.LIGHTWEIGHT, description="lightweight (40 nm) or default (10 nm)."
    )
    geometry: Geometry = Field(default_factory=Geometry, description="Device geometry, nm.")
    wavelengths_nm: list[Annotated[float, Field(ge=400, le=5000, allow_inf_nan=False)]] | None = Field(
        default=None, min_length=1, max_length=16, description="Simulated wavelengths, nm (default: the resolution's)."
    )
    spec: list[SpecWindow] | None = Field(
        default=None, min_length=1, max_length=256, description="Transmission windows (default: the device's spec)."
    )
    brush: Brush = Field(default_factory=Brush, description="Minimum feature size (width and spacing).")
    baseline_iterations: Annotated[int, Field(ge=0, le=2000, strict=True)] = Field(
        default=50,
        description=(
            "Iterations of the topology-optimization baseline (each one forward and one adjoint simulation "
            "per wavelength and excited port)."
        ),
    )


def instance_errors(instance: PhotonicsInstance) -> list[FieldError]:
    """Every cross-field rule ``instance`` breaks (empty when valid), pointers relative to
    the instance."""
    from problems.photonics.devices import GeometryError, device_setup

    errors: list[FieldError] = []
    for k, window in enumerate(instance.spec or []):
        if window.lower > window.upper:
            errors.append(
                FieldError(f"/spec/{k}/lower", f"lower {window.lower:g} is above upper {window.upper:g} (empty window)")
            )
    if instance.brush.diameter_px is not None and instance.brush.diameter_nm is not None:
        errors.append(FieldError("/brush/diameter_nm", "give diameter_px or diameter_nm, not both"))
    if errors:
        return errors
    try:
        setup = device_setup(instance)
    except GeometryError as exc:
        return [FieldError(exc.pointer, exc.message)]
    rows, cols = setup.design_shape
    wavelengths = setup.wavelengths_nm
    for k, window in enumerate(instance.spec or []):
        for port, field in ((window.input_port, "input_port"), (window.output_port, "output_port")):
            if port > setup.num_ports:
                errors.append(
                    FieldError(
                        f"/spec/{k}/{field}", f"port {port}: a {instance.device.value} has {setup.num_ports} ports"
                    )
                )
        if window.wavelength_nm is not None and not any(abs(window.wavelength_nm - w) < 1e-6 for w in wavelengths):
            listed = ", ".join(f"{w:g}" for w in wavelengths)
            errors.append(
                FieldError(
                    f"/spec/{k}/wavelength_nm",
                    f"wavelength {window.wavelength_nm:g} nm is not simulated (wavelengths: {listed} nm)",
                )
            )
    brush_pointer = "/brush/diameter_nm" if instance.brush.diameter_nm is not None else "/brush/diameter_px"
    if setup.brush_px < 1:
        errors.append(FieldError(brush_pointer, f"the brush is under one pixel ({setup.resolution_nm:g} nm)"))
    elif setup.brush_px > min(rows, cols):
        errors.append(
            FieldError(
                brush_pointer,
                f"brush of {setup.brush_px} pixels ({setup.brush_px * setup.resolution_nm:g} nm) is larger than the "
                f"design region ({rows} x {cols} pixels)",
            )
        )
    cells = setup.sim_shape[0] * setup.sim_shape[1]
    if cells > MAX_SIM_CELLS:
        errors.append(
            FieldError(
                "/resolution",
                f"grid too large: the simulation has {setup.sim_shape[0]} x {setup.sim_shape[1]} = {cells:,} cells; "
                f"the memory limit allows {MAX_SIM_CELLS:,} (use the lightweight resolution or a smaller device)",
            )
        )
    if not errors:
        terms = model_terms(rows, cols, setup.brush_area, setup.brush_px)
        if terms > MAX_MODEL_TERMS:
            errors.append(
                FieldError(
                    "/resolution",
                    f"grid too large: the design region of {rows} x {cols} pixels with a {setup.brush_px}-pixel brush "
                    f"needs {terms:,} placement terms in the feasibility model; the memory limit allows "
                    f"{MAX_MODEL_TERMS:,} (use the lightweight resolution, a smaller design region or brush)",
                )
            )
    return errors


def model_terms(rows: int, cols: int, brush_area: int, brush_px: int) -> int:
    """Linking terms of the exact model: two colours x placements x brush pixels."""
    return 2 * (rows + brush_px - 1) * (cols + brush_px - 1) * brush_area


def check_instance(instance: PhotonicsInstance) -> None:
    """Raise :class:`SpecError` listing every cross-field rule ``instance`` breaks."""
    errors = instance_errors(instance)
    if errors:
        raise SpecError(errors)
