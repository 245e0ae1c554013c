"""GaLore AdamW (Zhao et al., "GaLore: Memory-Efficient LLM Training by Gradient Low-Rank
Projection", ICML 2024): AdamW whose moment estimates live in a rank-``r`` projection of
each 2-D gradient.

Parameter groups take the keys of ``torch.optim.AdamW`` (``lr``, ``betas``, ``eps``,
``weight_decay``) and, for GaLore, ``rank`` (a group without it is plain AdamW) with the
optional ``update_proj_gap`` (``T``, default 200), ``scale`` (``alpha``, default 1.0; the
paper uses 0.25), ``proj_type`` (see :mod:`surrogates.optim.projector`, default ``std``)
and ``svd`` (``full`` or ``lowrank``, default ``full``) -- the group API of galore-torch.
In a GaLore group only 2-D parameters are projected; others get plain AdamW.

One step for a projected parameter ``W`` ``(m, n)`` with gradient ``G``, at step count
``t`` (before the step):

1. if ``t % T == 0``: refresh the basis ``P`` from the SVD of ``G`` (Adam's moments are
   neither reset nor rotated, as in galore-torch: the paper's observation is that they
   adapt within a few steps);
2. ``R = proj(G)`` (``(m, r)`` for a right projection, ``(r, n)`` for a left one);
3. ``W <- W * (1 - lr * weight_decay)`` (decoupled weight decay on the full weight);
4. AdamW moments on ``R``: ``M <- b1 M + (1 - b1) R``, ``V <- b2 V + (1 - b2) R^2``;
   ``N = (M / (1 - b1^t)) / (sqrt(V / (1 - b2^t)) + eps)``;
5. ``W <- W - lr * alpha * proj_back(N)``.

The arithmetic is ``torch.optim.AdamW``'s (weight decay before the update, ``eps`` added
to the bias-corrected root), so a group without ``rank`` follows ``torch.optim.AdamW``
(non-amsgrad, non-maximize). galore-torch uses transformers' older AdamW arithmetic
instead (``eps`` added before bias correction, default ``eps=1e-6``, weight decay after
the update): the two agree exactly for ``eps -> 0`` and ``weight_decay = 0`` and differ
at the order of ``eps`` and of ``lr * weight_decay * update`` otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch

from surrogates.optim.projector import PROJ_TYPES, SVD_METHODS, orthogonal_bases, project, project_back, resolve_side

__all__ = ["GALORE_DEFAULTS", "GaLoreAdamW"]

GALORE_DEFAULTS: dict[str, Any] = {"update_proj_gap": 200, "scale": 1.0, "proj_type": "std", "svd": "full"}
"""The values a GaLore group (one with ``rank``) gets for the keys it leaves out."""


class GaLoreAdamW(torch.optim.Optimizer):
    """AdamW with GaLore projection in the groups that set ``rank`` (see the module
    docstring). ``params``: tensors or group dicts, as for any torch optimizer.

    State per parameter: ``step`` (int), ``exp_avg`` and ``exp_avg_sq`` (the projected
    shape for a projected parameter, else the parameter's), and ``proj_left`` ``(m, r)``
    or ``proj_right`` ``(r, n)`` (the current basis) for a projected one."""

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
    ) -> None:
        if lr < 0.0:
            raise ValueError(f"lr must be >= 0, got {lr}")
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"betas must lie in [0, 1), got {betas}")
        if eps < 0.0:
            raise ValueError(f"eps must be >= 0, got {eps}")
        if weight_decay < 0.0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay}
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """As ``torch.optim.Optimizer.add_param_group``, checking and completing the GaLore
        keys of a group with ``rank``."""
        if "rank" in param_group:
            check_galore_group(param_group)
            for key, value in GALORE_DEFAULTS.items():
                param_group.setdefault(key, value)
        super().add_param_group(param_group)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """One update of every parameter with a gradient; ``closure`` (re-evaluates the
        loss, with gradients enabled) as in torch."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is not None:
                    self.update_param(param, group)
        return loss

    @torch.no_grad()
    def update_param(self, param: torch.Tensor, group: dict[str, Any]) -> None:
        """The update of one parameter (with a gradient) of ``group``."""
        grad = param.grad
        assert grad is not None
        if grad.is_sparse:
            raise RuntimeError("GaLoreAdamW does not support sparse gradients")
        state = self.state[param]
        if "step" not in state:
            state["step"] = 0
        step: int = state["step"]
        galore = "rank" in group and param.dim() == 2
        left: torch.Tensor | None = None
        right: torch.Tensor | None = None
        if galore:
            if step % int(group["update_proj_gap"]) == 0:
                side = resolve_side(str(group["proj_type"]), (param.shape[0], param.shape[1]))
                left, right = orthogonal_bases(grad, int(group["rank"]), side, str(group["svd"]))
                for key, basis in (("proj_left", left), ("proj_right", right)):
                    if basis is not None:
                        state[key] = basis
            left, right = state.get("proj_left"), state.get("proj_right")
            grad = project(grad, left, right)
        if "exp_avg" not in state:
            state["exp_avg"] = torch.zeros_like(grad, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(grad, memory_format=torch.preserve_format)
        exp_avg: torch.Tensor = state["exp_avg"]
        exp_avg_sq: torch.Tensor = state["exp_avg_sq"]
        step += 1
        state["step"] = step
        lr = float(group["lr"])
        beta1, beta2 = group["betas"]
        if group["weight_decay"] != 0:
            param.mul_(1.0 - lr * float(group["weight_decay"]))
        exp_avg.lerp_(grad, 1.0 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
        step_size = lr / (1.0 - beta1**step)
        denom = (exp_avg_sq.sqrt() / math.sqrt(1.0 - beta2**step)).add_(float(group["eps"]))
        if galore:
            direction = project_back(exp_avg / denom, left, right)
            param.add_(direction, alpha=-step_size * float(group["scale"]))
        else:
            param.addcdiv_(exp_avg, denom, value=-step_size)


def check_galore_group(group: dict[str, Any]) -> None:
    """ValueError naming the key when a GaLore group's ``rank``, ``update_proj_gap``,
    ``scale``, ``proj_type`` or ``svd`` is invalid."""
    rank = group["rank"]
    if not isinstance(rank, int) or isinstance(rank, bool) or rank < 1:
        raise ValueError(f"GaLore group key 'rank': expected a positive int, got {rank!r}")
    gap = group.get("update_proj_gap", GALORE_DEFAULTS["update_proj_gap"])
    if not isinstance(gap, int) or isinstance(gap, bool) or gap < 1:
        raise ValueError(f"GaLore group key 'update_proj_gap': expected a positive int, got {gap!r}")
    scale = group.get("scale", GALORE_DEFAULTS["scale"])
    if not isinstance(scale, int | float) or isinstance(scale, bool) or not math.isfinite(scale):
        raise ValueError(f"GaLore group key 'scale': expected a finite number, got {scale!r}")
    if group.get("proj_type", "std") not in PROJ_TYPES:
        raise ValueError(f"GaLore group key 'proj_type': expected one of {', '.join(PROJ_TYPES)}")
    if group.get("svd", "full") not in SVD_METHODS:
        raise ValueError(f"GaLore group key 'svd': expected one of {', '.join(SVD_METHODS)}")
