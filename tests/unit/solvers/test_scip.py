"""SCIP plug-in (OR-Tools' bundled SCIP through MathOpt): real solves of small Pyomo models
with known answers, LP and MILP, limits, cancel, progress, warm start and SCIP options."""

from __future__ import annotations

import itertools

import pyomo.environ as pyo
import pytest
from pyomo.common.collections import ComponentMap

from designsvc.core.errors import ModelNotSupportedError
from designsvc.core.types import Progress, SolutionStatus, SolverConfig, Termination
from solvers.scip import ScipSolver, scip_parameters
from solvers.testing import correlated_knapsack


def small_milp() -> pyo.ConcreteModel:
    # max 5x + 4y + 3z s.t. 2x + 3y + z <= 5, 4x + y + 2z <= 11, 3x + 4y + 2z <= 8 -> (2, 0, 1): 13.
    m = pyo.ConcreteModel()
    m.x = pyo.Var(within=pyo.NonNegativeIntegers)
    m.y = pyo.Var(within=pyo.NonNegativeIntegers)
    m.z = pyo.Var(within=pyo.NonNegativeIntegers)
    m.c1 = pyo.Constraint(expr=2 * m.x + 3 * m.y + m.z <= 5)
    m.c2 = pyo.Constraint(expr=4 * m.x + m.y + 2 * m.z <= 11)
    m.c3 = pyo.Constraint(expr=3 * m.x + 4 * m.y + 2 * m.z <= 8)
    m.obj = pyo.Objective(expr=5 * m.x + 4 * m.y + 3 * m.z, sense=pyo.maximize)
    return m


def test_lp_with_free_variables_and_offset() -> None:
    # min 2x - y + 10 s.t. x + y >= 2, x - y >= -4, y <= 5, x free: x = max(y - 4, 2 - y) at
    # the optimum, smallest at the kink y = 3, x = -1: -2 - 3 + 10 = 5.
    m = pyo.ConcreteModel()
    m.x = pyo.Var(within=pyo.Reals)
    m.y = pyo.Var(within=pyo.Reals, bounds=(None, 5))
    m.c1 = pyo.Constraint(expr=m.x + m.y >= 2)
    m.c2 = pyo.Constraint(expr=m.x - m.y >= -4)
    m.obj = pyo.Objective(expr=2 * m.x - m.y + 10)
    result = ScipSolver().solve(m, SolverConfig(time_limit_s=10))
    assert result.termination is Termination.OPTIMAL
    assert result.objective == pytest.approx(5.0)
    assert result.bound == pytest.approx(5.0)
    assert (m.x.value, m.y.value) == (pytest.approx(-1.0), pytest.approx(3.0))


def test_fractional_coefficients_need_no_scaling() -> None:
    # SCIP takes 1/3 as it is: x/3 + y/3 <= 1, x, y integer in [0, 5], max x + 2y -> y = 3: 6.
    m = pyo.ConcreteModel()
    m.x = pyo.Var(within=pyo.Integers, bounds=(0, 5))
    m.y = pyo.Var(within=pyo.Integers, bounds=(0, 5))
    m.c = pyo.Constraint(expr=m.x / 3 + m.y / 3 <= 1)
    m.obj = pyo.Objective(expr=m.x + 2 * m.y, sense=pyo.maximize)
    result = ScipSolver().solve(m, SolverConfig(time_limit_s=10))
    assert result.objective == pytest.approx(6.0)


def test_quadratic_objective_is_refused() -> None:
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(0, 1))
    m.obj = pyo.Objective(expr=m.x * m.x)
    with pytest.raises(ModelNotSupportedError):
        ScipSolver().solve(m)


def test_crossed_bounds_are_infeasible_without_solving() -> None:
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(2, 1))
    m.obj = pyo.Objective(expr=m.x)
    result = ScipSolver().solve(m)
    assert result.termination is Termination.INFEASIBLE
    assert "column x" in result.message


