"""The ``neuroplan`` trainer: masked PPO on the planning environments of the training
instances, one GNN for all of them (see :mod:`surrogates.neuroplan.ppo`).

Options (all optional): ``iterations`` (PPO iterations, default 40), ``steps_per_iteration``
(environment steps per rollout, default 256, spread over the instances), ``hidden`` and
``layers`` (GNN width and message-passing rounds, 64 and 3), ``learning_rate`` (1e-3),
``entropy_coef`` (0.003), ``init_checkpoint`` (fine-tune from a checkpoint file, or
``"shipped"``; the GNN sizes then come from it), ``device`` (``auto``: CUDA when the
worker has it, else the CPU; or ``cpu`` / ``cuda``).

It stops at the iteration count, at the job's time limit (keeping time for the final
evaluation) or on cancel, and returns the checkpoint (``neuroplan.pt``), a PNG of the
learning curve, and metrics: the curve (mean episode return and feasible rate of each
iteration's finished episodes) and the greedy policy's return, cost and feasibility on
every training instance before and after training.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from designsvc.core.cancel import CancelToken
from designsvc.core.options import parse_options as _parse
from designsvc.core.problem import Problem
from designsvc.core.trainer import Trainer, TrainingOutput
from designsvc.core.types import Artifact, JsonDict
from surrogates.devices import select_device as _select_device

__all__ = ["NeuroPlanTrainer", "TrainerOptions"]


class TrainerOptions(BaseModel):
    """See the module docstring."""

    model_config = ConfigDict(extra="forbid")

    iterations: int = Field(default=40, ge=1, le=100_000)
    steps_per_iteration: int = Field(default=256, ge=8, le=1_000_000)
    hidden: int = Field(default=64, ge=4, le=1024)
    layers: int = Field(default=3, ge=1, le=16)
    learning_rate: float = Field(default=1e-3, gt=0, le=1)
    entropy_coef: float = Field(default=0.003, ge=0, le=1)
    init_checkpoint: str | None = None
    device: Literal["auto", "cpu", "cuda"] = "auto"


def parse_options(options: Mapping[str, Any]) -> TrainerOptions:
    """Validate options; ValueError ``option 'name': message`` on the first bad one."""
    return _parse(TrainerOptions, options)


select_device = _select_device
"""``auto`` | ``cpu`` | ``cuda`` -> a torch device (:func:`surrogates.devices.select_device`)."""


class NeuroPlanTrainer(Trainer):
    """Trains the ``neuroplan`` GNN policy (see the module docstring)."""

    name: ClassVar[str] = "neuroplan"
    problem: ClassVar[str] = "network-planning@1"
    title: ClassVar[str] = "masked PPO for the NeuroPlan GNN policy"
    queue: ClassVar[str] = "gpu"

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> None:
        parse_options(options)

    def train(
        self,
        problems: Sequence[Problem[Any]],
        *,
        options: Mapping[str, Any],
        seed: int,
        time_limit_s: float,
        on_event: Callable[[JsonDict], None],
        cancel_token: CancelToken,
    ) -> TrainingOutput:
        import torch

        from surrogates.neuroplan import checkpoint
        from surrogates.neuroplan.policy import PlanningPolicy
        from surrogates.neuroplan.ppo import IterationStats, PPOConfig, train_ppo

        opts = parse_options(options)
        t_start = time.perf_counter()
        device = select_device(opts.device)
        if device.type == "cpu":
            torch.set_num_threads(1)  # a small GNN on small batches: more threads only add overhead
        torch.manual_seed(seed)
        envs = [problem.environment() for problem in problems]
        names = [getattr(p.instance, "name", "") or f"instance-{k}" for k, p in enumerate(problems)]
        if opts.init_checkpoint is not None:
            policy, parent_meta, parent = checkpoint.load(checkpoint.resolve_path(opts.init_checkpoint), device)
            policy.train()
        else:
            policy = PlanningPolicy(env_config(envs[0], opts.hidden, opts.layers)).to(device)
            parent_meta, parent = {}, None
        for k, env in enumerate(envs):
            wanted = env_config(env, policy.config.hidden, policy.config.layers)
            if wanted != policy.config:
                raise ValueError(f"instance {names[k]}: its environment's features do not match the policy's")

        t = time.perf_counter()
        before = evaluate_policy(envs, policy, names)
        eval_s = time.perf_counter() - t
        on_event({"type": "stage", "stage": "evaluated", "when": "before", "seconds": eval_s})
        config = PPOConfig(
            steps_per_iteration=opts.steps_per_iteration,
            learning_rate=opts.learning_rate,
            entropy_coef=opts.entropy_coef,
        )
        deadline = t_start + time_limit_s - 1.5 * eval_s - 1.0
        curve: list[JsonDict] = []
        steps = 0

        def on_iteration(stats: IterationStats) -> None:
            nonlocal steps
            steps += stats.steps
            row = {
                "iteration": stats.iteration + 1,
                "steps": steps,
                "episodes": len(stats.episodes),
                "mean_return": stats.mean_return,
                "feasible_rate": stats.feasible_rate,
                "entropy": stats.entropy,
                "seconds": stats.seconds,
            }
            curve.append(row)
            on_event(
                {"type": "progress", "iterations": opts.iterations, "elapsed_s": time.perf_counter() - t_start, **row}
            )

        policy.train()
        train_ppo(
            envs,
            policy,
            config,
            iterations=opts.iterations,
            seed=seed,
            on_iteration=on_iteration,
            should_stop=lambda: cancel_token.cancelled or time.perf_counter() > deadline,
        )
        policy.eval()
        after = evaluate_policy(envs, policy, names)
        metrics: JsonDict = {
            "iterations": len(curve),
            "steps": steps,
            "device": str(device),
            "instances": names,
            "ppo": config.to_json(),
            "policy": policy.config.to_json(),
            "parent_checkpoint_sha256": parent,
            "curve": curve,
            "before": before,
            "after": after,
            "train_s": time.perf_counter() - t_start,
        }
        meta = {
            "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "seed": seed,
            "torch": str(torch.__version__),
            "instances": names,
            "iterations": len(curve),
            "steps": steps,
            "ppo": config.to_json(),
            "parent_checkpoint_sha256": parent,
            "parent_meta": parent_meta or None,
        }
        data = checkpoint.dump(policy, meta)
        fingerprint = checkpoint.fingerprint(data)
        artifacts = [curve_png(curve)] if curve else []
        return TrainingOutput(
            checkpoint=Artifact("neuroplan.pt", "application/octet-stream", data),
            fingerprint=fingerprint,
            metrics=metrics,
            artifacts=artifacts,
        )


def env_config(env: Any, hidden: int, layers: int) -> Any:
    """The policy sizes a planning environment's observation space implies."""
    from surrogates.neuroplan.policy import PolicyConfig

    space = env.observation_space
    num_links = space["links"].shape[0]
    return PolicyConfig(
        node_features=space["nodes"].shape[1],
        link_features=space["links"].shape[1],
        amounts=space["action_mask"].n // max(num_links, 1),
        hidden=hidden,
        layers=layers,
    )


