"""The CZP surrogate (design parameters -> gain, zeros and poles of S11) and its baseline,
an MLP that predicts the sampled dB curve directly.

Both take normalized design parameters ``unit_params`` ``(N, P)`` in ``[0, 1]`` and give
``predict_db(unit_params, freqs_hz) -> (N, F)``, ``|S11|`` in dB (with the floor of
:func:`surrogates.czp.response.db_magnitude`), and ``prepare(freqs_hz, target_db)``, the
data-dependent initialization :func:`surrogates.czp.training.train_surrogate` runs first.

CZP parametrization (``K = pairs``): the network (an MLP trunk on ``2 * x - 1``) outputs
``1 + 4K`` numbers per design, mapped to

- ``c0 = exp(g)`` (``g`` clamped to ``[-20, 20]``): real and positive. A dB loss sees
  only ``|c0|``, so its phase is fixed at zero rather than left unidentified.
- ``K`` zeros ``z_k = -softplus(a_k) + j * softplus(b_k)`` and ``K`` poles
  ``p_k = -(softplus(c_k) + 1e-4) + j * softplus(d_k)``, each together with its complex
  conjugate: ``2K`` zeros and ``2K`` poles, so the response has real coefficients (a real
  impulse response, as a physical S11 has).

Why these signs: ``|S11(j w)|`` cannot tell a zero ``z`` from its mirror image ``-conj(z)``
across the imaginary axis (``|j w - z| = |j w + conj(z)|``), so a dB loss has two equal
optima per zero; we keep zeros in the closed left half-plane (the minimum-phase
representative; the magnitude response is unchanged). Poles are stable (negative real
part) as they must be. Within a conjugate pair the member with the positive imaginary
part is the one parametrized (softplus), which removes the pair's relabelling symmetry.

Initialization: the head starts at small weights around a bias that puts the ``K`` poles
evenly over the sweep (imaginary parts at the centres of ``K`` equal slices of ``band``,
real parts ``-(band width) / (4K)``) and each zero at its pole's frequency with half its
damping (a shallow dip per pole); ``prepare`` sets ``g`` to the data's mean level.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from surrogates.czp.response import DB_FLOOR, czp_response, db_magnitude, normalized_s

__all__ = [
    "CZPConfig",
    "CZPSurrogate",
    "MLPConfig",
    "MLPSurrogate",
    "matched_mlp_config",
    "mlp_hidden_for",
    "mlp_parameter_count",
    "parameter_count",
]

MIN_POLE_DAMPING = 1e-4
"""The least ``-Re(p)`` of a pole (normalized units): keeps poles off the imaginary axis."""

MAX_LOG_GAIN = 20.0
"""``|g|`` is clamped here (``|c0|`` within +-174 dB) so a diverging network gives finite
responses."""


def _softplus_inverse(y: float) -> float:
    return y + math.log(-math.expm1(-y))


def _trunk(n_in: int, hidden: int, layers: int) -> nn.Sequential:
    """``layers`` (>= 1) Linear + SiLU blocks, ``n_in -> hidden -> ... -> hidden``."""
    blocks: list[nn.Module] = []
    width = n_in
    for _ in range(layers):
        blocks += [nn.Linear(width, hidden), nn.SiLU()]
        width = hidden
    return nn.Sequential(*blocks)


def parameter_count(module: nn.Module) -> int:
    """The number of trainable scalars of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


