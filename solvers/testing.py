"""Reference instances with known optima, for testing any solver plug-in (cvxpy's rule).

Each :class:`ReferenceCase` builds a fresh Pyomo model and states what a correct solver must
answer. Plug-in authors run :func:`check_solver` on their solver; this project's conformance
suite runs every registered solver through every case.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyomo.environ as pyo

from designsvc.core.errors import ModelNotSupportedError
from designsvc.core.solver import Capabilities, Solver
from designsvc.core.types import SolutionStatus, SolverConfig, Termination

__all__ = [
    "REFERENCE_CASES",
    "ReferenceCase",
    "check_case",
    "check_solver",
    "correlated_knapsack",
    "market_split",
    "max_violation",
]


@dataclass(frozen=True)
class ReferenceCase:
    """``build`` makes the model; ``terminations`` the acceptable answers; ``objective`` the
    optimum in the model's sense (None when there is none); ``needs`` the capabilities a solver
    must declare to take the model (otherwise it must refuse with ModelNotSupportedError)."""

    name: str
    build: Callable[[], pyo.ConcreteModel]
    terminations: frozenset[Termination]
    objective: float | None
    needs: tuple[str, ...] = ()

    def supported_by(self, capabilities: Capabilities) -> bool:
        return all(getattr(capabilities, need) for need in self.needs)


def _lp_production() -> pyo.ConcreteModel:
    # max 3x + 2y  s.t. x + y <= 4, x + 3y <= 6, x <= 3  ->  x = 3, y = 1, objective 11.
    m = pyo.ConcreteModel()
    m.x = pyo.Var(within=pyo.NonNegativeReals)
    m.y = pyo.Var(within=pyo.NonNegativeReals)
    m.c1 = pyo.Constraint(expr=m.x + m.y <= 4)
    m.c2 = pyo.Constraint(expr=m.x + 3 * m.y <= 6)
    m.c3 = pyo.Constraint(expr=m.x <= 3)
    m.obj = pyo.Objective(expr=3 * m.x + 2 * m.y, sense=pyo.maximize)
    return m


def _milp_knapsack() -> pyo.ConcreteModel:
    # 0-1 knapsack: items (weight, value) (4,10) (6,13) (3,7) (5,8), capacity 10 -> 23.
    m = pyo.ConcreteModel()
    weights, values = [4, 6, 3, 5], [10, 13, 7, 8]
    m.x = pyo.Var(range(4), within=pyo.Binary)
    m.cap = pyo.Constraint(expr=sum(w * m.x[i] for i, w in enumerate(weights)) <= 10)
    m.obj = pyo.Objective(expr=sum(v * m.x[i] for i, v in enumerate(values)), sense=pyo.maximize)
    return m


def _milp_fractional() -> pyo.ConcreteModel:
    # min x + y + 0.5  s.t. 0.5x + 0.25y >= 2.75, x - y == 1, 0 <= x, y <= 10 integer
    # -> y = 3, x = 4, objective 7.5 (exact decimal coefficients: CP-SAT scales them).
    m = pyo.ConcreteModel()
    m.x = pyo.Var(within=pyo.Integers, bounds=(0, 10))
    m.y = pyo.Var(within=pyo.Integers, bounds=(0, 10))
    m.c1 = pyo.Constraint(expr=0.5 * m.x + 0.25 * m.y >= 2.75)
    m.c2 = pyo.Constraint(expr=m.x - m.y == 1)
    m.obj = pyo.Objective(expr=m.x + m.y + 0.5)
    return m


def _milp_ranged() -> pyo.ConcreteModel:
    # min -x1 - 2x2 - 3x3  s.t. 2 <= x1 + x2 + x3 <= 4, x1 + x3 >= 1, integer in [0, 3]
    # -> x3 = 3, x2 = 1, x1 = 0: objective -11.
    m = pyo.ConcreteModel()
    m.x = pyo.Var([1, 2, 3], within=pyo.Integers, bounds=(0, 3))
    m.r = pyo.Constraint(expr=pyo.inequality(2, m.x[1] + m.x[2] + m.x[3], 4))
    m.c = pyo.Constraint(expr=m.x[1] + m.x[3] >= 1)
    m.obj = pyo.Objective(expr=-m.x[1] - 2 * m.x[2] - 3 * m.x[3])
    return m


def _milp_infeasible() -> pyo.ConcreteModel:
    # 2x == 3 has no integer solution although its LP relaxation does.
    m = pyo.ConcreteModel()
    m.x = pyo.Var(within=pyo.Integers, bounds=(0, 10))
    m.c = pyo.Constraint(expr=2 * m.x == 3)
    m.obj = pyo.Objective(expr=m.x)
    return m


def _lp_infeasible() -> pyo.ConcreteModel:
    m = pyo.ConcreteModel()
    m.x = pyo.Var(within=pyo.NonNegativeReals)
    m.y = pyo.Var(within=pyo.NonNegativeReals)
    m.c1 = pyo.Constraint(expr=m.x + m.y <= 1)
    m.c2 = pyo.Constraint(expr=m.x + m.y >= 2)
    m.obj = pyo.Objective(expr=m.x + m.y)
    return m


def _lp_unbounded() -> pyo.ConcreteModel:
    m = pyo.ConcreteModel()
    m.x = pyo.Var(within=pyo.NonNegativeReals)
    m.y = pyo.Var(within=pyo.NonNegativeReals)
    m.c = pyo.Constraint(expr=m.x - m.y <= 1)
    m.obj = pyo.Objective(expr=m.x + m.y, sense=pyo.maximize)
    return m


def _milp_unbounded() -> pyo.ConcreteModel:
    m = pyo.ConcreteModel()
    m.x = pyo.Var(within=pyo.NonNegativeIntegers)
    m.y = pyo.Var(within=pyo.NonNegativeIntegers)
    m.c = pyo.Constraint(expr=m.x - 2 * m.y <= 3)
    m.obj = pyo.Objective(expr=-m.x - m.y)
    return m


def _feasibility() -> pyo.ConcreteModel:
    # No objective: any point with x + y == 3, x, y in {0, 1, 2} is optimal (objective 0).
    m = pyo.ConcreteModel()
    m.x = pyo.Var(within=pyo.Integers, bounds=(0, 2))
    m.y = pyo.Var(within=pyo.Integers, bounds=(0, 2))
    m.c = pyo.Constraint(expr=m.x + m.y == 3)
    return m


def _milp_fixed_var() -> pyo.ConcreteModel:
    # A fixed variable is a constant: min x + 5z with z fixed to 2, x >= 1.5 integer -> 12.
    m = pyo.ConcreteModel()
    m.x = pyo.Var(within=pyo.Integers, bounds=(0, 10))
    m.z = pyo.Var(within=pyo.Integers, bounds=(0, 10))
    m.z.fix(2)
    m.c = pyo.Constraint(expr=m.x + m.z >= 3.5)
    m.obj = pyo.Objective(expr=m.x + 5 * m.z)
    return m


_T = Termination
REFERENCE_CASES: tuple[ReferenceCase, ...] = (
    ReferenceCase("lp-production", _lp_production, frozenset({_T.OPTIMAL}), 11.0, ("continuous",)),
    ReferenceCase("milp-knapsack", _milp_knapsack, frozenset({_T.OPTIMAL}), 23.0),
    ReferenceCase("milp-fractional", _milp_fractional, frozenset({_T.OPTIMAL}), 7.5),
    ReferenceCase("milp-ranged", _milp_ranged, frozenset({_T.OPTIMAL}), -11.0),
    ReferenceCase("milp-fixed-var", _milp_fixed_var, frozenset({_T.OPTIMAL}), 12.0),
    ReferenceCase("feasibility", _feasibility, frozenset({_T.OPTIMAL}), 0.0),
    ReferenceCase("milp-infeasible", _milp_infeasible, frozenset({_T.INFEASIBLE, _T.INFEASIBLE_OR_UNBOUNDED}), None),
    ReferenceCase(
        "lp-infeasible",
        _lp_infeasible,
        frozenset({_T.INFEASIBLE, _T.INFEASIBLE_OR_UNBOUNDED}),
        None,
        ("continuous", "unbounded_variables"),
    ),
    ReferenceCase(
        "lp-unbounded",
        _lp_unbounded,
        frozenset({_T.UNBOUNDED, _T.INFEASIBLE_OR_UNBOUNDED}),
        None,
        ("continuous", "unbounded_variables"),
    ),
    ReferenceCase(
        "milp-unbounded",
        _milp_unbounded,
        frozenset({_T.UNBOUNDED, _T.INFEASIBLE_OR_UNBOUNDED}),
        None,
        ("unbounded_variables",),
    ),
)


def market_split(rows: int = 4, columns: int = 30, *, seed: int = 0) -> pyo.ConcreteModel:
    """A market split instance (Cornuéjols & Dawande 1999), notoriously hard for branch and
    bound: ``sum_j a_ij x_j + s+_i - s-_i = d_i`` with ``a_ij`` uniform in [0, 99], ``d_i``
    half the row sum, binary ``x`` and integer slacks; minimize total slack. ``x = 0`` is
    feasible, so every solver finds a design at once and then searches for a long time: the
    reference for time-limit and cancel behaviour (4 x 30 runs for minutes on any of the
    built-in solvers here)."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 100, size=(rows, columns))
    d = a.sum(axis=1) // 2
    m = pyo.ConcreteModel()
    m.I = pyo.RangeSet(0, rows - 1)
    m.J = pyo.RangeSet(0, columns - 1)
    m.x = pyo.Var(m.J, within=pyo.Binary)
    m.up = pyo.Var(m.I, within=pyo.Integers, bounds=lambda _m, i: (0, int(d[i])))
    m.down = pyo.Var(m.I, within=pyo.Integers, bounds=lambda _m, i: (0, int(a[i].sum() - d[i])))
    m.split = pyo.Constraint(
        m.I, rule=lambda m, i: sum(int(a[i, j]) * m.x[j] for j in m.J) + m.up[i] - m.down[i] == int(d[i])
    )
    m.obj = pyo.Objective(expr=sum(m.up[i] + m.down[i] for i in m.I))
    return m


