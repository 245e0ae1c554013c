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

The network works for any ``R`` and ``C``; its input widths ``F``, ``G``, ``K`` are fixed
by :class:`PriorConfig` (and the feature names, checked against the problem's).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

__all__ = ["PriorConfig", "SurCoPrior", "as_tensors"]


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

    def __post_init__(self) -> None:
        for name in (self.position_feature, self.position_width_feature):
            if name is not None and name not in self.feature_names:
                raise ValueError(f"position feature {name!r} is not among the row features")

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
        self.row_in = _mlp((2 + 2 * config.harmonics) * f, h, h)
        self.row_out = _mlp(2 * h + 2 * k, h, h)
        self.column = _mlp(2 * g + 2 * config.harmonics, h, h)
        self.column_bias = nn.Linear(h, 1)
        nn.init.zeros_(self.column_bias.weight)
        nn.init.zeros_(self.column_bias.bias)
        self.gain = nn.Parameter(torch.tensor(float(config.residual_gain)))

    def forward(self, features: torch.Tensor, column_features: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """``(R, F), (C, G), (K,) -> (R, C)`` normalized costs."""
        rows, columns = features.shape[0], column_features.shape[0]
        j = torch.arange(1, self.config.harmonics + 1, dtype=features.dtype, device=features.device)
        phase = 2.0 * math.pi * features[:, :, None] * j[None, None, :]  # (R, F, harmonics)
        row_inputs = [features, _signed_log1p(features), torch.cos(phase).flatten(1), torch.sin(phase).flatten(1)]
        h = self.row_in(torch.cat(row_inputs, dim=1))
        ctx = torch.cat([context, _signed_log1p(context)]).expand(rows, -1)
        u = self.row_out(torch.cat([h, h.mean(dim=0, keepdim=True).expand(rows, -1), ctx], dim=1))
        k = torch.arange(columns, dtype=features.dtype, device=features.device) + 0.5
        angle = 2.0 * math.pi * k[:, None] * j[None, :] / columns
        cols = torch.cat([column_features, _signed_log1p(column_features), torch.cos(angle), torch.sin(angle)], dim=1)
        v = self.column(cols)
        c = u @ v.T / math.sqrt(self.config.hidden)
        c = c - c.mean(dim=0, keepdim=True) + self.column_bias(v).T
        c = _normalize(c)
        if self.config.position_feature is not None:
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


def as_tensors(interface: Any, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(features, column_features, context)`` of a :class:`SurrogateInterface` as
    float32 tensors on ``device``."""
    return (
        torch.as_tensor(interface.features, dtype=torch.float32, device=device),
        torch.as_tensor(interface.column_features, dtype=torch.float32, device=device),
        torch.as_tensor(interface.context, dtype=torch.float32, device=device),
    )