def test_node_limit_is_another_limit() -> None:
    result = ScipSolver().solve(correlated_knapsack(), SolverConfig(time_limit_s=20.0, options={"limits/nodes": 5}))
    assert result.termination is Termination.OTHER_LIMIT
    assert result.solution_status is SolutionStatus.FEASIBLE


def test_progress_reports_incumbents_and_bounds_in_model_units() -> None:
    reports: list[Progress] = []
    m = correlated_knapsack(seed=2)
    result = ScipSolver().solve(m, SolverConfig(time_limit_s=1.0, rel_gap=0.0), on_progress=reports.append)
    incumbents = [p.incumbent for p in reports if p.incumbent is not None]
    assert incumbents, "no incumbent reported"
    # maximization: incumbents never get worse, bounds sit above them, and the last
    # incumbent is the design returned (gSCIP's own primal bound lags one solution behind).
    assert all(b >= a for a, b in itertools.pairwise(incumbents))
    assert all(p.bound >= p.incumbent - 1e-6 for p in reports if p.bound is not None and p.incumbent is not None)
    assert incumbents[-1] == pytest.approx(result.objective)


def test_pure_lp_gets_no_progress() -> None:
    reports: list[Progress] = []
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(0, 4))
    m.y = pyo.Var(bounds=(0, 4))
    m.c = pyo.Constraint(expr=m.x + 2 * m.y <= 6)
    m.obj = pyo.Objective(expr=m.x + m.y, sense=pyo.maximize)
    result = ScipSolver().solve(m, on_progress=reports.append)
    assert result.objective == pytest.approx(5.0)
    assert reports == []


def test_warm_start_is_taken() -> None:
    solver = ScipSolver()
    m = correlated_knapsack(seed=3)
    first = solver.solve(m, SolverConfig(time_limit_s=2.0))
    assert first.objective is not None
    fresh = correlated_knapsack(seed=3)
    start = ComponentMap((fresh.x[j], m.x[j].value) for j in fresh.x)
    result = solver.solve(fresh, SolverConfig(time_limit_s=0.05), warm_start=start)
    assert result.objective is not None
    assert result.objective >= first.objective - 1e-6
    assert not any("warm start" in note for note in result.notes)


def test_threads_above_one_are_noted() -> None:
    result = ScipSolver().solve(small_milp(), SolverConfig(threads=4, seed=3))
    assert result.termination is Termination.OPTIMAL
    assert any("thread" in note for note in result.notes)


def test_parameter_table_comes_from_scip() -> None:
    table = scip_parameters()
    assert table is not None
    assert len(table) > 1000
    assert table["limits/nodes"].kind == "longint"
    assert table["display/verblevel"].kind == "int"
    assert (table["display/verblevel"].low, table["display/verblevel"].high) == (0, 5)
    assert table["limits/gap"].kind == "real"


def test_scip_options_pass_through_by_type() -> None:
    solver = ScipSolver()
    options = {
        "limits/nodes": 1000,  # longint
        "display/verblevel": 0,  # int
        "limits/memory": 4096,  # real, given as an int
        "nodeselection/childsel": "h",  # char
        "lp/presolving": True,  # bool
    }
    solver.validate_options(options)
    result = solver.solve(small_milp(), SolverConfig(time_limit_s=10, options=options))
    assert result.termination is Termination.OPTIMAL


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"no_such_option_xyz": 1}, "unknown option 'no_such_option_xyz' for solver scip"),
        ({"limits/nodez": 1}, "unknown option 'limits/nodez' for solver scip"),
        ({"limits/time": 5.0}, "time_limit_s"),
        ({"limits/nodes": 1.5}, "longint"),
        ({"lp/presolving": 1}, "bool"),
        ({"display/verblevel": 9}, r"\[0, 5\]"),
        ({"nodeselection/childsel": "z"}, "one of"),
    ],
)
def test_bad_options_are_refused(options: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ScipSolver().validate_options(options)