@dataclass(frozen=True)
class CZPConfig:
    """``n_params`` (P, input width), ``pairs`` (K conjugate pairs of zeros and of poles),
    trunk ``hidden`` width and ``layers``, ``f_ref_hz`` (frequency normalization: ``s = j
    f / f_ref_hz``) and ``band`` (the sweep in normalized units, ``(f_min, f_max) /
    f_ref_hz``; used for the initial root placement only)."""

    n_params: int
    pairs: int = 3
    hidden: int = 64
    layers: int = 2
    f_ref_hz: float = 1.0
    band: tuple[float, float] = (0.5, 1.5)

    def __post_init__(self) -> None:
        if self.n_params < 1 or self.pairs < 1 or self.hidden < 1 or self.layers < 1:
            raise ValueError("CZPConfig: n_params, pairs, hidden and layers must be >= 1")
        if not (self.f_ref_hz > 0 and 0 <= self.band[0] < self.band[1]):
            raise ValueError("CZPConfig: f_ref_hz must be > 0 and band (lo, hi) with 0 <= lo < hi")

    @classmethod
    def for_sweep(cls, n_params: int, freqs_hz: Any, **sizes: Any) -> CZPConfig:
        """The config for a sweep ``freqs_hz`` (``(F,)``, Hz): ``f_ref_hz`` its centre
        ``(f_min + f_max) / 2``, ``band`` its edges over that; ``sizes``: ``pairs``,
        ``hidden``, ``layers``."""
        f = torch.as_tensor(freqs_hz, dtype=torch.float64)
        lo, hi = float(f.min()), float(f.max())
        f_ref = (lo + hi) / 2.0
        return cls(n_params=n_params, f_ref_hz=f_ref, band=(lo / f_ref, hi / f_ref), **sizes)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["band"] = list(self.band)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CZPConfig:
        return cls(**{**data, "band": tuple(data["band"])})


