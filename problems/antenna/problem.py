"""``antenna@1``: a parametric wire antenna (three-branch bent monopole or meander-line
monopole over a perfect ground plane) whose simulated reflection ``|S11|`` meets a target.

- Instance: :mod:`problems.antenna.schema` (family, wire radius, bounds, spacing, box,
  sweep, reference impedance, pass and reject bands).
- Feasible set: the family's bounds and linear rules (wire lengths, spacing, bounding box)
  as a Pyomo LP (:mod:`problems.antenna.model`) projecting a target design onto the space.
- Evaluation: NEC2 through necpp (GPL-3.0, optional extra), the target shortfall in dB
  (0 when met) (:mod:`problems.antenna.evaluate`); artifacts: Touchstone, |S11| plot and a
  geometry picture (:mod:`problems.antenna.render`).
- Designs: ``{"params": {name: value_mm}}``.
- Parametric view for simulator-surrogate proposers (``czp-search``):
  :mod:`problems.antenna.parametric`.

The model's objective is a distance in parameter space while the evaluator's is the
simulated shortfall, so ``objective_is_linear`` is False.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import pyomo.environ as pyo
from pydantic import BaseModel

from designsvc.core.parametric import ParametricInterface
from designsvc.core.problem import Baseline, Problem
from designsvc.core.types import Artifact, Evaluation, JsonDict
from problems.antenna import baselines as _baselines
from problems.antenna import evaluate as _evaluate
from problems.antenna import generate as _generate
from problems.antenna import model as _model
from problems.antenna.families import DesignSpace
from problems.antenna.sampling import chebyshev_centre
from problems.antenna.schema import AntennaInstance, instance_space
from problems.antenna.schema import check_instance as _check_instance

__all__ = ["AntennaProblem"]

MAX_SEARCH_CALLS = 400
"""The most NEC sweeps a ``generate:`` reference may ask for to find its witness (a reference is
resolved while the submitting request waits: about 8 s at the default 150 here)."""

_SIZE_KEYS = ("family", "points", "reject_band", "search_calls")


class AntennaProblem(Problem[AntennaInstance]):
    """The parameters (mm) of a wire antenna within its design space, least target
    shortfall of the NEC-simulated ``|S11|``; designs are ``{"params": {name: mm}}``."""

    kind: ClassVar[str] = "antenna"
    version: ClassVar[int] = 1
    title: ClassVar[str] = "Wire antenna design to an |S11| target (NEC2 over a perfect ground)"
    instance_schema: ClassVar[type[BaseModel]] = AntennaInstance
    objective_is_linear: ClassVar[bool] = False

    def __init__(self, instance: AntennaInstance) -> None:
        super().__init__(instance)
        self.space: DesignSpace = instance_space(instance)

    @classmethod
    def check_instance(cls, instance: AntennaInstance) -> None:
        _check_instance(instance)

    @classmethod
    def builtin_instances(cls) -> Mapping[str, Callable[[], AntennaInstance]]:
        return _generate.BUILTIN_INSTANCES

    @classmethod
    def generate(cls, *, seed: int, **size: int) -> AntennaInstance:
        """A random instance with a feasible target (:mod:`problems.antenna.generate`);
        ``size`` takes ``family`` (0 three-branch, 1 meander; default drawn from the seed),
        ``points`` (sweep points, default 61), ``reject_band`` (1: add one; default 0) and
        ``search_calls`` (simulations to find a matched witness, default 150, at most
        :data:`MAX_SEARCH_CALLS`)."""
        unknown = sorted(set(size) - set(_SIZE_KEYS))
        if unknown:
            raise ValueError(f"unknown size parameter(s) {', '.join(unknown)}; antenna takes {', '.join(_SIZE_KEYS)}")
        family_index = size.get("family")
        if family_index is not None and not 0 <= family_index < len(_generate.FAMILIES):
            raise ValueError(f"family must be 0 to {len(_generate.FAMILIES) - 1}, got {family_index}")
        points = size.get("points")
        if points is not None and not 3 <= points <= 1001:  # the pass band needs a point inside the sweep
            raise ValueError(f"points must be 3 to 1001, got {points}")
        calls = size.get("search_calls", _generate.SEARCH_CALLS)
        if not 0 <= calls <= MAX_SEARCH_CALLS:  # each is a NEC sweep, run while the request waits
            raise ValueError(f"search_calls must be 0 to {MAX_SEARCH_CALLS}, got {calls}")
        instance = _generate.generate(
            seed,
            family=None if family_index is None else _generate.FAMILIES[family_index],
            points=points,
            reject_band=bool(size.get("reject_band", 0)),
            search_calls=calls,
        )
        _check_instance(instance)
        return instance

    @classmethod
    def example_spec(cls) -> JsonDict:
        return {
            "problem": cls.id(),
            "instance_ref": "builtin:three-branch-2g4",
            "solver": {"name": "highs", "options": {}},
            # Search on the shipped CZP surrogate, verified in NEC (surrogates/czp/proposer.py).
            "proposer": {"name": "czp-search", "options": {}},
            "limits": {"time_limit_s": 60, "rel_gap": 0.0001, "threads": 1, "seed": 0},
            # The differential-evolution baseline spends up to 600 NEC sweeps (about 0.1 s each).
            "compare_baselines": True,
            "tags": ["example"],
        }

    def default_target(self) -> dict[str, float]:
        """The model's default projection target (mm): the instance's ``reference`` design,
        else the Chebyshev centre of the design space."""
        if self.instance.reference is not None:
            return dict(self.instance.reference)
        return self.space.params(chebyshev_centre(self.space))

    def build_model(self, *, fixed: Mapping[str, Any] | None = None) -> pyo.ConcreteModel:
        """See :mod:`problems.antenna.model`; ``fixed`` is ``{"target": {param: mm}}``
        and/or ``{"bounds": {param: [lower_mm, upper_mm]}}`` (``ValueError`` naming the
        key or parameter for another form)."""
        target, bounds = _model.resolve_fixed(self.space, fixed, self.default_target())
        return _model.build_model(self.space, target, bounds, name=self.instance.name or "antenna")

    def extract_design(self, model: pyo.ConcreteModel) -> JsonDict:
        return _model.extract_design(self.space, model)

    def encode_design(self, model: pyo.ConcreteModel, design: JsonDict) -> Mapping[Any, float]:
        return _model.encode_design(self.space, model, design)

    def evaluate(self, design: JsonDict) -> Evaluation:
        return _evaluate.evaluate(self.instance, self.space, design)

    def baselines(self) -> Mapping[str, Baseline]:
        """``centre`` and ``differential-evolution`` (``baseline_nec_calls`` simulations);
        see :mod:`problems.antenna.baselines`."""
        return _baselines.baseline_designs(self.instance, self.space)

    def parametric_interface(self) -> ParametricInterface:
        """The parametric-response view (:mod:`problems.antenna.parametric`) for
        simulator-surrogate proposers such as ``czp-search``."""
        from problems.antenna.parametric import parametric_interface

        return parametric_interface(self.instance, self.space)

    def render(self, design: JsonDict) -> list[Artifact]:
        from problems.antenna.render import render

        return render(self.instance, self.space, design)
