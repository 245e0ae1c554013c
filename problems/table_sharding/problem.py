"""``table-sharding@1``: embedding tables of a recommendation model (DLRM-style) placed on
accelerators so that the slowest device is as fast as possible, within each device's memory.

The model (:mod:`problems.table_sharding.model`) is the exact feasible set with an additive
surrogate objective; the evaluator (:mod:`problems.table_sharding.evaluate`) applies the
non-additive cost model (:mod:`problems.table_sharding.cost`), so ``objective_is_linear``
is False. See :mod:`problems.table_sharding.schema` for the instance and its units.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pyomo.environ as pyo
from pydantic import BaseModel, ValidationError

from designsvc.core.problem import Baseline, Importer, Problem, spec_error_from_validation
from designsvc.core.surrogate import SurrogateInterface
from designsvc.core.types import Artifact, Evaluation, JsonDict
from problems.table_sharding import baselines as _baselines
from problems.table_sharding import evaluate as _evaluate
from problems.table_sharding import generate as _generate
from problems.table_sharding import model as _model
from problems.table_sharding import render as _render
from problems.table_sharding.cost import AnalyticCostModel, CostModel
from problems.table_sharding.neural import CalibratedCostModel
from problems.table_sharding.schema import TableShardingInstance, name_tables_in_errors
from problems.table_sharding.schema import check_instance as _check_instance

__all__ = ["TableShardingProblem"]

_SIZE_KEYS = ("tables", "devices", "memory_gb")


class TableShardingProblem(Problem[TableShardingInstance]):
    """Embedding tables onto devices, least largest device cost (ms per training
    iteration); designs are ``{"assign": {table_name: device_index}}``. The constructor
    checks the cross-field rules (:class:`SpecError`), so an object always holds a valid
    instance."""

    kind: ClassVar[str] = "table-sharding"
    version: ClassVar[int] = 1
    title: ClassVar[str] = "Embedding table sharding: tables onto accelerators, fastest slowest device"
    instance_schema: ClassVar[type[BaseModel]] = TableShardingInstance
    objective_is_linear: ClassVar[bool] = False

    def __init__(self, instance: TableShardingInstance) -> None:
        super().__init__(instance)
        self.cost_model: CostModel = (
            AnalyticCostModel.from_instance(instance)
            if instance.calibration is None
            else CalibratedCostModel.from_instance(instance)
        )

    @classmethod
    def parse_instance(cls, data: Any) -> TableShardingInstance:
        """As :meth:`Problem.parse_instance`, each field message inside a table naming it
        (the cross-field messages name their tables themselves)."""
        try:
            instance = TableShardingInstance.model_validate(data)
        except ValidationError as exc:
            raise name_tables_in_errors(spec_error_from_validation(exc), data) from exc
        cls.check_instance(instance)
        return instance

    @classmethod
    def check_instance(cls, instance: TableShardingInstance) -> None:
        _check_instance(instance)

    @classmethod
    def builtin_instances(cls) -> Mapping[str, Callable[[], TableShardingInstance]]:
        return _generate.BUILTIN_INSTANCES

    @classmethod
    def importers(cls) -> Mapping[str, Importer]:
        """``csv`` and ``json``: a user's table statistics (columns name, rows, dim,
        pooling_factor, optional zipf_alpha and bytes_per_element; see
        :mod:`problems.table_sharding.loaders`). Nothing is random (the seed is not used)
        and the demand and scenario caps mean nothing here (ignored)."""
        return {"csv": _import_csv, "json": _import_json}

    @classmethod
    def generate(cls, *, seed: int, **size: int) -> TableShardingInstance:
        """A synthetic DLRM-like instance; ``size`` takes ``tables``, ``devices`` and
        ``memory_gb`` (GB per device)."""
        unknown = sorted(set(size) - set(_SIZE_KEYS))
        if unknown:
            raise ValueError(
                f"unknown size parameter(s) {', '.join(unknown)}; table-sharding takes {', '.join(_SIZE_KEYS)}"
            )
        return _generate.generate(
            seed,
            tables=size.get("tables", _generate.DEFAULT_TABLES),
            devices=size.get("devices", _generate.DEFAULT_DEVICES),
            memory_gb=float(size.get("memory_gb", _generate.DEFAULT_MEMORY_GB)),
        )

    @classmethod
    def example_spec(cls) -> JsonDict:
        """``dlrm-30x4`` costed by the shipped CPU calibration, planned by ``surco-hybrid``
        (the shipped prior, then SurCo-zero steps; HiGHS finalizes the plan)."""
        return {
            "problem": cls.id(),
            "instance_ref": "builtin:dlrm-30x4-cpu",
            "solver": {"name": "highs", "options": {}},
            "proposer": {"name": "surco-hybrid", "options": {}},
            "limits": {"time_limit_s": 30, "rel_gap": 0.0001, "threads": 1, "seed": 0},
            "compare_baselines": True,
            "tags": ["example"],
        }

    def build_model(self, *, fixed: Mapping[str, Any] | None = None) -> pyo.ConcreteModel:
        """See :func:`problems.table_sharding.model.build_model`; ``fixed`` is
        ``{"assign": {table_name: device_index}}`` (pins) and/or ``{"costs": [[...]]}``
        (per table x device linear costs replacing the makespan surrogate); ``ValueError``
        for unknown names, bad indices or a cost matrix of the wrong shape."""
        return _model.build_model(self.instance, fixed, self.cost_model)

    def extract_design(self, model: pyo.ConcreteModel) -> JsonDict:
        return _model.extract_design(self.instance, model)

    def encode_design(self, model: pyo.ConcreteModel, design: JsonDict) -> Mapping[Any, float]:
        return _model.encode_design(self.instance, model, design, self.cost_model)

    def evaluate(self, design: JsonDict) -> Evaluation:
        return _evaluate.evaluate(self.instance, design, self.cost_model)

    def baselines(self) -> Mapping[str, Baseline]:
        named: dict[str, Baseline] = {
            name: functools.partial(heuristic, self.instance) for name, heuristic in _baselines.BASELINES.items()
        }
        named["greedy-cost"] = functools.partial(_baselines.greedy_cost, self.instance, cost_model=self.cost_model)
        return named

    def render(self, design: JsonDict) -> list[Artifact]:
        return _render.render(self.instance, design, self.cost_model)

    def surrogate_interface(self) -> SurrogateInterface:
        """Tables x devices costs for SurCo-style proposers, with the true objective relaxed
        to fractional plans; see :mod:`problems.table_sharding.surrogate`."""
        from problems.table_sharding.surrogate import surrogate_interface

        return surrogate_interface(self.instance, self.cost_model)


def _import_csv(
    path: Path, seed: int, /, *, max_demands: int | None = None, max_scenarios: int | None = None
) -> JsonDict:
    """Table statistics from CSV; ``seed`` and the caps are not used."""
    from problems.table_sharding.loaders import load_tables_csv

    del seed, max_demands, max_scenarios
    return load_tables_csv(path)


def _import_json(
    path: Path, seed: int, /, *, max_demands: int | None = None, max_scenarios: int | None = None
) -> JsonDict:
    """Table statistics (or a whole instance) from JSON; ``seed`` and the caps are not used."""
    from problems.table_sharding.loaders import load_tables_json

    del seed, max_demands, max_scenarios
    return load_tables_json(path)
