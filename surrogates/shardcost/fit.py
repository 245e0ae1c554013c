"""The neural device cost model (DeepSets, in the manner of DreamShard and NeuroShard) and its
fit to measured times; the fitted model is written as plain JSON that numpy reads
(:mod:`problems.table_sharding.neural` evaluates it without torch).

Model. Per table ``t`` a feature vector ``f_t`` (:data:`FEATURE_NAMES`, normalized by the
training mean and standard deviation stored in the file)::

    log_rows_eff       log(min(rows, row_cap))
    log_dim            log(dim)
    log1p_pooling      log(1 + pooling_factor)
    zipf_alpha         zipf_alpha
    bytes_per_element  bytes_per_element / 4
    log1p_lookups      log(1 + pooling_factor * dim)    (floats gathered per sample)

``phi`` (two linear layers, softplus between them, ``exp`` after the second, so
``phi(t) > 0`` and multiplicative effects such as ``pooling * dim`` are natural) embeds a
table; a device holding tables with weights ``x_t`` (1 for a whole table, a share in a
fractional plan) sums them, ``z = sum_t x_t phi(t)``; ``rho`` maps ``z`` to the device's
compute time (ms at the measure batch)::

    ms = w2 . softplus(W1 z + b1) + softplus(b2),     W1 = softplus(V1) >= 0,  w2 = softplus(V2) >= 0

Sum pooling makes the model defined for any (fractional) plan and independent of the
tables' order; positive ``phi``, non-negative ``rho`` weights and non-decreasing
activations make the time non-decreasing in every ``x_t``: adding a table never lowers the
predicted time (monotone by construction). It is not additive: the constant
``softplus(b2)`` is paid once per device (fixed per-iteration costs, so sets cost less than
the sum of their tables alone) and the convex ``rho`` can grow faster than linearly
(contention). (A first version predicted ``log ms`` through the same monotone ``rho``;
non-negative weights with convex activations make ``rho`` convex, which cannot follow the
concave ``log`` of a sum of table costs, and it fitted poorly.)

Fit: mean squared error of ``log(predicted ms)`` against ``log(measured ms)`` (relative errors weigh alike
for cheap and expensive devices), Adam, full batch, on a seeded training split; the held-out
split gives the reported metrics (MAE in ms, mean and median relative error, Spearman rank
correlation).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from surrogates.shardcost.measure import TableSpec, effective_rows

__all__ = [
    "FEATURE_NAMES",
    "FORMAT",
    "DeepSetsCost",
    "FitResult",
    "export",
    "fit",
    "table_features",
]

FORMAT = "designsvc.shardcost/1"
FEATURE_NAMES = ("log_rows_eff", "log_dim", "log1p_pooling", "zipf_alpha", "bytes_per_element", "log1p_lookups")


def table_features(table: TableSpec, row_cap: int) -> list[float]:
    """The raw (unnormalized) features of one table, in :data:`FEATURE_NAMES` order."""
    return [
        math.log(effective_rows(table.rows, row_cap)),
        math.log(table.dim),
        math.log1p(table.pooling_factor),
        float(table.zipf_alpha),
        table.bytes_per_element / 4.0,
        math.log1p(table.pooling_factor * table.dim),
    ]


class DeepSetsCost(nn.Module):
    """``phi`` -> weighted sum -> monotone ``rho`` (see the module docstring)."""

    def __init__(self, features: int, hidden: int = 32, embed: int = 16) -> None:
        super().__init__()
        self.phi1 = nn.Linear(features, hidden)
        self.phi2 = nn.Linear(hidden, embed)
        self.rho_v1 = nn.Parameter(torch.randn(hidden, embed) * 0.5 - 2.0)
        self.rho_b1 = nn.Parameter(torch.zeros(hidden))
        self.rho_v2 = nn.Parameter(torch.randn(hidden) * 0.5 - 2.0)
        self.rho_b2 = nn.Parameter(torch.zeros(()))

    def embed(self, features: torch.Tensor) -> torch.Tensor:
        """``phi``: ``(T, F)`` normalized features -> ``(T, E)``, all > 0."""
        return torch.exp(self.phi2(nn.functional.softplus(self.phi1(features))))

    def forward(self, features: torch.Tensor, membership: torch.Tensor) -> torch.Tensor:
        """``features`` ``(T, F)``, ``membership`` ``(S, T)`` (weights of each table in each
        set) -> ``(S,)`` predicted ms (> 0)."""
        z = membership @ self.embed(features)
        w1 = nn.functional.softplus(self.rho_v1)
        w2 = nn.functional.softplus(self.rho_v2)
        hidden = nn.functional.softplus(z @ w1.T + self.rho_b1)
        return hidden @ w2 + nn.functional.softplus(self.rho_b2)


@dataclass(frozen=True)
class FitResult:
    """The fitted network, the normalization, predictions and held-out metrics."""

    model: DeepSetsCost
    mean: np.ndarray[Any, Any]
    std: np.ndarray[Any, Any]
    predicted_ms: np.ndarray[Any, Any]
    measured_ms: np.ndarray[Any, Any]
    validation: np.ndarray[Any, Any]
    metrics: dict[str, Any]


def _errors(pred: np.ndarray[Any, Any], true: np.ndarray[Any, Any]) -> dict[str, Any]:
    if len(true) == 0:
        return {"count": 0, "mae_ms": None, "mean_rel_error": None, "median_rel_error": None, "spearman": None}
    from scipy.stats import spearmanr

    rel = np.abs(pred - true) / true
    rho = float(spearmanr(pred, true).statistic) if len(true) > 2 else None
    return {
        "count": len(true),
        "mae_ms": float(np.mean(np.abs(pred - true))),
        "mean_rel_error": float(rel.mean()),
        "median_rel_error": float(np.median(rel)),
        "spearman": rho if rho is None or math.isfinite(rho) else None,
    }


def fit(
    sets: Sequence[Sequence[TableSpec]],
    measured_ms: Sequence[float],
    *,
    row_cap: int,
    seed: int = 0,
    hidden: int = 32,
    embed: int = 16,
    steps: int = 2000,
    learning_rate: float = 0.01,
    validation_fraction: float = 0.2,
) -> FitResult:
    """Fit :class:`DeepSetsCost` to ``measured_ms`` (one per set of tables, > 0) on the CPU."""
    if len(sets) != len(measured_ms) or len(sets) < 4:
        raise ValueError(f"need at least 4 measured sets (one time each), got {len(sets)} and {len(measured_ms)}")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    unique: dict[TableSpec, int] = {}
    for tables in sets:
        for t in tables:
            unique.setdefault(t, len(unique))
    raw = np.array([table_features(t, row_cap) for t in unique], dtype=np.float64)
    mean = raw.mean(axis=0)
    std = raw.std(axis=0)
    std = np.where(std > 1e-9, std, 1.0)
    membership = np.zeros((len(sets), len(unique)))
    for s, tables in enumerate(sets):
        for t in tables:
            membership[s, unique[t]] += 1.0
    true = np.asarray(measured_ms, dtype=np.float64)
    order = rng.permutation(len(sets))
    held = min(max(1, round(validation_fraction * len(sets))), len(sets) - 2) if validation_fraction > 0 else 0
    validation = np.sort(order[:held])
    training = np.sort(order[held:])
    features_t = torch.as_tensor((raw - mean) / std, dtype=torch.float32)
    member_t = torch.as_tensor(membership, dtype=torch.float32)
    target_t = torch.as_tensor(np.log(true), dtype=torch.float32)
    model = DeepSetsCost(raw.shape[1], hidden, embed)
    with torch.no_grad():
        model.phi2.bias.fill_(float(np.log(np.median(true[training]))) - 2.0)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    train_index = torch.as_tensor(training)
    for _ in range(steps):
        optimizer.zero_grad()
        pred = torch.log(model(features_t, member_t[train_index]))
        loss = torch.mean((pred - target_t[train_index]) ** 2)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        schedule.step()
    model.eval()
    with torch.no_grad():
        predicted = model(features_t, member_t).double().numpy()
    metrics = {
        "training": _errors(predicted[training], true[training]),
        "validation": _errors(predicted[validation], true[validation]),
        "final_training_loss": float(loss.item()),
        "steps": steps,
    }
    return FitResult(model, mean, std, predicted, true, validation, metrics)


def export(result: FitResult, *, row_cap: int, measure_batch: int, meta: dict[str, Any]) -> dict[str, Any]:
    """The calibration document (JSON data; see :mod:`problems.table_sharding.neural`):
    the effective (already non-negative) ``rho`` weights, so numpy needs no parametrization."""
    m = result.model

    def plain(t: torch.Tensor) -> Any:
        return t.detach().double().cpu().numpy().tolist()

    with torch.no_grad():
        return {
            "format": FORMAT,
            "features": list(FEATURE_NAMES),
            "feature_mean": result.mean.tolist(),
            "feature_std": result.std.tolist(),
            "row_cap": row_cap,
            "measure_batch": measure_batch,
            "output": "ms",
            "activation": "softplus",
            "embedding": "exp",
            "phi": [
                {"weight": plain(m.phi1.weight), "bias": plain(m.phi1.bias)},
                {"weight": plain(m.phi2.weight), "bias": plain(m.phi2.bias)},
            ],
            "rho": [
                {"weight": plain(nn.functional.softplus(m.rho_v1)), "bias": plain(m.rho_b1)},
                {
                    "weight": [plain(nn.functional.softplus(m.rho_v2))],
                    "bias": [float(nn.functional.softplus(m.rho_b2))],
                },
            ],
            "metrics": result.metrics,
            "meta": meta,
        }
