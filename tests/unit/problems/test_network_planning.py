"""Unit tests of the ``network-planning@1`` problem kind."""

from __future__ import annotations

import copy
import itertools
import json
from typing import Any

import pyomo.environ as pyo
import pytest

from designsvc.core.errors import SpecError
from designsvc.core.plugins import SOLVERS
from designsvc.core.types import JsonDict, SolverConfig, Termination
from problems.network_planning import NetworkPlanningInstance, NetworkPlanningProblem
from problems.network_planning.baselines import greedy_shortfall, ilp_heur
from problems.network_planning.generate import BUILTIN_INSTANCES, generate
from problems.network_planning.model import build_model, encode_design, extract_design
from problems.network_planning.schema import MAX_FLOW_VARIABLES
from problems.network_planning.verify import verify
from problems.testing import check_problem

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def tiny_data() -> dict[str, Any]:
    """A square A-B-C-D of fibers, one IP link per fiber plus a chord A-C over two fibers,
    a lease on two links and a tight fiber; every single cut is a scenario."""
    return {
        "name": "square",
        "capacity_unit_gbps": 10,
        "routers": [{"name": n} for n in "ABCD"],
        "fibers": [
            {"name": "AB", "a": "A", "b": "B", "length_km": 10, "spectrum_slots": 8},
            {"name": "BC", "a": "B", "b": "C", "length_km": 10, "spectrum_slots": 4},
            {"name": "CD", "a": "C", "b": "D", "length_km": 10, "spectrum_slots": 8},
            {"name": "DA", "a": "D", "b": "A", "length_km": 10, "spectrum_slots": 8},
        ],
        "ip_links": [
            {
                "name": "L1",
                "a": "A",
                "b": "B",
                "fiber_path": ["AB"],
                "existing_units": 1,
                "max_units": 3,
                "cost_per_unit": 5,
            },
            {"name": "L2", "a": "B", "b": "C", "fiber_path": ["BC"], "max_units": 3, "cost_per_unit": 4, "lease": "Q"},
            {"name": "L3", "a": "C", "b": "D", "fiber_path": ["CD"], "max_units": 3, "cost_per_unit": 3, "lease": "Q"},
            {"name": "L4", "a": "D", "b": "A", "fiber_path": ["DA"], "max_units": 3, "cost_per_unit": 6},
            {
                "name": "L5",
                "a": "A",
                "b": "C",
                "fiber_path": ["AB", "BC"],
                "max_units": 2,
                "cost_per_unit": 7,
                "spectrum_per_unit": 2,
            },
        ],
        "leases": [{"name": "Q", "max_units": 4}],
        "demands": [
            {"src": "A", "dst": "C", "gbps": 15, "cos": "gold"},
            {"src": "B", "dst": "D", "gbps": 8, "cos": "bronze"},
            {"src": "D", "dst": "B", "gbps": 6, "cos": "gold"},
        ],
        "protected_classes": ["gold"],
        "failure_scenarios": [{"name": f"cut-{f}", "fibers": [f]} for f in ("AB", "BC", "CD", "DA")],
    }


def tiny() -> NetworkPlanningInstance:
    return NetworkPlanningProblem.parse_instance(tiny_data())


def solve(instance: NetworkPlanningInstance) -> tuple[JsonDict, float]:
    model = build_model(instance)
    result = SOLVERS.load("highs")().solve(model, SolverConfig(time_limit_s=60))
    assert result.termination is Termination.OPTIMAL, result.message
    assert result.objective is not None
    return extract_design(instance, model), result.objective


@pytest.fixture(scope="module")
def solved() -> dict[str, tuple[NetworkPlanningInstance, JsonDict, float]]:
    out = {}
    for name, make in BUILTIN_INSTANCES.items():
        instance = make()
        design, objective = solve(instance)
        out[name] = (instance, design, objective)
    return out


# --- schema -------------------------------------------------------------------------------


