"""NEC2 simulation of wire antennas through ``necpp`` (GPL-3.0, the optional ``nec`` extra).

``necpp`` is imported inside the functions that need it; when it is missing they raise
:class:`NecUnavailableError` saying how to install it (``make setup`` does; or
``pip install -e '.[nec]'``). This module only *calls* the library (no NEC code is copied).

Contract of :func:`simulate_impedance`: straight wires in **millimetres** (converted to
metres for NEC), a wire radius in mm, frequencies in **Hz** (NEC's ``fr_card`` takes MHz;
the conversion is done here), either free space or a perfect ground plane at z = 0 (NEC's
GN card ``iperf=1``; wires touching the ground are connected to it). The voltage source
(1 V) drives one segment of one wire; the result is the input impedance ``Z(f)`` in ohms,
complex, shape (F,). Segmentation: each wire gets ``ceil(length / (lambda_min /
segments_per_wavelength))`` segments, at least ``MIN_SEGMENTS`` where the wire is long
enough, and never segments shorter than 2 radii (NEC's thin-wire kernel). NEC reports
geometry errors with return codes and a message; they become :class:`NecGeometryError`
naming the wire. NEC is never run on a geometry it refused (it may crash then).

:func:`s11_from_impedance` gives ``S11 = (Z - Z0) / (Z + Z0)`` and :func:`network` a
scikit-rf one-port :class:`skrf.Network` (Touchstone through ``write_touchstone``).
The simulation is single-threaded (``OPENBLAS_NUM_THREADS=1`` is set by default).

Measured here (2 cores shared with other jobs): a three-branch monopole (about 35
segments) takes 60-90 ms for a 41-point sweep to 3.5 GHz and about 0.4 s for 101 points to
6 GHz (about 50 segments); a meander monopole about 0.13 s for 61 points to 2.8 GHz. The
cost is about linear in the number of frequencies.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from problems.antenna.families import Wire

__all__ = [
    "MIN_SEGMENTS",
    "SPEED_OF_LIGHT_M_S",
    "NecError",
    "NecGeometryError",
    "NecUnavailableError",
    "dipole_wires",
    "monopole_wires",
    "nec_version",
    "network",
    "s11_db",
    "s11_from_impedance",
    "segment_counts",
    "simulate_impedance",
]

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

SPEED_OF_LIGHT_M_S = 299_792_458.0
MIN_SEGMENTS = 3
"""Segments per wire where the wire is long enough (at least 2 radii per segment)."""

ComplexArray = npt.NDArray[np.complex128]
FloatArray = npt.NDArray[np.float64]


class NecError(RuntimeError):
    """NEC failed or is unusable."""


class NecUnavailableError(NecError):
    """``necpp`` is not installed (the optional ``nec`` extra, GPL-3.0)."""


class NecGeometryError(NecError, ValueError):
    """NEC refused the geometry; ``wire`` is the label of the (first) wire at fault when
    known, ``wires`` every wire the message names."""

    def __init__(self, message: str, wire: str | None = None, wires: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.wire = wire
        self.wires = wires or ((wire,) if wire else ())


def _necpp() -> Any:
    try:
        import necpp
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise NecUnavailableError(
            "antenna@1 simulates with NEC2 through the package necpp (GPL-3.0), an optional extra that is not "
            "installed: run `make setup` or `pip install -e '.[nec]'`"
        ) from exc
    return necpp


def nec_version() -> str:
    """The installed necpp version (``NecUnavailableError`` when missing)."""
    _necpp()
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("necpp")
    except PackageNotFoundError:  # pragma: no cover
        return "unknown"


def segment_counts(
    wires: Sequence[Wire], wire_radius_mm: float, max_freq_hz: float, segments_per_wavelength: int = 20
) -> list[int]:
    """Segments per wire (see the module docstring)."""
    wavelength_mm = SPEED_OF_LIGHT_M_S / max_freq_hz * 1000.0
    longest_segment_mm = wavelength_mm / segments_per_wavelength
    counts: list[int] = []
    for wire in wires:
        length = wire.length_mm
        by_wavelength = math.ceil(length / longest_segment_mm)
        by_radius = max(1, math.floor(length / (2.0 * wire_radius_mm)))
        counts.append(max(1, min(max(by_wavelength, MIN_SEGMENTS), by_radius)))
    return counts


def _check(rc: int, what: str, necpp: Any, labels: Sequence[str], wire: str | None = None) -> None:
    """Raise :class:`NecGeometryError` for a non-zero return code, naming the wires whose
    tags (1-based positions in ``labels``) NEC's message mentions."""
    if rc != 0:
        message = str(necpp.nec_error_message() or "").strip() or "no message"
        tags = [int(t) for t in re.findall(r"TAG ID #\s*(\d+)", message)]
        named = tuple(dict.fromkeys(labels[t - 1] for t in tags if 1 <= t <= len(labels)))
        if wire is not None and wire not in named:
            named = (wire, *named)
        suffix = f" (wires {', '.join(map(repr, named))})" if named else ""
        raise NecGeometryError(f"NEC refused {what}: {message}{suffix}", named[0] if named else None, named)