def correlated_knapsack(items: int = 60, constraints: int = 5, *, seed: int = 0) -> pyo.ConcreteModel:
    """A 0-1 multi-knapsack whose values are correlated with the weights (a hard class for
    branch and bound): a *maximization* with ``x = 0`` feasible, so designs come at once while
    proving optimality takes long (60 x 5 ran past 20 s on CP-SAT and SCIP here). The
    reference for progress and warm starts in a maximizing model's sense."""
    rng = np.random.default_rng(seed)
    weights = rng.integers(1, 1000, size=(constraints, items))
    values = (weights.mean(axis=0) + rng.integers(0, 20, size=items)).astype(int)
    capacity = weights.sum(axis=1) // 2
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(items), within=pyo.Binary)
    m.cap = pyo.Constraint(
        range(constraints),
        rule=lambda m, i: sum(int(weights[i, j]) * m.x[j] for j in range(items)) <= int(capacity[i]),
    )
    m.obj = pyo.Objective(expr=sum(int(values[j]) * m.x[j] for j in range(items)), sense=pyo.maximize)
    return m


def max_violation(model: pyo.ConcreteModel) -> float:
    """The largest violation of a bound, a constraint or integrality by the loaded values."""
    worst = 0.0
    for var in model.component_data_objects(pyo.Var, active=True):
        if var.value is None:
            continue
        lb, ub = var.bounds
        worst = max(worst, (lb - var.value) if lb is not None else 0.0, (var.value - ub) if ub is not None else 0.0)
        if var.is_integer():
            worst = max(worst, abs(var.value - round(var.value)))
    for con in model.component_data_objects(pyo.Constraint, active=True):
        body = pyo.value(con.body, exception=False)
        if body is None:
            return math.inf
        if con.has_lb():
            worst = max(worst, pyo.value(con.lower) - body)
        if con.has_ub():
            worst = max(worst, body - pyo.value(con.upper))
    return worst


