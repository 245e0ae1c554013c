"""Unit tests of the ``table-sharding@1`` problem kind."""

from __future__ import annotations

import copy
import itertools
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyomo.environ as pyo
import pytest

from designsvc.core.errors import SpecError
from designsvc.core.plugins import PROBLEMS, SOLVERS
from designsvc.core.types import SolverConfig, Termination
from problems.table_sharding import AnalyticCostModel, CostModel, TableShardingInstance, TableShardingProblem
from problems.table_sharding.baselines import BASELINES, random_fit
from problems.table_sharding.cost import harmonic, zipf_hit_fraction
from problems.table_sharding.evaluate import evaluate
from problems.table_sharding.generate import BUILTIN_INSTANCES, MAX_TABLE_FRACTION, generate
from problems.table_sharding.loaders import load_tables_csv, load_tables_json, tables_to_csv
from problems.table_sharding.model import TICK_MS, build_model, extract_design, standalone_ticks
from problems.table_sharding.schema import (
    MAX_VARIABLES,
    CostParameters,
    Device,
    Table,
    resolved_devices,
    table_bytes,
)
from problems.testing import check_problem

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
GB = 10**9


def small_data() -> dict[str, Any]:
    """Five tables on two 5 GB devices (t3 is 1 GB, the others small)."""
    return {
        "name": "tiny",
        "tables": [
            {"name": "t0", "rows": 100_000, "dim": 64, "pooling_factor": 10.0, "zipf_alpha": 1.0},
            {"name": "t1", "rows": 20_000, "dim": 32, "pooling_factor": 2.5},
            {"name": "t2", "rows": 500_000, "dim": 128, "pooling_factor": 30.0, "zipf_alpha": 0.5},
            {"name": "t3", "rows": 3_906_250, "dim": 64, "pooling_factor": 1.0, "bytes_per_element": 4},
            {"name": "t4", "rows": 1000, "dim": 16, "pooling_factor": 0.5, "bytes_per_element": 2},
        ],
        "num_devices": 2,
        "memory_gb": 5,
        "batch_size": 4096,
    }


def errors_of(data: Any) -> dict[str, str]:
    with pytest.raises(SpecError) as info:
        TableShardingProblem.parse_instance(data)
    return {e.pointer: e.message for e in info.value.errors}


def solve(problem: TableShardingProblem, model: pyo.ConcreteModel, solver: str = "highs") -> dict[str, Any]:
    result = SOLVERS.load(solver)().solve(model, SolverConfig(time_limit_s=30, rel_gap=0.0))
    assert result.termination is Termination.OPTIMAL, result
    return problem.extract_design(model)


# ----------------------------------------------------------------------------- schema


def test_valid_instance_parses_and_expands_the_shorthand() -> None:
    instance = TableShardingProblem.parse_instance(small_data())
    assert isinstance(instance, TableShardingInstance)
    devices = resolved_devices(instance)
    assert [(d.name, d.memory_gb, d.relative_speed) for d in devices] == [("d0", 5.0, 1.0), ("d1", 5.0, 1.0)]
    assert instance.tables[1].zipf_alpha == 0.0
    assert instance.tables[1].bytes_per_element == 4
    assert table_bytes(instance.tables[3]) == 1 * GB


def test_device_list_form() -> None:
    data = small_data()
    del data["num_devices"], data["memory_gb"]
    data["devices"] = [{"name": "fast", "memory_gb": 4, "relative_speed": 2.0}, {"memory_gb": 8}]
    instance = TableShardingProblem.parse_instance(data)
    assert [(d.name, d.relative_speed) for d in resolved_devices(instance)] == [("fast", 2.0), ("", 1.0)]


def test_table_larger_than_every_device_is_named() -> None:
    data = small_data()
    data["tables"][3]["rows"] = 24_218_750  # x 64 x 4 bytes = 6.2 GB
    data["num_devices"] = 4
    assert errors_of(data) == {"/tables/3": "table t3 needs 6.2 GB, larger than every device (5 GB)"}


