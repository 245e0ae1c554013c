"""The ``neuroplan`` GNN, PPO, checkpoints, trainer and proposer."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from designsvc.core.errors import SpecError
from designsvc.services.jobs import queue_for
from designsvc.services.pipeline import run_any, run_job
from designsvc.services.validation import resolve_any, resolve_spec
from problems.network_planning.env import AMOUNTS, LINK_FEATURES, NODE_FEATURES, PlanningEnv
from problems.network_planning.generate import BUILTIN_INSTANCES, generate
from problems.network_planning.verify import verify
from surrogates.neuroplan import checkpoint
from surrogates.neuroplan.policy import GraphBatch, PlanningPolicy, PolicyConfig, masked_log_softmax
from surrogates.neuroplan.ppo import PPOConfig, run_episode, train_ppo

CONFIG = PolicyConfig(NODE_FEATURES, LINK_FEATURES, len(AMOUNTS), hidden=32, layers=2)


def policy(seed: int = 0) -> PlanningPolicy:
    torch.manual_seed(seed)
    return PlanningPolicy(CONFIG)


def test_masked_log_softmax_normalizes_each_group_over_allowed_entries() -> None:
    logits = torch.tensor([1.0, 2.0, 3.0, 0.5, -1.0])
    mask = torch.tensor([True, False, True, True, True])
    group = torch.tensor([0, 0, 0, 1, 1])
    out = masked_log_softmax(logits, mask, group, 2)
    probs = out.exp()
    assert probs[1].item() == pytest.approx(0.0, abs=1e-12)
    assert probs[:3].sum().item() == pytest.approx(1.0)
    assert probs[3:].sum().item() == pytest.approx(1.0)
    assert (probs[0] / probs[2]).item() == pytest.approx(float(np.exp(-2.0)))


def test_one_policy_runs_on_graphs_of_any_size_in_one_batch() -> None:
    net = policy()
    envs = [PlanningEnv(generate(1, nodes=n)) for n in (5, 9, 14)]
    observations = [env.reset()[0] for env in envs]
    batch = GraphBatch.from_observations(observations, torch.device("cpu"))
    log_probs, values = net(batch)
    assert values.shape == (3,)
    for g, obs in enumerate(observations):
        lo = batch.action_offsets[g]
        part = log_probs[lo : lo + obs["action_mask"].shape[0]]
        assert part.exp().sum().item() == pytest.approx(1.0, abs=1e-5)
        assert (part.exp()[obs["action_mask"] == 0] < 1e-6).all()
        alone, value = net(GraphBatch.from_observations([obs], torch.device("cpu")))
        assert torch.allclose(alone, part, atol=1e-5)
        assert value.item() == pytest.approx(values[g].item(), abs=1e-5)


def test_policy_is_equivariant_to_relabeling_routers() -> None:
    net = policy()
    obs, _ = PlanningEnv(generate(2, nodes=8)).reset()
    perm = np.random.default_rng(0).permutation(obs["nodes"].shape[0])
    inverse = np.argsort(perm)
    moved = {**obs, "nodes": obs["nodes"][perm], "edges": inverse[obs["edges"]]}
    a, va = net(GraphBatch.from_observations([obs], torch.device("cpu")))
    b, vb = net(GraphBatch.from_observations([moved], torch.device("cpu")))
    assert torch.allclose(a, b, atol=1e-5)
    assert va.item() == pytest.approx(vb.item(), abs=1e-5)


def _mean_sampled_return(env: PlanningEnv, net: PlanningPolicy, episodes: int) -> float:
    generator = torch.Generator().manual_seed(123)
    return float(
        np.mean([run_episode(env, net, greedy=False, generator=generator).episode_return for _ in range(episodes)])
    )


def test_short_seeded_training_raises_the_mean_return() -> None:
    env = PlanningEnv(generate(21, nodes=9, extra_links=3))
    net = policy(seed=1)
    before = _mean_sampled_return(env, net, 24)
    history = train_ppo([env], net, PPOConfig(steps_per_iteration=128), iterations=15, seed=0)
    assert len(history) == 15
    assert all(s.steps == 128 for s in history)
    after = _mean_sampled_return(env, net, 24)
    assert after > before + 0.05, (before, after)


def test_checkpoint_round_trip_and_fingerprint(tmp_path: Path) -> None:
    net = policy(seed=3)
    data = checkpoint.dump(net, {"note": "test"})
    path = tmp_path / "p.pt"
    path.write_bytes(data)
    loaded, meta, fingerprint = checkpoint.load(path, torch.device("cpu"))
    assert meta == {"note": "test"}
    assert fingerprint == hashlib.sha256(data).hexdigest()
    obs, _ = PlanningEnv(generate(1, nodes=6)).reset()
    batch = GraphBatch.from_observations([obs], torch.device("cpu"))
    net.eval()
    assert torch.allclose(net(batch)[0], loaded(batch)[0])


def test_bad_checkpoints_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read the checkpoint"):
        checkpoint.load(tmp_path / "missing.pt", torch.device("cpu"))
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"junk\.pt is not a torch checkpoint"):
        checkpoint.load(junk, torch.device("cpu"))
    other = tmp_path / "other.pt"
    torch.save({"format": "something else"}, other)
    with pytest.raises(ValueError, match="not a NeuroPlan checkpoint"):
        checkpoint.load(other, torch.device("cpu"))


# --- the training job ----------------------------------------------------------------------


def train_spec(**options: Any) -> dict[str, Any]:
    return {
        "train": {"name": "neuroplan", "options": {"iterations": 2, "steps_per_iteration": 32, **options}},
        "problem": "network-planning@1",
        "instances": ["builtin:ring-5", "generate:seed=4,nodes=7"],
        "limits": {"time_limit_s": 120, "seed": 1},
    }


def test_a_training_job_returns_a_checkpoint_artifact_with_its_fingerprint(tmp_path: Path) -> None:
    events: list[dict[str, Any]] = []
    job = resolve_any(train_spec())
    assert queue_for(job) == "gpu"
    output = run_any(job, on_event=events.append)
    result = output.result
    assert result["status"] == "succeeded", result["error"]
    assert result["kind"] == "training"
    names = {a.name: a for a in output.artifacts}
    ckpt = names[result["checkpoint"]["artifact"]]
    assert hashlib.sha256(ckpt.data).hexdigest() == result["checkpoint"]["sha256"]
    assert result["provenance"]["checkpoint_sha256"] == result["checkpoint"]["sha256"]
    assert names["neuroplan-training.png"].data.startswith(b"\x89PNG")
    metrics = result["metrics"]
    assert metrics["iterations"] == 2
    assert [row["iteration"] for row in metrics["curve"]] == [1, 2]
    assert len(metrics["before"]) == len(metrics["after"]) == 2
    progress = [e for e in events if e["type"] == "progress"]
    assert [e["iteration"] for e in progress] == [1, 2]
    assert all("mean_return" in e and "feasible_rate" in e for e in progress)
    json.dumps(result)  # the result document is JSON

    # Fine-tuning from that checkpoint, and using it in a solve job.
    path = tmp_path / "ckpt.pt"
    path.write_bytes(ckpt.data)
    tuned = run_any(resolve_any(train_spec(init_checkpoint=str(path), iterations=1))).result
    assert tuned["status"] == "succeeded"
    assert tuned["metrics"]["parent_checkpoint_sha256"] == result["checkpoint"]["sha256"]
    solved = run_job(
        {
            "problem": "network-planning@1",
            "instance_ref": "builtin:mesh-8",
            "proposer": {"name": "neuroplan", "options": {"checkpoint": str(path), "samples": 1}},
            "limits": {"time_limit_s": 60},
            "render": False,
        }
    ).result
    assert solved["status"] == "succeeded"
    assert solved["evaluation"]["feasible"]
    assert solved["provenance"]["checkpoint_sha256"] == result["checkpoint"]["sha256"]
    assert solved["proposer"]["neuroplan"]["checkpoint_sha256"] == result["checkpoint"]["sha256"]


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        ({"train": {"name": "nope"}}, "/train/name"),
        ({"train": {"name": "neuroplan", "options": {"iterations": 0}}}, "/train/options/iterations"),
        ({"train": {"name": "neuroplan", "options": {"colour": 1}}}, "/train/options/colour"),
        ({"problem": "assignment@1"}, "/problem"),
        ({"instances": ["builtin:ring-5", "builtin:nope"]}, "/instances/1"),
        ({"instances": ["builtin:ring-5", {"routers": []}]}, "/instances/1/capacity_unit_gbps"),
        ({"instances": []}, "/instances"),
    ],
)
def test_bad_training_specs_point_at_the_field(change: dict[str, Any], pointer: str) -> None:
    with pytest.raises(SpecError) as info:
        resolve_any({**train_spec(), **change})
    assert pointer in [e.pointer for e in info.value.errors], info.value.errors


def test_neuroplan_refuses_other_problem_kinds() -> None:
    with pytest.raises(SpecError) as info:
        resolve_spec({"problem": "assignment@1", "instance_ref": "builtin:gap-10x3", "proposer": {"name": "neuroplan"}})
    assert info.value.errors[0].pointer == "/proposer/name"
    assert "network-planning@1" in info.value.errors[0].message


def test_bad_proposer_options_point_at_the_option() -> None:
    spec = {
        "problem": "network-planning@1",
        "instance_ref": "builtin:mesh-8",
        "proposer": {"name": "neuroplan", "options": {"alpha": 0.5}},
    }
    with pytest.raises(SpecError) as info:
        resolve_spec(spec)
    assert info.value.errors[0].pointer == "/proposer/options/alpha"
    job = resolve_spec({**spec, "proposer": {"name": "neuroplan"}})
    assert queue_for(job) == "gpu"


def test_a_missing_checkpoint_fails_the_job_with_a_clear_error(tmp_path: Path) -> None:
    result = run_job(
        {
            "problem": "network-planning@1",
            "instance_ref": "builtin:ring-5",
            "proposer": {"name": "neuroplan", "options": {"checkpoint": str(tmp_path / "none.pt")}},
        }
    ).result
    assert result["status"] == "failed"
    assert "none.pt" in result["error"]["message"]
    assert "checkpoint" in result["error"]["message"]


def test_the_shipped_checkpoint_solves_the_example_within_alpha_bounds() -> None:
    result = run_job(
        {
            "problem": "network-planning@1",
            "instance_ref": "builtin:mesh-12",
            "proposer": {"name": "neuroplan"},
            "limits": {"time_limit_s": 60},
            "render": False,
        }
    ).result
    assert result["status"] == "succeeded", result["error"]
    stats = result["proposer"]["neuroplan"]
    assert stats["checkpoint_sha256"] == hashlib.sha256(checkpoint.SHIPPED.read_bytes()).hexdigest()
    assert stats["policy_cost"] is not None
    units = result["design"]["units"]
    instance = BUILTIN_INSTANCES["mesh-12"]()
    assert verify(instance, units).feasible
    # The solver's plan is at least as cheap as the policy's plan it was warm-started with.
    added = sum((units[x.name] - x.existing_units) * x.cost_per_unit for x in instance.ip_links)
    assert added <= stats["policy_cost"] + 1e-6


def test_validating_neuroplan_specs_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from designsvc.services.validation import resolve_any\n"
        "resolve_any({'problem': 'network-planning@1', 'instance_ref': 'builtin:ring-5',"
        " 'proposer': {'name': 'neuroplan'}})\n"
        "resolve_any({'train': {'name': 'neuroplan'}, 'problem': 'network-planning@1',"
        " 'instances': ['builtin:ring-5']})\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_when_the_solver_finds_nothing_in_time_the_policy_plan_stands_if_feasible() -> None:
    result = run_job(
        {
            "problem": "network-planning@1",
            "instance_ref": "generate:seed=3,nodes=20",
            "proposer": {"name": "neuroplan", "options": {"samples": 0}},
            "limits": {"time_limit_s": 0.001},  # spent by the policy: the ILP gets no time
            "render": False,
        }
    ).result
    assert result["status"] == "succeeded"
    assert result["outcome"] == {"termination": "time_limit", "solution_status": "feasible"}
    assert result["design_source"] == "proposal"
    assert result["evaluation"]["feasible"]
    assert result["objective"] == result["evaluation"]["objective"]
    assert result["objective"] == pytest.approx(result["proposer"]["neuroplan"]["policy_cost"])
