"""How much memory an optimizer's state takes: the sum of the sizes of its state tensors."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["optimizer_state_bytes"]


def optimizer_state_bytes(optimizer: Any) -> int:
    """Bytes of all tensors in ``optimizer.state`` (moments, step counters kept as tensors,
    GaLore bases), for any torch optimizer, a
    :class:`~surrogates.optim.layerwise.LayerwiseGaLoreAdamW` (the sum over its inner
    optimizers), or galore-torch's optimizers (their projector objects' ``ortho_matrix``
    counts too). Gradients and parameters are not optimizer state and are not counted."""
    inner = getattr(optimizer, "optimizers", None)
    if isinstance(inner, list):
        return sum(optimizer_state_bytes(o) for o in inner)
    total = 0
    for state in optimizer.state.values():
        for value in state.values():
            total += _tensor_bytes(value)
            total += _tensor_bytes(getattr(value, "ortho_matrix", None))
    return total


def _tensor_bytes(value: Any) -> int:
    if isinstance(value, torch.Tensor):
        return int(value.numel() * value.element_size())
    if isinstance(value, list | tuple):
        return sum(_tensor_bytes(v) for v in value)
    return 0
