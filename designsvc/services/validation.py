"""Turning a spec document into a ready job: every name resolved, every field checked.

Everything a user can get wrong is reported here, before any solve, as a
:class:`SpecError` with JSON pointers; nothing heavier than the problem's own module is
imported (solver backends are checked with ``find_spec``, not imported).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from designsvc.agent.turn import ResolvedAgentTurn, is_agent_turn, resolve_agent_turn
from designsvc.core.errors import FieldError, ModelNotSupportedError, RegistryError, SpecError, UnknownNameError
from designsvc.core.modelinfo import model_size
from designsvc.core.plugins import PROBLEMS, PROPOSERS, SOLVERS, TRAINERS, resolve_problem_id
from designsvc.core.problem import Problem
from designsvc.core.proposer import Proposer
from designsvc.core.solver import Solver
from designsvc.core.spec import JobSpec, TrainSpec, is_training, parse_spec, parse_train_spec
from designsvc.core.trainer import Trainer
from designsvc.core.types import JsonDict

__all__ = [
    "AnyJob",
    "ResolvedJob",
    "ResolvedTraining",
    "resolve_any",
    "resolve_spec",
    "resolve_training",
    "validate_spec",
]

_GENERATE = re.compile(r"^generate:(?P<args>[a-z_]+=-?\d+(,[a-z_]+=-?\d+)*)$")


@dataclass(frozen=True)
class ResolvedJob:
    """A validated spec with its plug-ins loaded: the problem object (holding the validated
    instance), the solver object, and the proposer class (None without a proposer)."""

    spec: JobSpec
    problem_id: str
    problem: Problem[Any]
    solver: Solver
    proposer_cls: type[Proposer] | None


@dataclass(frozen=True)
class ResolvedTraining:
    """A validated training spec: the problem objects of its instances (in order) and the
    trainer class."""

    spec: TrainSpec
    problem_id: str
    problems: list[Problem[Any]]
    trainer_cls: type[Trainer]


AnyJob = ResolvedJob | ResolvedTraining | ResolvedAgentTurn


def resolve_any(data: Any) -> AnyJob:
    """:func:`resolve_training` for a document with a ``train`` member, an agent turn
    (:mod:`designsvc.agent.turn`) for one with ``agent_turn``, else :func:`resolve_spec`."""
    if is_agent_turn(data):
        return resolve_agent_turn(data)
    return resolve_training(data) if is_training(data) else resolve_spec(data)


def _problem_class(name: str) -> tuple[str, type[Problem[Any]]]:
    try:
        problem_id = resolve_problem_id(name)
        return problem_id, PROBLEMS.load(problem_id)
    except UnknownNameError as exc:
        raise SpecError.at("/problem", str(exc)) from exc
    except RegistryError as exc:
        raise SpecError.at("/problem", f"problem kind cannot be loaded: {exc}") from exc


def resolve_training(data: Any) -> ResolvedTraining:
    """Validate a training spec completely (trainer, options, every instance); raise
    :class:`SpecError` with pointers such as ``/instances/2``."""
    spec = parse_train_spec(data)
    problem_id, problem_cls = _problem_class(spec.problem)
    try:
        trainer_cls = TRAINERS.load(spec.train.name)
    except UnknownNameError as exc:
        raise SpecError.at("/train/name", str(exc)) from exc
    except RegistryError as exc:
        raise SpecError.at("/train/name", f"trainer cannot be loaded: {exc}") from exc
    if trainer_cls.problem != problem_id:
        raise SpecError.at("/problem", f"trainer {trainer_cls.name} trains for {trainer_cls.problem}, not {problem_id}")
    _check_options(lambda: trainer_cls.check_options(spec.train.options), "/train/options")
    problems = [
        problem_cls(
            _instance(
                problem_cls,
                item if isinstance(item, dict) else None,
                item if isinstance(item, str) else None,
                f"/instances/{k}",
            )
        )
        for k, item in enumerate(spec.instances)
    ]
    return ResolvedTraining(spec, problem_id, problems, trainer_cls)


def resolve_spec(data: Any) -> ResolvedJob:
    """Validate ``data`` (a parsed JSON/YAML document) completely; raise :class:`SpecError`."""
    spec = parse_spec(data)
    problem_id, problem_cls = _problem_class(spec.problem)
    if spec.instance is not None:
        problem = problem_cls(_instance(problem_cls, spec.instance, None, "/instance"))
    else:
        problem = problem_cls(_instance(problem_cls, None, spec.instance_ref, "/instance_ref"))

    try:
        solver = SOLVERS.load(spec.solver.name)()
    except UnknownNameError as exc:
        raise SpecError.at("/solver/name", str(exc)) from exc
    except RegistryError as exc:
        raise SpecError.at("/solver/name", f"solver cannot be loaded: {exc}") from exc
    availability = solver.availability()
    if not availability.available:
        raise SpecError.at("/solver/name", f"solver {solver.name} is unavailable: {availability.reason}")
    _check_options(lambda: solver.validate_options(spec.solver.options), "/solver/options")

    proposer_cls: type[Proposer] | None = None
    if spec.proposer is not None:
        try:
            proposer_cls = PROPOSERS.load(spec.proposer.name)
        except UnknownNameError as exc:
            raise SpecError.at("/proposer/name", str(exc)) from exc
        except RegistryError as exc:
            raise SpecError.at("/proposer/name", f"proposer cannot be loaded: {exc}") from exc
        kinds = proposer_cls.problems
        if kinds is not None and problem_id not in kinds:
            raise SpecError.at(
                "/proposer/name",
                f"proposer {proposer_cls.name} works on {', '.join(sorted(kinds))}, not {problem_id}",
            )
        options = spec.proposer.options
        _check_options(lambda: proposer_cls.check_options(options), "/proposer/options")  # type: ignore[union-attr]
    return ResolvedJob(spec, problem_id, problem, solver, proposer_cls)


def _instance(problem_cls: type[Problem[Any]], inline: Any, ref: str | None, pointer: str) -> Any:
    """The instance from inline data or a reference; errors point under ``pointer``."""
    if inline is not None:
        try:
            return problem_cls.parse_instance(inline)
        except SpecError as exc:
            raise exc.prefixed(pointer) from exc
    ref = ref or ""
    if ref.startswith("builtin:"):
        builtins = problem_cls.builtin_instances()
        name = ref.removeprefix("builtin:")
        if name not in builtins:
            raise SpecError.at(
                pointer,
                f"no builtin instance {name!r} for {problem_cls.id()}; known: {', '.join(sorted(builtins))}",
            )
        return builtins[name]()
    match = _GENERATE.fullmatch(ref)
    if match:
        kwargs = {k: int(v) for k, v in (pair.split("=") for pair in match.group("args").split(","))}
        seed = kwargs.pop("seed", 0)
        try:
            return problem_cls.generate(seed=seed, **kwargs)
        except SpecError as exc:
            # The generated instance is not in the document: point at the reference itself.
            raise SpecError(
                [FieldError(pointer, f"the generated instance is invalid: {error}") for error in exc.errors]
            ) from exc
        except (TypeError, ValueError) as exc:
            raise SpecError.at(pointer, f"cannot generate an instance: {exc}") from exc
    raise SpecError.at(pointer, f"unknown reference {ref!r}; use 'builtin:NAME' or 'generate:seed=N,SIZE=N,...'")


def _check_options(check: Any, pointer: str) -> None:
    try:
        check()
    except ValueError as exc:
        match = re.search(r"option '([^']+)'", str(exc))
        where = pointer + ("/" + match.group(1).replace("~", "~0").replace("/", "~1") if match else "")
        raise SpecError.at(where, str(exc)) from exc


def validate_spec(data: Any) -> JsonDict:
    """Validate ``data`` completely, build its model and check that the solver can take it,
    without solving; return ``{"valid": True, "problem", "solver", "model": sizes}``.

    Raises :class:`SpecError` (a model the solver cannot take points at ``/solver/name``)."""
    job = resolve_spec(data)
    model = job.problem.build_model()
    try:
        job.solver.check_model(model)
    except ModelNotSupportedError as exc:
        raise SpecError.at("/solver/name", f"solver {job.solver.name} cannot take this model: {exc}") from exc
    return {"valid": True, "problem": job.problem_id, "solver": job.solver.name, "model": model_size(model)}
