"""The instance schema of ``antenna@1``: a parametric wire antenna over a perfect ground
plane whose reflection ``|S11|`` must meet a target over frequency bands.

An instance names the ``family`` (``three-branch-monopole`` or ``meander-monopole``; see
:mod:`problems.antenna.families`), the ``wire_radius_mm``, the design space (``bounds``:
``{param: [lower_mm, upper_mm]}`` overriding the family's default bounds, each within the
family's allowed range; ``min_spacing_mm`` between wires that do not touch;
``max_height_mm`` and ``max_width_mm`` of the bounding box; left out: the family's
defaults), the frequency ``sweep`` (``start_mhz``, ``stop_mhz``, ``points``, evenly
spaced), the ``reference_impedance_ohm`` (50) and the ``target``: pass ``bands`` (every
sweep point in ``[start_mhz, stop_mhz]`` must have ``|S11| <= max_s11_db``) and optional
``reject_bands`` (every sweep point must have ``|S11| >= min_s11_db``). Optionally a
``reference`` design (``{param: value_mm}``), the default target of the model's projection
(default: the Chebyshev centre of the design space), ``segments_per_wavelength`` (NEC
segmentation at the top frequency) and ``baseline_nec_calls`` (the differential-evolution
baseline's budget of simulations).

Units: lengths in mm, frequencies in MHz (names say so), |S11| in dB (``20 log10 |S11|``).

Cross-field rules (:func:`check_instance`, :class:`SpecError` with JSON pointers relative
to the instance): a band outside the sweep or holding no sweep point; bounds for an unknown
parameter, outside the family's allowed range (``ALLOWED_RANGE_MM``) or with lower above
upper; a reference design outside its bounds or rules; a spacing under 4 wire radii; a wire
radius too thick for the top frequency; a design space left empty by the bounds, spacing
and box; too many NEC segments for the largest design (:data:`MAX_SEGMENTS`).
"""

from __future__ import annotations

import math
from typing import Annotated

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, model_validator

from designsvc.core.errors import FieldError, SpecError
from problems.antenna.families import (
    ALLOWED_RANGE_MM,
    DesignSpace,
    Family,
    design_space,
    param_names,
)

__all__ = [
    "MAX_SEGMENTS",
    "AntennaInstance",
    "PassBand",
    "RejectBand",
    "Sweep",
    "Target",
    "check_instance",
    "instance_errors",
    "instance_space",
]

MAX_SEGMENTS = 1500
"""The most NEC segments a design may need at the top frequency (the dense NEC matrix
grows with the square of segments, the solve with the cube)."""

FrequencyMHz = Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False)]
LengthMM = Annotated[float, Field(gt=0, le=10_000, allow_inf_nan=False)]
Decibel = Annotated[float, Field(ge=-100, le=0, allow_inf_nan=False)]


class Sweep(BaseModel):
    """``points`` evenly spaced frequencies from ``start_mhz`` to ``stop_mhz`` (MHz)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start_mhz: FrequencyMHz = Field(description="First frequency, MHz.")
    stop_mhz: FrequencyMHz = Field(description="Last frequency, MHz.")
    points: Annotated[int, Field(ge=2, le=1001, strict=True)] = Field(default=101, description="Number of frequencies.")

    @model_validator(mode="after")
    def _ordered(self) -> Sweep:
        if self.stop_mhz <= self.start_mhz:
            raise ValueError(f"stop_mhz {self.stop_mhz:g} must be above start_mhz {self.start_mhz:g}")
        return self

    @property
    def freqs_hz(self) -> npt.NDArray[np.float64]:
        """The sweep's frequencies in Hz, shape (points,)."""
        return np.linspace(self.start_mhz * 1e6, self.stop_mhz * 1e6, self.points)

    @property
    def step_mhz(self) -> float:
        return (self.stop_mhz - self.start_mhz) / (self.points - 1)


class PassBand(BaseModel):
    """``|S11| <= max_s11_db`` at every sweep point in ``[start_mhz, stop_mhz]``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start_mhz: FrequencyMHz = Field(description="Band start, MHz.")
    stop_mhz: FrequencyMHz = Field(description="Band stop, MHz.")
    max_s11_db: Decibel = Field(default=-10.0, description="Ceiling of |S11| in the band, dB.")

    @model_validator(mode="after")
    def _ordered(self) -> PassBand:
        if self.stop_mhz < self.start_mhz:
            raise ValueError(f"stop_mhz {self.stop_mhz:g} is below start_mhz {self.start_mhz:g}")
        return self


class RejectBand(BaseModel):
    """``|S11| >= min_s11_db`` at every sweep point in ``[start_mhz, stop_mhz]`` (the
    antenna must not radiate there)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start_mhz: FrequencyMHz = Field(description="Band start, MHz.")
    stop_mhz: FrequencyMHz = Field(description="Band stop, MHz.")
    min_s11_db: Decibel = Field(default=-3.0, description="Floor of |S11| in the band, dB.")

    @model_validator(mode="after")
    def _ordered(self) -> RejectBand:
        if self.stop_mhz < self.start_mhz:
            raise ValueError(f"stop_mhz {self.stop_mhz:g} is below start_mhz {self.start_mhz:g}")
        return self


