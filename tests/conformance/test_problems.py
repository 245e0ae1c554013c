"""Every registered problem kind through the public checker, on each of its builtin
instances, with every registered solver that can take its model."""

from __future__ import annotations

import pytest

from designsvc.core.errors import ModelNotSupportedError
from designsvc.core.plugins import PROBLEMS, SOLVERS
from designsvc.services.validation import resolve_spec
from problems.testing import check_problem

PROBLEM_IDS = PROBLEMS.names()


def _small_builtins(problem_id: str) -> list[str]:
    """The builtin instances that solve in seconds (the conformance suite is not a benchmark)."""
    names = sorted(PROBLEMS.load(problem_id).builtin_instances())
    return names[:2]


def test_guard_every_problem_has_builtin_instances_and_an_example() -> None:
    assert "assignment@1" in PROBLEM_IDS
    for problem_id in PROBLEM_IDS:
        cls = PROBLEMS.load(problem_id)
        assert cls.builtin_instances(), problem_id
        # The example spec is valid as it stands.
        assert resolve_spec(cls.example_spec()).problem_id == problem_id


@pytest.mark.parametrize("solver_name", SOLVERS.names())
@pytest.mark.parametrize(
    ("problem_id", "instance_name"),
    [(p, name) for p in PROBLEM_IDS for name in _small_builtins(p)],
)
def test_problem_passes_the_checker(problem_id: str, instance_name: str, solver_name: str) -> None:
    cls = PROBLEMS.load(problem_id)
    instance = cls.builtin_instances()[instance_name]()
    solver = SOLVERS.load(solver_name)()
    try:
        check_problem(cls, instance, solver=solver)
    except ModelNotSupportedError as exc:
        pytest.skip(f"{solver_name} cannot take {problem_id}: {exc}")
