"""The parametric view of ``antenna@1`` (:mod:`problems.antenna.parametric`): it agrees with
the evaluator (simulation and loss), projects and samples inside the space, and makes the
model return a given design."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from designsvc.core.plugins import SOLVERS
from designsvc.core.types import SolverConfig, Termination
from problems.antenna import AntennaProblem

BASE: dict[str, Any] = {
    "family": "three-branch-monopole",
    "sweep": {"start_mhz": 1500, "stop_mhz": 3500, "points": 21},
    "target": {
        "bands": [{"start_mhz": 2400, "stop_mhz": 2500, "max_s11_db": -10}],
        "reject_bands": [{"start_mhz": 1500, "stop_mhz": 1700, "min_s11_db": -3}],
    },
}


@pytest.fixture(scope="module")
def problem() -> AntennaProblem:
    return AntennaProblem(AntennaProblem.parse_instance(BASE))


def test_simulate_and_loss_match_the_evaluator(problem: AntennaProblem) -> None:
    interface = problem.parametric_interface()
    x = interface.sample(3, 0)
    assert interface.contains(x).all()
    s11 = interface.simulate(x)
    assert s11.shape == (3, 21)
    losses = interface.target_loss_db(20 * np.log10(np.abs(s11)))
    for row, loss in zip(x, np.atleast_1d(losses), strict=True):
        evaluation = problem.evaluate(interface.design(row))
        assert evaluation.feasible
        assert evaluation.objective == pytest.approx(float(loss), abs=1e-9)
    assert interface.worst_loss_db() == pytest.approx(10.0)
    assert interface.pass_masks.sum() == 2  # 2400 and 2500 MHz on a 100 MHz grid
    assert interface.reject_masks.sum() == 3


def test_project_fixed_and_design_round_trip(problem: AntennaProblem) -> None:
    interface = problem.parametric_interface()
    outside = interface.upper.copy()  # the box's corner breaks the bounding-box rules
    assert not interface.contains(outside)[0]
    inside = interface.project(outside)
    assert interface.contains(inside)[0]
    assert np.allclose(interface.params_of(interface.design(inside)), inside)
    with pytest.raises(ValueError, match="missing"):
        interface.params_of({"params": {}})
    # The model with fixed_for(x) returns x itself.
    x = interface.sample(1, 5)[0]
    model = problem.build_model(fixed=interface.fixed_for(x))
    result = SOLVERS.load("highs")().solve(model, SolverConfig(time_limit_s=30))
    assert result.termination is Termination.OPTIMAL
    assert np.allclose(interface.params_of(problem.extract_design(model)), x, atol=1e-6)


def test_dataset_through_the_interface(problem: AntennaProblem, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("DESIGNSVC_CACHE_DIR", str(tmp_path))
    interface = problem.parametric_interface()
    data = interface.dataset(3, seed=1, workers=1, space="instance")
    assert data.params.shape == (3, 10)
    assert data.s11.shape == (3, 21)
    assert data.simulated == 3
    assert data.unit_params.min() >= 0.0
    assert data.unit_params.max() <= 1.0
    again = interface.dataset(3, seed=1, workers=1, space="instance")
    assert again.cache_hits == 3
    assert np.allclose(again.s11, data.s11)
    family = interface.dataset(2, seed=1, workers=1, sweep="family")
    assert family.s11.shape == (2, 61)
    assert family.description["sweep"]["points"] == 61
    with pytest.raises(ValueError, match="space must be"):
        interface.dataset(1, space="box")