def test_total_memory_short_names_the_largest_tables() -> None:
    data = small_data()
    data["tables"][0]["rows"] = 15_000_000  # 3.84 GB
    data["tables"][2]["rows"] = 7_000_000  # 3.584 GB
    data["memory_gb"] = 4
    errors = errors_of(data)
    assert list(errors) == ["/memory_gb"]
    message = errors["/memory_gb"]
    assert message.startswith("the 5 tables need 8.43 GB in all, more than the 8 GB of all 2 devices together")
    assert "t0 3.84 GB" in message
    assert "t2 3.58 GB" in message

    listed = small_data()
    del listed["num_devices"], listed["memory_gb"]
    listed["devices"] = [{"memory_gb": 0.5}, {"memory_gb": 0.6}]
    assert "/devices" in errors_of(listed)


@pytest.mark.parametrize(
    ("change", "pointer", "fragment"),
    [
        ({"num_devices": 0}, "/num_devices", "zero devices"),
        ({"num_devices": None, "memory_gb": None}, "/devices", "zero devices"),
        ({"num_devices": None}, "/num_devices", "memory_gb needs num_devices"),
        ({"memory_gb": None}, "/memory_gb", "num_devices needs memory_gb"),
        ({"devices": [{"memory_gb": 5}]}, "/num_devices", "not both"),
    ],
)
def test_device_form_errors(change: dict[str, Any], pointer: str, fragment: str) -> None:
    data = small_data()
    for key, value in change.items():
        if value is None:
            del data[key]
        else:
            data[key] = value
    errors = errors_of(data)
    assert pointer in errors
    assert fragment in errors[pointer]


def test_explicit_empty_device_list_is_zero_devices() -> None:
    data = small_data()
    del data["num_devices"], data["memory_gb"]
    data["devices"] = []
    assert "zero devices" in errors_of(data)["/devices"]


@pytest.mark.parametrize(
    ("path", "value", "pointer"),
    [
        (("tables", 1, "pooling_factor"), float("nan"), "/tables/1/pooling_factor"),
        (("tables", 1, "pooling_factor"), -1.0, "/tables/1/pooling_factor"),
        (("tables", 2, "zipf_alpha"), -0.5, "/tables/2/zipf_alpha"),
        (("tables", 2, "zipf_alpha"), float("inf"), "/tables/2/zipf_alpha"),
        (("tables", 0, "rows"), -5, "/tables/0/rows"),
        (("tables", 0, "rows"), 1.5, "/tables/0/rows"),
        (("tables", 0, "rows"), "100", "/tables/0/rows"),
        (("tables", 0, "dim"), 0, "/tables/0/dim"),
        (("tables", 0, "dim"), True, "/tables/0/dim"),
        (("tables", 4, "bytes_per_element"), 16, "/tables/4/bytes_per_element"),
        (("tables", 4, "hotness"), 3, "/tables/4/hotness"),
        (("memory_gb",), -1, "/memory_gb"),
        (("batch_size",), 0, "/batch_size"),
        (("cost_model", "hbm_bandwidth_gbps"), 0, "/cost_model/hbm_bandwidth_gbps"),
        (("tables",), [], "/tables"),
    ],
)
def test_field_errors_have_pointers(path: tuple[Any, ...], value: Any, pointer: str) -> None:
    data = small_data()
    data.setdefault("cost_model", {})
    target: Any = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    errors = errors_of(data)
    assert pointer in errors, errors
    if pointer.startswith("/tables/"):
        name = data["tables"][int(pointer.split("/")[2])]["name"]
        assert errors[pointer].startswith(f"table {name}: ")


def test_duplicate_names_point_at_the_second() -> None:
    data = small_data()
    data["tables"][3]["name"] = "t1"
    assert errors_of(data) == {"/tables/3/name": "duplicate table name 't1' (also at /tables/1/name)"}
    listed = small_data()
    del listed["num_devices"], listed["memory_gb"]
    listed["devices"] = [{"name": "a", "memory_gb": 5}, {"memory_gb": 5}, {"name": "a", "memory_gb": 5}]
    assert "/devices/2/name" in errors_of(listed)


