"""The torch device a learned component runs on, chosen the same way everywhere.

Options named ``device`` take ``auto`` (CUDA when torch sees a CUDA device, else the CPU),
``cpu`` or ``cuda`` (an error on a worker without one). torch is imported inside the
function, so importing this module stays light.
"""

from __future__ import annotations

from typing import Any

__all__ = ["select_device"]


def select_device(wanted: str) -> Any:
    """The ``torch.device`` for ``wanted`` (``auto`` | ``cpu`` | ``cuda``); ValueError
    ``option 'device': ...`` for ``cuda`` without a CUDA device or an unknown name."""
    import torch

    if wanted not in ("auto", "cpu", "cuda"):
        raise ValueError(f"option 'device': expected auto, cpu or cuda, got {wanted!r}")
    if wanted == "cuda" and not torch.cuda.is_available():
        raise ValueError("option 'device': cuda was asked for but this worker has no CUDA device")
    if wanted == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda")
