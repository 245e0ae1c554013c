"""The classical anchor: scikit-rf's vector fitting (Gustavsen and Semlyen) of each design's
sweep on its own. It fits a rational model to one measured response (it predicts nothing
for a new design), so its dB error is a reference for how well a rational form of that
order can describe the data, not a competitor of the surrogates.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import numpy.typing as npt

from surrogates.czp.response import DB_FLOOR

__all__ = ["vector_fit_rmse_db"]


def vector_fit_rmse_db(
    freqs_hz: npt.ArrayLike,
    s11: npt.ArrayLike,
    *,
    n_poles_cmplx: int = 2,
    n_poles_real: int = 0,
    db_floor: float = DB_FLOOR,
) -> npt.NDArray[np.float64]:
    """Per design, the RMS dB error ``(N,)`` of ``skrf.vectorFitting.VectorFitting`` on a
    one-port ``skrf.Network`` built from ``s11`` ``(N, F)`` (complex) at ``freqs_hz``
    ``(F,)`` (Hz), with ``n_poles_cmplx`` complex-conjugate pole pairs and ``n_poles_real``
    real poles (plus skrf's constant term), both curves floored at ``db_floor`` as in the
    surrogates' loss. A fit that fails gives ``nan``."""
    import skrf
    from skrf.vectorFitting import VectorFitting

    f = np.asarray(freqs_hz, dtype=np.float64)
    s = np.asarray(s11, dtype=np.complex128)
    if s.ndim != 2 or s.shape[1] != f.size:
        raise ValueError(f"s11: expected shape (N, {f.size}), got {s.shape}")
    frequency = skrf.Frequency.from_f(f, unit="hz")
    floor = 10.0 ** (db_floor / 10.0)
    out = np.full(s.shape[0], np.nan)
    logger = logging.getLogger("skrf")
    level = logger.level
    logger.setLevel(logging.ERROR)  # skrf logs and warns (convergence, passivity) per fit
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a fit that did not converge shows in its error
            for i, row in enumerate(s):
                network = skrf.Network(frequency=frequency, s=row.reshape(-1, 1, 1))
                fit = VectorFitting(network)
                try:
                    fit.vector_fit(n_poles_real=n_poles_real, n_poles_cmplx=n_poles_cmplx)
                    model = np.asarray(fit.get_model_response(0, 0, f))
                except (np.linalg.LinAlgError, ValueError, RuntimeError):
                    continue
                error = 10 * np.log10(np.abs(model) ** 2 + floor) - 10 * np.log10(np.abs(row) ** 2 + floor)
                out[i] = float(np.sqrt(np.mean(error**2)))
    finally:
        logger.setLevel(level)
    return out