def pointers(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(SpecError) as info:
        NetworkPlanningProblem.parse_instance(data)
    return {e.pointer: e.message for e in info.value.errors}


def test_tiny_instance_is_valid_and_round_trips() -> None:
    instance = tiny()
    again = NetworkPlanningProblem.parse_instance(json.loads(json.dumps(instance.model_dump(mode="json"))))
    assert again == instance


@pytest.mark.parametrize(
    ("edit", "pointer", "needle"),
    [
        (lambda d: d["ip_links"][3].update(a="X"), "/ip_links/3/a", "unknown router 'X'"),
        (lambda d: d["ip_links"][4].update(fiber_path=["AB", "CD"]), "/ip_links/4/fiber_path", "do not form a path"),
        (lambda d: d["ip_links"][4].update(fiber_path=["AB", "ZZ"]), "/ip_links/4/fiber_path/1", "unknown fiber"),
        (lambda d: d["demands"][1].update(dst="B"), "/demands/1", "src and dst are the same router"),
        (lambda d: d["failure_scenarios"][1].update(fibers=["nope"]), "/failure_scenarios/1/fibers/0", "unknown fiber"),
        (lambda d: d["routers"].append({"name": "A"}), "/routers/4/name", "duplicate router name 'A'"),
        (lambda d: d["ip_links"][0].update(lease="P"), "/ip_links/0/lease", "unknown lease"),
        (lambda d: d["ip_links"][0].update(max_units=0), "/ip_links/0/max_units", "below existing_units"),
        (lambda d: d["fibers"][0].update(b="A"), "/fibers/0", "both ends"),
    ],
)
def test_cross_field_errors_have_pointers(edit: Any, pointer: str, needle: str) -> None:
    data = tiny_data()
    edit(data)
    found = pointers(data)
    assert pointer in found, found
    assert needle in found[pointer]


def test_demand_without_path_is_reported() -> None:
    data = tiny_data()
    data["routers"].append({"name": "E"})
    data["demands"].append({"src": "A", "dst": "E", "gbps": 1, "cos": "bronze"})
    assert "no path between A and E" in pointers(data)["/demands/3"]


def test_protected_demand_cut_off_by_a_scenario_is_reported() -> None:
    data = tiny_data()
    data["failure_scenarios"].append({"name": "double", "fibers": ["AB", "DA"]})
    assert "failure scenario 'double'" in pointers(data)["/demands/0"]


def test_field_errors_and_extra_fields() -> None:
    data = tiny_data()
    data["fibers"][0]["spectrum_slots"] = -1
    data["ip_links"][0]["colour"] = "red"
    data["demands"][0]["gbps"] = "15"
    found = pointers(data)
    assert "/fibers/0/spectrum_slots" in found
    assert "/ip_links/0/colour" in found
    assert "/demands/0/gbps" in found


def test_size_limit_message() -> None:
    data = tiny_data()
    n = 40
    data["routers"] = [{"name": f"R{i}"} for i in range(n)]
    data["fibers"] = [{"name": f"F{i}", "a": f"R{i}", "b": f"R{(i + 1) % n}", "spectrum_slots": 9} for i in range(n)]
    data["ip_links"] = [
        {
            "name": f"L{i}-{k}",
            "a": f"R{i}",
            "b": f"R{(i + 1) % n}",
            "fiber_path": [f"F{i}"],
            "max_units": 1,
            "cost_per_unit": 1,
        }
        for i in range(n)
        for k in range(40)
    ]
    data["leases"] = []
    data["demands"] = [{"src": f"R{i}", "dst": f"R{(i + 1) % n}", "gbps": 1, "cos": "gold"} for i in range(n)]
    data["failure_scenarios"] = [{"name": f"c{i}", "fibers": [f"F{i}"]} for i in range(n)]
    found = pointers(data)
    assert "too large" in found[""]
    assert f"{MAX_FLOW_VARIABLES:,}" in found[""]


# --- model and verifier ---------------------------------------------------------------------


def test_tiny_ilp_equals_brute_force() -> None:
    instance = tiny()
    design, objective = solve(instance)
    links = instance.ip_links
    ranges = [range(max(x.existing_units, x.min_units), x.max_units + 1) for x in links]

    def cost(units: tuple[int, ...]) -> float:
        return sum(x.cost_per_unit * (n - x.existing_units) for x, n in zip(links, units, strict=True))

    best = None
    for units in sorted(itertools.product(*ranges), key=cost):
        if verify(instance, units).feasible:
            best = cost(units)
            break
    assert best is not None
    assert objective == pytest.approx(best)
    evaluation = NetworkPlanningProblem(instance).evaluate(design)
    assert evaluation.feasible
    assert evaluation.objective == pytest.approx(best)


def test_verifier_accepts_the_optimum_and_rejects_every_cheaper_step(
    solved: dict[str, tuple[NetworkPlanningInstance, JsonDict, float]],
) -> None:
    for instance, design, _ in solved.values():
        assert verify(instance, design["units"]).feasible
        decremented = 0
        for link in instance.ip_links:
            units = dict(design["units"])
            if units[link.name] <= max(link.existing_units, link.min_units) or link.cost_per_unit <= 0:
                continue
            units[link.name] -= 1
            result = verify(instance, units)
            assert not result.violations
            assert not result.routed, f"{instance.name}: {link.name} - 1 still routes; the ILP was not optimal"
            decremented += 1
        assert decremented > 0


def test_evaluate_messages() -> None:
    instance = tiny()
    problem = NetworkPlanningProblem(instance)
    plan = {"units": {"L1": 0, "L2": 3, "L3": 3, "L4": 0, "L5": 2}}
    evaluation = problem.evaluate(plan)
    assert not evaluation.feasible
    lines = "\n".join(evaluation.violations)
    assert "link L1 units 0 below existing 1" in lines
    assert "fiber BC spectrum 7 > 4" in lines
    assert "lease Q units 6 > 4" in lines
    assert "scenario cut-" in lines
    assert "unrouted" in lines
    assert "Gbps" in lines
    assert evaluation.breakdown["max_unrouted_gbps"] > 0
    missing = problem.evaluate({"units": {"L1": 1, "nope": 2, "L2": 1.5}})
    assert any("unknown link 'nope'" in v for v in missing.violations)
    assert any("L2 units 1.5 is not an integer" in v for v in missing.violations)
    assert any("link L3 has no units" in v for v in missing.violations)
    with pytest.raises(ValueError, match="units"):
        problem.evaluate({"plan": {}})


def test_fixed_bounds() -> None:
    instance = tiny()
    model = build_model(instance, {"units": {"L4": [2, 2]}})
    assert model.units[3].bounds == (2, 2)
    result = SOLVERS.load("highs")().solve(model, SolverConfig(time_limit_s=60))
    assert result.has_solution
    assert extract_design(instance, model)["units"]["L4"] == 2
    for bad, match in [
        ({"units": {"Lx": [0, 1]}}, "unknown link"),
        ({"units": {"L1": [2, 1]}}, "lo > hi"),
        ({"units": {"L1": [5, 9]}}, "leaves no value"),
        ({"units": {"L1": [0.5, 1]}}, "integers"),
        ({"cap": {}}, "unknown key"),
    ]:
        with pytest.raises(ValueError, match=match):
            build_model(instance, bad)


def test_encode_round_trip_and_flows_unset() -> None:
    instance = tiny()
    model = build_model(instance)
    design = {"units": {"L1": 2, "L2": 1, "L3": 2, "L4": 1, "L5": 0}}
    start = encode_design(instance, model, design)
    assert len(start) == len(instance.ip_links)
    for var, value in start.items():
        var.set_value(value)
    assert extract_design(instance, model) == design
    assert all(v.value is None for v in model.flow.values())
    assert isinstance(model.cost, pyo.Objective)


# --- conformance, baselines, generator, render ----------------------------------------------


@pytest.mark.parametrize("name", sorted(BUILTIN_INSTANCES))
def test_check_problem_on_builtins(name: str) -> None:
    check_problem(NetworkPlanningProblem, BUILTIN_INSTANCES[name]())


def test_check_problem_on_tiny() -> None:
    check_problem(NetworkPlanningProblem, tiny_data())


def test_greedy_is_feasible_and_not_below_the_optimum(
    solved: dict[str, tuple[NetworkPlanningInstance, JsonDict, float]],
) -> None:
    for instance, _, optimum in solved.values():
        design = greedy_shortfall(instance, 0)
        assert greedy_shortfall(instance, 7) == design
        evaluation = NetworkPlanningProblem(instance).evaluate(design)
        assert evaluation.feasible, evaluation.violations[:3]
        assert evaluation.objective >= optimum - 1e-6


def test_greedy_can_be_trapped_by_a_lease() -> None:
    # On the tiny instance the greedy grows L2 early and the lease then blocks L3: the
    # result is infeasible (and says so), never cheaper than the optimum while feasible.
    instance = tiny()
    evaluation = NetworkPlanningProblem(instance).evaluate(greedy_shortfall(instance, 0))
    assert not evaluation.feasible
    assert any("unrouted" in v for v in evaluation.violations)


def test_generator_is_deterministic_and_feasible_at_max_units() -> None:
    first = generate(3, nodes=7, extra_links=2, scenarios=4)
    assert first == generate(3, nodes=7, extra_links=2, scenarios=4)
    assert first != generate(4, nodes=7, extra_links=2, scenarios=4)
    assert len(first.failure_scenarios) == 4
    NetworkPlanningProblem.check_instance(first)
    full = generate(5, nodes=9)
    assert len(full.failure_scenarios) == len(full.fibers)
    assert verify(full, {x.name: x.max_units for x in full.ip_links}).feasible
    assert NetworkPlanningProblem.generate(seed=3, nodes=7, extra_links=2, scenarios=4) == first
    with pytest.raises(ValueError, match="unknown size"):
        NetworkPlanningProblem.generate(seed=1, items=3)
    with pytest.raises(ValueError, match="nodes"):
        generate(1, nodes=2)


def test_render_gives_png(solved: dict[str, tuple[NetworkPlanningInstance, JsonDict, float]]) -> None:
    instance, design, _ = solved["mesh-8"]
    (artifact,) = NetworkPlanningProblem(instance).render(design)
    assert artifact.name == "network.png"
    assert artifact.data.startswith(PNG_MAGIC)
    data = copy.deepcopy(tiny_data())
    (picture,) = NetworkPlanningProblem(NetworkPlanningProblem.parse_instance(data)).render({"units": {}})
    assert picture.data.startswith(PNG_MAGIC)


def test_example_spec() -> None:
    spec = NetworkPlanningProblem.example_spec()
    assert spec["problem"] == "network-planning@1"
    assert spec["instance_ref"] == "builtin:mesh-8"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ilp_and_verifier_agree_on_small_random_instances(seed: int) -> None:
    instance = generate(seed, nodes=5, extra_links=2, scenarios=3)
    design, objective = solve(instance)
    evaluation = NetworkPlanningProblem(instance).evaluate(design)
    assert evaluation.feasible, evaluation.violations[:3]
    assert evaluation.objective == pytest.approx(objective, abs=1e-6)
    for link in instance.ip_links:
        units = dict(design["units"])
        if units[link.name] > max(link.existing_units, link.min_units):
            units[link.name] -= 1
            assert not verify(instance, units).feasible


# --- ilp-heur ------------------------------------------------------------------------------


def model_size(model: pyo.ConcreteModel) -> tuple[int, int]:
    return model.nvariables(), model.nconstraints()


def test_restricted_model_sizes() -> None:
    instance = BUILTIN_INSTANCES["mesh-8"]()
    full = model_size(build_model(instance))
    assert model_size(build_model(instance, scenarios=None)) == full
    every = list(range(len(instance.failure_scenarios) + 1))
    assert model_size(build_model(instance, scenarios=every)) == full
    variables, constraints = model_size(build_model(instance, scenarios=[0]))
    assert constraints < full[1]
    assert variables < full[0]
    for bad in (-1, len(every), True):
        with pytest.raises(ValueError, match="out of range"):
            build_model(instance, scenarios=[bad])


def test_ilp_heur_is_feasible_between_the_optimum_and_greedy(
    solved: dict[str, tuple[NetworkPlanningInstance, JsonDict, float]],
) -> None:
    assert "ilp-heur" in NetworkPlanningProblem(solved["ring-5"][0]).baselines()
    for name, (instance, _, optimum) in solved.items():
        problem = NetworkPlanningProblem(instance)
        evaluation = problem.evaluate(ilp_heur(instance, 0))
        assert evaluation.feasible, (name, evaluation.violations[:3])
        assert evaluation.objective >= optimum - 1e-6, name
        if name in ("mesh-8", "mesh-12"):
            greedy = problem.evaluate(greedy_shortfall(instance, 0))
            assert evaluation.objective <= greedy.objective + 1e-6, name


def test_ilp_heur_escapes_the_lease_trap() -> None:
    instance = tiny()
    _, optimum = solve(instance)
    evaluation = NetworkPlanningProblem(instance).evaluate(ilp_heur(instance, 0))
    assert evaluation.feasible, evaluation.violations[:3]
    assert evaluation.objective >= optimum - 1e-6


@pytest.mark.parametrize("name", ["tiny", "ring-5", "mesh-8"])
def test_solvers_agree_on_small_instances(name: str) -> None:
    """HiGHS and SCIP prove the same optimum; CP-SAT refuses the continuous flows clearly."""
    from designsvc.core.errors import ModelNotSupportedError

    instance = tiny() if name == "tiny" else BUILTIN_INSTANCES[name]()
    optima = {}
    for solver_name in ("highs", "scip"):
        model = build_model(instance)
        result = SOLVERS.load(solver_name)().solve(model, SolverConfig(time_limit_s=60, rel_gap=0.0))
        assert result.termination is Termination.OPTIMAL, (solver_name, result.message)
        assert verify(instance, extract_design(instance, model)["units"]).feasible
        optima[solver_name] = result.objective
    assert optima["scip"] == pytest.approx(optima["highs"], rel=1e-6)
    with pytest.raises(ModelNotSupportedError, match="continuous"):
        SOLVERS.load("cpsat")().check_model(build_model(instance))
