"""Unit tests of the ``assignment@1`` problem kind and of ``problems.testing.check_problem``."""

from __future__ import annotations

import importlib.util
import itertools
import json
import subprocess
import sys
import time
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import pyomo.environ as pyo
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from designsvc.core.cancel import CancelToken
from designsvc.core.errors import SpecError
from designsvc.core.linear import FloatArray, LinearForm, compile_linear
from designsvc.core.modelinfo import model_size
from designsvc.core.plugins import PROBLEMS
from designsvc.core.solver import BackendResult, Capabilities, ProgressReporter, Solver
from designsvc.core.types import Evaluation, JsonDict, SolutionStatus, SolverConfig, Termination
from problems.assignment import AssignmentInstance, AssignmentProblem
from problems.assignment.baselines import BASELINES, greedy_cost, random_fit
from problems.assignment.evaluate import evaluate
from problems.assignment.generate import BUILTIN_INSTANCES, generate
from problems.assignment.model import build_model, extract_design
from problems.assignment.schema import MAX_VARIABLES, Bin, Item
from problems.testing import check_problem

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def small_data() -> dict[str, Any]:
    """Two bins, three items, hand-checkable numbers."""
    return {
        "name": "tiny",
        "bins": [{"name": "B1", "capacity": 10}, {"name": "B2", "capacity": 30}],
        "items": [
            {"name": "i1", "sizes": [4, 10], "costs": [1, 5]},
            {"name": "i2", "sizes": [5, 12.5], "costs": [2, 1]},
            {"name": "i3", "sizes": [8, 9], "costs": [4, 3]},
        ],
    }


def pointers(exc: SpecError) -> list[str]:
    return [e.pointer for e in exc.errors]


def full_design(instance: AssignmentInstance, design: JsonDict) -> bool:
    names = {b.name for b in instance.bins}
    assignment = design["assignment"]
    return set(assignment) == {it.name for it in instance.items} and set(assignment.values()) <= names


# ----------------------------------------------------------------------------- schema


def test_valid_instance_parses() -> None:
    instance = AssignmentProblem.parse_instance(small_data())
    assert isinstance(instance, AssignmentInstance)
    assert [b.capacity for b in instance.bins] == [10.0, 30.0]
    assert instance.items[1].sizes == [5.0, 12.5]


def test_name_defaults_to_empty() -> None:
    data = small_data()
    del data["name"]
    assert AssignmentProblem.parse_instance(data).name == ""


def test_length_mismatch_points_at_the_item() -> None:
    data = small_data()
    data["items"][1]["sizes"] = [1, 2, 3, 4]
    data["items"][2]["costs"] = [1]
    with pytest.raises(SpecError) as info:
        AssignmentProblem.parse_instance(data)
    messages = {e.pointer: e.message for e in info.value.errors}
    assert messages == {
        "/items/1/sizes": "has 4 entries; there are 2 bins",
        "/items/2/costs": "has 1 entry; there are 2 bins",
    }


def test_duplicate_names_point_at_the_second() -> None:
    data = small_data()
    data["bins"][1]["name"] = "B1"
    data["items"][2]["name"] = "i1"
    with pytest.raises(SpecError) as info:
        AssignmentProblem.parse_instance(data)
    assert pointers(info.value) == ["/bins/1/name", "/items/2/name"]
    assert "duplicate bin name 'B1' (also at /bins/0/name)" in str(info.value)


@pytest.mark.parametrize(
    ("path", "value", "pointer"),
    [
        (("bins", 0, "capacity"), -1, "/bins/0/capacity"),
        (("bins", 1, "capacity"), float("inf"), "/bins/1/capacity"),
        (("items", 0, "sizes", 1), -0.5, "/items/0/sizes/1"),
        (("items", 2, "costs", 0), float("nan"), "/items/2/costs/0"),
        (("items", 2, "costs", 0), "3", "/items/2/costs/0"),
        (("items", 1, "name"), "", "/items/1/name"),
        (("items", 1, "weight"), 3, "/items/1/weight"),
        (("bins",), [], "/bins"),
        (("items",), [], "/items"),
    ],
)
def test_field_errors_have_pointers(path: tuple[Any, ...], value: Any, pointer: str) -> None:
    data = small_data()
    target: Any = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    with pytest.raises(SpecError) as info:
        AssignmentProblem.parse_instance(data)
    assert pointers(info.value) == [pointer]