def test_size_limit() -> None:
    data = small_data()
    data["tables"] = [{"name": f"t{i}", "rows": 10, "dim": 4, "pooling_factor": 1.0} for i in range(11)]
    data["num_devices"] = 100_000
    message = errors_of(data)[""]
    assert f"the limit is {MAX_VARIABLES:,}" in message
    assert "11 tables x 100000 devices" in message


def test_cache_slower_than_memory_is_refused() -> None:
    data = small_data()
    data["cost_model"] = {"hbm_bandwidth_gbps": 500, "cache_bandwidth_gbps": 400}
    assert "/cost_model/cache_bandwidth_gbps" in errors_of(data)


def test_constructor_checks_cross_field_rules() -> None:
    instance = TableShardingInstance.model_validate({**small_data(), "num_devices": 0})
    with pytest.raises(SpecError, match="zero devices"):
        TableShardingProblem(instance)


# ----------------------------------------------------------------------------- cost model


def instance_of(data: dict[str, Any] | None = None) -> TableShardingInstance:
    return TableShardingProblem.parse_instance(data or small_data())


def test_harmonic_numbers_and_hit_fractions() -> None:
    for n, alpha in [(1, 0.7), (1024, 1.0), (5000, 0.0), (5000, 0.8), (5000, 1.0), (20_000, 1.3), (3000, 0.999)]:
        exact = math.fsum(i**-alpha for i in range(1, n + 1))
        assert harmonic(n, alpha) == pytest.approx(exact, rel=1e-12)
    assert zipf_hit_fraction(0, 100, 1.0) == 0.0
    assert zipf_hit_fraction(100, 100, 1.0) == 1.0
    assert zipf_hit_fraction(25, 100, 0.0) == pytest.approx(0.25)
    hits = [zipf_hit_fraction(1000, 10**6, a) for a in (0.0, 0.5, 1.0, 1.5)]
    assert hits == sorted(hits)
    assert hits[0] < 0.01
    assert hits[-1] > 0.9


def test_skew_speeds_up_lookups_and_saturates() -> None:
    model = AnalyticCostModel(CostParameters(), batch_size=65_536, num_devices=4)
    device = Device(memory_gb=5)
    costs = [
        model.device_cost([Table(name="t", rows=10**7, dim=64, pooling_factor=20.0, zipf_alpha=a)], device)
        for a in (0.0, 0.5, 1.0, 2.0, 4.0)
    ]
    assert costs == sorted(costs, reverse=True)
    assert costs[3] - costs[4] < 0.1 * (costs[0] - costs[3])  # the gain levels off


def test_cost_is_monotone_in_the_tables() -> None:
    instance = BUILTIN_INSTANCES["dlrm-30x4"]()
    model = AnalyticCostModel.from_instance(instance)
    device = resolved_devices(instance)[0]
    rng = np.random.default_rng(0)
    for _ in range(200):
        subset = [instance.tables[i] for i in rng.choice(len(instance.tables), size=rng.integers(0, 12), replace=False)]
        extra = instance.tables[int(rng.integers(len(instance.tables)))]
        if extra in subset:
            continue
        assert model.device_cost([*subset, extra], device) >= model.device_cost(subset, device)
    assert model.device_cost([], device) == 0.0


def test_fusion_makes_small_tables_sub_additive() -> None:
    params = CostParameters()
    model = AnalyticCostModel(params, batch_size=4096, num_devices=2)
    device = Device(memory_gb=5)
    a = [Table(name="a", rows=1000, dim=16, pooling_factor=1.0)]
    b = [Table(name="b", rows=2000, dim=32, pooling_factor=2.0), Table(name="c", rows=50, dim=16, pooling_factor=1.0)]
    joint, apart = model.device_cost(a + b, device), model.device_cost(a, device) + model.device_cost(b, device)
    assert joint < apart
    assert apart - joint == pytest.approx(params.kernel_launch_ms)


