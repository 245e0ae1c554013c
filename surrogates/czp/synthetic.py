"""Synthetic S11 data from known rational responses whose zeros and poles move smoothly
with the design parameters: a stand-in for NEC2 sweeps, with a known answer.

Normalized frequency ``s = j f / f_ref`` (``f_ref`` the sweep centre). For design
``x`` ``(P,)`` in ``[0, 1]`` (``P >= 3``; further parameters have a small effect) and
resonance ``k`` of ``pairs``:

- pole ``p_k = -(0.02 + 0.03 x1) + j w_k``, ``w_k = w0_k + 0.12 (x0 - 0.5) + 0.02 sin(pi
  x1) + 0.01 sum_{i>=3} (x_i - 0.5)``, ``w0_k`` spread over the central 60 % of the band;
- zero ``z_k = -(0.002 + 0.02 x2 + 0.004 k) + j (w_k + 0.004)`` (``x2`` sets the dip depth);
- conjugates of both, and ``c0 = 0.9`` (real).

So ``|S11|`` is about ``0.9`` away from resonances and dips by 5-35 dB at each ``w_k``:
the shape of a matched antenna's return loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["SyntheticS11", "synthetic_s11"]


@dataclass(frozen=True)
class SyntheticS11:
    """``unit_params`` ``(N, P)`` in [0, 1], ``freqs_hz`` ``(F,)``, ``s11`` ``(N, F)``
    complex, and the truth: ``c0`` ``(N,)``, ``zeros`` and ``poles`` ``(N, 2K)`` (complex,
    normalized by ``f_ref_hz``)."""

    unit_params: npt.NDArray[np.float64]
    freqs_hz: npt.NDArray[np.float64]
    s11: npt.NDArray[np.complex128]
    c0: npt.NDArray[np.complex128]
    zeros: npt.NDArray[np.complex128]
    poles: npt.NDArray[np.complex128]
    f_ref_hz: float


def synthetic_s11(
    n_designs: int,
    *,
    n_params: int = 3,
    pairs: int = 2,
    freqs_hz: npt.NDArray[np.float64] | None = None,
    seed: int,
) -> SyntheticS11:
    """``n_designs`` random designs (uniform in ``[0, 1]^n_params``) and their responses
    on ``freqs_hz`` (default: 101 points over 0.8-1.2 GHz); see the module docstring."""
    if n_params < 3:
        raise ValueError("synthetic_s11 needs n_params >= 3")
    rng = np.random.default_rng(seed)
    f = np.linspace(0.8e9, 1.2e9, 101) if freqs_hz is None else np.asarray(freqs_hz, dtype=np.float64)
    f_ref = float(f.min() + f.max()) / 2.0
    lo, hi = float(f.min()) / f_ref, float(f.max()) / f_ref
    x = rng.uniform(0.0, 1.0, size=(n_designs, n_params))
    centre, half = (lo + hi) / 2.0, 0.3 * (hi - lo)
    w0 = centre + half * (np.linspace(-1.0, 1.0, pairs) if pairs > 1 else np.zeros(1))
    extra = (x[:, 3:] - 0.5).sum(axis=1, keepdims=True) if n_params > 3 else np.zeros((n_designs, 1))
    w = w0[None, :] + 0.12 * (x[:, :1] - 0.5) + 0.02 * np.sin(np.pi * x[:, 1:2]) + 0.01 * extra
    pole_damping = 0.02 + 0.03 * x[:, 1:2] + 0.0 * w
    zero_damping = 0.002 + 0.02 * x[:, 2:3] + 0.004 * np.arange(pairs)[None, :]
    poles_up = -pole_damping + 1j * w
    zeros_up = -zero_damping + 1j * (w + 0.004)
    poles = np.concatenate([poles_up, poles_up.conj()], axis=1)
    zeros = np.concatenate([zeros_up, zeros_up.conj()], axis=1)
    c0 = np.full(n_designs, 0.9 + 0.0j)
    s = 1j * f / f_ref
    num = np.prod(s[None, :, None] - zeros[:, None, :], axis=2)
    den = np.prod(s[None, :, None] - poles[:, None, :], axis=2)
    s11 = c0[:, None] * num / den
    return SyntheticS11(x, f, s11, c0, zeros, poles, f_ref)