def test_too_large_instance_is_refused() -> None:
    bins = 1000
    row = [0.0] * bins  # shared: only lengths are checked
    instance = AssignmentInstance.model_construct(
        name="huge",
        bins=[Bin.model_construct(name=f"B{k}", capacity=1.0) for k in range(bins)],
        items=[Item.model_construct(name=f"i{i}", sizes=row, costs=row) for i in range(MAX_VARIABLES // bins + 1)],
    )
    with pytest.raises(SpecError) as info:
        AssignmentProblem.check_instance(instance)
    assert pointers(info.value) == [""]
    assert "1,001,000 assignment variables; the limit is 1,000,000" in str(info.value)
    with pytest.raises(SpecError):
        AssignmentProblem(instance)


def test_schema_round_trips() -> None:
    instance = generate(5, 12, 4)
    again = AssignmentInstance.model_validate(json.loads(instance.model_dump_json()))
    assert again == instance


# ----------------------------------------------------------------------------- evaluate


def test_evaluate_feasible_design() -> None:
    problem = AssignmentProblem(AssignmentProblem.parse_instance(small_data()))
    result = problem.evaluate({"assignment": {"i1": "B1", "i2": "B1", "i3": "B2"}})
    assert result == Evaluation(
        objective=6.0,
        feasible=True,
        violations=(),
        breakdown={
            "cost": 6.0,
            "max_utilization": 0.9,
            "overloaded_bins": 0.0,
            "unassigned_items": 0.0,
        },
    )


def test_evaluate_overloaded_bin() -> None:
    data = small_data()
    data["items"][1]["sizes"] = [5, 22.5]
    problem = AssignmentProblem(AssignmentProblem.parse_instance(data))
    result = problem.evaluate({"assignment": {"i1": "B1", "i2": "B2", "i3": "B2"}})
    assert not result.feasible
    assert result.violations == ("bin B2 load 31.5 exceeds capacity 30",)
    assert result.objective == 1 + 1 + 3
    assert result.breakdown["overloaded_bins"] == 1
    assert result.breakdown["max_utilization"] == pytest.approx(31.5 / 30)


def test_evaluate_unassigned_and_unknown_names() -> None:
    problem = AssignmentProblem(AssignmentProblem.parse_instance(small_data()))
    result = problem.evaluate({"assignment": {"i1": "B1", "i2": "B9", "zz": "B1"}})
    assert not result.feasible
    assert result.violations == (
        "item i2 is assigned to unknown bin 'B9'",
        "item i3 is not assigned",
        "unknown item 'zz' is assigned to 'B1'",
    )
    assert result.objective == 1.0
    assert result.breakdown["unassigned_items"] == 2


def test_evaluate_load_tolerance_is_relative() -> None:
    data = small_data()
    data["bins"][0]["capacity"] = 9 * (1 - 1e-12)  # i1 + i2 load 9: within 1e-9 relative
    problem = AssignmentProblem(AssignmentProblem.parse_instance(data))
    assert problem.evaluate({"assignment": {"i1": "B1", "i2": "B1", "i3": "B2"}}).feasible
    data["bins"][0]["capacity"] = 9 * (1 - 1e-6)
    problem = AssignmentProblem(AssignmentProblem.parse_instance(data))
    assert not problem.evaluate({"assignment": {"i1": "B1", "i2": "B1", "i3": "B2"}}).feasible


@pytest.mark.parametrize(
    "design",
    [[], {"assign": {}}, {"assignment": ["i1"]}, {"assignment": {}, "extra": 1}],
)
def test_evaluate_rejects_malformed_designs(design: Any) -> None:
    problem = AssignmentProblem(AssignmentProblem.parse_instance(small_data()))
    with pytest.raises(ValueError, match="design"):
        problem.evaluate(design)


# ----------------------------------------------------------------------------- baselines


def test_greedy_cost_is_feasible_on_most_generated_instances() -> None:
    feasible = sum(
        evaluate(inst, greedy_cost(inst, 0)).feasible
        for seed in range(10)
        for inst in (generate(seed, 40, 5), generate(seed, 60, 8))
    )
    assert feasible >= 18


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_baselines_give_complete_designs(name: str) -> None:
    for seed in range(5):
        instance = generate(seed, 30, 4)
        design = BASELINES[name](instance, seed)
        assert full_design(instance, design)
        assert json.loads(json.dumps(design)) == design
        assert isinstance(evaluate(instance, design), Evaluation)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_baselines_are_feasible_with_room(name: str) -> None:
    for seed in range(5):
        instance = generate(seed, 30, 4, tightness=1.6)
        assert evaluate(instance, BASELINES[name](instance, seed)).feasible


def test_baselines_say_infeasible_when_nothing_fits() -> None:
    data = small_data()
    data["items"][0]["sizes"] = [11, 31]  # i1 fits nowhere
    instance = AssignmentProblem.parse_instance(data)
    for name, heuristic in BASELINES.items():
        design = heuristic(instance, 0)
        assert full_design(instance, design), name
        assert not evaluate(instance, design).feasible, name


def test_random_fit_is_seeded() -> None:
    instance = generate(0, 50, 5, tightness=1.6)
    assert random_fit(instance, 3) == random_fit(instance, 3)
    assert random_fit(instance, 3) != random_fit(instance, 4)


def test_problem_baselines_take_a_seed() -> None:
    problem = AssignmentProblem(generate(0, 20, 3))
    baselines = problem.baselines()
    assert list(baselines) == ["greedy-cost", "first-fit", "random-fit"]
    assert baselines["random-fit"](1) == random_fit(problem.instance, 1)


# ----------------------------------------------------------------------------- generate


def test_generator_is_deterministic() -> None:
    assert generate(7, 30, 4) == generate(7, 30, 4)
    assert generate(7, 30, 4) != generate(8, 30, 4)
    assert AssignmentProblem.generate(seed=7, items=30, bins=4) == generate(7, 30, 4)


def test_generated_values_are_integral_and_in_range() -> None:
    instance = generate(3, 50, 6)
    sizes = np.array([it.sizes for it in instance.items])
    costs = np.array([it.costs for it in instance.items])
    caps = np.array([b.capacity for b in instance.bins])
    for values in (sizes, costs, caps):
        assert np.array_equal(values, np.round(values))
    assert sizes.min() >= 5
    assert sizes.max() <= 25
    assert costs.min() >= 10
    assert costs.max() <= 50
    assert np.all(caps >= np.floor(0.8 * sizes.sum(axis=0) / 6))
    AssignmentProblem.check_instance(instance)


def test_generated_instances_are_feasible_even_when_tight() -> None:
    for seed in range(10):
        instance = generate(seed, 6, 3, tightness=0.3)
        sizes = np.array([it.sizes for it in instance.items])
        caps = np.array([b.capacity for b in instance.bins])
        designs = np.array(list(itertools.product(range(3), repeat=6)))  # all 729
        loads = np.stack([(sizes[np.arange(6), designs] * (designs == b)).sum(axis=1) for b in range(3)], axis=1)
        assert (loads <= caps).all(axis=1).any(), seed


@pytest.mark.parametrize("kwargs", [{"items": 0}, {"bins": 0}, {"items": 2000, "bins": 501}, {"tightness": 0.0}])
def test_generator_rejects_bad_sizes(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"must be|exceeds"):
        generate(0, **kwargs)


def test_generate_classmethod_rejects_unknown_sizes() -> None:
    with pytest.raises(ValueError, match="unknown size parameter"):
        AssignmentProblem.generate(seed=0, machines=3)


def test_builtin_instances() -> None:
    builtins = AssignmentProblem.builtin_instances()
    assert set(builtins) == {"gap-10x3", "gap-40x5", "gap-200x10"}
    for name, make in builtins.items():
        instance = make()
        assert instance.name == name
        items, bins = name.removeprefix("gap-").split("x")
        assert (len(instance.items), len(instance.bins)) == (int(items), int(bins))
        assert make() == instance
    assert BUILTIN_INSTANCES["gap-10x3"]() == generate(1, 10, 3, name="gap-10x3")


# ----------------------------------------------------------------------------- model


def test_model_size_and_names() -> None:
    instance = generate(0, 12, 4)
    model = build_model(instance)
    assert model_size(model) == {
        "variables": 48,
        "integer_variables": 48,
        "fixed_variables": 0,
        "constraints": 16,
        "objectives": 1,
    }
    assert model.x[3, 2].name == "x[3,2]"
    assert all(v.is_binary() for v in model.x.values())
    form = compile_linear(model)
    assert form.A.nnz == 2 * 48
    assert not form.maximize


def test_model_objective_equals_evaluation() -> None:
    problem = AssignmentProblem(generate(2, 25, 4))
    design = problem.baselines()["greedy-cost"](0)
    model = problem.build_model()
    for var, value in problem.encode_design(model, design).items():
        var.set_value(value)
    assert pyo.value(model.cost) == pytest.approx(problem.evaluate(design).objective, rel=1e-12)
    assert all(abs(pyo.value(c.body) - 1) < 1e-12 for c in model.assign.values())
    assert problem.extract_design(model) == design


def test_extract_leaves_unset_items_out() -> None:
    problem = AssignmentProblem(AssignmentProblem.parse_instance(small_data()))
    model = problem.build_model()
    for var, value in problem.encode_design(model, {"assignment": {"i2": "B2"}}).items():
        var.set_value(value)
    assert problem.extract_design(model) == {"assignment": {"i2": "B2"}}


def test_encode_rejects_unknown_names() -> None:
    problem = AssignmentProblem(AssignmentProblem.parse_instance(small_data()))
    model = problem.build_model()
    with pytest.raises(ValueError, match="unknown bin"):
        problem.encode_design(model, {"assignment": {"i1": "B7"}})


def test_fixed_pins_items() -> None:
    instance = generate(0, 10, 3)
    model = build_model(instance, {"assign": {"i2": "B3", "i5": "B1"}})
    assert [(v.fixed, v.value) for v in (model.x[1, 0], model.x[1, 1], model.x[1, 2])] == [
        (True, 0),
        (True, 0),
        (True, 1),
    ]
    assert model.x[4, 0].value == 1
    assert not model.x[0, 0].fixed
    form = compile_linear(model)
    assert form.num_cols == 30 - 2 * 3  # fixed variables are constants to the solvers
    design = extract_design(instance, model)
    assert design == {"assignment": {"i2": "B3", "i5": "B1"}}


@pytest.mark.parametrize(
    ("fixed", "match"),
    [
        ({"assign": {"nope": "B1"}}, "unknown item 'nope'"),
        ({"assign": {"i1": "B9"}}, "unknown bin 'B9'"),
        ({"pin": {}}, "unknown key"),
        ({"assign": ["i1"]}, "must map item names"),
        ({"assign": {"i1": "B1", "i2": "B1", "i3": "B1"}}, "alone overloads bin 'B1'"),
    ],
)
def test_fixed_errors(fixed: dict[str, Any], match: str) -> None:
    problem = AssignmentProblem(AssignmentProblem.parse_instance(small_data()))
    with pytest.raises(ValueError, match=match):
        problem.build_model(fixed=fixed)


def test_models_are_fresh() -> None:
    problem = AssignmentProblem(generate(0, 10, 3))
    first, second = problem.build_model(), problem.build_model()
    assert first is not second
    assert first.x[0, 0] is not second.x[0, 0]


def test_build_2000x50_is_fast() -> None:
    instance = generate(0, 2000, 50)
    timings = []
    for _ in range(2):
        start = time.perf_counter()
        model = build_model(instance)
        timings.append(time.perf_counter() - start)
    assert model_size(model)["variables"] == 100_000
    assert min(timings) < 2.0, timings


# ----------------------------------------------------------------------------- render


def test_render_returns_a_png() -> None:
    problem = AssignmentProblem(generate(0, 40, 5))
    artifacts = problem.render(problem.baselines()["first-fit"](0))
    assert [(a.name, a.media_type) for a in artifacts] == [("bin-loads.png", "image/png")]
    assert artifacts[0].data.startswith(PNG_MAGIC)


def test_render_many_bins_and_partial_designs() -> None:
    problem = AssignmentProblem(generate(0, 200, 80))
    (artifact,) = problem.render({"assignment": {"i1": "B1", "i2": "B80"}})
    assert artifact.data.startswith(PNG_MAGIC)


def test_import_loads_no_plotting_library() -> None:
    code = "import sys, problems.assignment; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# ----------------------------------------------------------------------------- problem


def test_problem_class() -> None:
    assert AssignmentProblem.id() == "assignment@1"
    assert PROBLEMS.load("assignment@1") is AssignmentProblem
    assert AssignmentProblem.objective_is_linear
    spec = AssignmentProblem.example_spec()
    assert spec["problem"] == "assignment@1"
    assert spec["instance_ref"].removeprefix("builtin:") in AssignmentProblem.builtin_instances()
    json.dumps(spec)
    assert AssignmentProblem.instance_schema.model_json_schema()["type"] == "object"


# ----------------------------------------------------------------------------- property


@st.composite
def instances(draw: st.DrawFn) -> dict[str, Any]:
    """Valid raw instances: 1-5 bins, 1-6 items, any unique non-empty names, any finite numbers."""
    name = st.text(min_size=1, max_size=8)
    bin_names = draw(st.lists(name, min_size=1, max_size=5, unique=True))
    item_names = draw(st.lists(name, min_size=1, max_size=6, unique=True))
    bins = len(bin_names)
    number = st.floats(0, 1e6, allow_nan=False, allow_infinity=False) | st.integers(0, 10**6)
    cost = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
    return {
        "bins": [{"name": n, "capacity": draw(number)} for n in bin_names],
        "items": [
            {
                "name": n,
                "sizes": draw(st.lists(number, min_size=bins, max_size=bins)),
                "costs": draw(st.lists(cost, min_size=bins, max_size=bins)),
            }
            for n in item_names
        ],
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_valid_instances_are_accepted(data: dict[str, Any]) -> None:
    instance = AssignmentProblem.parse_instance(data)
    model = AssignmentProblem(instance).build_model()
    assert model_size(model)["variables"] == len(data["items"]) * len(data["bins"])


@settings(max_examples=60, deadline=None)
@given(instances(), st.data())
def test_length_mismatches_are_rejected(data: dict[str, Any], draw: st.DataObject) -> None:
    bins = len(data["bins"])
    i = draw.draw(st.integers(0, len(data["items"]) - 1))
    field = draw.draw(st.sampled_from(["sizes", "costs"]))
    length = draw.draw(st.integers(0, 8).filter(lambda n: n != bins))
    data["items"][i][field] = [1.0] * length
    with pytest.raises(SpecError) as info:
        AssignmentProblem.parse_instance(data)
    assert pointers(info.value) == [f"/items/{i}/{field}"]


# ----------------------------------------------------------------------------- checker


class DesignSolver(Solver):
    """A test double: "solves" by loading a fixed design (the greedy one) into the model."""

    name: ClassVar[str] = "design"
    capabilities: ClassVar[Capabilities] = Capabilities(
        continuous=True,
        integer=True,
        unbounded_variables=True,
        warm_start=False,
        cancel=False,
        progress=False,
    )
    backend_module: ClassVar[str] = "numpy"

    def __init__(self, problem: AssignmentProblem, design: JsonDict) -> None:
        self.problem = problem
        self.design = design

    @classmethod
    def version(cls) -> str:
        return "0"

    def _solve(
        self,
        form: LinearForm,
        config: SolverConfig,
        *,
        warm_start: FloatArray | None,
        on_progress: ProgressReporter | None,
        cancel_token: CancelToken,
    ) -> BackendResult:
        model = form.columns[0].model()
        start: Mapping[Any, float] = self.problem.encode_design(model, self.design)
        values = np.array([start[v] for v in form.columns])
        objective = float(form.c @ values + form.offset)
        return BackendResult(Termination.OPTIMAL, SolutionStatus.FEASIBLE, objective=objective, values=values)


def test_check_problem_passes_with_a_design_solver() -> None:
    instance = generate(1, 10, 3)
    problem = AssignmentProblem(instance)
    solver = DesignSolver(problem, problem.baselines()["greedy-cost"](0))
    check_problem(AssignmentProblem, instance, solver=solver)
    check_problem(AssignmentProblem, instance.model_dump(), solver=solver)


def test_check_problem_catches_a_wrong_objective() -> None:
    class OffByOne(AssignmentProblem):
        def evaluate(self, design: JsonDict) -> Evaluation:
            result = super().evaluate(design)
            return Evaluation(result.objective + 1, result.feasible, result.violations)

    instance = generate(1, 10, 3)
    solver = DesignSolver(AssignmentProblem(instance), greedy_cost(instance, 0))
    with pytest.raises(AssertionError, match="objective_is_linear"):
        check_problem(OffByOne, instance, solver=solver)


def test_check_problem_catches_a_shared_model() -> None:
    class Cached(AssignmentProblem):
        cache: ClassVar[dict[int, pyo.ConcreteModel]] = {}

        def build_model(self, *, fixed: Mapping[str, Any] | None = None) -> pyo.ConcreteModel:
            return self.cache.setdefault(id(self), super().build_model(fixed=fixed))

    instance = generate(1, 10, 3)
    with pytest.raises(AssertionError, match="fresh"):
        check_problem(Cached, instance, solver=DesignSolver(Cached(instance), {}))


@pytest.mark.skipif(
    importlib.util.find_spec("highspy") is None or importlib.util.find_spec("solvers.highs") is None,
    reason="the highs solver plug-in is not available",
)
@pytest.mark.parametrize("builtin", ["gap-10x3", "gap-40x5"])
def test_check_problem_with_highs(builtin: str) -> None:
    check_problem(AssignmentProblem, AssignmentProblem.builtin_instances()[builtin]())
