"""The conformance checker for problem plug-ins (Gymnasium's ``check_env``, for problems).

Plug-in authors run :func:`check_problem` on a small instance of their kind, in a test::

    from problems.testing import check_problem
    check_problem(MyProblem, MyProblem.generate(seed=0, items=10))

It raises ``AssertionError`` naming the first broken rule of the :class:`Problem` contract.
It solves the instance once, so pass one that the solver finishes in seconds.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

import pyomo.environ as pyo
from pydantic import BaseModel

from designsvc.core.modelinfo import model_size
from designsvc.core.plugins import SOLVERS
from designsvc.core.problem import Problem
from designsvc.core.solver import Solver
from designsvc.core.types import PLAIN_NAME, Artifact, Evaluation, SolverConfig

__all__ = ["check_problem"]

_KIND = re.compile(r"^[a-z][a-z0-9-]*$")
_MEDIA_TYPE = re.compile(r"^[a-z]+/[A-Za-z0-9.+-]+$")
_REL_TOL = 1e-6
_TIME_LIMIT_S = 60.0


def check_problem(
    problem_cls: type[Problem[Any]],
    instance: BaseModel | Mapping[str, Any],
    *,
    solver: Solver | None = None,
) -> None:
    """Check ``problem_cls`` on ``instance`` (a validated instance or its raw JSON data).

    Checks, in order: class attributes and the example spec; the schema round trip
    (``model_dump`` -> ``parse_instance`` gives an equal instance); two ``build_model`` calls
    give distinct models of equal size sharing no variable; ``solver`` (default: the
    registered ``"highs"``) finds a solution; ``extract_design`` gives a JSON design that
    ``evaluate`` calls feasible, with the solver's objective when ``objective_is_linear``;
    ``encode_design`` round-trips through a fresh model; every baseline gives a JSON design
    that ``evaluate`` handles; ``render`` gives well-formed artifacts.
    Raises ``AssertionError`` with the reason.
    """
    _check_class(problem_cls)
    validated: BaseModel = instance if isinstance(instance, BaseModel) else problem_cls.parse_instance(instance)
    _check(
        isinstance(validated, problem_cls.instance_schema),
        f"the instance is a {type(validated).__name__}, not a {problem_cls.instance_schema.__name__}",
    )
    _check_schema_round_trip(problem_cls, validated)
    problem = problem_cls(validated)

    first, second = problem.build_model(), problem.build_model()
    _check(first is not second, "build_model returned the same model object twice (it must be fresh)")
    size = model_size(first)
    _check(
        size == model_size(second),
        f"build_model gave models of different sizes: {size} and {model_size(second)}",
    )
    _check(size["variables"] > 0, "build_model gave a model without variables")
    first_vars = {id(v) for v in first.component_data_objects(pyo.Var, descend_into=True)}
    _check(
        not any(id(v) in first_vars for v in second.component_data_objects(pyo.Var, descend_into=True)),
        "two build_model calls share variables (build every component afresh)",
    )

    if solver is None:
        solver = SOLVERS.load("highs")()
    result = solver.solve(first, SolverConfig(time_limit_s=_TIME_LIMIT_S))
    _check(
        result.has_solution,
        f"{solver.name} found no solution (termination {result.termination.value}: {result.message}); "
        "check_problem needs a feasible instance that solves in seconds",
    )
    design = problem.extract_design(first)
    _check_json(design, "extract_design")
    evaluation = _evaluate(problem, design, "the solver's design")
    _check(
        evaluation.feasible,
        f"evaluate calls the solver's design infeasible: {list(evaluation.violations)[:5]}",
    )
    if problem_cls.objective_is_linear:
        _check(result.objective is not None, f"{solver.name} returned a solution without an objective")
        assert result.objective is not None
        _check(
            math.isclose(evaluation.objective, result.objective, rel_tol=_REL_TOL, abs_tol=_REL_TOL),
            f"objective_is_linear, but evaluate's objective {evaluation.objective!r} differs from "
            f"the solver's {result.objective!r} (relative tolerance {_REL_TOL})",
        )

    fresh = problem.build_model()
    start = problem.encode_design(fresh, design)
    _check(isinstance(start, Mapping) and len(start) > 0, "encode_design returned no values")
    fresh_vars = {id(v) for v in fresh.component_data_objects(pyo.Var, descend_into=True)}
    for var, value in start.items():
        _check(
            id(var) in fresh_vars,
            f"encode_design returned {var!r}, not a variable of the given model",
        )
        var.set_value(value, skip_validation=True)
    again = problem.extract_design(fresh)
    _check(
        again == design,
        "encode_design does not round-trip: extract_design(encoded values) differs from the design",
    )

    for name, baseline in problem.baselines().items():
        _check(
            bool(name) and isinstance(name, str),
            f"baseline name {name!r} must be a non-empty string",
        )
        baseline_design = baseline(0)
        _check_json(baseline_design, f"baseline {name!r}")
        _evaluate(problem, baseline_design, f"baseline {name!r}'s design")

    artifacts = problem.render(design)
    _check(isinstance(artifacts, list), f"render returned a {type(artifacts).__name__}, not a list")
    names: set[str] = set()
    for artifact in artifacts:
        _check_artifact(artifact)
        _check(artifact.name not in names, f"render returned two artifacts named {artifact.name!r}")
        names.add(artifact.name)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _check_class(problem_cls: type[Problem[Any]]) -> None:
    _check(
        isinstance(problem_cls, type) and issubclass(problem_cls, Problem),
        f"{problem_cls!r} is not a Problem subclass",
    )
    _check(
        bool(_KIND.fullmatch(getattr(problem_cls, "kind", ""))),
        f"kind {getattr(problem_cls, 'kind', None)!r} must match {_KIND.pattern}",
    )
    version = getattr(problem_cls, "version", None)
    _check(
        isinstance(version, int) and not isinstance(version, bool) and version >= 1,
        f"version {version!r} must be an int >= 1",
    )
    _check(bool(getattr(problem_cls, "title", "")), "title must be a non-empty string")
    schema = getattr(problem_cls, "instance_schema", None)
    _check(
        isinstance(schema, type) and issubclass(schema, BaseModel),
        "instance_schema must be a pydantic model class",
    )
    spec = problem_cls.example_spec()
    _check_json(spec, "example_spec")
    _check(
        spec.get("problem") == problem_cls.id(),
        f"example_spec's problem is {spec.get('problem')!r}, not {problem_cls.id()!r}",
    )


def _check_schema_round_trip(problem_cls: type[Problem[Any]], instance: BaseModel) -> None:
    data = json.loads(json.dumps(instance.model_dump(mode="json")))
    again = problem_cls.parse_instance(data)
    _check(again == instance, "the instance schema does not round-trip (model_dump -> parse_instance)")


def _check_json(value: Any, what: str) -> None:
    _check(
        isinstance(value, dict),
        f"{what} returned a {type(value).__name__}, not a JSON object (dict)",
    )
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise AssertionError(f"{what} returned a value that is not JSON-serializable: {exc}") from exc
    _check(
        json.loads(text) == value,
        f"{what} returned a value that changes through JSON (tuples, non-str keys?)",
    )


def _evaluate(problem: Problem[Any], design: dict[str, Any], what: str) -> Evaluation:
    evaluation = problem.evaluate(design)
    _check(
        isinstance(evaluation, Evaluation),
        f"evaluate returned a {type(evaluation).__name__} for {what}",
    )
    _check(
        isinstance(evaluation.objective, (int, float)) and math.isfinite(evaluation.objective),
        f"evaluate gave a non-finite objective {evaluation.objective!r} for {what}",
    )
    _check(
        evaluation.feasible == (not evaluation.violations),
        f"evaluate of {what}: feasible={evaluation.feasible} but violations={list(evaluation.violations)[:5]} "
        "(an infeasible design needs at least one violation line; a feasible one none)",
    )
    _check(
        all(isinstance(v, str) and v for v in evaluation.violations),
        f"evaluate of {what}: violations must be non-empty strings",
    )
    try:
        json.dumps(evaluation.to_json(), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise AssertionError(f"evaluate of {what} is not JSON-serializable: {exc}") from exc
    return evaluation


def _check_artifact(artifact: Any) -> None:
    _check(
        isinstance(artifact, Artifact),
        f"render returned a {type(artifact).__name__}, not an Artifact",
    )
    _check(
        bool(PLAIN_NAME.fullmatch(artifact.name)),
        f"artifact name {artifact.name!r} is not a plain file name",
    )
    _check(
        bool(_MEDIA_TYPE.fullmatch(artifact.media_type)),
        f"artifact {artifact.name!r} has media type {artifact.media_type!r}",
    )
    _check(
        isinstance(artifact.data, bytes) and len(artifact.data) > 0,
        f"artifact {artifact.name!r} is empty",
    )
