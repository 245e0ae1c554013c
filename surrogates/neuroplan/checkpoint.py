"""NeuroPlan checkpoints: ``torch.save`` of ``{"format", "config", "state_dict", "meta"}``,
loaded with ``weights_only=True`` (no pickled code runs). The fingerprint is the SHA-256
of the file's bytes.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import torch

from surrogates.neuroplan.policy import PlanningPolicy, PolicyConfig
from surrogates.weights import read_checkpoint

__all__ = ["FORMAT", "SHIPPED", "dump", "fingerprint", "load", "resolve_path"]

FORMAT = "designsvc.neuroplan/1"
SHIPPED = Path(__file__).parent / "checkpoints" / "neuroplan-small.pt"
"""The checkpoint shipped with the package (how it was made: checkpoints/README.md)."""


def resolve_path(name: str | None) -> Path:
    """``None`` or ``"shipped"``: :data:`SHIPPED`; anything else is a file path."""
    return SHIPPED if name in (None, "shipped") else Path(str(name))


def fingerprint(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dump(policy: PlanningPolicy, meta: dict[str, Any]) -> bytes:
    """The checkpoint bytes of ``policy`` (weights on the CPU) with ``meta`` (JSON data)."""
    meta = json.loads(json.dumps(meta))  # plain JSON data only: loadable with weights_only=True
    buffer = io.BytesIO()
    state = {k: v.detach().cpu() for k, v in policy.state_dict().items()}
    torch.save({"format": FORMAT, "config": policy.config.to_json(), "state_dict": state, "meta": meta}, buffer)
    return buffer.getvalue()


def load(path: Path, device: torch.device) -> tuple[PlanningPolicy, dict[str, Any], str]:
    """``(policy in eval mode on device, meta, fingerprint)``; ValueError naming the file
    when it is missing or not a NeuroPlan checkpoint."""
    saved, digest = read_checkpoint(path, FORMAT, "a NeuroPlan")
    policy = PlanningPolicy(PolicyConfig(**saved["config"]))
    policy.load_state_dict(saved["state_dict"])
    policy.to(device).eval()
    return policy, dict(saved.get("meta", {})), digest
