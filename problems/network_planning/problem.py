"""``network-planning@1``: IP-over-optical capacity planning that survives failures, after
NeuroPlan (H. Zhu, V. Gupta, S. S. Ahuja, Y. Tian, Y. Zhang, X. Jin, "Network Planning with
Deep Reinforcement Learning", SIGCOMM 2021).

See :mod:`problems.network_planning.schema` for the instance and its units,
:mod:`problems.network_planning.model` for the Pyomo model,
:mod:`problems.network_planning.verify` for the independent LP verifier and
:mod:`problems.network_planning.evaluate` for the design form.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pyomo.environ as pyo
from pydantic import BaseModel

from designsvc.core.problem import Baseline, Importer, Problem
from designsvc.core.types import Artifact, Evaluation, JsonDict
from problems.network_planning import baselines as _baselines
from problems.network_planning import evaluate as _evaluate
from problems.network_planning import generate as _generate
from problems.network_planning import model as _model
from problems.network_planning import render as _render
from problems.network_planning.schema import NetworkPlanningInstance
from problems.network_planning.schema import check_instance as _check_instance

__all__ = ["NetworkPlanningProblem"]

_SIZE_KEYS = ("nodes", "extra_links", "scenarios")


class NetworkPlanningProblem(Problem[NetworkPlanningInstance]):
    """Units of capacity per IP link at least added cost, so that the traffic routes without
    failures and the protected classes in every failure scenario; designs are
    ``{"units": {link_name: total_units}}``. The constructor checks the cross-field rules
    (:class:`SpecError`), so an object always holds a valid instance."""

    kind: ClassVar[str] = "network-planning"
    version: ClassVar[int] = 1
    title: ClassVar[str] = "IP-over-optical capacity planning that survives fiber failures"
    instance_schema: ClassVar[type[BaseModel]] = NetworkPlanningInstance
    objective_is_linear: ClassVar[bool] = True

    @classmethod
    def check_instance(cls, instance: NetworkPlanningInstance) -> None:
        _check_instance(instance)

    @classmethod
    def builtin_instances(cls) -> Mapping[str, Callable[[], NetworkPlanningInstance]]:
        return _generate.BUILTIN_INSTANCES

    @classmethod
    def importers(cls) -> Mapping[str, Importer]:
        """``graphml``: Internet Topology Zoo files (fibers from geography, synthetic
        traffic and failure scenarios; see :mod:`problems.network_planning.topologyzoo`).
        ``sndlib``: SNDlib native text files (traffic as given; costs, unit limits and
        failure scenarios derived; see :mod:`problems.network_planning.sndlib`).
        ``neuroplan``: NeuroPlan Excel workbooks (sheets Fibers, Leases, L3Nodes, L3Links,
        Flows, Spofs; see :mod:`problems.network_planning.neuroplan_workbook`).
        All honour ``max_demands`` and ``max_scenarios``."""
        return {"graphml": _import_graphml, "sndlib": _import_sndlib, "neuroplan": _import_neuroplan}

    @classmethod
    def generate(cls, *, seed: int, **size: int) -> NetworkPlanningInstance:
        """A synthetic instance; ``size`` takes ``nodes``, ``extra_links`` and ``scenarios``."""
        unknown = sorted(set(size) - set(_SIZE_KEYS))
        if unknown:
            raise ValueError(
                f"unknown size parameter(s) {', '.join(unknown)}; network-planning takes {', '.join(_SIZE_KEYS)}"
            )
        return _generate.generate(
            seed,
            nodes=size.get("nodes", _generate.DEFAULT_NODES),
            extra_links=size.get("extra_links", _generate.DEFAULT_EXTRA_LINKS),
            scenarios=size.get("scenarios"),
        )

    @classmethod
    def example_spec(cls) -> JsonDict:
        return {
            "problem": cls.id(),
            "instance_ref": "builtin:mesh-8",
            "solver": {"name": "highs", "options": {}},
            "limits": {"time_limit_s": 60, "rel_gap": 0.0001, "threads": 1, "seed": 0},
            "compare_baselines": True,
            "tags": ["example"],
        }

    def build_model(self, *, fixed: Mapping[str, Any] | None = None) -> pyo.ConcreteModel:
        """See :func:`problems.network_planning.model.build_model`; ``fixed`` is
        ``{"units": {link_name: [lo, hi]}}`` (``ValueError`` for unknown names or bad bounds)."""
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

    def environment(self, **options: Any) -> Any:
        """The capacity-planning environment, see :mod:`problems.network_planning.env`
        (``options`` are :class:`~problems.network_planning.env.PlanningEnv`'s keywords)."""
        from problems.network_planning.env import PlanningEnv

        return PlanningEnv(self.instance, **options)


def _import_graphml(
    path: Path, seed: int, /, *, max_demands: int | None = None, max_scenarios: int | None = None
) -> JsonDict:
    """The ``max_demands`` largest gravity-model pairs, the ``max_scenarios`` longest cuts."""
    from problems.network_planning.topologyzoo import import_graphml

    return import_graphml(path, seed=seed, demand_pairs=max_demands, max_scenarios=max_scenarios)


def _import_sndlib(
    path: Path, seed: int, /, *, max_demands: int | None = None, max_scenarios: int | None = None
) -> JsonDict:
    """Nothing is random in an SNDlib import: ``seed`` is not used."""
    from problems.network_planning.sndlib import import_sndlib

    del seed
    return import_sndlib(path, max_demands=max_demands, max_scenarios=max_scenarios)


def _import_neuroplan(
    path: Path, seed: int, /, *, max_demands: int | None = None, max_scenarios: int | None = None
) -> JsonDict:
    """Nothing is random in a workbook import: ``seed`` is not used."""
    from problems.network_planning.neuroplan_workbook import import_workbook

    del seed
    return import_workbook(path, max_demands=max_demands, max_scenarios=max_scenarios)
