"""``assignment@1``: the generalized assignment problem as a designsvc problem kind.

The reference kind: every piece is small and exact (a linear model, a linear objective), so
it exercises every solver and the service end to end. See :mod:`problems.assignment.schema`
for the instance and its units, :mod:`problems.assignment.model` for the Pyomo model and
:mod:`problems.assignment.evaluate` for the design form.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import pyomo.environ as pyo
from pydantic import BaseModel

from designsvc.core.problem import Baseline, Problem
from designsvc.core.types import Artifact, Evaluation, JsonDict
from problems.assignment import baselines as _baselines
from problems.assignment import evaluate as _evaluate
from problems.assignment import generate as _generate
from problems.assignment import model as _model
from problems.assignment import render as _render
from problems.assignment.schema import AssignmentInstance
from problems.assignment.schema import check_instance as _check_instance

__all__ = ["AssignmentProblem"]


class AssignmentProblem(Problem[AssignmentInstance]):
    """Items into capacitated bins at least total cost (GAP); designs are
    ``{"assignment": {item_name: bin_name}}``. The constructor checks the cross-field rules
    (:class:`SpecError`), so an object always holds a valid instance."""

    kind: ClassVar[str] = "assignment"
    version: ClassVar[int] = 1
    title: ClassVar[str] = "Generalized assignment: items into capacitated bins at least cost"
    instance_schema: ClassVar[type[BaseModel]] = AssignmentInstance
    objective_is_linear: ClassVar[bool] = True

    @classmethod
    def check_instance(cls, instance: AssignmentInstance) -> None:
        _check_instance(instance)

    @classmethod
    def builtin_instances(cls) -> Mapping[str, Callable[[], AssignmentInstance]]:
        return _generate.BUILTIN_INSTANCES

    @classmethod
    def generate(cls, *, seed: int, **size: int) -> AssignmentInstance:
        """A Chu & Beasley type C instance; ``size`` takes ``items`` and ``bins``."""
        unknown = sorted(set(size) - {"items", "bins"})
        if unknown:
            raise ValueError(f"unknown size parameter(s) {', '.join(unknown)}; assignment takes items, bins")
        return _generate.generate(
            seed,
            items=size.get("items", _generate.DEFAULT_ITEMS),
            bins=size.get("bins", _generate.DEFAULT_BINS),
        )

    @classmethod
    def example_spec(cls) -> JsonDict:
        return {
            "problem": cls.id(),
            "instance_ref": "builtin:gap-40x5",
            "solver": {"name": "highs", "options": {}},
            "limits": {"time_limit_s": 30, "rel_gap": 0.0001, "threads": 1, "seed": 0},
            "compare_baselines": True,
            "tags": ["example"],
        }

    def build_model(self, *, fixed: Mapping[str, Any] | None = None) -> pyo.ConcreteModel:
        """See :func:`problems.assignment.model.build_model`; ``fixed`` is
        ``{"assign": {item_name: bin_name}}`` (``ValueError`` for unknown names)."""
        return _model.build_model(self.instance, fixed)

    def extract_design(self, model: pyo.ConcreteModel) -> JsonDict:
        return _model.extract_design(self.instance, model)

    def encode_design(self, model: pyo.ConcreteModel, design: JsonDict) -> Mapping[Any, float]:
        return _model.encode_design(self.instance, model, design)

    def evaluate(self, design: JsonDict) -> Evaluation:
        return _evaluate.evaluate(self.instance, design)

    def baselines(self) -> Mapping[str, Baseline]:
        return {name: functools.partial(heuristic, self.instance) for name, heuristic in _baselines.BASELINES.items()}

    def render(self, design: JsonDict) -> list[Artifact]:
        return _render.render(self.instance, design)
