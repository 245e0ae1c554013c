"""Layer-wise GaLore AdamW: each parameter is updated inside ``backward()`` as soon as its
gradient is accumulated (``Tensor.register_post_accumulate_grad_hook``), and its gradient
is then dropped, so the full gradients of all parameters are never held at once (GaLore's
per-layer weight update, section 4.3 of the paper).

AdamW updates each parameter from its own gradient and state only, so one backward pass
here gives the same parameters as ``backward(); GaLoreAdamW.step(); zero_grad()`` with
the same groups. What it cannot do: gradient clipping by the global norm, gradient
accumulation over several backward passes (every backward pass is a step), and anything
that needs all gradients at once. ``step()`` and ``zero_grad()`` exist so a training
loop can stay unchanged; ``step()`` does nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.utils.hooks import RemovableHandle

from surrogates.optim.adamw import GaLoreAdamW

__all__ = ["LayerwiseGaLoreAdamW"]


class LayerwiseGaLoreAdamW:
    """One :class:`~surrogates.optim.adamw.GaLoreAdamW` per parameter (with its group's
    keys), stepped from that parameter's post-accumulate-grad hook. Arguments as for
    ``GaLoreAdamW``; every parameter must be a leaf that requires grad. Call
    :meth:`remove` to detach the hooks."""

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
    ) -> None:
        items = list(params)
        groups: list[dict[str, Any]] = (
            [dict(g) for g in items if isinstance(g, dict)] if items and isinstance(items[0], dict) else []
        )
        if not groups:
            groups = [{"params": items}]
        self.optimizers: list[GaLoreAdamW] = []
        self._by_param: dict[int, GaLoreAdamW] = {}
        self._handles: list[RemovableHandle] = []
        for group in groups:
            members = group["params"]
            members = [members] if isinstance(members, torch.Tensor) else list(members)
            options = {k: v for k, v in group.items() if k != "params"}
            for param in members:
                if id(param) in self._by_param:
                    raise ValueError("a parameter appears in more than one group")
                if not (param.is_leaf and param.requires_grad):
                    raise ValueError("layer-wise updates need leaf parameters that require grad")
                optimizer = GaLoreAdamW(
                    [{"params": [param], **options}], lr=lr, betas=betas, eps=eps, weight_decay=weight_decay
                )
                self.optimizers.append(optimizer)
                self._by_param[id(param)] = optimizer
                self._handles.append(param.register_post_accumulate_grad_hook(self._on_grad))

    def _on_grad(self, param: torch.Tensor) -> None:
        optimizer = self._by_param[id(param)]
        optimizer.update_param(param, optimizer.param_groups[0])
        param.grad = None

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        """The one-parameter groups of all inner optimizers (set ``lr`` here to schedule)."""
        return [group for optimizer in self.optimizers for group in optimizer.param_groups]

    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """Nothing to do (the updates ran during ``backward()``); calls ``closure`` if given."""
        return closure() if closure is not None else None

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drops any gradient left (the hooks already drop them after each update)."""
        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict[str, Any]:
        """``{"optimizers": [inner state dicts in parameter order]}``."""
        return {"optimizers": [optimizer.state_dict() for optimizer in self.optimizers]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """The inverse of :meth:`state_dict` for the same parameters in the same order."""
        inner = state["optimizers"]
        if len(inner) != len(self.optimizers):
            raise ValueError(f"state for {len(inner)} parameters, this optimizer has {len(self.optimizers)}")
        for optimizer, saved in zip(self.optimizers, inner, strict=True):
            optimizer.load_state_dict(saved)

    def remove(self) -> None:
        """Detaches the hooks: later backward passes leave gradients in ``.grad`` again."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
