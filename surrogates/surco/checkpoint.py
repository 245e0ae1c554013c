"""SurCo-prior checkpoints: ``torch.save`` of ``{"format", "config", "state_dict", "meta"}``,
loaded with ``weights_only=True`` (no pickled code runs). The fingerprint is the SHA-256 of
the file's bytes.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import torch

from surrogates.devices import select_device as _select_device
from surrogates.surco.prior import PriorConfig, SurCoPrior
from surrogates.weights import read_checkpoint

__all__ = ["FORMAT", "SHIPPED", "check_features", "dump", "fingerprint", "load", "resolve_path", "select_device"]

FORMAT = "designsvc.surco-prior/1"
SHIPPED = Path(__file__).parent / "checkpoints" / "surco-prior-small.pt"
"""The checkpoint shipped with the package (how it was made: checkpoints/README.md)."""


def resolve_path(name: str | None) -> Path:
    """``None`` or ``"shipped"``: :data:`SHIPPED`; anything else is a file path."""
    return SHIPPED if name in (None, "shipped") else Path(str(name))


def fingerprint(data: bytes) -> str:
    """The hex SHA-256 of checkpoint bytes."""
    return hashlib.sha256(data).hexdigest()


def select_device(wanted: str) -> torch.device:
    """``auto`` | ``cpu`` | ``cuda`` -> a torch device (:func:`surrogates.devices.select_device`)."""
    device: torch.device = _select_device(wanted)
    return device


def dump(prior: SurCoPrior, meta: dict[str, Any]) -> bytes:
    """The checkpoint bytes of ``prior`` (weights on the CPU) with ``meta`` (JSON data)."""
    meta = json.loads(json.dumps(meta))  # plain JSON data only: loadable with weights_only=True
    buffer = io.BytesIO()
    state = {k: v.detach().cpu() for k, v in prior.state_dict().items()}
    torch.save({"format": FORMAT, "config": prior.config.to_json(), "state_dict": state, "meta": meta}, buffer)
    return buffer.getvalue()


def load(path: Path, device: torch.device) -> tuple[SurCoPrior, dict[str, Any], str]:
    """``(prior in eval mode on device, meta, fingerprint)``; ValueError naming the file
    when it is missing or not a SurCo-prior checkpoint."""
    saved, digest = read_checkpoint(path, FORMAT, "a SurCo-prior")
    prior = SurCoPrior(PriorConfig.from_json(saved["config"]))
    prior.load_state_dict(saved["state_dict"])
    prior.to(device).eval()
    return prior, dict(saved.get("meta", {})), digest


def check_features(prior: SurCoPrior, interface: Any, where: str) -> None:
    """ValueError (``where``: what to blame, e.g. the checkpoint's path) when the problem's
    feature names differ from those the prior was trained on."""
    config = prior.config
    for ours, theirs, what in (
        (config.feature_names, interface.feature_names, "row features"),
        (config.column_feature_names, interface.column_feature_names, "column features"),
        (config.context_names, interface.context_names, "context features"),
    ):
        if tuple(ours) != tuple(theirs):
            raise ValueError(f"{where} was trained on other {what} ({', '.join(ours)}) than this problem's")
