"""Reading the project's torch checkpoints: one file format for every learned component.

A checkpoint is ``torch.save`` of ``{"format": ..., "config": ..., "state_dict": ...,
"meta": ...}``, loaded with ``weights_only=True`` (no pickled code runs); its fingerprint is
the SHA-256 of the file's bytes. torch is imported inside the function.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

__all__ = ["read_checkpoint"]


def read_checkpoint(path: Path, fmt: str, what: str) -> tuple[dict[str, Any], str]:
    """``(saved dict on the CPU, hex SHA-256 of the file)`` of the checkpoint at ``path``;
    ValueError naming the file when it cannot be read, is not a torch file loadable with
    ``weights_only=True``, or is not of format ``fmt`` (``what`` names the kind in the
    message, e.g. ``"a NeuroPlan"``)."""
    import torch

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read the checkpoint {path}: {exc.strerror or exc}") from exc
    try:
        saved = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{path} is not a torch checkpoint loadable with weights_only=True: {first}") from exc
    if not isinstance(saved, dict) or saved.get("format") != fmt:
        raise ValueError(f"{path} is not {what} checkpoint (format {fmt!r})")
    return saved, hashlib.sha256(data).hexdigest()