def check_case(solver: Solver, case: ReferenceCase, config: SolverConfig | None = None) -> None:
    """Solve ``case`` and assert the answer; a solver lacking a needed capability must
    refuse the model with :class:`ModelNotSupportedError`."""
    model = case.build()
    config = config or SolverConfig(time_limit_s=30)
    if not case.supported_by(solver.capabilities):
        try:
            solver.solve(model, config)
        except ModelNotSupportedError:
            return
        raise AssertionError(f"{solver.name} should refuse {case.name} (needs {case.needs})")
    result = solver.solve(model, config)
    assert result.termination in case.terminations, (
        f"{solver.name} on {case.name}: termination {result.termination}, expected one of "
        f"{sorted(t.value for t in case.terminations)} ({result.message})"
    )
    if case.objective is None:
        assert result.solution_status is SolutionStatus.NONE, f"{solver.name} on {case.name}: unexpected solution"
        return
    assert result.solution_status is SolutionStatus.OPTIMAL, f"{solver.name} on {case.name}: {result.solution_status}"
    assert result.objective is not None, f"{solver.name} on {case.name}: no objective"
    assert math.isclose(result.objective, case.objective, rel_tol=1e-6, abs_tol=1e-6), (
        f"{solver.name} on {case.name}: objective {result.objective}, expected {case.objective}"
    )
    violation = max_violation(model)
    assert violation <= 1e-6, f"{solver.name} on {case.name}: loaded solution violates the model by {violation}"
    if case.objective is not None and result.bound is not None:
        assert math.isclose(result.bound, case.objective, rel_tol=1e-4, abs_tol=1e-6), (
            f"{solver.name} on {case.name}: bound {result.bound} at optimality, expected {case.objective}"
        )


def check_solver(solver: Solver) -> None:
    """Run every reference case on ``solver`` (the check a plug-in author runs)."""
    for case in REFERENCE_CASES:
        check_case(solver, case)