def test_saturation_is_superlinear_beyond_the_threshold() -> None:
    params = CostParameters(saturation_gb=1.0, kernel_launch_ms=0.0)
    model = AnalyticCostModel(params, batch_size=65_536, num_devices=4)
    device = Device(memory_gb=80)
    heavy = [Table(name=f"h{i}", rows=10**7, dim=128, pooling_factor=9.0) for i in range(6)]
    q = model.traffic(heavy[0]).hbm_bytes / GB
    assert 0.5 < q < 1.0  # one table is below the threshold, two are above
    one, two = model.device_cost(heavy[:1], device), model.device_cost(heavy[:2], device)
    assert model.terms(heavy[:1], device).saturation_ms == 0.0
    assert two > 2 * one
    increments = np.diff([model.device_cost(heavy[:k], device) for k in range(1, 7)])
    assert np.all(np.diff(increments) > 0)  # convex growth: each table costs more than the last


def test_relative_speed_divides_the_cost() -> None:
    instance = instance_of()
    model = AnalyticCostModel.from_instance(instance)
    slow, fast = Device(memory_gb=5), Device(memory_gb=5, relative_speed=2.0)
    assert model.device_cost(instance.tables, fast) == pytest.approx(model.device_cost(instance.tables, slow) / 2)


class FlatCost:
    """A stand-in for a learned cost model: 1 ms per table."""

    def device_cost(self, tables_on_device: Sequence[Table], device: Device) -> float:
        del device
        return float(len(tables_on_device))


def test_cost_models_plug_in() -> None:
    assert isinstance(AnalyticCostModel.from_instance(instance_of()), CostModel)
    assert isinstance(FlatCost(), CostModel)
    instance = instance_of()
    evaluation = evaluate(instance, {"assign": {"t0": 0, "t1": 0, "t2": 0, "t3": 1, "t4": 1}}, FlatCost())
    assert evaluation.objective == 3.0
    ticks = standalone_ticks(instance, FlatCost())
    assert ticks.tolist() == [[100, 100]] * 5


# ----------------------------------------------------------------------------- model


def memory_bound_data() -> dict[str, Any]:
    """Two 5 GB devices; the cost-balanced split would put both 4 GB tables together."""
    return {
        "tables": [
            {"name": "big1", "rows": 15_625_000, "dim": 64, "pooling_factor": 0.5},
            {"name": "big2", "rows": 15_625_000, "dim": 64, "pooling_factor": 0.5},
            {"name": "hot", "rows": 10**6, "dim": 128, "pooling_factor": 60.0},
        ],
        "num_devices": 2,
        "memory_gb": 5,
    }


@pytest.mark.parametrize("solver", ["highs", "cpsat"])
def test_memory_caps_hold_in_solved_plans(solver: str) -> None:
    problem = TableShardingProblem(instance_of(memory_bound_data()))
    ticks = standalone_ticks(problem.instance, problem.cost_model)
    assert ticks[2, 0] > ticks[0, 0] + ticks[1, 0]  # without memory, big1 and big2 would share
    design = solve(problem, problem.build_model(), solver)
    assert design["assign"]["big1"] != design["assign"]["big2"]
    assert problem.evaluate(design).feasible


