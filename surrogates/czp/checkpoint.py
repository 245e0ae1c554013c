"""CZP checkpoints: ``torch.save`` of ``{"format", "config", "state_dict", "meta"}``,
loaded with ``weights_only=True`` (no pickled code runs) through
:func:`surrogates.weights.read_checkpoint`. The fingerprint is the SHA-256 of the file's
bytes; results that use a checkpoint record it.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import torch

from surrogates.czp.model import CZPConfig, CZPSurrogate
from surrogates.weights import read_checkpoint

__all__ = ["FORMAT", "dump", "fingerprint", "load", "save"]

FORMAT = "designsvc.czp/1"


def fingerprint(data: bytes) -> str:
    """The hex SHA-256 of checkpoint bytes."""
    return hashlib.sha256(data).hexdigest()


def dump(model: CZPSurrogate, meta: dict[str, Any]) -> bytes:
    """The checkpoint bytes of ``model`` (weights on the CPU) with ``meta`` (JSON data,
    e.g. the training data's description and the :class:`TrainResult` JSON)."""
    meta = json.loads(json.dumps(meta))  # plain JSON data only: loadable with weights_only=True
    buffer = io.BytesIO()
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"format": FORMAT, "config": model.config.to_json(), "state_dict": state, "meta": meta}, buffer)
    return buffer.getvalue()


def save(model: CZPSurrogate, path: Path, meta: dict[str, Any]) -> str:
    """Writes :func:`dump` to ``path``; returns its fingerprint."""
    data = dump(model, meta)
    path.write_bytes(data)
    return fingerprint(data)


def load(path: Path, device: torch.device | None = None) -> tuple[CZPSurrogate, dict[str, Any], str]:
    """``(model in eval mode on device (CPU by default), meta, fingerprint)``; ValueError
    naming the file when it is missing or not a CZP checkpoint."""
    saved, digest = read_checkpoint(path, FORMAT, "a CZP")
    model = CZPSurrogate(CZPConfig.from_json(saved["config"]))
    model.load_state_dict(saved["state_dict"])
    model.to(device or torch.device("cpu")).eval()
    return model, dict(saved.get("meta", {})), digest
