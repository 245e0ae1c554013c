"""CP-SAT plug-in: real solves of small Pyomo models with known answers, exact scaling of
fractional coefficients, refusals, limits, cancel, progress, warm start and options."""

from __future__ import annotations

import math

import pyomo.environ as pyo
import pytest
from pyomo.common.collections import ComponentMap

from designsvc.core.errors import ModelNotSupportedError
from designsvc.core.linear import compile_linear
from designsvc.core.types import Progress, SolverConfig, Termination
from solvers.cpsat import CpSatSolver, _rational, _translate
from solvers.testing import correlated_knapsack


def integer_pair(lower: float = 0, upper: float = 20) -> pyo.ConcreteModel:
    m = pyo.ConcreteModel()
    m.x = pyo.Var(within=pyo.Integers, bounds=(lower, upper))
    m.y = pyo.Var(within=pyo.Integers, bounds=(lower, upper))
    return m


def test_fractional_coefficients_are_scaled_exactly() -> None:
    # 0.1x + 0.25y <= 1.3 is 2x + 5y <= 26 exactly; x = 13 is feasible although the float
    # product 0.1 * 13 = 1.3000000000000003 exceeds 1.3.
    m = integer_pair()
    m.c = pyo.Constraint(expr=0.1 * m.x + 0.25 * m.y <= 1.3)
    m.obj = pyo.Objective(expr=m.x + m.y, sense=pyo.maximize)
    translation = _translate(compile_linear(m))
    assert not isinstance(translation, str)
    linear = translation.model.proto.constraints[0].linear
    assert (list(linear.coeffs), list(linear.domain)[1]) == ([2, 5], 26)

    result = CpSatSolver().solve(m, SolverConfig(time_limit_s=10))
    assert result.termination is Termination.OPTIMAL
    assert result.objective == 13.0
    assert (m.x.value, m.y.value) == (13, 0)


def test_fractional_objective_and_offset_are_reported_in_model_units() -> None:
    # min 0.1x + 0.25y + 2.5 s.t. x + y >= 7, y >= 2 -> x = 5, y = 2: 0.5 + 0.5 + 2.5 = 3.5.
    m = integer_pair()
    m.c1 = pyo.Constraint(expr=m.x + m.y >= 7)
    m.c2 = pyo.Constraint(expr=m.y >= 2)
    m.obj = pyo.Objective(expr=0.1 * m.x + 0.25 * m.y + 2.5)
    result = CpSatSolver().solve(m, SolverConfig(time_limit_s=10))
    assert result.termination is Termination.OPTIMAL
    assert result.objective == 3.5
    assert result.bound == 3.5
    assert result.gap == 0.0


def test_ranged_row_bounds_round_inwards() -> None:
    # 0.5 <= 0.5x - 0.25y <= 1.4 is 2 <= 2x - y <= 5 (ceil 2.0, floor 5.6) after scaling by 4.
    m = integer_pair()
    m.r = pyo.Constraint(expr=pyo.inequality(0.5, 0.5 * m.x - 0.25 * m.y, 1.4))
    m.obj = pyo.Objective(expr=m.x - m.y, sense=pyo.maximize)
    translation = _translate(compile_linear(m))
    assert not isinstance(translation, str)
    linear = translation.model.proto.constraints[0].linear
    assert (list(linear.coeffs), list(linear.domain)) == ([2, -1], [2, 5])
    result = CpSatSolver().solve(m, SolverConfig(time_limit_s=10))
    assert result.termination is Termination.OPTIMAL
    assert result.objective == max(x - y for x in range(21) for y in range(21) if 2 <= 2 * x - y <= 5)


def test_float_one_third_reads_as_one_third() -> None:
    # The float 1/3 is the simplest rational that rounds to it, so the row is x + y + z <= 3.
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(3), within=pyo.Binary)
    m.c = pyo.Constraint(expr=sum(m.x[i] / 3 for i in range(3)) <= 1)
    m.obj = pyo.Objective(expr=sum(m.x[i] for i in range(3)), sense=pyo.maximize)
    assert _rational(1 / 3) == pytest.approx(1 / 3)
    assert str(_rational(1 / 3)) == "1/3"
    result = CpSatSolver().solve(m, SolverConfig(time_limit_s=10))
    assert result.objective == 3.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.1, "1/10"), (1.3, "13/10"), (123456.789, "123456789/1000"), (-2.675, "-107/40"), (1e-9, "1/1000000000")],
)
def test_rational_reading_of_floats(value: float, expected: str) -> None:
    rational = _rational(value)
    assert str(rational) == expected
    assert float(rational) == value  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [0.1 + 0.2, 1e-12, 3.0000000000000004])
def test_floats_without_a_small_rational_are_none(value: float) -> None:
    assert _rational(value) is None


def test_coefficient_without_exact_scaling_is_refused_naming_row_and_column() -> None:
    m = integer_pair()
    m.budget = pyo.Constraint(expr=(0.1 + 0.2) * m.x + m.y <= 3)
    m.obj = pyo.Objective(expr=m.x + m.y, sense=pyo.maximize)
    with pytest.raises(ModelNotSupportedError, match=r"coefficient of x in row budget is 0\.30000000000000004"):
        CpSatSolver().solve(m)


