"""The SurCo proposers (``surco-zero``, ``surco-prior``, ``surco-hybrid``), their trainer,
and the linear-surrogate interface of ``table-sharding@1`` they work through."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import torch

from designsvc.core.errors import SpecError
from designsvc.core.plugins import SOLVERS
from designsvc.core.proposer import Feedback, Proposal, Proposer
from designsvc.core.types import SolutionStatus, SolveResult, Termination
from designsvc.services.jobs import queue_for
from designsvc.services.pipeline import run_any, run_job, run_resolved
from designsvc.services.validation import resolve_any, resolve_spec
from problems.table_sharding.generate import BUILTIN_INSTANCES, generate
from problems.table_sharding.problem import TableShardingProblem
from surrogates.surco import checkpoint
from surrogates.surco.prior import PriorConfig, SurCoPrior, as_tensors
from surrogates.surco.proposer import SurCoZeroProposer
from surrogates.surco.zero import (
    METHODS,
    SolverOracle,
    ZeroConfig,
    estimate_gradient,
    run_zero,
    snap_costs,
    start_costs,
)


def problem(name: str = "dlrm-10x4") -> TableShardingProblem:
    return TableShardingProblem(BUILTIN_INSTANCES[name]())


def oracle_for(p: TableShardingProblem) -> SolverOracle:
    return SolverOracle(p, p.surrogate_interface(), SOLVERS.load("highs")(), time_limit_s=5.0)


# --- the linear-surrogate interface of table-sharding@1 ------------------------------------


@pytest.mark.parametrize("name", sorted(BUILTIN_INSTANCES))
def test_relaxed_objective_equals_the_evaluator_at_plans(name: str) -> None:
    p = problem(name)
    interface = p.surrogate_interface()
    rng = np.random.default_rng(0)
    designs = [baseline(0) for baseline in p.baselines().values()]
    designs += [
        {"assign": {t.name: int(rng.integers(interface.shape[1])) for t in p.instance.tables}} for _ in range(3)
    ]
    for design in designs:
        x = interface.decision(design)
        assert interface.design(x) == design
        value, grad = interface.relaxed_objective(x)
        assert value == pytest.approx(p.evaluate(design).objective, rel=1e-12)
        assert grad.shape == interface.shape
        # The log-sum-exp lies between the maximum and the maximum + tau log D.
        tau = 0.05 * value
        smooth, _ = interface.relaxed_objective(x, temperature=tau)
        assert value <= smooth <= value + tau * math.log(interface.shape[1]) + 1e-12


@pytest.mark.parametrize("temperature", [0.0, 0.3])
def test_relaxed_gradient_matches_finite_differences(temperature: float) -> None:
    interface = problem("dlrm-30x4").surrogate_interface()
    rng = np.random.default_rng(1)
    x = rng.dirichlet(np.ones(interface.shape[1]), size=interface.shape[0])
    x[0] = [1.0, 0.0, 0.0, 0.0]  # a whole table: the launch term's product has a zero factor
    _, grad = interface.relaxed_objective(x, temperature=temperature)
    h = 1e-6
    for _ in range(5):
        direction = rng.standard_normal(x.shape)
        up, _ = interface.relaxed_objective(x + h * direction, temperature=temperature)
        down, _ = interface.relaxed_objective(x - h * direction, temperature=temperature)
        assert (up - down) / (2 * h) == pytest.approx(float(np.sum(grad * direction)), rel=1e-5, abs=1e-7)


def test_the_interface_describes_rows_columns_and_context_scale_free() -> None:
    p = problem("dlrm-30x4")
    interface = p.surrogate_interface()
    assert interface.shape == (30, 4)
    assert interface.features.shape == (30, len(interface.feature_names))
    assert interface.column_features.shape == (4, len(interface.column_feature_names))
    assert interface.context.shape == (len(interface.context_names),)
    assert np.isfinite(interface.features).all()
    # Loads are shares of an even device load: they sum to the number of devices.
    load = interface.features[:, interface.feature_names.index("load_share")]
    assert load.sum() == pytest.approx(4.0)
    # Scale-free: a batch twice as large changes the shares only through the fixed
    # per-table kernel cost (0.01 ms), not through the scale of the loads.
    doubled = TableShardingProblem(p.instance.model_copy(update={"batch_size": 2 * p.instance.batch_size}))
    twice = doubled.surrogate_interface()
    for name in ("load_rank", "load_share", "hbm_share", "memory_share"):
        k = interface.feature_names.index(name)
        assert np.allclose(twice.features[:, k], interface.features[:, k], atol=0.01), name


def test_costs_fixed_makes_the_model_minimize_the_given_costs() -> None:
    p = problem()
    interface = p.surrogate_interface()
    c = np.random.default_rng(2).standard_normal(interface.shape)
    answer = oracle_for(p)(c)
    assert answer is not None
    assert answer.feasible
    # Memory is slack on this instance: every table takes its cheapest device.
    assert np.array_equal(answer.x.argmax(axis=1), np.round(c, 4).argmin(axis=1))
    with pytest.raises(ValueError, match="finite"):
        interface.costs_fixed(np.full(interface.shape, np.nan))


def test_snapped_costs_make_a_plan_the_unique_answer() -> None:
    p = problem("dlrm-30x4")
    interface = p.surrogate_interface()
    plan = interface.decision(p.baselines()["greedy-cost"](0))
    c = np.random.default_rng(3).standard_normal(interface.shape)
    answer = oracle_for(p)(snap_costs(c, plan))
    assert answer is not None
    assert np.array_equal(answer.x, plan)


# --- SurCo-zero ------------------------------------------------------------------------------


def test_surco_zero_improves_on_its_start_from_the_additive_costs() -> None:
    p = TableShardingProblem(generate(11, tables=16, devices=4))
    interface = p.surrogate_interface()
    rng = np.random.default_rng(0)
    c_start = start_costs(interface.initial_costs, rng, 0.1)
    # The additive costs alone (identical devices): one arbitrary plan.
    additive = oracle_for(p)(interface.initial_costs)
    result = run_zero(c_start, oracle_for(p), ZeroConfig(steps=15), rng=rng)
    assert result.start is not None
    assert result.best is not None
    assert additive is not None
    assert result.best.objective < 0.9 * min(result.start.objective, additive.objective)
    assert result.best.feasible
    assert result.curve[0] == result.start.objective
    assert min(result.curve) == pytest.approx(result.best.objective)
    # The best costs reproduce the best plan.
    again = oracle_for(p)(result.best.costs)
    assert again is not None
    assert again.objective == pytest.approx(result.best.objective)


@pytest.mark.parametrize("method", METHODS)
def test_every_gradient_estimator_points_downhill_on_average(method: str) -> None:
    p = problem()
    interface = p.surrogate_interface()
    oracle = oracle_for(p)
    rng = np.random.default_rng(4)
    c = start_costs(interface.initial_costs, rng, 0.1)
    config = ZeroConfig(method=method, samples=8)  # type: ignore[arg-type]
    estimate = estimate_gradient(c, oracle, interface, config, rng)
    assert estimate.grad.shape == interface.shape
    assert np.isfinite(estimate.grad).all()
    assert estimate.candidates
    assert all(a.feasible for a in estimate.candidates)


# --- the prior network and its checkpoints --------------------------------------------------


def prior_for(interface: Any, seed: int = 0, position: str | None = None, gain: float = 0.3) -> SurCoPrior:
    torch.manual_seed(seed)
    config = PriorConfig(
        tuple(interface.feature_names),
        tuple(interface.column_feature_names),
        tuple(interface.context_names),
        16,
        2,
        position_feature=position,
        position_width_feature="load_share" if position else None,
        residual_gain=gain,
    )
    return SurCoPrior(config).eval()


@pytest.mark.parametrize("position", [None, "load_rank"])
def test_the_prior_is_equivariant_to_reordering_tables(position: str | None) -> None:
    interface = problem("dlrm-30x4").surrogate_interface()
    net = prior_for(interface, position=position).double()  # float64: no summation-order noise
    features, columns, context = (t.double() for t in as_tensors(interface, torch.device("cpu")))
    perm = torch.as_tensor(np.random.default_rng(5).permutation(30))
    with torch.no_grad():
        a = net(features, columns, context)
        b = net(features[perm], columns, context)
    assert a.shape == (30, 4)
    assert torch.allclose(a[perm], b, atol=1e-9)
    # Normalized: rows centred, unit RMS.
    assert torch.allclose(a.mean(dim=1), torch.zeros(30, dtype=torch.float64), atol=1e-9)
    assert a.pow(2).mean().item() == pytest.approx(1.0, rel=1e-4)


def test_the_position_base_cuts_the_tables_into_runs_of_equal_load() -> None:
    p = problem("dlrm-60x8")
    interface = p.surrogate_interface()
    net = prior_for(interface, position="load_rank", gain=0.0)
    with torch.no_grad():
        c = net(*as_tensors(interface, torch.device("cpu"))).double().numpy()
    load = interface.features[:, interface.feature_names.index("load_share")]
    per_device = np.bincount(c.argmin(axis=1), weights=load, minlength=8)
    # Shares of an even load: each device within one table's share of 1.
    assert np.all(np.abs(per_device - 1.0) <= load.max() + 1e-9)
    with pytest.raises(ValueError, match="not among the row features"):
        PriorConfig(("a",), ("b",), ("c",), position_feature="load_rank")


def test_the_prior_survives_save_and_load(tmp_path: Path) -> None:
    interface = problem().surrogate_interface()
    net = prior_for(interface, seed=3)
    data = checkpoint.dump(net, {"note": "test"})
    path = tmp_path / "prior.pt"
    path.write_bytes(data)
    loaded, meta, fingerprint = checkpoint.load(path, torch.device("cpu"))
    assert meta == {"note": "test"}
    assert fingerprint == hashlib.sha256(path.read_bytes()).hexdigest()
    inputs = as_tensors(interface, torch.device("cpu"))
    with torch.no_grad():
        assert torch.equal(net(*inputs), loaded(*inputs))


def test_bad_checkpoints_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read the checkpoint"):
        checkpoint.load(tmp_path / "missing.pt", torch.device("cpu"))
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"junk\.pt is not a torch checkpoint"):
        checkpoint.load(junk, torch.device("cpu"))
    other = tmp_path / "other.pt"
    torch.save({"format": "something else"}, other)
    with pytest.raises(ValueError, match="not a SurCo-prior checkpoint"):
        checkpoint.load(other, torch.device("cpu"))
    interface = problem().surrogate_interface()
    renamed = SurCoPrior(PriorConfig(("a",) * len(interface.feature_names), ("b", "c"), ("d",) * 5, 8, 1))
    with pytest.raises(ValueError, match="other row features"):
        checkpoint.check_features(renamed, interface, "x.pt")


def test_the_shipped_checkpoint_loads_and_matches_the_features() -> None:
    net, meta, fingerprint = checkpoint.load(checkpoint.SHIPPED, torch.device("cpu"))
    assert fingerprint == hashlib.sha256(checkpoint.SHIPPED.read_bytes()).hexdigest()
    checkpoint.check_features(net, problem().surrogate_interface(), "shipped")
    assert meta["instances"]


# --- the proposers through the pipeline -----------------------------------------------------


def spec(proposer: str, **options: Any) -> dict[str, Any]:
    return {
        "problem": "table-sharding@1",
        "instance_ref": "builtin:dlrm-10x4",
        "proposer": {"name": proposer, "options": options},
        "limits": {"time_limit_s": 30},
        "render": False,
    }


@pytest.mark.parametrize(
    ("proposer", "options"),
    [("surco-zero", {"steps": 10}), ("surco-prior", {}), ("surco-hybrid", {"steps": 10})],
)
def test_each_proposer_returns_a_feasible_plan_through_the_pipeline(proposer: str, options: dict[str, Any]) -> None:
    result = run_job(spec(proposer, **options)).result
    assert result["status"] == "succeeded", result.get("error")
    assert result["evaluation"]["feasible"]
    assert result["design_source"] == "solver"
    stats = result["proposer"]
    assert stats["name"] == proposer
    assert stats["told"] == stats["asked"] >= 1
    surco = stats["surco"]
    if proposer != "surco-prior":
        assert surco["best_objective"] is not None
        # The job's answer is never worse than the best plan the inner solves met.
        assert result["evaluation"]["objective"] <= surco["best_objective"] * (1 + 1e-9)
    if proposer != "surco-zero":
        shipped = hashlib.sha256(checkpoint.SHIPPED.read_bytes()).hexdigest()
        assert result["provenance"]["checkpoint_sha256"] == shipped
        assert surco["checkpoint_sha256"] == shipped
    json.dumps(result)


def test_a_worse_final_solve_brings_a_round_with_the_costs_snapped_to_the_best_plan() -> None:
    p = problem()
    proposer = SurCoZeroProposer(p, seed=1, options={"steps": 5})
    first = proposer.ask()
    assert first is not None
    assert first.fixed is not None
    assert proposer.best_objective is not None
    solve = SolveResult("highs", "x", Termination.OPTIMAL, SolutionStatus.OPTIMAL, 0.0, 0.0, 0.01)
    worse = p.evaluate(p.baselines()["random"](0))
    assert worse.objective > proposer.best_objective
    proposer.tell(first, Feedback(solve, p.baselines()["random"](0), worse))
    second = proposer.ask()
    assert second is not None
    assert second.fixed is not None
    interface = p.surrogate_interface()
    answer = oracle_for(p)(np.asarray(second.fixed["costs"]))
    assert answer is not None
    assert answer.design == proposer.best_design
    proposer.tell(second, Feedback(solve, answer.design, p.evaluate(answer.design)))
    assert proposer.ask() is None
    assert interface.shape == (10, 4)


@pytest.mark.parametrize(
    ("proposer", "options", "pointer"),
    [
        ("surco-zero", {"steps": -1}, "/proposer/options/steps"),
        ("surco-zero", {"method": "guess"}, "/proposer/options/method"),
        ("surco-zero", {"solver": "nope"}, "/proposer/options/solver"),
        ("surco-zero", {"checkpoint": "shipped"}, "/proposer/options/checkpoint"),
        ("surco-prior", {"steps": 3}, "/proposer/options/steps"),
        ("surco-prior", {"device": "tpu"}, "/proposer/options/device"),
        ("surco-hybrid", {"learning_rate": 0}, "/proposer/options/learning_rate"),
        ("surco-hybrid", {"init_noise": 0.1}, "/proposer/options/init_noise"),
    ],
)
def test_bad_options_point_at_the_option(proposer: str, options: dict[str, Any], pointer: str) -> None:
    with pytest.raises(SpecError) as info:
        resolve_spec(spec(proposer, **options))
    assert info.value.errors[0].pointer == pointer, info.value.errors


def test_queues_and_problem_kinds() -> None:
    assert queue_for(resolve_spec(spec("surco-zero"))) == "cpu"
    assert queue_for(resolve_spec(spec("surco-hybrid"))) == "gpu"
    with pytest.raises(SpecError) as info:
        resolve_spec(
            {"problem": "assignment@1", "instance_ref": "builtin:gap-10x3", "proposer": {"name": "surco-zero"}}
        )
    assert info.value.errors[0].pointer == "/proposer/name"


def test_a_missing_checkpoint_fails_the_job_with_a_clear_error(tmp_path: Path) -> None:
    result = run_job(spec("surco-prior", checkpoint=str(tmp_path / "none.pt"))).result
    assert result["status"] == "failed"
    assert "none.pt" in result["error"]["message"]
    assert "checkpoint" in result["error"]["message"]


def test_importing_and_validating_surco_specs_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from surrogates.surco.proposer import SurCoZeroProposer, SurCoPriorProposer, SurCoHybridProposer\n"
        "from surrogates.surco.trainer import SurCoPriorTrainer\n"
        "from designsvc.services.validation import resolve_any\n"
        "for name in ('surco-zero', 'surco-prior', 'surco-hybrid'):\n"
        "    resolve_any({'problem': 'table-sharding@1', 'instance_ref': 'builtin:dlrm-10x4',"
        " 'proposer': {'name': name}})\n"
        "resolve_any({'train': {'name': 'surco-prior'}, 'problem': 'table-sharding@1',"
        " 'instances': ['builtin:dlrm-10x4']})\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- the training job -------------------------------------------------------------------------


def train_spec(**options: Any) -> dict[str, Any]:
    return {
        "train": {
            "name": "surco-prior",
            "options": {
                "epochs": 2,
                "batch_size": 2,
                "hidden": 16,
                "zero_steps": 5,
                "validation_fraction": 0.5,
                "validate_every": 1,
                **options,
            },
        },
        "problem": "table-sharding@1",
        "instances": ["generate:seed=4,tables=8,devices=2", "generate:seed=5,tables=10,devices=3"],
        "limits": {"time_limit_s": 120, "seed": 1},
    }


def test_a_training_job_returns_a_checkpoint_artifact_with_its_fingerprint(tmp_path: Path) -> None:
    events: list[dict[str, Any]] = []
    job = resolve_any(train_spec())
    assert queue_for(job) == "gpu"
    output = run_any(job, on_event=events.append)
    result = output.result
    assert result["status"] == "succeeded", result["error"]
    names = {a.name: a for a in output.artifacts}
    ckpt = names[result["checkpoint"]["artifact"]]
    assert hashlib.sha256(ckpt.data).hexdigest() == result["checkpoint"]["sha256"]
    assert names["surco-prior-training.png"].data.startswith(b"\x89PNG")
    metrics = result["metrics"]
    assert [row["epoch"] for row in metrics["curve"]] == [1, 2]
    assert len(metrics["before"]) == len(metrics["after"]) == 2
    assert [e["epoch"] for e in events if e["type"] == "progress" and "epoch" in e] == [1, 2]
    assert [e["instance"] for e in events if e.get("stage") == "targets"] == [1]
    assert all(row["imitation_loss"] > 0 for row in metrics["curve"])
    assert metrics["mean_target_ratio"] is not None
    # One instance is held out: it gets no target, and the kept weights are the best on it.
    assert len(metrics["validation_instances"]) == len(metrics["targets"]) == 1
    assert metrics["kept_epoch"] in (0, 1, 2)
    assert metrics["validation_ratio"] > 0
    json.dumps(result)
    # The checkpoint drives a solve job, and fine-tuning starts from it.
    path = tmp_path / "prior.pt"
    path.write_bytes(ckpt.data)
    solved = run_job(spec("surco-prior", checkpoint=str(path))).result
    assert solved["status"] == "succeeded"
    assert solved["evaluation"]["feasible"]
    assert solved["provenance"]["checkpoint_sha256"] == result["checkpoint"]["sha256"]
    tuned = run_any(resolve_any(train_spec(init_checkpoint=str(path), epochs=1))).result
    assert tuned["metrics"]["parent_checkpoint_sha256"] == result["checkpoint"]["sha256"]


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        ({"train": {"name": "surco-prior", "options": {"epochs": 0}}}, "/train/options/epochs"),
        ({"train": {"name": "surco-prior", "options": {"method": "x"}}}, "/train/options/method"),
        ({"train": {"name": "surco-prior", "options": {"colour": 1}}}, "/train/options/colour"),
        ({"problem": "assignment@1"}, "/problem"),
    ],
)
def test_bad_training_specs_point_at_the_field(change: dict[str, Any], pointer: str) -> None:
    with pytest.raises(SpecError) as info:
        resolve_any({**train_spec(), **change})
    assert pointer in [e.pointer for e in info.value.errors], info.value.errors


def test_an_infeasible_packing_is_a_result_not_a_failure() -> None:
    tables = [{"name": f"t{k}", "rows": 1_500_000, "dim": 100, "pooling_factor": 2.0} for k in range(3)]
    instance = {"tables": tables, "num_devices": 2, "memory_gb": 1.0}  # 0.6 GB each, one per device
    result = run_job(
        {"problem": "table-sharding@1", "instance": instance, "proposer": {"name": "surco-zero"}, "render": False}
    ).result
    assert result["status"] == "succeeded", result.get("error")
    assert result["outcome"]["termination"] == "infeasible"
    assert "no plan" in result["proposer"]["surco"]["note"]


def test_end_to_end_training_runs_the_estimator_through_the_network() -> None:
    result = run_any(resolve_any(train_spec(objective="end_to_end", epochs=1))).result
    assert result["status"] == "succeeded", result["error"]
    (row,) = result["metrics"]["curve"]
    assert row["mean_ratio"] > 0
    assert row["imitation_loss"] is None
    assert result["metrics"]["targets"] == []


def test_the_imitation_loss_ignores_how_identical_devices_are_labelled() -> None:
    from surrogates.surco.trainer import _column_groups, _imitation_loss

    c = torch.as_tensor(np.random.default_rng(6).standard_normal((6, 3)), dtype=torch.float32)
    target = torch.zeros(6, 3)
    target[torch.arange(6), torch.as_tensor([0, 1, 2, 0, 1, 2])] = 1.0
    relabelled = target[:, torch.as_tensor([2, 0, 1])]
    same = _column_groups(np.ones((3, 2)))
    a = _imitation_loss(c, target, same, 0.3)
    assert a.item() == pytest.approx(_imitation_loss(c, relabelled, same, 0.3).item())
    # Devices that differ are not relabelled.
    different = _column_groups(np.array([[1.0, 1.0], [2.0, 1.0], [3.0, 1.0]]))
    assert _imitation_loss(c, target, different, 0.3).item() >= a.item() - 1e-6


# --- plans from the interface: the greedy base and the imitation targets ---------------------


def test_the_greedy_plan_matches_greedy_cost_and_the_local_search_only_improves() -> None:
    from surrogates.surco.targets import PlanCosts, greedy_plan, local_search, plan_matrix

    p = problem("dlrm-30x4")
    interface = p.surrogate_interface()
    pc = PlanCosts(interface)
    x = plan_matrix(greedy_plan(interface, pc), 4)
    # One device's cost is the plan restricted to its column, fast path or not.
    slow = PlanCosts(interface)
    slow._fast = None
    assert np.allclose(pc.costs(x), slow.costs(x))
    greedy = p.evaluate(interface.design(x))
    reference = p.evaluate(p.baselines()["greedy-cost"](0))
    assert greedy.feasible
    assert greedy.objective == pytest.approx(reference.objective, rel=5e-3)
    searched = local_search(interface, x.argmax(axis=1), max_seconds=5.0, plan_costs=pc)
    found = p.evaluate(interface.design(plan_matrix(searched, 4)))
    assert found.feasible
    assert found.objective <= greedy.objective * (1 + 1e-12)


def test_the_greedy_base_prior_answers_the_greedy_plan_and_old_configs_load() -> None:
    from surrogates.surco.prior import prior_inputs
    from surrogates.surco.targets import greedy_plan

    interface = problem("dlrm-60x8").surrogate_interface()
    torch.manual_seed(0)
    names = (tuple(interface.feature_names), tuple(interface.column_feature_names), tuple(interface.context_names))
    net = SurCoPrior(PriorConfig(*names, 16, 2, residual_gain=0.0, greedy_base=True)).eval()
    inputs = prior_inputs(net.config, interface, torch.device("cpu"))
    assert len(inputs) == 5
    with torch.no_grad():
        c = net(*inputs).numpy()
    assert np.array_equal(c.argmin(axis=1), greedy_plan(interface))
    with pytest.raises(ValueError, match="greedy base"):
        net(*as_tensors(interface, torch.device("cpu")))
    with pytest.raises(ValueError, match="not both"):
        PriorConfig(*names, position_feature="load_rank", greedy_base=True)
    # A checkpoint config from before the greedy base loads as a position-base prior.
    old = net.config.to_json()
    del old["greedy_base"]
    assert PriorConfig.from_json(old).greedy_base is False


def test_the_search_target_is_no_worse_than_surco_zeros_plan() -> None:
    from surrogates.surco.trainer import _search_target

    p = problem("dlrm-30x4")
    interface = p.surrogate_interface()
    start = oracle_for(p)(start_costs(interface.initial_costs, np.random.default_rng(0), 0.1))
    assert start is not None
    x, objective, source = _search_target(p, interface, start, 2.0)
    evaluation = p.evaluate(interface.design(x))
    assert evaluation.feasible
    assert evaluation.objective == pytest.approx(objective)
    assert objective <= start.objective
    assert source in ("zero", "zero+search", "greedy", "greedy+search")


class _BadCostsProposer(Proposer):
    """Proposes costs whose argmin piles every table on device 0's neighbours badly, with
    the greedy-cost plan as the warm start (for the pipeline rule below)."""

    name: ClassVar[str] = "bad-costs"

    def _ask(self) -> Proposal | None:
        if self.asked:
            return None
        interface = self.problem.surrogate_interface()
        rows, columns = interface.shape
        costs = np.zeros((rows, columns))
        costs[:, 1:] = 1.0  # argmin: everything that fits on device 0, the rest packed next
        return Proposal(
            warm_start=self.problem.baselines()["greedy-cost"](0), fixed=interface.costs_fixed(costs), label="bad"
        )

    def _tell(self, proposal: Proposal, feedback: Feedback) -> None:
        del proposal, feedback


def test_a_better_warm_start_stands_over_the_solvers_answer_for_a_surrogate_objective() -> None:
    job = resolve_spec(spec("surco-prior"))
    job = dataclasses.replace(job, proposer_cls=_BadCostsProposer)
    result = run_resolved(job).result
    assert result["status"] == "succeeded", result.get("error")
    greedy = job.problem.evaluate(job.problem.baselines()["greedy-cost"](0))
    assert result["design_source"] == "proposal"
    assert result["evaluation"]["objective"] == pytest.approx(greedy.objective)
    assert result["objective"] == result["evaluation"]["objective"]
    assert result["outcome"]["solution_status"] == "feasible"


def test_prior_and_hybrid_never_return_worse_than_the_best_baseline() -> None:
    problem_ = problem("dlrm-30x4")
    best = min(problem_.evaluate(b(0)).objective for b in problem_.baselines().values())
    for name in ("surco-prior", "surco-hybrid"):
        document = {
            **spec(name, **({"steps": 3} if name == "surco-hybrid" else {})),
            "instance_ref": "builtin:dlrm-30x4",
        }
        result = run_job(document).result
        assert result["evaluation"]["feasible"]
        assert result["evaluation"]["objective"] <= best * (1 + 1e-9)
        assert result["proposer"]["surco"]["baseline"] in problem_.baselines()