class Target(BaseModel):
    """What the reflection must do: pass ``bands`` (at least one) and ``reject_bands``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bands: list[PassBand] = Field(min_length=1, max_length=16, description="Bands to match.")
    reject_bands: list[RejectBand] = Field(default_factory=list, max_length=16, description="Bands to reject.")


Bound = Annotated[list[Annotated[float, Field(allow_inf_nan=False)]], Field(min_length=2, max_length=2)]


class AntennaInstance(BaseModel):
    """Choose the parameters of a wire antenna of ``family`` within its design space so
    that its simulated ``|S11|`` meets ``target`` over the ``sweep``."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="antenna@1 instance")

    name: str = Field(default="", description="Free-form name of the instance.")
    family: Family = Field(description="three-branch-monopole or meander-monopole.")
    wire_radius_mm: Annotated[float, Field(gt=0, le=10, allow_inf_nan=False)] = Field(
        default=0.25, description="Radius of every wire, mm."
    )
    min_spacing_mm: LengthMM | None = Field(
        default=None, description="Least distance between wires that do not touch, mm (default: the family's)."
    )
    max_height_mm: LengthMM | None = Field(
        default=None, description="Bounding box height above the ground, mm (default: the family's)."
    )
    max_width_mm: LengthMM | None = Field(
        default=None, description="Bounding box width along x, mm (default: the family's)."
    )
    bounds: dict[str, Bound] = Field(
        default_factory=dict, description="Per-parameter [lower_mm, upper_mm] overriding the family's defaults."
    )
    reference: dict[str, Annotated[float, Field(allow_inf_nan=False)]] | None = Field(
        default=None,
        description="A design {param: value_mm}, the model's default projection target (default: the centre).",
    )
    sweep: Sweep = Field(description="Simulated frequencies.")
    reference_impedance_ohm: Annotated[float, Field(gt=0, le=1e4, allow_inf_nan=False)] = Field(
        default=50.0, description="Port reference impedance Z0, ohm."
    )
    target: Target = Field(description="Pass and reject bands.")
    segments_per_wavelength: Annotated[int, Field(ge=10, le=60, strict=True)] = Field(
        default=20, description="NEC segments per wavelength at the top frequency."
    )
    baseline_nec_calls: Annotated[int, Field(ge=0, le=100_000, strict=True)] = Field(
        default=600, description="Simulations the differential-evolution baseline may spend."
    )


def instance_space(instance: AntennaInstance) -> DesignSpace:
    """The design space of a valid instance (bounds, rules, radius, spacing, box)."""
    bounds = {name: (float(pair[0]), float(pair[1])) for name, pair in instance.bounds.items()}
    return design_space(
        instance.family,
        bounds_mm=bounds,
        wire_radius_mm=instance.wire_radius_mm,
        min_spacing_mm=instance.min_spacing_mm,
        max_height_mm=instance.max_height_mm,
        max_width_mm=instance.max_width_mm,
    )


def _band_errors(instance: AntennaInstance) -> list[FieldError]:
    errors: list[FieldError] = []
    sweep = instance.sweep
    freqs_mhz = sweep.freqs_hz / 1e6
    tol = 1e-9 * sweep.stop_mhz
    bands: list[tuple[str, float, float]] = [
        (f"/target/bands/{k}", b.start_mhz, b.stop_mhz) for k, b in enumerate(instance.target.bands)
    ]
    bands += [
        (f"/target/reject_bands/{k}", b.start_mhz, b.stop_mhz) for k, b in enumerate(instance.target.reject_bands)
    ]
    for pointer, start, stop in bands:
        if start < sweep.start_mhz - tol or stop > sweep.stop_mhz + tol:
            field = "start_mhz" if start < sweep.start_mhz - tol else "stop_mhz"
            errors.append(
                FieldError(
                    f"{pointer}/{field}",
                    f"band {start:g}-{stop:g} MHz lies outside the sweep {sweep.start_mhz:g}-{sweep.stop_mhz:g} MHz",
                )
            )
        elif not np.any((freqs_mhz >= start - tol) & (freqs_mhz <= stop + tol)):
            errors.append(
                FieldError(
                    pointer,
                    f"band {start:g}-{stop:g} MHz holds no sweep point (the sweep steps by {sweep.step_mhz:g} MHz): "
                    "widen the band or add points",
                )
            )
    return errors


