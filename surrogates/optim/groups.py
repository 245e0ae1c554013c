"""Parameter groups for GaLore from a module: which weights are worth projecting."""

from __future__ import annotations

from typing import Any

from torch import nn

__all__ = ["galore_param_groups"]


def galore_param_groups(
    module: nn.Module,
    *,
    rank: int,
    update_proj_gap: int = 200,
    scale: float = 1.0,
    proj_type: str = "std",
    svd: str = "full",
) -> list[dict[str, Any]]:
    """``[GaLore group, plain group]`` (empty ones left out) over ``module``'s trainable
    parameters: 2-D weights whose smaller side exceeds ``rank`` go to the GaLore group
    (projection saves memory only there), everything else (biases, norms, thin matrices)
    to the plain AdamW group."""
    projected: list[nn.Parameter] = []
    plain: list[nn.Parameter] = []
    for param in module.parameters():
        if not param.requires_grad:
            continue
        (projected if param.dim() == 2 and min(param.shape) > rank else plain).append(param)
    groups: list[dict[str, Any]] = []
    if projected:
        groups.append(
            {
                "params": projected,
                "rank": rank,
                "update_proj_gap": update_proj_gap,
                "scale": scale,
                "proj_type": proj_type,
                "svd": svd,
            }
        )
    if plain:
        groups.append({"params": plain})
    return groups
