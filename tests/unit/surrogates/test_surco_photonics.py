"""SurCo on ``photonics@1``: the fast inner oracle, SurCo-zero through it, the pixel prior,
its trainer, and the proposers' final exact solve (every returned design brush-feasible)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from designsvc.core.cancel import CancelToken
from designsvc.core.errors import SpecError
from designsvc.services.pipeline import run_job
from designsvc.services.validation import resolve_spec
from problems.photonics.brush import check_brush, fixed_frame
from problems.photonics.evaluate import parse_design
from problems.photonics.generate import BUILTIN_INSTANCES
from problems.photonics.problem import PhotonicsProblem
from surrogates.surco import photonics_prior
from surrogates.surco.photonics_trainer import SurCoPriorPhotonicsTrainer
from surrogates.surco.pixels import PixelConfig, run_pixel_zero, scale_costs, target_costs

EXAMPLE = "bend-lightweight-small"


def problem(name: str = EXAMPLE) -> PhotonicsProblem:
    return PhotonicsProblem(BUILTIN_INSTANCES[name]())


def brush_ok(p: PhotonicsProblem, design: Any) -> bool:
    setup = p.setup
    solid, problems = parse_design(setup, design)
    assert not problems
    frame = fixed_frame(setup.background, setup.design_coords, setup.brush_px - 1)
    return check_brush(frame, solid, setup.brush).feasible


def spec(proposer: str, **options: Any) -> dict[str, Any]:
    return {
        "problem": "photonics@1",
        "instance_ref": f"builtin:{EXAMPLE}",
        "solver": {"name": "highs", "options": {}},
        "limits": {"time_limit_s": 120, "threads": 1, "seed": 0},
        "proposer": {"name": proposer, "options": options},
    }


# --- the fast oracle ------------------------------------------------------------------------


def test_fast_argmin_reports_the_independent_checkers_verdict() -> None:
    p = problem()
    interface = p.surrogate_interface()
    assert interface.fast_argmin is not None
    frame = fixed_frame(p.setup.background, p.setup.design_coords, p.setup.brush_px - 1)
    rng = np.random.default_rng(0)
    verdicts = []
    for _ in range(20):
        x, feasible = interface.fast_argmin(rng.standard_normal(interface.shape))
        assert set(np.unique(x)) <= {0.0, 1.0}
        assert feasible == check_brush(frame, x > 0.5, p.setup.brush).feasible
        verdicts.append(feasible)
    assert sum(verdicts) >= 15  # the repair usually succeeds on random costs
    x, feasible = interface.fast_argmin(interface.initial_costs)
    assert feasible
    np.testing.assert_array_equal(x, p.default_target())


def test_target_costs_make_a_feasible_design_the_exact_models_answer() -> None:
    from designsvc.core.plugins import SOLVERS
    from designsvc.core.types import SolverConfig

    p = problem()
    interface = p.surrogate_interface()
    assert interface.fast_argmin is not None
    x, feasible = interface.fast_argmin(np.random.default_rng(3).standard_normal(interface.shape))
    assert feasible
    model = p.build_model(fixed=interface.costs_fixed(target_costs(x)))
    result = SOLVERS.load("highs")().solve(
        model, SolverConfig(time_limit_s=30, threads=1), warm_start=p.encode_design(model, interface.design(x))
    )
    assert result.has_solution
    np.testing.assert_array_equal(interface.decision(p.extract_design(model)), x)


def test_image_channels_have_the_design_shape() -> None:
    interface = problem().surrogate_interface()
    assert interface.image is not None
    assert interface.image.shape == (len(interface.image_names), *interface.shape)
    np.testing.assert_array_equal(
        interface.image[interface.image_names.index("straight")] > 0.5, interface.initial_costs < 0
    )


# --- SurCo-zero through the fast oracle ----------------------------------------------------


@pytest.mark.slow
def test_short_surco_zero_run_lowers_the_spec_loss_on_a_small_bend() -> None:
    p = problem()
    interface = p.surrogate_interface()
    result = run_pixel_zero(interface.initial_costs, interface, PixelConfig(max_simulations=10))
    assert result.simulations <= 10
    assert len(result.curve) == result.simulations
    assert result.best is not None
    assert result.best.objective < result.start.objective
    design = interface.design(result.best.x)
    assert brush_ok(p, design)
    assert p.evaluate(design).objective == pytest.approx(result.best.objective, rel=1e-9, abs=1e-12)


def test_scale_costs_keeps_signs_and_the_zero_matrix() -> None:
    c = np.array([[2.0, -1.0], [0.5, -3.0]])
    np.testing.assert_array_equal(np.sign(scale_costs(c)), np.sign(c))
    assert float(np.sqrt(np.mean(scale_costs(c) ** 2))) == pytest.approx(1.0)
    np.testing.assert_array_equal(scale_costs(np.zeros((2, 2))), np.zeros((2, 2)))


@pytest.mark.slow
def test_surco_zero_job_returns_a_brush_feasible_design_no_worse_than_its_start() -> None:
    result = run_job(spec("surco-zero", max_simulations=8)).result
    assert result["status"] == "succeeded"
    p = problem()
    assert brush_ok(p, result["design"])
    assert result["evaluation"]["feasible"]
    surco = result["proposer"]["surco"]
    assert surco["method"] == "straight_through"
    assert surco["simulations"] <= 8
    assert result["evaluation"]["objective"] <= surco["start_objective"] + 1e-12
    assert result["evaluation"]["objective"] == pytest.approx(surco["best_objective"])
    assert result["proposer"]["asked"] == 1  # no snap round: the costs already pin the best design


@pytest.mark.slow
def test_the_loop_leaves_the_final_solve_its_share_of_a_short_job_time_limit() -> None:
    job = spec("surco-zero", max_simulations=200)
    job["limits"]["time_limit_s"] = 12
    result = run_job(job).result
    assert result["status"] == "succeeded"
    surco = result["proposer"]["surco"]
    # The loop's budget comes from the job's deadline (12 s less max(5 s, 15 %)), not from
    # the 300 s default, so it stopped long before its 200 simulations.
    assert 0 < surco["loop_budget_s"] <= 12 - 5
    assert surco["simulations"] < 200
    assert brush_ok(problem(), result["design"])


@pytest.mark.parametrize(
    ("proposer", "options", "pointer"),
    [
        ("surco-zero", {"max_simulations": 0}, "/proposer/options/max_simulations"),
        ("surco-zero", {"method": "guess"}, "/proposer/options/method"),
        ("surco-hybrid", {"decay": 2}, "/proposer/options/decay"),
    ],
)
def test_bad_options_are_refused_with_pointers(proposer: str, options: dict[str, Any], pointer: str) -> None:
    with pytest.raises(SpecError) as info:
        resolve_spec(spec(proposer, **options))
    assert info.value.errors[0].pointer == pointer, info.value.errors


def test_a_solver_per_step_estimator_is_refused_for_a_pixel_kind() -> None:
    result = run_job(spec("surco-zero", method="perturbed")).result
    assert result["status"] == "failed"
    assert "straight_through or blackbox" in result["error"]["message"]


# --- the pixel prior ----------------------------------------------------------------------


def test_untrained_pixel_prior_proposes_the_straight_path() -> None:
    interface = problem().surrogate_interface()
    assert interface.fast_argmin is not None
    prior = photonics_prior.PixelPrior(
        photonics_prior.PixelPriorConfig(tuple(interface.image_names), tuple(interface.context_names))
    )
    with torch.no_grad():
        c = prior(*photonics_prior.pixel_inputs(interface, torch.device("cpu"))).double().numpy()
    np.testing.assert_array_equal(interface.fast_argmin(c)[0], interface.fast_argmin(interface.initial_costs)[0])


def test_pixel_checkpoint_round_trip_and_format_check(tmp_path: Path) -> None:
    interface = problem().surrogate_interface()
    prior = photonics_prior.PixelPrior(
        photonics_prior.PixelPriorConfig(tuple(interface.image_names), tuple(interface.context_names), hidden=4)
    )
    path = tmp_path / "p.pt"
    path.write_bytes(photonics_prior.dump(prior, {"instances": ["a"]}))
    loaded, meta, sha = photonics_prior.load(path, torch.device("cpu"))
    for name, value in prior.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value)
    assert meta == {"instances": ["a"]}
    assert len(sha) == 64
    assert photonics_prior.is_pixel_checkpoint(path)
    other = tmp_path / "other.pt"
    torch.save({"format": "something-else"}, other)
    with pytest.raises(ValueError, match="not a pixel SurCo-prior checkpoint"):
        photonics_prior.load(other, torch.device("cpu"))


@pytest.mark.slow
def test_shipped_checkpoint_one_shot_is_brush_feasible() -> None:
    assert photonics_prior.SHIPPED.exists()
    result = run_job(spec("surco-prior", device="cpu")).result
    assert result["status"] == "succeeded"
    assert brush_ok(problem(), result["design"])
    surco = result["proposer"]["surco"]
    assert surco["simulations"] == 1
    assert len(surco["checkpoint_sha256"]) == 64


@pytest.mark.slow
def test_hybrid_starts_from_the_prior_and_returns_a_feasible_design() -> None:
    result = run_job(spec("surco-hybrid", device="cpu", max_simulations=4)).result
    assert result["status"] == "succeeded"
    assert brush_ok(problem(), result["design"])
    assert result["proposer"]["surco"]["simulations"] <= 4


@pytest.mark.slow
def test_trainer_runs_and_reports_one_shot_success_rates() -> None:
    problems = [PhotonicsProblem(PhotonicsProblem.generate(seed=s, device=0, design_px=16)) for s in (1, 2)]
    events: list[Any] = []
    output = SurCoPriorPhotonicsTrainer().train(
        problems,
        options={"epochs": 3, "zero_simulations": 3, "hidden": 4, "device": "cpu", "validation_fraction": 0.5},
        seed=0,
        time_limit_s=600,
        on_event=events.append,
        cancel_token=CancelToken(),
    )
    metrics = output.metrics
    assert metrics["epochs"] == 3
    assert len(metrics["targets"]) == 1
    assert len(metrics["validation_instances"]) == 1
    assert {"before_validation_success_rate", "after_training_mean_spec_loss"} <= set(metrics)
    assert output.checkpoint.data[:2] == b"PK"  # a torch zip archive
