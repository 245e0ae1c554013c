"""Simulate a design of an antenna family: wires from the parameters
(:func:`problems.antenna.families.wires`), NEC2 over a perfect ground plane
(:func:`problems.antenna.nec.simulate_impedance`), ``S11`` against the reference impedance.

:func:`design_impedance` returns the input impedance (ohm, complex, shape (F,)) at
``freqs_hz``; the last :data:`CACHE_SIZE` results are kept in memory. A geometry NEC
refuses becomes a ``ValueError`` naming the wire and the parameter that sets its length.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from problems.antenna.families import Family, param_names, wires
from problems.antenna.nec import NecGeometryError, s11_from_impedance, simulate_impedance

__all__ = ["CACHE_SIZE", "design_impedance", "design_s11"]

CACHE_SIZE = 512

ComplexArray = npt.NDArray[np.complex128]
_Key = tuple[str, tuple[float, ...], float, tuple[float, ...], int]
_cache: OrderedDict[_Key, ComplexArray] = OrderedDict()


def design_impedance(
    family: Family | str,
    params: Mapping[str, float],
    *,
    wire_radius_mm: float,
    freqs_hz: Sequence[float] | npt.NDArray[np.float64],
    segments_per_wavelength: int = 20,
) -> ComplexArray:
    """Input impedance (ohm, complex, shape (F,)) of the design ``params`` (mm) of ``family``
    at ``freqs_hz`` (evenly spaced, Hz). ``KeyError`` for a missing parameter;
    ``ValueError`` (:class:`~problems.antenna.nec.NecGeometryError`) when NEC refuses the
    geometry, naming the wire and its parameter."""
    fam = Family(family)
    names = param_names(fam)
    vector = tuple(float(params[n]) for n in names)
    freqs = np.asarray(freqs_hz, dtype=np.float64)
    key: _Key = (fam.value, vector, float(wire_radius_mm), tuple(freqs.tolist()), int(segments_per_wavelength))
    hit = _cache.get(key)
    if hit is not None:
        _cache.move_to_end(key)
        return hit.copy()
    geometry = wires(fam, dict(zip(names, vector, strict=True)))
    try:
        z = simulate_impedance(
            geometry,
            wire_radius_mm=wire_radius_mm,
            freqs_hz=freqs,
            ground=True,
            segments_per_wavelength=segments_per_wavelength,
        )
    except NecGeometryError as exc:
        by_label = {w.label: w.param for w in geometry}
        params_named = [p for p in (by_label.get(label) for label in exc.wires) if p]
        where = f" (parameters {', '.join(params_named)})" if params_named else ""
        raise NecGeometryError(f"{fam.value}: {exc}{where}", exc.wire, exc.wires) from exc
    _cache[key] = z
    while len(_cache) > CACHE_SIZE:
        _cache.popitem(last=False)
    return z.copy()


def design_s11(
    family: Family | str,
    params: Mapping[str, float],
    *,
    wire_radius_mm: float,
    freqs_hz: Sequence[float] | npt.NDArray[np.float64],
    reference_impedance_ohm: float = 50.0,
    segments_per_wavelength: int = 20,
) -> ComplexArray:
    """Complex ``S11`` (shape (F,)) of a design; see :func:`design_impedance`."""
    z = design_impedance(
        family,
        params,
        wire_radius_mm=wire_radius_mm,
        freqs_hz=freqs_hz,
        segments_per_wavelength=segments_per_wavelength,
    )
    return s11_from_impedance(z, reference_impedance_ohm)
