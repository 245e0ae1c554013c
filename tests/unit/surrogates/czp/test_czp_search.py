"""The ``czp-search`` proposer: options errors with pointers, a short seeded search from the
shipped checkpoint meeting an easy single-band target with few NEC calls, the pipeline's
answer staying feasible and recording the checkpoint, checkpoints of another family refused,
the no-checkpoint mode, and the state round trip."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from designsvc.core.errors import SpecError
from designsvc.core.plugins import PROPOSERS
from designsvc.services.pipeline import run_job
from designsvc.services.validation import resolve_spec
from problems.antenna import AntennaProblem
from surrogates.czp import checkpoint as czp_checkpoint
from surrogates.czp.proposer import CHECKPOINT_DIR, CZPSearchProposer, shipped_checkpoint
from surrogates.czp.search import SearchConfig, czp_search

torch.set_num_threads(1)

EASY: dict[str, Any] = {
    "name": "easy-2g4",
    "family": "three-branch-monopole",
    "sweep": {"start_mhz": 1500, "stop_mhz": 3500, "points": 41},
    "target": {"bands": [{"start_mhz": 2400, "stop_mhz": 2500, "max_s11_db": -10}]},
}
MEANDER: dict[str, Any] = {
    "family": "meander-monopole",
    "sweep": {"start_mhz": 400, "stop_mhz": 2800, "points": 25},
    "target": {"bands": [{"start_mhz": 900, "stop_mhz": 1000, "max_s11_db": -10}]},
}


def _problem(data: dict[str, Any]) -> AntennaProblem:
    return AntennaProblem(AntennaProblem.parse_instance(data))


def _spec(**options: Any) -> dict[str, Any]:
    return {
        "problem": "antenna@1",
        "instance": EASY,
        "proposer": {"name": "czp-search", "options": options},
        "limits": {"time_limit_s": 60, "seed": 0},
        "render": False,
    }


def test_registered_for_antenna_only() -> None:
    assert PROPOSERS.load("czp-search") is CZPSearchProposer
    assert CZPSearchProposer.problems == frozenset({"antenna@1"})
    assert CZPSearchProposer.queue == "gpu"


@pytest.mark.parametrize(
    ("options", "pointer", "message"),
    [
        ({"max_simulations": -1}, "/proposer/options/max_simulations", "greater than or equal to 0"),
        ({"margin_db": "a lot"}, "/proposer/options/margin_db", "number"),
        ({"checkpoint": "/no/such/file.pt"}, "/proposer/options/checkpoint", "no checkpoint file"),
        ({"device": "tpu"}, "/proposer/options/device", "auto, cpu or cuda"),
        ({"budget": 3}, "/proposer/options/budget", "Extra inputs"),
    ],
)
def test_option_errors_point_into_the_spec(options: dict[str, Any], pointer: str, message: str) -> None:
    with pytest.raises(SpecError) as info:
        resolve_spec(_spec(**options))
    errors = {e.pointer: e.message for e in info.value.errors}
    assert pointer in errors, errors
    assert message in errors[pointer]


def test_shipped_checkpoints_load_and_describe_their_family() -> None:
    path = shipped_checkpoint("three-branch-monopole")
    assert path.is_file()
    assert path.stat().st_size < 400_000
    assert (CHECKPOINT_DIR / "README.md").is_file()
    model, meta, digest = czp_checkpoint.load(path)
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert meta["family"] == "three-branch-monopole"
    assert meta["param_names"] == list(_problem(EASY).parametric_interface().param_names)
    assert meta["training"]["rmse_db"] is not None
    assert model.config.n_params == 10


@pytest.mark.slow
def test_a_short_seeded_search_meets_an_easy_target_from_the_shipped_checkpoint() -> None:
    problem = _problem(EASY)
    interface = problem.parametric_interface()
    model, meta, _ = czp_checkpoint.load(shipped_checkpoint(interface.family))
    outcome = czp_search(
        interface,
        model,
        model_lower=np.array(meta["lower"]),
        model_upper=np.array(meta["upper"]),
        config=SearchConfig(max_simulations=12, seed=0),
    )
    assert outcome.met
    assert outcome.calls_to_success is not None
    assert outcome.calls_to_success <= 12
    assert outcome.params is not None
    assert interface.contains(outcome.params)[0]
    evaluation = problem.evaluate(interface.design(outcome.params))
    assert evaluation.feasible
    assert evaluation.objective == 0.0
    assert evaluation.breakdown["target_met"] == 1.0
    # Seeded: the same search again does the same.
    again_model, _, _ = czp_checkpoint.load(shipped_checkpoint(interface.family))
    again = czp_search(
        interface,
        again_model,
        model_lower=np.array(meta["lower"]),
        model_upper=np.array(meta["upper"]),
        config=SearchConfig(max_simulations=12, seed=0),
    )
    assert again.calls_to_success == outcome.calls_to_success
    assert np.allclose(again.params, outcome.params)  # type: ignore[arg-type]


@pytest.mark.slow
def test_through_the_pipeline_the_answer_is_feasible_and_records_the_checkpoint() -> None:
    result = run_job(_spec(max_simulations=12)).result
    assert result["status"] == "succeeded", result.get("error")
    assert result["evaluation"]["feasible"]
    assert result["evaluation"]["breakdown"]["target_met"] == 1.0
    stats = result["proposer"]
    assert stats["met"]
    assert 1 <= stats["nec_calls"] <= 12
    assert stats["calls_to_success"] == stats["nec_calls"]
    digest = hashlib.sha256(shipped_checkpoint("three-branch-monopole").read_bytes()).hexdigest()
    assert stats["checkpoint_sha256"] == digest
    assert result["provenance"]["checkpoint_sha256"] == digest
    assert stats["surrogate_rmse_db"] is not None


def test_a_checkpoint_of_another_family_is_refused() -> None:
    problem = _problem(MEANDER)
    path = str(shipped_checkpoint("three-branch-monopole"))
    proposer = CZPSearchProposer(problem, options={"checkpoint": path, "max_simulations": 1})
    with pytest.raises(ValueError, match=r"option 'checkpoint': .* of 'three-branch-monopole', not of 'meander"):
        proposer.ask()


@pytest.mark.slow
def test_without_a_checkpoint_it_samples_first_and_stays_feasible() -> None:
    problem = _problem(EASY)
    proposer = CZPSearchProposer(
        problem,
        seed=1,
        options={"checkpoint": "none", "initial_simulations": 3, "max_simulations": 4, "pool": 64, "steps": 5},
    )
    proposal = proposer.ask()
    assert proposal is not None
    assert proposal.warm_start is not None
    stats = proposer.stats()
    assert stats["nec_calls"] == 4
    assert stats["checkpoint_sha256"] is None
    params = problem.parametric_interface().params_of(proposal.warm_start)
    assert problem.parametric_interface().contains(params)[0]
    assert proposal.fixed == {"target": proposal.warm_start["params"]}
    assert proposer.ask() is None


def test_no_budget_proposes_the_default_solve_and_state_round_trips() -> None:
    problem = _problem(EASY)
    proposer = CZPSearchProposer(problem, options={"max_simulations": 0})
    proposal = proposer.ask()
    assert proposal is not None
    assert proposal.fixed is None
    assert proposal.warm_start is None
    state = json.loads(json.dumps(proposer.get_state()))
    again = CZPSearchProposer.from_state(problem, state)
    assert again.get_state() == state
    assert again.ask() is None
    assert again.fingerprint() == proposer.fingerprint()
    assert proposer.stats()["nec_calls"] == 0


def test_options_are_checked_at_construction() -> None:
    with pytest.raises(ValueError, match="option 'batch'"):
        CZPSearchProposer(_problem(EASY), options={"batch": 0})
    assert Path(CHECKPOINT_DIR).is_dir()