def evaluate_policy(envs: Sequence[Any], policy: Any, names: Sequence[str]) -> list[JsonDict]:
    """The greedy policy's episode on every environment: return, added cost, feasibility,
    steps."""
    from surrogates.neuroplan.ppo import run_episode

    rows: list[JsonDict] = []
    for name, env in zip(names, envs, strict=True):
        episode = run_episode(env, policy, greedy=True)
        rows.append(
            {
                "instance": name,
                "return": episode.episode_return,
                "cost": episode.cost,
                "feasible": episode.feasible,
                "steps": episode.steps,
            }
        )
    return rows


def curve_png(curve: Sequence[JsonDict]) -> Artifact:
    """A PNG of the mean episode return and feasible rate per iteration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nan = float("nan")
    x = [row["iteration"] for row in curve]
    fig, left = plt.subplots(figsize=(7, 3.5), dpi=110)
    left.plot(
        x,
        [nan if row["mean_return"] is None else row["mean_return"] for row in curve],
        color="tab:blue",
        marker=".",
        label="mean return",
    )
    left.set_xlabel("PPO iteration")
    left.set_ylabel("mean episode return", color="tab:blue")
    right = left.twinx()
    right.plot(
        x,
        [nan if row["feasible_rate"] is None else row["feasible_rate"] for row in curve],
        color="tab:green",
        alpha=0.6,
        label="feasible rate",
    )
    right.set_ylim(-0.05, 1.05)
    right.set_ylabel("feasible rate", color="tab:green")
    left.set_title("neuroplan training")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return Artifact("neuroplan-training.png", "image/png", buffer.getvalue())
