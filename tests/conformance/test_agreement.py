"""The three solvers agree on the optimum of 20 seeded random assignment@1 instances."""

from __future__ import annotations

import pytest

from designsvc.core.plugins import PROBLEMS, SOLVERS
from designsvc.core.types import SolverConfig, Termination

SEEDS = range(20)


@pytest.mark.parametrize("seed", SEEDS)
def test_solvers_agree_on_the_optimum(seed: int) -> None:
    cls = PROBLEMS.load("assignment@1")
    problem = cls(cls.generate(seed=seed, items=12 + seed % 5, bins=3 + seed % 3))
    config = SolverConfig(time_limit_s=60.0, rel_gap=0.0, seed=seed)
    optima: dict[str, float] = {}
    for name in ("highs", "cpsat", "scip"):
        model = problem.build_model()
        result = SOLVERS.load(name)().solve(model, config)
        assert result.termination is Termination.OPTIMAL, (name, result)
        design = problem.extract_design(model)
        evaluation = problem.evaluate(design)
        assert evaluation.feasible, (name, evaluation.violations)
        assert result.objective == pytest.approx(evaluation.objective, rel=1e-9)
        optima[name] = evaluation.objective
    assert optima["cpsat"] == pytest.approx(optima["highs"], rel=1e-9), optima
    assert optima["scip"] == pytest.approx(optima["highs"], rel=1e-9), optima
