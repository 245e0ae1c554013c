"""CZP: a surrogate for antenna S11 that predicts a gain, zeros and poles from the design
(``S11(s) = c0 * prod (s - z_k) / prod (s - p_k)``, ``s = j f / f_ref``), with an MLP
baseline of about the same size that predicts the dB curve directly, scikit-rf vector
fitting as a per-design reference, a training function and checkpoints.

Data in: ``unit_params`` ``(N, P)`` in [0, 1], ``freqs_hz`` ``(F,)``, ``s11`` ``(N, F)``
complex (what ``problems/antenna/dataset.py`` produces; :func:`synthetic_s11` makes such
arrays from known rational responses). Modules import torch; scikit-rf is imported only
by :func:`vector_fit_rmse_db`.
"""

from surrogates.czp.model import (
    CZPConfig,
    CZPSurrogate,
    MLPConfig,
    MLPSurrogate,
    matched_mlp_config,
    mlp_hidden_for,
    mlp_parameter_count,
    parameter_count,
)
from surrogates.czp.response import DB_FLOOR, czp_response, db_magnitude, normalized_s
from surrogates.czp.synthetic import SyntheticS11, synthetic_s11
from surrogates.czp.training import TrainResult, train_surrogate
from surrogates.czp.vectorfit import vector_fit_rmse_db

__all__ = [
    "DB_FLOOR",
    "CZPConfig",
    "CZPSurrogate",
    "MLPConfig",
    "MLPSurrogate",
    "SyntheticS11",
    "TrainResult",
    "czp_response",
    "db_magnitude",
    "matched_mlp_config",
    "mlp_hidden_for",
    "mlp_parameter_count",
    "normalized_s",
    "parameter_count",
    "synthetic_s11",
    "train_surrogate",
    "vector_fit_rmse_db",
]