@pytest.mark.parametrize("solver", ["highs", "cpsat"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_plans_respect_memory_on_seeded_tight_instances(solver: str, seed: int) -> None:
    instance = generate(seed, tables=9, devices=3, memory_gb=1.0)
    problem = TableShardingProblem(instance)
    model = problem.build_model()
    design = solve(problem, model, solver)
    evaluation = problem.evaluate(design)
    assert evaluation.feasible, evaluation.violations
    for k in range(3):
        assert evaluation.breakdown[f"device{k}_memory_gb"] <= 1.0
    ticks = standalone_ticks(instance, problem.cost_model)
    loads = [
        sum(int(ticks[i, d]) for i, t in enumerate(instance.tables) if design["assign"][t.name] == d) for d in range(3)
    ]
    assert pyo.value(model.objective) == pytest.approx(TICK_MS * max(loads))


def test_cpsat_takes_the_model_exactly() -> None:
    cpsat = SOLVERS.load("cpsat")()
    for make in BUILTIN_INSTANCES.values():
        problem = TableShardingProblem(make())
        form = cpsat.check_model(problem.build_model())
        assert form.num_cols == len(problem.instance.tables) * len(resolved_devices(problem.instance)) + 1


def test_fixed_assign_pins_tables() -> None:
    problem = TableShardingProblem(instance_of())
    model = problem.build_model(fixed={"assign": {"t2": 1, "t0": 1}})
    assert model.x[2, 1].fixed
    assert model.x[2, 1].value == 1
    assert model.x[2, 0].value == 0
    design = solve(problem, model)
    assert design["assign"]["t2"] == 1
    assert design["assign"]["t0"] == 1


@pytest.mark.parametrize(
    ("fixed", "match"),
    [
        ({"assign": {"nope": 0}}, "unknown table 'nope'"),
        ({"assign": {"t0": 2}}, "devices are 0 to 1"),
        ({"assign": {"t0": True}}, "devices are 0 to 1"),
        ({"pins": {}}, "unknown key"),
        ({"costs": [[1, 2]] * 4}, "list of 5 rows"),
        ({"costs": [[1, 2]] * 4 + [[1]]}, r"fixed\['costs'\]\[4\] \(table t4\) must have 2 entries"),
        ({"costs": [[1, 2]] * 4 + [[1, float("nan")]]}, "must be a finite number"),
    ],
)
def test_bad_fixed_is_refused(fixed: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TableShardingProblem(instance_of()).build_model(fixed=fixed)


def test_pins_that_overfill_a_device_are_refused() -> None:
    problem = TableShardingProblem(instance_of(memory_bound_data()))
    with pytest.raises(ValueError, match="alone overfills device d0"):
        problem.build_model(fixed={"assign": {"big1": 0, "big2": 0}})


@pytest.mark.parametrize("solver", ["highs", "cpsat"])
def test_linear_costs_replace_the_makespan(solver: str) -> None:
    problem = TableShardingProblem(instance_of())
    preferred = [1, 0, 1, 0, 0]
    costs = [[0.25 if d == k else 1.5 for d in range(2)] for k in preferred]
    model = problem.build_model(fixed={"costs": costs})
    assert model.component("z") is None
    assert model.component("makespan") is None
    design = solve(problem, model, solver)
    assert [design["assign"][f"t{i}"] for i in range(5)] == preferred
    assert pyo.value(model.objective) == pytest.approx(5 * 0.25)


def test_encode_extract_round_trip_and_makespan_start() -> None:
    problem = TableShardingProblem(BUILTIN_INSTANCES["dlrm-10x4"]())
    design = BASELINES["round-robin"](problem.instance, 0)
    model = problem.build_model()
    start = problem.encode_design(model, design)
    for var, value in start.items():
        var.set_value(value)
    assert problem.extract_design(model) == design
    ticks = standalone_ticks(problem.instance, problem.cost_model)
    loads = np.zeros(4)
    for i, table in enumerate(problem.instance.tables):
        loads[design["assign"][table.name]] += ticks[i, design["assign"][table.name]]
    assert model.z.value == loads.max()
    with pytest.raises(ValueError, match="cannot encode"):
        problem.encode_design(model, {"assign": {"t0": 9}})


def test_models_are_fresh() -> None:
    problem = TableShardingProblem(instance_of())
    first, second = problem.build_model(), problem.build_model()
    assert first is not second
    assert first.x[0, 0] is not second.x[0, 0]
    assert extract_design(problem.instance, first) == {"assign": {}}
    assert build_model(problem.instance).name == "tiny"


# ----------------------------------------------------------------------------- evaluate


def test_evaluator_reports_an_over_full_device() -> None:
    problem = TableShardingProblem(instance_of(memory_bound_data()))
    evaluation = problem.evaluate({"assign": {"big1": 0, "big2": 0, "hot": 1}})
    assert not evaluation.feasible
    assert evaluation.violations == ("device d0 holds 8 GB of tables, over its 5 GB memory (tables big1, big2)",)
    assert evaluation.breakdown["overfull_devices"] == 1.0
    assert evaluation.breakdown["device0_memory_gb"] == pytest.approx(8.0)
    assert evaluation.breakdown["max_memory_utilization"] == pytest.approx(1.6)
    assert math.isfinite(evaluation.objective)


def test_evaluator_reports_malformed_plans_without_crashing() -> None:
    problem = TableShardingProblem(instance_of())
    evaluation = problem.evaluate({"assign": {"t0": 0, "t1": 5, "t2": "d1", "t3": True, "ghost": 1}})
    assert not evaluation.feasible
    assert set(evaluation.violations) == {
        "table t1 is assigned to device 5; devices are 0 to 1",
        "table t2 is assigned to 'd1', not a device index (an integer)",
        "table t3 is assigned to True, not a device index (an integer)",
        "table t4 is not assigned",
        "unknown table 'ghost' is assigned to device 1",
    }
    assert evaluation.breakdown["unassigned_tables"] == 4.0
    with pytest.raises(ValueError, match="'assign'"):
        problem.evaluate({"assignment": {}})


def test_evaluation_breakdown_per_device() -> None:
    problem = TableShardingProblem(instance_of())
    design = {"assign": {"t0": 0, "t1": 0, "t2": 1, "t3": 1, "t4": 0}}
    evaluation = problem.evaluate(design)
    assert evaluation.feasible
    assert evaluation.violations == ()
    costs = [evaluation.breakdown["device0_cost_ms"], evaluation.breakdown["device1_cost_ms"]]
    assert evaluation.objective == max(costs) == evaluation.breakdown["max_device_cost_ms"]
    assert evaluation.breakdown["imbalance"] == pytest.approx(max(costs) / np.mean(costs))
    tables = problem.instance.tables
    assert costs[1] == pytest.approx(
        problem.cost_model.device_cost([tables[2], tables[3]], resolved_devices(problem.instance)[1])
    )
    json.dumps(evaluation.to_json(), allow_nan=False)


# ----------------------------------------------------------------------------- baselines


@pytest.mark.parametrize("instance_name", sorted(BUILTIN_INSTANCES))
def test_every_baseline_gives_a_feasible_plan_on_builtins(instance_name: str) -> None:
    problem = TableShardingProblem(BUILTIN_INSTANCES[instance_name]())
    objectives = {}
    for name, baseline in problem.baselines().items():
        evaluation = problem.evaluate(baseline(0))
        assert evaluation.feasible, (name, evaluation.violations)
        objectives[name] = evaluation.objective
    assert set(objectives) == set(BASELINES)
    assert objectives["greedy-cost"] <= min(objectives["random"], objectives["round-robin"])


def test_baselines_respect_memory_when_it_binds() -> None:
    problem = TableShardingProblem(instance_of(memory_bound_data()))
    for name, baseline in problem.baselines().items():
        assert problem.evaluate(baseline(3)).feasible, name


def test_random_baseline_is_seeded() -> None:
    instance = BUILTIN_INSTANCES["dlrm-30x4"]()
    assert random_fit(instance, 5) == random_fit(instance, 5)
    assert random_fit(instance, 5) != random_fit(instance, 6)


def test_a_table_that_fits_nowhere_goes_where_it_overflows_least() -> None:
    data = memory_bound_data()
    data["tables"].append({"name": "big3", "rows": 15_625_000, "dim": 64, "pooling_factor": 0.5})
    data["memory_gb"] = 6.5  # 12 GB of tables in 13 GB, but no two big ones fit together
    problem = TableShardingProblem(instance_of(data))
    for name, baseline in problem.baselines().items():
        design = baseline(0)
        assert set(design["assign"]) == {"big1", "big2", "big3", "hot"}, name
        assert not problem.evaluate(design).feasible


# ----------------------------------------------------------------------------- generate


def test_generator_is_seeded_and_fits() -> None:
    assert generate(7, 20, 3) == generate(7, 20, 3)
    assert generate(7, 20, 3) != generate(8, 20, 3)
    instance = generate(4, tables=40, devices=2, memory_gb=1.0)
    assert len(instance.tables) == 40
    assert instance.num_devices == 2
    assert instance.memory_gb == 1.0
    assert max(table_bytes(t) for t in instance.tables) <= MAX_TABLE_FRACTION * 1.0 * GB
    assert {t.dim for t in instance.tables} <= {16, 32, 64, 128}
    TableShardingProblem(instance)  # passes the cross-field rules
    problem = TableShardingProblem(instance)
    assert problem.evaluate(BASELINES["greedy-size"](instance, 0)).feasible


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tables": 0}, "must be >= 1"),
        ({"devices": 0}, "must be >= 1"),
        ({"tables": 1001, "devices": 1000}, "exceeds the limit"),
        ({"memory_gb": 0.0}, "memory_gb"),
    ],
)
def test_generator_refuses_bad_sizes(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        generate(0, **kwargs)


def test_problem_generate_and_builtins() -> None:
    instance = TableShardingProblem.generate(seed=1, tables=12, devices=3, memory_gb=2)
    assert len(instance.tables) == 12
    assert instance.memory_gb == 2.0
    with pytest.raises(ValueError, match="unknown size parameter"):
        TableShardingProblem.generate(seed=1, items=3)
    assert sorted(BUILTIN_INSTANCES) == ["dlrm-10x4", "dlrm-30x4", "dlrm-30x4-cpu", "dlrm-60x8"]
    instance = BUILTIN_INSTANCES["dlrm-10x4"]()
    assert (len(instance.tables), instance.num_devices, instance.memory_gb) == (10, 4, 5.0)
    assert PROBLEMS.load("table-sharding@1") is TableShardingProblem
    assert TableShardingProblem.objective_is_linear is False


# ----------------------------------------------------------------------------- loaders


def table_dicts(instance: TableShardingInstance) -> list[dict[str, Any]]:
    return [t.model_dump() for t in instance.tables]


def test_csv_round_trip(tmp_path: Path) -> None:
    instance = BUILTIN_INSTANCES["dlrm-30x4"]()
    path = tmp_path / "tables.csv"
    path.write_text(tables_to_csv(table_dicts(instance)))
    data = load_tables_csv(path)
    loaded = TableShardingProblem.parse_instance(data)
    assert loaded.tables == instance.tables
    assert loaded.batch_size == 65_536
    assert loaded.num_devices == 4
    assert loaded.memory_gb == 16.0


def test_csv_optional_columns_and_many_tables(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    big = "".join(f"item{i},40000000,64,3,1.1\n" for i in range(10))
    path.write_text(f"name,rows,dim,pooling_factor,zipf_alpha\nuser,1e6,64,12.5,\n{big}\n")
    data = load_tables_csv(path)
    assert data["tables"][0] == {"name": "user", "rows": 1_000_000, "dim": 64, "pooling_factor": 12.5}
    assert data["tables"][1] == {
        "name": "item0",
        "rows": 40_000_000,
        "dim": 64,
        "pooling_factor": 3.0,
        "zipf_alpha": 1.1,
    }
    # 102.656 GB of tables: enough 16 GB devices to hold them at 80 % fill
    assert data["num_devices"] == 9
    assert TableShardingProblem.importers()["csv"](path, 0) == data
    TableShardingProblem.parse_instance(data)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            "name,rows,dim,pooling_factor\nt0,abc,64,1\n",
            r"bad\.csv: row 1 \(line 2\), column 'rows': 'abc' is not a number",
        ),
        (
            "name,rows,dim,pooling_factor\nt0,10,64,1\nt1,10,6.5,1\n",
            r"row 2 \(line 3\), column 'dim': '6.5' is not a whole",
        ),
        (
            "name,rows,dim,pooling_factor\nt0,10,64,-2\n",
            r"row 1 \(line 2\), table t0, column 'pooling_factor': .*greater than or equal to 0",
        ),
        ("name,rows,dim,pooling_factor\nt0,10,64,nan\n", r"column 'pooling_factor': 'nan' is not a finite number"),
        ("name,rows,dim,pooling_factor\nt0,10,64\n", r"row 1 \(line 2\): has 3 cells; the header has 4 columns"),
        ("name,rows,dim,pooling_factor\n,10,64,1\n", r"row 1 \(line 2\), column 'name': empty"),
        ("name,rows,dim\nt0,10,64\n", "header lacks the column.s. pooling_factor"),
        ("name,rows,dim,pooling_factor,hot\nt0,10,64,1,2\n", "header, column 5 'hot' is not known"),
        ("name,rows,dim,pooling_factor\n", "no table rows"),
        ("", "empty file"),
    ],
)
def test_csv_errors_name_file_row_and_column(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=match) as info:
        load_tables_csv(path)
    assert str(info.value).startswith("bad.csv: ")