def instance_errors(instance: AntennaInstance) -> list[FieldError]:
    """Every cross-field rule ``instance`` breaks (empty when valid), pointers relative to
    the instance."""
    errors = _band_errors(instance)
    names = param_names(instance.family)
    lo_allowed, hi_allowed = ALLOWED_RANGE_MM
    for name, (lower, upper) in instance.bounds.items():
        pointer = f"/bounds/{name}"
        if name not in names:
            errors.append(
                FieldError(pointer, f"{instance.family.value} has no parameter {name!r}; it has {', '.join(names)}")
            )
            continue
        if lower < lo_allowed or upper > hi_allowed:
            at, value = (0, lower) if lower < lo_allowed else (1, upper)
            errors.append(
                FieldError(
                    f"{pointer}/{at}",
                    f"{name}: bound {value:g} mm is outside the family's allowed range "
                    f"[{lo_allowed:g}, {hi_allowed:g}] mm",
                )
            )
        elif lower > upper:
            errors.append(FieldError(pointer, f"{name}: lower bound {lower:g} mm is above upper bound {upper:g} mm"))
    radius = instance.wire_radius_mm
    space = instance_space(instance) if not errors else None
    if space is not None:
        if space.min_spacing_mm < 4 * radius:
            pointer = "/min_spacing_mm" if instance.min_spacing_mm is not None else "/wire_radius_mm"
            errors.append(
                FieldError(
                    pointer,
                    f"min_spacing_mm {space.min_spacing_mm:g} must be at least 4 wire radii ({4 * radius:g} mm)",
                )
            )
        wavelength_mm = 299_792_458.0 / (instance.sweep.stop_mhz * 1e6) * 1000.0
        if radius > wavelength_mm / 100:
            errors.append(
                FieldError(
                    "/wire_radius_mm",
                    f"wire radius {radius:g} mm is too thick for NEC's thin-wire model at {instance.sweep.stop_mhz:g} "
                    f"MHz (at most a hundredth of the wavelength, {wavelength_mm / 100:.3g} mm)",
                )
            )
    if errors or space is None:
        return errors
    errors += _space_errors(instance, space)
    if errors:
        return errors
    if instance.reference is not None:
        for name in instance.reference:
            if name not in names:
                errors.append(FieldError(f"/reference/{name}", f"{instance.family.value} has no parameter {name!r}"))
        missing = [n for n in names if n not in instance.reference]
        if missing:
            errors.append(FieldError("/reference", f"the reference design lacks {', '.join(missing)}"))
        if not errors:
            for line in space.violations(instance.reference):
                errors.append(FieldError("/reference", f"the reference design is outside the design space: {line}"))
    segments = _largest_segments(instance, space)
    if segments > MAX_SEGMENTS:
        errors.append(
            FieldError(
                "/sweep/stop_mhz",
                f"the largest design needs about {segments} NEC segments at {instance.sweep.stop_mhz:g} MHz; "
                f"at most {MAX_SEGMENTS} are allowed (lower the top frequency, segments_per_wavelength or the bounds)",
            )
        )
    return errors


def _space_errors(instance: AntennaInstance, space: DesignSpace) -> list[FieldError]:
    """A rule no point of the box can meet (naming it), or an empty intersection."""
    from scipy.optimize import linprog

    errors: list[FieldError] = []
    lower, upper = space.lower, space.upper
    index = {n: i for i, n in enumerate(space.names)}
    for rule in space.rules:
        least = sum(c * (lower[index[p]] if c > 0 else upper[index[p]]) for p, c in rule.coefs.items())
        most = sum(c * (upper[index[p]] if c > 0 else lower[index[p]]) for p, c in rule.coefs.items())
        if (rule.upper is not None and least > rule.upper + 1e-9) or (
            rule.lower is not None and most < rule.lower - 1e-9
        ):
            params = sorted(rule.coefs)
            pointer = f"/bounds/{params[0]}" if len(params) == 1 else "/bounds"
            errors.append(
                FieldError(
                    pointer,
                    f"no design within the bounds of {', '.join(params)} meets rule {rule.name}: {rule.description}",
                )
            )
    if errors:
        return errors
    A, b = space.matrices()
    result = linprog(
        np.zeros(len(space.names)), A_ub=A, b_ub=b, bounds=list(zip(lower, upper, strict=True)), method="highs"
    )
    if result.status == 2:
        errors.append(
            FieldError(
                "/bounds",
                "the design space is empty: the bounds, min_spacing_mm and the bounding box "
                f"({space.max_height_mm:g} x {space.max_width_mm:g} mm) leave no design meeting every rule",
            )
        )
    return errors


def _largest_segments(instance: AntennaInstance, space: DesignSpace) -> int:
    total_mm = float(space.upper.sum())
    wavelength_mm = 299_792_458.0 / (instance.sweep.stop_mhz * 1e6) * 1000.0
    return math.ceil(total_mm / (wavelength_mm / instance.segments_per_wavelength)) + 3 * len(space.names)


def check_instance(instance: AntennaInstance) -> None:
    """Raise :class:`SpecError` listing every cross-field rule ``instance`` breaks."""
    errors = instance_errors(instance)
    if errors:
        raise SpecError(errors)
