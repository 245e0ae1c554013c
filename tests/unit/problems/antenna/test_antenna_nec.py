"""NEC2 through necpp: textbook antennas, S11 and Touchstone, geometry errors."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from problems.antenna.families import Wire
from problems.antenna.nec import (
    SPEED_OF_LIGHT_M_S,
    NecGeometryError,
    NecUnavailableError,
    dipole_wires,
    monopole_wires,
    network,
    s11_db,
    s11_from_impedance,
    segment_counts,
    simulate_impedance,
)
from problems.antenna.render import touchstone_bytes


def _zero_crossing(freqs_hz: np.ndarray, z: np.ndarray) -> tuple[float, float]:
    """The frequency where the reactance crosses zero (linear interpolation) and the
    resistance there."""
    x = z.imag
    k = int(np.flatnonzero((x[:-1] < 0) & (x[1:] >= 0))[0])
    t = -x[k] / (x[k + 1] - x[k])
    return float(freqs_hz[k] + t * (freqs_hz[k + 1] - freqs_hz[k])), float(z.real[k] + t * (z.real[k + 1] - z.real[k]))


def test_half_wave_dipole_resonates_near_c_over_2l_with_73_ohm() -> None:
    length_mm = 1000.0
    nominal_hz = SPEED_OF_LIGHT_M_S / (2 * length_mm / 1000)
    freqs = np.linspace(0.85 * nominal_hz, 1.05 * nominal_hz, 41)
    z = simulate_impedance(dipole_wires(length_mm), wire_radius_mm=1.0, freqs_hz=freqs, ground=False, segments=[21])
    f0, r0 = _zero_crossing(freqs, z)
    assert 0.93 < f0 / nominal_hz < 0.99  # NEC's resonance sits a few % below c/2L (end effect)
    assert 65 < r0 < 85


def test_quarter_wave_monopole_over_perfect_ground_is_near_36_ohm() -> None:
    height_mm = 500.0
    nominal_hz = SPEED_OF_LIGHT_M_S / (4 * height_mm / 1000)
    freqs = np.linspace(0.85 * nominal_hz, 1.05 * nominal_hz, 41)
    z = simulate_impedance(monopole_wires(height_mm), wire_radius_mm=1.0, freqs_hz=freqs, ground=True)
    f0, r0 = _zero_crossing(freqs, z)
    assert 0.93 < f0 / nominal_hz < 0.99
    assert 31 < r0 < 42


def test_s11_from_impedance_and_db() -> None:
    s = s11_from_impedance(np.array([50 + 0j, 150 + 0j, 0j]), 50.0)
    np.testing.assert_allclose(s, [0, 0.5, -1])
    np.testing.assert_allclose(s11_db(np.array([0.1 + 0j, 1 + 0j])), [-20.0, 0.0])


def test_touchstone_round_trip(tmp_path: Path) -> None:
    import skrf

    rng = np.random.default_rng(0)
    freqs = np.linspace(1e9, 2e9, 11)
    s11 = (rng.uniform(-0.7, 0.7, 11) + 1j * rng.uniform(-0.7, 0.7, 11)).astype(np.complex128)
    path = tmp_path / "a.s1p"
    path.write_bytes(touchstone_bytes(freqs, s11, 50.0, "test"))
    back = skrf.Network(str(path))
    np.testing.assert_allclose(back.f, freqs, rtol=0, atol=1e-6)
    assert np.max(np.abs(back.s[:, 0, 0] - s11)) < 1e-9
    assert np.allclose(back.z0, 50.0)
    assert network(freqs, s11).s.shape == (11, 1, 1)


def test_segmentation_follows_the_wavelength_and_the_radius() -> None:
    wire = Wire("w", (0.0, 0.0, 0.0), (0.0, 0.0, 100.0))
    short = Wire("s", (0.0, 0.0, 0.0), (0.0, 0.0, 1.0))
    # 3 GHz: wavelength 99.9 mm, 20 per wavelength -> 5 mm segments; a 1 mm wire of radius 0.25 mm: 2 segments.
    assert segment_counts([wire, short], 0.25, 3e9, 20) == [21, 2]


def test_nec_geometry_errors_name_the_wire() -> None:
    crossing = [
        Wire("post", (0.0, 0.0, 0.0), (0.0, 0.0, 50.0)),
        Wire("bar", (-10.0, 0.0, 25.0), (10.0, 0.0, 25.0)),
    ]
    with pytest.raises(NecGeometryError, match="INTERSECTS") as info:
        simulate_impedance(crossing, wire_radius_mm=0.5, freqs_hz=[1e9, 1.1e9], ground=True, segments=[5, 4])
    assert set(info.value.wires) == {"post", "bar"}
    assert "'bar'" in str(info.value)
    with pytest.raises(NecGeometryError, match="below the ground"):
        simulate_impedance(
            [Wire("sunk", (0.0, 0.0, -5.0), (0.0, 0.0, 30.0))], wire_radius_mm=0.5, freqs_hz=[1e9], ground=True
        )
    with pytest.raises(ValueError, match="evenly spaced"):
        simulate_impedance(monopole_wires(30.0), wire_radius_mm=0.5, freqs_hz=[1e9, 1.1e9, 1.5e9])


def test_missing_necpp_gives_a_setup_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "necpp", None)
    with pytest.raises(NecUnavailableError, match="make setup"):
        simulate_impedance(monopole_wires(30.0), wire_radius_mm=0.5, freqs_hz=[1e9])