def test_json_round_trip_list_and_object(tmp_path: Path) -> None:
    instance = BUILTIN_INSTANCES["dlrm-10x4"]()
    listed = tmp_path / "tables.json"
    listed.write_text(json.dumps(table_dicts(instance)))
    assert TableShardingProblem.parse_instance(load_tables_json(listed)).tables == instance.tables
    whole = tmp_path / "instance.json"
    whole.write_text(json.dumps(instance.model_dump(mode="json")))
    data = TableShardingProblem.importers()["json"](whole, 0)
    assert TableShardingProblem.parse_instance(data) == instance


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (
            [
                {"name": "a", "rows": 10, "dim": 4, "pooling_factor": 1},
                {"name": "b", "rows": 10, "dim": 0, "pooling_factor": 1},
            ],
            r"bad\.json: row 2 \(tables\[1\]\), table b, column 'dim': .*greater than or equal to 1",
        ),
        ([{"name": "a", "rows": 10, "dim": 4}], r"row 1 \(tables\[0\]\), table a, column 'pooling_factor': missing"),
        ([{"name": "a", "rows": 10.5, "dim": 4, "pooling_factor": 1}], r"column 'rows'"),
        ([{"name": "a", "rows": 10, "dim": 4, "pooling_factor": 1, "hot": 1}], r"column 'hot': not a table field"),
        ([3], r"row 1 \(tables\[0\]\): a table must be an object"),
        ({"devices": []}, "must have 'tables'"),
        ([], "empty"),
    ],
)
def test_json_errors_name_file_row_and_column(tmp_path: Path, content: Any, match: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(content))
    with pytest.raises(ValueError, match=match):
        load_tables_json(path)


