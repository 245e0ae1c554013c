"""The SurCo-prior network for pixel kinds (``photonics@1``): a small fully convolutional
network from the instance's image (:attr:`SurrogateInterface.image`: the straight-path
design, where the fixed waveguides enter each side of the design region, the pixel
positions) and its context (device one-hot, resolution, brush size; broadcast as constant
channels) to per-pixel costs ``(R, C)``.

Architecture: ``layers`` 3 x 3 convolutions, ``hidden`` channels, dilations 1, 2, 4, 8, ...
(receptive field about ``2^layers`` pixels), SiLU, then a 1 x 1 convolution to one channel
(zero-initialized). Costs: ``scale(1 - 2 straight + gain * out)``, ``gain`` learned: the
untrained network's argmin is the straight path (the usual start of SurCo-zero), and
training learns the edit. Works for any ``R x C``.

Checkpoints: format :data:`FORMAT` (``torch.save`` of ``{"format", "config",
"state_dict", "meta"}``, loaded with ``weights_only=True``), kept apart from the
table-sharding prior's format; the shipped one is :data:`SHIPPED`.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from surrogates.weights import read_checkpoint

__all__ = ["FORMAT", "SHIPPED", "PixelPrior", "PixelPriorConfig", "dump", "is_pixel_checkpoint", "load", "pixel_inputs"]

FORMAT = "designsvc.surco-prior-pixels/1"
SHIPPED = Path(__file__).parent / "checkpoints" / "surco-prior-photonics.pt"
"""The pixel checkpoint shipped with the package (how it was made: checkpoints/README.md)."""


@dataclass(frozen=True)
class PixelPriorConfig:
    """Input names (their counts fix the input channels) and sizes."""

    image_names: tuple[str, ...]
    context_names: tuple[str, ...]
    hidden: int = 16
    layers: int = 4

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["image_names"] = list(self.image_names)
        data["context_names"] = list(self.context_names)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PixelPriorConfig:
        return cls(
            image_names=tuple(data["image_names"]),
            context_names=tuple(data["context_names"]),
            hidden=int(data["hidden"]),
            layers=int(data["layers"]),
        )


class PixelPrior(nn.Module):
    """See the module docstring."""

    def __init__(self, config: PixelPriorConfig) -> None:
        super().__init__()
        if "straight" not in config.image_names:
            raise ValueError("the pixel prior needs the 'straight' image channel (its base)")
        self.config = config
        channels = len(config.image_names) + len(config.context_names)
        blocks: list[nn.Module] = []
        for k in range(config.layers):
            dilation = 2 ** min(k, 3)
            blocks += [nn.Conv2d(channels, config.hidden, 3, padding=dilation, dilation=dilation), nn.SiLU()]
            channels = config.hidden
        self.body = nn.Sequential(*blocks)
        self.head = nn.Conv2d(channels, 1, 1)
        nn.init.zeros_(self.head.weight)
        assert self.head.bias is not None
        nn.init.zeros_(self.head.bias)
        self.gain = nn.Parameter(torch.tensor(1.0))

    def forward(self, image: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """``(K, R, C), (J,) -> (R, C)`` costs at unit RMS."""
        _, rows, cols = image.shape
        planes = torch.cat([image, context[:, None, None].expand(-1, rows, cols)], dim=0)
        out = self.head(self.body(planes[None]))[0, 0]
        straight = image[self.config.image_names.index("straight")]
        c = 1.0 - 2.0 * straight + self.gain * out
        scaled: torch.Tensor = c / torch.sqrt(torch.mean(c * c) + 1e-12)
        return scaled


def pixel_inputs(interface: Any, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``(image, context)`` of an interface as float32 tensors on ``device``."""
    if interface.image is None:
        raise ValueError("this problem kind has no image for a convolutional prior")
    return (
        torch.as_tensor(interface.image, dtype=torch.float32, device=device),
        torch.as_tensor(interface.context, dtype=torch.float32, device=device),
    )


def check_inputs(prior: PixelPrior, interface: Any, where: str) -> None:
    """ValueError when the interface's image or context names differ from the prior's."""
    for ours, theirs, what in (
        (prior.config.image_names, interface.image_names, "image channels"),
        (prior.config.context_names, interface.context_names, "context features"),
    ):
        if tuple(ours) != tuple(theirs):
            raise ValueError(f"{where} was trained on other {what} ({', '.join(ours)}) than this problem's")


def dump(prior: PixelPrior, meta: dict[str, Any]) -> bytes:
    """The checkpoint bytes of ``prior`` (weights on the CPU) with ``meta`` (JSON data)."""
    meta = json.loads(json.dumps(meta))
    buffer = io.BytesIO()
    state = {k: v.detach().cpu() for k, v in prior.state_dict().items()}
    torch.save({"format": FORMAT, "config": prior.config.to_json(), "state_dict": state, "meta": meta}, buffer)
    return buffer.getvalue()


def is_pixel_checkpoint(path: Path) -> bool:
    """Whether ``path`` holds a checkpoint of this format (False when unreadable)."""
    try:
        saved = torch.load(io.BytesIO(path.read_bytes()), map_location="cpu", weights_only=True)
    except Exception:
        return False
    return isinstance(saved, dict) and saved.get("format") == FORMAT


def load(path: Path, device: torch.device) -> tuple[PixelPrior, dict[str, Any], str]:
    """``(prior in eval mode on device, meta, fingerprint)``; ValueError naming the file
    when it is missing or not a pixel-prior checkpoint."""
    saved, digest = read_checkpoint(path, FORMAT, "a pixel SurCo-prior")
    prior = PixelPrior(PixelPriorConfig.from_json(saved["config"]))
    prior.load_state_dict(saved["state_dict"])
    prior.to(device).eval()
    return prior, dict(saved.get("meta", {})), digest
