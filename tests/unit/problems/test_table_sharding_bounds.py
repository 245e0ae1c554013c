"""The lower bound of :mod:`problems.table_sharding.bounds`: never above any feasible plan's
true cost, and tight where the docstring says (even splits over identical devices)."""

from __future__ import annotations

import numpy as np
import pytest

from problems.table_sharding.bounds import lower_bound_ms
from problems.table_sharding.evaluate import design_from_choice
from problems.table_sharding.generate import generate
from problems.table_sharding.problem import TableShardingProblem
from problems.table_sharding.schema import CostParameters, Device, Table, TableShardingInstance


@pytest.mark.parametrize("seed", range(6))
def test_bound_is_below_every_plan(seed: int) -> None:
    instance = generate(seed, tables=12, devices=3, memory_gb=20.0)
    problem = TableShardingProblem(instance)
    bound = lower_bound_ms(instance, problem.cost_model)
    assert bound > 0
    rng = np.random.default_rng(seed)
    for _ in range(200):
        evaluation = problem.evaluate(design_from_choice(instance, rng.integers(0, 3, size=12)))
        assert evaluation.objective >= bound * (1 - 1e-12)
    for baseline in problem.baselines().values():
        assert problem.evaluate(baseline(seed)).objective >= bound * (1 - 1e-12)


def test_bound_with_mixed_speeds_is_below_plans() -> None:
    base = generate(7, tables=9, devices=3, memory_gb=20.0)
    devices = [Device(memory_gb=20.0, relative_speed=s) for s in (0.5, 1.0, 2.0)]
    instance = TableShardingInstance(tables=base.tables, devices=devices)
    problem = TableShardingProblem(instance)
    bound = lower_bound_ms(instance, problem.cost_model)
    rng = np.random.default_rng(0)
    best = min(problem.evaluate(design_from_choice(instance, rng.integers(0, 3, size=9))).objective for _ in range(500))
    assert 0 < bound <= best


@pytest.mark.parametrize("saturation_gb", [1000.0, 0.01])
def test_bound_is_tight_for_an_even_split(saturation_gb: float) -> None:
    tables = [Table(name=f"t{i}", rows=1000, dim=64, pooling_factor=4.0) for i in range(8)]
    instance = TableShardingInstance(
        tables=tables, num_devices=4, memory_gb=1.0, cost_model=CostParameters(saturation_gb=saturation_gb)
    )
    problem = TableShardingProblem(instance)
    even = design_from_choice(instance, [i % 4 for i in range(8)])
    assert problem.evaluate(even).objective == pytest.approx(lower_bound_ms(instance, problem.cost_model), rel=1e-12)
