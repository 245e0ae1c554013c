"""The ``neuroplan`` proposer: NeuroPlan's two stages (Zhu et al., SIGCOMM 2021).

1. The GNN policy of a checkpoint plays the problem's planning environment
   (:meth:`Problem.environment`): a greedy episode, plus ``samples`` sampled ones; the
   cheapest plan that routes every scenario wins.
2. The solver finalizes the ILP with every link restricted to
   ``[lower bound, min(max_units, ceil(alpha x policy units))]`` (``alpha`` >= 1, default
   1.5), warm-started from the policy's plan, which lies inside the restriction. The
   restricted ILP keeps the full constraints, so its answer is feasible for the instance;
   ``alpha`` trades the pruning (speed) against the room left to improve on the policy.

If no episode routes everything, the proposal is the unrestricted ILP (label says so).
One round. Options: ``checkpoint`` (a file path, or ``"shipped"``, the default: the checkpoint
shipped in ``surrogates/neuroplan/checkpoints``), ``alpha``, ``samples`` (sampled episodes
after the greedy one, default 2; none is started once ``max_policy_s`` seconds, default 60,
have gone into the policy stage), ``device`` (``auto`` | ``cpu`` | ``cuda``). The
checkpoint's SHA-256 goes into the result's ``proposer`` stats and
``provenance.checkpoint_sha256``. Torch is imported only in
:meth:`_ask` (the API process loads this class to validate specs).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from designsvc.core.options import parse_options
from designsvc.core.proposer import Feedback, Proposal, Proposer
from designsvc.core.types import JsonDict

__all__ = ["NeuroPlanProposer", "ProposerOptions"]


class ProposerOptions(BaseModel):
    """See the module docstring."""

    model_config = ConfigDict(extra="forbid")

    checkpoint: str = Field(default="shipped", min_length=1)
    alpha: float = Field(default=1.5, ge=1.0, le=100.0)
    samples: int = Field(default=2, ge=0, le=256)
    max_policy_s: float = Field(default=60.0, gt=0, le=7 * 24 * 3600)
    device: Literal["auto", "cpu", "cuda"] = "auto"


class NeuroPlanProposer(Proposer):
    """See the module docstring."""

    name: ClassVar[str] = "neuroplan"
    title: ClassVar[str] = "NeuroPlan: GNN policy prunes the ILP to [min, ceil(alpha x RL units)]"
    problems: ClassVar[frozenset[str] | None] = frozenset({"network-planning@1"})
    queue: ClassVar[str] = "gpu"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.summary: JsonDict | None = None
        self._fingerprint: str | None = None

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> None:
        parse_options(ProposerOptions, options)

    def fingerprint(self) -> str | None:
        return self._fingerprint

    def _ask(self) -> Proposal | None:
        if self.asked:
            return None
        import torch

        from surrogates.neuroplan import checkpoint
        from surrogates.neuroplan.ppo import run_episode
        from surrogates.neuroplan.trainer import env_config, select_device

        opts = ProposerOptions.model_validate(self.options)
        t = time.perf_counter()
        device = select_device(opts.device)
        path = checkpoint.resolve_path(opts.checkpoint)
        try:
            policy, meta, self._fingerprint = checkpoint.load(path, device)
        except ValueError as exc:
            raise ValueError(f"option 'checkpoint': {exc}") from exc
        env = self.problem.environment()
        if env_config(env, policy.config.hidden, policy.config.layers) != policy.config:
            raise ValueError(f"option 'checkpoint': {path} was trained for other environment features")
        generator = torch.Generator().manual_seed(self.seed)
        episodes = [run_episode(env, policy, greedy=True)]
        for _ in range(opts.samples):
            if time.perf_counter() - t > opts.max_policy_s:
                break
            episodes.append(run_episode(env, policy, greedy=False, generator=generator))
        feasible = [e for e in episodes if e.feasible]
        best = min(feasible, key=lambda e: e.cost) if feasible else None
        self.summary = {
            "checkpoint": str(path),
            "checkpoint_sha256": self._fingerprint,
            "checkpoint_instances": meta.get("instances"),
            "device": str(device),
            "alpha": opts.alpha,
            "episodes": [{"cost": e.cost, "feasible": e.feasible, "steps": e.steps} for e in episodes],
            "policy_cost": None if best is None else best.cost,
            "lp_solves": env.oracle.stats.solves if hasattr(env, "oracle") else None,
            "inference_s": time.perf_counter() - t,
        }
        if best is None:
            return Proposal(label="policy found no feasible plan: unrestricted ILP")
        links = self.problem.instance.ip_links
        lower = env.lower.tolist()
        bounds = {
            link.name: [int(lo), int(max(lo, min(link.max_units, math.ceil(opts.alpha * n - 1e-9))))]
            for link, lo, n in zip(links, lower, best.units, strict=True)
        }
        plan = {link.name: int(n) for link, n in zip(links, best.units, strict=True)}
        return Proposal(
            warm_start={"units": plan},
            fixed={"units": bounds},
            label=f"ILP within [min, ceil({opts.alpha:g} x policy units)]",
        )

    def _tell(self, proposal: Proposal, feedback: Feedback) -> None:
        del proposal, feedback

    def stats(self) -> JsonDict:
        return {**super().stats(), "neuroplan": self.summary}

    def _get_state(self) -> JsonDict:
        return {"summary": self.summary, "fingerprint": self._fingerprint}

    def _set_state(self, state: JsonDict) -> None:
        self.summary = state.get("summary")
        self._fingerprint = state.get("fingerprint")
