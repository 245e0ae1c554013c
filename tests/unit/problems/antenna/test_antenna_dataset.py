"""Data sets for surrogate training: sampling, the disk cache, the process pool."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from problems.antenna.dataset import CACHE_ENV, AntennaDataset, cache_dir, generate_dataset, simulate
from problems.antenna.families import Family, design_space, param_names
from problems.antenna.schema import Sweep

SWEEP = Sweep(start_mhz=1000, stop_mhz=3000, points=11)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    return tmp_path


def test_dataset_shapes_units_and_cache_hits(cache: Path) -> None:
    first = generate_dataset("three-branch-monopole", 6, sweep=SWEEP, seed=4)
    assert first.param_names == param_names(Family.THREE_BRANCH)
    assert first.params.shape == (6, 10)
    assert first.unit_params.shape == (6, 10)
    assert first.s11.shape == (6, 11)
    assert first.s11.dtype == np.complex128
    assert first.freqs_hz.shape == (11,)
    assert first.freqs_hz[0] == 1e9
    assert np.all((first.unit_params >= 0) & (first.unit_params <= 1))
    assert design_space(Family.THREE_BRANCH).contains(first.params).all()
    assert np.all(np.abs(first.s11) <= 1 + 1e-9)
    assert (first.simulated, first.cache_hits) == (6, 0)
    assert cache_dir() == cache / "antenna-nec"
    assert len(list((cache / "antenna-nec").rglob("*.npy"))) == 6

    again = generate_dataset("three-branch-monopole", 6, sweep=SWEEP, seed=4)
    assert (again.simulated, again.cache_hits) == (0, 6)
    np.testing.assert_array_equal(again.s11, first.s11)
    np.testing.assert_array_equal(again.params, first.params)


def test_cache_hit_does_not_call_nec(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = generate_dataset("meander-monopole", 3, sweep=SWEEP, seed=1)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("NEC was called on a cache hit")

    monkeypatch.setattr("problems.antenna.dataset.design_impedance", refuse)
    again = generate_dataset("meander-monopole", 3, sweep=SWEEP, seed=1)
    np.testing.assert_array_equal(again.s11, first.s11)
    np.testing.assert_array_equal(simulate("meander-monopole", first.params[0], 0.25, SWEEP), first.s11[0])


def test_simulate_takes_vectors_and_mappings(cache: Path) -> None:
    space = design_space(Family.MEANDER)
    x = space.from_unit(np.full(13, 0.3))
    assert space.contains(x).all()
    by_vector = simulate(Family.MEANDER, x, 0.25, SWEEP, cache=False)
    by_name = simulate(Family.MEANDER, space.params(x), 0.25, SWEEP, cache=False)
    np.testing.assert_array_equal(by_vector, by_name)
    with pytest.raises(ValueError, match="takes 13 parameters"):
        simulate(Family.MEANDER, x[:5], 0.25, SWEEP)


def test_save_and_load_round_trip(cache: Path, tmp_path: Path) -> None:
    data = generate_dataset("three-branch-monopole", 2, sweep=SWEEP, seed=0)
    path = tmp_path / "data.npz"
    data.save(path)
    back = AntennaDataset.load(path)
    assert back.family is data.family
    assert back.param_names == data.param_names
    np.testing.assert_array_equal(back.s11, data.s11)
    np.testing.assert_array_equal(back.unit_params, data.unit_params)


@pytest.mark.slow
def test_process_pool_matches_in_process(cache: Path) -> None:
    pooled = generate_dataset("three-branch-monopole", 4, sweep=SWEEP, seed=9, workers=2, cache=False)
    local = generate_dataset("three-branch-monopole", 4, sweep=SWEEP, seed=9, workers=1, cache=False)
    np.testing.assert_array_equal(pooled.s11, local.s11)
    assert pooled.simulated == 4