def simulate_impedance(
    wires: Sequence[Wire],
    *,
    wire_radius_mm: float,
    freqs_hz: Sequence[float] | FloatArray,
    ground: bool = True,
    feed_wire: int = 0,
    feed_segment: int | None = None,
    segments_per_wavelength: int = 20,
    segments: Sequence[int] | None = None,
) -> ComplexArray:
    """Input impedance (ohm, complex, shape (F,)) at ``freqs_hz`` of ``wires`` (mm) driven
    at ``feed_wire`` (index into ``wires``), segment ``feed_segment`` (1-based; default the
    first segment over ground, the middle one in free space). ``freqs_hz`` must be evenly
    spaced and increasing (one NEC frequency sweep). ``segments`` overrides the automatic
    segment count per wire. Raises :class:`NecGeometryError` naming
    the wire NEC refused, :class:`NecUnavailableError` without necpp."""
    necpp = _necpp()
    freqs = np.asarray(freqs_hz, dtype=np.float64)
    if freqs.ndim != 1 or freqs.size == 0 or not np.all(np.isfinite(freqs)) or np.any(freqs <= 0):
        raise ValueError("freqs_hz must be a non-empty 1-D array of positive frequencies")
    if freqs.size > 1 and not np.allclose(np.diff(freqs), freqs[1] - freqs[0], rtol=1e-9, atol=1e-6):
        raise ValueError("freqs_hz must be evenly spaced (one linear NEC sweep)")
    if not wires:
        raise ValueError("no wires to simulate")
    counts = (
        segment_counts(wires, wire_radius_mm, float(freqs.max()), segments_per_wavelength)
        if segments is None
        else [int(n) for n in segments]
    )
    if len(counts) != len(wires) or min(counts) < 1:
        raise ValueError("segments must give a positive count for every wire")
    radius_m = wire_radius_mm / 1000.0
    labels = [w.label for w in wires]
    nec = necpp.nec_create()
    try:
        for tag, (wire, n) in enumerate(zip(wires, counts, strict=True), start=1):
            if wire.length_mm < 2.0 * wire_radius_mm:
                raise NecGeometryError(
                    f"wire {wire.label!r} is {wire.length_mm:.4g} mm long, shorter than two radii "
                    f"({2 * wire_radius_mm:g} mm)",
                    wire.label,
                )
            if ground and min(wire.start_mm[2], wire.end_mm[2]) < -1e-9:
                raise NecGeometryError(f"wire {wire.label!r} reaches below the ground plane (z < 0)", wire.label)
            x0, y0, z0 = (c / 1000.0 for c in wire.start_mm)
            x1, y1, z1 = (c / 1000.0 for c in wire.end_mm)
            _check(
                necpp.nec_wire(nec, tag, n, x0, y0, z0, x1, y1, z1, radius_m, 1.0, 1.0),
                f"wire {wire.label!r}",
                necpp,
                labels,
                wire.label,
            )
        _check(necpp.nec_geometry_complete(nec, 1 if ground else 0), "the geometry", necpp, labels)
        if ground:
            _check(necpp.nec_gn_card(nec, 1, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0), "the perfect ground", necpp, labels)
        step_mhz = float(freqs[1] - freqs[0]) / 1e6 if freqs.size > 1 else 0.0
        _check(
            necpp.nec_fr_card(nec, 0, int(freqs.size), float(freqs[0]) / 1e6, step_mhz),
            "the frequency sweep",
            necpp,
            labels,
        )
        segment = feed_segment if feed_segment is not None else (1 if ground else counts[feed_wire] // 2 + 1)
        if not 1 <= segment <= counts[feed_wire]:
            raise ValueError(f"feed segment {segment} outside 1..{counts[feed_wire]}")
        _check(
            necpp.nec_ex_card(nec, 0, feed_wire + 1, segment, 0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0),
            "the voltage source",
            necpp,
            labels,
            wires[feed_wire].label,
        )
        _check(necpp.nec_xq_card(nec, 0), "the simulation", necpp, labels)
        z = np.array(
            [complex(necpp.nec_impedance_real(nec, i), necpp.nec_impedance_imag(nec, i)) for i in range(freqs.size)],
            dtype=np.complex128,
        )
    finally:
        necpp.nec_delete(nec)
    if not np.all(np.isfinite(z)):
        raise NecError("NEC returned a non-finite impedance")
    return z


def s11_from_impedance(z_ohm: ComplexArray, reference_impedance_ohm: float = 50.0) -> ComplexArray:
    """``S11 = (Z - Z0) / (Z + Z0)`` (complex, same shape as ``z_ohm``)."""
    z = np.asarray(z_ohm, dtype=np.complex128)
    return np.asarray((z - reference_impedance_ohm) / (z + reference_impedance_ohm), dtype=np.complex128)


def s11_db(s11: ComplexArray) -> FloatArray:
    """``20 log10 |S11|`` (dB), floored at -300 dB."""
    return np.asarray(20.0 * np.log10(np.maximum(np.abs(s11), 1e-15)), dtype=np.float64)


def network(
    freqs_hz: FloatArray, s11: ComplexArray, reference_impedance_ohm: float = 50.0, name: str = "antenna"
) -> Any:
    """A one-port :class:`skrf.Network` of ``s11`` at ``freqs_hz``."""
    import skrf

    frequency = skrf.Frequency.from_f(np.asarray(freqs_hz, dtype=np.float64), unit="hz")
    s = np.asarray(s11, dtype=np.complex128).reshape(-1, 1, 1)
    return skrf.Network(frequency=frequency, s=s, z0=reference_impedance_ohm, name=name)


def dipole_wires(length_mm: float) -> list[Wire]:
    """A centre-fed dipole of total ``length_mm`` along z, centred at the origin (free
    space; simulate with ``ground=False``)."""
    half = length_mm / 2.0
    return [Wire("dipole", (0.0, 0.0, -half), (0.0, 0.0, half))]


def monopole_wires(height_mm: float) -> list[Wire]:
    """A straight monopole of ``height_mm`` from the ground plane along z."""
    return [Wire("monopole", (0.0, 0.0, 0.0), (0.0, 0.0, height_mm))]
