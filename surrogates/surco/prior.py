"""The SurCo-prior network: instance features -> a cost matrix (rows x columns).

Shapes: ``features`` ``(R, F)`` (one row per table), ``column_features`` ``(C, G)`` (one
per device), ``context`` ``(K,)``; the output is ``(R, C)`` costs, each row centred and
the matrix scaled to unit RMS (the normalized form of :mod:`surrogates.surco.zero`).

- Rows: a DeepSets layer (Zaheer et al., NeurIPS 2017). Each row's features, their
  ``log1p`` and their Fourier features ``cos(2 pi j f)``, ``sin(2 pi j f)`` (``j = 1..
  harmonics``; features such as ranks in ``[0, 1)`` become positions on a circle) go
  through an MLP to ``h_r``; the mean of the ``h_r`` and the context join each ``h_r`` in
  a second MLP, giving the row embedding ``u_r`` (``hidden`` wide). A permutation of the
  rows permutes the output's rows the same way, nothing else.
- Columns: identical devices are interchangeable, and a linear objective that treats them
  alike cannot spread tables over them, so the network breaks the symmetry by the column
  index: column ``k`` of ``C`` gets the Fourier features ``cos(2 pi j (k + 1/2) / C)``,
  ``sin(...)``, ``j = 1..harmonics``, with its own features, through an MLP to ``v_k``.
- Costs: ``c[r, k] = <u_r, v_k> / sqrt(hidden)`` with the mean over rows of each column
  removed (a preference every row shares would send all rows to one column), plus a
  learned per-column bias ``b(v_k)`` (zero at initialization; a faster device may deserve
  one), then normalized. A row embedding that encodes a position on the circle (say, its
  ``load_rank``) then picks the column nearest to it, which is how a bilinear form can cut
  the rows into balanced column groups.

- Position base (optional, ``position_feature``): learning that rule from a few dozen
  instances proved hard, so the network can start from it. With ``p_r`` the row's
  ``position_feature`` (e.g. ``load_rank``, the load share of heavier tables) plus half
  its ``position_width_feature`` (e.g. ``load_share``) over ``C``, the base costs are
  ``-cos(2 pi (p_r - (k + 1/2) / C))``: each row prefers the column whose arc of the
  circle holds its position, which cuts the rows, heaviest first, into ``C`` runs of about
  equal total load. The output is then ``normalize(base + gain * learned)`` with the
  learned costs above (normalized) and ``gain`` a trained scalar starting at
  ``residual_gain``.

- Greedy base (``greedy_base``, the trainer's default since 2026-11-28): the base costs are
  minus the (normalized) one-hot greedy plan of :func:`surrogates.surco.targets.greedy_plan`
  (the ``greedy-cost`` rule computed from the interface: rows by decreasing standalone
  cost, each on the fitting device whose true cost after adding it is smallest), so the
  untrained network's answer is that plan. The learned part then also sees, per column,
  the plan's statistics (its cost over the maximum, its memory use, whether it is the
  maximum; :data:`PLAN_STATS`) and, per row, those of its column. Inputs: use
  :func:`prior_inputs` (it adds the plan; :func:`as_tensors` alone is refused with a clear
  error). Measured on the 9 measurement instances of ``checkpoints/README.md``: the
  position base alone 1.288 of ``greedy-cost`` (1.9x on ``dlrm-30x4``: runs of equal load
  cannot balance a few heavy tables), the greedy base alone 1.000; no learned residual
  trained so far beat the base on held-out instances (see :mod:`surrogates.surco.trainer`).
  Checkpoints saved before it have no ``greedy_base`` key and load as before.

The network works for any ``R`` and ``C``; its input widths ``F``, ``G``, ``K`` are fixed
by :class:`PriorConfig` (and the feature names, checked against the problem's).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

__all__ = ["PLAN_STATS", "PriorConfig", "SurCoPrior", "as_tensors", "prior_inputs"]


@dataclass(frozen=True)
class PriorConfig:
    """Input names (their counts fix the input widths), sizes (``hidden``: embedding
    width; ``harmonics``: Fourier features per feature and column) and the optional
    position base (``position_feature``, ``position_width_feature``: row feature names;
    ``residual_gain``: the learned part's starting weight); see the module docstring."""

    feature_names: tuple[str, ...]
    column_feature_names: tuple[str, ...]
    context_names: tuple[str, ...]
    hidden: int = 64
    harmonics: int = 4
    position_feature: str | None = None
    position_width_feature: str | None = None
    residual_gain: float = 0.3
    greedy_base: bool = False

    def __post_init__(self) -> None:
        for name in (self.position_feature, self.position_width_feature):
            if name is not None and name not in self.feature_names:
                raise ValueError(f"position feature {name!r} is not among the row features")
        if self.greedy_base and self.position_feature is not None:
            raise ValueError("choose one base: greedy_base or position_feature, not both")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("feature_names", "column_feature_names", "context_names"):
            data[key] = list(data[key])
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PriorConfig:
        return cls(
            feature_names=tuple(data["feature_names"]),
            column_feature_names=tuple(data["column_feature_names"]),
            context_names=tuple(data["context_names"]),
            hidden=int(data["hidden"]),
            harmonics=int(data["harmonics"]),
            position_feature=data.get("position_feature"),
            position_width_feature=data.get("position_width_feature"),
            residual_gain=float(data.get("residual_gain", 0.3)),
            greedy_base=bool(data.get("greedy_base", False)),
        )


def _mlp(inputs: int, hidden: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(inputs, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, outputs)
    )


def _signed_log1p(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.log1p(torch.abs(x))


class SurCoPrior(nn.Module):
    """See the module docstring."""

    def __init__(self, config: PriorConfig) -> None:
        super().__init__()
        self.config = config
        f, g, k, h = (
            len(config.feature_names),
            len(config.column_feature_names),
            len(config.context_names),
            config.hidden,
        )
        extra = PLAN_STATS if config.greedy_base else 0
        self.row_in = _mlp((2 + 2 * config.harmonics) * f + extra, h, h)
        self.row_out = _mlp(2 * h + 2 * k, h, h)
        self.column = _mlp(2 * g + 2 * config.harmonics + extra, h, h)
        self.column_bias = nn.Linear(h, 1)
        nn.init.zeros_(self.column_bias.weight)
        nn.init.zeros_(self.column_bias.bias)
        self.gain = nn.Parameter(torch.tensor(float(config.residual_gain)))

    def forward(
        self,
        features: torch.Tensor,
        column_features: torch.Tensor,
        context: torch.Tensor,
        plan: torch.Tensor | None = None,
        plan_stats: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``(R, F), (C, G), (K,) -> (R, C)`` normalized costs; with ``greedy_base`` also
        the greedy plan ``(R, C)`` and its column statistics ``(C, PLAN_STATS)`` (see
        :func:`prior_inputs`)."""
        rows, columns = features.shape[0], column_features.shape[0]
        if self.config.greedy_base and (plan is None or plan_stats is None):
            raise ValueError("this prior has the greedy base: pass prior_inputs(...), not as_tensors(...)")
        j = torch.arange(1, self.config.harmonics + 1, dtype=features.dtype, device=features.device)
        phase = 2.0 * math.pi * features[:, :, None] * j[None, None, :]  # (R, F, harmonics)
        row_inputs = [features, _signed_log1p(features), torch.cos(phase).flatten(1), torch.sin(phase).flatten(1)]
        if self.config.greedy_base:
            assert plan is not None
            assert plan_stats is not None
            row_inputs.append(plan @ plan_stats)  # the statistics of the row's own column
        h = self.row_in(torch.cat(row_inputs, dim=1))
        ctx = torch.cat([context, _signed_log1p(context)]).expand(rows, -1)
        u = self.row_out(torch.cat([h, h.mean(dim=0, keepdim=True).expand(rows, -1), ctx], dim=1))
        k = torch.arange(columns, dtype=features.dtype, device=features.device) + 0.5
        angle = 2.0 * math.pi * k[:, None] * j[None, :] / columns
        column_inputs = [column_features, _signed_log1p(column_features), torch.cos(angle), torch.sin(angle)]
        if self.config.greedy_base:
            assert plan_stats is not None
            column_inputs.append(plan_stats)
        v = self.column(torch.cat(column_inputs, dim=1))
        c = u @ v.T / math.sqrt(self.config.hidden)
        c = c - c.mean(dim=0, keepdim=True) + self.column_bias(v).T
        c = _normalize(c)
        if self.config.greedy_base:
            assert plan is not None
            c = -_normalize(plan) + self.gain * c
        elif self.config.position_feature is not None:
            c = self._position_costs(features, columns) + self.gain * c
        out: torch.Tensor = _normalize(c)
        return out

    def _position_costs(self, features: torch.Tensor, columns: int) -> torch.Tensor:
        """``-cos(2 pi (p_r - (k + 1/2) / C))`` with ``p_r`` the position feature plus half
        the width feature over ``C`` (see the module docstring)."""
        names = self.config.feature_names
        position = features[:, names.index(str(self.config.position_feature))]
        if self.config.position_width_feature is not None:
            position = position + features[:, names.index(self.config.position_width_feature)] / (2 * columns)
        k = torch.arange(columns, dtype=features.dtype, device=features.device) + 0.5
        return -torch.cos(2.0 * math.pi * (position[:, None] - k[None, :] / columns))


def _normalize(c: torch.Tensor) -> torch.Tensor:
    """Rows centred, the whole scaled to unit RMS."""
    c = c - c.mean(dim=1, keepdim=True)
    return c / torch.sqrt(torch.mean(c * c) + 1e-12)


PLAN_STATS = 3
"""Statistics per column of the greedy plan (``greedy_base``): its cost over the plan's
maximum, its memory use over its memory, and 1 for the column(s) at the maximum."""


def prior_inputs(config: PriorConfig, interface: Any, device: torch.device) -> tuple[torch.Tensor, ...]:
    """The inputs of a prior with ``config`` for ``interface``: :func:`as_tensors`, and
    with ``greedy_base`` the greedy plan (:func:`surrogates.surco.targets.greedy_plan`,
    one-hot ``(R, C)``) and its ``(C, PLAN_STATS)`` column statistics."""
    tensors = as_tensors(interface, device)
    if not config.greedy_base:
        return tensors
    import numpy as np

    from surrogates.surco.targets import PlanCosts, greedy_plan, plan_matrix

    pc = PlanCosts(interface)
    assign = greedy_plan(interface, pc)
    x = plan_matrix(assign, interface.shape[1])
    costs = pc.costs(x)
    top = float(costs.max()) if costs.max() > 0 else 1.0
    capacity = np.where(np.isfinite(pc.capacity), pc.capacity, 1.0)
    stats = np.column_stack([costs / top, pc.used(assign) / np.maximum(capacity, 1e-9), costs >= top * (1 - 1e-9)])
    return (
        *tensors,
        torch.as_tensor(x, dtype=torch.float32, device=device),
        torch.as_tensor(stats, dtype=torch.float32, device=device),
    )


def as_tensors(interface: Any, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(features, column_features, context)`` of a :class:`SurrogateInterface` as
    float32 tensors on ``device``."""
    return (
        torch.as_tensor(interface.features, dtype=torch.float32, device=device),
        torch.as_tensor(interface.column_features, dtype=torch.float32, device=device),
        torch.as_tensor(interface.context, dtype=torch.float32, device=device),
    )