def test_json_syntax_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('[{"name": "a",')
    with pytest.raises(ValueError, match=r"broken\.json: not valid JSON"):
        load_tables_json(path)


# ----------------------------------------------------------------------------- render and checker


def test_render_draws_a_png_also_for_infeasible_plans() -> None:
    problem = TableShardingProblem(instance_of(memory_bound_data()))
    for design in ({"assign": {"big1": 0, "big2": 1, "hot": 1}}, {"assign": {"big1": 0, "big2": 0}}):
        (artifact,) = problem.render(design)
        assert artifact.name == "device-costs.png"
        assert artifact.media_type == "image/png"
        assert artifact.data.startswith(PNG_MAGIC)


def test_render_with_another_cost_model() -> None:
    from problems.table_sharding.render import render

    instance = instance_of()
    (artifact,) = render(instance, {"assign": {"t0": 0}}, FlatCost())
    assert artifact.data.startswith(PNG_MAGIC)


@pytest.mark.parametrize("instance_name", sorted(BUILTIN_INSTANCES))
def test_check_problem_passes_on_builtins(instance_name: str) -> None:
    check_problem(TableShardingProblem, BUILTIN_INSTANCES[instance_name]())


def test_check_problem_passes_on_raw_data() -> None:
    check_problem(TableShardingProblem, copy.deepcopy(small_data()))


def test_example_spec_names_a_builtin() -> None:
    spec = TableShardingProblem.example_spec()
    assert spec["problem"] == "table-sharding@1"
    assert spec["instance_ref"].removeprefix("builtin:") in BUILTIN_INSTANCES
    assert spec["compare_baselines"] is True
    assert spec["limits"]["time_limit_s"] == 30


def test_pairs_of_light_tables_are_sub_additive() -> None:
    """Below the saturation threshold, sharing a device saves the fused-kernel overhead."""
    instance = instance_of()
    model = AnalyticCostModel.from_instance(instance)
    device = resolved_devices(instance)[0]
    for a, b in itertools.combinations(instance.tables, 2):
        if model.traffic(a).hbm_bytes + model.traffic(b).hbm_bytes < instance.cost_model.saturation_gb * GB:
            assert model.device_cost([a, b], device) < model.device_cost([a], device) + model.device_cost([b], device)