class CZPSurrogate(nn.Module):
    """Design parameters -> ``c0``, ``2K`` zeros, ``2K`` poles -> S11 (see the module
    docstring). ``seed`` fixes the initial weights (the global RNG is left as it was)."""

    def __init__(self, config: CZPConfig, *, seed: int = 0) -> None:
        super().__init__()
        self.config = config
        k = config.pairs
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.trunk = _trunk(config.n_params, config.hidden, config.layers)
            self.head = nn.Linear(config.hidden, 1 + 4 * k)
        lo, hi = config.band
        centres = [lo + (hi - lo) * (i + 0.5) / k for i in range(k)]
        damping = (hi - lo) / (4 * k)
        bias = [0.0]
        bias += [_softplus_inverse(damping / 2)] * k  # zero real parts (negated)
        bias += [_softplus_inverse(c) for c in centres]  # zero imaginary parts
        bias += [_softplus_inverse(damping - MIN_POLE_DAMPING)] * k  # pole real parts (negated)
        bias += [_softplus_inverse(c) for c in centres]  # pole imaginary parts
        with torch.no_grad():
            self.head.weight.mul_(0.1)
            self.head.bias.copy_(torch.tensor(bias))

    def roots(self, unit_params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(c0 (N,), zeros (N, 2K), poles (N, 2K))``, complex, normalized frequency
        units, for ``unit_params`` ``(N, P)``; zeros and poles: ``K`` upper-half-plane
        roots followed by their conjugates."""
        k = self.config.pairs
        out: torch.Tensor = self.head(self.trunk(2.0 * unit_params - 1.0))
        log_gain = out[:, 0]
        zr, zi, pr, pi = (out[:, 1 + i * k : 1 + (i + 1) * k] for i in range(4))
        softplus = nn.functional.softplus
        zeros = torch.complex(-softplus(zr), softplus(zi))
        poles = torch.complex(-(softplus(pr) + MIN_POLE_DAMPING), softplus(pi))
        gain = log_gain.clamp(-MAX_LOG_GAIN, MAX_LOG_GAIN).exp()
        c0 = torch.complex(gain, torch.zeros_like(gain))
        return c0, torch.cat([zeros, zeros.conj()], dim=1), torch.cat([poles, poles.conj()], dim=1)

    def s11(self, unit_params: torch.Tensor, freqs_hz: torch.Tensor) -> torch.Tensor:
        """Complex S11 ``(N, F)`` at ``freqs_hz`` ``(F,)`` (Hz, any grid)."""
        c0, zeros, poles = self.roots(unit_params)
        return czp_response(c0, zeros, poles, normalized_s(freqs_hz.to(unit_params.dtype), self.config.f_ref_hz))

    def predict_db(self, unit_params: torch.Tensor, freqs_hz: torch.Tensor, floor_db: float = DB_FLOOR) -> torch.Tensor:
        """``|S11|`` in dB ``(N, F)`` (floored, see :func:`db_magnitude`)."""
        return db_magnitude(self.s11(unit_params, freqs_hz), floor_db)

    def forward(self, unit_params: torch.Tensor, freqs_hz: torch.Tensor) -> torch.Tensor:
        return self.predict_db(unit_params, freqs_hz)

    @torch.no_grad()
    def prepare(self, freqs_hz: torch.Tensor, target_db: torch.Tensor) -> None:
        """Sets the gain bias to the mean level of ``target_db`` ``(N, F)``."""
        del freqs_hz
        self.head.bias[0] = float(target_db.mean()) / 20.0 * math.log(10.0)


@dataclass(frozen=True)
class MLPConfig:
    """``n_params`` (P) -> ``hidden`` x ``layers`` (SiLU) -> ``n_freqs`` (F) dB values."""

    n_params: int
    n_freqs: int
    hidden: int = 64
    layers: int = 2

    def __post_init__(self) -> None:
        if min(self.n_params, self.n_freqs, self.hidden, self.layers) < 1:
            raise ValueError("MLPConfig: all sizes must be >= 1")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class MLPSurrogate(nn.Module):
    """The baseline: the dB curve on the training grid straight from the parameters. The
    output is standardized (``prepare`` stores the training data's per-frequency mean and
    overall standard deviation), so only the grid it was prepared on can be predicted."""

    out_mean: torch.Tensor
    out_std: torch.Tensor

    def __init__(self, config: MLPConfig, *, seed: int = 0) -> None:
        super().__init__()
        self.config = config
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.trunk = _trunk(config.n_params, config.hidden, config.layers)
            self.head = nn.Linear(config.hidden, config.n_freqs)
        self.register_buffer("out_mean", torch.zeros(config.n_freqs))
        self.register_buffer("out_std", torch.ones(()))

    def predict_db(self, unit_params: torch.Tensor, freqs_hz: torch.Tensor, floor_db: float = DB_FLOOR) -> torch.Tensor:
        """dB ``(N, F)``; ValueError when ``freqs_hz`` has not ``F = n_freqs`` points
        (``floor_db`` is accepted for the common interface and not used)."""
        del floor_db
        if freqs_hz.shape != (self.config.n_freqs,):
            raise ValueError(f"this MLP predicts {self.config.n_freqs} frequencies, got {tuple(freqs_hz.shape)}")
        out: torch.Tensor = self.head(self.trunk(2.0 * unit_params - 1.0))
        return out * self.out_std + self.out_mean

    def forward(self, unit_params: torch.Tensor, freqs_hz: torch.Tensor) -> torch.Tensor:
        return self.predict_db(unit_params, freqs_hz)

    @torch.no_grad()
    def prepare(self, freqs_hz: torch.Tensor, target_db: torch.Tensor) -> None:
        """Stores the output standardization of ``target_db`` ``(N, F)``."""
        if freqs_hz.shape != (self.config.n_freqs,):
            raise ValueError(f"this MLP predicts {self.config.n_freqs} frequencies, got {tuple(freqs_hz.shape)}")
        self.out_mean.copy_(target_db.mean(dim=0))
        self.out_std.copy_((target_db - target_db.mean(dim=0)).std().clamp_min(1e-3))


def mlp_parameter_count(n_params: int, n_freqs: int, hidden: int, layers: int) -> int:
    """Trainable scalars of ``MLPSurrogate(MLPConfig(n_params, n_freqs, hidden, layers))``."""
    return (n_params + 1) * hidden + (layers - 1) * (hidden + 1) * hidden + (hidden + 1) * n_freqs


def mlp_hidden_for(target: int, n_params: int, n_freqs: int, layers: int = 2) -> int:
    """The hidden width (>= 1) whose MLP parameter count is closest to ``target``."""
    best, best_gap = 1, abs(mlp_parameter_count(n_params, n_freqs, 1, layers) - target)
    hidden = 1
    while mlp_parameter_count(n_params, n_freqs, hidden, layers) <= target:
        hidden += 1
        gap = abs(mlp_parameter_count(n_params, n_freqs, hidden, layers) - target)
        if gap < best_gap:
            best, best_gap = hidden, gap
    return best


def matched_mlp_config(czp: CZPSurrogate, n_freqs: int, layers: int | None = None) -> MLPConfig:
    """The baseline for ``czp``: same input width and trunk depth (or ``layers``), hidden
    width chosen so its parameter count is as close as possible to the CZP model's."""
    depth = czp.config.layers if layers is None else layers
    hidden = mlp_hidden_for(parameter_count(czp), czp.config.n_params, n_freqs, depth)
    return MLPConfig(n_params=czp.config.n_params, n_freqs=n_freqs, hidden=hidden, layers=depth)
