"""Every registered proposer on every registered problem kind: it runs through the pipeline,
keeps the answer feasible, and its state survives a JSON round trip."""

from __future__ import annotations

import json

import pytest

from designsvc.core.plugins import PROBLEMS, PROPOSERS
from designsvc.services.pipeline import run_job

CASES = [
    (proposer, problem)
    for proposer in PROPOSERS.names()
    for problem in PROBLEMS.names()
    if PROPOSERS.load(proposer).problems is None or problem in PROPOSERS.load(proposer).problems  # type: ignore[operator]
]


def _first_builtin(problem_id: str) -> str:
    return sorted(PROBLEMS.load(problem_id).builtin_instances())[0]


def test_guard_proposers_are_registered() -> None:
    assert "baseline-start" in PROPOSERS.names()
    assert CASES
    # Every proposer runs on at least one registered problem kind.
    assert {proposer for proposer, _ in CASES} == set(PROPOSERS.names())


@pytest.mark.parametrize(("proposer", "problem_id"), CASES)
def test_proposer_through_the_pipeline(proposer: str, problem_id: str) -> None:
    spec = {
        "problem": problem_id,
        "instance_ref": f"builtin:{_first_builtin(problem_id)}",
        "proposer": {"name": proposer},
        "limits": {"time_limit_s": 30},
        "render": False,
    }
    result = run_job(spec).result
    assert result["status"] == "succeeded", result.get("error")
    assert result["proposer"]["name"] == proposer
    assert result["proposer"]["asked"] >= 1
    assert result["proposer"]["told"] == result["proposer"]["asked"]
    assert result["evaluation"]["feasible"]


@pytest.mark.parametrize(("proposer", "problem_id"), CASES)
def test_state_round_trips_through_json(proposer: str, problem_id: str) -> None:
    problem_cls = PROBLEMS.load(problem_id)
    problem = problem_cls(problem_cls.builtin_instances()[_first_builtin(problem_id)]())
    cls = PROPOSERS.load(proposer)
    first = cls(problem, seed=3)
    first.ask()
    state = json.loads(json.dumps(first.get_state()))
    second = cls.from_state(problem, state)
    assert second.get_state() == state
    assert second.asked == first.asked
    wrong = {**state, "name": "something-else"}
    with pytest.raises(ValueError, match="given to"):
        cls.from_state(problem, wrong)
