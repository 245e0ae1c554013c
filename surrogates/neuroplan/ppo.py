"""PPO with invalid-action masking for graph environments of different sizes.

Maintained implementations were considered: Stable-Baselines3's ``MaskablePPO`` (sb3-contrib)
needs one fixed observation space for all environments of a vector env, and its policies
take flat tensors, so it cannot train one GNN on topologies of different sizes at once;
CleanRL is scripts, not a library. This is PPO as in Schulman et al. 2017 (clipped
surrogate, GAE(lambda), value loss, entropy bonus, gradient clipping, advantage
normalization) with masked softmax (Huang & Ontañón 2022, "A Closer Look at Invalid Action
Masking in Policy Gradient Algorithms"), in a hundred lines.

Rollouts step every environment in lockstep and evaluate the policy on all their graphs
as one batch. An episode that ends (terminated or truncated) resets its environment; the
environments' penalties make truncation a terminal state, so no bootstrapping across it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from surrogates.neuroplan.policy import GraphBatch, PlanningPolicy

__all__ = ["EpisodeResult", "IterationStats", "PPOConfig", "run_episode", "train_ppo"]


@dataclass(frozen=True)
class PPOConfig:
    """PPO hyper-parameters (defaults work for the planning environments)."""

    steps_per_iteration: int = 256
    epochs: int = 4
    minibatch: int = 64
    learning_rate: float = 1e-3
    gamma: float = 1.0
    gae_lambda: float = 0.95
    clip: float = 0.2
    entropy_coef: float = 0.003
    value_coef: float = 0.5
    max_grad_norm: float = 0.5

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class EpisodeResult:
    """One finished episode: its return, whether its plan routes everything, the added cost
    (currency), its steps and the plan (units by link position)."""

    env: int
    episode_return: float
    feasible: bool
    cost: float
    steps: int
    units: list[int]


@dataclass
class IterationStats:
    """One PPO iteration: the episodes that ended in its rollout and the losses."""

    iteration: int
    steps: int
    episodes: list[EpisodeResult] = field(default_factory=list)
    policy_loss: float = 0.0
    value_loss: float = 0.0
    entropy: float = 0.0
    seconds: float = 0.0

    @property
    def mean_return(self) -> float | None:
        return float(np.mean([e.episode_return for e in self.episodes])) if self.episodes else None

    @property
    def feasible_rate(self) -> float | None:
        return float(np.mean([e.feasible for e in self.episodes])) if self.episodes else None


def _masks(env: Any) -> np.ndarray[Any, np.dtype[np.int8]]:
    return np.asarray(env.action_masks(), dtype=np.int8)


def run_episode(
    env: Any, policy: PlanningPolicy, *, greedy: bool, generator: torch.Generator | None = None
) -> EpisodeResult:
    """Play one episode with ``policy`` (argmax actions when ``greedy``, else sampled)."""
    device = next(policy.parameters()).device
    obs, info = env.reset()
    total = 0.0
    steps = 0
    while True:
        with torch.no_grad():
            log_probs, _ = policy(GraphBatch.from_observations([obs], device))
        if greedy:
            action = int(torch.argmax(log_probs).item())
        else:
            action = int(torch.multinomial(log_probs.exp().cpu(), 1, generator=generator).item())
        obs, reward, terminated, truncated, info = env.step(action)
        total += float(reward)
        steps += 1
        if terminated or truncated:
            return EpisodeResult(0, total, bool(info["feasible"]), float(info["cost"]), steps, list(info["units"]))


def train_ppo(
    envs: Sequence[Any],
    policy: PlanningPolicy,
    config: PPOConfig,
    *,
    iterations: int,
    seed: int,
    on_iteration: Callable[[IterationStats], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[IterationStats]:
    """Train ``policy`` on ``envs`` (stepped in lockstep) for ``iterations`` PPO iterations,
    or until ``should_stop()``; return every iteration's stats."""
    device = next(policy.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(policy.parameters(), lr=config.learning_rate, eps=1e-5)
    observations = [env.reset(seed=seed + i)[0] for i, env in enumerate(envs)]
    returns = [0.0] * len(envs)
    lengths = [0] * len(envs)
    history: list[IterationStats] = []
    for iteration in range(iterations):
        if should_stop is not None and should_stop():
            break
        t0 = time.perf_counter()
        stats = IterationStats(iteration, 0)
        # Per environment: observations, actions, log-probs, values, rewards, dones.
        traj: list[dict[str, list[Any]]] = [
            {"obs": [], "act": [], "logp": [], "val": [], "rew": [], "done": []} for _ in envs
        ]
        rounds = max(1, math.ceil(config.steps_per_iteration / len(envs)))
        for _ in range(rounds):
            with torch.no_grad():
                batch = GraphBatch.from_observations(observations, device)
                log_probs, values = policy(batch)
            probs = log_probs.exp().cpu()
            for g, env in enumerate(envs):
                lo = batch.action_offsets[g]
                hi = lo + observations[g]["action_mask"].shape[0]
                action = int(torch.multinomial(probs[lo:hi], 1, generator=generator).item())
                step = env.step(action)
                obs, reward, terminated, truncated, info = step
                record = traj[g]
                record["obs"].append(observations[g])
                record["act"].append(action)
                record["logp"].append(float(log_probs[lo + action].item()))
                record["val"].append(float(values[g].item()))
                record["rew"].append(float(reward))
                done = bool(terminated or truncated)
                record["done"].append(done)
                returns[g] += float(reward)
                lengths[g] += 1
                stats.steps += 1
                if done:
                    stats.episodes.append(
                        EpisodeResult(
                            g, returns[g], bool(info["feasible"]), float(info["cost"]), lengths[g], list(info["units"])
                        )
                    )
                    returns[g], lengths[g] = 0.0, 0
                    obs, _ = env.reset()
                observations[g] = obs
        with torch.no_grad():
            _, last_values = policy(GraphBatch.from_observations(observations, device))
        samples = _advantages(traj, last_values.cpu().numpy(), config)
        _update(policy, optimizer, samples, config, generator, stats, device)
        stats.seconds = time.perf_counter() - t0
        history.append(stats)
        if on_iteration is not None:
            on_iteration(stats)
    return history


def _advantages(
    traj: list[dict[str, list[Any]]], last_values: np.ndarray[Any, Any], config: PPOConfig
) -> list[tuple[dict[str, Any], int, float, float, float]]:
    """(obs, action, old log-prob, advantage, return) for every step, GAE per environment."""
    samples = []
    for g, record in enumerate(traj):
        n = len(record["rew"])
        advantage = 0.0
        out: list[tuple[dict[str, Any], int, float, float, float]] = []
        for t in reversed(range(n)):
            if record["done"][t]:
                next_value, advantage = 0.0, 0.0
            else:
                next_value = float(last_values[g]) if t == n - 1 else record["val"][t + 1]
            delta = record["rew"][t] + config.gamma * next_value - record["val"][t]
            advantage = delta + config.gamma * config.gae_lambda * advantage
            out.append((record["obs"][t], record["act"][t], record["logp"][t], advantage, advantage + record["val"][t]))
        samples.extend(reversed(out))
    return samples


def _update(  # noqa: PLR0917 (a private helper of train_ppo)
    policy: PlanningPolicy,
    optimizer: torch.optim.Optimizer,
    samples: list[tuple[dict[str, Any], int, float, float, float]],
    config: PPOConfig,
    generator: torch.Generator,
    stats: IterationStats,
    device: torch.device,
) -> None:
    advantages = torch.tensor([s[3] for s in samples], dtype=torch.float32)
    advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8) if len(samples) > 1 else advantages
    losses: list[tuple[float, float, float]] = []
    for _ in range(config.epochs):
        order = torch.randperm(len(samples), generator=generator).tolist()
        for start in range(0, len(order), config.minibatch):
            idx = order[start : start + config.minibatch]
            batch = GraphBatch.from_observations([samples[i][0] for i in idx], device)
            log_probs, values = policy(batch)
            offsets = torch.tensor([batch.action_offsets[j] + samples[i][1] for j, i in enumerate(idx)], device=device)
            new_logp = log_probs[offsets]
            old_logp = torch.tensor([samples[i][2] for i in idx], device=device)
            adv = advantages[idx].to(device)
            ret = torch.tensor([samples[i][4] for i in idx], dtype=torch.float32, device=device)
            ratio = (new_logp - old_logp).exp()
            policy_loss = -torch.min(ratio * adv, ratio.clamp(1 - config.clip, 1 + config.clip) * adv).mean()
            value_loss = 0.5 * (values - ret).pow(2).mean()
            p = log_probs.exp()
            plogp = torch.where(batch.mask, p * log_probs, torch.zeros_like(p))
            ent = torch.zeros(batch.num_graphs, device=device).index_add_(0, batch.action_graph, -plogp).mean()
            loss = policy_loss + config.value_coef * value_loss - config.entropy_coef * ent
            optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(policy.parameters(), config.max_grad_norm)
            optimizer.step()
            losses.append((float(policy_loss.item()), float(value_loss.item()), float(ent.item())))
    if losses:
        stats.policy_loss, stats.value_loss, stats.entropy = (float(v) for v in np.mean(losses, axis=0))
