"""The parametric-response interface (:mod:`designsvc.core.parametric`): shape checks, the
target loss written from band masks, unit coordinates, membership, and the default hook."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from designsvc.core.parametric import ParametricInterface, s11_db
from designsvc.core.plugins import PROBLEMS


def _interface(**changes: Any) -> ParametricInterface:
    freqs = np.linspace(1e9, 2e9, 6)
    fields: dict[str, Any] = {
        "family": "toy",
        "param_names": ("a_mm", "b_mm"),
        "param_units": "mm",
        "lower": np.array([0.0, 10.0]),
        "upper": np.array([10.0, 30.0]),
        "rules_matrix": np.array([[1.0, 1.0]]),
        "rules_rhs": np.array([25.0]),
        "freqs_hz": freqs,
        "reference_impedance_ohm": 50.0,
        "pass_masks": np.array([[False, True, True, False, False, False]]),
        "pass_ceilings_db": np.array([-10.0]),
        "reject_masks": np.array([[False, False, False, False, True, True]]),
        "reject_floors_db": np.array([-3.0]),
        "simulate": lambda x: np.zeros((np.atleast_2d(x).shape[0], 6), dtype=np.complex128),
        "project": np.asarray,
        "sample": lambda n, seed: np.zeros((n, 2)),
        "design": lambda x: {"params": {"a_mm": float(x[0]), "b_mm": float(x[1])}},
        "params_of": lambda d: np.array([d["params"]["a_mm"], d["params"]["b_mm"]]),
        "fixed_for": lambda x: {"target": {"a_mm": float(x[0]), "b_mm": float(x[1])}},
        "dataset": lambda n, **kw: None,
    }
    fields.update(changes)
    return ParametricInterface(**fields)


def test_target_loss_is_the_band_shortfall() -> None:
    interface = _interface()
    db = np.array([0.0, -12.0, -8.0, 0.0, -1.0, -5.0])
    # pass band: mean(max(0, [-12, -8] + 10)) = 1; reject: mean(max(0, -3 - [-1, -5])) = 1
    assert interface.target_loss_db(db) == pytest.approx(2.0)
    both = interface.target_loss_db(np.vstack([db, np.full(6, -20.0)]))
    assert isinstance(both, np.ndarray)
    assert both.tolist() == pytest.approx([2.0, 17.0])
    assert interface.worst_loss_db() == pytest.approx(10.0)  # |S11| = 0 dB: 10 dB above the ceiling


def test_unit_coordinates_and_membership() -> None:
    interface = _interface()
    x = np.array([[5.0, 20.0], [10.0, 20.0]])
    assert interface.to_unit(x).tolist() == [[0.5, 0.5], [1.0, 0.5]]
    assert np.allclose(interface.from_unit(interface.to_unit(x)), x)
    assert interface.contains(x).tolist() == [True, False]  # 10 + 20 > 25
    assert interface.n_params == 2


def test_shapes_are_checked() -> None:
    with pytest.raises(ValueError, match=r"pass_masks has shape \(1, 5\), expected \(1, 6\)"):
        _interface(pass_masks=np.zeros((1, 5), dtype=bool))
    with pytest.raises(ValueError, match="rules_matrix"):
        _interface(rules_matrix=np.zeros((1, 3)))
    with pytest.raises(ValueError, match="at least one pass band"):
        _interface(pass_masks=np.zeros((0, 6), dtype=bool), pass_ceilings_db=np.zeros(0))
    with pytest.raises(ValueError, match="at least one sweep point"):
        _interface(pass_masks=np.zeros((1, 6), dtype=bool))


def test_s11_db_is_floored() -> None:
    assert s11_db(np.array([1.0, 0.1, 0.0])).tolist() == pytest.approx([0.0, -20.0, -300.0])


def test_kinds_without_it_raise_not_implemented() -> None:
    cls = PROBLEMS.load("assignment@1")
    name = sorted(cls.builtin_instances())[0]
    problem = cls(cls.builtin_instances()[name]())
    with pytest.raises(NotImplementedError, match="parametric-response"):
        problem.parametric_interface()
