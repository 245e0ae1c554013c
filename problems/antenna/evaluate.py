"""The ground-truth evaluator of ``antenna@1`` designs: the design-space rules, then NEC2.

A design is JSON: ``{"params": {name: value_mm}}`` with every parameter of the family.

Feasibility is geometric: every bound and linear rule of the design space holds (within
:data:`TOLERANCE_MM`); violations name the parameter or rule. An infeasible or malformed
design is not simulated (NEC may crash on wires that cross) and gets the worst objective,
that of total reflection (``|S11| = 0 dB`` everywhere).

The objective (minimized) is the **target shortfall** in dB: for each pass band, the mean
over its sweep points of ``max(0, |S11|_dB - max_s11_db)``; for each reject band, the mean
of ``max(0, min_s11_db - |S11|_dB)``; summed over bands. It is 0 exactly when the target is
met (``breakdown["target_met"] = 1``). ``breakdown`` also holds ``min_s11_db`` and
``resonance_mhz`` (the deepest point of the sweep), per band ``band{k}_worst_s11_db``,
``band{k}_best_s11_db`` and ``band{k}_shortfall_db`` (``reject{k}_...`` for reject bands,
numbered from 1), ``matched_mhz`` (the sweep span with ``|S11| <= -10 dB``) and
``nec_segments``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from designsvc.core.types import Evaluation, JsonDict
from problems.antenna.families import DesignSpace, wires
from problems.antenna.nec import s11_db, segment_counts
from problems.antenna.schema import AntennaInstance, Target
from problems.antenna.simulator import design_s11

__all__ = [
    "TOLERANCE_MM",
    "Shortfall",
    "design_from_vector",
    "evaluate",
    "parse_design",
    "simulate_instance",
    "target_shortfall",
    "worst_shortfall",
]

TOLERANCE_MM = 1e-6
"""How far a design may break a bound or rule (mm) and still count as feasible."""

FloatArray = npt.NDArray[np.float64]
ComplexArray = npt.NDArray[np.complex128]


def design_from_vector(space: DesignSpace, vector: FloatArray | list[float]) -> JsonDict:
    """The JSON design of a (P,) parameter vector (mm)."""
    return {"params": space.params(np.asarray(vector, dtype=np.float64))}


def parse_design(space: DesignSpace, design: Any) -> tuple[dict[str, float], list[str]]:
    """``(params, problems)``: the design's parameters (mm) and what is malformed (empty
    when well formed: an object ``{"params": {...}}`` with every parameter a finite number)."""
    if not isinstance(design, Mapping):
        return {}, [f"a design must be an object {{'params': {{name: mm}}}}, got {type(design).__name__}"]
    extra = sorted(str(k) for k in design if k != "params")
    if extra:
        return {}, [f"unknown design field(s) {', '.join(map(repr, extra))}; expected 'params'"]
    given = design.get("params")
    if not isinstance(given, Mapping):
        return {}, [f"'params' must be an object {{name: mm}}, got {type(given).__name__}"]
    problems: list[str] = []
    params: dict[str, float] = {}
    for name in given:
        if name not in space.names:
            problems.append(f"unknown parameter {name!r} for {space.family.value} (it has {', '.join(space.names)})")
    for name in space.names:
        if name not in given:
            problems.append(f"parameter {name} is missing")
            continue
        value = given[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            problems.append(f"parameter {name} must be a finite number of mm, got {value!r}")
            continue
        params[name] = float(value)
    return params, problems


def simulate_instance(instance: AntennaInstance, params: Mapping[str, float]) -> ComplexArray:
    """Complex ``S11`` (shape (points,)) of ``params`` under ``instance``'s sweep, radius,
    segmentation and reference impedance."""
    return design_s11(
        instance.family,
        params,
        wire_radius_mm=instance.wire_radius_mm,
        freqs_hz=instance.sweep.freqs_hz,
        reference_impedance_ohm=instance.reference_impedance_ohm,
        segments_per_wavelength=instance.segments_per_wavelength,
    )


@dataclass(frozen=True)
class Shortfall:
    """The target shortfall (dB, 0 when met) and its breakdown."""

    total_db: float
    breakdown: dict[str, float]

    @property
    def met(self) -> bool:
        return self.total_db <= 0.0


def _in_band(freqs_mhz: FloatArray, start: float, stop: float) -> npt.NDArray[np.bool_]:
    tol = 1e-9 * float(freqs_mhz.max())
    return np.asarray((freqs_mhz >= start - tol) & (freqs_mhz <= stop + tol), dtype=np.bool_)


def target_shortfall(target: Target, freqs_hz: FloatArray, s11_dB: FloatArray) -> Shortfall:
    """The shortfall of ``|S11|`` in dB (shape (F,), at ``freqs_hz``) against ``target``."""
    freqs_mhz = np.asarray(freqs_hz, dtype=np.float64) / 1e6
    db = np.asarray(s11_dB, dtype=np.float64)
    total = 0.0
    parts: dict[str, float] = {}
    for k, band in enumerate(target.bands, start=1):
        values = db[_in_band(freqs_mhz, band.start_mhz, band.stop_mhz)]
        short = float(np.mean(np.maximum(0.0, values - band.max_s11_db))) if values.size else 0.0
        total += short
        parts[f"band{k}_shortfall_db"] = short
        parts[f"band{k}_worst_s11_db"] = float(values.max()) if values.size else 0.0
        parts[f"band{k}_best_s11_db"] = float(values.min()) if values.size else 0.0
    for k, reject in enumerate(target.reject_bands, start=1):
        values = db[_in_band(freqs_mhz, reject.start_mhz, reject.stop_mhz)]
        short = float(np.mean(np.maximum(0.0, reject.min_s11_db - values))) if values.size else 0.0
        total += short
        parts[f"reject{k}_shortfall_db"] = short
        parts[f"reject{k}_best_s11_db"] = float(values.min()) if values.size else 0.0
    return Shortfall(total, parts)


def worst_shortfall(target: Target) -> float:
    """The shortfall of total reflection (``|S11| = 0 dB`` everywhere): the objective of a
    design that cannot be simulated."""
    return float(sum(-band.max_s11_db for band in target.bands))


def evaluate(instance: AntennaInstance, space: DesignSpace, design: Any) -> Evaluation:
    """Judge ``design`` (see the module docstring). Never raises for a bad design."""
    worst = worst_shortfall(instance.target)
    params, problems = parse_design(space, design)
    if problems:
        return Evaluation(objective=worst, feasible=False, violations=tuple(problems), breakdown={"malformed": 1.0})
    violations = space.violations(params, TOLERANCE_MM)
    if violations:
        return Evaluation(
            objective=worst,
            feasible=False,
            violations=tuple(violations),
            breakdown={"rule_violations": float(len(violations)), "target_met": 0.0},
        )
    freqs = instance.sweep.freqs_hz
    try:
        s11 = simulate_instance(instance, params)
    except ValueError as exc:
        return Evaluation(objective=worst, feasible=False, violations=(f"NEC refused the design: {exc}",))
    db = s11_db(s11)
    shortfall = target_shortfall(instance.target, freqs, db)
    deepest = int(np.argmin(db))
    matched = int(np.count_nonzero(db <= -10.0))
    geometry = wires(instance.family, params)
    breakdown: dict[str, float] = {
        "shortfall_db": shortfall.total_db,
        "target_met": 1.0 if shortfall.met else 0.0,
        "min_s11_db": float(db[deepest]),
        "resonance_mhz": float(freqs[deepest] / 1e6),
        "matched_mhz": matched * instance.sweep.step_mhz,
        **shortfall.breakdown,
        "nec_segments": float(
            sum(segment_counts(geometry, instance.wire_radius_mm, float(freqs.max()), instance.segments_per_wavelength))
        ),
    }
    return Evaluation(objective=shortfall.total_db, feasible=True, violations=(), breakdown=breakdown)
