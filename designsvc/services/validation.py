"""Turning a spec document into a ready job: every name resolved, every field checked.

Everything a user can get wrong is reported here, before any solve, as a
:class:`SpecError` with JSON pointers; nothing heavier than the problem's own module is
imported (solver backends are checked with ``find_spec``, not imported).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from designsvc.core.errors import ModelNotSupportedError, RegistryError, SpecError, UnknownNameError
from designsvc.core.modelinfo import model_size
from designsvc.core.plugins import PROBLEMS, PROPOSERS, SOLVERS, resolve_problem_id
from designsvc.core.problem import Problem
from designsvc.core.proposer import Proposer
from designsvc.core.solver import Solver
from designsvc.core.spec import JobSpec, parse_spec
from designsvc.core.types import JsonDict

__all__ = ["ResolvedJob", "resolve_spec", "validate_spec"]

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


def resolve_spec(data: Any) -> ResolvedJob:
    """Validate ``data`` (a parsed JSON/YAML document) completely; raise :class:`SpecError`."""
    spec = parse_spec(data)
    try:
        problem_id = resolve_problem_id(spec.problem)
        problem_cls = PROBLEMS.load(problem_id)
    except UnknownNameError as exc:
        raise SpecError.at("/problem", str(exc)) from exc
    except RegistryError as exc:
        raise SpecError.at("/problem", f"problem kind cannot be loaded: {exc}") from exc
    problem = problem_cls(_instance(problem_cls, spec))

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
        options = spec.proposer.options
        _check_options(lambda: proposer_cls.check_options(options), "/proposer/options")  # type: ignore[union-attr]
    return ResolvedJob(spec, problem_id, problem, solver, proposer_cls)


def _instance(problem_cls: type[Problem[Any]], spec: JobSpec) -> Any:
    if spec.instance is not None:
        try:
            return problem_cls.parse_instance(spec.instance)
        except SpecError as exc:
            raise exc.prefixed("/instance") from exc
    ref = spec.instance_ref or ""
    if ref.startswith("builtin:"):
        builtins = problem_cls.builtin_instances()
        name = ref.removeprefix("builtin:")
        if name not in builtins:
            raise SpecError.at(
                "/instance_ref",
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
            raise exc.prefixed("/instance_ref") from exc
        except (TypeError, ValueError) as exc:
            raise SpecError.at("/instance_ref", f"cannot generate an instance: {exc}") from exc
    raise SpecError.at(
        "/instance_ref", f"unknown reference {ref!r}; use 'builtin:NAME' or 'generate:seed=N,SIZE=N,...'"
    )


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
