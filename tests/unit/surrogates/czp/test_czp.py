"""The CZP surrogate: the response function against scipy, the model's root constraints,
the parameter-matched MLP baseline, training on synthetic data, vector fitting and
checkpoints."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from scipy import signal

from surrogates.czp import (
    CZPConfig,
    CZPSurrogate,
    MLPConfig,
    MLPSurrogate,
    czp_response,
    db_magnitude,
    matched_mlp_config,
    mlp_hidden_for,
    mlp_parameter_count,
    normalized_s,
    parameter_count,
    synthetic_s11,
    train_surrogate,
    vector_fit_rmse_db,
)
from surrogates.czp import checkpoint as czp_checkpoint

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def data() -> Any:
    return synthetic_s11(240, n_params=3, pairs=2, seed=0)


@pytest.mark.parametrize(
    ("zeros", "poles", "c0"),
    [
        ([-0.01 + 1.0j, -0.01 - 1.0j], [-0.05 + 0.97j, -0.05 - 0.97j], 0.9),
        ([-0.2, 0.3 + 0.5j, 0.3 - 0.5j], [-0.1 + 0.8j, -0.1 - 0.8j, -0.4 + 1.2j, -0.4 - 1.2j, -1.0], 2.5),
        ([0.1 + 0.9j], [-0.3 + 1.1j, -0.2], 0.7 - 0.4j),  # complex coefficients, Kz != Kp
    ],
)
def test_czp_response_reproduces_scipy_freqs(zeros: list[complex], poles: list[complex], c0: complex) -> None:
    w = np.linspace(0.5, 1.5, 57)
    b = c0 * np.poly(zeros)
    a = np.poly(poles)
    _, expected = signal.freqs(b, a, worN=w)
    got = czp_response(
        torch.tensor(c0, dtype=torch.complex128),
        torch.tensor(zeros, dtype=torch.complex128),
        torch.tensor(poles, dtype=torch.complex128),
        torch.tensor(1j * w, dtype=torch.complex128),
    )
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12, atol=1e-14)


def test_czp_response_is_batched() -> None:
    gen = torch.Generator().manual_seed(0)
    zeros = torch.randn(4, 3, 5, generator=gen, dtype=torch.complex128)
    poles = torch.randn(4, 3, 6, generator=gen, dtype=torch.complex128)
    c0 = torch.randn(4, 3, generator=gen, dtype=torch.complex128)
    s = normalized_s(torch.linspace(1e9, 2e9, 11, dtype=torch.float64), 1.5e9)
    batched = czp_response(c0, zeros, poles, s)
    assert batched.shape == (4, 3, 11)
    torch.testing.assert_close(batched[2, 1], czp_response(c0[2, 1], zeros[2, 1], poles[2, 1], s))


def test_db_magnitude_floors_and_matches_20log10() -> None:
    out = db_magnitude(torch.tensor([0.0, 1e-6, 0.5, 1.0], dtype=torch.complex128), floor_db=-80.0)
    assert float(out[0]) == pytest.approx(-80.0)
    assert float(out[2]) == pytest.approx(20 * math.log10(0.5), abs=1e-6)
    assert float(out[3]) == pytest.approx(0.0, abs=1e-6)
    assert float(out[1]) == pytest.approx(-80.0, abs=0.01)  # 1e-6 = -120 dB, under the floor


def test_config_for_sweep_uses_the_centre() -> None:
    config = CZPConfig.for_sweep(4, np.linspace(0.8e9, 1.2e9, 11), pairs=2, hidden=16)
    assert config.f_ref_hz == pytest.approx(1.0e9)
    assert config.band == pytest.approx((0.8, 1.2))
    assert CZPConfig.from_json(config.to_json()) == config


def test_model_roots_keep_their_signs_and_come_in_conjugate_pairs() -> None:
    model = CZPSurrogate(CZPConfig(n_params=3, pairs=3, hidden=16), seed=1)
    with torch.no_grad():
        for param in model.parameters():  # far from the initialization: constraints must still hold
            param.add_(torch.randn_like(param) * 3.0)
        c0, zeros, poles = model.roots(torch.rand(20, 3))
    assert zeros.shape == (20, 6)
    assert poles.shape == (20, 6)
    assert bool((poles.real < 0).all())
    assert bool((zeros.real <= 0).all())
    assert bool((zeros[:, :3].imag >= 0).all())  # softplus may underflow to 0 (a real double root)
    assert bool((poles[:, :3].imag >= 0).all())
    torch.testing.assert_close(zeros[:, 3:], zeros[:, :3].conj())
    torch.testing.assert_close(poles[:, 3:], poles[:, :3].conj())
    assert bool((c0.real > 0).all())
    assert bool((c0.imag == 0).all())


def test_model_response_has_real_coefficients_and_starts_near_the_sweep() -> None:
    config = CZPConfig.for_sweep(2, np.linspace(2e9, 3e9, 21), pairs=2, hidden=8)
    model = CZPSurrogate(config, seed=0)
    x = torch.rand(5, 2, dtype=torch.float64)
    model = model.double()
    c0, zeros, poles = model.roots(x)
    s = normalized_s(torch.linspace(2e9, 3e9, 21, dtype=torch.float64), config.f_ref_hz)
    torch.testing.assert_close(czp_response(c0, zeros, poles, -s), czp_response(c0, zeros, poles, s).conj())
    lo, hi = config.band
    assert bool(((poles[:, :2].imag > lo) & (poles[:, :2].imag < hi)).all())  # initial poles inside the band
    assert model.s11(x, torch.linspace(2e9, 3e9, 21, dtype=torch.float64)).shape == (5, 21)


def test_seed_fixes_the_weights_and_leaves_the_global_rng_alone() -> None:
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = CZPSurrogate(CZPConfig(n_params=3), seed=7)
    after = torch.rand(1)
    b = CZPSurrogate(CZPConfig(n_params=3), seed=7)
    assert torch.equal(before, after)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_mlp_hidden_for_matches_the_parameter_count() -> None:
    for target in (500, 5_001, 20_000):
        hidden = mlp_hidden_for(target, 3, 101, layers=2)
        gap = abs(mlp_parameter_count(3, 101, hidden, 2) - target)
        neighbours = [abs(mlp_parameter_count(3, 101, h, 2) - target) for h in (hidden - 1, hidden + 1) if h >= 1]
        assert gap <= min(neighbours)
    assert parameter_count(MLPSurrogate(MLPConfig(3, 101, hidden=17, layers=3))) == mlp_parameter_count(3, 101, 17, 3)
    czp = CZPSurrogate(CZPConfig(n_params=3, pairs=3, hidden=64))
    mlp = MLPSurrogate(matched_mlp_config(czp, 101))
    assert abs(parameter_count(mlp) - parameter_count(czp)) / parameter_count(czp) < 0.03


def test_czp_fits_rational_synthetic_data_better_than_the_mlp(data: Any) -> None:
    czp = CZPSurrogate(CZPConfig.for_sweep(3, data.freqs_hz, pairs=2, hidden=32), seed=0)
    mlp = MLPSurrogate(matched_mlp_config(czp, data.freqs_hz.size), seed=0)
    common: dict[str, Any] = {"optimizer": "adamw", "epochs": 60, "lr": 3e-3, "batch_size": 32, "seed": 0}
    czp_result = train_surrogate(czp, data.unit_params, data.freqs_hz, data.s11, **common)
    mlp_result = train_surrogate(mlp, data.unit_params, data.freqs_hz, data.s11, **common)
    assert czp_result.n_test == 48
    assert czp_result.rmse_db < 0.6 * mlp_result.rmse_db
    assert czp_result.rmse_db < 1.0
    assert czp_result.curve[-1]["loss_db2"] < 0.1 * czp_result.curve[0]["loss_db2"]


def test_galore_training_uses_less_optimizer_state(data: Any) -> None:
    def fit(optimizer: Any, **extra: Any) -> Any:
        model = CZPSurrogate(CZPConfig.for_sweep(3, data.freqs_hz, pairs=2, hidden=48), seed=0)
        return train_surrogate(
            model, data.unit_params, data.freqs_hz, data.s11, optimizer=optimizer, epochs=15, rank=4, seed=0, **extra
        )

    events: list[dict[str, Any]] = []
    adamw, galore = fit("adamw"), fit("galore", on_progress=events.append, progress_every=5)
    assert galore.optimizer_state_bytes < 0.5 * adamw.optimizer_state_bytes
    assert galore.curve[-1]["loss_db2"] < 0.5 * galore.curve[0]["loss_db2"]
    assert [e["epoch"] for e in events] == [5, 10, 15]
    assert galore.to_json()["optimizer"] == "galore"
    layerwise = fit("galore", layerwise=True)
    assert layerwise.optimizer == "galore-layerwise"
    assert layerwise.curve[-1]["loss_db2"] < 0.5 * layerwise.curve[0]["loss_db2"]


def test_should_stop_ends_training_early(data: Any) -> None:
    model = CZPSurrogate(CZPConfig.for_sweep(3, data.freqs_hz, pairs=2, hidden=8), seed=0)
    calls = iter(range(100))
    result = train_surrogate(
        model, data.unit_params, data.freqs_hz, data.s11, epochs=50, should_stop=lambda: next(calls) >= 2
    )
    assert result.epochs == 2
    assert math.isfinite(result.rmse_db)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"unit_params": np.full((4, 3), 1.5)}, "unit_params"),
        ({"freqs_hz": np.linspace(2e9, 1e9, 101)}, "freqs_hz"),
        ({"s11": np.zeros((4, 100), dtype=complex)}, "s11"),
        ({"optimizer": "sgd"}, "optimizer"),
    ],
)
def test_bad_inputs_are_named(change: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {
        "unit_params": np.full((4, 3), 0.5),
        "freqs_hz": np.linspace(1e9, 2e9, 101),
        "s11": np.full((4, 101), 0.5 + 0.1j),
        **change,
    }
    model = CZPSurrogate(CZPConfig(n_params=3, hidden=4))
    with pytest.raises(ValueError, match=message):
        train_surrogate(model, epochs=1, **args)


def test_vector_fitting_recovers_rational_data(data: Any) -> None:
    rmse = vector_fit_rmse_db(data.freqs_hz, data.s11[:5], n_poles_cmplx=2)
    assert rmse.shape == (5,)
    assert float(rmse.max()) < 1e-3
    too_few = vector_fit_rmse_db(data.freqs_hz, data.s11[:5], n_poles_cmplx=1)
    assert float(too_few.mean()) > 10 * float(rmse.mean())


def test_checkpoint_round_trip(tmp_path: Path, data: Any) -> None:
    model = CZPSurrogate(CZPConfig.for_sweep(3, data.freqs_hz, pairs=2, hidden=8), seed=3)
    path = tmp_path / "czp.pt"
    digest = czp_checkpoint.save(model, path, {"data": "synthetic", "seed": 0})
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    loaded, meta, loaded_digest = czp_checkpoint.load(path)
    assert loaded_digest == digest
    assert meta == {"data": "synthetic", "seed": 0}
    assert loaded.config == model.config
    assert not loaded.training
    x = torch.as_tensor(data.unit_params[:4], dtype=torch.float32)
    f = torch.as_tensor(data.freqs_hz)
    torch.testing.assert_close(loaded.predict_db(x, f), model.predict_db(x, f), rtol=0, atol=0)


def test_checkpoint_of_another_kind_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.pt"
    torch.save({"format": "designsvc.surco-prior/1", "config": {}, "state_dict": {}, "meta": {}}, path)
    with pytest.raises(ValueError, match="not a CZP checkpoint"):
        czp_checkpoint.load(path)
    with pytest.raises(ValueError, match="cannot read"):
        czp_checkpoint.load(tmp_path / "missing.pt")