def test_row_whose_scale_exceeds_2_53_is_refused() -> None:
    # pi and e each have a rational with q <= 1e9, but not a common scale within 2**53.
    m = integer_pair()
    m.mix = pyo.Constraint(expr=math.pi * m.x + math.e * m.y <= 10)
    m.obj = pyo.Objective(expr=m.x + m.y, sense=pyo.maximize)
    with pytest.raises(ModelNotSupportedError, match=r"2\*\*53.*row mix"):
        CpSatSolver().solve(m)


def test_objective_coefficient_without_exact_scaling_is_refused() -> None:
    m = integer_pair()
    m.c = pyo.Constraint(expr=m.x + m.y <= 3)
    m.obj = pyo.Objective(expr=1e-12 * m.x + m.y)
    with pytest.raises(ModelNotSupportedError, match="objective coefficient of x"):
        CpSatSolver().solve(m)


def test_quadratic_objective_is_refused() -> None:
    m = integer_pair()
    m.c = pyo.Constraint(expr=m.x + m.y <= 3)
    m.obj = pyo.Objective(expr=m.x * m.y, sense=pyo.maximize)
    with pytest.raises(ModelNotSupportedError):
        CpSatSolver().solve(m)


def test_continuous_and_unbounded_variables_are_refused() -> None:
    m = pyo.ConcreteModel()
    m.x = pyo.Var(within=pyo.NonNegativeReals, bounds=(0, 1))
    m.obj = pyo.Objective(expr=m.x)
    with pytest.raises(ModelNotSupportedError, match="continuous"):
        CpSatSolver().solve(m)
    m = pyo.ConcreteModel()
    m.x = pyo.Var(within=pyo.NonNegativeIntegers)
    m.obj = pyo.Objective(expr=m.x)
    with pytest.raises(ModelNotSupportedError, match="finite bounds"):
        CpSatSolver().solve(m)


def test_column_without_an_integer_value_is_infeasible_without_solving() -> None:
    m = integer_pair(lower=0.2, upper=0.8)
    m.obj = pyo.Objective(expr=m.x + m.y)
    result = CpSatSolver().solve(m)
    assert result.termination is Termination.INFEASIBLE
    assert "column x" in result.message


def test_row_without_an_integer_activity_is_infeasible_without_solving() -> None:
    m = integer_pair()
    m.r = pyo.Constraint(expr=pyo.inequality(1.2, m.x + m.y, 1.8))
    m.obj = pyo.Objective(expr=m.x)
    result = CpSatSolver().solve(m)
    assert result.termination is Termination.INFEASIBLE
    assert "row r" in result.message


def test_progress_reports_incumbents_and_bounds_in_model_units() -> None:
    reports: list[Progress] = []
    m = correlated_knapsack(seed=2)
    result = CpSatSolver().solve(m, SolverConfig(time_limit_s=1.0, rel_gap=0.0), on_progress=reports.append)
    incumbents = [p.incumbent for p in reports if p.incumbent is not None]
    assert incumbents, "no incumbent reported"
    # maximization: incumbents never get worse, bounds sit above them, and the last
    # incumbent is the design returned.
    assert incumbents == sorted(incumbents)
    assert all(p.bound is not None and p.incumbent is not None and p.bound >= p.incumbent for p in reports)
    assert incumbents[-1] == result.objective


def test_progress_on_a_feasibility_problem() -> None:
    reports: list[Progress] = []
    m = integer_pair(0, 2)
    m.c = pyo.Constraint(expr=m.x + m.y == 3)
    CpSatSolver().solve(m, on_progress=reports.append)
    assert [(p.incumbent, p.bound) for p in reports] == [(0.0, 0.0)]


def test_warm_start_is_taken_and_clipped() -> None:
    solver = CpSatSolver()
    m = correlated_knapsack(seed=3)
    first = solver.solve(m, SolverConfig(time_limit_s=2.0))
    assert first.objective is not None
    fresh = correlated_knapsack(seed=3)
    start = ComponentMap((fresh.x[j], m.x[j].value) for j in fresh.x)
    result = solver.solve(fresh, SolverConfig(time_limit_s=0.05), warm_start=start)
    assert result.objective is not None
    assert result.objective >= first.objective
    assert not any("warm start" in note for note in result.notes)

    # Values off the integer grid or outside the bounds are rounded and clipped.
    m = integer_pair()
    m.c = pyo.Constraint(expr=m.x + m.y <= 30)
    m.obj = pyo.Objective(expr=m.x + m.y, sense=pyo.maximize)
    result = solver.solve(m, warm_start=ComponentMap([(m.x, 41.7), (m.y, -3.2)]))
    assert result.objective == 30.0


def test_options_pass_through_to_sat_parameters() -> None:
    solver = CpSatSolver()
    options = {"linearization_level": 2, "search_branching": "FIXED_SEARCH", "log_search_progress": False}
    solver.validate_options(options)
    result = solver.solve(correlated_knapsack(), SolverConfig(time_limit_s=0.3, threads=2, seed=5, options=options))
    assert result.has_solution


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"no_such_option_xyz": 1}, "unknown option 'no_such_option_xyz' for solver cpsat"),
        ({"max_time_in_seconds": 5.0}, "time_limit_s"),
        ({"num_workers": 8}, "threads"),
        ({"linearization_level": "high"}, "linearization_level"),
        ({"search_branching": "NO_SUCH_STRATEGY"}, "search_branching"),
    ],
)
def test_bad_options_are_refused(options: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        CpSatSolver().validate_options(options)
