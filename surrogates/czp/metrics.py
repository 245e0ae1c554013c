"""Measuring surrogates on held-out data from plain numpy arrays (for benchmarks and
reports, which import no torch themselves)."""

from __future__ import annotations

from typing import Any

import numpy.typing as npt
import torch

from surrogates.czp.response import DB_FLOOR, db_magnitude

__all__ = ["rmse_db", "torch_setup"]


@torch.no_grad()
def rmse_db(model: Any, unit_params: npt.ArrayLike, freqs_hz: npt.ArrayLike, s11: npt.ArrayLike) -> float:
    """The RMS dB error of ``model.predict_db`` on designs ``unit_params`` ``(N, P)`` against
    ``s11`` ``(N, F)`` (complex) at ``freqs_hz`` ``(F,)``, both floored at ``DB_FLOOR``;
    the model stays on the CPU (where :func:`~surrogates.czp.train_surrogate` with
    ``device="cpu"`` leaves it)."""
    x = torch.as_tensor(unit_params, dtype=torch.float32)
    f = torch.as_tensor(freqs_hz, dtype=torch.float64)
    target = db_magnitude(torch.as_tensor(s11, dtype=torch.complex128), DB_FLOOR).float()
    return float((model.predict_db(x, f, DB_FLOOR) - target).square().mean().sqrt())


def torch_setup(threads: int) -> str:
    """Sets torch's CPU threads (``threads`` > 0) and returns ``"torch VERSION"``."""
    if threads > 0:
        torch.set_num_threads(threads)
    return f"torch {torch.__version__}"
