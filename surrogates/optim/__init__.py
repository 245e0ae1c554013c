"""Optimizers for training surrogates: our own GaLore AdamW (memory-efficient AdamW whose
moments live in a low-rank projection of each 2-D gradient), its layer-wise variant, and
the optimizer-state size used to compare them.

Construction (the group API of galore-torch)::

    groups = galore_param_groups(model, rank=8, update_proj_gap=200, scale=0.25)
    optimizer = GaLoreAdamW(groups, lr=1e-3, weight_decay=0.0)
    # or, one update per parameter inside backward():
    optimizer = LayerwiseGaLoreAdamW(groups, lr=1e-3, weight_decay=0.0)
    optimizer_state_bytes(optimizer)
"""

from surrogates.optim.adamw import GALORE_DEFAULTS, GaLoreAdamW
from surrogates.optim.groups import galore_param_groups
from surrogates.optim.layerwise import LayerwiseGaLoreAdamW
from surrogates.optim.memory import optimizer_state_bytes
from surrogates.optim.projector import PROJ_TYPES

__all__ = [
    "GALORE_DEFAULTS",
    "PROJ_TYPES",
    "GaLoreAdamW",
    "LayerwiseGaLoreAdamW",
    "galore_param_groups",
    "optimizer_state_bytes",
]
