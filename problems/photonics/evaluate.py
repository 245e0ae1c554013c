"""The ground-truth evaluator of ``photonics@1`` designs: ceviche FDFD simulation, the
spec loss and the brush rule. Independent of Pyomo.

A design is JSON: ``{"solid": [[0, 1, ...], ...]}``, ``R`` rows of ``C`` entries 0 (void,
cladding) or 1 (solid, silicon) over the design region; row ``r`` is the ``r``-th pixel
column along x (left to right), entry ``c`` the ``c``-th pixel along y (bottom to top),
i.e. ``solid[r][c]`` is ceviche's ``density[x0 + r, y0 + c]``. Pixels outside the design
region are the device's, fixed (the design cannot change them).

Evaluation: the device is simulated (ceviche FDFD, Ez polarization, one solve per
wavelength and excited port, ``OPENBLAS_NUM_THREADS=1``) and the power transmission
``T[out, in] = |S_out,in|^2`` read per spec window. The objective (minimized) is the
**spec loss** ``sum_windows (max(0, lower - T) + max(0, T - upper))^2``, 0 exactly when
every window is met (a lower bound of 0 or an upper bound of 1 is no bound). Feasibility is
the fabrication rule: the brush rule (:mod:`problems.photonics.brush`) holds and the design
has the region's shape with 0/1 entries (so the fixed pixels are respected). A design that
misses its spec is feasible but has a positive objective; ``breakdown`` has ``spec_met``
(1 or 0), the transmission per window (``T21@1270nm``: port 1 to port 2 at 1270 nm),
``spec_loss``, ``worst_shortfall`` and the counts of brush violations.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

import numpy as np
import numpy.typing as npt

from designsvc.core.types import Evaluation, JsonDict
from problems.photonics.brush import BrushCheck, check_brush, fixed_frame
from problems.photonics.devices import DeviceSetup, Window

__all__ = [
    "Simulation",
    "brush_violations",
    "design_from_solid",
    "evaluate",
    "parse_design",
    "simulate",
    "spec_loss",
    "transmissions",
]

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]

_MAX_LISTED = 5
_CACHE_SIZE = 8


@dataclass(frozen=True)
class Simulation:
    """One simulated design: ``transmission[w, e, o]`` (wavelength, excited port in
    ``setup.excited`` order, output port) and ``fields[w, e]`` (complex Ez over the grid)."""

    transmission: FloatArray
    fields: npt.NDArray[np.complex128]


def design_from_solid(solid: BoolArray) -> JsonDict:
    """The JSON design of a boolean ``R x C`` array."""
    return {"solid": [[1 if v else 0 for v in row] for row in np.asarray(solid, dtype=bool).tolist()]}


def parse_design(setup: DeviceSetup, design: Any) -> tuple[BoolArray, list[str]]:
    """``(solid, problems)``: the design as an ``R x C`` boolean array (void where malformed)
    and what is malformed (empty when well formed)."""
    rows, cols = setup.design_shape
    solid = np.zeros((rows, cols), dtype=bool)
    if not isinstance(design, Mapping):
        return solid, [f"a design must be an object {{'solid': [[0/1]]}}, got {type(design).__name__}"]
    extra = sorted(str(k) for k in design if k != "solid")
    if extra:
        return solid, [f"unknown design field(s) {', '.join(map(repr, extra))}; expected 'solid'"]
    grid = design.get("solid")
    if not _is_list(grid) or len(grid) != rows:
        found = f"{len(grid)} rows" if _is_list(grid) else type(grid).__name__
        return solid, [f"'solid' must be {rows} rows (pixels along x) of {cols} entries, got {found}"]
    problems: list[str] = []
    for r, row in enumerate(grid):
        if not _is_list(row) or len(row) != cols:
            found = f"{len(row)} entries" if _is_list(row) else type(row).__name__
            problems.append(f"solid[{r}] must have {cols} entries (pixels along y), got {found}")
            continue
        for c, value in enumerate(row):
            if isinstance(value, bool) or value not in (0, 1):
                problems.append(f"solid[{r}][{c}] must be 0 or 1, got {value!r}")
            else:
                solid[r, c] = value == 1
    return solid, problems


_cache: OrderedDict[tuple[DeviceSetup, bytes], Simulation] = OrderedDict()


def simulate(setup: DeviceSetup, density: FloatArray) -> Simulation:
    """Simulate ``density`` (``R x C`` in [0, 1]; 1 solid) at every wavelength, exciting the
    ports the windows need (the last few results are cached)."""
    key = (setup, np.asarray(density, dtype=np.float64).tobytes())
    hit = _cache.get(key)
    if hit is not None:
        _cache.move_to_end(key)
        return hit
    sparams, fields = setup.model.simulate(
        np.asarray(density, dtype=np.float64), excite_port_idxs=list(setup.excited), max_parallelizm=1
    )
    result = Simulation(
        transmission=np.asarray(np.abs(sparams) ** 2, dtype=np.float64),
        fields=np.asarray(fields, dtype=np.complex128),
    )
    _cache[key] = result
    while len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)
    return result


def transmissions(setup: DeviceSetup, transmission: Any) -> list[Any]:
    """The transmission of each window (in ``setup.windows`` order) from a
    ``transmission[w, e, o]`` array (numpy or autograd)."""
    excited = list(setup.excited)
    return [transmission[w.wavelength_index, excited.index(w.input_index), w.output_index] for w in setup.windows]


def spec_loss(windows: Sequence[Window], values: Sequence[Any], np_module: Any = np) -> Any:
    """``sum (max(0, lower - T) + max(0, T - upper))^2`` over the windows (``np_module``:
    numpy, or autograd.numpy for gradients)."""
    total: Any = 0.0
    for window, value in zip(windows, values, strict=True):
        total = total + _shortfall(window, value, np_module) ** 2
    return total


def _shortfall(window: Window, value: Any, np_module: Any = np) -> Any:
    """How far ``value`` lies outside the window; a bound of 0 (lower) or 1 (upper) is no
    bound (transmissions a hair over 1 are the solver's rounding, not a miss)."""
    shortfall: Any = 0.0
    if window.lower > 0.0:
        shortfall = shortfall + np_module.maximum(0.0, window.lower - value)
    if window.upper < 1.0:
        shortfall = shortfall + np_module.maximum(0.0, value - window.upper)
    return shortfall


def evaluate(setup: DeviceSetup, design: JsonDict) -> Evaluation:
    """Simulate ``design`` and judge it (see the module docstring). Never raises for a bad
    design: a malformed one is infeasible with the worst spec loss (one per window)."""
    solid, problems = parse_design(setup, design)
    if problems:
        extra = [f"and {len(problems) - _MAX_LISTED} more malformed entries"] if len(problems) > _MAX_LISTED else []
        return Evaluation(
            objective=float(len(setup.windows)),
            feasible=False,
            violations=tuple(problems[:_MAX_LISTED] + extra),
            breakdown={"malformed": float(len(problems))},
        )
    check = check_brush(fixed_frame(setup.background, setup.design_coords, setup.brush_px - 1), solid, setup.brush)
    violations = brush_violations(setup, check)
    sim = simulate(setup, solid.astype(np.float64))
    values = [float(t) for t in transmissions(setup, sim.transmission)]
    loss = float(spec_loss(setup.windows, values))
    shortfalls = [float(_shortfall(w, t)) for w, t in zip(setup.windows, values, strict=True)]
    breakdown: dict[str, float] = {
        "spec_loss": loss,
        "spec_met": 1.0 if max(shortfalls, default=0.0) == 0.0 else 0.0,
        "worst_shortfall": max(shortfalls, default=0.0),
        "brush_solid_violations": float(check.bad_solid.sum()),
        "brush_void_violations": float(check.bad_void.sum()),
        "solid_fraction": float(solid.mean()) if solid.size else 0.0,
    }
    for window, value in zip(setup.windows, values, strict=True):
        breakdown.setdefault(window.label(setup.wavelengths_nm), value)
    return Evaluation(objective=loss, feasible=not violations, violations=tuple(violations), breakdown=breakdown)


def brush_violations(setup: DeviceSetup, check: BrushCheck) -> list[str]:
    """Human lines for the brush rule's broken pixels (empty when the rule holds)."""
    lines: list[str] = []
    size = f"{setup.brush_px}-pixel ({setup.brush_px * setup.resolution_nm:g} nm) brush"
    for bad, colour in ((check.bad_solid, "solid"), (check.bad_void, "void")):
        count = int(bad.sum())
        if count:
            where = ", ".join(f"({r}, {c})" for r, c in list(zip(*np.nonzero(bad), strict=True))[:_MAX_LISTED])
            more = ", ..." if count > _MAX_LISTED else ""
            lines.append(
                f"minimum feature size: {count} {colour} pixel(s) lie in no {colour} placement of the {size}: "
                f"{where}{more} (solid[row][column])"
            )
    return lines


def _is_list(value: Any) -> TypeGuard[Sequence[Any]]:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))
