"""Every registered solver on the reference instances, time limits, cancel, progress, warm
start. Parametrized over the registry itself, so a new solver cannot escape the suite."""

from __future__ import annotations

import itertools
import threading
import time

import pyomo.environ as pyo
import pytest
from pyomo.common.collections import ComponentMap

from designsvc.core.cancel import CancelToken
from designsvc.core.plugins import SOLVERS
from designsvc.core.solver import Solver
from designsvc.core.types import Progress, SolutionStatus, SolverConfig, Termination
from solvers.testing import REFERENCE_CASES, ReferenceCase, check_case, market_split, max_violation

SOLVER_NAMES = SOLVERS.names()


def _solver(name: str) -> Solver:
    return SOLVERS.load(name)()


def test_guard_every_registered_solver_is_available_and_tested() -> None:
    """No registered solver is skipped silently: each one is available here, so each runs
    every test below; the built-in three are registered."""
    assert {"highs", "cpsat", "scip"} <= set(SOLVER_NAMES)
    for name in SOLVER_NAMES:
        availability = SOLVERS.load(name).availability()
        assert availability.available, f"{name}: {availability.reason}"


@pytest.mark.parametrize("name", SOLVER_NAMES)
@pytest.mark.parametrize("case", REFERENCE_CASES, ids=lambda c: c.name)
def test_reference_case(name: str, case: ReferenceCase) -> None:
    check_case(_solver(name), case)


@pytest.mark.parametrize("name", SOLVER_NAMES)
def test_time_limit_returns_the_best_design_so_far(name: str) -> None:
    model = market_split(4, 30, seed=1)
    result = _solver(name).solve(model, SolverConfig(time_limit_s=1.0, rel_gap=0.0))
    assert result.termination is Termination.TIME_LIMIT, result
    assert result.solution_status is SolutionStatus.FEASIBLE
    assert result.objective is not None
    assert result.objective >= 0
    assert max_violation(model) <= 1e-6
    assert result.wall_time_s < 15.0


@pytest.mark.parametrize("name", SOLVER_NAMES)
def test_cancel_from_another_thread_keeps_the_best_design(name: str) -> None:
    model = market_split(4, 30, seed=2)
    token = CancelToken()
    timer = threading.Timer(0.5, token.cancel)
    timer.start()
    started = time.perf_counter()
    result = _solver(name).solve(model, SolverConfig(time_limit_s=120.0, rel_gap=0.0), cancel_token=token)
    elapsed = time.perf_counter() - started
    timer.cancel()
    assert result.termination is Termination.INTERRUPTED, result
    assert elapsed < 15.0
    assert result.solution_status is SolutionStatus.FEASIBLE
    assert max_violation(model) <= 1e-6


@pytest.mark.parametrize("name", SOLVER_NAMES)
def test_cancelled_before_start_does_not_solve(name: str) -> None:
    token = CancelToken()
    token.cancel()
    result = _solver(name).solve(market_split(4, 30), SolverConfig(time_limit_s=60.0), cancel_token=token)
    assert result.termination is Termination.INTERRUPTED
    assert result.solution_status is SolutionStatus.NONE
    assert result.wall_time_s < 5.0


@pytest.mark.parametrize("name", SOLVER_NAMES)
def test_progress_reports_incumbent_and_bound(name: str) -> None:
    reports: list[Progress] = []
    result = _solver(name).solve(
        market_split(3, 18, seed=3), SolverConfig(time_limit_s=20.0, rel_gap=0.0), on_progress=reports.append
    )
    assert result.has_solution
    assert reports, "no progress reported"
    incumbents = [p.incumbent for p in reports if p.incumbent is not None]
    assert incumbents, "no incumbent reported"
    # Incumbents of a minimization never get worse, and elapsed time never goes back.
    assert all(b <= a + 1e-9 for a, b in itertools.pairwise(incumbents))
    assert [p.elapsed_s for p in reports] == sorted(p.elapsed_s for p in reports)
    assert result.objective is not None
    assert incumbents[-1] >= result.objective - 1e-9


@pytest.mark.parametrize("name", SOLVER_NAMES)
def test_warm_start_is_taken(name: str) -> None:
    """A solver given a good start within a very short time limit returns a design at least
    as good as the start."""
    solver = _solver(name)
    model = market_split(4, 30, seed=4)
    first = solver.solve(model, SolverConfig(time_limit_s=3.0, rel_gap=0.0))
    assert first.objective is not None
    start = ComponentMap((v, v.value) for v in model.component_data_objects(pyo.Var) if v.value is not None)
    fresh = market_split(4, 30, seed=4)
    fresh_start = ComponentMap((fresh.find_component(v.name), value) for v, value in start.items())
    result = solver.solve(fresh, SolverConfig(time_limit_s=0.2, rel_gap=0.0), warm_start=fresh_start)
    assert result.has_solution
    assert result.objective is not None
    assert result.objective <= first.objective + 1e-9
    assert not any("warm start" in note for note in result.notes)


@pytest.mark.parametrize("name", SOLVER_NAMES)
def test_threads_and_seed_are_accepted(name: str) -> None:
    solver = _solver(name)
    result = solver.solve(market_split(2, 10, seed=5), SolverConfig(time_limit_s=20.0, threads=2, seed=7))
    assert result.termination is Termination.OPTIMAL
    max_threads = solver.capabilities.max_threads
    if max_threads is not None and max_threads < 2:
        assert any("thread" in note for note in result.notes)


@pytest.mark.parametrize("name", SOLVER_NAMES)
def test_unknown_backend_option_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="unknown option 'no_such_option_xyz'"):
        _solver(name).validate_options({"no_such_option_xyz": 1})


@pytest.mark.parametrize("name", SOLVER_NAMES)
def test_result_reports_version_and_timing(name: str) -> None:
    solver = _solver(name)
    result = solver.solve(REFERENCE_CASES[1].build(), SolverConfig(time_limit_s=10))
    assert result.solver == name
    assert result.solver_version == solver.version() != ""
    assert 0 <= result.translate_s <= result.wall_time_s
    assert result.gap == 0.0
    assert result.to_json()["termination"] == "optimal"
