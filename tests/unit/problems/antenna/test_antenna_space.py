"""The design spaces of the antenna families: linear rules, sampling, the Pyomo model."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pyomo.environ as pyo
import pytest

from designsvc.core.plugins import SOLVERS
from designsvc.core.types import SolverConfig, Termination
from problems.antenna import AntennaProblem
from problems.antenna.families import Family, design_space, param_names, wires
from problems.antenna.sampling import chebyshev_centre, project, sample_designs

FAMILIES = list(Family)


def _segment_distance(p1: np.ndarray, p2: np.ndarray, q1: np.ndarray, q2: np.ndarray) -> float:
    """Least distance between two segments (dense sampling; fine for a test)."""
    t = np.linspace(0.0, 1.0, 201)[:, None]
    a = p1 + t * (p2 - p1)
    b = q1 + t * (q2 - q1)
    return float(np.min(np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2)))


def test_families_have_the_documented_parameter_counts() -> None:
    assert len(param_names(Family.THREE_BRANCH)) == 10
    assert len(param_names(Family.MEANDER)) == 13


@pytest.mark.parametrize("family", FAMILIES)
def test_sampled_designs_meet_the_rules_and_keep_their_spacing(family: Family) -> None:
    space = design_space(family)
    designs = sample_designs(space, 40, np.random.default_rng(1))
    assert designs.shape == (40, len(space.names))
    assert space.contains(designs).all()
    for x in designs[:15]:
        params = space.params(x)
        assert space.violations(params) == []
        geometry = wires(family, params)
        for w in geometry:
            assert w.length_mm >= space.min_wire_mm - 1e-9, w.label
            assert max(w.start_mm[2], w.end_mm[2]) <= space.max_height_mm + 1e-9
            lo, hi = space.box_x_mm
            assert lo - 1e-9 <= min(w.start_mm[0], w.end_mm[0])
            assert max(w.start_mm[0], w.end_mm[0]) <= hi + 1e-9
        # Wires that do not share an end point keep the minimum spacing (the rules are exact).
        for a, b in itertools.combinations(geometry, 2):
            ends_a = {a.start_mm, a.end_mm}
            if ends_a & {b.start_mm, b.end_mm}:
                continue
            distance = _segment_distance(*(np.array(p) for p in (a.start_mm, a.end_mm, b.start_mm, b.end_mm)))
            assert distance >= space.min_spacing_mm - 0.02, (a.label, b.label, distance)


def test_a_colliding_design_violates_the_rules() -> None:
    space = design_space(Family.THREE_BRANCH)
    params = space.params(chebyshev_centre(space))
    params["rise1_mm"] = params["z2_mm"] - params["z1_mm"]  # rise 1 touches arm 2
    lines = space.violations(params)
    assert any("spacing_rise1_arm2" in line for line in lines)
    assert not space.contains(space.vector(params))[0]


@pytest.mark.parametrize("family", FAMILIES)
def test_projection_of_an_infeasible_proposal_is_feasible(family: Family) -> None:
    space = design_space(family)
    proposal = space.upper * 1.3  # far outside: every length at its maximum and beyond
    x = project(space, proposal)
    assert space.contains(x).all()


def _instance(family: Family) -> AntennaProblem:
    from problems.antenna.schema import AntennaInstance

    instance = AntennaInstance.model_validate(
        {
            "family": family.value,
            "sweep": {"start_mhz": 1000, "stop_mhz": 3000, "points": 21},
            "target": {"bands": [{"start_mhz": 2000, "stop_mhz": 2200}]},
        }
    )
    return AntennaProblem(instance)


@pytest.mark.parametrize("family", FAMILIES)
def test_pyomo_projection_with_highs_matches_scipy_and_is_feasible(family: Family) -> None:
    problem = _instance(family)
    space = problem.space
    proposal = space.params(space.upper * 1.3)
    model = problem.build_model(fixed={"target": proposal})
    result = SOLVERS.load("highs")().solve(model, SolverConfig(time_limit_s=30))
    assert result.termination is Termination.OPTIMAL
    design = problem.extract_design(model)
    assert space.violations(design["params"]) == []
    reference = project(space, proposal)
    distance = float(np.abs(space.to_unit(reference) - space.to_unit(space.upper * 1.3)).sum())
    assert math.isclose(result.objective or 0.0, distance, rel_tol=1e-6, abs_tol=1e-6)


@pytest.mark.parametrize("family", FAMILIES)
def test_pyomo_constraints_hold_exactly_on_sampled_designs(family: Family) -> None:
    problem = _instance(family)
    space = problem.space
    model = problem.build_model()
    for x in sample_designs(space, 10, np.random.default_rng(3)):
        for var, value in problem.encode_design(model, {"params": space.params(x)}).items():
            var.set_value(value)
        for con in model.component_data_objects(pyo.Constraint, active=True):
            body = pyo.value(con.body)
            assert con.lower is None or body >= pyo.value(con.lower) - 1e-9, con.name
            assert con.upper is None or body <= pyo.value(con.upper) + 1e-9, con.name


def test_default_solve_returns_the_centre_and_bounds_prune() -> None:
    problem = _instance(Family.MEANDER)
    space = problem.space
    highs = SOLVERS.load("highs")()
    model = problem.build_model()
    assert highs.solve(model, SolverConfig(time_limit_s=30)).objective == pytest.approx(0.0, abs=1e-7)
    np.testing.assert_allclose(
        space.vector(problem.extract_design(model)["params"]), chebyshev_centre(space), atol=1e-6
    )
    pruned = problem.build_model(fixed={"bounds": {"feed_mm": [15.0, 16.0]}})
    assert highs.solve(pruned, SolverConfig(time_limit_s=30)).has_solution
    assert 15.0 - 1e-9 <= problem.extract_design(pruned)["params"]["feed_mm"] <= 16.0 + 1e-9
    with pytest.raises(ValueError, match="unknown parameter 'nope'"):
        problem.build_model(fixed={"target": {"nope": 1.0}})
    with pytest.raises(ValueError, match="leaves nothing"):
        problem.build_model(fixed={"bounds": {"feed_mm": [30.0, 40.0]}})
