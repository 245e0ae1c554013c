"""The CZP form of a one-port response and its decibel magnitude.

``S11(s) = c0 * prod_k (s - z_k) / prod_k (s - p_k)`` evaluated on the imaginary axis
``s = j * f / f_ref``: frequencies are normalized by a reference frequency ``f_ref_hz``
(the CZP model uses the centre of its training sweep, ``(f_min + f_max) / 2``), so roots
near the sweep have magnitudes near 1 whatever the band.

Decibels use a floor: ``db(S) = 10 * log10(|S|^2 + 10^(floor_db / 10))``, smooth and
finite at ``|S| = 0`` (for ``|S|`` well above the floor it is ``20 * log10|S|``).
"""

from __future__ import annotations

import math

import torch

__all__ = ["DB_FLOOR", "czp_response", "db_magnitude", "normalized_s"]

DB_FLOOR = -80.0
"""The default floor of :func:`db_magnitude`, in dB."""


def normalized_s(freqs_hz: torch.Tensor, f_ref_hz: float) -> torch.Tensor:
    """``s = j * freqs_hz / f_ref_hz``: ``(F,)`` real (Hz) -> ``(F,)`` complex
    (complex128 for float64 input, else complex64)."""
    dtype = torch.complex128 if freqs_hz.dtype == torch.float64 else torch.complex64
    return (1j * (freqs_hz / f_ref_hz)).to(dtype)


def czp_response(c0: torch.Tensor, zeros: torch.Tensor, poles: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """``c0 * prod_k (s - zeros_k) / prod_k (s - poles_k)``, batched.

    Shapes: ``c0`` ``(...)``, ``zeros`` ``(..., Kz)``, ``poles`` ``(..., Kp)`` (complex;
    ``Kz`` and ``Kp`` may differ), ``s`` ``(F,)`` complex (normalized, see the module
    docstring); returns ``(..., F)`` complex. Differentiable in all inputs."""
    numerator = (s.unsqueeze(-1) - zeros.unsqueeze(-2)).prod(dim=-1)
    denominator = (s.unsqueeze(-1) - poles.unsqueeze(-2)).prod(dim=-1)
    return c0.unsqueeze(-1) * numerator / denominator


def db_magnitude(response: torch.Tensor, floor_db: float = DB_FLOOR) -> torch.Tensor:
    """``10 * log10(|response|^2 + 10^(floor_db / 10))`` in dB, same shape (real)."""
    power = response.real.square() + response.imag.square() if response.is_complex() else response.square()
    return 10.0 * torch.log10(power + math.pow(10.0, floor_db / 10.0))
